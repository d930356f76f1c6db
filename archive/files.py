"""Writing the files an export publishes: each replaced in one step. Standard library only
(and the one rule of what a full disk looks like)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from archive.connection import is_disk_full
from scraper.errors import DiskFull, ListarchiveError

__all__ = ["replacing", "write_atomically"]


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[BinaryIO]:
    """A binary file that becomes ``path`` when the block ends well: a reader (a web
    server, a mail client) sees the old file or the new one, never half of one, and a
    failure (or Ctrl-C) leaves the old one. The new file keeps the mode of the one it
    replaces, else 0644: what an export writes is meant to be published. An OS error
    is one :class:`ListarchiveError` line naming the file (:class:`DiskFull`, and its
    exit code, when the disk is full)."""
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise _write_error(path, err) from None
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        # mkstemp makes the file private.
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(err, OSError):
            raise _write_error(path, err) from None
        raise


def _write_error(path: Path, err: OSError) -> ListarchiveError:
    if is_disk_full(err):
        return DiskFull.writing(path)
    return ListarchiveError(f"cannot write {path}: {err.strerror or err}")


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step (see :func:`replacing`)."""
    with replacing(path) as out:
        out.write(data)
