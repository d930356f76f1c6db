"""Hostile pages at the parsing level: deep JSON, absurd epochs and counts.

Anyone can post to a public group, and anything between us and Google can answer in
its place, so a page may carry JSON nested 200,000 deep, an epoch of 1e30 or a count
past what SQLite holds. Each must be "no value" or one unreadable page
(:class:`LayoutChanged`), never a ``RecursionError``/``OverflowError`` that ends a run.
Pages are the simulator's, edited.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from scraper.crawl import Crawler
from scraper.errors import LayoutChanged
from scraper.http import Fetcher
from scraper.models import Group, GroupRef
from scraper.pages import parse_batchexecute, parse_group_page, parse_thread_page
from scraper.pages.blocks import (
    RPC_THREAD,
    RPC_TOPIC_LIST,
    SQLITE_MAX_INT,
    InitData,
    decode_json,
    init_data_blocks,
    json_int,
    rpc_payload,
    service_keys,
)
from tests.simulator import GroupsState, Simulator, Site

DEEP = "[" * 200_000 + "]" * 200_000
DATA_START = re.compile(r"AF_initDataCallback\(\{[^\[]*?data:")
GROUP = GroupRef("hostile")


@pytest.fixture
def site() -> tuple[Site, str]:
    state = GroupsState()
    group = state.add_group("hostile", title="Hostile")
    topic = state.add_topic(
        group, subject="Hello", author="Ann Author", address="ann@example.com",
        body_html="<div dir=ltr>Hi</div>", posted_at=datetime(2025, 1, 6, 9, tzinfo=UTC),
    )
    return Site(state), topic.id


def page(site: Site, path: str) -> str:
    response = site.respond("GET", path)
    assert response.status == 200
    return response.body.decode("utf-8")


def rpc_block(text: str) -> InitData:
    """The page's topic-list or thread data block (as ``AF_dataServiceRequests`` maps it)."""
    keys = {key for key, rpc in service_keys(text).items() if rpc in (RPC_THREAD, RPC_TOPIC_LIST)}
    (block,) = [b for b in init_data_blocks(text) if b.key in keys]
    return block


def replace_data(text: str, new_json: str) -> str:
    """The page with its topic-list or thread data replaced by ``new_json``."""
    block = rpc_block(text)
    return text[: block.start] + new_json + text[block.end :]


def edit_data(text: str, change) -> str:
    return replace_data(text, json.dumps(change(rpc_block(text).data)))


# --- nesting --------------------------------------------------------------------------------


def test_deep_json_in_a_thread_page_is_a_layout_change(site):
    sim_site, topic_id = site
    text = replace_data(page(sim_site, f"/g/hostile/c/{topic_id}"), DEEP)
    with pytest.raises(LayoutChanged, match="nested too deep"):
        parse_thread_page(text, GROUP.thread(topic_id))


def test_deep_json_in_a_group_page_is_a_layout_change(site):
    sim_site, _ = site
    text = replace_data(page(sim_site, "/g/hostile"), DEEP)
    with pytest.raises(LayoutChanged, match="nested too deep"):
        parse_group_page(text, GROUP)


@pytest.mark.parametrize(
    "reply",
    [
        ")]}'\n" + DEEP,  # the envelope itself
        ")]}'\n" + json.dumps([["wrb.fr", "Dq0xse", DEEP, None, None, None, "generic"]]),
        ")]}'\n\n12345\n" + "[" * 200_000,  # the rt=c chunked form, and cut short too
    ],
    ids=["envelope", "payload", "chunk"],
)
def test_deep_json_in_a_batchexecute_reply_is_a_layout_change(reply):
    group = Group(GROUP, id=None, email="hostile@googlegroups.com", title=None)
    with pytest.raises(LayoutChanged, match="nested too deep"):
        parse_batchexecute(reply, group, url=GROUP.url)


def test_decode_json_keeps_raw_decode_and_loads_behaviour():
    assert decode_json('x [1, {"a": [2]}] tail', 2) == ([1, {"a": [2]}], 17)
    assert decode_json(' [1] ', whole=True) == ([1], 5)
    with pytest.raises(json.JSONDecodeError):
        decode_json("[1] tail", whole=True)
    with pytest.raises(json.JSONDecodeError):
        decode_json("[1, ", 0)
    # Nesting as deep as Google's (and well beyond it) still decodes.
    assert decode_json("[" * 200 + "]" * 200)[1] == 400


def test_deep_html_in_a_page_without_json_does_not_recurse(site):
    sim_site, topic_id = site
    text = page(sim_site, f"/g/hostile/c/{topic_id}")
    text = DATA_START.sub("AF_initDataCallback_gone({data:", text)
    deep_html = "<div>" * 200_000 + "Hi" + "</div>" * 200_000
    text = text.replace("<div dir=ltr>Hi</div>", deep_html)
    try:
        thread = parse_thread_page(text, GROUP.thread(topic_id))
    except LayoutChanged:
        return  # one unreadable page is an acceptable answer too
    assert [m.author for m in thread.messages] == ["Ann Author"]


def test_a_deep_page_is_a_one_page_problem_for_the_crawler(site, tmp_path):
    """Through the real HTTP client: the page is saved for a report, nothing else breaks."""
    sim_site, topic_id = site
    state = sim_site.state
    with Simulator(state) as sim:
        with Fetcher(base_url=sim.base_url, delay=0) as fetcher:
            crawler = Crawler(fetcher, report_dir=tmp_path)
            original = sim.site.respond

            def respond(method, path, *args, **kwargs):
                response = original(method, path, *args, **kwargs)
                if path.endswith(topic_id):
                    body = replace_data(response.body.decode("utf-8"), DEEP)
                    response.body = body.encode("utf-8")
                return response

            sim.site.respond = respond
            with pytest.raises(LayoutChanged) as caught:
                crawler.fetch_thread(GROUP.thread(topic_id))
            assert "nested too deep" in str(caught.value)
            assert caught.value.saved_to is not None
            # The group page still parses: the problem stayed with that one page.
            assert [t.id for t in crawler.fetch_group_page(GROUP).topics] == [topic_id]


# --- epochs and counts ---------------------------------------------------------------------


@pytest.mark.parametrize("epoch", [1e30, -1e30, 10**30, "nan", 1e308])
def test_absurd_epochs_in_a_thread_page_never_raise_past_the_parser(site, epoch):
    sim_site, topic_id = site
    value = float("nan") if epoch == "nan" else epoch

    def change(data):
        meta = data[2][0][0][0]
        meta[7] = [value, 0]
        meta[8] = [value, 0]
        return data

    text = edit_data(page(sim_site, f"/g/hostile/c/{topic_id}"), change)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        thread = parse_thread_page(text, GROUP.thread(topic_id), now=now)
    except LayoutChanged:
        return
    # No time from the JSON: the visible date of the page's HTML stands in.
    assert [m.posted_at for m in thread.messages] == [datetime(2025, 1, 6, 9, tzinfo=UTC)]


@pytest.mark.parametrize("epoch", [1e30, 10**30, -1, "nan"])
def test_absurd_epochs_in_a_topic_list_are_no_date(site, epoch):
    sim_site, topic_id = site
    value = float("nan") if epoch == "nan" else epoch

    def change(data):
        meta = data[2][0][0]
        meta[4] = [value, 0]
        meta[5] = [value, 0]
        return data

    topics = parse_group_page(edit_data(page(sim_site, "/g/hostile"), change), GROUP).topics
    assert [(t.id, t.last_activity_at, t.created_at) for t in topics] == [(topic_id, None, None)]


@pytest.mark.parametrize(
    "value, expected",
    [
        (0, 0),
        (42, 42),
        (SQLITE_MAX_INT, SQLITE_MAX_INT),
        (SQLITE_MAX_INT + 1, None),
        (10**30, None),
        (1e30, None),  # what JSON "1e30" decodes to
        (3.0, None),
        (-1, None),
        (True, None),
        ("12", None),
        (None, None),
    ],
)
def test_json_int_keeps_counts_sqlite_can_store(value, expected):
    assert json_int(value) == expected


def test_json_int_bounds_are_adjustable():
    assert json_int(-5, minimum=-10) == -5
    assert json_int(101, maximum=100) is None


def test_counts_past_sqlite_decode_as_python_ints_so_they_need_the_check():
    # The reason json_int exists: JSON has no integer size limit, SQLite has.
    payload = rpc_payload(
        ")]}'\n" + json.dumps([["wrb.fr", "Dq0xse", "[null, 1000000000000000000000000000000]"]]),
        "Dq0xse",
    )
    assert payload[1] == 10**30 and json_int(payload[1]) is None
