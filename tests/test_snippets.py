"""Snippets cut from the message text: what they mark, and that a huge body is no
different from a small one (its cost is measured in bench/, not here)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from archive.db import Archive
from archive.search import search
from archive.snippets import ELLIPSIS, SCAN_CHARS, excerpt, index_words, word_pattern
from scraper.models import Group, GroupRef, Message, Thread

MARKS = ("[", "]")


def marked(body: str, query: str, *, prefix: bool = False) -> str:
    regex = re.compile(word_pattern(index_words(query), prefix=prefix), re.IGNORECASE)
    return excerpt(body, regex, MARKS)


def test_words_as_the_index_sees_them():
    assert marked("Un CAFÉ, un cafe\u0301 et des cafés.", "cafe") == (
        "Un [CAFÉ], un [cafe\u0301] et des cafés."
    )
    assert marked("error rror xrror rror_x", "rror") == "error [rror] xrror [rror]_x"
    assert marked("the relea releases released", "relea", prefix=True) == (
        "the [relea] [releases] [released]"
    )
    # a phrase is one mark, whatever separates its words
    assert marked("a code -- freeze and code freeze", "code freeze") == (
        "a [code -- freeze] and [code freeze]"
    )


def test_the_excerpt_is_a_window_around_the_first_match():
    words = [f"w{i}" for i in range(200)]
    body = " ".join(words[:100] + ["needle"] + words[100:])
    text = marked(body, "needle")
    assert text.startswith(ELLIPSIS + "w96 w97 w98 w99 [needle] w100")
    assert text.endswith(ELLIPSIS) and len(text.split()) == 24
    # near the start: no leading ellipsis
    assert marked("one two needle three", "needle") == "one two [needle] three"


def test_no_match_gives_the_opening_words():
    body = " ".join(f"w{i}" for i in range(100))
    assert excerpt(body, None, MARKS) == " ".join(f"w{i}" for i in range(24)) + ELLIPSIS
    assert excerpt("short body", re.compile("absent"), MARKS) == "short body"


def test_huge_bodies(tmp_path):
    line = "2024-05-01 12:00:00 ERROR worker-3 connection reset by peer; retrying (attempt 7)\n"
    body = line * (20_000_000 // len(line))
    text = marked(body, "retrying")
    assert "[retrying]" in text and len(text) < 400
    # a first match beyond the scanned part: the opening words, unmarked
    late = marked(body[:SCAN_CHARS] + " unicorn " + body[:1000], "unicorn")
    assert late.startswith("2024-05-01 12:00:00 ERROR") and "[" not in late


def _one_message_archive(path, body_html: str) -> None:
    group = Group(GroupRef("g"), "1", "g@googlegroups.com", "G")
    when = datetime(2024, 5, 1, tzinfo=UTC)
    message = Message("m00000000001", "t000000001", "Someone", when, "Big log", body_html)
    with Archive(path) as archive:
        archive.save_thread(Thread(group, "t000000001", "Big log", (message,)), seen_at=when)


@pytest.mark.parametrize("accent", ["", "é"])  # an ASCII body is scanned another way
def test_search_snippets_come_from_the_text(tmp_path, accent):
    path = tmp_path / "a.db"
    filler = " ".join(f"word{i}" for i in range(30_000))  # longer than SLOW_SCAN_CHARS
    _one_message_archive(
        path,
        f"<pre>{accent}{filler[:1000]} cve 2024 3177 then an error in CVE-2024-3177, "
        f"a Caf{accent or 'e'} {filler}</pre>",
    )
    [hit] = search(path, "CVE-2024-3177")
    # the identifier exactly, not the same words apart
    assert "**CVE-2024-3177**" in hit.snippet and "**cve" not in hit.snippet
    [hit] = search(path, "error OR absent")
    assert "**error**" in hit.snippet and hit.snippet.startswith(ELLIPSIS)
    [hit] = search(path, "cafe")
    assert f"**Caf{accent or 'e'}**" in hit.snippet
    [hit] = search(path, "subject:log")  # words only in the subject: the opening
    assert hit.snippet.startswith(accent + "word0 word1") and "**" not in hit.snippet


@pytest.mark.parametrize("query", ["", "   "])
def test_empty_words(query):
    assert word_pattern(index_words(query)) is None
