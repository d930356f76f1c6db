"""A body nested tens of thousands of elements deep still makes a feed, and keeps its
text. (The time it takes is measured in bench/, not asserted here.)"""

from __future__ import annotations

from datetime import UTC, datetime

import feedparser
from click.testing import CliRunner

from archive.cli import cli
from archive.db import Archive
from archive.feed import MAX_NESTING, bound_nesting
from scraper.models import Group, GroupRef, Message, Thread

DEPTH = 60_000


def test_bound_nesting_keeps_text_and_shallow_structure():
    html = "<div><p>a<div>b</div>c</p><br><img src=x /><span>d</span></div>"
    assert bound_nesting(html, 2) == "<div><p>abc</p><br><img src=x /><span>d</span></div>"
    assert bound_nesting(html, 3) == html
    # an end tag closes what is left open inside it; stray end tags are left to the parser
    assert bound_nesting("<b><i><u>x</b></i>y", 1) == "<b>x</b></i>y"
    deep = "<blockquote>" * 1000 + "quoted" + "</blockquote>" * 1000
    bounded = bound_nesting(deep)
    assert bounded.count("<blockquote>") == bounded.count("</blockquote>") == MAX_NESTING
    assert "quoted" in bounded


def test_feed_of_a_deeply_nested_body(tmp_path):
    path = tmp_path / "deep.db"
    group = Group(GroupRef("deep"), "1", "deep@googlegroups.com", "Deep")
    when = datetime(2024, 5, 1, tzinfo=UTC)
    body = "<div>" * DEPTH + "<p>the bottom of the well</p>" + "</div>" * DEPTH
    message = Message("m00000000001", "t000000001", "Someone", when, "Deep", body)
    with Archive(path) as archive:
        archive.save_thread(Thread(group, "t000000001", "Deep", (message,)), seen_at=when)
    result = CliRunner().invoke(cli, ["feed", "--db", str(path)])
    assert result.exit_code == 0, result.output
    parsed = feedparser.parse(result.stdout_bytes)
    assert not parsed.bozo, parsed.bozo_exception
    [entry] = parsed.entries
    content = entry.content[0].value
    assert "the bottom of the well" in content
    assert 0 < content.count("<div") <= MAX_NESTING
