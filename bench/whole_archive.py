"""Commands that touch the whole archive: ``feed --limit 0``, ``search --limit 0 --json``
and ``export``, as whole processes, at two output sizes of one archive.

Memory is flat when the larger output costs about what the smaller one does (each
command reads, converts and writes one batch at a time); rates are messages written
per second of the process's wall time. Peak RSS is the process's own ``VmHWM``
(:mod:`bench.peak_rss`).
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from bench.common import measured_listarchive_command, median, python_env, run_child

# Every message of the generated archives is on or after this day.
EVERYTHING = "after:1990-01-01"


def _since_for(path: Path, messages: int) -> str:
    """The start day of the newest threads holding about ``messages`` messages."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        total = 0
        day = "1990-01-01"
        for created, count in conn.execute(
            "SELECT t.created_at, count(p.id) FROM threads t JOIN postings p"
            " ON p.thread_id = t.id GROUP BY t.id ORDER BY t.created_at DESC"
        ):
            total += count
            day = created[:10]
            if total >= messages:
                break
        return day
    finally:
        conn.close()


def _count(path: Path, sql: str, *params: Any) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchone()[0]
    finally:
        conn.close()


def _runs(args: list[str], reps: int) -> dict[str, float]:
    env = python_env()
    runs = [run_child([*measured_listarchive_command(), *args], env=env).check()
            for _ in range(reps)]
    return {
        "wall": median([r.wall for r in runs]),
        "cpu": median([r.cpu for r in runs]),
        "peak_rss_mb": max(r.max_rss_mb for r in runs),
        "output_bytes": len(runs[-1].stdout.encode()),
    }


def measure(path: Path, *, small: int, reps: int) -> dict[str, Any]:
    """Each command at ``small`` entries and at every message of the archive at ``path``."""
    db = ["--db", str(path)]
    total = _count(path, "SELECT count(*) FROM messages")
    since = _since_for(path, small)
    exported_small = _count(
        path, "SELECT count(*) FROM postings p JOIN threads t ON t.id = p.thread_id"
        " WHERE t.created_at >= ?", since,
    )  # fmt: skip
    results: dict[str, Any] = {"messages": total}
    results["feed"] = {
        "small": _runs(["feed", *db, "--limit", str(small)], reps) | {"entries": small},
        "all": _runs(["feed", *db, "--limit", "0"], reps) | {"entries": total},
    }
    results["search"] = {
        "small": _runs(["search", *db, EVERYTHING, "--limit", str(small), "--json"], reps)
        | {"entries": small},
        "all": _runs(["search", *db, EVERYTHING, "--limit", "0", "--json"], reps)
        | {"entries": total},
    }
    with tempfile.TemporaryDirectory() as scratch:
        results["export"] = {
            "small": _runs(["export", *db, "--since", since, "--out", f"{scratch}/small"], reps)
            | {"entries": exported_small},
            "all": _runs(["export", *db, "--since", "1990-01-01", "--out", f"{scratch}/all"],
                         reps) | {"entries": total},
        }  # fmt: skip
    for name in ("feed", "search", "export"):
        both = results[name]
        both["rss_ratio"] = both["all"]["peak_rss_mb"] / both["small"]["peak_rss_mb"]
        both["messages_per_s"] = both["all"]["entries"] / both["all"]["wall"]
        both["messages_per_cpu_s"] = both["all"]["entries"] / both["all"]["cpu"]
    return results
