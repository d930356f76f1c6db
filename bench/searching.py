"""Search latency: in-process top-20 with snippets, and ``listarchive search`` as a process.

Each query class runs several distinct queries (picked by :mod:`bench.corpus` from the
archive's real document frequencies), each repeated; p50 and p95 are over all those
samples, after one untimed warm-up pass (warm page cache: a sync or an earlier search
has usually just read the file). The baseline is the bare full-text lookup of the same
words, ``SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? LIMIT 20``, or for a
date range alone the bare indexed date scan, timed in the same loop.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

from archive.search import WEIGHTS
from bench.common import listarchive_command, median, percentile, python_env, run_child

FTS_BASELINE = "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? LIMIT 20"
# FTS5's own cost of ranking every match: the floor under any top 20 by relevance.
RANKED_BASELINE = (
    "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?"
    f" ORDER BY bm25(messages_fts, {', '.join(map(str, WEIGHTS))}) LIMIT 20"
)
DATE_BASELINE = (
    "SELECT id FROM messages WHERE posted_at >= ? AND posted_at < ?"
    " ORDER BY posted_at DESC LIMIT 20"
)
_DATES = re.compile(r"after:(\S+) before:(\S+)")


def _baseline(query: str) -> tuple[str, tuple]:
    """The bare SQL a query's work reduces to, for the baseline."""
    dates = _DATES.search(query)
    words = _DATES.sub("", query).strip()
    if not words and dates:
        return DATE_BASELINE, (f"{dates[1]}T00:00:00Z", f"{dates[2]}T00:00:00Z")
    if words.startswith("from:"):
        name = words[5:].strip('"')
        return FTS_BASELINE, ('{author} : "' + name.replace('"', "") + '"',)
    return FTS_BASELINE, ('"' + words.strip('"') + '"',)


def _time(fn) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def query_classes(queries: dict[str, list[str]]) -> list[tuple[str, str, list[str]]]:
    """``(label, sort, queries)`` for every class the targets name."""
    classes = [(label, "rank", queries[label]) for label in (
        "rare word", "phrase", "from:", "date range", "word + date range", "identifier")]
    classes.append((">10% word, by relevance", "rank", queries["common word"]))
    classes.append((">10% word, --sort date", "date", queries["common word"]))
    return classes


def in_process(path: Path, queries: dict[str, list[str]], *, reps: int) -> dict[str, Any]:
    """Latency of ``archive.search.search(conn, query, sort=..., limit=20)`` per class."""
    from archive.search import open_archive, search

    conn = open_archive(path)
    results: dict[str, Any] = {}
    try:
        total = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
        classes = query_classes(queries)
        for _, sort, items in classes:  # warm-up: page cache and statement cache
            for query in items:
                search(conn, query, sort=sort, limit=20)
        for label, sort, items in classes:
            samples, base_samples, ranked_samples, hits, shares = [], [], [], [], []
            ranked = sort == "rank" and label != "from:"  # from: alone is listed by date
            for query in items:
                sql, params = _baseline(query)
                if sql == FTS_BASELINE:  # how common the words are, for the reader
                    matches = conn.execute(
                        "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH ?", params
                    ).fetchone()[0]
                    shares.append(round(matches / total, 5))
                for _ in range(reps):
                    seconds, found = _time(lambda q=query, s=sort: search(conn, q, sort=s,
                                                                          limit=20))
                    samples.append(seconds)
                    base, _rows = _time(lambda s=sql, p=params: conn.execute(s, p).fetchall())
                    base_samples.append(base)
                    if ranked and sql == FTS_BASELINE:
                        floor, _rows = _time(
                            lambda p=params: conn.execute(RANKED_BASELINE, p).fetchall())
                        ranked_samples.append(floor)
                hits.append(len(found))
            if not any(hits):
                raise RuntimeError(f"no {label} query found anything in {path}: {items}")
            results[label] = {
                "sort": sort,
                "queries": items,
                "hits_shown": hits,
                "word_share": shares,  # of messages matching the words (before filters)
                "samples": len(samples),
                "p50_ms": percentile(samples, 50) * 1000,
                "p95_ms": percentile(samples, 95) * 1000,
                "baseline_p50_ms": percentile(base_samples, 50) * 1000,
                "baseline_p95_ms": percentile(base_samples, 95) * 1000,
                "baseline": "bare date-index scan" if sql == DATE_BASELINE
                else "bare FTS5 MATCH LIMIT 20",
                "ranked_baseline_p50_ms": percentile(ranked_samples, 50) * 1000
                if ranked_samples else None,
            }
    finally:
        conn.close()
    return results


def as_process(path: Path, queries: list[str], *, reps: int) -> dict[str, Any]:
    """Wall time of whole ``listarchive search`` processes, and of ``python -c pass``."""
    command = listarchive_command()
    env = python_env()
    run_child([*command, "search", "--db", str(path), queries[0]], env=env).check()  # warm
    samples: dict[str, list[float]] = {query: [] for query in queries}
    base = []
    for _ in range(reps):
        for query in queries:
            run = run_child([*command, "search", "--db", str(path), query], env=env).check()
            if not run.stdout.strip():
                raise RuntimeError(f"listarchive search {query!r} printed nothing")
            samples[query].append(run.wall)
        base.append(run_child([sys.executable, "-c", "pass"], env=env).check().wall)
    return {
        "queries": {
            query: {"samples": len(walls), "p50_ms": median(walls) * 1000,
                    "p95_ms": percentile(walls, 95) * 1000}
            for query, walls in samples.items()
        },
        "baseline_p50_ms": median(base) * 1000,
        "baseline": "python -c pass",
    }
