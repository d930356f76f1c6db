"""A full disk: one line, its own exit code, no traceback, and the archive as it was.

SQLite reports a full disk as SQLITE_FULL ("database or disk is full"). Two real ways to
meet it: ``PRAGMA max_page_count`` (SQLite's own limit, any user) and a small tmpfs that
really fills up (needs root to mount; skipped otherwise, with the reason).
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from archive.db import Archive, archive_errors, is_disk_full
from archive.sync import sync_groups, targets_from_urls
from scraper.crawl import Crawler
from scraper.errors import EXIT_DISK_FULL, ArchiveError, DiskFull
from scraper.http import Fetcher
from scraper.models import GroupRef
from tests.helpers.sync import add_small_group, archived_ids, assert_archived_exactly_once
from tests.simulator import GroupsState, Simulator

NOW = datetime(2026, 1, 1, tzinfo=UTC)
BIG_BODY = '<div dir="ltr">' + " ".join(f"word{n}" for n in range(4000)) + "</div>"


def add_big_topics(state: GroupsState, group, count: int) -> None:
    for i in range(count):
        topic = state.add_topic(group, f"big topic {i}", "Carl Large", "carl@example.com",
                                BIG_BODY.replace("word1 ", f"topic{i} "))
        for r in range(2):
            state.add_message(topic, "Dana Bulk", "dana@example.com",
                              BIG_BODY.replace("word2 ", f"reply{i}-{r} "))


def test_disk_full_is_recognised_from_sqlite_and_from_the_os():
    assert is_disk_full(sqlite3.OperationalError("database or disk is full"))
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(sqlite3.OperationalError("no such table: x"))
    error = DiskFull.writing("a.db")
    assert isinstance(error, ArchiveError) and error.exit_code == EXIT_DISK_FULL
    assert "\n" not in str(error) and "a.db" in str(error)


def test_archive_errors_maps_a_full_disk_to_disk_full(tmp_path):
    with pytest.raises(DiskFull):
        with archive_errors(tmp_path / "a.db"):
            raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(PermissionError):  # other OS errors are not this one
        with archive_errors(tmp_path / "a.db"):
            raise PermissionError(errno.EACCES, "Permission denied")


def test_a_save_past_sqlite_page_limit_is_disk_full_and_keeps_the_archive(tmp_path):
    state = GroupsState()
    group = add_small_group(state, "main", 2)
    add_big_topics(state, group, 1)
    topics = group.visible_topics()  # newest first: the big one
    db = tmp_path / "a.db"
    with Simulator(state) as sim, Fetcher(sim.base_url, delay=0) as fetcher:
        crawler = Crawler(fetcher)
        small = [crawler.fetch_thread(GroupRef("main").thread(t.id)) for t in topics[1:]]
        big = crawler.fetch_thread(GroupRef("main").thread(topics[0].id))
    with Archive(db) as archive:
        for thread in small:
            archive.save_thread(thread, None, seen_at=NOW)
        pages = archive.db.execute("PRAGMA page_count").fetchone()[0]
        archive.db.execute(f"PRAGMA max_page_count = {pages + 1}")
        with pytest.raises(DiskFull) as caught:
            archive.save_thread(big, None, seen_at=NOW)
        assert caught.value.exit_code == EXIT_DISK_FULL
        assert "no space left to write" in str(caught.value)
    # The thread is saved whole or not at all: here, not at all, and the rest is intact.
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    ids = archived_ids(db, group.email)
    assert sorted(ids) == sorted(m.id for t in topics[1:] for m in t.messages)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MB tmpfs mounted for the test (root only)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def run_cli(*args: str, base_url: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTARCHIVE_")}
    return subprocess.run(
        [sys.executable, "-c", "from archive.cli import cli; cli()", *args,
         "--base-url", base_url, "--delay", "0"],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=120,
    )


def test_a_sync_onto_a_full_disk_says_so_in_one_line_and_keeps_the_archive(tiny_disk):
    state = GroupsState()
    group = add_small_group(state, "main", 3)
    db = tiny_disk / "a.db"
    with Simulator(state) as sim:
        first = run_cli("sync", "main", "--db", str(db), base_url=sim.base_url, cwd=tiny_disk)
        assert first.returncode == 0, first.stderr
        before = sorted(archived_ids(db, group.email))
        add_big_topics(state, group, 20)
        second = run_cli("sync", "main", "--db", str(db), base_url=sim.base_url, cwd=tiny_disk)
    assert second.returncode == EXIT_DISK_FULL, second.stderr
    assert "Traceback" not in second.stderr
    errors = [line for line in second.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "no space left to write" in errors[0]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    ids = archived_ids(db, group.email)
    assert set(before) <= set(ids) and len(ids) == len(set(ids))


def test_a_run_after_space_is_freed_carries_on(tmp_path):
    """The other half of "nothing is lost": the same archive, on a roomy disk, completes."""
    state = GroupsState()
    group = add_small_group(state, "main", 2)
    add_big_topics(state, group, 2)
    db = tmp_path / "a.db"
    with Simulator(state) as sim, Fetcher(sim.base_url, delay=0) as fetcher:
        summary = sync_groups(db, targets_from_urls(["main"]), fetcher=fetcher)
    assert summary.exit_code == 0
    assert_archived_exactly_once(db, group)


@pytest.mark.parametrize("command", ["export", "feed"])
def test_an_export_or_feed_onto_a_full_disk_says_so_in_one_line(tiny_disk, tmp_path, command):
    """The archive sits on a roomy disk; what is published goes to the full one."""
    state = GroupsState()
    group = add_small_group(state, "main", 2)
    add_big_topics(state, group, 30)
    db = tmp_path / "a.db"
    with Simulator(state) as sim, Fetcher(sim.base_url, delay=0) as fetcher:
        assert sync_groups(db, targets_from_urls(["main"]), fetcher=fetcher).exit_code == 0
    out = ["--out", str(tiny_disk / "posts")] if command == "export" else [
        "--out", str(tiny_disk / "feeds" / "main.xml"), "--limit", "0"]
    done = subprocess.run(
        [sys.executable, "-c", "from archive.cli import cli; cli()", command, "--db", str(db),
         "--group", "main", *out],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("LISTARCHIVE_")},
    )
    assert done.returncode == EXIT_DISK_FULL, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "no space left to write" in errors[0]
    # Nothing half-written is left behind: only whole files, no temporary ones.
    assert not [p for p in tiny_disk.rglob(".*.tmp")]
