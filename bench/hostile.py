"""What one hostile message costs: a 20 MB pasted log in search, 100k nested tags in a feed.

Anyone can post to a public group, so one message can be a 20 MB log holding every
word people search for, or HTML nested a hundred thousand levels deep. Neither may make
the commands that read the archive slow for everyone.

- Search: the archive of the search benchmark is copied, and one message is added whose
  body is a 20 MB log made of the benchmark's query words (each word thousands of times)
  and whose subject holds them too, so it is among the results shown, with its snippet,
  for every query that can match it. Every query class runs on the copy and on the
  original, alternately; the figure is the p95 over all samples of each.
- Feed: :func:`archive.feed.sanitize_html` of a body of 100k nested ``<div>``s, against the
  same text in flat paragraphs of the same size.
"""

from __future__ import annotations

import html
import itertools
import sqlite3
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import percentile
from bench.searching import query_classes


def _words(queries: dict[str, list[str]]) -> list[str]:
    """The searchable words of every query class (no dates, no from:)."""
    words: list[str] = []
    for label in ("rare word", "common word", "phrase", "word + date range", "identifier"):
        for query in queries.get(label, []):
            words += [w.strip('"') for w in query.split() if ":" not in w]
    return list(dict.fromkeys(w for w in words if w))


def add_big_message(source: Path, target: Path, queries: dict[str, list[str]],
                    megabytes: int) -> dict[str, Any]:
    """Copy ``source`` to ``target`` and save one message of about ``megabytes`` MB."""
    from archive.db import Archive
    from scraper.models import Group, GroupRef, Message, Thread

    target.unlink(missing_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    words = _words(queries)
    lines = []
    size = 0
    for n in itertools.count():
        word = words[n % len(words)]
        line = (f"2026-01-01 12:{n % 60:02d}:00 ERROR worker-{n % 7} {word}: connection reset "
                f"by peer while reading {word}; retrying in 5s (attempt {n})")
        lines.append(line)
        size += len(line) + 1
        if size >= megabytes * 1_000_000:
            break
    body = "\n".join(lines)
    conn = sqlite3.connect(target)
    newest = conn.execute("SELECT max(posted_at) FROM messages").fetchone()[0]
    conn.close()
    when = datetime.fromisoformat(newest.replace("Z", "+00:00")) + timedelta(days=1)
    group = Group(GroupRef("bench-big"), "1", "bench-big@googlegroups.com", "Big")
    subject = "Build log: " + " ".join(words)
    message = Message("bigmessage01", "bigtopic01", "Log Paster", when, subject,
                      f"<pre>{html.escape(body)}</pre>")
    started = time.perf_counter()
    with Archive(target) as archive:
        archive.save_thread(Thread(group, "bigtopic01", subject, (message,)), seen_at=when)
        big_id = archive.db.execute(
            "SELECT id FROM messages ORDER BY id DESC LIMIT 1").fetchone()[0]
    return {"bytes": len(body.encode()), "lines": len(lines), "words": len(words),
            "id": big_id, "save_seconds": time.perf_counter() - started}


def search_with_big_message(original: Path, with_big: Path, big_id: int,
                            queries: dict[str, list[str]], *, reps: int) -> dict[str, Any]:
    """Every query class on both archives, alternately; p50/p95 of each, and how often
    the big message was among the 20 results shown."""
    from archive.search import open_archive, search

    conns = {"original": open_archive(original), "big": open_archive(with_big)}
    samples: dict[str, list[float]] = {"original": [], "big": []}
    per_class: dict[str, dict[str, float]] = {}
    shown = asked = 0
    slowest: tuple[float, str] = (0.0, "")
    try:
        classes = query_classes(queries)
        for _, sort, items in classes:  # warm-up
            for query in items:
                for conn in conns.values():
                    search(conn, query, sort=sort, limit=20)
        for label, sort, items in classes:
            mine: dict[str, list[float]] = {"original": [], "big": []}
            for query in items:
                for _ in range(reps):
                    for name, conn in conns.items():
                        started = time.perf_counter()
                        hits = search(conn, query, sort=sort, limit=20)
                        seconds = time.perf_counter() - started
                        samples[name].append(seconds)
                        mine[name].append(seconds)
                        if name == "big":
                            slowest = max(slowest, (seconds, f"{query} ({sort})"))
                hits = search(conns["big"], query, sort=sort, limit=20)
                asked += 1
                shown += any(h.id == big_id for h in hits)
            per_class[label] = {
                name: percentile(values, 95) * 1000 for name, values in mine.items()
            }
    finally:
        for conn in conns.values():
            conn.close()
    return {
        "p50_ms": {name: percentile(v, 50) * 1000 for name, v in samples.items()},
        "p95_ms": {name: percentile(v, 95) * 1000 for name, v in samples.items()},
        "max_ms": {name: max(v) * 1000 for name, v in samples.items()},
        "slowest_query": slowest[1],
        "per_class_p95_ms": per_class,
        "samples": len(samples["big"]),
        "big_shown": shown,
        "queries": asked,
    }


def nesting(depth: int, *, reps: int = 3) -> dict[str, Any]:
    """``sanitize_html`` of ``depth`` nested divs, and of the same text flat."""
    from archive.feed import sanitize_html

    nested = "<div>" * depth + "<p>the bottom</p>" + "</div>" * depth
    flat = "<p>" + "x" * (len(nested) - 7) + "</p>"

    def timed(body: str) -> float:
        best = []
        for _ in range(reps):
            started = time.perf_counter()
            out = sanitize_html(body)
            best.append(time.perf_counter() - started)
        assert out
        return min(best)

    return {"depth": depth, "bytes": len(nested), "nested_s": timed(nested),
            "flat_s": timed(flat)}
