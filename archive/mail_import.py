"""Importing mail into the archive: dedupe by Message-ID and fingerprint, thread by references.

Each message read by :mod:`archive.mail` becomes one ``messages`` row (or joins the
row it already is) and one posting in its list's group:

* a Message-ID already archived is the same message: if the group already has its
  posting, nothing changes (importing twice changes nothing); a second list gets a
  posting of its own;
* a message scraped from Google Groups carries no Message-ID, so a new one is
  matched to it by the content fingerprint and time window the archive's own
  deduplication uses (:meth:`archive.db.Archive.find_same_message`): the scraped row
  gains the Message-ID and a second posting, the mail's;
* otherwise it is a new message.

Threads follow the JWZ idea: every Message-ID a message names (its own, In-Reply-To,
References) belongs to the thread of any other message naming it, so a thread is a
connected group of references, whatever order the mail arrives in (two threads that
turn out to be one are merged). Only a message with neither header falls back to its
subject: a reply (``Re:``) joins the latest thread of this import with the same
subject in its group.

Writes go in batches of :data:`BATCH` messages, each one transaction: an interrupted
import keeps whole batches, and importing again completes it.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

from archive.db import (
    CROSS_POST_WINDOW,
    ROWS_PER_INSERT,
    Archive,
    decode_body,
    encode_body,
    insert_rows,
    next_message_id,
)
from archive.mail import (
    BadMail,
    MailMessage,
    RawMail,
    iter_mail,
    mail_sources,
    msgid_links,
    parse_message,
)
from archive.times import parse_utc, utc_iso
from scraper.errors import ListarchiveError
from scraper.models import GroupRef

__all__ = ["BATCH", "ImportSummary", "MissingGroup", "import_mail", "mail_posting_id"]

BATCH = 2000
NO_LIST = "names no list (no List-Id, List-Post or Mailing-list header)"
# Messages' bytes are deflated together, this many or this much at a time: past
# that, a bigger block compresses hardly better and costs an export more to open.
BLOCK_MESSAGES = 64
BLOCK_BYTES = 256 << 10
_SUBJECT_MEMORY = 50_000  # subjects remembered for the fallback, newest kept
_GOOGLE_HOST = "googlegroups.com"


class MissingGroup(ListarchiveError):
    """Messages named no list and no --group was given."""

    exit_code = 2


@dataclass
class ImportSummary:
    read: int = 0
    new: int = 0  # messages the archive did not have
    already: int = 0  # already archived (same Message-ID), nothing changed
    added_postings: int = 0  # already archived from another list or from Google Groups
    rejected: int = 0
    no_group: int = 0  # readable, but no list header and no --group
    threads_new: int = 0
    groups: set[str] = field(default_factory=set)

    def line(self) -> str:
        parts = [f"{self.new:,} new", f"{self.already:,} already archived"]
        if self.added_postings:
            parts.append(f"{self.added_postings:,} archived before, now also from this mail")
        parts.append(f"{self.rejected:,} rejected")
        if self.no_group:
            parts.append(f"{self.no_group:,} without a list")
        return f"Read {self.read:,} messages: " + ", ".join(parts)


def mail_posting_id(message_id: str) -> str:
    """A mail posting's ``google_message_id``: the Message-ID in angle brackets.

    Google's own ids never hold ``<``, so the two kinds cannot collide in a group.
    """
    return f"<{message_id}>"


def import_mail(
    archive: Archive,
    paths: Iterable[str | Path],
    *,
    group: str | None = None,
    on_reject: Callable[[str, str], None] | None = None,
    on_progress: Callable[[ImportSummary], None] | None = None,
    progress_every: float = 2.0,
    now: datetime | None = None,
    parallel: bool | None = None,
) -> ImportSummary:
    """Import every message under ``paths``; bad messages are counted and skipped.

    ``group`` is the list address for messages whose headers name none.
    ``on_reject(where, reason)`` is told of each message skipped. Reading and parsing
    run in a second process while this one writes (``parallel``; by default when the
    machine has two cores or more), so the two halves of the work overlap.
    """
    seen = utc_iso(now or datetime.now(UTC))
    summary = ImportSummary()
    writer = _Writer(archive, seen, summary)
    fallback_group = _normalise_group(group) if group else None
    last_progress = time.monotonic()
    if parallel is None:
        parallel = (os.cpu_count() or 1) > 1
    items = list(paths)
    batches = _parallel_batches(items) if parallel else _batches(items)
    try:
        for batch in batches:
            chosen_batch: list[tuple[_Prepared, str]] = []
            for item in batch:
                if isinstance(item, _Rejected):
                    if item.counted:
                        summary.read += 1
                    summary.rejected += 1
                    if on_reject:
                        on_reject(item.where, item.reason)
                    continue
                summary.read += 1
                chosen = item.message.group or _hint_group(item.hint) or fallback_group
                if chosen is None:
                    summary.no_group += 1
                    summary.rejected += 1
                    if on_reject:
                        on_reject(item.where, NO_LIST)
                    continue
                chosen_batch.append((item, chosen))
            writer.add_all(chosen_batch)
            if on_progress:
                moment = time.monotonic()
                if moment - last_progress >= progress_every:
                    last_progress = moment
                    on_progress(summary)
        writer.flush()
    finally:
        writer.close()
        close = getattr(batches, "close", None)
        if close:
            close()
    archive.merge_search_index()
    return summary


@dataclass(frozen=True)
class _Rejected:
    where: str
    reason: str
    counted: bool  # a message (read and refused), not a file


_BATCH_MESSAGES = 128
_LOOKUP_IDS = 500  # ids looked up by one statement (SQLite bounds its parameters)
_ROWS_PER_INSERT = ROWS_PER_INSERT  # new messages held, and inserted, at once
_BLOCKS_AHEAD = 4  # blocks deflating at once at most: memory stays bounded
_QUEUED_BATCHES = 8  # how far reading may run ahead of writing: memory stays bounded


class _Prepared(NamedTuple):
    """A message as read, with what the writer derives from it alone: worked out while
    reading, which runs beside the writer (the writer is the slower half)."""

    message: MailMessage
    body_text: str
    fingerprint: str
    hint: str | None  # the group its file names, if any
    where: str
    posted_at: str
    subject_base: str  # the subject normalised, for the threading fallback
    quoted_id: str  # the Message-ID as it goes into a URL
    linked_ids: tuple[str, ...]  # its footer's /d/msgid/ links' Message-IDs


def _batches(paths: list[str | Path]) -> Iterator[list]:
    """Parsed messages, in batches: :class:`_Prepared` or :class:`_Rejected`."""
    batch: list = []
    for source in mail_sources(paths):
        if isinstance(source, BadMail):
            batch.append(_Rejected(source.where or "?", str(source), counted=False))
            continue
        try:
            for raw in iter_mail(source):
                batch.append(_prepare(raw))
                if len(batch) >= _BATCH_MESSAGES:
                    yield batch
                    batch = []
        except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error) as err:
            # A truncated or corrupt compressed stream: what was read is kept.
            batch.append(_Rejected(str(source.path), f"stopped reading: {err}", counted=False))
    if batch:
        yield batch


def _prepare(raw: RawMail):
    """One message parsed, with the text and fingerprint the archive stores: pure."""
    from archive import text

    try:
        message = parse_message(raw.data, pipermail=raw.pipermail)
        # What text.message_text does, with the footer kept for its links.
        full_text = message.body_text or text.html_to_text(message.body_html)
        body_text = text.strip_footer(full_text)
        return _Prepared(
            message, body_text, text.fingerprint(message.author, message.subject, body_text),
            raw.group_hint, raw.where, utc_iso(message.posted_at),
            text.normalize_subject(message.subject), quote(message.message_id, safe=""),
            msgid_links(full_text),
        )  # fmt: skip
    except BadMail as err:
        return _Rejected(raw.where, str(err), counted=True)
    except Exception as err:  # hostile input must never stop an import
        return _Rejected(raw.where, f"unreadable ({type(err).__name__}: {err})", counted=True)


class _parallel_batches:  # noqa: N801 - used as a generator function
    """:func:`_batches` run in a child process, handed over through a bounded queue."""

    def __init__(self, paths: list[str | Path]) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self.queue = context.Queue(maxsize=_QUEUED_BATCHES)
        self.process = context.Process(
            target=_produce, args=(paths, self.queue), daemon=True, name="listarchive-reader"
        )
        self.process.start()

    def __iter__(self) -> Iterator[list]:
        while True:
            kind, payload = self.queue.get()
            if kind == "batch":
                yield payload
            elif kind == "error":
                raise RuntimeError(f"reading the mail failed: {payload}")
            else:
                return

    def close(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join()
        self.queue.close()


def _produce(paths: list[str | Path], queue) -> None:
    try:
        for batch in _batches(paths):
            queue.put(("batch", batch))
    except BaseException as err:  # told to the writer, which stops with it
        queue.put(("error", f"{type(err).__name__}: {err}"))
        return
    queue.put(("done", None))


_MESSAGE_COLUMNS = (
    "id, subject, author, masked_address, posted_at, body_html, body_text, fingerprint,"
    " first_seen_at, last_seen_at, rfc822_id, in_reply_to, reference_ids, recipients, list_id"
)


def _named_ids(message: MailMessage) -> list[str]:
    """The Message-IDs a message names (references, the one it answers, its own)."""
    ids = dict.fromkeys([*message.references, message.in_reply_to, message.message_id])
    return [i for i in ids if i]


def _parts(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _LOOKUP_IDS):
        yield values[start : start + _LOOKUP_IDS]


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _normalise_group(value: str) -> str:
    value = value.strip().lower()
    if "@" not in value:
        value = f"{value}@{_GOOGLE_HOST}"
    return value


def _hint_group(hint: str | None) -> str | None:
    return _normalise_group(hint) if hint else None


class _Writer:
    """Stores messages in batches of one transaction each."""

    def __init__(self, archive: Archive, seen: str, summary: ImportSummary) -> None:
        from archive import text

        self.archive = archive
        self.conn: sqlite3.Connection = archive.db.conn
        self.seen = seen
        self.summary = summary
        self.text = text
        self.pending = 0
        self.touched: set[int] = set()
        self.subjects: dict[tuple[str, str], int] = {}
        self.known_groups: set[str] = set()
        self._transaction: object | None = None
        self.block_rows: list[tuple[int, int, int, int, str | None]] = []
        self.block_parts: list[bytes] = []
        self.block_size = 0
        self.compressor: ThreadPoolExecutor | None = None
        self.compressing: list[tuple[Future[bytes], list]] = []
        # Rows written in runs (see _ROWS_PER_INSERT); a new message's id is given
        # here, as SQLite would give it (the largest plus one).
        self.pending_messages: list[tuple] = []
        self.pending_postings: list[tuple] = []
        self.pending_attachments: list[tuple] = []
        self.next_id = 0
        # What the current batch looks up, read for the whole batch in a few
        # statements and kept current as it is written: archived Message-IDs (to
        # their row) and the threads of the ids its messages name, by group.
        self.known_ids: dict[str, int] = {}
        self.thread_of: dict[tuple[str, str], int] = {}
        # Matching scraped copies costs a lookup per message: skip it when the archive
        # holds no message without a Message-ID (none came from Google Groups).
        self.scraped_exist = self.conn.execute(
            "SELECT (SELECT count(*) FROM messages)"
            " > (SELECT count(*) FROM messages WHERE rfc822_id IS NOT NULL)"
        ).fetchone()[0]

    # transactions ------------------------------------------------------------------

    def _begin(self) -> None:
        if self._transaction is None:
            self._transaction = self.archive._write()  # noqa: SLF001 - same package
            self._transaction.__enter__()
            self.next_id = next_message_id(self.conn)

    def flush(self) -> None:
        if self._transaction is None:
            return
        self._write_pending()
        self._flush_block()
        self._store_blocks()
        self._finish_threads()
        transaction, self._transaction = self._transaction, None
        transaction.__exit__(None, None, None)  # type: ignore[attr-defined]
        self.pending = 0

    def close(self) -> None:
        if self.compressor is not None:
            self.compressor.shutdown(cancel_futures=True)
            self.compressor = None
        self.compressing.clear()
        self.pending_messages.clear()
        self.pending_postings.clear()
        self.pending_attachments.clear()
        if self._transaction is not None:
            transaction, self._transaction = self._transaction, None
            try:
                raise RuntimeError("import interrupted")
            except RuntimeError as err:
                transaction.__exit__(type(err), err, err.__traceback__)  # type: ignore[attr-defined]

    # messages ----------------------------------------------------------------------

    def add_all(self, batch: list[tuple[_Prepared, str]]) -> None:
        """Store a batch of messages, each with its group."""
        if not batch:
            return
        self._begin()
        self._look_up(batch)
        for item, group in batch:
            self.add(item, group)

    def _look_up(self, batch: list[tuple[_Prepared, str]]) -> None:
        conn = self.conn
        self.known_ids = {}
        self.thread_of = {}
        message_ids = sorted({item.message.message_id for item, _ in batch})
        for part in _parts(message_ids):
            self.known_ids.update(
                conn.execute(
                    f"SELECT rfc822_id, id FROM messages WHERE rfc822_id IN ({_marks(len(part))})",
                    part,
                )
            )
        named: dict[str, set[str]] = {}
        for item, group in batch:
            named.setdefault(group, set()).update(_named_ids(item.message))
        for group, ids in named.items():
            for part in _parts(sorted(ids)):
                rows = conn.execute(
                    "SELECT rfc822_id, thread_id FROM mail_ids WHERE group_key = ?"
                    f" AND rfc822_id IN ({_marks(len(part))})",
                    (group, *part),
                )
                for rfc822_id, thread_id in rows:
                    self.thread_of[(group, rfc822_id)] = thread_id

    def add(self, item: _Prepared, group: str) -> None:
        """Store one message of the batch :meth:`add_all` looked up."""
        self._begin()
        message = item.message
        self._ensure_group(group, message)
        posting = mail_posting_id(message.message_id)
        known = self.known_ids.get(message.message_id)
        if known is not None:
            self._write_pending()
            has_posting = self.conn.execute(
                "SELECT 1 FROM postings WHERE group_key = ? AND google_message_id = ?",
                (group, posting),
            ).fetchone()
            if has_posting:
                self.summary.already += 1
                return
            self.summary.added_postings += 1
            message_id = known
        else:
            message_id = self._store(item, group)
            self.known_ids[message.message_id] = message_id
        thread_id = self._thread(item, group)
        self.pending_postings.append(
            (message_id, group, thread_id, thread_id, posting,
             self._url(group, item), self.seen, self.seen)
        )  # fmt: skip
        self.touched.add(thread_id)
        self.pending += 1
        if self.pending >= BATCH:
            self.flush()

    def _store(self, item: _Prepared, group: str) -> int:
        """The row of a message new to the archive by its Message-ID: a matching
        scraped message's, else a new one."""
        message, body_text, fingerprint = item.message, item.body_text, item.fingerprint
        posted_at = item.posted_at
        charset = message.body_charset if body_text == message.body_text else None
        mail_values = (
            message.message_id,
            message.in_reply_to,
            " ".join(message.references) or None,
            message.recipients or None,
            message.list_id,
        )
        scraped = None
        if self.scraped_exist:
            scraped = self._linked_scraped(item)
            if scraped is None:
                scraped = self.archive.find_same_message(
                    fingerprint, posted_at, group, conn=self.conn, only_without_rfc822_id=True
                )
        conn = self.conn
        if scraped is not None:
            conn.execute(
                """
                UPDATE messages SET rfc822_id = ?, in_reply_to = ?, reference_ids = ?,
                    recipients = ?, list_id = ?, last_seen_at = ?
                WHERE id = ?
                """,
                (*mail_values, self.seen, scraped),
            )
            message_id = scraped
            self.summary.added_postings += 1
        else:
            message_id = self.next_id
            self.next_id += 1
            self.pending_messages.append(
                (message_id, message.subject, message.author, message.address, posted_at,
                 encode_body(message.body_html), body_text, fingerprint, self.seen, self.seen,
                 *mail_values)
            )  # fmt: skip
            # A file's bytes stay in the message's source (mail_sources): no url.
            self.pending_attachments += [
                (message_id, position, name, ctype, "", size)
                for position, (name, ctype, size) in enumerate(message.attachments)
            ]
            if len(self.pending_messages) >= _ROWS_PER_INSERT:
                self._write_pending()
            self.summary.new += 1
        self._add_source(message_id, message.headers, b"" if charset else message.body, charset)
        return message_id

    def _linked_scraped(self, item: _Prepared) -> int | None:
        """A scraped message (no Message-ID) posted within the cross-post window whose
        text links to this mail by its Message-ID (see :func:`archive.mail.msgid_links`):
        an exact key where the two copies' texts differ too much for the fingerprint."""
        ids = {item.message.message_id, *item.linked_ids}
        posted = parse_utc(item.posted_at)
        rows = self.conn.execute(
            "SELECT id, body_html FROM messages WHERE posted_at BETWEEN ? AND ?"
            " AND rfc822_id IS NULL ORDER BY id",
            (utc_iso(posted - CROSS_POST_WINDOW), utc_iso(posted + CROSS_POST_WINDOW)),
        )
        for message_id, stored in rows:
            html = decode_body(stored)
            if "/d/msgid/" in html and ids.intersection(
                msgid_links(self.text.html_to_text(html))
            ):
                return message_id
        return None

    def _write_pending(self) -> None:
        """Insert the new messages held so far, then their attachments and postings."""
        rows, self.pending_messages = self.pending_messages, []
        insert_rows(self.conn, "messages", _MESSAGE_COLUMNS, rows, _ROWS_PER_INSERT)
        if self.pending_attachments:
            attachments, self.pending_attachments = self.pending_attachments, []
            self.conn.executemany(
                "INSERT INTO attachments (message_id, position, filename, mime_type, url, size)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                attachments,
            )
        if self.pending_postings:
            postings, self.pending_postings = self.pending_postings, []
            self.conn.executemany(
                """
                INSERT INTO postings (message_id, group_key, thread_id, topic_id,
                    google_message_id, position, url, first_seen_at, last_seen_at)
                VALUES (?, ?, ?, (SELECT topic_id FROM threads WHERE id = ?), ?, 0, ?, ?, ?)
                """,
                postings,
            )

    def _add_source(self, message_id: int, headers: bytes, body: bytes, charset: str | None):
        self.block_rows.append((message_id, self.block_size, len(headers), len(body), charset))
        self.block_parts += (headers, body)
        self.block_size += len(headers) + len(body)
        if self.block_size >= BLOCK_BYTES or len(self.block_rows) >= BLOCK_MESSAGES:
            self._flush_block()

    def _flush_block(self) -> None:
        """Deflate the current block on the compressing thread; stored by :meth:`_store_blocks`.

        zlib lets go of the interpreter while it works, so deflating (a sixth of the
        writer's time) overlaps the SQL and the parsing of the next messages.
        """
        if not self.block_rows:
            return
        if self.compressor is None:
            self.compressor = ThreadPoolExecutor(1, thread_name_prefix="listarchive-deflate")
        data = self.compressor.submit(zlib.compress, b"".join(self.block_parts), 6)
        self.compressing.append((data, self.block_rows))
        self.block_rows = []
        self.block_parts.clear()
        self.block_size = 0
        if len(self.compressing) > _BLOCKS_AHEAD:
            self._store_blocks(len(self.compressing) - _BLOCKS_AHEAD)

    def _store_blocks(self, count: int | None = None) -> None:
        """Store the oldest ``count`` deflated blocks (all by default), in their order."""
        done = self.compressing[:count]
        del self.compressing[:count]
        pending = self.pending_messages
        if pending and any(rows[-1][0] >= pending[0][0] for _, rows in done):
            self._write_pending()  # their sources name them
        for data, rows in done:
            block = self.conn.execute(
                "INSERT INTO mail_blocks (data) VALUES (?)", (data.result(),)
            ).lastrowid
            self.conn.executemany(
                "INSERT OR REPLACE INTO mail_sources (message_id, block, start, header_length,"
                " body_length, body_charset) VALUES (?, ?, ?, ?, ?, ?)",
                [(row[0], block, *row[1:]) for row in rows],
            )

    # groups and threads ------------------------------------------------------------------

    def _ensure_group(self, group: str, message: MailMessage) -> None:
        if group in self.known_groups:
            return
        name, _, domain = group.partition("@")
        google = message.google_group or domain == _GOOGLE_HOST
        ref = GroupRef(name, None if domain == _GOOGLE_HOST else domain)
        url = ref.url if google else f"mailto:{group}"
        self.conn.execute(
            """
            INSERT INTO groups (key, name, domain, email, url)
            VALUES (?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING
            """,
            (group, name, ref.domain, group, url),
        )
        self.known_groups.add(group)
        self.summary.groups.add(group)

    @staticmethod
    def _url(group: str, item: _Prepared) -> str:
        message, quoted = item.message, item.quoted_id
        if message.google_group or group.endswith("@" + _GOOGLE_HOST):
            name, _, domain = group.partition("@")
            prefix = "" if domain == _GOOGLE_HOST else f"/a/{domain}"
            return f"https://groups.google.com{prefix}/d/msgid/{name}/{quoted}"
        return f"mid:{quoted}"

    def _thread(self, item: _Prepared, group: str) -> int:
        conn = self.conn
        message = item.message
        ids = _named_ids(message)
        thread_of = self.thread_of
        found = sorted({thread_of[key] for i in ids if (key := (group, i)) in thread_of})
        base = item.subject_base
        reply = base.startswith("re: ")
        subject_key = (group, base.removeprefix("re: "))
        if not found and reply and not message.references and not message.in_reply_to:
            candidate = self.subjects.get(subject_key)
            if candidate is not None:
                found = [candidate]
        if not found:
            thread_id = self._new_thread(item, group)
        else:
            thread_id = found[0]
            if len(found) > 1:
                self._merge(group, thread_id, found[1:])
        conn.executemany(
            "INSERT OR IGNORE INTO mail_ids (group_key, rfc822_id, thread_id) VALUES (?, ?, ?)",
            [(group, i, thread_id) for i in ids],
        )
        for i in ids:
            thread_of.setdefault((group, i), thread_id)
        self.subjects.pop(subject_key, None)
        self.subjects[subject_key] = thread_id
        if len(self.subjects) > _SUBJECT_MEMORY:
            del self.subjects[next(iter(self.subjects))]
        return thread_id

    def _new_thread(self, item: _Prepared, group: str) -> int:
        message = item.message
        digest = hashlib.blake2b(
            f"{group}\0{message.message_id}".encode("utf-8", "surrogatepass"), digest_size=6
        ).hexdigest()
        topic_id = "m" + digest
        posted = item.posted_at
        cursor = self.conn.execute(
            """
            INSERT INTO threads (group_key, topic_id, subject, created_at, last_activity_at,
                message_count, messages_seen, complete, url, first_seen_at, fetched_at)
            VALUES (?, ?, ?, ?, ?, 1, 1, 1, ?, ?, ?)
            ON CONFLICT (group_key, topic_id) DO UPDATE SET fetched_at = excluded.fetched_at
            RETURNING id
            """,
            (group, topic_id, message.subject, posted, posted, self._url(group, item),
             self.seen, self.seen),
        )  # fmt: skip
        self.summary.threads_new += 1
        return cursor.fetchone()[0]

    def _merge(self, group: str, keep: int, others: list[int]) -> None:
        self._write_pending()  # postings held name the threads merged away
        conn = self.conn
        others_json = json.dumps(others)
        conn.execute(
            "UPDATE postings SET thread_id = ?, topic_id = (SELECT topic_id FROM threads"
            " WHERE id = ?) WHERE thread_id IN (SELECT value FROM json_each(?))",
            (keep, keep, others_json),
        )
        conn.execute(
            "UPDATE mail_ids SET thread_id = ? WHERE group_key = ?"
            " AND thread_id IN (SELECT value FROM json_each(?))",
            (keep, group, others_json),
        )
        conn.execute(
            "DELETE FROM threads WHERE id IN (SELECT value FROM json_each(?))", (others_json,)
        )
        gone = set(others)
        for key, value in self.subjects.items():
            if value in gone:
                self.subjects[key] = keep
        for key, value in self.thread_of.items():
            if value in gone:
                self.thread_of[key] = keep
        for other in others:
            self.touched.discard(other)
            self.summary.threads_new -= 1
        self.touched.add(keep)

    def _finish_threads(self) -> None:
        """Counts, dates and positions of the threads this batch touched."""
        if not self.touched:
            return
        touched = json.dumps(sorted(self.touched))
        self.touched.clear()
        conn = self.conn
        conn.execute(
            """
            UPDATE threads SET (message_count, messages_seen, created_at, last_activity_at) =
                (SELECT count(*), count(*), min(m.posted_at), max(m.posted_at)
                 FROM postings p JOIN messages m ON m.id = p.message_id
                 WHERE p.thread_id = threads.id)
            WHERE id IN (SELECT value FROM json_each(?))
            """,
            (touched,),
        )
        conn.execute(
            """
            UPDATE postings SET position = ordered.position FROM (
                SELECT p.id, row_number() OVER (
                    PARTITION BY p.thread_id ORDER BY m.posted_at, m.id) - 1 AS position
                FROM postings p JOIN messages m ON m.id = p.message_id
                WHERE p.thread_id IN (SELECT value FROM json_each(?))
            ) AS ordered
            WHERE postings.id = ordered.id AND postings.position != ordered.position
            """,
            (touched,),
        )
        # Thread subjects: the earliest message's.
        conn.execute(
            """
            UPDATE threads SET subject = (
                SELECT m.subject FROM postings p JOIN messages m ON m.id = p.message_id
                WHERE p.thread_id = threads.id ORDER BY p.position LIMIT 1)
            WHERE id IN (SELECT value FROM json_each(?))
            """,
            (touched,),
        )
