"""Writing mboxrd: the archive's messages for mutt, notmuch, mu and Python's ``mailbox``.

A message imported from mail is written back as it was read: its own headers and
body bytes (see ``mail_sources`` in :mod:`archive.db`). A message scraped from Google
Groups has no such bytes, so a well-formed one is built from what the archive has:
Date, From (the name and the masked address, never more), Subject, a stable
synthetic Message-ID, In-Reply-To/References to the thread's first message, the
list headers of its group, and the text and HTML as a multipart/alternative.

mboxrd quoting: every line starting with ``From `` after any number of ``>`` gets one
more ``>``, which readers that follow mboxrd (and :mod:`archive.mail`) remove again.
"""

from __future__ import annotations

import hashlib
import re
import sys
import zlib
from collections.abc import Iterable
from datetime import UTC
from email import charset as email_charset
from email.generator import BytesGenerator
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import compat32
from email.utils import format_datetime, formataddr
from io import BytesIO
from pathlib import Path
from typing import Any, BinaryIO

from archive.db import Archive, decode_body
from archive.files import replacing
from archive.times import parse_utc

__all__ = ["export_mbox", "message_bytes", "synthetic_message_id", "write_mbox"]

_FROM_LINE = re.compile(rb"(?m)^(>*From )")
_UTF8_QP = email_charset.Charset("utf-8")
_UTF8_QP.body_encoding = email_charset.QP
_UNSAFE_HEADER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

_SELECT = """
    SELECT m.id, m.subject, m.author, m.masked_address, m.posted_at, m.body_html,
           m.body_text, m.rfc822_id, m.in_reply_to, m.reference_ids,
           s.block, s.start, s.header_length, s.body_length, s.body_charset,
           p.group_key, p.topic_id, p.google_message_id, p.position, p.url
    FROM threads t
    JOIN postings p ON p.thread_id = t.id
    JOIN messages m ON m.id = p.message_id
    LEFT JOIN mail_sources s ON s.message_id = m.id
    WHERE t.group_key = ? AND t.topic_id = ?
    ORDER BY p.position, m.posted_at, m.id
"""


def export_mbox(
    archive: Archive, selection: Iterable[tuple[str, str]], out_dir: str | Path | None = None
) -> tuple[int, Path | None]:
    """Write the selection to ``out_dir/messages.mbox``, or to stdout without ``out_dir``.

    Returns how many messages were written and the file, if any.
    """
    if out_dir is None:
        stdout = sys.stdout.buffer
        count = write_mbox(archive, selection, stdout)
        stdout.flush()
        return count, None
    path = Path(out_dir) / "messages.mbox"
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as out:
        count = write_mbox(archive, selection, out)
    return count, path


def write_mbox(archive: Archive, selection: Iterable[tuple[str, str]], out: BinaryIO) -> int:
    """Write the messages of the selected threads (group key, topic id) as mboxrd.

    A message in several selected threads is written once. Returns how many were.
    """
    written: set[int] = set()
    conn = archive.db.conn
    blocks = _Blocks(conn)
    for group_key, topic_id in selection:
        cursor = conn.execute(_SELECT, (group_key, topic_id))
        keys = [c[0] for c in cursor.description]
        root: str | None = None
        for values in cursor:
            row = dict(zip(keys, values, strict=True))
            data = message_bytes(row, root, blocks.get(row["block"]))
            if root is None:
                root = row["rfc822_id"] or synthetic_message_id(row)
            if row["id"] in written:
                continue
            written.add(row["id"])
            out.write(_from_line(row))
            out.write(_FROM_LINE.sub(rb">\1", data))
            out.write(b"\n" if data.endswith(b"\n") else b"\n\n")
    return len(written)


def _from_line(row: dict[str, Any]) -> bytes:
    sender = (row["masked_address"] or "").strip()
    if not sender or any(c.isspace() for c in sender) or not sender.isascii():
        sender = "MAILER-DAEMON"
    moment = parse_utc(row["posted_at"])
    stamp = f"{moment:%a %b} {moment.day:2d} {moment:%H:%M:%S %Y}"
    return f"From {sender} {stamp}\n".encode("ascii")


def message_bytes(row: dict[str, Any], root_id: str | None = None, block: bytes = b"") -> bytes:
    """One message as RFC 822 bytes: as received (``block`` is its inflated mail
    block), or built (see the module's doc)."""
    if row["block"] is not None:
        start = row["start"]
        end = start + row["header_length"]
        headers = block[start:end]
        if row["body_charset"]:
            return headers + row["body_text"].encode(row["body_charset"])
        return headers + block[end : end + row["body_length"]]
    return _built(row, root_id)


class _Blocks:
    """Inflated mail blocks, the last one kept: a thread's messages share blocks."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.number: int | None = None
        self.data = b""

    def get(self, number: int | None) -> bytes:
        if number is None:
            return b""
        if number != self.number:
            row = self.conn.execute(
                "SELECT data FROM mail_blocks WHERE id = ?", (number,)
            ).fetchone()
            self.data = zlib.decompress(row[0]) if row else b""
            self.number = number
        return self.data


def synthetic_message_id(row: dict[str, Any]) -> str:
    """A Message-ID for a message Google showed without one: the same on every export."""
    group = row["group_key"].replace("@", ".")
    return f"{row['topic_id']}.{row['google_message_id']}@{group}.listarchive.invalid"


def _clean(value: str) -> str:
    return " ".join(_UNSAFE_HEADER.sub(" ", value).split())


def _header(value: str) -> str | Header:
    value = _clean(value)
    return value if value.isascii() else Header(value, "utf-8")


def _text_part(text: str, subtype: str) -> MIMENonMultipart:
    """A text/``subtype`` part in UTF-8, quoted-printable: what ``MIMEText(text, subtype,
    _UTF8_QP)`` builds, written out because MIMEText is typed to take a charset's name."""
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part.set_payload(text, _UTF8_QP)
    return part


def _built(row: dict[str, Any], root_id: str | None) -> bytes:
    text = row["body_text"] or ""
    html = decode_body(row["body_html"])
    if html:
        # A boundary from the id, not a random one: the same message, the same bytes.
        boundary = (
            "=_"
            + hashlib.blake2b(repr(row["id"]).encode() + html.encode(), digest_size=12).hexdigest()
        )
        msg: MIMEMultipart | MIMENonMultipart = MIMEMultipart("alternative", boundary=boundary)
        msg.attach(_text_part(text, "plain"))
        msg.attach(_text_part(html, "html"))
    else:
        msg = _text_part(text, "plain")
    author = _clean(row["author"] or "")
    address = _clean(row["masked_address"] or "")
    # typeshed types a header value as str; the compat32 policy takes a Header too.
    msg["From"] = formataddr((author, address), "utf-8") if address else _header(author)  # type: ignore[assignment]
    msg["Date"] = format_datetime(parse_utc(row["posted_at"]).astimezone(UTC))
    msg["Subject"] = _header(row["subject"] or "")  # type: ignore[assignment]
    message_id = row["rfc822_id"] or synthetic_message_id(row)
    msg["Message-ID"] = f"<{message_id}>"
    if root_id and root_id != message_id:
        msg["In-Reply-To"] = f"<{root_id}>"
        msg["References"] = f"<{root_id}>"
    group_key = row["group_key"]
    msg["List-Id"] = f"<{group_key.replace('@', '.')}>"
    msg["List-Post"] = f"<mailto:{group_key}>"
    msg["Archived-At"] = f"<{row['url']}>"
    buffer = BytesIO()
    BytesGenerator(buffer, mangle_from_=False, policy=compat32.clone(linesep="\n")).flatten(msg)
    return buffer.getvalue()
