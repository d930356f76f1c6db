"""Run ``listarchive`` in this process and record its peak RSS when it exits.

    BENCH_PEAK_FILE=/tmp/peak python -m bench.peak_rss sync ...

The same as the ``listarchive`` script (``archive.cli:cli``), plus an exit hook that
writes this process's ``VmHWM`` (kB) to ``$BENCH_PEAK_FILE``. Why not ``wait4``'s
``ru_maxrss``: a child started with vfork/posix_spawn shares its parent's memory
until it execs, and Linux carries that high-water mark over the exec, so a large
benchmark process would be charged to every child it starts.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
from pathlib import Path


def peak_kb() -> int:
    found = re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text())
    return int(found.group(1)) if found else 0


def _record() -> None:
    target = os.environ.get("BENCH_PEAK_FILE")
    if target:
        Path(target).write_text(str(peak_kb()))


if __name__ == "__main__":
    atexit.register(_record)
    from archive.cli import cli

    sys.argv[0] = "listarchive"
    cli()
