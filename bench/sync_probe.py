"""Run one sync as ``listarchive sync`` does, with timers around its stages; print JSON.

    python -m bench.sync_probe --db X.db --base-url http://127.0.0.1:PORT [--delay S] URL

The same objects as the command (a :class:`Fetcher` with its default settings unless
``--delay`` is given, :func:`archive.sync.sync_groups`), with the public stages wrapped
in timers, to say where a sync's time goes:

- ``throttle``: sleeping to keep the minimum interval between requests (the Fetcher's
  injectable ``sleep``);
- ``http``: ``Fetcher.get``/``post_form`` minus those sleeps (the round trip, simulated
  latency included, and reading the reply);
- ``parse``: the page parsers (``scraper.pages``);
- ``text``: body text extraction on the save path (``archive.text.message_text``);
- ``save``: the rest of ``Archive.save_thread`` (SQLite, FTS5, deduplication);
- ``other``: everything else (comparing topics with the archive, run records, start-up
  after imports).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections import defaultdict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sync_probe")
    parser.add_argument("--db", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--delay", type=float, default=None,
                        help="seconds between requests (default: the Fetcher's own default)")
    parser.add_argument("url")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    import archive.db
    import archive.text
    import scraper.pages
    from archive.sync import sync_groups, targets_from_urls
    from scraper.http import Fetcher

    spent: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)

    def timer(name, fn):
        @functools.wraps(fn)
        def wrapper(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                spent[name] += time.perf_counter() - t0
                calls[name] += 1

        return wrapper

    for name in ("parse_thread_page", "parse_group_page", "parse_batchexecute"):
        setattr(scraper.pages, name, timer("parse", getattr(scraper.pages, name)))
    archive.text.message_text = timer("text", archive.text.message_text)
    archive.db.Archive.save_thread = timer("save_thread", archive.db.Archive.save_thread)
    Fetcher.get = timer("fetch", Fetcher.get)
    Fetcher.post_form = timer("fetch", Fetcher.post_form)

    def sleep(seconds: float) -> None:
        t0 = time.perf_counter()
        time.sleep(seconds)
        spent["throttle"] += time.perf_counter() - t0

    options = {} if args.delay is None else {"delay": args.delay}
    imported = time.perf_counter()
    with Fetcher(base_url=args.base_url, sleep=sleep, **options) as fetcher:
        delay = fetcher.delay
        summary = sync_groups(args.db, targets_from_urls([args.url]), fetcher=fetcher)
    finished = time.perf_counter()
    wall = finished - started
    stages = {
        "throttle": spent["throttle"],
        "http": spent["fetch"] - spent["throttle"],
        "parse": spent["parse"],
        "text": spent["text"],
        "save": spent["save_thread"] - spent["text"],
    }
    stages["other"] = wall - sum(stages.values())
    from bench.peak_rss import peak_kb

    print(json.dumps({
        "peak_rss_mb": peak_kb() / 1024,
        "delay": delay,
        "wall": wall,
        "imports": imported - started,
        "requests": summary.requests,
        "new_messages": summary.total("new_messages"),
        "status": summary.status,
        "stages": stages,
        "calls": dict(calls),
    }))
    return 0 if summary.status == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
