"""Opening an archive file for reading, and SQLite's failures as one-line errors.

Apart from :mod:`archive.db` so that ``search`` opens its archive without importing the
schema, sqlite-utils and the data model: a whole-process search is mostly start-up.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from scraper.errors import ArchiveError, ArchiveLocked, DiskFull, ListarchiveError

__all__ = [
    "archive_errors",
    "connect_readonly",
    "is_disk_full",
    "sqlite_failure",
    "unwritable_reason",
]


_UNUSABLE_FILE = (
    "unable to open database file",
    "disk i/o error",
    "readonly database",
    "malformed",
    "not a database",
)


def is_disk_full(err: BaseException) -> bool:
    """Whether ``err`` says there is no space left to write: SQLite's SQLITE_FULL
    ("database or disk is full") or an ``OSError`` with ENOSPC or EDQUOT."""
    if isinstance(err, sqlite3.Error):
        return (
            getattr(err, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
            or "database or disk is full" in str(err).lower()
        )
    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)


def sqlite_failure(err: BaseException, where: str | Path) -> ListarchiveError | None:
    """The one-line error a failure of SQLite (or of the disk under it) means for the user,
    or ``None`` when it points at a bug of ours (bad SQL, a violated constraint) and must
    stay a traceback. ``where`` names the archive in the message.

    A held lock is :class:`ArchiveLocked`; a full disk :class:`DiskFull`; a corrupt or
    foreign file, or one that cannot be opened or written, :class:`ArchiveError`.
    """
    if isinstance(err, sqlite3.IntegrityError | sqlite3.ProgrammingError | sqlite3.InterfaceError):
        return None
    if isinstance(err, sqlite3.OperationalError | OSError):
        if is_disk_full(err):
            return DiskFull.writing(where)
        if isinstance(err, OSError):
            return None
        message = str(err)
        lowered = message.lower()
        if "locked" in lowered or "busy" in lowered:
            return ArchiveLocked(f"{where} is locked by another process ({message})")
        if any(marker in lowered for marker in _UNUSABLE_FILE):
            return ArchiveError(f"{where}: {message}")
        return None
    if isinstance(err, sqlite3.DatabaseError):
        return ArchiveError(f"{where} is corrupt or not a listarchive archive ({err})")
    return None


@contextlib.contextmanager
def archive_errors(path: str | Path) -> Iterator[None]:
    """Turn SQLite's low-level failures into one-line errors (see :func:`sqlite_failure`);
    errors that point at a bug are left alone. Code that runs its own SQL on
    ``Archive.db`` (search, export) can wrap it in this too.
    """
    try:
        yield
    except (sqlite3.Error, OSError) as err:
        failure = sqlite_failure(err, path)
        if failure is None:
            raise
        raise failure from err


def unwritable_reason(path: Path) -> str | None:
    """Why this process cannot write the archive and its -wal/-shm files, if it cannot."""
    folder = path.absolute().parent
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path} is read-only for this user"
    if not os.access(folder, os.W_OK):
        return f"the folder {folder} is not writable by this user"
    return None


def connect_readonly(path: str | Path, *, timeout: float = 5.0) -> sqlite3.Connection:
    """A connection that never writes: ``mode=ro``, or ``immutable=1`` when the folder
    cannot hold the -wal/-shm files WAL readers need (a shared, read-only archive).

    :class:`ArchiveError` names the real cause when the file cannot be read at all.
    """
    path = Path(path)
    if not path.exists():
        raise ArchiveError(f"no archive at {path}; run listarchive sync first")
    if path.is_dir():
        raise ArchiveError(f"{path} is a directory, not an archive file")
    if not os.access(path, os.R_OK):
        raise ArchiveError(f"cannot read {path}: permission denied")
    uri = "file:" + quote(str(path.resolve()))
    conn = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=timeout)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError as err:
        conn.close()
        if unwritable_reason(path) is None:
            with archive_errors(path):
                raise
        first_error = err
    except sqlite3.DatabaseError:
        conn.close()
        with archive_errors(path):
            raise
    # Without a -shm file, and no right to make one, WAL mode cannot read; a file nobody
    # can write while we read is safe to read as immutable (a writer would need the folder).
    conn = sqlite3.connect(uri + "?immutable=1", uri=True, timeout=timeout)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as err:
        conn.close()
        raise ArchiveError(
            f"cannot read {path}: {first_error}; as an immutable file: {err}"
        ) from err
    return conn
