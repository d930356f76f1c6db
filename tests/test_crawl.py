"""The Crawler against the Google Groups simulator (a real server on 127.0.0.1)."""

from __future__ import annotations

import json
import logging
from itertools import islice

import pytest

from scraper.crawl import BATCHEXECUTE_PATH, Crawler, save_page_for_report
from scraper.errors import LayoutChanged, NetworkError, ParserBug, RpcError, ThreadGone
from scraper.http import Fetcher, Page
from scraper.models import GroupRef
from tests.helpers.http import FakeTime, Reply, ScriptedServer

ANNOUNCE = GroupRef("demo-announce")
DEV = GroupRef("dev", "example.org")


@pytest.fixture
def fake_time():
    return FakeTime()


@pytest.fixture
def fetcher(simulator, fake_time):
    with Fetcher(base_url=simulator.base_url, delay=0, timeout=5,
                 sleep=fake_time.sleep, clock=fake_time.clock) as f:
        yield f


@pytest.fixture
def crawler(fetcher, tmp_path):
    return Crawler(fetcher, report_dir=tmp_path / "reports")


def state_topic_ids(state, name, domain=None):
    group = state.find_group(name, domain)
    return {topic.id for topic in group.topics}


def test_every_topic_exactly_once_across_three_pages(crawler, simulator, sim_state):
    pages = list(crawler.iter_topic_pages(ANNOUNCE))
    assert [len(page.topics) for page in pages] == [30, 30, 15]
    assert [page.source for page in pages] == ["json"] * 3
    ids = [topic.id for page in pages for topic in page.topics]
    assert len(ids) == len(set(ids)) == 75
    assert set(ids) == state_topic_ids(sim_state, "demo-announce")
    activity = [topic.last_activity_at for page in pages for topic in page.topics]
    assert activity == sorted(activity, reverse=True)
    assert pages[0].group.email == "demo-announce@googlegroups.com"
    assert pages[0].group.total_topics == 75
    methods = [(r.method, r.path) for r in simulator.requests]
    assert methods == [("GET", "/g/demo-announce")] + [("POST", BATCHEXECUTE_PATH)] * 2


def test_batchexecute_requests_carry_the_page_tokens(crawler, simulator):
    first = crawler.fetch_group_page(ANNOUNCE)
    list(crawler.iter_topics(ANNOUNCE))
    posts = [r for r in simulator.requests if r.method == "POST"]
    assert len(posts) == 2
    for post in posts:
        assert post.query["rpcids"] == "Dq0xse"
        assert post.query["source-path"] == "/g/demo-announce"
        assert post.query["hl"] == "en"
        assert post.query["f.sid"] == first.tokens.f_sid
        assert post.query["bl"] == first.tokens.bl
        assert post.form["at"] == first.tokens.at
        assert "demo-announce@googlegroups.com" in post.form["f.req"]
    assert first.next_token in posts[0].form["f.req"]
    assert first.next_token not in posts[1].form["f.req"]


def test_workspace_group_fits_on_one_page(crawler, simulator, sim_state):
    topics = list(crawler.iter_topics(DEV))
    assert {t.id for t in topics} == state_topic_ids(sim_state, "dev", "example.org")
    assert len(topics) == 10
    assert [r.path for r in simulator.requests] == ["/a/example.org/g/dev"]


def test_iteration_is_lazy(crawler, fetcher):
    first_five = list(islice(crawler.iter_topics(ANNOUNCE), 5))
    assert len(first_five) == 5
    assert fetcher.requests_made == 1
    list(islice(crawler.iter_topics(ANNOUNCE), 31))
    assert fetcher.requests_made == 1 + 2


class ReplayingFetcher(Fetcher):
    """Answers every batchexecute call with the server's first reply, as a stuck server would."""

    first_reply: Page | None = None

    def post_form(self, path, params, data):
        if self.first_reply is None:
            self.first_reply = super().post_form(path, params, data)
        return self.first_reply


def test_repeated_continuation_token_stops_the_crawl(simulator, fake_time, tmp_path):
    with ReplayingFetcher(base_url=simulator.base_url, delay=0,
                          sleep=fake_time.sleep, clock=fake_time.clock) as fetcher:
        crawler = Crawler(fetcher, report_dir=tmp_path)
        seen = []
        with pytest.raises(LayoutChanged, match="continuation token it had already given"):
            for topic in crawler.iter_topics(ANNOUNCE):
                seen.append(topic.id)
    # page 1, then page 2 (which is replayed once more before the loop is caught)
    assert len(seen) == len(set(seen)) == 60


def test_topics_are_not_repeated_when_the_list_shifts(crawler, simulator, sim_state):
    topics = crawler.iter_topics(ANNOUNCE)
    page_one = [t.id for t in islice(topics, 30)]
    # While we read page 1, a topic from page 2 gets a reply: it jumps to the top, and
    # the last topic of page 1 slides onto page 2, where the server lists it again.
    group = sim_state.find_group("demo-announce")
    by_activity = sorted(group.topics, key=lambda t: t.last_activity_at, reverse=True)
    moved = by_activity[45]
    newest = by_activity[0].last_activity_at
    sim_state.add_message(moved, author="Late Replier", address="late@example.com",
                          body_html="<div dir=ltr>+1</div>",
                          posted_at=newest.replace(year=newest.year + 1))
    rest = [t.id for t in topics]
    ids = page_one + rest
    assert len(ids) == len(set(ids)) == 74
    # The moved topic went to page 1, already read: the next run sees its new activity.
    assert moved.id not in ids


def test_dom_only_group_page_is_parsed_and_listing_recovers_through_rpc(
    crawler, simulator, sim_state, caplog
):
    simulator.fault("no_json")
    first = crawler.fetch_group_page(ANNOUNCE)
    assert first.source == "dom"
    assert len(first.topics) == 30
    assert first.next_token is None
    with caplog.at_level(logging.WARNING, logger="listarchive"):
        pages = list(crawler.iter_topic_pages(ANNOUNCE))
    assert [page.source for page in pages] == ["dom", "json", "json", "json"]
    assert {t.id for t in pages[0].topics} == {t.id for t in pages[1].topics}
    ids = [topic.id for topic in crawler.iter_topics(ANNOUNCE)]
    assert len(ids) == 75
    assert set(ids) == state_topic_ids(sim_state, "demo-announce")
    assert any("from the start" in r.getMessage() for r in caplog.records)


def test_dom_only_page_of_a_small_group_makes_no_rpc_call(crawler, simulator):
    simulator.fault("no_json")
    topics = list(crawler.iter_topics(DEV))
    assert len(topics) == 10
    assert [r.method for r in simulator.requests] == ["GET"]


def test_dom_only_listing_fails_loudly_when_the_rpc_refuses(crawler, simulator, tmp_path):
    simulator.fault("no_json")
    simulator.fault("rpc_error")
    topics = crawler.iter_topics(ANNOUNCE)
    assert len(list(islice(topics, 30))) == 30
    with pytest.raises(LayoutChanged) as info:
        next(topics)
    assert "no topic-list JSON" in str(info.value)
    saved = tmp_path / "reports"
    assert [p.name for p in saved.iterdir()] == [info.value.saved_to.rsplit("/", 1)[1]]


@pytest.mark.parametrize("faults", [["renamed"], ["renamed", "no_json"]])
def test_renamed_classes(crawler, simulator, sim_state, faults):
    for kind in faults:
        simulator.fault(kind)
    page = crawler.fetch_group_page(ANNOUNCE)
    assert page.source == ("dom" if "no_json" in faults else "json")
    assert len(page.topics) == 30
    assert {t.id for t in page.topics} <= state_topic_ids(sim_state, "demo-announce")
    thread = crawler.fetch_thread(ANNOUNCE.thread(page.topics[0].id))
    assert thread.source == page.source
    assert len(thread.messages) >= 1


def test_rpc_error_is_a_clear_fetch_error(crawler, simulator):
    simulator.fault("rpc_error", code=7)
    topics = crawler.iter_topics(ANNOUNCE)
    assert len(list(islice(topics, 30))) == 30
    with pytest.raises(RpcError) as info:
        next(topics)
    assert "Dq0xse" in str(info.value)
    assert "\n" not in str(info.value)


def test_faults_during_paging_are_retried(crawler, simulator, fake_time):
    simulator.fault("429", path="batchexecute", times=1, retry_after="3")
    simulator.fault("reset", path="batchexecute", times=1)
    simulator.fault("truncate", path="/g/demo-announce$", times=1)
    topics = list(crawler.iter_topics(ANNOUNCE))
    assert len({t.id for t in topics}) == 75
    assert 3.0 in fake_time.sleeps
    statuses = [(r.method, r.status, r.fault) for r in simulator.requests]
    assert len(statuses) == 6  # GET x2 (truncated once), POST x4 (429, reset, ok, ok)


def test_long_thread_is_read_past_the_page_through_the_rpc(crawler, simulator, sim_state):
    long_thread = sim_state.demo.long_thread
    simulator.clear_requests()
    thread = crawler.fetch_thread(ANNOUNCE.thread(long_thread.id))
    assert thread.complete and thread.expected_count == 120
    assert [m.id for m in thread.messages] == [m.id for m in long_thread.messages]
    # The page's masked addresses are kept for the messages the page carried.
    assert thread.messages[0].masked_address == long_thread.messages[0].masked_address
    posts = [json.loads(json.loads(r.form["f.req"])[0][0][1]) for r in simulator.requests
             if r.method == "POST"]
    assert [p[:3] + p[4:] for p in posts] == [
        ["demo-announce@googlegroups.com", long_thread.id, 100, None, 2]
    ] * 2
    assert posts[0][3] is None and isinstance(posts[1][3], str)


def test_long_thread_is_marked_incomplete_when_the_rpc_fails(
    crawler, simulator, sim_state, caplog
):
    long_thread = sim_state.demo.long_thread
    simulator.fault("rpc_error")
    with caplog.at_level(logging.WARNING, logger="listarchive"):
        thread = crawler.fetch_thread(ANNOUNCE.thread(long_thread.id))
    assert len(thread.messages) == 100
    assert thread.expected_count == 120
    assert thread.complete is False
    assert [m.id for m in thread.messages] == [m.id for m in long_thread.messages[:100]]
    assert any("100 of 120" in r.getMessage() for r in caplog.records)


def test_threads_through_the_rpc_first_with_the_page_as_fallback(fetcher, simulator, sim_state,
                                                                   tmp_path):
    crawler = Crawler(fetcher, report_dir=tmp_path, rpc_threads=True)
    long_thread = sim_state.demo.long_thread
    simulator.clear_requests()
    thread = crawler.fetch_thread(ANNOUNCE.thread(long_thread.id))
    assert thread.complete and len(thread.messages) == 120
    assert [r.method for r in simulator.requests] == ["POST", "POST"]
    # Signed out, the RPC carries no masked address: only the page shows them.
    assert thread.messages[0].masked_address is None
    simulator.fault("rpc_error")
    simulator.clear_requests()
    again = crawler.fetch_thread(ANNOUNCE.thread(long_thread.id))
    assert [r.method for r in simulator.requests] == ["POST", "GET"]
    assert not again.complete and len(again.messages) == 100


def test_a_gone_thread_is_thread_gone(crawler, simulator, sim_state, fetcher, tmp_path):
    topic = sim_state.demo.announce.find_topic("Release 1.2")
    sim_state.delete_topic(topic)
    with pytest.raises(ThreadGone, match="gone"):
        crawler.fetch_thread(ANNOUNCE.thread(topic.id))
    with pytest.raises(ThreadGone):
        Crawler(fetcher, report_dir=tmp_path, rpc_threads=True).fetch_thread(
            ANNOUNCE.thread(topic.id)
        )


def test_deleted_messages_are_listed_apart(crawler, sim_state):
    topic = sim_state.demo.announce.find_topic("Release 1.2")
    gone = topic.messages[1]
    sim_state.delete_message(gone)
    thread = crawler.fetch_thread(ANNOUNCE.thread(topic.id))
    assert thread.deleted_ids == (gone.id,)
    assert gone.id not in [m.id for m in thread.messages]
    assert thread.complete and thread.expected_count == len(topic.messages)


@pytest.mark.parametrize("rpc_first", [False, True])
def test_a_null_last_page_ends_the_walk(crawler, simulator, sim_state, rpc_first):
    group = sim_state.add_group("nulls", title="Nulls")
    for n in range(60):
        sim_state.add_topic(group, f"Topic {n}", "Ann", None, f"<p>{n}</p>")
    group.null_last_page = True
    simulator.clear_requests()
    pages = list(crawler.iter_topic_pages(GroupRef("nulls"), rpc_first=rpc_first))
    assert [len(p.topics) for p in pages] == [30, 30]
    assert len(simulator.requests) == 3
    first = simulator.requests[0]
    if rpc_first:
        assert first.method == "POST"
        args = json.loads(json.loads(first.form["f.req"])[0][0][1])
        assert args == ["nulls@googlegroups.com", 30, "", [], 2]
    else:
        assert first.method == "GET"


def test_fetch_thread_from_a_message_link_fetches_the_whole_thread(crawler, simulator, sim_state):
    topic = next(t for t in sim_state.find_group("demo-announce").topics
                 if len(t.messages) >= 5)
    thread = crawler.fetch_thread(ANNOUNCE.thread(topic.id, topic.messages[2].id))
    assert thread.complete
    assert [m.id for m in thread.messages] == [m.id for m in topic.messages]
    assert [r.path for r in simulator.requests] == [f"/g/demo-announce/c/{topic.id}"]


def test_workspace_thread(crawler, sim_state):
    topic = sim_state.find_group("dev", "example.org").topics[0]
    thread = crawler.fetch_thread(DEV.thread(topic.id))
    assert thread.group.email == "dev@example.org"
    assert thread.ref.url == f"https://groups.google.com/a/example.org/g/dev/c/{topic.id}"


# -- layout changes ------------------------------------------------------------


@pytest.fixture
def scripted():
    server = ScriptedServer()
    yield server
    server.close()


def test_layout_changed_saves_the_page(scripted, fake_time, tmp_path):
    body = b"<html><body><p>Groups has a brand new look</p></body></html>"
    scripted.route("/g/demo-announce", Reply(200, body))
    with Fetcher(base_url=scripted.base_url, delay=0,
                 sleep=fake_time.sleep, clock=fake_time.clock) as fetcher:
        crawler = Crawler(fetcher, report_dir=tmp_path)
        with pytest.raises(LayoutChanged) as info:
            list(crawler.iter_topics(ANNOUNCE))
    err = info.value
    saved = list(tmp_path.iterdir())
    assert len(saved) == 1
    assert saved[0].name.startswith("listarchive-layout-")
    assert saved[0].name.endswith("-g-demo-announce.html")
    assert saved[0].read_bytes() == body
    assert err.saved_to == str(saved[0])
    message = str(err)
    assert "\n" not in message
    assert f"page saved to {saved[0]}; please attach it to a bug report" in message
    assert "https://groups.google.com/g/demo-announce" in message
    assert err.exit_code == 8


def test_layout_changed_in_a_thread_uses_the_report_dir_from_the_environment(
    scripted, fake_time, tmp_path, monkeypatch
):
    monkeypatch.setenv("LISTARCHIVE_REPORT_DIR", str(tmp_path / "env-reports"))
    scripted.route("/g/demo-announce/c/T1", Reply(200, "<html><body></body></html>"))
    with Fetcher(base_url=scripted.base_url, delay=0,
                 sleep=fake_time.sleep, clock=fake_time.clock) as fetcher:
        with pytest.raises(LayoutChanged) as info:
            Crawler(fetcher).fetch_thread(ANNOUNCE.thread("T1", "M1"))
    saved = list((tmp_path / "env-reports").iterdir())
    assert [str(p) for p in saved] == [info.value.saved_to]
    assert saved[0].name.endswith("-g-demo-announce-c-T1.html")


def test_unexpected_parser_failures_are_reported_as_layout_changes(tmp_path):
    page = Page("https://groups.google.com/g/x", 200, b"<html>odd</html>", {})
    crawler = Crawler(fetcher=None, report_dir=tmp_path)  # parsing needs no fetcher
    with pytest.raises(LayoutChanged, match=r"could not parse .*IndexError") as info:
        crawler._parse(page, lambda: [][0])
    assert (tmp_path / info.value.saved_to.rsplit("/", 1)[1]).read_bytes() == page.content


def test_a_parser_failure_is_our_bug_and_says_so(tmp_path):
    # An IndexError in our own code is no evidence that Google changed its pages: the
    # error says it is a bug, and alone exits 1 (a bug), not 8 (layout changed). Sync
    # still handles it as one odd page: saved, and the thread skipped.
    page = Page("https://groups.google.com/g/x/c/T", 200, b"<html>fine</html>", {})
    crawler = Crawler(fetcher=None, report_dir=tmp_path)
    with pytest.raises(ParserBug) as info:
        crawler._parse(page, lambda: {}["missing"])
    assert isinstance(info.value, LayoutChanged) and info.value.exit_code == 1
    assert "a bug in listarchive rather than a sign that Google changed" in str(info.value)
    assert "KeyError" in str(info.value) and info.value.saved_to
    with pytest.raises(LayoutChanged) as info:
        crawler._parse(page, lambda: (_ for _ in ()).throw(LayoutChanged("no topic list")))
    assert type(info.value) is LayoutChanged and info.value.exit_code == 8


def test_reports_never_overwrite_each_other(tmp_path):
    page = Page("https://groups.google.com/g/x/c/T", 200, b"one", {})
    first = save_page_for_report(page, tmp_path)
    second = save_page_for_report(Page(page.url, 200, b"two", {}), tmp_path)
    assert first != second
    assert first.read_bytes() == b"one" and second.read_bytes() == b"two"


def test_network_failure_mid_listing_is_a_network_error(crawler, simulator):
    simulator.fault("503", path="batchexecute")
    topics = crawler.iter_topics(ANNOUNCE)
    assert len(list(islice(topics, 30))) == 30
    with pytest.raises(NetworkError, match="HTTP 503"):
        next(topics)


def test_one_error_tree():
    # Every error a command reports, with its exit code, is defined in scraper.errors;
    # the modules that raise them import them from there.
    from archive import config, sync
    from scraper import errors

    assert config.ConfigError is errors.ConfigError and errors.ConfigError.exit_code == 2
    assert sync.Interrupted is errors.Interrupted and errors.Interrupted.exit_code == 130
