"""Requests and bytes received per archived message, by how listarchive reads Google.

    python -m bench.wire_cost [--topics N] [--messages M] [--long K] [--rpc-threads]

Syncs a generated group (N topics of M messages, plus K threads of 250 messages, longer
than a thread page's 100) from the simulator, in process, into a fresh archive, then
syncs it again (nothing new: the daily run) and walks it with ``full=True`` (every list
page, nothing to fetch). Prints one JSON object: requests and bytes received for each
run, and per archived message.

Bytes are the response bodies as received (after HTTP decompression; the simulator does
not compress). The code measured is whatever ``archive``/``scraper`` import resolves to,
so the same script measures an older checkout with ``PYTHONPATH=<checkout>``; options
that the older code lacks are left out there.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from archive.sync import sync_groups, targets_from_urls
from scraper.http import Fetcher
from tests.simulator import GroupsState, Simulator


class CountingFetcher(Fetcher):
    """A Fetcher that adds up the bytes of every page it returns (a redirect's own small
    body, and a reply that raised, are not counted)."""

    received = 0

    def get(self, *args: Any, **kwargs: Any) -> Any:
        page = super().get(*args, **kwargs)
        self.received += len(page.content)
        return page

    def post_form(self, *args: Any, **kwargs: Any) -> Any:
        page = super().post_form(*args, **kwargs)
        self.received += len(page.content)
        return page


def build(topics: int, messages: int, long_threads: int) -> GroupsState:
    state = GroupsState(seed=5)
    group = state.add_generated_group("wire", topics=topics, messages_per_topic=messages)
    for n in range(long_threads):
        topic = state.add_topic(group, f"Long thread {n}", "Ann Author", "ann@example.com",
                                f'<div dir="ltr">Opening {n}</div>')
        for r in range(249):
            state.add_message(topic, "Bob Builder", "bob@example.net",
                              f'<div dir="ltr">Reply {r} in long thread {n}, with some text '
                              "to make the body look like a message.</div>")
    return state


def measure(topics: int, messages: int, long_threads: int, rpc_threads: bool) -> dict:
    state = build(topics, messages, long_threads)
    options: dict[str, Any] = {}
    if rpc_threads and "rpc_threads" in inspect.signature(sync_groups).parameters:
        options["rpc_threads"] = True
    runs = {}
    with Simulator(state) as sim, tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "wire.db"
        url = ["https://groups.google.com/g/wire"]
        for name, full in (("first_sync", False), ("sync_nothing_new", False),
                           ("full_walk_nothing_new", True)):
            with CountingFetcher(sim.base_url, delay=0) as fetcher:
                summary = sync_groups(db, targets_from_urls(url), fetcher=fetcher, full=full,
                                      **options)
                runs[name] = {"requests": fetcher.requests_made, "bytes": fetcher.received,
                              "new_messages": summary.total("new_messages"),
                              "exit_code": summary.exit_code}
        import sqlite3

        with sqlite3.connect(db) as conn:
            archived = conn.execute("SELECT count(*) FROM postings").fetchone()[0]
            incomplete = conn.execute(
                "SELECT count(*) FROM threads WHERE complete = 0").fetchone()[0]
    upstream = topics * messages + long_threads * 250
    for figures in runs.values():
        figures["requests_per_message"] = round(figures["requests"] / archived, 4)
        figures["bytes_per_message"] = round(figures["bytes"] / archived)
    return {"upstream_messages": upstream, "archived_messages": archived,
            "incomplete_threads": incomplete, "rpc_threads": bool(options), **runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topics", type=int, default=200)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--long", type=int, default=2)
    parser.add_argument("--rpc-threads", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.topics, args.messages, args.long, args.rpc_threads)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
