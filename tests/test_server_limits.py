"""Limits on what a server may send: body size (gzip bombs), time per request, endless lists.

Every test goes through the real HTTP client against the simulator's fault switches;
the sync tests check that the run goes on and that the archive holds every good thread
exactly once. Limits are made small so that nothing here waits for long.
"""

from __future__ import annotations

import threading
import time
import tracemalloc
import zlib
from pathlib import Path

import pytest

from archive.sync import SyncProgress, sync_groups, targets_from_urls
from scraper.crawl import REPORT_MAX_BYTES, Crawler, save_page_for_report, topic_pages_allowed
from scraper.errors import (
    EXIT_INTERRUPTED,
    EXIT_LAYOUT_CHANGED,
    EXIT_NETWORK,
    DeadlineExceeded,
    FetchError,
    LayoutChanged,
    ResponseTooLarge,
)
from scraper.http import DEFAULT_MAX_BODY_BYTES, Fetcher, Page, _Body
from scraper.models import GroupRef
from tests.helpers.sync import add_small_group, archived_ids, assert_archived_exactly_once
from tests.simulator import GroupsState, Simulator
from tests.simulator.server import gzip_bomb

MB = 1024 * 1024
BATCH = "batchexecute"


def two_groups(name: str, topics: int) -> tuple[GroupsState, object, object]:
    """A group of ``topics`` topics, and a small one of one page beside it."""
    state = GroupsState()
    first = add_small_group(state, name, topics)
    other = add_small_group(state, "other", 2)
    return state, first, other


@pytest.fixture
def groups() -> tuple[GroupsState, object, object]:
    return two_groups("main", 4)


def topic_path(group, n: int) -> str:
    """A regex matching the thread page of the group's n-th topic (newest first)."""
    return f"/c/{group.visible_topics()[n].id}$"


def fetcher_for(sim: Simulator, **limits) -> Fetcher:
    return Fetcher(sim.base_url, delay=0, sleep=lambda _: None, **limits)


def sync(db: Path, urls: list[str], fetcher: Fetcher, **kwargs):
    return sync_groups(db, targets_from_urls(urls), fetcher=fetcher, **kwargs)


def good_ids(group, bad: int | None = None) -> set[str]:
    topics = group.visible_topics()
    return {m.id for i, t in enumerate(topics) if i != bad for m in t.messages}


# --- body size ----------------------------------------------------------------------------


def test_a_gzip_bomb_is_refused_early_without_taking_its_size_in_memory(groups):
    state, main, _ = groups
    with Simulator(state) as sim, fetcher_for(sim, max_body_bytes=1 * MB) as fetcher:
        sim.fault("gzip_bomb", path=topic_path(main, 0), size=64 * MB)
        path = f"/g/main/c/{main.visible_topics()[0].id}"
        tracemalloc.start()
        try:
            with pytest.raises(ResponseTooLarge) as caught:
                fetcher.get(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        # 64 MB inflated would be 64 MB; the refusal holds the limit plus one step.
        assert peak < 8 * MB
        assert "larger than 1 MB once decompressed" in str(caught.value)
        assert caught.value.exit_code == EXIT_NETWORK
        assert fetcher.requests_made == 1  # refused, not retried
        # The connection pool is still usable afterwards.
        assert fetcher.get("/g/main").status == 200


def test_the_default_limit_is_50_mb_decompressed(groups):
    state, main, _ = groups
    assert DEFAULT_MAX_BODY_BYTES == 50 * MB
    with Simulator(state) as sim, fetcher_for(sim) as fetcher:
        sim.fault("gzip_bomb", path=topic_path(main, 0), size=DEFAULT_MAX_BODY_BYTES + MB)
        with pytest.raises(ResponseTooLarge, match="larger than 50 MB"):
            fetcher.get(f"/g/main/c/{main.visible_topics()[0].id}")
        # A bomb just under the limit is a (useless) page, not an error of this kind.
        sim.clear_faults()
        sim.fault("gzip_bomb", path=topic_path(main, 0), size=DEFAULT_MAX_BODY_BYTES - MB)
        page = fetcher.get(f"/g/main/c/{main.visible_topics()[0].id}")
        assert len(page.content) == DEFAULT_MAX_BODY_BYTES - MB


def test_a_body_announced_larger_than_the_limit_is_refused_before_it_is_read(groups):
    state, _, _ = groups
    with Simulator(state) as sim, fetcher_for(sim, max_body_bytes=1000) as fetcher:
        with pytest.raises(ResponseTooLarge, match="it announced"):
            fetcher.get("/g/main")


def test_gzip_replies_still_decode(groups):
    """Our own decoder gives what httpx's did, for what a server may really send."""
    state, _, _ = groups
    with Simulator(state) as sim, fetcher_for(sim) as fetcher:
        plain = fetcher.get("/g/main").content
        sim.fault("gzip_bomb", path="/g/main$", size=10_000)
        bomb = fetcher.get("/g/main").content
    assert plain.startswith(b"<!DOCTYPE html>") or b"<html" in plain[:200]
    assert len(bomb) == 10_000 and bomb.endswith(b"</body></html>\n")
    assert len(gzip_bomb(10_000)) < 1000


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate", "deflate-raw", "identity", ""])
def test_the_body_decoder_reads_every_encoding_asked_for(encoding):
    data = b"<html>" + b"caf\xc3\xa9 " * 50_000 + b"</html>"
    if encoding in ("gzip", "x-gzip"):
        packer = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        packer = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS)
    elif encoding == "deflate-raw":  # "deflate" as some servers send it: no zlib header
        packer, encoding = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS), "deflate"
    else:
        packer = None
    wire = packer.compress(data) + packer.flush() if packer else data
    body = _Body(encoding, 10 * MB, "https://groups.google.com/g/x")
    for start in range(0, len(wire), 1000):  # as network reads arrive
        body.feed(wire[start : start + 1000])
    body.finish()
    assert body.content() == data and body.size == len(data)


def test_the_body_decoder_refuses_what_was_not_asked_for_and_garbage():
    with pytest.raises(FetchError, match="Content-Encoding 'br'"):
        _Body("br", MB, "https://groups.google.com/g/x")
    with pytest.raises(FetchError, match="Content-Encoding 'gzip, gzip'"):
        _Body("gzip, gzip", MB, "https://groups.google.com/g/x")
    body = _Body("gzip", MB, "https://groups.google.com/g/x")
    with pytest.raises(FetchError, match="could not be decompressed"):
        body.feed(b"this is not gzip at all")


def test_a_sync_goes_on_past_a_gzip_bomb_and_keeps_every_good_thread_once(groups, tmp_path):
    state, main, other = groups
    db = tmp_path / "a.db"
    with Simulator(state) as sim, fetcher_for(sim, max_body_bytes=1 * MB) as fetcher:
        sim.fault("gzip_bomb", path=topic_path(main, 1), size=32 * MB)
        summary = sync(db, ["main", "other"], fetcher, report_dir=tmp_path / "reports")
        result = summary.groups[0]
        assert any("larger than 1 MB" in error for error in result.errors)
        assert result.threads_fetched == 3
        ids = archived_ids(db, main.email)
        assert sorted(ids) == sorted(good_ids(main, bad=1))
        assert summary.groups[1].status == "ok"
        assert_archived_exactly_once(db, other)
        assert not (tmp_path / "reports").exists()  # refused before any parsing
        # Once the server behaves, the next run fetches the thread it missed.
        sim.clear_faults()
        sync(db, ["main"], fetcher)
    assert_archived_exactly_once(db, main)


def test_a_layout_report_is_cut_at_its_limit_with_a_note(tmp_path):
    content = b"<html>" + b"x" * (REPORT_MAX_BYTES + 10) + b"</html>"
    page = Page("https://groups.google.com/g/big", 200, content)
    path = save_page_for_report(page, tmp_path)
    saved = path.read_bytes()
    assert saved.startswith(content[:1000])
    assert REPORT_MAX_BYTES < len(saved) < REPORT_MAX_BYTES + 200
    assert f"of its {len(content):,} bytes are kept".encode() in saved
    small = save_page_for_report(Page("https://groups.google.com/g/small", 200, b"<p>"), tmp_path)
    assert small.read_bytes() == b"<p>"


# --- time per request ---------------------------------------------------------------------


def test_a_dripping_server_is_given_up_at_the_deadline(groups):
    state, main, _ = groups
    with Simulator(state) as sim, fetcher_for(sim, deadline=0.5) as fetcher:
        # At one byte every 50 ms the page would take minutes.
        sim.fault("drip", path=topic_path(main, 0), interval=0.05)
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded) as caught:
            fetcher.get(f"/g/main/c/{main.visible_topics()[0].id}")
        assert time.monotonic() - started < 5
        assert "more than 0.5 s" in str(caught.value)
        assert isinstance(caught.value, FetchError)
        assert fetcher.requests_made == 1  # a server that drips will drip again
        assert fetcher.get("/g/main").status == 200  # the next request has its own deadline


def test_a_server_dripping_its_headers_is_given_up_at_the_deadline_too(groups):
    state, main, _ = groups
    with Simulator(state) as sim, fetcher_for(sim, deadline=0.5, timeout=30.0) as fetcher:
        # Each byte comes well within the 30 s read timeout: only the deadline ends it,
        # before the headers are complete (they would take over 30 s at this pace).
        sim.fault("drip", path=topic_path(main, 0), interval=0.5, headers=True)
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            fetcher.get(f"/g/main/c/{main.visible_topics()[0].id}")
        assert time.monotonic() - started < 10
        assert fetcher.requests_made == 1


def test_a_slow_but_steady_reply_within_the_deadline_is_read(groups):
    state, _, _ = groups
    with Simulator(state) as sim, fetcher_for(sim, deadline=5.0, timeout=1.0) as fetcher:
        sim.fault("slow", path="/g/main$", seconds=0.2)
        assert fetcher.get("/g/main").status == 200


def test_a_sync_goes_on_past_a_dripping_thread_and_keeps_every_good_thread_once(
    groups, tmp_path
):
    state, main, other = groups
    db = tmp_path / "a.db"
    with Simulator(state) as sim, fetcher_for(sim, deadline=0.3) as fetcher:
        sim.fault("drip", path=topic_path(main, 2), interval=0.05)
        summary = sync(db, ["main", "other"], fetcher)
    result = summary.groups[0]
    assert any("more than 0.3 s" in error for error in result.errors)
    assert sorted(archived_ids(db, main.email)) == sorted(good_ids(main, bad=2))
    assert summary.groups[1].status == "ok"
    assert_archived_exactly_once(db, other)


# --- topic lists that never end -------------------------------------------------------------


def test_pages_allowed_follow_the_topic_count():
    assert topic_pages_allowed(None) is None
    assert topic_pages_allowed(0) == 3
    assert topic_pages_allowed(30) == 4
    assert topic_pages_allowed(3000) == 101 + 10


@pytest.fixture
def big() -> tuple[GroupsState, object, object]:
    """A group of two topic-list pages (35 topics) and a small one of one page."""
    return two_groups("big", 35)


def test_a_list_whose_new_tokens_never_end_is_stopped_at_its_page_budget(big):
    state, group, _ = big
    allowed = topic_pages_allowed(35)
    with Simulator(state) as sim, fetcher_for(sim) as fetcher:
        sim.fault("endless_tokens")
        pages = []
        with pytest.raises(LayoutChanged, match=f"goes on past {allowed} pages"):
            for page in Crawler(fetcher).iter_topic_pages(GroupRef("big")):
                pages.append(page)
        batch_requests = [r for r in sim.requests if BATCH in r.path]
    assert len(pages) == allowed
    # Every RPC page came with a fresh token: no token was given twice.
    assert len(batch_requests) == allowed - 1
    assert len({r.form["f.req"] for r in batch_requests}) == allowed - 1


def test_a_list_that_repeats_its_token_is_stopped_at_the_repeat(big):
    state, _, _ = big
    with Simulator(state) as sim, fetcher_for(sim) as fetcher:
        sim.fault("endless_tokens", repeat=True)
        with pytest.raises(LayoutChanged, match="already given"):
            list(Crawler(fetcher).iter_topic_pages(GroupRef("big")))
        # The real second page, then the made-up token's page; its token repeats.
        assert len([r for r in sim.requests if BATCH in r.path]) == 2


@pytest.mark.parametrize("repeat", [False, True])
def test_a_sync_of_an_endless_list_keeps_every_thread_once_and_the_other_groups(
    big, tmp_path, repeat
):
    state, group, other = big
    db = tmp_path / "a.db"
    with Simulator(state) as sim, fetcher_for(sim) as fetcher:
        sim.fault("endless_tokens", repeat=repeat)
        summary = sync(db, ["big", "other"], fetcher)
        requests = len(sim.requests)
    assert summary.groups[0].exit_code == EXIT_LAYOUT_CHANGED
    assert summary.groups[1].status == "ok"  # one page, no token: nothing endless there
    # The group pages, a bounded number of list pages, and each thread once.
    assert requests <= 2 + topic_pages_allowed(35) + 35 + 2
    assert_archived_exactly_once(db, group)
    assert_archived_exactly_once(db, other)


class StopAfterFirstPage(SyncProgress):
    """Asks the run to stop once every topic of the first page was checked."""

    def __init__(self, stop: threading.Event, topics: int) -> None:
        self.stop, self.left = stop, topics

    def topic_checked(self, topic, fetched):
        self.left -= 1
        if self.left == 0:
            self.stop.set()


def test_ctrl_c_is_honoured_while_a_list_repeats_topics_already_seen(big, tmp_path):
    state, group, _ = big
    db = tmp_path / "a.db"
    stop = threading.Event()
    with Simulator(state) as sim, fetcher_for(sim) as fetcher:
        sim.fault("endless_tokens")
        # Both real pages are walked; the stop comes with the last topic of the list, and
        # every page after it repeats topics already seen.
        summary = sync(db, ["big"], fetcher, stop_event=stop,
                       progress=StopAfterFirstPage(stop, 35))
        batch_requests = [r for r in sim.requests if BATCH in r.path]
    assert summary.interrupted and summary.exit_code == EXIT_INTERRUPTED
    assert len(batch_requests) == 2
    assert_archived_exactly_once(db, group)
