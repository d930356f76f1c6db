"""Parsing Google Groups pages (scraper.pages): embedded JSON first, the HTML as fallback.

Pages come from our own pages in tests/pages/ and from hand-made variants of them (JSON removed,
ds keys renumbered, extra trailing fields, classes renamed, spacing changed), and from
thread and list pages built around the real data in the systems-neuro-scrape capture.
"""

from __future__ import annotations

import copy
import itertools
import json
import random
import re
from datetime import UTC, datetime
from html import unescape

import pytest

from scraper.errors import (
    EXIT_LAYOUT_CHANGED,
    EXIT_NETWORK,
    FetchError,
    LayoutChanged,
    RpcError,
)
from scraper.models import Attachment, GroupRef, PageTokens
from scraper.pages import (
    build_batchexecute_request,
    dom,
    find_masked_addresses,
    parse_batchexecute,
    parse_group_page,
    parse_page_tokens,
    parse_thread_page,
    scan,
)
from scraper.pages.blocks import init_data_blocks
from tests.helpers.pages import (
    NEURO,
    NEURO_EMAIL,
    neuro_thread_page,
    neuro_topics,
    page_with,
)
from tests.helpers.scan_pages import (
    ALICE_HEADER,
    LINK,
    TOLERATED,
    message_element,
    random_section,
    section_page,
    simulator_thread_pages,
    thread_html,
    with_alice_address,
)
from tests.helpers.shared import fixture
from tests.helpers.written import written_page
from tests.simulator import GroupsState
from tests.simulator.render import Variant

GROUP = GroupRef("tidepool-notes")
THREAD = GROUP.thread("pQ7vT2xLm0A")
GROUP_URL = "https://groups.google.com/g/tidepool-notes"
THREAD_URL = "https://groups.google.com/g/tidepool-notes/c/pQ7vT2xLm0A"
TOKEN = "CJq8wLm2/ZNFED9bHkRcgP4E2M+ayxCYVQTfWGahpOLB1fHKXOK"
NOW = datetime(2024, 1, 2, 12, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def topic_list_html() -> str:
    return written_page("topic-list.html")


def batch_reply() -> str:
    return written_page("batchexecute-Dq0xse-response.txt")


# Page surgery ------------------------------------------------------------------------------

JSON_SCRIPT = re.compile(r"<script[^>]*>\s*AF_initDataCallback\(.*?</script>", re.S)
DATA_START = re.compile(r"AF_initDataCallback\(\{[^\[]*?data:")
EXTRA = [None, 0, "extra", [1, 2]]


def without_json(page: str) -> str:
    page, count = JSON_SCRIPT.subn("", page)
    assert count == 1
    return page


def rename_classes(page: str) -> str:
    """Every class attribute replaced, as a Google release that re-minifies would do."""
    counter = itertools.count()
    return re.sub(r'class="[^"]*"', lambda _: f'class="q{next(counter)}x"', page)


def edit_data(page: str, change) -> str:
    """Replace the data of the page's AF_initDataCallback block with ``change(data)``."""
    match = DATA_START.search(page)
    data, end = json.JSONDecoder().raw_decode(page, match.end())
    return page[: match.end()] + json.dumps(change(copy.deepcopy(data))) + page[end:]


def widen_topic_list(data):
    """Extra trailing fields on every record of a topic-list JSON."""
    for row in data[2]:
        meta = row[0]
        meta[4] += EXTRA
        meta[5] += EXTRA
        for author in meta[9][0]:
            author += EXTRA
        meta[9] += EXTRA
        meta += EXTRA
        row += EXTRA
    data[0] += EXTRA
    return data + EXTRA


def widen_thread(data):
    """Extra trailing fields on every record of a thread JSON."""
    for element in data[2]:
        record = element[0]
        meta, body = record[0], record[1]
        for author in meta[2]:
            author += EXTRA
        meta[7] += EXTRA
        meta[8] += EXTRA
        meta += EXTRA
        for segment in body[1]:
            segment[1] += EXTRA
            segment += EXTRA
        body += EXTRA
        record += EXTRA
        element += EXTRA
    data[0] += EXTRA
    data[1] += EXTRA
    return data + EXTRA


# Topic list: JSON --------------------------------------------------------------------------


def test_topic_list_from_json():
    page = parse_group_page(topic_list_html(), GROUP, GROUP_URL)

    assert page.source == "json"
    assert page.next_token == TOKEN
    assert page.group.id == "4417093526"
    assert page.group.email == "tidepool-notes@googlegroups.com"
    assert page.group.title == "Tidepool Notes"
    assert page.group.total_topics == 1493
    assert page.tokens == PageTokens(
        at="AFx3kq9Tn2bWcPzR0mLhVe5YsJdU:1709123456789",
        f_sid="-6620194873150042917",
        bl="boq_groupsfrontendserver_20240311.02_p0",
    )
    first, second = page.topics
    assert first.id == "pQ7vT2xLm0A"
    assert first.subject == "Anemone census on Saturday"
    assert first.snippet == "Do we need waders for the census?"
    assert first.last_activity_at == datetime(2024, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
    # Field [5] is the newest message's post time, not the creation: no creation time
    # comes from a topic row (the thread's first message gives it).
    assert first.created_at is None
    assert first.message_count == 3
    assert first.authors == ("Maren Holt", "Teodor Vance")
    assert second.id == "-gV5cN8jRtU"
    assert second.subject == "Low tide table for March"
    assert second.snippet == "The spring tables are out, lowest tide on the 14th"
    assert second.last_activity_at == datetime(2023, 12, 30, 0, 0, 0, 123000, tzinfo=UTC)
    assert second.created_at is None
    assert second.message_count == 1
    assert second.authors == ("Ines Okafor",)


def test_bytes_and_str_give_the_same_page():
    html = topic_list_html()
    assert parse_group_page(html.encode(), GROUP) == parse_group_page(html, GROUP)


def test_group_email_comes_from_the_page_not_the_url():
    html = edit_data(topic_list_html(), lambda d: [["42", "dev@kubernetes.io"], *d[1:]])
    page = parse_group_page(html, GroupRef("dev", "kubernetes.io"))
    assert (page.group.id, page.group.email) == ("42", "dev@kubernetes.io")


def test_renumbered_ds_key_and_extra_trailing_fields():
    baseline = parse_group_page(topic_list_html(), GROUP)
    html = edit_data(topic_list_html().replace("ds:7", "ds:13"), widen_topic_list)
    assert "ds:13" in html and "ds:7" not in html
    assert parse_group_page(html, GROUP) == baseline


def spacing_variants():
    def head(replacement):
        return lambda page: page.replace("{key: 'ds:7', hash: '2', data:", replacement)

    def key_after_data(page):
        page = page.replace("{key: 'ds:7', hash: '2', data:", "{hash: '2', data:")
        return page.replace(", sideChannel: {}});", ", key: 'ds:7', sideChannel: {}});")

    def data_in_function(page):
        page = page.replace("data:[[", "data:function(){return [[")
        return page.replace(", sideChannel: {}});", "}, sideChannel: {}});")

    def mapping(replacement):
        return lambda page: page.replace("'ds:7' : {id:'Dq0xse'", replacement)

    return {
        "double quotes, no spaces": head('{key:"ds:7",hash:"2",data:'),
        "spaces everywhere": head("{ key : 'ds:7' , hash : '2' , data : "),
        "quoted names": head('{"key":"ds:7","hash":"2","data":'),
        "newlines": head("{\n  key: 'ds:7',\n\thash: '2',\n  data:\n"),
        "isError field": head("{key: 'ds:7', isError:  false , hash: '2', data:"),
        "key after data": key_after_data,
        "data in a function": data_in_function,
        "JSON-style mapping": mapping('"ds:7":{"id":"Dq0xse"'),
        "tight mapping": mapping("'ds:7':{ id : 'Dq0xse'"),
        "no mapping at all": lambda page: re.sub(
            r"var AF_dataServiceRequests = \{.*?\}\};", "", page
        ),
    }


@pytest.mark.parametrize("variant", spacing_variants().values(), ids=spacing_variants().keys())
def test_spacing_and_quoting_variants(variant):
    baseline = parse_group_page(topic_list_html(), GROUP)
    html = variant(topic_list_html())
    assert html != topic_list_html()
    assert parse_group_page(html, GROUP) == baseline


def test_mapping_beats_an_earlier_block_of_the_same_shape():
    decoy = (
        "<script>window.AF_dataServiceRequests = window.AF_dataServiceRequests || {};</script>"
        "<script>AF_initDataCallback({key: 'ds:2', hash: '1', data:"
        '[["1", "other@googlegroups.com"], 5, [[["1", "DECOYDECOY1", "Decoy", "", [1, 0], '
        "[1, 0], 1]]], null], sideChannel: {}});</script>"
        "<script>AF_initDataCallback({key: 'ds:1', hash: '1', data:[null, \"x\"], "
        "sideChannel: {}});</script>"
    )
    html = topic_list_html().replace('<script class="ds:7"', decoy + '<script class="ds:7"')
    page = parse_group_page(html, GROUP)
    assert [topic.id for topic in page.topics] == ["pQ7vT2xLm0A", "-gV5cN8jRtU"]


def test_empty_group_is_valid_only_when_the_json_says_so():
    rows = re.compile(r'<div role="rowgroup">.*?</div>\n</div>\n</div>', re.S)
    html, count = rows.subn("", topic_list_html())
    assert count == 1 and "data-rowid" not in html

    empty = parse_group_page(edit_data(html, lambda d: [d[0], 0, [], None]), GROUP)
    assert (empty.topics, empty.next_token, empty.group.total_topics) == ((), None, 0)
    assert empty.source == "json"

    with pytest.raises(LayoutChanged):
        parse_group_page(edit_data(html, lambda d: [d[0], 1493, [], None]), GROUP, GROUP_URL)


# Topic list: HTML fallback -----------------------------------------------------------------


def test_topic_list_from_html_when_json_is_missing(caplog):
    from_json = parse_group_page(topic_list_html(), GROUP)
    page = parse_group_page(without_json(topic_list_html()), GROUP, GROUP_URL, now=NOW)

    assert page.source == "dom"
    assert GROUP_URL in caplog.text  # the fallback is logged
    assert page.next_token is None  # only the JSON has it
    assert page.group.title == "Tidepool Notes"
    assert page.group.total_topics == 1493  # "1–30 of 1,493"
    assert page.group.id is None
    assert page.group.email == "tidepool-notes@googlegroups.com"
    assert page.tokens == from_json.tokens
    for dom_topic, json_topic in zip(page.topics, from_json.topics, strict=True):
        assert dom_topic.id == json_topic.id
        assert dom_topic.subject == json_topic.subject
        assert dom_topic.snippet == json_topic.snippet
        assert dom_topic.message_count == json_topic.message_count
        assert dom_topic.authors == json_topic.authors
        assert dom_topic.created_at is None
        # "Jan 1": the day only, read as UTC, dated from now.
        assert dom_topic.last_activity_at == utc(2024, 1, 1)


def test_topic_list_from_aria_alone_when_classes_are_renamed():
    from_json = parse_group_page(topic_list_html(), GROUP)
    html = rename_classes(without_json(topic_list_html()))
    assert "o1DPKc" not in html and "yhgbKd" not in html
    page = parse_group_page(html, GROUP, now=NOW)

    assert page.source == "dom"
    assert page.group.total_topics == 1493
    assert [t.id for t in page.topics] == [t.id for t in from_json.topics]
    assert [t.subject for t in page.topics] == [t.subject for t in from_json.topics]
    assert [t.snippet for t in page.topics] == [t.snippet for t in from_json.topics]
    assert [t.message_count for t in page.topics] == [3, 1]
    assert [t.last_activity_at for t in page.topics] == [utc(2024, 1, 1)] * 2
    assert [t.authors for t in page.topics] == [(), ()]  # only the classes mark authors


def test_topic_list_from_classes_alone_when_aria_is_gone():
    html = without_json(topic_list_html())
    html = re.sub(r' (?:role|data-rowid|aria-label)="[^"]*"', "", html)
    assert "data-rowid" not in html
    page = parse_group_page(html, GROUP, now=NOW)
    assert [t.id for t in page.topics] == ["pQ7vT2xLm0A", "-gV5cN8jRtU"]  # from the links
    assert [t.subject for t in page.topics] == [
        "Anemone census on Saturday",
        "Low tide table for March",
    ]
    assert [t.message_count for t in page.topics] == [3, 1]
    assert page.topics[0].authors == ("Maren Holt", "Teodor Vance")


def test_unusable_topic_json_falls_back_to_html():
    def drop_first_id(data):
        data[2][0][0][1] = None
        return data

    page = parse_group_page(edit_data(topic_list_html(), drop_first_id), GROUP, now=NOW)
    assert page.source == "dom"
    assert [t.id for t in page.topics] == ["pQ7vT2xLm0A", "-gV5cN8jRtU"]
    assert page.group.id == "4417093526"  # what the JSON could still tell is kept


# Batchexecute ------------------------------------------------------------------------------


def test_batchexecute_page():
    group = parse_group_page(topic_list_html(), GROUP).group
    page = parse_batchexecute(batch_reply().encode(), group)
    assert page.source == "json"
    assert page.next_token is None
    assert page.group == group
    (topic,) = page.topics
    assert topic.id == "Zb0-kW3nYqE"
    assert topic.subject == "Photo permits for the reserve"
    assert topic.snippet == "The warden says permits are free this year"
    assert topic.last_activity_at == datetime(2023, 12, 27, 0, 0, 0, 456000, tzinfo=UTC)
    assert topic.message_count == 2
    assert topic.authors == ("Ines Okafor", "Maren Holt")


def test_batchexecute_chunked_form():
    body = batch_reply()
    entries = json.loads(body[body.index("[") :])
    chunks = [json.dumps([entries[0]]), json.dumps(entries[1:]), '[["e",4,null,null,512]]']
    chunked = ")]}'\n\n" + "".join(f"{len(chunk)}\n{chunk}\n" for chunk in chunks)
    group = parse_group_page(topic_list_html(), GROUP).group
    assert parse_batchexecute(chunked, group) == parse_batchexecute(body, group)


def test_batchexecute_rpc_error_is_a_fetch_error():
    reply = ')]}\'\n\n[["wrb.fr","Dq0xse",null,null,null,[3],"generic"],["di",25]]'
    url = "https://groups.google.com/_/GroupsFrontendUi/data/batchexecute?rpcids=Dq0xse"
    with pytest.raises(RpcError) as caught:
        parse_batchexecute(reply, parse_group_page(topic_list_html(), GROUP).group, url)
    message = str(caught.value)
    assert "RPC Dq0xse returned an error (code 3)" in message
    assert url in message and caught.value.url == url
    assert isinstance(caught.value, FetchError)
    assert caught.value.exit_code == EXIT_NETWORK


def test_batchexecute_error_entry_without_answer():
    reply = ')]}\'\n[["er",null,null,null,null,400,null,null,null,3],["di",9]]'
    with pytest.raises(RpcError):
        parse_batchexecute(reply, parse_group_page(topic_list_html(), GROUP).group)


@pytest.mark.parametrize(
    "reply",
    [
        "<html><body>Sorry...</body></html>",
        ')]}\'\n\n[["wrb.fr","Dq0xse","[[\\"1\\"',  # cut off
        ')]}\'\n[["wrb.fr","OtherRpc","[]",null,null,null,"generic"]]',
        ')]}\'\n[["wrb.fr","Dq0xse","{\\"not\\": \\"a list\\"}",null,null,null,"generic"]]',
        ')]}\'\n[["wrb.fr","Dq0xse","[[\\"1\\", \\"g@x\\"], 1, [[[\\"1\\", null]]]]"]]',
        "",
    ],
    ids=["html", "truncated", "other rpc", "wrong shape", "row without id", "empty"],
)
def test_batchexecute_garbage_is_a_layout_change(reply):
    url = "https://groups.google.com/_/GroupsFrontendUi/data/batchexecute"
    group = parse_group_page(topic_list_html(), GROUP).group
    with pytest.raises(LayoutChanged) as caught:
        parse_batchexecute(reply, group, url)
    assert url in str(caught.value)
    assert "\n" not in str(caught.value)


def test_build_batchexecute_request_matches_the_documented_form():
    request = json.loads(written_page("batchexecute-Dq0xse-request.json"))
    expected = json.loads(request["form"]["f.req"])
    built = json.loads(build_batchexecute_request("tidepool-notes@googlegroups.com", TOKEN))
    assert built[0][0][0] == expected[0][0][0] == "Dq0xse"
    assert json.loads(built[0][0][1]) == json.loads(expected[0][0][1])
    assert built[0][0][2:] == expected[0][0][2:]

    other = json.loads(build_batchexecute_request("dev@kubernetes.io", "T0K3N", page_size=50))
    assert json.loads(other[0][0][1]) == ["dev@kubernetes.io", 50, "T0K3N", [], 2]


def test_page_tokens():
    assert parse_page_tokens(topic_list_html().encode()).at == (
        "AFx3kq9Tn2bWcPzR0mLhVe5YsJdU:1709123456789"
    )
    assert parse_page_tokens("<html></html>") == PageTokens()
    escaped = '<script>WIZ_global_data = {"cfb2h": "boq_x", "SNlM0e":"a\\u003db"};</script>'
    assert parse_page_tokens(escaped) == PageTokens(at="a=b", bl="boq_x")


# Thread: JSON ------------------------------------------------------------------------------


def test_thread_from_json():
    thread = parse_thread_page(thread_html(), THREAD, THREAD_URL)

    assert thread.source == "json"
    assert thread.topic_id == "pQ7vT2xLm0A"
    assert thread.subject == "Anemone census on Saturday"
    assert thread.expected_count == 2 and thread.complete
    assert thread.group.id == "4417093526"
    assert thread.group.email == "tidepool-notes@googlegroups.com"
    assert thread.group.title == "Tidepool Notes"
    first, second = thread.messages
    assert first.id == "Rk2mWd7TAQAJ"
    assert first.topic_id == "pQ7vT2xLm0A"
    assert first.author == "Maren Holt"
    assert first.posted_at == utc(2019, 1, 27, 23, 43, 8)  # meta[8], created
    assert first.updated_at == utc(2019, 1, 27, 23, 44, 8)  # meta[7]
    assert first.subject == "Anemone census on Saturday"
    assert first.body_html == '<div dir="ltr">Do we need waders for the census?<br></div>'
    assert first.attachments == ()
    assert second.id == "x9LfQe4hBgAJ"
    assert second.author == "Teodor Vance"
    assert second.posted_at == utc(2019, 1, 28, 0, 35, 26)
    assert second.subject == "Re: Anemone census on Saturday"
    # Quotes are kept as received; dropping them is the archive's decision.
    assert second.body_html.startswith('<div dir="ltr">Yes.<br><br><div class="gmail_quote">')
    assert '<blockquote class="gmail_quote">Do we need waders' in second.body_html
    # The only masked address on this page is a recipient (the group) on the "to" line:
    # it is not the author's, so it is not attributed to anyone.
    assert [m.masked_address for m in thread.messages] == [None, None]


def test_three_message_thread_yields_three_messages():
    """The known pitfall: data[2][0] is the first message, not the list of messages."""

    def add_third(data):
        data[2].append(
            message_element(
                "c0pYQ3ubAwAJ", "Ines Okafor", 1548640000, "Re: Anemone census", "<p>Third</p>"
            )
        )
        data[1][6] = 3
        return data

    thread = parse_thread_page(edit_data(thread_html(), add_third), THREAD)
    assert [m.id for m in thread.messages] == ["Rk2mWd7TAQAJ", "x9LfQe4hBgAJ", "c0pYQ3ubAwAJ"]
    assert [m.author for m in thread.messages] == ["Maren Holt", "Teodor Vance", "Ines Okafor"]
    assert thread.messages[2].body_html == "<p>Third</p>"
    assert thread.messages[2].posted_at == utc(2019, 1, 28, 1, 46, 40)
    assert thread.expected_count == 3 and thread.complete


def test_fewer_messages_than_google_counts_is_incomplete():
    thread = parse_thread_page(
        edit_data(thread_html(), lambda d: d[:1] + [d[1][:6] + [9], d[2]]), THREAD
    )
    assert len(thread.messages) == 2
    assert thread.expected_count == 9 and not thread.complete


def test_renumbered_thread_block_and_extra_trailing_fields():
    baseline = parse_thread_page(thread_html(), THREAD)
    html = edit_data(thread_html().replace("ds:6", "ds:42"), widen_thread)
    assert parse_thread_page(html, THREAD) == baseline


def test_thread_block_found_by_shape_without_mapping():
    baseline = parse_thread_page(thread_html(), THREAD)
    html = re.sub(r"var AF_dataServiceRequests = \{.*?\}\};", "", thread_html())
    assert "H08Fi" not in html
    assert parse_thread_page(html, THREAD) == baseline


def test_body_segments_and_attachments():
    attachments = [
        [
            "https://groups.google.com/g/tidepool-notes/attach/ab12/netgen.recipe?part=0.1",
            None,
            None,
            "text/plain",
            "netgen.recipe",
            "extra",
        ],
        [
            "https://groups.google.com/g/tidepool-notes/attach/cd34/notes%20v2.txt?part=0.2",
            None,
            None,
            None,
            None,
        ],
        [None, "not an attachment"],
    ]

    def change(data):
        element = message_element("c0pYQ3ubAwAJ", "Carol", 1548640000, "Re", "", attachments)
        element[0][1] = [
            2,
            [[1, [None, "<p>a</p>"]], [2, [None, "ignored"]], [1, [None, "<p>b</p>"]]],
        ]
        data[2].append(element)
        return data

    message = parse_thread_page(edit_data(thread_html(), change), THREAD).messages[2]
    assert message.body_html == "<p>a</p><p>b</p>"
    assert message.attachments == (
        Attachment(attachments[0][0], "netgen.recipe", "text/plain"),
        Attachment(attachments[1][0], "notes v2.txt", None),
    )


def test_missing_pieces_of_a_json_message_come_from_its_section():
    def change(data):
        meta = data[2][0][0][0]
        meta[7] = meta[8] = None
        data[2][0][0][1] = None  # body in an unknown shape
        return data

    first = parse_thread_page(edit_data(thread_html(), change), THREAD, now=NOW).messages[0]
    assert first.posted_at == utc(2019, 1, 27, 15, 43, 8)  # the visible date, read as UTC
    assert first.body_html == '<div dir="ltr">Do we need waders for the census?<br></div>'


# Thread: masked addresses ------------------------------------------------------------------

@pytest.mark.parametrize("strip_json", [False, True], ids=["json", "dom"])
def test_author_masked_address_from_the_author_header(strip_json):
    html = thread_html().replace(
        ALICE_HEADER,
        ALICE_HEADER
        + '<a data-email-masked="" href="https://groups.google.com/">mare...@example.org</a>',
    )
    if strip_json:
        html = without_json(html)
    thread = parse_thread_page(html, THREAD, now=NOW)
    assert thread.source == ("dom" if strip_json else "json")
    assert [m.masked_address for m in thread.messages] == ["mare...@example.org", None]


def test_addresses_quoted_in_the_body_or_listed_as_recipients_are_not_the_author():
    bob = '<div class="LgTNRd"><h3 class="s1f8Zd" id="c7">Teodor Vance</h3></div>'
    html = thread_html().replace(bob, '<h3 class="s1f8Zd" id="c7">Teodor Vance</h3>')
    html = html.replace(
        "Yes.<br><br>", 'Yes.<br>On Sun <a data-email-masked="">ma...@example.org</a> wrote:<br>'
    )
    thread = parse_thread_page(html, THREAD)
    assert thread.messages[1].masked_address is None

    bob_heading = '<h3 class="s1f8Zd" id="c7">Teodor Vance</h3>'
    own_address = '<span><a data-email-masked="">teo...@example.org</a></span>'
    html = html.replace(bob_heading, bob_heading + own_address)
    assert parse_thread_page(html, THREAD).messages[1].masked_address == "teo...@example.org"


def test_author_shown_as_a_masked_address():
    def change(data):
        data[2][1][0][0][2][0][0] = "teodo...@example.org"
        return data

    message = parse_thread_page(edit_data(thread_html(), change), THREAD).messages[1]
    assert message.author == "teodo...@example.org"
    assert message.masked_address == "teodo...@example.org"


def test_address_given_by_the_json_to_members():
    def change(data):
        data[2][0][0][0][2][0][2] = "maren@example.org"
        return data

    message = parse_thread_page(edit_data(thread_html(), change), THREAD).messages[0]
    assert message.masked_address == "maren@example.org"


MASKED_SOURCES = [
    "old-ui-escaped-fragment/gg_scraper_forum_jbrout_cs.html",
    "raw-rfc822/gg_scraper_jbrout_message.eml",
    "raw-rfc822/gg_scraper_py26_unicode.eml",
    "raw-rfc822/vsoch_lbl.gov_singularity_-Atgfp7IeUw_5jOdvXzkEwAJ.eml",
    "raw-rfc822/vsoch_lbl.gov_singularity_-NRrSGFs65E_B3Hgq9CfCwAJ.eml",
    "raw-rfc822/vsoch_lbl.gov_singularity_0x_UuhkqsNk_5xiS6hFLAAAJ.eml",
    "raw-rfc822/vsoch_lbl.gov_singularity_JkW0tQd6G8M_BJHSHYPfAwAJ.eml",
    "raw-rfc822/vsoch_lbl.gov_singularity_KsyjR__3ygg_L7dH63miCAAJ.eml",
    "mbox/gg_scraper_javascriptcz_mangled.mbox",
    "rss-atom/hebelken_group_project-management-ecm_rss2_2009.xml",
    "new-ui-derived/codyhxyz_2026-04-16_google-group_content-scripts-matches-review.md",
    "new-ui-derived/codyhxyz_2026-04-16_google-group_auto-update-sw-race-condition.md",
]


@pytest.mark.parametrize("relative", MASKED_SOURCES)
def test_every_masked_address_in_the_captures_is_recognised(relative):
    text = fixture(*relative.split("/"))
    found = find_masked_addresses(text)
    assert len(found) == text.count("...@") > 0
    for address in found:
        local, _, domain = address.partition("...@")
        assert local and "." in domain and not domain.endswith(".")


def test_masked_address_examples():
    text = fixture("old-ui-escaped-fragment", "gg_scraper_forum_jbrout_cs.html")
    assert "laur...@seor.fr" in find_masked_addresses(text)
    text = fixture("raw-rfc822", "vsoch_lbl.gov_singularity_-NRrSGFs65E_B3Hgq9CfCwAJ.eml")
    assert "m.t....@gmail.com" in find_masked_addresses(text)
    assert find_masked_addresses("send to singu...@lbl.gov.") == ["singu...@lbl.gov"]
    assert find_masked_addresses("maren@example.org, wait... @ home, a..b@c.d") == []


# Thread: HTML fallback ---------------------------------------------------------------------


def test_thread_from_html_when_json_is_missing():
    from_json = parse_thread_page(thread_html(), THREAD)
    thread = parse_thread_page(without_json(thread_html()), THREAD, THREAD_URL, now=NOW)

    assert thread.source == "dom"
    assert thread.subject == from_json.subject
    assert thread.group.title == "Tidepool Notes"
    assert thread.group.id is None
    assert thread.expected_count is None
    assert [m.id for m in thread.messages] == [m.id for m in from_json.messages]
    assert [m.author for m in thread.messages] == [m.author for m in from_json.messages]
    # Visible dates are in the viewer's zone (here Pacific) and are read as UTC.
    assert [m.posted_at for m in thread.messages] == [
        utc(2019, 1, 27, 15, 43, 8),
        utc(2019, 1, 27, 16, 35, 26),
    ]
    assert [m.subject for m in thread.messages] == [from_json.subject] * 2
    assert thread.messages[0].body_html == from_json.messages[0].body_html
    # The HTML shows the trimmed body, with Google's "Show trimmed content" control.
    trimmed = '<div dir="ltr">Yes.<br><br><div class="wqmMgb">'
    assert thread.messages[1].body_html.startswith(trimmed)


def test_thread_from_aria_alone_when_classes_are_renamed():
    html = rename_classes(without_json(thread_html()))
    assert "zX2W9c" not in html and "ptW7te" not in html
    thread = parse_thread_page(html, THREAD, now=NOW)
    assert thread.source == "dom"
    assert thread.subject == "Anemone census on Saturday"
    assert [(m.id, m.author, m.posted_at) for m in thread.messages] == [
        ("Rk2mWd7TAQAJ", "Maren Holt", utc(2019, 1, 27, 15, 43, 8)),
        ("x9LfQe4hBgAJ", "Teodor Vance", utc(2019, 1, 27, 16, 35, 26)),
    ]
    assert (
        thread.messages[0].body_html
        == '<div dir="ltr">Do we need waders for the census?<br></div>'
    )


def test_author_from_the_heading_without_data_author():
    html = re.sub(r' data-author="[^"]*"', "", rename_classes(without_json(thread_html())))
    thread = parse_thread_page(html, THREAD, now=NOW)
    assert [m.author for m in thread.messages] == ["Maren Holt", "Teodor Vance"]


def test_unusable_thread_json_falls_back_to_html():
    def drop_id(data):
        data[2][1][0][0][1] = None
        return data

    thread = parse_thread_page(edit_data(thread_html(), drop_id), THREAD, now=NOW)
    assert thread.source == "dom"
    assert [m.id for m in thread.messages] == ["Rk2mWd7TAQAJ", "x9LfQe4hBgAJ"]
    assert thread.group.id == "4417093526"


def test_empty_thread_json_is_never_a_real_thread():
    html = re.sub(r"<section.*</section>", "", thread_html(), flags=re.S)
    with pytest.raises(LayoutChanged):
        parse_thread_page(edit_data(html, lambda d: [d[0], d[1], []]), THREAD)


# Neither layer -----------------------------------------------------------------------------

NOT_GROUPS = "<!doctype html><html><head><title>Sign in</title></head><body><p>Hi</p></body></html>"


@pytest.mark.parametrize(
    "page", [NOT_GROUPS, "", b"\xff\xfe\x00garbage"], ids=["other", "empty", "binary"]
)
def test_a_page_with_neither_layer_is_a_layout_change(page):
    with pytest.raises(LayoutChanged) as caught:
        parse_group_page(page, GROUP, GROUP_URL)
    assert GROUP_URL in str(caught.value) and caught.value.url == GROUP_URL
    assert caught.value.exit_code == EXIT_LAYOUT_CHANGED

    with pytest.raises(LayoutChanged) as caught:
        parse_thread_page(page, THREAD, THREAD_URL)
    assert THREAD_URL in str(caught.value) and caught.value.url == THREAD_URL


def test_url_defaults_to_the_canonical_one_in_errors():
    with pytest.raises(LayoutChanged, match=re.escape(THREAD.url)):
        parse_thread_page(NOT_GROUPS, THREAD)


def test_truncated_page_is_not_read_as_a_short_thread():
    html = thread_html()
    cut = html[: html.index("AF_initDataCallback") + 400]  # both sections, JSON cut off
    with pytest.raises(LayoutChanged, match="truncated"):
        parse_thread_page(cut, THREAD, THREAD_URL)
    with pytest.raises(LayoutChanged, match="truncated"):
        parse_group_page(topic_list_html()[:-600], GROUP, GROUP_URL)
    # The JSON layer is whole even if the end of the page is not.
    assert parse_thread_page(html.replace("</body></html>", ""), THREAD).source == "json"


# Pages built around real data: systems-neuro-scrape ---------------------------------------


def test_real_threads_round_trip():
    for topic in neuro_topics():
        html = neuro_thread_page(
            topic["id"], topic["title"], topic["num_messages"], topic["messages"]
        )
        thread = parse_thread_page(html.encode(), NEURO.thread(topic["id"]))
        assert thread.source == "json"
        assert thread.subject == topic["title"]
        assert thread.group.email == NEURO_EMAIL
        assert thread.expected_count == topic["num_messages"]
        assert thread.complete == (topic["num_messages"] <= len(topic["messages"]))
        assert len(thread.messages) == len(topic["messages"])
        for message, source in zip(thread.messages, topic["messages"], strict=True):
            assert message.id == source["id"]
            assert message.author == source["author"]
            assert message.posted_at == datetime.fromtimestamp(source["created_ts"], UTC)
            assert message.posted_at.isoformat().replace("+00:00", "Z") == source["created"]
            assert message.updated_at.isoformat().replace("+00:00", "Z") == source["updated"]
            assert message.subject == source["title"]
            assert message.body_html == source["body_html"]


def test_real_messages_in_one_thread_stay_apart():
    topics = neuro_topics()
    messages = [topic["messages"][0] for topic in topics[:3]]
    html = neuro_thread_page(topics[0]["id"], topics[0]["title"], 3, messages)
    thread = parse_thread_page(html, NEURO.thread(topics[0]["id"]))
    assert [m.id for m in thread.messages] == [m["id"] for m in messages]
    assert [m.body_html for m in thread.messages] == [m["body_html"] for m in messages]
    assert thread.complete


def test_one_real_thread_has_fewer_messages_than_listed():
    topic = next(t for t in neuro_topics() if t["id"] == "4io1p-B5Lig")
    html = neuro_thread_page(topic["id"], topic["title"], topic["num_messages"], topic["messages"])
    thread = parse_thread_page(html, NEURO.thread(topic["id"]))
    assert (len(thread.messages), thread.expected_count, thread.complete) == (1, 2, False)


def test_real_topic_list_round_trip():
    topics = neuro_topics()
    rows = [
        [
            [
                "1",
                t["id"],
                t["title"],
                t["snippet"],
                [t["last_activity_ts"], 0],
                [t["created_ts"], 0],
                t["num_messages"],
                None,
                None,
                [[[a, None, None, str(i)] for i, a in enumerate(t["authors"])], len(t["authors"])],
            ]
        ]
        for t in topics
    ]
    html = page_with([["1", NEURO_EMAIL], 1493, rows, TOKEN], "Dq0xse", "ds:7", "Groups")
    page = parse_group_page(html.encode(), NEURO)
    assert page.group.total_topics == 1493 and page.next_token == TOKEN
    assert len(page.topics) == len(topics) == 30
    for parsed, source in zip(page.topics, topics, strict=True):
        assert parsed.id == source["id"]
        # Snippets come HTML-escaped (&#39;, &amp;): unescaped exactly once.
        assert parsed.subject == unescape(source["title"])
        assert parsed.snippet == unescape(source["snippet"])
        # The data set's "created" is field [5]: the newest post, not the creation.
        assert parsed.created_at is None
        assert parsed.last_activity_at.isoformat().replace("+00:00", "Z") == source["last_activity"]
        assert parsed.message_count == source["num_messages"]
        assert parsed.authors == tuple(source["authors"])


# Thread: masked addresses and group name without a DOM ------------------------------------
#
# A page read from its JSON takes the authors' masked addresses and the group's name from
# a string scan of the HTML (scraper.pages.scan) rather than an lxml parse of the whole
# page. The scan must say exactly what lxml says, or say it cannot tell; these tests hold
# it to that on our own thread page, on the simulator's pages and on hand-made and random markup.


def lxml_reading(page: str | bytes) -> tuple[dict[str, str | None], str | None]:
    """What the lxml layer reads: each section's header address, and the group name."""
    tree = dom.parse_html(page)
    sections = dom.message_sections(tree)
    addresses = {mid: dom.section_masked_address(s, "") for mid, s in sections.items()}
    return addresses, dom.group_title(tree)


def scan_reading(page: str | bytes) -> tuple[dict[str, str | None] | None, str | None]:
    text = page.decode() if isinstance(page, bytes) else page
    spans = [(block.start, block.end) for block in init_data_blocks(text)]
    return scan.masked_addresses(text, spans), scan.group_title(text)


def assert_scan_reads_like_lxml(page: str | bytes) -> dict[str, str | None]:
    addresses, title = scan_reading(page)
    assert addresses is not None, "the scan could not decide"
    assert title is not None, "the scan could not read the group name"
    assert (addresses, title) == lxml_reading(page)
    return addresses


def read_with_lxml_only(monkeypatch) -> None:
    """From here on, parse_thread_page reads pages as it reads those the scan cannot
    decide: through lxml alone."""
    monkeypatch.setattr(scan, "masked_addresses", lambda *args, **kwargs: None)
    monkeypatch.setattr(scan, "group_title", lambda *args, **kwargs: None)


def test_the_scan_mirrors_the_selectors_table():
    """Else every JSON-parsed thread would be read by lxml again: right, but slow."""
    assert scan._mirrors_selectors()


def test_scan_reads_the_written_thread_like_lxml():
    assert assert_scan_reads_like_lxml(thread_html()) == {
        "Rk2mWd7TAQAJ": None,  # the only masked address is the group's, on the "to" line
        "x9LfQe4hBgAJ": None,
    }
    assert assert_scan_reads_like_lxml(with_alice_address(thread_html()).encode()) == {
        "Rk2mWd7TAQAJ": "mare...@example.org",
        "x9LfQe4hBgAJ": None,
    }


def test_thread_read_with_the_scan_equals_the_thread_read_with_lxml(monkeypatch):
    pages = [thread_html(), with_alice_address(thread_html())]
    scanned = [parse_thread_page(page.encode(), THREAD) for page in pages]
    read_with_lxml_only(monkeypatch)
    assert [parse_thread_page(page.encode(), THREAD) for page in pages] == scanned
    assert scanned[1].messages[0].masked_address == "mare...@example.org"


@pytest.mark.parametrize("variant", [Variant(), Variant(renamed=True)], ids=["default", "renamed"])
def test_scan_reads_the_simulator_pages_like_lxml(variant, sim_state, monkeypatch):
    pages = simulator_thread_pages(sim_state, variant)
    assert len(pages) > 50
    found = {}
    for _, body in pages:
        found.update(assert_scan_reads_like_lxml(body))
    # Authors with and without an address; replies whose "to" line names someone else.
    assert sum(address is not None for address in found.values()) > 100
    assert None in found.values()

    scanned = [parse_thread_page(body, ref) for ref, body in pages]
    read_with_lxml_only(monkeypatch)
    assert [parse_thread_page(body, ref) for ref, body in pages] == scanned


def test_scan_reads_generated_group_pages_like_lxml():
    state = GroupsState()
    state.add_generated_group("generated", topics=6, messages_per_topic=40, seed=3)
    for _, body in simulator_thread_pages(state, Variant()):
        assert len(assert_scan_reads_like_lxml(body)) == 40


EXPECTED = {
    "recipients inside the header": None,
    "no address": None,
    "unmasked link": None,
    "words that are not an address": None,
}


@pytest.mark.parametrize("change", TOLERATED.values(), ids=TOLERATED.keys())
def test_scan_tolerates_attribute_order_quoting_and_case(change, request):
    page = section_page(**change)
    name = request.node.callspec.id
    expected = EXPECTED.get(name, "mare...@example.org")
    assert assert_scan_reads_like_lxml(page) == {"MSG1": expected}
    assert parse_thread_page(page, THREAD).messages[0].masked_address == expected


UNSURE = {
    "paragraph in the header": {"link": f"<p>{LINK}</p>"},
    "comment in the header": {"link": f"<!-- x -->{LINK}"},
    "tags closed out of order": {"link": f"<span><b>{LINK}</span></b>"},
    "link inside a link": {"link": f"<a>x{LINK}</a>"},
    "wbr wraps what follows": {"link": f"<wbr>{LINK}"},
    "loose ampersand": {"link": "<a data-email-masked>mare...@example.org &amp</a>"},
    "unknown entity": {"link": "<a data-email-masked>mare...@example.org&notit;</a>"},
    "the same message twice": {"twice": True},
    "empty message id": {"section": 'role="listitem" data-doc-id=""'},
    "a message inside a header": {"link": '<span data-doc-id="x">' + LINK + "</span>"},
    "a quoted value holding a tag": {"section": 'title="<b>" role="listitem" data-doc-id="MSG1"'},
}


@pytest.mark.parametrize("change", UNSURE.values(), ids=UNSURE.keys())
def test_scan_declines_markup_it_cannot_be_sure_of(change):
    page = section_page(**change)
    assert scan_reading(page)[0] is None
    # The thread is still read from its JSON, with lxml's reading of the HTML.
    (message,) = parse_thread_page(page, THREAD).messages
    assert message.masked_address == lxml_reading(page)[0].get("MSG1")


def test_a_heading_that_holds_the_body_is_left_to_lxml():
    """When the author's heading sits beside the body, addresses after it would count."""
    bob = '<div class="LgTNRd"><h3 class="s1f8Zd" id="c7">Teodor Vance</h3></div>'
    html = thread_html().replace(bob, '<h3 class="s1f8Zd" id="c7">Teodor Vance</h3>')
    assert scan_reading(html)[0] is None
    tail = '<div><a data-email-masked="">late...@example.com</a></div>\n </div>\n</section>'
    html = re.sub(r"</div></div>\n </div>\n</section>(?=\n</div>)", "</div></div>" + tail, html)
    assert "late...@example.com" in html
    assert parse_thread_page(html, THREAD).messages[1].masked_address == "late...@example.com"


def test_json_messages_without_sections_are_read_by_lxml():
    topic = neuro_topics()[0]
    html = neuro_thread_page(topic["id"], topic["title"], 1, topic["messages"][:1])
    assert scan_reading(html)[0] is None
    assert parse_thread_page(html, NEURO.thread(topic["id"])).messages[0].masked_address is None


def test_a_json_thread_is_read_without_a_dom(monkeypatch):
    trees = []
    real_parse = dom.parse_html
    monkeypatch.setattr(dom, "parse_html", lambda page: trees.append(1) or real_parse(page))

    thread = parse_thread_page(with_alice_address(thread_html()).encode(), THREAD)
    assert thread.messages[0].masked_address == "mare...@example.org"
    assert trees == []

    # A JSON message the scan found no section for: lxml is asked, and agrees it has none.
    def add_third(data):
        data[2].append(message_element("c0pYQ3ubAwAJ", "Carol", 1548640000, "Re", "<p>3</p>"))
        return data

    html = edit_data(with_alice_address(thread_html()), add_third)
    thread = parse_thread_page(html, THREAD)
    assert trees == [1]
    assert [m.masked_address for m in thread.messages] == ["mare...@example.org", None, None]


def test_bytes_that_are_not_utf8_are_read_by_lxml(monkeypatch):
    """lxml has its own ways with bad bytes; the scan's text has U+FFFD in their place."""
    html = with_alice_address(thread_html()).encode().replace(b"e</h3>", b"\xff</h3>")

    def refuse(*args, **kwargs):
        raise AssertionError("the scan read a page that is not UTF-8")

    monkeypatch.setattr(scan, "masked_addresses", refuse)
    monkeypatch.setattr(scan, "group_title", refuse)
    thread = parse_thread_page(html, THREAD)
    assert [m.masked_address for m in thread.messages] == ["mare...@example.org", None]
    assert thread.group.title == "Tidepool Notes"


def test_scan_never_disagrees_with_lxml_on_random_headers():
    rng = random.Random(20261127)
    decided = 0
    for _ in range(400):
        ids = [f"m{n}" for n in range(rng.randint(1, 3))]
        sections = "".join(random_section(rng, message_id) for message_id in ids)
        page = f"<html><body><h2>G</h2><div role=list>{sections}</div></body></html>"
        addresses, _ = scan_reading(page)
        if addresses is None:
            continue
        decided += 1
        expected, _ = lxml_reading(page)
        # What the scan reads, lxml reads; what it misses, parse_thread_page asks lxml for.
        assert {mid: expected.get(mid, "missing") for mid in addresses} == addresses, page
    assert decided > 120  # it decides often enough for the comparison to mean something


def test_group_name_without_a_dom():
    assert scan.group_title(thread_html()) == "Tidepool Notes"
    entity = thread_html().replace("<h2>Tidepool Notes</h2>", "<h2>\n Tom &amp; Jerry </h2>")
    assert scan.group_title(entity) == "Tom & Jerry" == lxml_reading(entity)[1]


@pytest.mark.parametrize(
    "before",
    [
        '<script>var x = "<h2>Decoy</h2>";</script>',
        "<!-- <h2>Decoy</h2> -->",
        '<template><h2 class="x">Decoy</h2></template>',
        '<div title="<h2>Decoy</h2>"></div>',
    ],
    ids=["script", "comment", "template", "attribute"],
)
def test_group_name_behind_unparsed_text_is_left_to_lxml(before):
    html = thread_html().replace("<h2>Tidepool Notes</h2>", before + "<h2>Tidepool Notes</h2>")
    assert scan.group_title(html) is None
    assert parse_thread_page(html, THREAD).group.title == lxml_reading(html)[1]


@pytest.mark.parametrize(
    "heading", ["<h2><span>Tidepool</span> Notes</h2>", "<h2></h2><h2>Tidepool Notes</h2>", ""]
)
def test_group_name_with_markup_is_left_to_lxml(heading):
    html = thread_html().replace("<h2>Tidepool Notes</h2>", heading)
    assert scan.group_title(html) is None
    assert parse_thread_page(html, THREAD).group.title == lxml_reading(html)[1]


def test_a_callback_quoted_in_a_message_is_not_a_block():
    quoted = "<p>AF_initDataCallback({key: 'ds:9', hash: '1', data:[1, 2]}) and "
    quoted += "var AF_dataServiceRequests = {'ds:6' : {id:'Dq0xse',request:[]}};</p>"

    def change(data):
        data[2][0][0][1][1][0][1][1] = quoted
        return data

    html = edit_data(thread_html(), change)
    assert [block.key for block in init_data_blocks(html)] == ["ds:6"]
    for block in init_data_blocks(html):
        assert json.loads(html[block.start : block.end]) == block.data
    thread = parse_thread_page(html, THREAD)
    assert thread.source == "json"
    assert thread.messages[0].body_html == quoted


# The edges of the served shape ----------------------------------------------------------
#
# tests/golden pins the scan's answers on the simulator's pages, our thread page, random
# headers and thousands of perturbed pages; these tests say what it must answer at the
# edges of the served shape.


def with_heading(name: str):
    return lambda page: page.replace(">Maren Holt</h3>", f">{name}</h3>")


def with_address_text(text: str):
    return lambda page: page.replace(">mare...@example.org</a>", f">{text}</a>")


def with_replaced(old: str, new: str):
    return lambda page: page.replace(old, new)


# Changes at the edges of the served shape, and what lxml reads from the page then, or
# DECLINED where the scan must say it cannot tell.
DECLINED = "the scan cannot tell"
SHAPE_EDGES = {
    "as served": (with_replaced("", ""), "mare...@example.org"),
    "heading that starts with to": (with_heading("to Alice"), None),
    "heading that is just to": (with_heading("to"), "mare...@example.org"),
    "reference in the heading": (with_heading("Tom &amp; Jerry"), "mare...@example.org"),
    "unknown reference in the heading": (with_heading("Tom &bogus; Jerry"), DECLINED),
    "NUL in the heading": (with_heading("Tom\x00"), DECLINED),
    "empty heading": (with_heading(""), "mare...@example.org"),
    "references in the address": (
        with_address_text("mare&#46;&#46;&#x2e;@example&period;org"), "mare...@example.org"
    ),
    "loose ampersand in the address": (with_address_text("mare...@example.org &"), DECLINED),
    "words around the address": (
        with_address_text(" by mare...@example.org\n"), "mare...@example.org"
    ),
    "link without an address": (with_address_text("Alice"), None),
    "body class on the header": (
        with_replaced('class="LgTNRd"', 'class="LgTNRd ptW7te"'), "mare...@example.org"
    ),
    "body class on the frame": (
        with_replaced('class="D1OdOb"', 'class="ptW7te"'), "mare...@example.org"
    ),
    "body class on the header, then a paragraph": (
        lambda page: page.replace('class="LgTNRd"', 'class="LgTNRd ptW7te"')
        .replace('<div class="ELCJ4d">', "<p>x</p><div>"),
        DECLINED,
    ),
    "body class on the header, then no region": (
        lambda page: page.replace('class="LgTNRd"', 'class="LgTNRd ptW7te"')
        .replace('role="region"', 'role="note"'),
        DECLINED,
    ),
    "unknown reference in a class the rules read": (
        with_replaced('class="D1OdOb"', 'class="region &bogus;"'), DECLINED
    ),
    "the words of rules as classes": (
        with_replaced('class="LgTNRd"', 'class="data-doc-id region data-email-masked"'),
        "mare...@example.org",
    ),
    "reference in data-author": (
        with_replaced('data-author="Maren Holt"', 'data-author="A &amp; B"'),
        "mare...@example.org",
    ),
    "unknown reference in data-author": (
        with_replaced('data-author="Maren Holt"', 'data-author="A &bogus; B"'), DECLINED
    ),
    "loose ampersand in the link": (with_replaced("google.com/", "google.com/?a&b"), DECLINED),
    "line end in the link": (with_replaced("google.com/", "google.com/\r\n"), DECLINED),
    "no data-author": (with_replaced(' data-author="Maren Holt"', ""), "mare...@example.org"),
    "heading without an id": (with_replaced(' id="c4"', ""), "mare...@example.org"),
    "two links": (with_replaced(LINK, LINK + LINK), "mare...@example.org"),
    "the words in text after the start tag": (
        with_replaced('listitem" data-doc-id="MSG1" data-author="Maren Holt">\n',
                      'listitem" data-doc-id="MSG1" data-author="Maren Holt">data-doc-id'),
        "mare...@example.org",
    ),
    "the words before any tag": (lambda page: "data-doc-id " + page, DECLINED),
    "a self-closed start tag": (
        with_replaced('data-author="Maren Holt">', 'data-author="Maren Holt"/>'), DECLINED
    ),
}  # fmt: skip


@pytest.mark.parametrize("change,expected", SHAPE_EDGES.values(), ids=SHAPE_EDGES.keys())
def test_the_scan_at_the_edges_of_the_served_shape(change, expected):
    page = change(section_page())
    assert page != section_page() or expected == "mare...@example.org"
    got, _ = scan_reading(page)
    if expected is DECLINED:
        assert got is None
    else:
        assert got == {"MSG1": expected} == lxml_reading(page)[0]


def test_the_words_after_a_start_tag_and_a_skipped_span_are_text():
    """The last "<" before them opens a message's start tag, but they are past its end."""
    page = section_page().replace('Holt">\n', 'Holt">[1,2] data-doc-id\n', 1)
    spans = [(block.start, block.end) for block in init_data_blocks(page)]
    spans.append((page.index("[1,2]"), page.index("[1,2]") + len("[1,2]")))
    expected = {"MSG1": "mare...@example.org"}
    assert scan.masked_addresses(page, spans) == expected
