"""The sync lock of an archive: one run at a time, and whether one is running.

Apart from :mod:`archive.sync` so that ``runs`` and ``groups remove`` need not import
the HTTP stack to look at it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import filelock

from scraper.errors import ArchiveError, ArchiveLocked

__all__ = ["archive_lock", "lock_held", "lock_path"]


def lock_path(db_path: str | Path) -> str:
    """The sync lock of an archive, on its resolved path: two paths to one file (a
    symlink, ../x) are one archive."""
    return f"{Path(db_path).resolve()}.lock"


def lock_held(db_path: str | Path) -> bool | None:
    """Whether a sync holds the archive's lock now; None when that cannot be told (no
    right to create the lock file)."""
    path = lock_path(db_path)
    if not Path(path).exists():
        return False  # a running sync has made it; a reader makes none
    lock = filelock.FileLock(path, timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        return True
    except OSError:
        return None
    lock.release()
    return False


@contextlib.contextmanager
def archive_lock(db_path: str | Path) -> Iterator[None]:
    """Hold ``<db_path>.lock`` for a run; :class:`ArchiveLocked` at once if another run has it.

    The OS releases the lock when its process ends, however it ends, so a killed
    run never leaves a stale lock behind.
    """
    path = lock_path(db_path)
    lock = filelock.FileLock(path, timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise ArchiveLocked(
            f"another listarchive sync is running on {db_path}; try again when it has finished"
        ) from None
    except OSError as err:
        raise ArchiveError(
            f"cannot create the lock file {path}: {err.strerror or err}"
        ) from None
    try:
        yield
    finally:
        lock.release()
