"""Reading mail: mbox (mboxo, mboxrd), Maildir, Google Takeout and pipermail archives.

Everything here streams: a file is read in chunks and cut into messages as it goes,
so memory stays at about one message whatever the file's size. Compressed files
(gzip, xz, bzip2) are recognised by their first bytes, not by their names.

:func:`parse_message` is pure (bytes in, a :class:`MailMessage` out) and raises
:class:`BadMail` with a one-line reason for a message it cannot read. The readers
yield each message with where it came from (file and byte offset in the
uncompressed stream), so a bad one can be named and skipped.

An mbox is read by the mboxrd rules whatever wrote it: a ``From `` line starts a
message only when it looks like a separator (it carries a time and a year), and one
``>`` is removed from ``>From `` lines (``>>From `` becomes ``>From ``). A separator's
preceding blank line belongs to the mbox, not to the message.
"""

from __future__ import annotations

import binascii
import bz2
import email.utils
import gzip
import hashlib
import io
import lzma
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import decode_header
from email.message import Message as EmailMessage
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

__all__ = [
    "BadMail",
    "MailMessage",
    "MailSource",
    "RawMail",
    "group_address",
    "iter_mail",
    "msgid_links",
    "open_mail_file",
    "parse_address",
    "parse_message",
    "read_headers",
    "split_mbox",
]

CHUNK = 1 << 20
# A message larger than this is refused rather than held in memory whole.
MAX_MESSAGE_BYTES = 64 << 20

_MAGIC = (
    (b"\x1f\x8b", gzip.open),
    (b"\xfd7zXZ\x00", lzma.open),
    (b"BZh", bz2.open),
)
# "From sender Thu Jan  1 00:00:00 1970", "From x at y.org  Mon Mar  3 10:00:00 2014",
# "From 1234@xxx Mon Jan 01 00:00:00 +0000 2024": a time and a four-digit year.
_SEPARATOR = re.compile(rb"From [^\n]*\d\d?:\d\d[^\n]*\b\d{4}\b")
_PIPERMAIL_SEPARATOR = re.compile(rb"From \S+ at \S+ ")
_QUOTED_FROM = re.compile(rb"(?m)^>(>*From )")
_ANGLE_IDS = re.compile(r"<([^<>\s]+)>")
_HEADER_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+:")
_PIPERMAIL_AT = re.compile(r"(\S+) at (\S+)")


class BadMail(ValueError):
    """A message or file that cannot be read; ``str()`` is the one-line reason and
    ``where`` the file it is about, when that is not said elsewhere."""

    def __init__(self, reason: str, where: str | None = None) -> None:
        super().__init__(reason)
        self.where = where


@dataclass(frozen=True)
class RawMail:
    """One message's bytes and where they were found."""

    source: str  # the file (and, in a Maildir, the message's own file)
    offset: int  # byte offset of its first line in the uncompressed stream
    data: bytes
    pipermail: bool = False
    group_hint: str | None = None  # a Takeout folder's group name

    @property
    def where(self) -> str:
        return f"{self.source}@{self.offset}"


@dataclass(frozen=True)
class MailMessage:
    """What the archive keeps of a message read from mail."""

    message_id: str  # without the angle brackets
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str
    author: str  # the display name, else the address
    address: str | None
    posted_at: datetime
    recipients: str  # To and Cc, decoded, as written
    group: str | None  # the list's address, from the list headers
    list_id: str | None
    google_group: bool  # the headers say Google Groups delivered it
    body_text: str
    body_html: str
    headers: bytes  # as found (mboxrd quoting removed), ending with the blank line
    body: bytes  # the raw body after the headers' blank line
    body_charset: str | None  # set when body_text encoded with it gives back ``body``
    # (file name, content type, size in bytes) of each part that is not the text: the
    # bytes themselves are in ``body``.
    attachments: tuple[tuple[str, str, int], ...] = ()


@dataclass(frozen=True)
class MailSource:
    """A file or Maildir the importer reads, with its kind."""

    path: Path
    kind: str  # "mbox", "pipermail", "maildir", "message", "public-inbox"
    group_hint: str | None = None


# --- files ----------------------------------------------------------------------


def open_mail_file(path: str | Path) -> io.BufferedIOBase:
    """Open a file for reading, decompressing gzip, xz or bzip2 by its first bytes."""
    handle = open(path, "rb")  # noqa: SIM115 - returned to the caller
    try:
        head = handle.peek(8)[:8] if hasattr(handle, "peek") else b""
        for magic, opener in _MAGIC:
            if head.startswith(magic):
                handle.close()
                return opener(path, "rb")
    except BaseException:
        handle.close()
        raise
    return handle


def _first_bytes(path: Path, size: int = 4096) -> bytes:
    """The first bytes of a file's content, even when a compressed file is cut short."""
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    try:
        if head.startswith(b"\x1f\x8b"):
            return zlib.decompressobj(wbits=31).decompress(head, size)
        if head.startswith(b"\xfd7zXZ\x00"):
            return lzma.LZMADecompressor().decompress(head, size)
        if head.startswith(b"BZh"):
            return bz2.BZ2Decompressor().decompress(head, size)
    except (zlib.error, lzma.LZMAError, OSError, EOFError) as err:
        raise BadMail(f"cannot read ({err})", str(path)) from err
    return head[:size]


def _is_maildir(path: Path) -> bool:
    return all((path / sub).is_dir() for sub in ("cur", "new"))


def _is_git_repository(path: Path) -> bool:
    # A bare clone (git clone --mirror) or a work tree's .git.
    return (path / "HEAD").is_file() and (path / "objects").is_dir()


_GROUP_FOLDER = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _takeout_group(path: Path) -> str | None:
    """The group a file's folder names: a Takeout export of Google Groups.

    Takeout writes each group's mail as ``Takeout/Groups/googlegroups.com/<groups
    you own>/<group>@googlegroups.com/topics.mbox``, beside CSV files of its members
    and settings. Every other folder and file name is in the account's language
    (``Grupos/.../grupos propios/...@googlegroups.com/temas.mbox`` in Spanish), so
    the folder named by the group's address is the one to go by. (As found in real
    exports and described by mboxShell, an mbox viewer: github.com/dcarrero/mboxshell,
    issue 23, "Support Google Groups mailboxes shipped in Takeout exports"; msgvault's
    importer reads the same layout, github.com/kenn-io/msgvault, pull request 793.)
    """
    folder = path.parent.name
    return folder.lower() if _GROUP_FOLDER.fullmatch(folder) else None


def _kind(path: Path) -> str | None:
    try:
        head = _first_bytes(path)
    except OSError as err:
        raise BadMail(f"cannot read ({err.strerror or err})", str(path)) from err
    stripped = head.lstrip(b"\r\n")
    if _PIPERMAIL_SEPARATOR.match(stripped):
        return "pipermail"
    if stripped.startswith(b"From "):
        return "mbox"
    if _HEADER_LINE.match(stripped):
        return "message"
    return None


def mail_sources(paths: Iterable[str | Path]) -> Iterator[MailSource | BadMail]:
    """Every file or Maildir under ``paths``, with its kind; a BadMail for what is no mail.

    A directory holding ``cur`` and ``new`` is a Maildir; any other directory is walked
    (a Takeout export, a folder of pipermail months), in name order.
    """
    for given in paths:
        path = Path(given)
        if not path.exists():
            yield BadMail("no such file or directory", str(path))
        elif path.is_dir() and _is_git_repository(path):
            yield MailSource(path, "public-inbox")
        elif path.is_dir() and _is_git_repository(path / ".git"):
            yield MailSource(path / ".git", "public-inbox")
        elif path.is_dir() and _is_maildir(path):
            yield MailSource(path, "maildir", _takeout_group(path / "x"))
        elif path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                here = Path(root)
                if _is_maildir(here):
                    dirs[:] = []
                    yield MailSource(here, "maildir", _takeout_group(here / "x"))
                    continue
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                for name in sorted(files):
                    if not name.startswith("."):
                        yield from _file_source(here / name, skip_unknown=True)
        else:
            yield from _file_source(path, skip_unknown=False)


def _file_source(path: Path, *, skip_unknown: bool) -> Iterator[MailSource | BadMail]:
    try:
        kind = _kind(path)
    except BadMail as err:
        yield err
        return
    if kind is None:
        if not skip_unknown:
            yield BadMail("not an mbox, Maildir, pipermail archive or message", str(path))
        return
    yield MailSource(path, kind, _takeout_group(path))


def iter_mail(source: MailSource) -> Iterator[RawMail]:
    """The raw messages of one source, in file order."""
    hint = source.group_hint
    if source.kind == "maildir":
        for sub in ("cur", "new"):
            for entry in sorted(os.scandir(source.path / sub), key=lambda e: e.name):
                if entry.is_file() and not entry.name.startswith("."):
                    with open(entry.path, "rb") as handle:
                        data = handle.read(MAX_MESSAGE_BYTES + 1)
                    yield RawMail(entry.path, 0, data, group_hint=hint)
        return
    if source.kind == "public-inbox":
        yield from _public_inbox(source.path)
        return
    with open_mail_file(source.path) as stream:
        if source.kind == "message":
            yield RawMail(str(source.path), 0, stream.read(MAX_MESSAGE_BYTES + 1), group_hint=hint)
            return
        pipermail = source.kind == "pipermail"
        for offset, data in split_mbox(stream):
            yield RawMail(str(source.path), offset, data, pipermail=pipermail, group_hint=hint)


def _public_inbox(path: Path) -> Iterator[RawMail]:
    """The messages of a public-inbox (v2) git repository, oldest first.

    Each commit holds one message in a file named ``m`` (a commit that removes one has
    none). ``git log`` lists the commits and one ``git cat-file --batch`` streams their
    ``m`` files: two processes for the whole repository, a message at a time.
    """
    import shutil
    import subprocess

    git = shutil.which("git")
    if git is None:
        raise BadMail("git is needed to read a public-inbox repository", str(path))
    log = subprocess.Popen(
        [git, "-C", str(path), "log", "--reverse", "--format=%H:m"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    cat = subprocess.Popen(
        [git, "-C", str(path), "cat-file", "--batch"],
        stdin=log.stdout,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert log.stdout is not None and cat.stdout is not None
    log.stdout.close()  # cat-file holds it now
    try:
        while header := cat.stdout.readline():
            name, _, rest = header.rstrip(b"\n").partition(b" ")
            if rest.endswith(b"missing") or not rest.startswith(b"blob "):
                continue
            size = int(rest.split()[1])
            data = cat.stdout.read(min(size, MAX_MESSAGE_BYTES + 1))
            left = size - len(data) + 1  # and the newline after each object
            while left > 0:  # a message too large to hold is passed over, not read whole
                left -= len(cat.stdout.read(min(left, CHUNK))) or left
            commit = name.split(b":", 1)[0].decode("ascii", "replace")
            yield RawMail(f"{path}:{commit}", 0, data)
    finally:
        cat.stdout.close()
        for process in (cat, log):
            process.terminate()
            process.wait()


def split_mbox(
    stream: BinaryIO | io.BufferedIOBase, chunk_size: int = CHUNK
) -> Iterator[tuple[int, bytes]]:
    """Cut an mbox byte stream into messages: (offset of the ``From `` line, message).

    The ``From `` line itself is not part of the message; mboxrd quoting is removed.
    A message over :data:`MAX_MESSAGE_BYTES` is yielded cut just past that size (so the
    caller refuses it) and the rest of it is skipped, never held.
    """
    # read1: a compressed stream cut short still gives what came before the cut.
    read = getattr(stream, "read1", stream.read)
    buf = read(chunk_size)
    if not buf:
        return
    base = 0  # stream offset of buf[0]
    cur: int | None = 0  # where the current message starts in buf; None while skipping
    from_line = buf.startswith(b"From ")
    scan = 0
    eof = False
    while True:
        found = buf.find(b"\nFrom ", scan)
        if found >= 0:
            eol = buf.find(b"\n", found + 1)
            if eol >= 0 or eof:
                if _SEPARATOR.match(buf, found + 1, eol if eol >= 0 else len(buf)):
                    if cur is not None and (from_line or buf[cur : found + 1].strip()):
                        yield base + cur, _message(buf, cur, found + 1, from_line)
                    cur, from_line = found + 1, True
                scan = found + 1
                continue
            scan = found  # the line goes on past what we hold
        elif eof:
            if cur is not None and (from_line or buf[cur:].strip()):
                yield base + cur, _message(buf, cur, len(buf), from_line)
            return
        else:
            scan = max(scan, len(buf) - 5)  # "\nFrom " may straddle the next read
        if cur is not None and len(buf) - cur > MAX_MESSAGE_BYTES:
            yield base + cur, buf[cur : cur + MAX_MESSAGE_BYTES + 1]
            cur = None
        # Keep only what is still needed, once per read rather than once per message.
        keep = scan if cur is None else min(cur, scan)
        if keep:
            buf = buf[keep:]
            base += keep
            scan -= keep
            if cur is not None:
                cur -= keep
        more = read(chunk_size)
        if more:
            buf += more
        else:
            eof = True


def _message(buffer: bytes, start: int, end: int, from_line: bool) -> bytes:
    body_start = start
    if from_line:
        first_line_end = buffer.find(b"\n", start, end)
        body_start = end if first_line_end < 0 else first_line_end + 1
    data = buffer[body_start:end]
    # The blank line before the next separator belongs to the mbox format.
    if data.endswith(b"\n\n"):
        data = data[:-1]
    elif data.endswith(b"\r\n\r\n"):
        data = data[:-2]
    if b">From " in data:
        data = _QUOTED_FROM.sub(rb"\1", data)
    return data


# --- messages ---------------------------------------------------------------------

_PARSER = BytesParser(policy=compat32)
# A header field and its continuation lines. Lines that are no header are passed over,
# as mail readers do.
_FIELD = re.compile(rb"^([\x21-\x39\x3b-\x7e]+)[ \t]*:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.MULTILINE)
_WANTED = frozenset(
    {
        b"from", b"subject", b"message-id", b"date", b"received", b"references",
        b"in-reply-to", b"to", b"cc", b"list-id", b"list-post", b"mailing-list",
        b"x-google-group-id", b"x-google-groups", b"x-beenthere", b"content-type",
        b"content-transfer-encoding", b"content-disposition",
    }
)  # fmt: skip
_NAME_ADDR = re.compile(r'\s*"?((?:[^"<\\]|\\.)*?)"?\s*<\s*([^<>\s]+@[^<>\s]+?)\s*>\s*$')
_BARE_ADDR = re.compile(r"\s*<?([^\s<>\"(),;]+@[^\s<>\"(),;]+?)>?\s*(?:\((.*)\))?\s*$")
_BOUNDARY = re.compile(r"""boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))""", re.IGNORECASE)
_UNKNOWN_CHARSETS = frozenset({"unknown-8bit", "x-unknown", "us-ascii", "ascii"})
_CHARSET = re.compile(r"""charset\s*=\s*["']?([^"';\s]+)""", re.IGNORECASE)


def read_headers(headers: bytes) -> dict[str, list[str]]:
    """The header fields the archive reads, by lower-case name, each value as text.

    Unfolded; RFC 2047 words are decoded later, field by field. 8-bit bytes are read as
    UTF-8, else as Windows-1252 (which maps every byte).
    """
    fields: dict[str, list[str]] = {}
    for match in _FIELD.finditer(headers):
        name = match.group(1).lower()
        if name in _WANTED:
            value = match.group(2)
            if value.isascii():
                text = value.decode("ascii")
            else:
                text = _decode(value, None)
            fields.setdefault(name.decode("ascii"), []).append(text)
    return fields


def parse_message(raw: bytes, *, pipermail: bool = False) -> MailMessage:
    """Read one message; raise :class:`BadMail` saying why it cannot be read."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise BadMail(f"larger than {MAX_MESSAGE_BYTES >> 20} MB")
    split = _header_end(raw)
    if split is None:
        raise BadMail("empty")
    headers, body = raw[:split], raw[split:]
    if not _HEADER_LINE.match(headers):
        raise BadMail("does not start with a header line")
    fields = read_headers(headers)

    def first(name: str) -> str:
        values = fields.get(name)
        return _text(values[0]) if values else ""

    author_field = _unfold(first("from"))
    if pipermail:
        author_field = _PIPERMAIL_AT.sub(r"\1@\2", author_field, count=1)
    subject = _unfold(first("subject"))
    message_id = _first_id(first("message-id"))
    if not any((author_field, subject, message_id)):
        raise BadMail("no From, Subject or Message-ID header")
    name, address = parse_address(author_field)
    author = name or address or author_field
    posted_at = _posted_at(fields)
    if posted_at is None:
        raise BadMail("no readable Date or Received header")
    references = tuple(dict.fromkeys(_ANGLE_IDS.findall(first("references"))))
    in_reply_to = _first_id(first("in-reply-to"))
    recipients = ", ".join(
        _unfold(_text(value)) for name in ("to", "cc") for value in fields.get(name, ())
    )
    group, list_id, google = group_address(fields)
    text, html, charset = _bodies(raw, fields, body)
    if message_id is None:
        # A message without one gets an id from its bytes, so importing it twice is
        # still importing it once.
        digest = hashlib.blake2b(raw, digest_size=12).hexdigest()
        message_id = f"{digest}@no-message-id.invalid"
    return MailMessage(
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        subject=subject,
        author=author,
        address=address,
        posted_at=posted_at,
        recipients=recipients,
        group=group,
        list_id=list_id,
        google_group=google,
        body_text=text,
        body_html=html,
        headers=headers,
        body=body,
        body_charset=charset,
        attachments=_attachments(fields, body),
    )


# Google Groups' footer: "To view this discussion on the web visit
# https://groups.google.com/d/msgid/<group>/<Message-ID, URL-quoted>?utm_medium=...".
_MSGID_LINK = re.compile(
    r"https?://groups\.google\.com/(?:a/[^/\s]+/)?d/msgid/[^/\s]+/([^\s?#<>\"'()]+)"
)


def msgid_links(text: str) -> tuple[str, ...]:
    """The Message-IDs that Google Groups' ``/d/msgid/<group>/<Message-ID>`` links name
    on the unquoted lines of a message's text: the message's own, in the footer Google
    adds to its mail. (A quoted footer names the message quoted.)"""
    if "/d/msgid/" not in text:
        return ()
    found: dict[str, None] = {}
    for line in text.splitlines():
        if "/d/msgid/" in line and not line.lstrip().startswith(">"):
            for quoted in _MSGID_LINK.findall(line):
                # The sentence's full stop is not the id's.
                found[unquote(quoted.rstrip(".,;:"))] = None
    return tuple(found)


def parse_address(value: str) -> tuple[str, str | None]:
    """(display name, address) of a From field, with or without a display name.

    ``Andy <andy@example.com>``, ``"Lee, Andy" <andy@example.com>``, ``andy@example.com``
    and ``andy@example.com (Andy)`` all give the address, and the name where written.
    """
    match = _NAME_ADDR.match(value)
    if match:
        name = match.group(1).replace('\\"', '"').replace("\\\\", "\\")
        return _unfold(name), match.group(2)
    match = _BARE_ADDR.match(value)
    if match:
        return _unfold(match.group(2) or ""), match.group(1)
    name, address = email.utils.parseaddr(value)
    address = address.strip()
    if "@" not in address:
        return _unfold(value), None
    return _unfold(name), address


def _header_end(raw: bytes) -> int | None:
    """Where the body starts: just after the blank line that ends the headers."""
    lf = raw.find(b"\n\n")
    crlf = raw.find(b"\r\n\r\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf + 4
    if lf >= 0:
        return lf + 2
    if raw.strip():
        return len(raw)  # headers only, no body
    return None


def _text(value: str) -> str:
    """A header value with its RFC 2047 encoded words decoded."""
    if "=?" not in value:
        return value
    try:
        parts = decode_header(value)
    except Exception:
        return value
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(chunk)
        else:
            out.append(_decode(chunk, charset))
    return "".join(out)


def _decode(data: bytes, charset: str | None) -> str:
    if charset and charset.lower() not in _UNKNOWN_CHARSETS:
        try:
            return data.decode(charset)
        except LookupError:
            pass  # a charset Python does not know: read it as the common ones
        except UnicodeDecodeError:
            try:
                return data.decode("utf-8")  # mislabelled, as 8-bit mail often is
            except UnicodeDecodeError:
                return data.decode(charset, "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def _unfold(value: str) -> str:
    return " ".join(value.split())


def _first_id(value: str) -> str | None:
    match = _ANGLE_IDS.search(value)
    if match:
        return match.group(1)
    value = value.strip()
    return value if value and " " not in value else None


def _posted_at(fields: dict[str, list[str]]) -> datetime | None:
    candidates = list(fields.get("date", ()))[:1]
    received = fields.get("received")
    if received and ";" in received[0]:
        candidates.append(received[0].rsplit(";", 1)[1])
    for value in candidates:
        try:
            moment = email.utils.parsedate_to_datetime(_unfold(_text(value)))
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
        if moment is None:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            moment = moment.astimezone(UTC)
        except (OverflowError, ValueError):
            continue
        if moment.year > 1:
            return moment
    return None


def group_address(fields: dict[str, list[str]]) -> tuple[str | None, str | None, bool]:
    """The list's address, its List-Id, and whether Google Groups delivered the message.

    The address comes from ``List-Post`` (``<mailto:...>``), ``Mailing-list``
    (``list name@host; contact ...``), ``List-Id`` (``<name.host>``: the first label is
    the name), or ``X-BeenThere`` beside ``X-Google-Group-Id``.
    """

    def first(name: str) -> str:
        values = fields.get(name)
        return _text(values[0]) if values else ""

    list_id_field = first("list-id")
    match = _ANGLE_IDS.search(list_id_field)
    list_id = match.group(1).lower() if match else (list_id_field.strip().lower() or None)
    # X-Google-Groups (the group's name) is on the mail of a Takeout export, which
    # may have no other list header.
    google = bool(fields.get("x-google-group-id") or fields.get("x-google-groups")) or (
        list_id is not None and list_id.endswith(".googlegroups.com")
    )
    found = re.search(r"<mailto:([^>?\s]+@[^>?\s]+)", first("list-post"), re.IGNORECASE)
    if found:
        return found.group(1).lower(), list_id, google
    mailing = re.search(r"\blist\s+(\S+@\S+?)[;\s]", first("mailing-list") + ";")
    if mailing:
        return mailing.group(1).lower(), list_id, google
    if list_id and "." in list_id:
        name, _, host = list_id.partition(".")
        return f"{name}@{host}", list_id, google
    been_there = first("x-beenthere").strip().lower()
    if google and "@" in been_there:
        return been_there, list_id, google
    return None, list_id, google


def _content_type(fields: dict[str, list[str]]) -> tuple[str, str | None]:
    values = fields.get("content-type")
    if not values:
        return "text/plain", None
    value = values[0]
    ctype = value.split(";", 1)[0].strip().lower()
    match = _CHARSET.search(value)
    return ctype, match.group(1).lower() if match else None


def _bodies(raw: bytes, fields: dict[str, list[str]], body: bytes) -> tuple[str, str, str | None]:
    """(text, html, charset): the readable text and HTML; the charset when ``body``
    is exactly the text encoded with it (so the archive need not keep it twice)."""
    ctype, charset = _content_type(fields)
    if not ctype.startswith("multipart/"):
        if ctype not in ("text/plain", "text/html"):
            if ctype.startswith("text/") or "/" not in ctype:
                ctype = "text/plain"
            else:
                return "", "", None
        charset = charset or "us-ascii"
        encoding = (fields.get("content-transfer-encoding") or ["7bit"])[0].strip().lower()
        text = _decode_body(_transfer_decode(body, encoding), charset)
        if ctype == "text/html":
            return "", text, None
        exact = None
        if encoding in ("7bit", "8bit", "binary") and _encodes_back(text, charset, body):
            exact = charset
        return text, "", exact
    text = html = ""
    for part_fields, part_body in _leaf_parts(fields, body):
        ctype, charset = _content_type(part_fields)
        disposition = (part_fields.get("content-disposition") or [""])[0]
        if disposition.strip().lower().startswith("attachment"):
            continue
        if (ctype == "text/plain" and not text) or (ctype == "text/html" and not html):
            encoding = (part_fields.get("content-transfer-encoding") or ["7bit"])[0]
            decoded = _decode_body(
                _transfer_decode(part_body, encoding.strip().lower()), charset or "us-ascii"
            )
            if ctype == "text/plain":
                text = decoded
            else:
                html = decoded
    if not text and not html:
        return _stdlib_bodies(raw)  # a shape the quick walk does not know
    return text, html, None


_MAX_NESTING = 20


def _leaf_parts(
    fields: dict[str, list[str]], body: bytes, depth: int = 0
) -> Iterator[tuple[dict[str, list[str]], bytes]]:
    """The non-multipart parts of a MIME body, in order, with their header fields."""
    ctype, _ = _content_type(fields)
    if not ctype.startswith("multipart/"):
        yield fields, body
        return
    match = _BOUNDARY.search(fields["content-type"][0])
    if not match or depth >= _MAX_NESTING:
        return
    delimiter = b"--" + (match.group(1) or match.group(2)).encode("utf-8", "replace")
    positions = [m.start() for m in re.finditer(b"(?m)^" + re.escape(delimiter), body)]
    for start, end in zip(positions, positions[1:], strict=False):
        line_end = body.find(b"\n", start)
        if line_end < 0 or line_end >= end:
            continue
        part = body[line_end + 1 : end]
        part = part[:-2] if part.endswith(b"\r\n") else part[:-1] if part.endswith(b"\n") else part
        if part.startswith((b"\n", b"\r\n")):
            part_fields: dict[str, list[str]] = {}
            part_body = part[1:] if part.startswith(b"\n") else part[2:]
        else:
            split = _header_end(part) or len(part)
            part_fields, part_body = read_headers(part[:split]), part[split:]
        yield from _leaf_parts(part_fields, part_body, depth + 1)


def _attachments(fields: dict[str, list[str]], body: bytes) -> tuple[tuple[str, str, int], ...]:
    """The parts of a multipart message beside its text and HTML (as :func:`_bodies`
    picks them): those sent as attachments, named, or not text."""
    if not _content_type(fields)[0].startswith("multipart/"):
        return ()
    found = []
    text = html = False
    for part_fields, part_body in _leaf_parts(fields, body):
        ctype, _ = _content_type(part_fields)
        disposition = (part_fields.get("content-disposition") or [""])[0]
        attached = disposition.strip().lower().startswith("attachment")
        name = _filename(part_fields)
        if not attached:
            if ctype == "text/plain" and not text:
                text = True
                continue
            if ctype == "text/html" and not html:
                html = True
                continue
            if not name and ctype.startswith("text/"):
                continue
        encoding = (part_fields.get("content-transfer-encoding") or ["7bit"])[0]
        size = len(_transfer_decode(part_body, encoding.strip().lower()))
        found.append((name, ctype, size))
    return tuple(found)


def _filename(fields: dict[str, list[str]]) -> str:
    """A part's file name (Content-Disposition's, else Content-Type's), decoded."""
    headers = EmailMessage()
    for name in ("content-disposition", "content-type"):
        if fields.get(name):
            headers[name] = fields[name][0]
    try:
        value = headers.get_filename()
    except Exception:  # a malformed parameter names no file
        return ""
    return _unfold(_text(value)) if value else ""


def _stdlib_bodies(raw: bytes) -> tuple[str, str, str | None]:
    full = _PARSER.parsebytes(raw)
    text = html = ""
    for part in full.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain" and not text:
            text = _decode_body(_part_payload(part), part.get_content_charset() or "us-ascii")
        elif ctype == "text/html" and not html:
            html = _decode_body(_part_payload(part), part.get_content_charset() or "us-ascii")
    return text, html, None


def _transfer_decode(body: bytes, encoding: str) -> bytes:
    try:
        if encoding == "quoted-printable":
            return binascii.a2b_qp(body)
        if encoding == "base64":
            return binascii.a2b_base64(body)
    except (binascii.Error, ValueError):
        return body
    return body


def _part_payload(part: EmailMessage) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    return raw.encode("ascii", "surrogateescape") if isinstance(raw, str) else b""


def _decode_body(payload: bytes, charset: str) -> str:
    return _decode(payload, charset).replace("\r\n", "\n")


def _encodes_back(text: str, charset: str, body: bytes) -> bool:
    if b"\r" in body:
        return False
    try:
        return text.encode(charset) == body
    except (LookupError, UnicodeError):
        return False
