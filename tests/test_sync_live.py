"""Sync against the simulator serving what the live service serves
(google-groups-evidence-2026.md): topic fields [4]/[5], escaped titles, deleted messages,
gone threads, null last pages, long threads through H08Fi, and odd data that must stay a
one-thread problem. Real SQLite files, a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from archive.db import Archive
from archive.export import render_thread_text, thread_to_markdown
from archive.progress import TerminalProgress
from archive.sync import sync_groups, targets_from_urls
from scraper.crawl import Crawler
from scraper.errors import EXIT_LAYOUT_CHANGED, EXIT_OK, EXIT_PARTIAL, RedirectedAway
from scraper.http import Fetcher
from scraper.models import GroupRef
from scraper.pages import parse_group_page, parse_thread_page
from tests.helpers.pages import NEURO, NEURO_EMAIL, neuro_thread_page, neuro_topics, page_with
from tests.simulator import GroupsState, Simulator

T0 = datetime(2022, 7, 27, 10, 0, tzinfo=UTC)


def make_fetcher(sim: Simulator) -> Fetcher:
    return Fetcher(sim.base_url, delay=0, sleep=lambda seconds: None)


def run(db: Path, urls: list[str], sim: Simulator, tmp_path: Path):
    with make_fetcher(sim) as fetcher:
        return sync_groups(db, targets_from_urls(urls), fetcher=fetcher,
                           report_dir=tmp_path / "reports")


def add_group(state: GroupsState, name: str, topics: int):
    group = state.add_group(name, title=f"Group {name}")
    for i in range(topics):
        topic = state.add_topic(group, f"{name} topic {i}", "Ann Author", "ann@example.com",
                                f'<div dir="ltr">{name} opening {i}</div>')
        if i % 3 == 0:
            state.add_message(topic, "Bob Builder", "bob@example.net",
                              f'<div dir="ltr">{name} reply to {i}</div>')
    return group


def postings(db: Path, group_key: str) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT p.google_message_id, m.author, p.missing_since FROM postings p"
            " JOIN messages m ON m.id = p.message_id WHERE p.group_key = ?", (group_key,)
        ).fetchall()


def assert_good_threads_once(db: Path, group, bad_ids: set[str]) -> None:
    """Every thread of ``group`` but the bad ones is archived once, message by message."""
    with sqlite3.connect(db) as conn:
        threads = [row[0] for row in conn.execute(
            "SELECT topic_id FROM threads WHERE group_key = ?", (group.email,))]
    expected = {t.id for t in group.visible_topics()} - bad_ids
    assert sorted(threads) == sorted(expected)
    ids = [row[0] for row in postings(db, group.email)]
    assert len(ids) == len(set(ids))
    assert set(ids) == {m.id for t in group.visible_topics() if t.id not in bad_ids
                        for m in t.messages}


@pytest.fixture
def state() -> GroupsState:
    return GroupsState(seed=11)


@pytest.fixture
def sim(state):
    with Simulator(state) as running:
        yield running


# --- thread dates and list fields ---------------------------------------------------------


def test_a_thread_is_dated_by_its_first_message_not_its_last_reply(state, sim, tmp_path):
    group = state.add_group("dates", title="Dates")
    topic = state.add_topic(group, "Opening", "Ann", "ann@example.com", "<p>first</p>", T0)
    state.add_message(topic, "Bob", "bob@example.com", "<p>reply</p>",
                      datetime(2022, 12, 8, 9, tzinfo=UTC))
    db = tmp_path / "a.db"
    assert run(db, ["https://groups.google.com/g/dates"], sim, tmp_path).exit_code == 0
    with Archive(db) as archive:
        thread = archive.get_thread("dates@googlegroups.com", topic.id)
    assert thread["created_at"] == "2022-07-27T10:00:00Z"
    assert thread["last_activity_at"] == "2022-12-08T09:00:00Z"
    assert "date: 2022-07-27" in thread_to_markdown(thread)


def test_list_titles_and_snippets_are_unescaped_exactly_once(state, sim):
    group = state.add_group("escapes", title="Escapes")
    state.add_topic(group, "Q&A", "Ann", None, "<p>Fish &amp; chips</p>")
    state.add_topic(group, "&amp;", "Ann", None, "<p>it's &amp;amp; here</p>")
    with make_fetcher(sim) as fetcher:
        topics = {t.subject: t for t in Crawler(fetcher).iter_topics(GroupRef("escapes"))}
    assert set(topics) == {"Q&A", "&amp;"}
    assert topics["Q&A"].snippet == "Fish & chips"
    assert topics["&amp;"].snippet == "it's &amp; here"


def test_every_real_multi_message_topic_is_dated_by_its_first_message(tmp_path):
    topics = neuro_topics()  # skips when the shared fixtures are absent
    rows = [[["1", t["id"], t["title"], t["snippet"], [t["last_activity_ts"], 0],
              [t["created_ts"], 0], t["num_messages"], None, None, [[], 0]]] for t in topics]
    listing = parse_group_page(
        page_with([["1", NEURO_EMAIL], len(rows), rows, None], "Dq0xse", "ds:7", "Groups"),
        NEURO,
    )
    multi = 0
    with Archive(tmp_path / "neuro.db") as archive:
        for topic, source in zip(listing.topics, topics, strict=True):
            page = neuro_thread_page(source["id"], source["title"], source["num_messages"],
                                     source["messages"])
            thread = parse_thread_page(page, NEURO.thread(source["id"]))
            archive.save_thread(thread, topic, seen_at=datetime.now(UTC))
            stored = archive.get_thread(NEURO_EMAIL, source["id"])
            first = min(int(m["created_ts"]) for m in source["messages"])
            assert stored["created_at"] == datetime.fromtimestamp(first, UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ")
            if source["num_messages"] > 1:
                multi += 1
                # The row's field [5] (the data set's "created") is a later post.
                assert stored["created_at"] < source["created"]
    assert multi >= 1


def test_the_repair_migration_dates_old_threads_by_their_first_message(tmp_path):
    db = tmp_path / "old.db"
    with Archive(db) as archive:
        conn = archive.db.conn
        conn.execute("INSERT INTO groups (key, name, url) VALUES ('g@x', 'g', 'u')")
        conn.execute(
            "INSERT INTO threads (group_key, topic_id, created_at, url, first_seen_at,"
            " fetched_at) VALUES ('g@x', 'tTTTTTTTTTT', '2022-12-08T09:00:00Z', 'u', 'n', 'n')")
        for n, when in enumerate(["2022-07-27T10:00:00Z", "2022-12-08T09:00:00Z"]):
            conn.execute(
                "INSERT INTO messages (id, posted_at, fingerprint, first_seen_at, last_seen_at)"
                " VALUES (?, ?, 'f', 'n', 'n')", (n + 1, when))
            conn.execute(
                "INSERT INTO postings (message_id, group_key, thread_id, topic_id,"
                " google_message_id, position, url, first_seen_at, last_seen_at)"
                " VALUES (?, 'g@x', 1, 'tTTTTTTTTTT', ?, ?, 'u', 'n', 'n')",
                (n + 1, f"m{n}", n))
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = ?",
                     ("m009_thread_dates_and_topic_problems",))
        conn.execute("ALTER TABLE threads DROP COLUMN gone_since")
        conn.execute("DROP TABLE topic_problems")
        conn.commit()
    with Archive(db) as archive:
        assert archive.get_thread("g@x", "tTTTTTTTTTT")["created_at"] == "2022-07-27T10:00:00Z"


# --- deleted messages and gone threads -------------------------------------------------------


def test_deleted_messages_are_never_new_and_archived_ones_are_marked(state, sim, tmp_path):
    group = add_group(state, "del", 6)
    early = group.visible_topics()[0]
    spam = state.add_message(early, "Spammer", "spam@example.com", "<p>Buy!</p>")
    state.delete_message(spam)  # deleted before it was ever archived
    later = next(t for t in group.visible_topics() if len(t.messages) > 1 and t is not early)
    db = tmp_path / "d.db"
    url = "https://groups.google.com/g/del"
    first = run(db, [url], sim, tmp_path)
    assert first.exit_code == 0
    assert spam.id not in {row[0] for row in postings(db, group.email)}
    assert all(author for _, author, _ in postings(db, group.email))

    gone = later.messages[-1]
    state.delete_message(gone)
    second = run(db, [url], sim, tmp_path)
    [result] = second.groups
    assert (result.missing_messages, result.new_messages, result.changed_messages) == (1, 0, 0)
    rows = {mid: (author, missing) for mid, author, missing in postings(db, group.email)}
    assert rows[gone.id][0] == "Bob Builder" and rows[gone.id][1] is not None
    with Archive(db) as archive:
        thread = archive.get_thread(group.email, later.id)
    assert "deleted upstream" in render_thread_text(thread)
    # The list's count leaves the deleted message out, as the thread's does: no refetch.
    third = run(db, [url], sim, tmp_path)
    assert third.groups[0].threads_fetched == 0


def test_a_gone_thread_is_recorded_kept_and_not_fetched_again(state, sim, tmp_path):
    group = add_group(state, "gone", 5)
    db = tmp_path / "g.db"
    url = "https://groups.google.com/g/gone"
    run(db, [url], sim, tmp_path)
    archived = group.visible_topics()[1]
    never = state.add_topic(group, "Spam", "Spammer", None, "<p>spam</p>")
    # A reply, then the thread went; the list still shows its row with the reply.
    state.add_message(archived, "Cy", None, "<p>a reply</p>")
    state.delete_topic(archived, still_listed=True)
    state.delete_topic(never, still_listed=True)
    other = state.add_topic(group, "Fresh", "Ann", None, "<p>fresh</p>")
    summary = run(db, [url, "https://groups.google.com/g/other-absent"], sim, tmp_path)
    result = summary.groups[0]
    assert result.status == "ok" and sorted(result.gone_threads) == sorted(
        [archived.id, never.id])
    assert result.new_threads == 1 and "2 threads gone upstream" in result.summary_line()
    assert summary.groups[1].status == "failed"  # an unknown group, still reported
    with Archive(db) as archive:
        kept = archive.get_thread(group.email, archived.id)
        assert kept["gone_since"] is not None and len(kept["messages"]) >= 1
        assert "Gone upstream since" in render_thread_text(kept)
        assert archive.get_thread(group.email, never.id) is None
        assert archive.get_thread(group.email, other.id) is not None
    sim.clear_requests()
    again = run(db, [url], sim, tmp_path)
    assert again.exit_code == 0 and again.groups[0].gone_threads == []
    paths = [r.path for r in sim.requests]
    assert not any(archived.id in p or never.id in p for p in paths)


def test_a_gone_thread_alone_exits_zero(state, sim, tmp_path):
    group = add_group(state, "alone", 2)
    topic = group.visible_topics()[0]
    state.delete_topic(topic)
    summary = run(tmp_path / "t.db", [topic.url], sim, tmp_path)
    assert summary.exit_code == EXIT_OK and summary.groups[0].gone_threads == [topic.id]


def test_a_thread_redirected_off_google_groups_is_gone_too(state, sim, tmp_path):
    group = add_group(state, "away", 3)
    db = tmp_path / "a.db"
    url = "https://groups.google.com/g/away"
    run(db, [url], sim, tmp_path)
    archived = group.visible_topics()[0]
    state.add_message(archived, "Cy", None, "<p>a reply</p>")
    state.delete_topic(archived, still_listed=True, redirect_to="https://www.example.com/policy")
    summary = run(db, [url], sim, tmp_path)
    assert summary.exit_code == EXIT_OK
    assert summary.groups[0].gone_threads == [archived.id]
    with Archive(db) as archive:
        assert archive.get_thread(group.email, archived.id)["gone_since"] is not None
    # To the fetcher a redirect off the site stays an error of its own: only a
    # thread's fetch reads it as the thread being gone.
    with Fetcher(base_url=sim.base_url, delay=0) as fetcher, pytest.raises(RedirectedAway):
        fetcher.get(f"/g/away/c/{archived.id}")


# --- list pages and long threads ----------------------------------------------------------------


@pytest.mark.parametrize("topics", [30, 60])
def test_a_null_last_page_ends_the_walk_cleanly(state, sim, tmp_path, topics):
    group = add_group(state, "nulls", topics)
    group.null_last_page = True
    db = tmp_path / "n.db"
    summary = run(db, ["https://groups.google.com/g/nulls"], sim, tmp_path)
    assert summary.exit_code == 0 and summary.groups[0].walked_to_end
    assert_good_threads_once(db, group, set())
    # The next run lists through the RPC from its first page, and ends the same way.
    assert run(db, ["https://groups.google.com/g/nulls"], sim, tmp_path).exit_code == 0


def test_a_long_thread_unread_past_its_page_stays_marked_incomplete(state, sim, tmp_path):
    group = state.add_group("long", title="Long")
    topic = state.add_topic(group, "Long one", "Ann", None, "<p>0</p>", T0)
    for n in range(1, 130):
        state.add_message(topic, "Bob", None, f"<p>{n}</p>")
    sim.fault("rpc_error")  # H08Fi refuses: only the page's 100 messages can be read
    db = tmp_path / "l.db"
    summary = run(db, ["https://groups.google.com/g/long"], sim, tmp_path)
    [result] = summary.groups
    assert summary.exit_code == 0
    assert result.incomplete_threads == [f"{topic.id} (100 of 130 messages)"]
    assert "1 incomplete" in result.summary_line()
    with Archive(db) as archive:
        thread = archive.get_thread(group.email, topic.id)
    assert thread["complete"] is False
    note = "Incomplete: the archive holds 100 of the 130 messages"
    assert note in render_thread_text(thread)
    assert note in thread_to_markdown(thread)
    sim.clear_faults()
    topic_reply = state.add_message(topic, "Cy", None, "<p>late</p>")
    summary = run(db, ["https://groups.google.com/g/long"], sim, tmp_path)
    assert summary.groups[0].incomplete_threads == []
    with Archive(db) as archive:
        thread = archive.get_thread(group.email, topic.id)
    assert thread["complete"] is True and len(thread["messages"]) == 131
    assert thread["messages"][-1]["google_message_id"] == topic_reply.id
    assert thread_to_markdown(thread).count("Incomplete") == 0


# --- odd data: one thread's problem ----------------------------------------------------------

ODD_ROWS = {
    "control char in topic id": ("row", {1: '"abc\\u0001defghi"'}),
    "count of 1e30": ("row", {6: "1e30"}),
    "huge integer count": ("row", {6: "1" + "0" * 30}),
    "JSON nested 200,000 deep": ("message", {10: "[" * 200_000 + "]" * 200_000}),
}


@pytest.mark.parametrize("case", sorted(ODD_ROWS))
def test_odd_data_is_a_one_thread_problem(state, sim, tmp_path, case):
    where, raw = ODD_ROWS[case]
    bad_group = add_group(state, "odd", 6)
    good_group = add_group(state, "fine", 4)
    bad = bad_group.visible_topics()[2]
    if where == "row":
        bad.raw_row = raw
    else:
        bad.messages[0].raw_meta = raw
    urls = ["https://groups.google.com/g/odd", "https://groups.google.com/g/fine"]
    db = tmp_path / "o.db"
    summary = run(db, urls, sim, tmp_path)
    odd, fine = summary.groups
    expected_skips = {bad.id}
    assert fine.status == "ok" and odd.status == "ok"
    assert_good_threads_once(db, good_group, set())
    assert_good_threads_once(db, bad_group, expected_skips)
    assert summary.exit_code == EXIT_PARTIAL
    [problem] = odd.problems
    assert "saved to" in problem
    saved = Path(problem.rsplit("saved to ", 1)[1].split(";")[0].strip())
    assert saved.is_file() and saved.stat().st_size > 0
    assert odd.skipped_threads == 1 and "skipped:" in odd.summary_line()
    with Archive(db) as archive:
        assert archive.list_runs(1)[0]["errors"] == [f"odd@googlegroups.com: skipped: {problem}"]
    quiet = io.StringIO()
    TerminalProgress(bar=False, summaries=False, file=quiet).group_finished(odd)
    assert quiet.getvalue() == odd.summary_line() + "\n"

    # The next run neither fetches it nor reports it again while its row is unchanged.
    sim.clear_requests()
    again = run(db, urls, sim, tmp_path)
    assert again.exit_code == EXIT_OK
    assert again.groups[0].problems == [] and again.groups[0].skipped_threads == 1
    assert not any(f"/c/{bad.id}" in r.path for r in sim.requests)
    assert_good_threads_once(db, bad_group, expected_skips)


def test_a_row_time_of_1e30_is_no_time_and_not_a_fetch_every_run(state, sim, tmp_path):
    group = add_group(state, "epoch", 4)
    topic = group.visible_topics()[1]
    topic.raw_row = {4: "[1e30,0]", 5: "[1e30,0]"}
    db = tmp_path / "e.db"
    url = ["https://groups.google.com/g/epoch"]
    assert run(db, url, sim, tmp_path).exit_code == EXIT_OK
    assert_good_threads_once(db, group, set())
    sim.clear_requests()
    again = run(db, url, sim, tmp_path)
    assert again.exit_code == EXIT_OK and again.groups[0].threads_fetched == 0
    assert not any(f"/c/{topic.id}" in r.path for r in sim.requests)


def test_lone_surrogates_and_odd_message_times_are_read_not_fatal(state, sim, tmp_path):
    group = add_group(state, "surr", 3)
    topic = group.visible_topics()[0]
    topic.raw_row = {2: '"\\ud800 listed"'}
    # A lone surrogate in a subject; a post time's nanoseconds out of range.
    topic.messages[0].raw_meta = {5: '"\\udc00 subject"', 8: "[1600000000," + "9" * 30 + "]"}
    db = tmp_path / "s.db"
    summary = run(db, ["https://groups.google.com/g/surr"], sim, tmp_path)
    assert summary.exit_code == 0
    assert_good_threads_once(db, group, set())
    with Archive(db) as archive:
        thread = archive.get_thread(group.email, topic.id)
    assert thread["messages"][0]["subject"] == "\ufffd subject"
    assert thread["messages"][0]["posted_at"] == "2020-09-13T12:26:40Z"
    json.dumps(thread, ensure_ascii=False).encode("utf-8")  # no lone surrogate left


# --- the parsers at their boundary ----------------------------------------------------------


def batch_reply(rpc_id: str, payload) -> str:
    return ")]}'\n\n" + json.dumps([["wrb.fr", rpc_id, json.dumps(payload), None, None, None,
                                     "generic"]])


def test_null_rows_and_null_lists_read_as_an_empty_end():
    from scraper.models import Group
    from scraper.pages import parse_batchexecute

    group = Group(GroupRef("g"), None, "g@googlegroups.com")
    row = [["1", "abcdefghijk", "T", "S", [1700000000, 0], [1700000000, 0], 1]]
    for rows, count in ((None, 0), ([None, row, None], 1), ([], 0)):
        page = parse_batchexecute(batch_reply("Dq0xse", [["1", "g@x"], 5, rows]), group)
        assert len(page.topics) == count and page.next_token is None
    page = parse_batchexecute(batch_reply("Dq0xse", [["1", "g@x"], 5]), group)
    assert page.topics == ()


def test_odd_rows_are_rejected_with_a_stable_fingerprint_and_a_printable_id():
    from scraper.models import Group
    from scraper.pages import parse_batchexecute

    group = Group(GroupRef("g"), None, "g@googlegroups.com")
    good = [["1", "abcdefghijk", "Q&amp;A", "", [1700000000, 0], None, 2]]
    odd = [["1", "bad\u0001id\u202e", "x", "", None, None, 1]]
    huge = [["1", "hugecount00", "x", "", None, None, 10**30]]
    page = parse_batchexecute(batch_reply("Dq0xse", [["1", "g@x"], 3, [good, odd, huge]]), group)
    assert [t.subject for t in page.topics] == ["Q&A"]
    assert [r.id for r in page.rejected] == ["bad\\x01id\\u202e", "hugecount00"]
    again = parse_batchexecute(batch_reply("Dq0xse", [["1", "g@x"], 3, [odd]]), group)
    assert again.rejected[0].fingerprint == page.rejected[0].fingerprint


def test_the_thread_rpc_reply_reads_like_the_page_and_gives_its_token():
    from scraper.pages import parse_thread_rpc

    ref = GroupRef("g").thread("abcdefghijk")
    meta = ["1", "mAAAAAAAAAAJ", [["Ann", None, None, "1"]], 0, None, "S", "s",
            [1700000000, 0], [1700000000, 0]]
    deleted = ["1", "mBBBBBBBBBAJ", [], 0, None, "", "", [1700000001, 0], [1700000001, 0]]
    payload = [["1", "g@googlegroups.com"], ["1", "abcdefghijk", "S", None, None, None, 1],
               [[[meta, [2, [[1, [None, "<p>hi</p>"]]]]]], [[deleted]]], "next-token"]
    thread, token = parse_thread_rpc(batch_reply("H08Fi", payload), ref)
    assert [m.id for m in thread.messages] == ["mAAAAAAAAAAJ"]
    assert thread.deleted_ids == ("mBBBBBBBBBAJ",) and thread.complete
    assert token == "next-token" and thread.messages[0].masked_address is None
    payload[3:] = []
    assert parse_thread_rpc(batch_reply("H08Fi", payload), ref)[1] is None


def test_a_deleted_message_on_a_page_without_json(state, sim):
    group = add_group(state, "nojson", 3)
    topic = next(t for t in group.visible_topics() if len(t.messages) > 1)
    gone = topic.messages[1]
    state.delete_message(gone)
    sim.fault("no_json")
    with make_fetcher(sim) as fetcher:
        thread = Crawler(fetcher).fetch_thread(GroupRef("nojson").thread(topic.id))
    assert thread.source == "dom" and thread.deleted_ids == (gone.id,)
    assert gone.id not in [m.id for m in thread.messages]


def test_the_wire_cost_bench_runs_on_a_tiny_group():
    from bench.wire_cost import measure

    for rpc_threads in (False, True):
        figures = measure(topics=3, messages=2, long_threads=1, rpc_threads=rpc_threads)
        assert figures["archived_messages"] == figures["upstream_messages"] == 256
        assert figures["incomplete_threads"] == 0 and figures["rpc_threads"] is rpc_threads
        assert figures["sync_nothing_new"]["requests"] == 1
        assert figures["first_sync"]["bytes"] > figures["sync_nothing_new"]["bytes"] > 0


def test_a_thread_count_that_takes_in_deleted_messages_is_not_incomplete(
    state, sim, tmp_path, monkeypatch
):
    # Whether the thread's own count [1][6] leaves deleted messages out is not shown
    # by any source: a count that includes them must not keep the thread incomplete
    # nor make every run fetch it.
    from tests.simulator import render

    group = add_group(state, "counts", 4)
    topic = next(t for t in group.visible_topics() if len(t.messages) > 1)
    state.delete_message(state.add_message(topic, "Spammer", None, "<p>spam</p>"))
    original = render.thread_data

    def counting_deleted(group_, topic_, messages, served, token=None):
        data = original(group_, topic_, messages, served, token)
        data[1][6] = len(topic_.messages) + len(topic_.deleted)
        return data

    monkeypatch.setattr(render, "thread_data", counting_deleted)
    db = tmp_path / "c.db"
    url = ["https://groups.google.com/g/counts"]
    assert run(db, url, sim, tmp_path).groups[0].incomplete_threads == []
    assert run(db, url, sim, tmp_path).groups[0].threads_fetched == 0
    with Archive(db) as archive:
        assert archive.get_thread(group.email, topic.id)["complete"] is True


def test_three_unreadable_threads_in_a_row_stop_the_group_and_are_not_skipped_later(
    state, sim, tmp_path
):
    group = add_group(state, "drift", 6)
    broken = group.visible_topics()[1:4]
    for topic in broken:
        topic.messages[0].raw_meta = {10: "[" * 200_000 + "]" * 200_000}
    db = tmp_path / "d.db"
    url = ["https://groups.google.com/g/drift"]
    summary = run(db, url, sim, tmp_path)
    assert summary.exit_code == EXIT_LAYOUT_CHANGED and summary.groups[0].problems == []
    with Archive(db) as archive:
        assert all(archive.topic_problem(group.email, t.id) is None for t in broken)
    for topic in broken:  # Google's pages are readable again (or listarchive learnt them)
        topic.messages[0].raw_meta = {}
    assert run(db, url, sim, tmp_path).exit_code == EXIT_OK
    assert_good_threads_once(db, group, set())


def test_a_new_release_tries_skipped_threads_again(state, sim, tmp_path, monkeypatch):
    import archive.sync

    group = add_group(state, "release", 4)
    bad = group.visible_topics()[1]
    bad.messages[0].raw_meta = {10: "[" * 200_000 + "]" * 200_000}
    db = tmp_path / "r.db"
    url = ["https://groups.google.com/g/release"]
    assert run(db, url, sim, tmp_path).exit_code == EXIT_PARTIAL
    bad.messages[0].raw_meta = {}
    assert run(db, url, sim, tmp_path).groups[0].threads_fetched == 0  # same row: skipped
    monkeypatch.setattr(archive.sync, "__version__", "99.0")
    again = run(db, url, sim, tmp_path)
    assert again.exit_code == EXIT_OK and again.groups[0].threads_fetched == 1
    assert_good_threads_once(db, group, set())
    with Archive(db) as archive:
        assert archive.topic_problem(group.email, bad.id) is None


def test_the_html_fallback_validates_ids_too():
    from scraper.errors import LayoutChanged
    from tests.simulator import Site
    from tests.simulator.render import Variant

    state = GroupsState(seed=2)
    group = add_group(state, "html", 2)
    site = Site(state)
    topic = group.visible_topics()[0]
    listing = site.respond("GET", "/g/html", variant=Variant(json=False)).body.decode()
    listing = listing.replace(f'data-rowid="{topic.id}"', 'data-rowid="bad id"')
    listed = parse_group_page(listing, GroupRef("html"))
    assert listed.source == "dom" and [r.id for r in listed.rejected] == ["bad id"]
    assert topic.id not in [t.id for t in listed.topics] and len(listed.topics) == 1
    thread = site.respond("GET", topic.path, variant=Variant(json=False)).body.decode()
    thread = thread.replace(f'data-doc-id="{topic.messages[0].id}"', 'data-doc-id="m/../x"')
    with pytest.raises(LayoutChanged, match="not shaped like Google's"):
        parse_thread_page(thread, GroupRef("html").thread(topic.id))
