"""Sync benchmarks against the simulator running in its own process.

The simulator (``python -m tests.simulator``) and the client (``listarchive sync``)
are separate processes, so on two cores each has one and the simulator's rendering
is not charged to the client. Generated groups have 50 messages per topic, so a
100k-message group is 2,000 threads and 67 topic-list pages.

Every sync is a whole ``listarchive sync`` process (start-up included) waited for with
``wait4``, which gives its own CPU time and peak RSS.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

from bench.common import (
    SimulatorProcess,
    archive_bytes,
    measured_listarchive_command,
    median,
    percentile,
    python_env,
    remove_archive,
    run_child,
)

PER_TOPIC = 50


def group_name(messages: int) -> str:
    return f"gen{messages}"


def group_url(messages: int) -> str:
    return f"https://groups.google.com/g/{group_name(messages)}"


def sizes_spec(sizes: list[int]) -> list[tuple[str, int, int]]:
    return [(group_name(n), max(1, n // PER_TOPIC), PER_TOPIC) for n in sizes]


def sync_once(sim: SimulatorProcess, db: Path, messages: int, *,
              delay: float | None = 0.0) -> dict[str, Any]:
    """One ``listarchive sync`` process; its cost, and the simulator's CPU meanwhile."""
    args = [*measured_listarchive_command(), "sync", "--db", str(db), "--base-url", sim.base_url,
            "--quiet", "--json"]
    if delay is not None:
        args += ["--delay", str(delay)]
    sim_cpu_before = sim.cpu_seconds()
    run = run_child([*args, group_url(messages)], env=python_env()).check()
    summary = json.loads(run.stdout)
    return {
        "wall": run.wall,
        "cpu": run.cpu,
        "max_rss_mb": run.max_rss_mb,
        "rss_source": "VmHWM" if run.peak_rss_kb is not None else "ru_maxrss",
        "requests": summary["requests"],
        "new_messages": summary["new_messages"],
        "status": summary["status"],
        "simulator_cpu": sim.cpu_seconds() - sim_cpu_before,
    }


def first_syncs(sim: SimulatorProcess, folder: Path, messages: int, reps: int,
                log=print) -> dict[str, Any]:
    """``reps`` first syncs of a fresh archive; the last archive is kept for later runs."""
    runs = []
    db = folder / f"sync-{messages}.db"
    for i in range(reps):
        remove_archive(db)
        run = sync_once(sim, db, messages)
        if run["new_messages"] != messages or run["status"] != "ok":
            raise RuntimeError(f"first sync of {messages} messages gave {run}")
        runs.append(run)
        log(f"  first sync {messages:,}: {run['wall']:.1f}s, {run['max_rss_mb']:.0f} MB "
            f"({i + 1}/{reps})")
    wall = median([r["wall"] for r in runs])
    return {
        "db": str(db),
        "messages": messages,
        "runs": runs,
        "wall": wall,
        "messages_per_s": messages / wall,
        "cpu": median([r["cpu"] for r in runs]),
        "simulator_cpu": median([r["simulator_cpu"] for r in runs]),
        "requests": runs[-1]["requests"],
        "max_rss_mb": median([r["max_rss_mb"] for r in runs]),
    }


def fetch_baseline(sim: SimulatorProcess, messages: int) -> dict[str, Any]:
    """The same thread pages fetched by a bare httpx client: the delivery ceiling."""
    run = run_child(
        [sys.executable, "-m", "bench.fetch_only", sim.base_url, group_name(messages),
         str(max(1, messages // PER_TOPIC)), str(PER_TOPIC)],
        env=python_env(),
    ).check()
    result = json.loads(run.stdout)
    result["messages_per_s"] = result["messages"] / result["seconds"]
    return result


def noop_syncs(sim: SimulatorProcess, db: Path, messages: int, reps: int) -> dict[str, Any]:
    """Syncs with nothing new on an archive already holding the group."""
    runs = [sync_once(sim, db, messages) for _ in range(reps)]
    if any(r["new_messages"] for r in runs):
        raise RuntimeError(f"a sync with nothing new saved messages: {runs}")
    walls = [r["wall"] for r in runs]
    return {
        "messages": messages,
        "wall": median(walls),
        "wall_p95": percentile(walls, 95),
        "requests": max(r["requests"] for r in runs),
        "max_rss_mb": median([r["max_rss_mb"] for r in runs]),
    }


def probe(sim: SimulatorProcess, db: Path, messages: int, *,
          delay: float | None) -> dict[str, Any]:
    """A sync with stage timers (see :mod:`bench.sync_probe`)."""
    remove_archive(db)
    args = [sys.executable, "-m", "bench.sync_probe", "--db", str(db), "--base-url",
            sim.base_url]
    if delay is not None:
        args += ["--delay", str(delay)]
    sim_cpu_before = sim.cpu_seconds()
    run = run_child([*args, group_url(messages)], env=python_env()).check()
    result = json.loads(run.stdout)
    result["process_wall"] = run.wall
    result["cpu"] = run.cpu
    result["simulator_cpu"] = sim.cpu_seconds() - sim_cpu_before
    result["messages_per_s"] = result["new_messages"] / run.wall
    if result["new_messages"] != messages:
        raise RuntimeError(f"probe sync of {messages} messages gave {result}")
    return result


def size_ratio(db: Path) -> dict[str, Any]:
    """Archive bytes on disk over the bytes of body HTML the archive received."""
    from archive.db import decode_body

    conn = sqlite3.connect(db)
    try:
        # body_html is stored deflated: count the UTF-8 bytes that were received.
        html = count = 0
        for (stored,) in conn.execute("SELECT body_html FROM messages"):
            html += len(decode_body(stored).encode("utf-8"))
            count += 1
    finally:
        conn.close()
    on_disk = archive_bytes(db)
    return {"archive_bytes": on_disk, "body_html_bytes": html, "messages": count,
            "ratio": on_disk / html}


def startup_rss_mb() -> float:
    """Peak RSS of ``listarchive --version``: the interpreter and the CLI's imports."""
    return run_child([*measured_listarchive_command(), "--version"],
                     env=python_env()).check().max_rss_mb


def remove_all(folder: Path) -> None:
    for path in folder.glob("sync-*.db"):
        remove_archive(path)
