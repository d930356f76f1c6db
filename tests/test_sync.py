"""End-to-end sync against the Google Groups simulator: real HTTP, real SQLite files."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from archive.db import Archive, ThreadState
from archive.sync import (
    MAX_FAILED_THREADS_IN_A_ROW,
    UNCHANGED_LIMIT,
    SyncProgress,
    SyncTarget,
    archive_lock,
    sync_groups,
    targets_from_urls,
    topic_unchanged,
)
from scraper.errors import (
    EXIT_ACCESS,
    EXIT_INTERRUPTED,
    EXIT_LAYOUT_CHANGED,
    EXIT_NETWORK,
    EXIT_NOT_FOUND,
    EXIT_PARTIAL,
    EXIT_RATE_LIMITED,
    ArchiveLocked,
)
from scraper.http import Fetcher
from scraper.models import Topic
from tests.helpers.http import FakeTime
from tests.helpers.sync import (
    add_small_group,
    archived_ids,
    assert_archived_exactly_once,
    assert_every_thread_whole,
    integrity_ok,
    make_fetcher,
    run,
    upstream_ids,
)
from tests.simulator import GroupsState, Simulator
from tests.simulator.demo import CROSS_POST_SUBJECTS, populate

ANNOUNCE = "https://groups.google.com/g/demo-announce"
DEV = "https://groups.google.com/a/example.org/g/dev"
ANNOUNCE_KEY = "demo-announce@googlegroups.com"
DEV_KEY = "dev@example.org"


# --- helpers shared with test_sync_cli --------------------------------------------------


class MergeRecorder(SyncProgress):
    """Counts the runs' announcements that the search index is being merged."""

    def __init__(self) -> None:
        self.merges = 0

    def index_merging(self) -> None:
        self.merges += 1


class AfterFetched(SyncProgress):
    """Runs ``action`` once, right after the n-th thread was fetched and saved."""

    def __init__(self, n: int, action) -> None:
        self.n, self.action, self.fetched = n, action, 0

    def topic_checked(self, topic, fetched):
        if fetched:
            self.fetched += 1
            if self.fetched == self.n:
                self.action()


# --- the demo groups, synced once for the module -----------------------------------------


@pytest.fixture(scope="module")
def first_sync(tmp_path_factory):
    """A first sync of both demo groups; tests get copies of the archive it made."""
    db = tmp_path_factory.mktemp("first") / "archive.db"
    state = GroupsState()
    populate(state)
    recorder = MergeRecorder()
    with Simulator(state) as sim, make_fetcher(sim) as fetcher:
        summary = run(db, [ANNOUNCE, DEV], fetcher, progress=recorder)
        requests = sim.requests
    return {"db": db, "state": state, "summary": summary, "requests": requests,
            "merges": recorder.merges}


@pytest.fixture
def synced_db(first_sync, tmp_path) -> Path:
    db = tmp_path / "archive.db"
    shutil.copy(first_sync["db"], db)
    return db


def test_first_sync_archives_every_message_of_a_multi_page_group(first_sync):
    summary, state, db = first_sync["summary"], first_sync["state"], first_sync["db"]
    assert summary.exit_code == 0 and summary.status == "ok"
    announce, dev = summary.groups
    assert (announce.mode, announce.topics_seen, announce.threads_fetched) == ("backfill", 75, 75)
    assert announce.walked_to_end
    # 75 topics: the group page and two batchexecute pages; the 120-message thread: its
    # page (100 messages) and two H08Fi pages
    posts = [r.query["rpcids"] for r in first_sync["requests"] if r.method == "POST"]
    assert posts.count("Dq0xse") == 2 and posts.count("H08Fi") == 2
    for group in state.demo.announce, state.demo.dev:
        assert_archived_exactly_once(db, group)
    total = sum(len(upstream_ids(g)) for g in (state.demo.announce, state.demo.dev))
    assert announce.new_messages + dev.new_messages == total - len(CROSS_POST_SUBJECTS)
    assert dev.cross_posts == len(CROSS_POST_SUBJECTS)
    with Archive(db) as archive:
        assert archive.sync_mark(ANNOUNCE_KEY) == state.demo.announce.visible_topics()[
            0].last_activity_at
        long_thread = archive.thread_state(ANNOUNCE_KEY, state.demo.long_thread.id)
        assert (long_thread.message_count, long_thread.messages_seen) == (120, 120)
        assert long_thread.complete
        [run_row] = archive.list_runs()
        groups = {g["key"]: g for g in archive.list_groups()}
    assert run_row["status"] == "ok"
    assert run_row["messages_new"] == total - len(CROSS_POST_SUBJECTS)
    assert run_row["requests"] == len(first_sync["requests"]) == summary.requests
    assert groups[ANNOUNCE_KEY]["title"] == "Demo announcements"
    assert groups[ANNOUNCE_KEY]["last_synced_at"] is not None


def test_a_run_that_stored_messages_leaves_the_search_index_in_one_segment(first_sync):
    # Each of the 85 threads was its own commit; the run merged what they left.
    assert first_sync["merges"] == 1
    with Archive(first_sync["db"]) as archive:
        assert len(archive.search_index_segments()) == 1
        assert not archive.search_index_merge_due(force=True)


def test_a_sync_with_nothing_new_makes_one_request_per_group(synced_db, simulator):
    recorder = MergeRecorder()
    with make_fetcher(simulator) as fetcher:
        summary = run(synced_db, [ANNOUNCE, DEV], fetcher, progress=recorder)
        assert fetcher.requests_made == 2
    assert recorder.merges == 0  # nothing written, nothing to merge
    # A group archived before is listed through the RPC alone, from its first page.
    assert [(r.method, r.query.get("rpcids")) for r in simulator.requests] == [
        ("POST", "Dq0xse"), ("POST", "Dq0xse")]
    assert [json.loads(json.loads(r.form["f.req"])[0][0][1]) for r in simulator.requests] == [
        ["demo-announce@googlegroups.com", 30, "", [], 2], ["dev@example.org", 30, "", [], 2]]
    assert summary.exit_code == 0
    for group in summary.groups:
        assert (group.mode, group.requests, group.threads_fetched) == ("incremental", 1, 0)
        assert group.new_messages == group.changed_messages == 0
    with Archive(synced_db) as archive:
        latest = archive.list_runs(1)[0]
    assert (latest["status"], latest["requests"], latest["threads_fetched"]) == ("ok", 2, 0)


def test_a_renamed_group_gets_its_new_title_from_a_full_run(synced_db, simulator, sim_state):
    # The topic-list RPC carries no title: the daily run keeps the one it has (and its one
    # request); a --full run reads the group page first and takes the new one.
    sim_state.demo.announce.title = "Demo announcements & releases"
    with make_fetcher(simulator) as fetcher:
        run(synced_db, [ANNOUNCE], fetcher)
    with Archive(synced_db) as archive:
        assert archive.group_title(ANNOUNCE_KEY) == "Demo announcements"
    assert [r.method for r in simulator.requests] == ["POST"]
    with make_fetcher(simulator) as fetcher:
        summary = sync_groups(synced_db, targets_from_urls([ANNOUNCE], full=True),
                              fetcher=fetcher)
    assert summary.exit_code == 0 and summary.groups[0].threads_fetched == 0
    assert simulator.requests[1].method == "GET"
    with Archive(synced_db) as archive:
        assert archive.group_title(ANNOUNCE_KEY) == "Demo announcements & releases"


def test_new_messages_upstream_are_stored_exactly_once(synced_db, simulator, sim_state):
    demo = sim_state.demo
    before = {g: set(archived_ids(synced_db, g)) for g in (ANNOUNCE_KEY, DEV_KEY)}
    oldest = demo.announce.visible_topics()[-1]  # on the third topic page
    reply = sim_state.add_message(oldest, "Chen Wei", "chenwei@example.cn",
                                  '<div dir="ltr">Still relevant a year later.</div>')
    topic = sim_state.add_topic(demo.announce, "[demo-announce] Demo v1.31.0 released",
                                "Release Bot", "release-bot@demo.example",
                                '<div dir="ltr">Demo v1.31.0 is out.</div>')
    copy = sim_state.cross_post(topic, demo.dev)

    with make_fetcher(simulator) as fetcher:
        summary = run(synced_db, [ANNOUNCE, DEV], fetcher)
    announce, dev = summary.groups
    assert (announce.new_threads, announce.new_messages, announce.threads_fetched) == (1, 2, 2)
    assert (dev.new_threads, dev.new_messages, dev.cross_posts) == (1, 0, 1)
    assert announce.requests == 3 and dev.requests == 2  # no batchexecute page
    assert set(archived_ids(synced_db, ANNOUNCE_KEY)) - before[ANNOUNCE_KEY] == {
        reply.id, topic.messages[0].id}
    assert set(archived_ids(synced_db, DEV_KEY)) - before[DEV_KEY] == {copy.messages[0].id}
    assert_archived_exactly_once(synced_db, demo.announce)
    assert_archived_exactly_once(synced_db, demo.dev)
    with Archive(synced_db) as archive:
        latest = archive.list_runs(1)[0]
    assert (latest["messages_new"], latest["threads_fetched"]) == (2, 3)


def test_cross_posted_messages_are_stored_once_with_two_postings(first_sync):
    with Archive(first_sync["db"]) as archive:
        for original, copy in first_sync["state"].demo.cross_posts:
            thread = archive.get_thread(DEV_KEY, copy.id)
            first = thread["messages"][0]
            assert first["groups"] == [DEV_KEY, ANNOUNCE_KEY] or first["groups"] == sorted(
                [DEV_KEY, ANNOUNCE_KEY])
            other = archive.get_thread(ANNOUNCE_KEY, original.id)["messages"][0]
            assert other["id"] == first["id"]
            assert other["google_message_id"] != first["google_message_id"]
            postings = archive.db.execute(
                "SELECT count(*) FROM postings WHERE message_id = ?", [first["id"]]
            ).fetchone()[0]
            assert postings == 2


def test_full_walks_every_page_and_still_skips_unchanged_threads(synced_db, simulator):
    with make_fetcher(simulator) as fetcher:
        summary = sync_groups(synced_db, targets_from_urls([ANNOUNCE]), fetcher=fetcher,
                              full=True)
    [announce] = summary.groups
    assert (announce.mode, announce.topics_seen, announce.threads_fetched) == ("full", 75, 0)
    # The group page (for a renamed group's title), then the two further topic pages.
    assert [r.method for r in simulator.requests] == ["GET", "POST", "POST"]


def test_a_message_deleted_upstream_is_kept_and_marked(synced_db, simulator, sim_state):
    topic = next(t for t in sim_state.demo.announce.visible_topics()[:5] if len(t.messages) > 1)
    gone = topic.messages[-1]
    sim_state.delete_message(gone)
    with make_fetcher(simulator) as fetcher:
        summary = run(synced_db, [ANNOUNCE], fetcher)
    assert summary.groups[0].missing_messages == 1
    assert gone.id in archived_ids(synced_db, ANNOUNCE_KEY)


def test_a_thread_url_syncs_just_that_thread(tmp_path, simulator, sim_state):
    topic = sim_state.demo.announce.visible_topics()[3]
    db = tmp_path / "archive.db"
    with make_fetcher(simulator) as fetcher:
        summary = run(db, [f"{ANNOUNCE}/c/{topic.id}/m/{topic.messages[0].id}"], fetcher)
    [result] = summary.groups
    assert (result.mode, result.requests, result.new_messages) == ("thread", 1, len(
        topic.messages))
    assert set(archived_ids(db, ANNOUNCE_KEY)) == {m.id for m in topic.messages}
    with Archive(db) as archive:
        assert archive.sync_mark(ANNOUNCE_KEY) is None  # the group itself was not walked


# --- interruptions and crashes --------------------------------------------------------------


@pytest.fixture
def small():
    """A 40-topic group (two topic pages) on its own simulator."""
    state = GroupsState(seed=7)
    group = add_small_group(state, "small", 40)
    with Simulator(state) as sim:
        yield state, group, sim


SMALL = "https://groups.google.com/g/small"


def test_an_interrupted_first_run_backfills_on_the_next(small, tmp_path):
    state, group, sim = small
    db = tmp_path / "archive.db"
    stop = __import__("threading").Event()
    with make_fetcher(sim) as fetcher:
        summary = run(db, [SMALL], fetcher, stop_event=stop, progress=AfterFetched(5, stop.set))
    assert summary.interrupted and summary.exit_code == EXIT_INTERRUPTED
    assert summary.groups[0].threads_fetched == 5
    assert assert_every_thread_whole(db, group) == 5
    with Archive(db) as archive:
        assert archive.list_runs(1)[0]["status"] == "interrupted"
        assert archive.sync_mark(group.email) is None

    with make_fetcher(sim) as fetcher:
        summary = run(db, [SMALL], fetcher)
    [result] = summary.groups
    assert (result.mode, result.threads_fetched, result.threads_unchanged) == ("backfill", 35, 5)
    assert_archived_exactly_once(db, group)


def test_an_interrupted_incremental_run_does_not_hide_older_changes(small, tmp_path):
    """15 topics change; a run saves 12 of them and is stopped. The next run must not
    stop at the 12 it finds unchanged: the other 3 come after them."""
    state, group, sim = small
    db = tmp_path / "archive.db"
    with make_fetcher(sim) as fetcher:
        run(db, [SMALL], fetcher)
    for topic in group.visible_topics()[5:20]:
        state.add_message(topic, "Chen Wei", "chenwei@example.cn",
                          f'<div dir="ltr">Late reply to {topic.subject}</div>')
    stop = __import__("threading").Event()
    with make_fetcher(sim) as fetcher:
        summary = run(db, [SMALL], fetcher, stop_event=stop,
                      progress=AfterFetched(12, stop.set))
    assert summary.interrupted and summary.groups[0].threads_fetched == 12
    sim.clear_requests()
    with make_fetcher(sim) as fetcher:
        summary = run(db, [SMALL], fetcher)
    [result] = summary.groups
    assert result.threads_fetched == 3 and result.new_messages == 3
    assert result.topics_seen == 15 + UNCHANGED_LIMIT  # then it stopped: page 1 only
    assert [r.method for r in sim.requests].count("POST") == 1
    assert_archived_exactly_once(db, group)


@pytest.mark.parametrize("crash", ["reset", "server stopped"])
def test_a_network_failure_mid_run_loses_nothing(crash, tmp_path):
    state = GroupsState(seed=3)
    group = add_small_group(state, "small", 40)
    db = tmp_path / "archive.db"
    sim = Simulator(state).start()
    try:
        def break_network():
            if crash == "reset":
                sim.fault("reset")
            else:
                sim.stop()

        sleeps: list[float] = []
        with Fetcher(sim.base_url, delay=0, sleep=sleeps.append) as fetcher:
            summary = run(db, [SMALL], fetcher, progress=AfterFetched(12, break_network))
        [result] = summary.groups
        assert result.status == "failed" and summary.exit_code == EXIT_NETWORK
        assert result.threads_fetched == 12
        assert len(result.errors) == MAX_FAILED_THREADS_IN_A_ROW + 1  # 3 threads, then gave up
        assert sleeps  # the fetcher retried before giving up
        assert assert_every_thread_whole(db, group) == 12
        with Archive(db) as archive:
            latest = archive.list_runs(1)[0]
            assert latest["status"] == "failed" and latest["errors"]
            assert archive.sync_mark(group.email) is None
        sim.stop()
        sim = Simulator(state).start()  # the network is back (on a new port)
        with make_fetcher(sim) as fetcher:
            summary = run(db, [SMALL], fetcher)
        assert summary.exit_code == 0
        assert summary.groups[0].threads_fetched == 40 - 12
        assert_archived_exactly_once(db, group)
        assert integrity_ok(db)
    finally:
        sim.stop()


def test_a_second_sync_while_one_runs_is_refused_at_once(synced_db, simulator):
    with archive_lock(synced_db), make_fetcher(simulator) as fetcher:
        with pytest.raises(ArchiveLocked, match="another listarchive sync is running") as info:
            run(synced_db, [ANNOUNCE], fetcher)
        assert fetcher.requests_made == 0
    assert info.value.exit_code == 10
    with Archive(synced_db) as archive:
        assert len(archive.list_runs()) == 1  # no run was even started


def test_a_run_left_running_by_a_killed_process_is_closed(synced_db, simulator):
    with Archive(synced_db) as archive:
        stale = archive.start_run([ANNOUNCE], datetime(2025, 1, 1, tzinfo=UTC))
    with make_fetcher(simulator) as fetcher:
        run(synced_db, [ANNOUNCE], fetcher)
    with Archive(synced_db) as archive:
        runs = {r["id"]: r for r in archive.list_runs()}
    assert runs[stale]["status"] == "interrupted"
    assert runs[stale]["finished_at"] is not None


# --- failures and exit codes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "code", "message"),
    [
        ("private", EXIT_ACCESS, "access denied"),
        ("signin", EXIT_ACCESS, "sign-in required"),
        ("missing", EXIT_NOT_FOUND, "not found"),
        ("429", EXIT_RATE_LIMITED, "rate limited"),
        ("500", EXIT_NETWORK, "HTTP 500"),
        ("layout", EXIT_LAYOUT_CHANGED, "no topic-list JSON"),
    ],
)
def test_each_failure_has_its_own_exit_code(setup, code, message, tmp_path):
    state = GroupsState()
    group = add_small_group(state, "g", 31 if setup == "layout" else 3,
                            private=setup == "private")
    with Simulator(state) as sim:
        if setup in ("signin", "429", "500"):
            sim.fault(setup)
        if setup == "missing":
            state.groups.remove(group)
        if setup == "layout":  # a group page without its JSON, and an RPC that refuses
            sim.fault("no_json", path=r"^/g/g$")
            sim.fault("rpc_error")
        with make_fetcher(sim) as fetcher:
            summary = run(tmp_path / "a.db", ["https://groups.google.com/g/g"], fetcher,
                          report_dir=tmp_path / "reports")
    [result] = summary.groups
    assert result.status == "failed" and summary.status == "failed"
    assert summary.exit_code == result.exit_code == code
    assert message in result.errors[0]
    assert "FAILED" in result.summary_line() and message in result.summary_line()
    if setup == "layout":
        # threads listed before the layout problem are kept
        assert assert_every_thread_whole(tmp_path / "a.db", group) == 30
        assert list((tmp_path / "reports").iterdir())


def test_one_failed_group_does_not_stop_the_others(tmp_path):
    state = GroupsState()
    add_small_group(state, "secret", 3, private=True)
    good = add_small_group(state, "good", 4)
    db = tmp_path / "a.db"
    with Simulator(state) as sim, make_fetcher(sim) as fetcher:
        summary = run(db, ["https://groups.google.com/g/secret",
                           "https://groups.google.com/g/good"], fetcher)
    assert summary.exit_code == EXIT_PARTIAL and summary.status == "partial"
    assert [g.status for g in summary.groups] == ["failed", "ok"]
    assert_archived_exactly_once(db, good)
    with Archive(db) as archive:
        latest = archive.list_runs(1)[0]
    assert latest["status"] == "partial"
    assert latest["errors"][0].startswith("secret@googlegroups.com: access denied")


def test_groups_that_all_fail_the_same_way_give_that_code(tmp_path):
    state = GroupsState()
    add_small_group(state, "a", 1, private=True)
    add_small_group(state, "b", 1, private=True)
    with Simulator(state) as sim, make_fetcher(sim) as fetcher:
        summary = run(tmp_path / "a.db", ["a", "b"], fetcher)
    assert (summary.status, summary.exit_code) == ("failed", EXIT_ACCESS)


def test_a_group_page_without_its_json_still_archives_every_topic(tmp_path):
    state = GroupsState()
    group = add_small_group(state, "g", 35)
    db = tmp_path / "a.db"
    with Simulator(state) as sim:
        sim.fault("no_json", path=r"^/g/g$")
        with make_fetcher(sim) as fetcher:
            summary = run(db, ["g"], fetcher)
    assert summary.exit_code == 0
    assert summary.groups[0].threads_fetched == 35
    assert_archived_exactly_once(db, group)
    newest = group.visible_topics()[0]
    with Archive(db) as archive:
        # the exact time from the thread, not the HTML row's day
        assert archive.thread_state(group.email, newest.id).last_activity_at == (
            newest.last_activity_at)
        assert archive.sync_mark(group.email) == newest.last_activity_at


# --- options and units ------------------------------------------------------------------------


def test_a_group_delay_applies_to_that_group_only(tmp_path):
    state = GroupsState()
    add_small_group(state, "slow", 2)
    add_small_group(state, "fast", 2)
    clock = FakeTime()
    with Simulator(state) as sim, Fetcher(sim.base_url, delay=0.5, sleep=clock.sleep,
                                          clock=clock.clock) as fetcher:
        targets = [SyncTarget(targets_from_urls(["slow"])[0].ref, delay=30.0),
                   *targets_from_urls(["fast"])]
        sync_groups(tmp_path / "a.db", targets, fetcher=fetcher)
        assert fetcher.delay == 0.5
    # 3 requests per group: two waits inside "slow", one on entering "fast", two inside it
    assert clock.sleeps == [30.0, 30.0, 0.5, 0.5, 0.5]


def test_duplicate_targets_are_synced_once(tmp_path):
    state = GroupsState()
    group = add_small_group(state, "g", 2)
    topic = group.visible_topics()[0]
    with Simulator(state) as sim, make_fetcher(sim) as fetcher:
        summary = run(tmp_path / "a.db", ["g", "g@googlegroups.com",
                                          f"https://groups.google.com/g/g/c/{topic.id}"], fetcher)
    assert [g.group for g in summary.groups] == ["g@googlegroups.com"]


def _topic(count=3, activity=datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)):
    return Topic(id="t", subject="s", last_activity_at=activity, message_count=count)


def _state(count=3, activity=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)):
    return ThreadState(last_activity_at=activity, message_count=count, messages_seen=count,
                       complete=True)


def test_topic_unchanged():
    assert topic_unchanged(_topic(), _state())  # the archive keeps whole seconds
    assert not topic_unchanged(_topic(), None)
    assert not topic_unchanged(_topic(count=4), _state())
    assert not topic_unchanged(_topic(activity=datetime(2025, 1, 2, 3, 4, 6, tzinfo=UTC)),
                               _state())
    # A row whose time is unusable (absent, or out of range and read as none): the count
    # decides, or an odd row would make every run fetch its thread again.
    assert topic_unchanged(_topic(activity=None), _state())
    assert not topic_unchanged(_topic(count=4, activity=None), _state())
    assert not topic_unchanged(_topic(count=None), _state())
    # HTML rows: the day in an unknown timezone, so only the count decides
    day = datetime(2025, 1, 2, tzinfo=UTC) - timedelta(days=1)
    assert topic_unchanged(_topic(activity=day), _state(), exact_times=False)
    assert not topic_unchanged(_topic(count=4, activity=day), _state(), exact_times=False)
