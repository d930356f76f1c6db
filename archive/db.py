"""The archive database: schema, migrations, saving with deduplication, and reads.

This is the only module that knows the tables. Everything is stored in one SQLite
file (WAL mode, foreign keys on) through sqlite-utils.

Times are stored as UTC text in exactly one format, ``2024-01-02T03:04:05Z``
(:func:`utc_iso`), so they sort and compare correctly as strings.

Deduplication: a message is one ``messages`` row however many groups it was posted
to; each appearance in a group is a ``postings`` row. A posting Google already gave
us (same group, same Google message id) always maps to its message. A new posting is
attached to an existing message when the content fingerprint (see
:func:`archive.text.fingerprint`) matches a message posted within an hour that has
no posting in this group yet; otherwise it is a new message. A message never gets
two postings in one group: two uploads to the same group are two messages upstream
too.

Importing this module does not import lxml: :mod:`archive.text` is imported on the
save path only, so ``search`` and ``export`` start quickly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import sqlite3
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive.connection import (
    archive_errors,
    connect_readonly,
    is_disk_full,
    sqlite_failure,
)
from archive.connection import unwritable_reason as _unwritable_reason
from archive.times import parse_utc, utc_iso
from scraper.errors import ArchiveError
from scraper.models import Group, Message, Thread, ThreadRef, Topic

if TYPE_CHECKING:
    # Imported where an Archive is opened: sqlite-utils (with dateutil and pluggy) is
    # a third of search's start-up, and search reads through connect_readonly alone.
    import sqlite_utils

__all__ = [
    "Archive",
    "decode_body",
    "encode_body",
    "CROSS_POST_WINDOW",
    "migrations",
    "SCHEMA_VERSION",
    "SaveResult",
    "ThreadState",
    "archive_errors",
    "connect_readonly",
    "is_disk_full",
    "sqlite_failure",
    "parse_utc",
    "utc_iso",
]

CROSS_POST_WINDOW = timedelta(hours=1)
RUN_STATUSES = ("running", "ok", "partial", "failed", "interrupted")
RUN_COUNTS = ("topics_seen", "threads_fetched", "messages_new", "messages_changed", "requests")


# --- times --------------------------------------------------------------------


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid an INSERT on ``cursor`` just made (``lastrowid`` is None only for a
    statement that inserted nothing, which would be a bug here)."""
    rowid = cursor.lastrowid
    if rowid is None:
        raise RuntimeError("the INSERT made no row")
    return rowid


# New rows inserted by one statement. Each INSERT into messages opens a statement
# savepoint (its triggers write to other tables), and at every savepoint FTS5 writes
# what it holds in memory out as a new index segment, which it must merge again
# later: one segment per message made the search index cost 200 us a message, one
# per 128 messages 110 us (linux-i2c). The rows are the same.
ROWS_PER_INSERT = 128


def next_message_id(conn: sqlite3.Connection) -> int:
    """The id SQLite gives the next ``messages`` row (the largest plus one: the table
    has no AUTOINCREMENT), so rows held back and inserted many to a statement get the
    ids they would have got one at a time."""
    return conn.execute("SELECT coalesce(max(id), 0) + 1 FROM messages").fetchone()[0]


# The widths of those statements. sqlite3 keeps each prepared statement with the
# values last bound to it, so a statement per row count would keep up to 128 of them
# alive, each holding copies of its last messages (12 MB more peak RSS in a sync of
# 10,000 linux-i2c messages); a statement of a fixed width, its spare rows NULL and
# left out, keeps three.
_INSERT_WIDTHS = (8, 32)


@functools.lru_cache(maxsize=16)
def _insert_sql(table: str, columns: str, width: int) -> str:
    row = "(" + ", ".join("?" * (columns.count(",") + 1)) + ")"
    return (
        f"INSERT INTO {table} ({columns}) SELECT * FROM (VALUES "
        + ", ".join([row] * width)
        + ") WHERE column1 IS NOT NULL"
    )


def insert_rows(
    conn: sqlite3.Connection,
    table: str,
    columns: str,
    rows: list[tuple[Any, ...]],
    per_statement: int | None = None,
) -> None:
    """Insert ``rows`` in order, ``per_statement`` (:data:`ROWS_PER_INSERT`) to a statement.

    A row's first value must not be None (that marks a spare row).
    """
    size = per_statement or ROWS_PER_INSERT
    for start in range(0, len(rows), size):
        part = rows[start : start + size]
        width = min(size, next((w for w in _INSERT_WIDTHS if w >= len(part)), size))
        values = [v for row in part for v in row]
        values += [None] * (len(part[0]) * (width - len(part)))
        conn.execute(_insert_sql(table, columns, width), values)


def _iso_or_none(dt: datetime | None) -> str | None:
    return None if dt is None else utc_iso(dt)


# --- errors and read-only opening: archive.connection (search needs them alone) ---


def _database(conn: sqlite3.Connection) -> sqlite_utils.Database:
    import sqlite_utils

    return sqlite_utils.Database(conn, execute_plugins=False)


def _guarded(method):
    @functools.wraps(method)
    def wrapper(self: Archive, *args, **kwargs):
        with archive_errors(self.path):
            return method(self, *args, **kwargs)

    return wrapper


# --- schema ---------------------------------------------------------------------

MIGRATION_NAMES: list[str] = []
_MIGRATION_STEPS: list = []


def _migration(fn):
    MIGRATION_NAMES.append(fn.__name__)
    _MIGRATION_STEPS.append(fn)
    return fn


@functools.cache
def migrations() -> sqlite_utils.Migrations:
    """The schema's sqlite-utils migration set, made when an archive is first opened."""
    import sqlite_utils

    registry = sqlite_utils.Migrations("listarchive")
    for step in _MIGRATION_STEPS:
        registry(name=step.__name__)(step)
    return registry


def __getattr__(name: str) -> Any:
    if name == "MIGRATIONS":  # the set as a module attribute, still made on first use
        return migrations()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _run(db: sqlite_utils.Database, script: str) -> None:
    # executescript() would COMMIT first, breaking the migration's transaction.
    statement = ""
    for piece in script.split(";"):
        statement += piece + ";"
        if sqlite3.complete_statement(statement):  # a trigger body holds ";" too
            if statement.strip(" \n;"):
                db.execute(statement)
            statement = ""


@_migration
def m001_base_tables(db: sqlite_utils.Database) -> None:
    _run(
        db,
        """
        CREATE TABLE groups (
            key TEXT PRIMARY KEY,            -- GroupRef.key: name@domain or name@googlegroups.com
            name TEXT NOT NULL,
            domain TEXT,                     -- NULL for consumer (googlegroups.com) groups
            email TEXT,                      -- as the group page states it
            url TEXT NOT NULL,               -- canonical https://groups.google.com/... URL
            title TEXT,
            google_id TEXT,
            total_topics INTEGER,
            first_synced_at TEXT,
            last_synced_at TEXT
        );
        CREATE TABLE threads (
            id INTEGER PRIMARY KEY,
            group_key TEXT NOT NULL REFERENCES groups(key),
            topic_id TEXT NOT NULL,
            subject TEXT NOT NULL DEFAULT '',
            created_at TEXT,
            last_activity_at TEXT,
            message_count INTEGER,           -- as Google reports it
            messages_seen INTEGER NOT NULL DEFAULT 0,  -- messages on the last fetched page
            complete INTEGER NOT NULL DEFAULT 1 CHECK (complete IN (0, 1)),
            url TEXT NOT NULL,
            first_seen_at TEXT NOT NULL,
            fetched_at TEXT NOT NULL,
            UNIQUE (group_key, topic_id)
        );
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            subject TEXT NOT NULL DEFAULT '',
            author TEXT NOT NULL DEFAULT '',
            masked_address TEXT,
            posted_at TEXT NOT NULL,
            updated_at TEXT,
            body_html TEXT NOT NULL DEFAULT '',  -- as received from the first group seen
            body_text TEXT NOT NULL DEFAULT '',  -- plain text, Google Groups footer removed
            fingerprint TEXT NOT NULL,
            first_seen_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL
        );
        CREATE TABLE postings (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages(id),
            group_key TEXT NOT NULL REFERENCES groups(key),
            thread_id INTEGER NOT NULL REFERENCES threads(id),
            topic_id TEXT NOT NULL,
            google_message_id TEXT NOT NULL,
            position INTEGER NOT NULL,       -- 0-based order in the thread
            url TEXT NOT NULL,
            first_seen_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            missing_since TEXT,              -- NULL while the message is present upstream
            UNIQUE (group_key, google_message_id)
        );
        CREATE TABLE attachments (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            filename TEXT NOT NULL DEFAULT '',
            mime_type TEXT,
            url TEXT NOT NULL,
            UNIQUE (message_id, position)
        );
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL DEFAULT 'running',
            groups TEXT NOT NULL DEFAULT '[]',   -- JSON list of what the run was asked for
            topics_seen INTEGER NOT NULL DEFAULT 0,
            threads_fetched INTEGER NOT NULL DEFAULT 0,
            messages_new INTEGER NOT NULL DEFAULT 0,
            messages_changed INTEGER NOT NULL DEFAULT 0,
            requests INTEGER NOT NULL DEFAULT 0,
            errors TEXT NOT NULL DEFAULT '[]'    -- JSON list of one-line messages
        )
        """,
    )


# Schema 2 to 6: the FTS "author" column was the name and the masked address
# together, read from a view computing exactly what the triggers indexed. Tools
# that look for a table's index by its content table did not find it, so schema 7
# indexes the messages table's own columns (m007 below).
_FTS_AUTHOR = "trim(coalesce({p}author, '') || ' ' || coalesce({p}masked_address, ''))"


def _fts_values(prefix: str) -> str:
    return f"{prefix}id, {prefix}subject, {_FTS_AUTHOR.format(p=prefix)}, {prefix}body_text"


@_migration
def m002_full_text_search(db: sqlite_utils.Database) -> None:
    _run(
        db,
        f"""
        CREATE VIEW messages_fts_source AS
            SELECT id, subject, {_FTS_AUTHOR.format(p="")} AS author, body_text FROM messages;
        CREATE VIRTUAL TABLE messages_fts USING fts5(
            subject, author, body_text,
            content='messages_fts_source', content_rowid='id',
            tokenize='unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts (rowid, subject, author, body_text)
            VALUES ({_fts_values("new.")});
        END;
        CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, subject, author, body_text)
            VALUES ('delete', {_fts_values("old.")});
        END;
        CREATE TRIGGER messages_fts_update
        AFTER UPDATE OF subject, author, masked_address, body_text ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, subject, author, body_text)
            VALUES ('delete', {_fts_values("old.")});
            INSERT INTO messages_fts (rowid, subject, author, body_text)
            VALUES ({_fts_values("new.")});
        END;
        INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')
        """,
    )


@_migration
def m003_lookup_indexes(db: sqlite_utils.Database) -> None:
    _run(
        db,
        """
        CREATE INDEX messages_by_fingerprint ON messages (fingerprint, posted_at);
        CREATE INDEX messages_by_posted_at ON messages (posted_at);
        CREATE INDEX postings_by_message ON postings (message_id, group_key);
        CREATE INDEX postings_by_thread ON postings (thread_id, position);
        CREATE INDEX threads_by_group_activity ON threads (group_key, last_activity_at);
        CREATE INDEX threads_by_topic ON threads (topic_id)
        """,
    )


@_migration
def m004_group_sync_mark(db: sqlite_utils.Database) -> None:
    # The newest last-activity time covered by a complete walk of the group's topic
    # list; NULL until one completed (archive.sync walks such a group to its end).
    _run(db, "ALTER TABLE groups ADD COLUMN synced_through TEXT")


@_migration
def m005_compressed_html(db: sqlite_utils.Database) -> None:
    # The HTML is kept as received but deflated: it is read only to export a thread,
    # and raw it made each row about one page, doubling the file. body_text (what
    # search and snippets read) stays plain. The FTS triggers do not watch body_html.
    db.conn.create_function("listarchive_deflate", 1, encode_body, deterministic=True)
    _run(
        db,
        "UPDATE messages SET body_html = listarchive_deflate(body_html)"
        " WHERE typeof(body_html) = 'text' AND body_html != ''",
    )


# Messages are numbered in the order they were stored, which is roughly date order
# (by thread, newest or oldest first). Blocks of DATE_BLOCK_SIZE message ids with the
# span of their dates let a search turn a date range into the band of ids holding it
# from a thousand rows, instead of reading the posted_at index across the range (9 ms
# for a year of a million messages). A deleted message leaves its block's spans as
# they were: they may be wider than the messages left, never narrower.
DATE_BLOCK_BITS = 10


@_migration
def m006_message_date_blocks(db: sqlite_utils.Database) -> None:
    block = f"id >> {DATE_BLOCK_BITS}"
    _run(
        db,
        f"""
        CREATE TABLE message_date_blocks (
            block INTEGER PRIMARY KEY,  -- messages.id >> {DATE_BLOCK_BITS}
            first_id INTEGER NOT NULL,
            last_id INTEGER NOT NULL,
            first_posted_at TEXT NOT NULL,
            last_posted_at TEXT NOT NULL,
            messages INTEGER NOT NULL
        );
        INSERT INTO message_date_blocks
            SELECT {block}, min(id), max(id), min(posted_at), max(posted_at), count(*)
            FROM messages GROUP BY 1;
        CREATE TRIGGER message_date_blocks_insert AFTER INSERT ON messages BEGIN
            INSERT INTO message_date_blocks
            VALUES (new.{block}, new.id, new.id, new.posted_at, new.posted_at, 1)
            ON CONFLICT (block) DO UPDATE SET
                first_id = min(first_id, excluded.first_id),
                last_id = max(last_id, excluded.last_id),
                first_posted_at = min(first_posted_at, excluded.first_posted_at),
                last_posted_at = max(last_posted_at, excluded.last_posted_at),
                messages = messages + 1;
        END;
        CREATE TRIGGER message_date_blocks_update AFTER UPDATE OF posted_at ON messages BEGIN
            UPDATE message_date_blocks SET
                first_posted_at = min(first_posted_at, new.posted_at),
                last_posted_at = max(last_posted_at, new.posted_at)
            WHERE block = new.{block};
        END;
        CREATE TRIGGER message_date_blocks_delete AFTER DELETE ON messages BEGIN
            UPDATE message_date_blocks SET messages = messages - 1 WHERE block = old.{block};
        END
        """,
    )


_FTS_CONTENT_COLUMNS = ("subject", "author", "masked_address", "body_text")


def _fts_row(prefix: str) -> str:
    return ", ".join(f"{prefix}{c}" for c in ("id", *_FTS_CONTENT_COLUMNS))


@_migration
def m007_messages_table_as_search_content(db: sqlite_utils.Database) -> None:
    # The index reads its content from messages itself, column for column, so
    # Datasette and sqlite-utils find it (both look for content="messages" or
    # content=[messages]) and 'rebuild' needs no view. The name and the masked
    # address are two columns now; with one bm25 weight for both, scores are the
    # same as with the joined column (bm25 sums a phrase's weighted counts over the
    # columns and uses the whole row's length). The default rank is the archive's
    # ranking (archive.search.WEIGHTS), so `ORDER BY rank` in any tool agrees with it.
    # The posts view is a message as it was posted to each group, for browsing (the
    # body's plain text beside the group and the Google Groups link).
    columns = ", ".join(_FTS_CONTENT_COLUMNS)
    _run(
        db,
        f"""
        DROP TRIGGER messages_fts_insert;
        DROP TRIGGER messages_fts_delete;
        DROP TRIGGER messages_fts_update;
        DROP TABLE messages_fts;
        DROP VIEW messages_fts_source;
        CREATE VIRTUAL TABLE messages_fts USING fts5(
            {columns},
            content=[messages], content_rowid=[id],
            tokenize='unicode61 remove_diacritics 2'
        );
        INSERT INTO messages_fts (messages_fts, rank) VALUES ('rank', 'bm25(10.0, 2.0, 2.0, 1.0)');
        CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts (rowid, {columns}) VALUES ({_fts_row("new.")});
        END;
        CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, {columns})
            VALUES ('delete', {_fts_row("old.")});
        END;
        CREATE TRIGGER messages_fts_update AFTER UPDATE OF {columns} ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, {columns})
            VALUES ('delete', {_fts_row("old.")});
            INSERT INTO messages_fts (rowid, {columns}) VALUES ({_fts_row("new.")});
        END;
        INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
        CREATE VIEW posts AS
            SELECT m.id AS message_id, m.posted_at, p.group_key, m.subject, m.author,
                   p.thread_id, m.body_text, p.url, m.masked_address, p.topic_id,
                   p.position, p.missing_since
            FROM postings p JOIN messages m ON m.id = p.message_id
        """,
    )


@_migration
def m008_mail_headers(db: sqlite_utils.Database) -> None:
    # Mail brings what Google's pages lack: the RFC 822 Message-ID (one message
    # whatever the source), its replies' references (threads), recipients and the
    # list's id. mail_sources keeps where an imported message's own bytes are, so an
    # mbox export gives it back as received: the headers always; the body only when
    # body_text encoded with body_charset does not already give it back. The bytes
    # are deflated in blocks of consecutive messages, as mail headers repeat each
    # other far more than they repeat themselves (half the size of deflating each).
    # mail_ids maps every Message-ID seen in a group (present or only referenced) to
    # its thread there.
    _run(
        db,
        """
        ALTER TABLE messages ADD COLUMN rfc822_id TEXT;
        ALTER TABLE messages ADD COLUMN in_reply_to TEXT;
        ALTER TABLE messages ADD COLUMN reference_ids TEXT;  -- space-separated, oldest first
        ALTER TABLE messages ADD COLUMN recipients TEXT;     -- To and Cc as written
        ALTER TABLE messages ADD COLUMN list_id TEXT;
        CREATE UNIQUE INDEX messages_by_rfc822_id ON messages (rfc822_id)
            WHERE rfc822_id IS NOT NULL;
        CREATE TABLE mail_blocks (
            id INTEGER PRIMARY KEY,
            data BLOB NOT NULL               -- deflated run of consecutive messages' bytes
        );
        CREATE TABLE mail_sources (
            message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
            block INTEGER NOT NULL REFERENCES mail_blocks(id),
            start INTEGER NOT NULL,          -- where its headers start in the inflated block
            header_length INTEGER NOT NULL,  -- up to and including the blank line
            body_length INTEGER NOT NULL,    -- its raw body, following the headers
            body_charset TEXT                -- set: the body is body_text in this charset
        );
        CREATE TABLE mail_ids (
            group_key TEXT NOT NULL,
            rfc822_id TEXT NOT NULL,
            thread_id INTEGER NOT NULL,
            PRIMARY KEY (group_key, rfc822_id)
        ) WITHOUT ROWID
        """,
    )


# A thread's creation time is its first message's post time (the topic list's field [5]
# is the newest message's post time, not the creation): one rule for the repair of old
# archives and for every save.
_THREAD_CREATED_AT = """
    (SELECT min(m.posted_at) FROM postings p JOIN messages m ON m.id = p.message_id
     WHERE p.thread_id = threads.id)
"""


@_migration
def m009_thread_dates_and_topic_problems(db: sqlite_utils.Database) -> None:
    # Archives before this stored the topic list's field [5] as created_at: on the live
    # service that is the newest post, so multi-message threads were dated by their
    # last reply. gone_since: the thread's URL redirected away (deleted upstream); its
    # archived messages are kept. topic_problems: topics a sync skips while their list
    # row stays as it was (a gone thread, or odd data), so they are not fetched, failed
    # and reported again every run.
    _run(
        db,
        f"""
        UPDATE threads SET created_at = {_THREAD_CREATED_AT}
        WHERE EXISTS (SELECT 1 FROM postings p WHERE p.thread_id = threads.id);
        ALTER TABLE threads ADD COLUMN gone_since TEXT;
        CREATE TABLE topic_problems (
            group_key TEXT NOT NULL,
            topic_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('gone', 'odd')),
            row_fingerprint TEXT NOT NULL,   -- the list row as it was; a new row retries
            detail TEXT NOT NULL DEFAULT '',
            saved_to TEXT,                   -- the reply saved for a bug report, if any
            first_seen_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL,
            PRIMARY KEY (group_key, topic_id)
        )
        """,
    )


@_migration
def m010_attachment_sizes(db: sqlite_utils.Database) -> None:
    # Mail carries its attachments: an imported message lists each (file name, type,
    # size in bytes) here with an empty url, their bytes staying where they came, in
    # the message's deflated source (mail_sources), not a second time. NULL: unknown
    # (Google's pages give no size).
    _run(db, "ALTER TABLE attachments ADD COLUMN size INTEGER")


def encode_body(html: str | bytes | None) -> bytes | str | None:
    """How ``messages.body_html`` is stored: zlib-deflated UTF-8 (an empty body as '').

    None passes through, so the column's NOT NULL constraint still rejects it.
    """
    if html is None or html == "" or isinstance(html, bytes):
        return html
    return zlib.compress(html.encode("utf-8"), 6)


def decode_body(stored: bytes | str | None) -> str:
    """The HTML of a stored ``messages.body_html`` value (archives before schema 5: text)."""
    if not stored:
        return ""
    if isinstance(stored, str):
        return stored
    return zlib.decompress(stored).decode("utf-8")


SCHEMA_VERSION = len(MIGRATION_NAMES)
PAGE_SIZE = 8192  # for new archives; an existing file keeps its own
# For a new archive that `import` fills from mail: a mail's row (its text, To and Cc)
# is 3-8 KB, which left a fifth of 8 KB pages empty. On linux-i2c 32 KB pages made
# the archive 0.998x the mbox instead of 1.018x and the import 10% cheaper; searches
# took 0-18% longer in-process (at most 2 ms), the same as whole processes
# (bench/README.md, "The mail race").
MAIL_PAGE_SIZE = 32768
# The full-text index is merged into one segment once the segments written since
# its last merge add up to this share of it (see Archive.merge_search_index).
MERGE_SHARE = 0.1


# --- results --------------------------------------------------------------------


@dataclass(frozen=True)
class ThreadState:
    """What the archive knows about a thread, for deciding whether to fetch it again."""

    last_activity_at: datetime | None
    message_count: int | None
    messages_seen: int
    complete: bool
    fetched_at: datetime | None = None


@dataclass(frozen=True)
class SaveResult:
    new_thread: bool
    new_messages: int
    changed_messages: int
    new_postings: int
    marked_missing: int = 0
    # Which messages, for a run's report; equality is about the counts.
    new_message_ids: tuple[int, ...] = field(default=(), compare=False)
    changed_message_ids: tuple[int, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class _Content:
    body_text: str
    fingerprint: str


def _message_values(message: Message, content: _Content) -> tuple[Any, ...]:
    """The stored columns from subject to fingerprint, in the order insert and update use."""
    return (
        message.subject,
        message.author,
        message.masked_address,
        utc_iso(message.posted_at),
        _iso_or_none(message.updated_at),
        encode_body(message.body_html),
        content.body_text,
        content.fingerprint,
    )


def _content(message: Message) -> _Content:
    from archive import text  # lxml lives behind this import; keep it off the read path

    body_text = text.message_text(message.body_html)
    return _Content(body_text, text.fingerprint(message.author, message.subject, body_text))


def _attachment_rows(message: Message) -> list[tuple[str, str | None, str]]:
    return [(a.filename or "", a.mime_type, a.url) for a in message.attachments]


def _attachment_values(message_id: int, message: Message) -> list[tuple[Any, ...]]:
    """A message's attachments rows, in the order of ``_ATTACHMENT_COLUMNS``."""
    return [(message_id, i, *row) for i, row in enumerate(_attachment_rows(message))]


_MESSAGE_COLUMNS = (
    "id, subject, author, masked_address, posted_at, updated_at, body_html, body_text,"
    " fingerprint, first_seen_at, last_seen_at"
)
_ATTACHMENT_COLUMNS = "message_id, position, filename, mime_type, url"
_POSTING_COLUMNS = (
    "message_id, group_key, thread_id, topic_id, google_message_id, position, url,"
    " first_seen_at, last_seen_at"
)


@dataclass
class _NewRows:
    """A thread's new messages, held back to go in many to a statement (see
    :data:`ROWS_PER_INSERT`), each with the id one INSERT at a time would have given
    it; their attachments and postings go in after them, in the order they came."""

    next_id: int = 0
    messages: list[tuple[Any, ...]] = field(default_factory=list)
    attachments: list[tuple[Any, ...]] = field(default_factory=list)
    postings: list[tuple[Any, ...]] = field(default_factory=list)
    google_ids: set[str] = field(default_factory=set)

    def add(self, conn: sqlite3.Connection, message: Message, content: _Content,
            posting: tuple[Any, ...], seen: str) -> int:  # fmt: skip
        if not self.messages:
            self.next_id = next_message_id(conn)
        message_id = self.next_id
        self.next_id += 1
        self.messages.append((message_id, *_message_values(message, content), seen, seen))
        self.attachments += _attachment_values(message_id, message)
        self.postings.append((message_id, *posting))
        self.google_ids.add(message.id)
        return message_id

    def write(self, conn: sqlite3.Connection) -> None:
        """Insert what is held: any other write of the thread comes after it, so every
        row gets the id, and every lookup the answer, of a save one row at a time."""
        if not self.messages:
            return
        insert_rows(conn, "messages", _MESSAGE_COLUMNS, self.messages)
        insert_rows(conn, "attachments", _ATTACHMENT_COLUMNS, self.attachments)
        insert_rows(conn, "postings", _POSTING_COLUMNS, self.postings)
        self.messages, self.attachments, self.postings = [], [], []
        self.google_ids.clear()


# --- the archive ------------------------------------------------------------------


class Archive:
    """One archive file. Opening it creates or upgrades the schema as needed.

    ``create=False`` refuses to make a new archive (read-only commands use it).
    ``busy_timeout`` is how many seconds a write waits for another writer before
    :class:`ArchiveLocked` is raised.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        create: bool = True,
        busy_timeout: float = 5.0,
        readonly: bool = False,
        page_size: int = PAGE_SIZE,
    ) -> None:
        """``page_size`` is a new file's; an existing one keeps its own."""
        self.path = Path(path)
        self._page_size = page_size
        self._closed = False
        self.readonly = False
        if self.path.is_dir():
            raise ArchiveError(f"{self.path} is a directory, not an archive file")
        if (not create or readonly) and not self.path.exists():
            raise ArchiveError(f"no archive at {self.path}; run listarchive sync first")
        if readonly and self._open_readonly(busy_timeout):
            return
        if not self.path.exists() or create:
            reason = _unwritable_reason(self.path)
            if reason is not None:
                raise ArchiveError(f"cannot write the archive {self.path}: {reason}")
        with archive_errors(self.path):
            conn = sqlite3.connect(str(self.path), timeout=busy_timeout)
        try:
            with archive_errors(self.path):
                self.db = _database(conn)
                self._open(create=create, busy_timeout=busy_timeout)
        except BaseException:
            conn.close()
            self._closed = True
            raise

    def _open(self, *, create: bool, busy_timeout: float) -> None:
        conn = self.db.conn
        # Read before anything writes: a foreign or corrupt file must stay untouched.
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        applied = self._applied_migrations(tables)
        if not applied:
            if tables:
                raise ArchiveError(
                    f"{self.path} is an SQLite database but not a listarchive archive"
                )
            if not create:
                raise ArchiveError(f"no archive at {self.path}")
        unknown = [name for name in applied if name not in MIGRATION_NAMES]
        if unknown:
            raise ArchiveError(
                f"{self.path}: archive was written by a newer listarchive "
                f"(schema {len(applied)} > {SCHEMA_VERSION})"
            )
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        if not tables:
            # A new file: a message row (text plus deflated HTML) is 2-3 KB, so 4 KB pages
            # held one row each and stood ~40% empty; 8 KB pages pack three.
            conn.execute(f"PRAGMA page_size = {int(self._page_size)}")
            # Merging the search index frees the pages of its old segments (after an
            # import about a sixth of the file); incremental auto-vacuum lets the
            # merge give them back instead of leaving the file that much larger.
            # Only a new file can take it without a VACUUM.
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        # WAL + NORMAL: a power cut may lose the last commits, never consistency.
        conn.execute("PRAGMA synchronous = NORMAL")
        if len(applied) < SCHEMA_VERSION:
            with self._write():
                migrations().apply(self.db)
            # A migration that rebuilt the search index (schema 7) leaves it in ten or
            # so segments; searches read one merged segment several times faster.
            self.merge_search_index()

    def _open_readonly(self, busy_timeout: float) -> bool:
        """Open without writing; False when the schema needs an upgrade first."""
        conn = connect_readonly(self.path, timeout=busy_timeout)
        try:
            with archive_errors(self.path):
                self.db = _database(conn)
                tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
                applied = self._applied_migrations(tables)
        except BaseException:
            conn.close()
            raise
        if applied and all(name in MIGRATION_NAMES for name in applied) and len(
            applied
        ) == SCHEMA_VERSION:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            self.readonly = True
            return True
        conn.close()
        if applied and len(applied) < SCHEMA_VERSION:
            reason = _unwritable_reason(self.path)
            if reason is not None:
                raise ArchiveError(
                    f"{self.path} was written by an older listarchive and must be upgraded, "
                    f"but {reason}: run listarchive sync as a user who can write it"
                )
        return False  # upgrade it, or report what is wrong, through the normal path

    def _applied_migrations(self, tables: set[str]) -> list[str]:
        if migrations().migrations_table not in tables:
            return []
        return [m.name for m in migrations().applied(self.db)]

    @property
    def schema_version(self) -> int:
        return len(migrations().applied(self.db))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.db.conn.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # transactions ------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken IMMEDIATE so it never fails half way on a lock.

        Inside a caller's transaction it becomes a savepoint.
        """
        conn = self.db.conn
        if conn.in_transaction:
            with self.db.atomic():
                yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        else:
            try:
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    def _rows(self, sql: str, params: tuple | list = ()) -> list[dict[str, Any]]:
        cursor = self.db.conn.execute(sql, params)
        keys = [column[0] for column in cursor.description]
        return [dict(zip(keys, row, strict=True)) for row in cursor]

    # groups ------------------------------------------------------------------------

    @_guarded
    def save_group(self, group: Group, synced_at: datetime) -> None:
        """Record (or refresh) a group; ``synced_at`` becomes its last_synced_at."""
        synced = utc_iso(synced_at)
        with self._write() as conn:
            conn.execute(
                """
                INSERT INTO groups (key, name, domain, email, url, title, google_id,
                                    total_topics, first_synced_at, last_synced_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (key) DO UPDATE SET
                    name = excluded.name,
                    domain = excluded.domain,
                    email = coalesce(excluded.email, groups.email),
                    url = excluded.url,
                    title = coalesce(excluded.title, groups.title),
                    google_id = coalesce(excluded.google_id, groups.google_id),
                    total_topics = coalesce(excluded.total_topics, groups.total_topics),
                    first_synced_at = coalesce(groups.first_synced_at, excluded.first_synced_at),
                    last_synced_at = excluded.last_synced_at
                """,
                (*self._group_values(group), synced, synced),
            )

    @staticmethod
    def _group_values(group: Group) -> tuple:
        return (
            group.ref.key,
            group.ref.name,
            group.ref.domain,
            group.email or None,
            group.ref.url,
            group.title,
            group.id,
            group.total_topics,
        )

    def _ensure_group(self, conn: sqlite3.Connection, group: Group) -> None:
        conn.execute(
            """
            INSERT INTO groups (key, name, domain, email, url, title, google_id, total_topics)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (key) DO NOTHING
            """,
            self._group_values(group),
        )

    @_guarded
    def list_groups(self) -> list[dict[str, Any]]:
        """Every group: key, name, domain, title, url, total_topics, threads, messages,
        missing (postings gone upstream), first_synced_at, last_synced_at."""
        return self._rows(
            """
            SELECT g.key, g.name, g.domain, g.title, g.url, g.total_topics,
                   (SELECT count(*) FROM threads t WHERE t.group_key = g.key) AS threads,
                   (SELECT count(*) FROM postings p WHERE p.group_key = g.key) AS messages,
                   (SELECT count(*) FROM postings p
                     WHERE p.group_key = g.key AND p.missing_since IS NOT NULL) AS missing,
                   g.first_synced_at, g.last_synced_at
            FROM groups g
            ORDER BY g.key
            """
        )

    @_guarded
    def group_title(self, group_key: str) -> str | None:
        """The group's title as last seen, or None (not archived, or never read)."""
        row = self.db.conn.execute(
            "SELECT title FROM groups WHERE key = ?", (group_key,)
        ).fetchone()
        return row[0] if row else None

    @_guarded
    def sync_mark(self, group_key: str) -> datetime | None:
        """The newest last-activity time a complete walk of the group's topic list
        covered; None until one completed (see :mod:`archive.sync`)."""
        row = self.db.conn.execute(
            "SELECT synced_through FROM groups WHERE key = ?", (group_key,)
        ).fetchone()
        return parse_utc(row[0]) if row and row[0] else None

    @_guarded
    def set_sync_mark(self, group_key: str, through: datetime | None) -> None:
        """Record a complete walk of a group already saved with :meth:`save_group`."""
        with self._write() as conn:
            conn.execute(
                "UPDATE groups SET synced_through = ? WHERE key = ?",
                (_iso_or_none(through), group_key),
            )

    # threads -----------------------------------------------------------------------

    @_guarded
    def thread_state(self, group_key: str, topic_id: str) -> ThreadState | None:
        row = self.db.conn.execute(
            """
            SELECT last_activity_at, message_count, messages_seen, complete, fetched_at
            FROM threads WHERE group_key = ? AND topic_id = ?
            """,
            (group_key, topic_id),
        ).fetchone()
        if row is None:
            return None
        last_activity, message_count, seen, complete, fetched = row
        return ThreadState(
            last_activity_at=parse_utc(last_activity) if last_activity else None,
            message_count=message_count,
            messages_seen=seen,
            complete=bool(complete),
            fetched_at=parse_utc(fetched) if fetched else None,
        )

    @_guarded
    def save_thread(
        self, thread: Thread, topic: Topic | None = None, *, seen_at: datetime
    ) -> SaveResult:
        """Store a fetched thread in one transaction: all of it, or (on error) none of it.

        Messages already archived are updated in place; messages absent from a
        complete thread keep their rows and get ``missing_since``; nothing is deleted.
        """
        seen = utc_iso(seen_at)
        counts = {"new_messages": 0, "changed_messages": 0, "new_postings": 0}
        ids: dict[str, list[int]] = {"new_messages": [], "changed_messages": []}
        with self._write() as conn:
            self._ensure_group(conn, thread.group)
            thread_id, new_thread = self._upsert_thread(conn, thread, topic, seen)
            new_rows = _NewRows()
            for position, message in enumerate(thread.messages):
                outcome, message_id = self._save_message(
                    conn, thread, thread_id, position, message, seen, new_rows
                )
                for key in outcome:
                    counts[key] += 1
                    if key in ids:  # a run's report lists what it added and changed
                        ids[key].append(message_id)
            new_rows.write(conn)
            marked = 0
            # A page with no messages at all is a parsing failure, not a purge.
            if thread.complete and thread.messages:
                present = json.dumps([m.id for m in thread.messages])
                marked = conn.execute(
                    """
                    UPDATE postings SET missing_since = ?
                    WHERE thread_id = ? AND missing_since IS NULL
                      AND google_message_id NOT IN (SELECT value FROM json_each(?))
                    """,
                    (seen, thread_id, present),
                ).rowcount
            elif thread.deleted_ids:
                # Listed as deleted (empty author, no body): gone upstream, whatever the
                # rest of a long thread holds.
                marked = conn.execute(
                    """
                    UPDATE postings SET missing_since = ?
                    WHERE thread_id = ? AND missing_since IS NULL
                      AND google_message_id IN (SELECT value FROM json_each(?))
                    """,
                    (seen, thread_id, json.dumps(list(thread.deleted_ids))),
                ).rowcount
            conn.execute(
                f"UPDATE threads SET created_at = coalesce({_THREAD_CREATED_AT}, created_at),"
                " gone_since = NULL WHERE id = ?",
                (thread_id,),
            )
        return SaveResult(
            new_thread=new_thread,
            marked_missing=marked,
            new_message_ids=tuple(ids["new_messages"]),
            changed_message_ids=tuple(ids["changed_messages"]),
            **counts,
        )

    def _upsert_thread(
        self, conn: sqlite3.Connection, thread: Thread, topic: Topic | None, seen: str
    ) -> tuple[int, bool]:
        # Stored strings compare like the times they spell; a naive datetime fails here,
        # before anything is written.
        posted = [utc_iso(m.posted_at) for m in thread.messages]
        latest = [utc_iso(m.updated_at or m.posted_at) for m in thread.messages]
        created_at = min(posted, default=None)  # then from every archived message, below
        last_activity = _iso_or_none(topic.last_activity_at if topic else None) or max(
            latest, default=None
        )
        # The list row's count first: it is what the next run compares (and, like the
        # thread's, it leaves deleted messages out).
        message_count = topic.message_count if topic is not None else None
        if message_count is None:
            message_count = thread.expected_count
        if message_count is None:
            message_count = len(thread.messages)
        values = {
            "subject": thread.subject or (topic.subject if topic else "") or "",
            "created_at": created_at,
            "last_activity_at": last_activity,
            "message_count": message_count,
            "messages_seen": len(thread.messages),
            "complete": int(thread.complete),
            "url": thread.ref.thread_url,
            "fetched_at": seen,
        }
        group_key = thread.group.ref.key
        row = conn.execute(
            "SELECT id FROM threads WHERE group_key = ? AND topic_id = ?",
            (group_key, thread.topic_id),
        ).fetchone()
        if row is None:
            cursor = conn.execute(
                """
                INSERT INTO threads (group_key, topic_id, subject, created_at, last_activity_at,
                    message_count, messages_seen, complete, url, first_seen_at, fetched_at)
                VALUES (:group_key, :topic_id, :subject, :created_at, :last_activity_at,
                    :message_count, :messages_seen, :complete, :url, :fetched_at, :fetched_at)
                """,
                {**values, "group_key": group_key, "topic_id": thread.topic_id},
            )
            return inserted_id(cursor), True
        conn.execute(
            """
            UPDATE threads SET subject = :subject,
                created_at = coalesce(:created_at, created_at),
                last_activity_at = coalesce(:last_activity_at, last_activity_at),
                message_count = :message_count, messages_seen = :messages_seen,
                complete = :complete, url = :url, fetched_at = :fetched_at
            WHERE id = :id
            """,
            {**values, "id": row[0]},
        )
        return row[0], False

    # topics a sync skips -------------------------------------------------------------

    @_guarded
    def topic_problem(self, group_key: str, topic_id: str) -> dict[str, Any] | None:
        """The recorded problem of a topic (``kind`` 'gone' or 'odd', ``row_fingerprint``,
        ``detail``, ``saved_to``, ``first_seen_at``, ``last_seen_at``), or None."""
        rows = self._rows(
            "SELECT kind, row_fingerprint, detail, saved_to, first_seen_at, last_seen_at"
            " FROM topic_problems WHERE group_key = ? AND topic_id = ?",
            (group_key, topic_id),
        )
        return rows[0] if rows else None

    @_guarded
    def record_topic_problem(
        self,
        group_key: str,
        topic_id: str,
        *,
        kind: str,
        row_fingerprint: str,
        seen_at: datetime,
        detail: str = "",
        saved_to: str | None = None,
    ) -> None:
        """Remember that a topic is gone upstream or carries odd data, as its list row was.

        A gone thread already archived keeps its messages and gets ``gone_since``.
        """
        seen = utc_iso(seen_at)
        with self._write() as conn:
            conn.execute(
                """
                INSERT INTO topic_problems (group_key, topic_id, kind, row_fingerprint, detail,
                    saved_to, first_seen_at, last_seen_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (group_key, topic_id) DO UPDATE SET
                    kind = excluded.kind, row_fingerprint = excluded.row_fingerprint,
                    detail = excluded.detail,
                    saved_to = coalesce(excluded.saved_to, topic_problems.saved_to),
                    last_seen_at = excluded.last_seen_at
                """,
                (group_key, topic_id, kind, row_fingerprint, detail, saved_to, seen, seen),
            )
            if kind == "gone":
                conn.execute(
                    "UPDATE threads SET gone_since = coalesce(gone_since, ?)"
                    " WHERE group_key = ? AND topic_id = ?",
                    (seen, group_key, topic_id),
                )

    @_guarded
    def clear_topic_problem(self, group_key: str, topic_id: str) -> None:
        with self._write() as conn:
            conn.execute(
                "DELETE FROM topic_problems WHERE group_key = ? AND topic_id = ?",
                (group_key, topic_id),
            )

    # messages ----------------------------------------------------------------------

    def _save_message(
        self,
        conn: sqlite3.Connection,
        thread: Thread,
        thread_id: int,
        position: int,
        message: Message,
        seen: str,
        new_rows: _NewRows,
    ) -> tuple[tuple[str, ...], int]:
        """Store one message of a thread; returns which counters it bumps, and the id of
        the message its posting now points to.

        A new message goes to ``new_rows``. The lookups below need not see those rows:
        each has a posting of this group, which the lookup for a copy of a message
        (find_same_message) passes over, and the Google id of each is checked here.
        """
        group_key = thread.group.ref.key
        url = ThreadRef(thread.group.ref, thread.topic_id, message.id).url
        if message.id in new_rows.google_ids:
            new_rows.write(conn)
        known = conn.execute(
            """
            SELECT p.id, m.id, m.subject, m.author, m.masked_address, m.posted_at,
                   m.updated_at, m.body_html, m.fingerprint,
                   EXISTS (SELECT 1 FROM postings o
                           WHERE o.message_id = m.id AND o.id != p.id
                             AND (o.group_key != p.group_key
                                  OR o.google_message_id LIKE '<%'))
            FROM postings p JOIN messages m ON m.id = p.message_id
            WHERE p.group_key = ? AND p.google_message_id = ?
            """,
            (group_key, message.id),
        ).fetchone()
        posted_at = utc_iso(message.posted_at)
        posting = (group_key, thread_id, thread.topic_id, message.id, position, url, seen, seen)
        if known is None:
            content = _content(message)
            message_id = self._find_same_message(conn, content, posted_at, group_key)
            if message_id is None:
                message_id = new_rows.add(conn, message, content, posting, seen)
                return ("new_messages", "new_postings"), message_id
            new_rows.write(conn)
            conn.execute("UPDATE messages SET last_seen_at = ? WHERE id = ?", (seen, message_id))
            insert_rows(conn, "postings", _POSTING_COLUMNS, [(message_id, *posting)])
            return ("new_postings",), message_id

        new_rows.write(conn)
        posting_id, message_id, *stored, stored_fingerprint, shared = known
        subject, author, masked, stored_posted_at, updated_at, body_html = stored
        if message.masked_address is None and masked is not None:
            # Read through the thread RPC, which shows no masked address signed out:
            # what the page showed before still stands.
            message = dataclasses.replace(message, masked_address=masked)
        body_html = decode_body(body_html)
        stored_attachments = self._stored_attachments(conn, message_id)
        new_attachments = _attachment_rows(message)
        outcome: tuple[str, ...] = ()
        target = message_id
        exactly_stored = (subject, author, masked, stored_posted_at, updated_at, body_html) == (
            message.subject,
            message.author,
            message.masked_address,
            posted_at,
            _iso_or_none(message.updated_at),
            message.body_html,
        ) and stored_attachments == new_attachments
        if not exactly_stored:
            content = _content(message)
            # Raw HTML is no measure of change: Google stamps every fetch into its
            # link wrappers (data-saferedirecturl "...&ust=<time>"), and the copies
            # of a cross-post differ in footer, list tag and time. The text (the
            # fingerprint) and, for a message of this group alone, the metadata are.
            same_text = content.fingerprint == stored_fingerprint
            same_metadata = shared or (
                (author, masked, updated_at)
                == (message.author, message.masked_address, _iso_or_none(message.updated_at))
                and [a[:2] for a in stored_attachments] == [a[:2] for a in new_attachments]
            )
            if not (same_text and same_metadata):
                outcome = ("changed_messages",)
                if same_text:
                    self._update_message(conn, message_id, message, content)
                else:
                    target = self._find_same_message(
                        conn, content, posted_at, group_key, exclude=message_id
                    )
                    if target is None and shared:
                        # This group's copy was edited: it is no longer the other
                        # groups' message, so it gets a row of its own.
                        target = self._insert_message(conn, message, content, seen)
                    elif target is None:
                        target = message_id
                        self._update_message(conn, message_id, message, content)
        conn.execute(
            """
            UPDATE postings SET message_id = ?, thread_id = ?, topic_id = ?, position = ?,
                url = ?, last_seen_at = ?, missing_since = NULL
            WHERE id = ?
            """,
            (target, thread_id, thread.topic_id, position, url, seen, posting_id),
        )
        conn.execute("UPDATE messages SET last_seen_at = ? WHERE id = ?", (seen, target))
        if target != message_id and not shared:
            # The edit made this message identical to one already archived from
            # another group: the old row would be a duplicate without postings.
            conn.execute("DELETE FROM messages WHERE id = ?", (message_id,))
        return outcome, target

    @staticmethod
    def _find_same_message(
        conn: sqlite3.Connection,
        content: _Content,
        posted_at: str,
        group_key: str,
        exclude: int | None = None,
    ) -> int | None:
        return Archive.find_same_message(
            content.fingerprint, posted_at, group_key, conn=conn, exclude=exclude
        )

    @staticmethod
    def find_same_message(
        fingerprint: str,
        posted_at: str,
        group_key: str,
        *,
        conn: sqlite3.Connection,
        exclude: int | None = None,
        only_without_rfc822_id: bool = False,
    ) -> int | None:
        """The archived message a new copy with this fingerprint and time is, if any.

        Same fingerprint, posted within :data:`CROSS_POST_WINDOW`, and no Google
        posting in ``group_key`` yet (a mail posting of the same list does not count:
        the page and the mail are two ways to the same message). With
        ``only_without_rfc822_id`` (a copy read from mail) only messages without a
        Message-ID qualify, and a Google posting in the group does not exclude one.
        """
        posted = parse_utc(posted_at)
        if only_without_rfc822_id:
            condition = "m.rfc822_id IS NULL AND ? IS NOT NULL"
        else:
            condition = """NOT EXISTS (SELECT 1 FROM postings p
                              WHERE p.message_id = m.id AND p.group_key = ?
                                AND p.google_message_id NOT LIKE '<%')"""
        row = conn.execute(
            f"""
            SELECT m.id FROM messages m
            WHERE m.fingerprint = ? AND m.posted_at BETWEEN ? AND ? AND m.id IS NOT ?
              AND {condition}
            ORDER BY abs(julianday(m.posted_at) - julianday(?)), m.id
            LIMIT 1
            """,
            (
                fingerprint,
                utc_iso(posted - CROSS_POST_WINDOW),
                utc_iso(posted + CROSS_POST_WINDOW),
                exclude,
                group_key,
                posted_at,
            ),
        ).fetchone()
        return None if row is None else row[0]

    def _insert_message(
        self, conn: sqlite3.Connection, message: Message, content: _Content, seen: str
    ) -> int:
        cursor = conn.execute(
            """
            INSERT INTO messages (subject, author, masked_address, posted_at, updated_at,
                body_html, body_text, fingerprint, first_seen_at, last_seen_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            (*_message_values(message, content), seen, seen),
        )
        message_id = inserted_id(cursor)
        self._insert_attachments(conn, message_id, message)
        return message_id

    def _update_message(
        self, conn: sqlite3.Connection, message_id: int, message: Message, content: _Content
    ) -> None:
        conn.execute(
            """
            UPDATE messages SET subject = ?, author = ?, masked_address = ?, posted_at = ?,
                updated_at = ?, body_html = ?, body_text = ?, fingerprint = ?
            WHERE id = ?
            """,
            (*_message_values(message, content), message_id),
        )
        conn.execute("DELETE FROM attachments WHERE message_id = ?", (message_id,))
        self._insert_attachments(conn, message_id, message)

    @staticmethod
    def _insert_attachments(conn: sqlite3.Connection, message_id: int, message: Message) -> None:
        insert_rows(
            conn, "attachments", _ATTACHMENT_COLUMNS, _attachment_values(message_id, message)
        )

    @staticmethod
    def _stored_attachments(
        conn: sqlite3.Connection, message_id: int
    ) -> list[tuple[str, str | None, str]]:
        return [
            tuple(row)
            for row in conn.execute(
                "SELECT filename, mime_type, url FROM attachments"
                " WHERE message_id = ? ORDER BY position",
                (message_id,),
            )
        ]

    # search index upkeep ---------------------------------------------------------------

    @_guarded
    def search_index_segments(self) -> list[int]:
        """The full-text index's segments, each as its number of leaf pages, largest first.

        Every write transaction adds a segment and FTS5 merges them only in batches, so
        an archive filled by many small commits (a sync commits each thread) is read
        from several segments; each query looks a word up in every one of them.
        """
        rows = self.db.conn.execute(
            "SELECT count(*) FROM messages_fts_idx GROUP BY segid ORDER BY 1 DESC"
        ).fetchall()
        return [row[0] for row in rows]

    @_guarded
    def search_index_merge_due(self, *, force: bool = False) -> bool:
        """Whether :meth:`merge_search_index` would merge now."""
        sizes = self.search_index_segments()
        return len(sizes) >= 2 and (force or sum(sizes[1:]) >= sizes[0] * MERGE_SHARE)

    @_guarded
    def merge_search_index(self, *, force: bool = False) -> bool:
        """Merge the full-text index into one segment if that is due; True if it merged.

        Due when the segments beside the largest add up to :data:`MERGE_SHARE` of it
        (or, with ``force``, whenever there are two or more). Merging rewrites the whole
        index (about 8 s for a million messages), so waiting for a share keeps its cost
        proportional to what was written, while a query on one segment seeks each word
        once: at a million messages a phrase's snippets cost 0.02-0.04 ms each instead
        of 0.25 ms on the ten segments a build left behind. The write-ahead log the
        merge fills is truncated afterwards, so the file does not keep its size.
        """
        if not self.search_index_merge_due(force=force):
            return False
        with self._write() as conn:
            conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('optimize')")
        if not self.db.conn.in_transaction:
            # Gives the old segments' pages back to the file system; a no-op on
            # archives made before auto-vacuum was set (later writes reuse them).
            # executescript steps it to the end: execute() frees a single page.
            self.db.conn.executescript("PRAGMA incremental_vacuum")
        self.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return True

    # reads -------------------------------------------------------------------------

    @_guarded
    def list_threads(
        self,
        group_key: str | None = None,
        *,
        topic_id: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Threads, most recent activity first, optionally of one group or one topic id."""
        sql = (
            "SELECT id, group_key, topic_id, subject, created_at, last_activity_at,"
            " message_count, messages_seen, complete, url, first_seen_at, fetched_at"
            " FROM threads WHERE 1 = 1"
        )
        params: list[Any] = []
        if group_key is not None:
            sql += " AND group_key = ?"
            params.append(group_key)
        if topic_id is not None:
            sql += " AND topic_id = ?"
            params.append(topic_id)
        sql += " ORDER BY last_activity_at DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        rows = self._rows(sql, params)
        for row in rows:
            row["complete"] = bool(row["complete"])
        return rows

    @_guarded
    def thread_by_id(self, thread_id: int) -> tuple[str, str] | None:
        """``(group_key, topic_id)`` of the thread row ``thread_id`` (search's thread_id)."""
        row = self.db.conn.execute(
            "SELECT group_key, topic_id FROM threads WHERE id = ?", (thread_id,)
        ).fetchone()
        return (row[0], row[1]) if row else None

    @_guarded
    def postings_of(self, message_id: int) -> list[tuple[str, str, str]]:
        """``(group_key, topic_id, google_message_id)`` of each posting of a message, the
        oldest first (search's id names a message; its first posting is its place)."""
        return [
            (row[0], row[1], row[2])
            for row in self.db.conn.execute(
                "SELECT group_key, topic_id, google_message_id FROM postings"
                " WHERE message_id = ? ORDER BY id",
                (message_id,),
            )
        ]

    @_guarded
    def get_thread(self, group_key: str | None, topic_id: str) -> dict[str, Any] | None:
        """A thread with its group and its messages in thread order, or None.

        Times are the stored UTC strings. Each message carries its posting in this
        thread (``google_message_id``, ``position``, ``url``, ``missing_since``), its
        ``attachments`` and ``groups``: every group it was posted to. Without a
        ``group_key`` the most recently fetched thread with that topic id is used.
        """
        sql = """
            SELECT t.id, t.group_key, t.topic_id, t.subject, t.created_at,
                   t.last_activity_at, t.message_count, t.messages_seen, t.complete,
                   t.url, t.first_seen_at, t.fetched_at, t.gone_since,
                   g.title AS group_title, g.url AS group_url, g.name AS group_name,
                   g.domain AS group_domain
            FROM threads t JOIN groups g ON g.key = t.group_key
            WHERE t.topic_id = ?
        """
        params: list[Any] = [topic_id]
        if group_key is not None:
            sql += " AND t.group_key = ?"
            params.append(group_key)
        sql += " ORDER BY t.fetched_at DESC LIMIT 1"
        found = self._rows(sql, params)
        if not found:
            return None
        thread = found[0]
        thread["complete"] = bool(thread["complete"])
        thread["group"] = {
            "key": thread["group_key"],
            "title": thread.pop("group_title"),
            "url": thread.pop("group_url"),
            "name": thread.pop("group_name"),
            "domain": thread.pop("group_domain"),
        }
        messages = self._rows(
            """
            SELECT m.id, p.google_message_id, p.position, p.url, p.missing_since,
                   m.subject, m.author, m.masked_address, m.posted_at, m.updated_at,
                   m.body_html, m.body_text, m.first_seen_at, m.last_seen_at
            FROM postings p JOIN messages m ON m.id = p.message_id
            WHERE p.thread_id = ?
            ORDER BY p.position, m.posted_at, m.id
            """,
            (thread["id"],),
        )
        ids = [m["id"] for m in messages]
        attachments: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        groups: dict[int, list[str]] = {i: [] for i in ids}
        if ids:
            id_list = json.dumps(ids)
            for row in self._rows(
                "SELECT message_id, filename, mime_type, url FROM attachments"
                " WHERE message_id IN (SELECT value FROM json_each(?))"
                " ORDER BY message_id, position",
                (id_list,),
            ):
                attachments[row.pop("message_id")].append(row)
            for message_id, key in self.db.conn.execute(
                "SELECT message_id, group_key FROM postings"
                " WHERE message_id IN (SELECT value FROM json_each(?))"
                " ORDER BY message_id, group_key",
                (id_list,),
            ):
                groups[message_id].append(key)
        for message in messages:
            message["body_html"] = decode_body(message["body_html"])
            if not message["body_html"] and message["body_text"]:
                from archive.text import text_as_html  # a plain-text mail

                message["body_html"] = text_as_html(message["body_text"])
            message["attachments"] = attachments[message["id"]]
            message["groups"] = groups[message["id"]]
        thread["messages"] = messages
        return thread

    # summaries and removal -----------------------------------------------------------

    @_guarded
    def stats(self, *, top: int = 10) -> dict[str, Any]:
        """What is archived: totals, each group (messages, threads, first and last date,
        messages per month) and the ``top`` posters by distinct messages."""
        conn = self.db.conn
        messages, first, last = conn.execute(
            "SELECT count(*), min(posted_at), max(posted_at) FROM messages"
        ).fetchone()
        groups = self._rows(
            """
            SELECT g.key AS "group", g.title,
                   (SELECT count(*) FROM threads t WHERE t.group_key = g.key) AS threads,
                   count(p.id) AS messages, min(m.posted_at) AS first, max(m.posted_at) AS last
            FROM groups g
            LEFT JOIN postings p ON p.group_key = g.key
            LEFT JOIN messages m ON m.id = p.message_id
            GROUP BY g.key ORDER BY g.key
            """
        )
        months: dict[str, dict[str, int]] = {row["group"]: {} for row in groups}
        for key, month, count in conn.execute(
            """
            SELECT p.group_key, substr(m.posted_at, 1, 7), count(*)
            FROM postings p JOIN messages m ON m.id = p.message_id
            GROUP BY 1, 2 ORDER BY 1, 2
            """
        ):
            months.setdefault(key, {})[month] = count
        for row in groups:
            row["months"] = months.get(row["group"], {})
        posters = self._rows(
            """
            SELECT coalesce(nullif(author, ''), masked_address, '(unknown)') AS author,
                   count(*) AS messages, min(posted_at) AS first, max(posted_at) AS last
            FROM messages GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?
            """,
            (top,),
        )
        threads = conn.execute("SELECT count(*) FROM threads").fetchone()[0]
        return {
            "messages": messages,
            "threads": threads,
            "first": first,
            "last": last,
            "groups": groups,
            "top_posters": posters,
        }

    @_guarded
    def message_summaries(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        """id -> {id, subject, author, masked_address, posted_at, urls: {group: url}}."""
        id_list = json.dumps(ids)
        found = {
            row["id"]: {**row, "urls": {}}
            for row in self._rows(
                "SELECT id, subject, author, masked_address, posted_at FROM messages"
                " WHERE id IN (SELECT value FROM json_each(?))",
                (id_list,),
            )
        }
        for message_id, key, url in self.db.conn.execute(
            "SELECT message_id, group_key, url FROM postings"
            " WHERE message_id IN (SELECT value FROM json_each(?)) ORDER BY id",
            (id_list,),
        ):
            found[message_id]["urls"].setdefault(key, url)
        return found

    @_guarded
    def remove_group(self, group_key: str) -> dict[str, int]:
        """Forget a group in one transaction: its threads and postings, and each of its
        messages that no other group has. Counts what went."""
        with self._write() as conn:
            ids = json.dumps(
                [row[0] for row in conn.execute(
                    "SELECT DISTINCT message_id FROM postings WHERE group_key = ?", (group_key,)
                )]
            )  # fmt: skip
            postings = conn.execute(
                "DELETE FROM postings WHERE group_key = ?", (group_key,)
            ).rowcount
            messages = conn.execute(
                """
                DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?))
                  AND NOT EXISTS (SELECT 1 FROM postings p WHERE p.message_id = messages.id)
                """,
                (ids,),
            ).rowcount
            threads = conn.execute(
                "DELETE FROM threads WHERE group_key = ?", (group_key,)
            ).rowcount
            conn.execute("DELETE FROM groups WHERE key = ?", (group_key,))
        return {"threads": threads, "postings": postings, "messages": messages}

    # runs --------------------------------------------------------------------------

    @_guarded
    def start_run(self, groups: list[str], started_at: datetime) -> int:
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO runs (started_at, status, groups) VALUES (?, 'running', ?)",
                (utc_iso(started_at), json.dumps(list(groups))),
            )
        return inserted_id(cursor)

    @_guarded
    def finish_run(self, run_id: int, *, status: str, finished_at: datetime, **counts: Any) -> None:
        """Close a run. ``counts`` may hold topics_seen, threads_fetched, messages_new,
        messages_changed, requests (ints) and errors (a list of one-line strings)."""
        if status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {status!r}; expected one of {RUN_STATUSES}")
        unknown = set(counts) - set(RUN_COUNTS) - {"errors"}
        if unknown:
            raise TypeError(f"finish_run() got unknown counts: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {"status": status, "finished_at": utc_iso(finished_at)}
        for name in RUN_COUNTS:
            if name in counts:
                values[name] = int(counts[name])
        if "errors" in counts:
            values["errors"] = json.dumps([str(e) for e in counts["errors"]])
        assignments = ", ".join(f"{name} = :{name}" for name in values)
        with self._write() as conn:
            updated = conn.execute(
                f"UPDATE runs SET {assignments} WHERE id = :id", {**values, "id": run_id}
            ).rowcount
        if not updated:
            raise ValueError(f"no run with id {run_id}")

    @_guarded
    def saved_since(self, start: str, end: str | None = None) -> dict[str, int]:
        """What the archive shows was saved from ``start`` to ``end`` (stored times): for
        a run that died before recording its own counts."""
        bounds = (start, end or "9999-12-31T23:59:59Z")
        conn = self.db.conn
        return {
            "threads_fetched": conn.execute(
                "SELECT count(*) FROM threads WHERE fetched_at >= ? AND fetched_at < ?", bounds
            ).fetchone()[0],
            "messages_new": conn.execute(
                "SELECT count(*) FROM messages WHERE first_seen_at >= ? AND first_seen_at < ?",
                bounds,
            ).fetchone()[0],
        }

    @_guarded
    def list_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The most recent runs first; ``groups`` and ``errors`` decoded to lists."""
        rows = self._rows(
            f"SELECT id, started_at, finished_at, status, groups, {', '.join(RUN_COUNTS)}, errors"
            " FROM runs ORDER BY started_at DESC, id DESC LIMIT ?",
            (limit,),
        )
        for row in rows:
            row["groups"] = json.loads(row["groups"])
            row["errors"] = json.loads(row["errors"])
        return rows
