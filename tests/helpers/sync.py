"""Groups for the simulator and checks of what a sync archived."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from archive.sync import (
    sync_groups,
    targets_from_urls,
)
from scraper.http import Fetcher
from tests.simulator import GroupsState, Simulator


def make_fetcher(sim: Simulator, sleeps: list[float] | None = None) -> Fetcher:
    """No throttle, and retries that do not really wait."""
    sleeps = sleeps if sleeps is not None else []
    return Fetcher(sim.base_url, delay=0, sleep=sleeps.append)


def add_small_group(state: GroupsState, name: str, topics: int, *, domain: str | None = None,
                    private: bool = False):
    """``topics`` topics; every third has two replies. Distinct bodies throughout."""
    group = state.add_group(name, domain, f"Group {name}", private=private)
    for i in range(topics):
        topic = state.add_topic(group, f"{name} topic {i}", "Ann Author", "ann@example.com",
                                f'<div dir="ltr">{name} opening message {i}</div>')
        if i % 3 == 0:
            for r in range(2):
                state.add_message(topic, "Bob Builder", "bob@example.net",
                                  f'<div dir="ltr">{name} reply {r} to {i}</div>')
    return group


def upstream_ids(group) -> set[str]:
    """The Google message ids a complete archive of ``group`` holds (a thread longer
    than a page's 100 messages is read on through the H08Fi RPC)."""
    return {m.id for topic in group.visible_topics() for m in topic.messages}


def archived_ids(db: Path, group_key: str) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute(
            "SELECT google_message_id FROM postings WHERE group_key = ?", (group_key,))]


def assert_archived_exactly_once(db: Path, group) -> None:
    ids = archived_ids(db, group.email)
    assert len(ids) == len(set(ids))
    assert set(ids) == upstream_ids(group)


def assert_every_thread_whole(db: Path, group) -> int:
    """Each archived thread holds exactly its messages; returns how many."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT t.topic_id, t.messages_seen, group_concat(p.google_message_id)"
            " FROM threads t LEFT JOIN postings p ON p.thread_id = t.id"
            " WHERE t.group_key = ? GROUP BY t.id", (group.email,)).fetchall()
    topics = {topic.id: topic for topic in group.visible_topics()}
    for topic_id, seen, ids in rows:
        expected = {m.id for m in topics[topic_id].messages}
        assert set((ids or "").split(",")) == expected
        assert seen == len(expected)
    return len(rows)


def integrity_ok(db: Path) -> bool:
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def run(db, urls, fetcher, **kwargs):
    return sync_groups(db, targets_from_urls(urls), fetcher=fetcher, **kwargs)


def sync_demo(state: GroupsState, path: Path) -> Path:
    """Archive the simulator's two demo groups of ``state`` (see tests.simulator.demo)
    into ``path``, through the real server and client; ``path`` is returned."""
    demo = state.demo
    with Simulator(state) as sim, Fetcher(base_url=sim.base_url, delay=0) as fetcher:
        summary = sync_groups(
            path, targets_from_urls([demo.announce.url, demo.dev.url]), fetcher=fetcher
        )
    assert summary.status == "ok"
    return path
