"""Search over an archive built by syncing the simulator's demo groups.

Most tests compare the search with an independent oracle: a few lines of Python that
decide, message by message, what each query must match. The archive is built once per
session and only read (search opens it read-only), so tests share it.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import subprocess
import sys
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import archive.db as db_module
from archive.db import Archive
from archive.query import MAX_NESTING, DateRange, is_token_char
from archive.render import print_results
from archive.search import (
    SORTS,
    SearchHit,
    matching_message_ids,
    planner,
    runner,
    search,
    search_threads,
    tuning,
)
from scraper.errors import ArchiveError, BadQuery, SearchBug, UnknownGroup
from scraper.models import Group, GroupRef, Message, Thread
from tests.helpers.sync import sync_demo
from tests.simulator import GroupsState
from tests.simulator.demo import CHEN, FATIMA, body, populate

NOW = datetime(2025, 3, 31, 12, tzinfo=UTC)
ANNOUNCE = "demo-announce@googlegroups.com"
DEV = "dev@example.org"

# Messages whose text holds the parts of the demo's identifiers, but not the identifiers.
DECOYS = {
    "Decoy: the parts apart": "CVE 2024 was a busy year; ticket 3177 is unrelated. "
    "Also cve 2024 3177 written with spaces, v1 30 2, go1 22 1 and kubernetes kubernetes 12345.",
    "Decoy: longer identifiers": "See CVE-2024-31770, v1.30.20, v1.30.2.1, go1.22.10, "
    "kubernetes/kubernetes#123456 and XCVE-2024-3177.",
    "Decoy: identifiers inside longer ones": "See module_CVE-2024-3177, xfoo_v1.30.2, "
    "tool-go1.22.1 and fork.kubernetes/kubernetes#12345.",
    "Decoy: 中文分词 without spaces": "这是一个测试：中文分词很难。",
}


def _add_decoys(state: GroupsState) -> None:
    dev = state.group("dev", "example.org")
    when = datetime(2025, 5, 1, 12, tzinfo=UTC)
    for i, (subject, text) in enumerate(DECOYS.items()):
        state.add_topic(
            dev, subject, *(CHEN if i % 2 else FATIMA), body_html=body(text),
            posted_at=when + timedelta(days=i),
        )  # fmt: skip


@pytest.fixture(scope="session")
def demo_state() -> GroupsState:
    state = GroupsState()
    populate(state)
    _add_decoys(state)
    return state


@pytest.fixture(scope="session")
def archive_path(tmp_path_factory, demo_state) -> Path:
    return sync_demo(demo_state, tmp_path_factory.mktemp("search") / "archive.db")


# ---------------------------------------------------------------- the oracle


def fold(text: str) -> str:
    """Lower case without diacritics, as the index's unicode61 tokenizer sees text."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def tokens(text: str) -> list[str]:
    return "".join(c if is_token_char(c) else " " for c in fold(text)).split()


@dataclass(frozen=True)
class Row:
    id: int
    subject: str
    author: str
    masked: str
    body: str
    posted_at: datetime
    groups: frozenset[str]

    def _columns(self, column: str | None) -> list[str]:
        return {
            None: [self.subject, f"{self.author} {self.masked}", self.body],
            "subject": [self.subject],
            "author": [f"{self.author} {self.masked}"],
        }[column]

    def has(self, phrase: str, column: str | None = None, prefix: bool = False) -> bool:
        """The words of ``phrase`` next to each other in one column (last one a prefix)."""
        wanted = tokens(phrase)
        for text in self._columns(column):
            found = tokens(text)
            for i in range(len(found) - len(wanted) + 1):
                window = found[i : i + len(wanted)]
                if window[:-1] == wanted[:-1] and (
                    window[-1].startswith(wanted[-1]) if prefix else window[-1] == wanted[-1]
                ):
                    return True
        return False

    def exact(self, identifier: str, column: str | None = None, open_end: bool = False) -> bool:
        """``identifier`` as a whole: not inside a longer word or version (``open_end``:
        only its start is checked, as for a prefix)."""
        needle = identifier.lower()
        for text in self._columns(column):
            text = text.lower()
            at = text.find(needle)
            while at >= 0:
                before = text[max(0, at - 2) : at].rjust(2)
                after = text[at + len(needle) : at + len(needle) + 2]
                joined = before[1:].isalnum() or (before[1] in ".-_+" and before[0].isalnum())
                continued = after[:1].isalnum() or (after[:1] in ".-_+" and after[1:2].isalnum())
                if not joined and (open_end or not continued):
                    return True
                at = text.find(needle, at + 1)
        return False

    def contains(self, text: str) -> bool:
        return any(text in column for column in self._columns(None))

    def on_or_after(self, day: str) -> bool:
        return self.posted_at >= datetime.fromisoformat(day).replace(tzinfo=UTC)


@pytest.fixture(scope="session")
def rows(archive_path) -> list[Row]:
    conn = sqlite3.connect(archive_path)
    found = []
    for row in conn.execute(
        "SELECT m.id, m.subject, m.author, coalesce(m.masked_address, ''), m.body_text,"
        " m.posted_at, (SELECT group_concat(group_key, ' ') FROM postings p"
        " WHERE p.message_id = m.id) FROM messages m"
    ):
        posted = datetime.fromisoformat(row[5].replace("Z", "+00:00"))
        found.append(Row(*row[:5], posted, frozenset(row[6].split())))
    conn.close()
    assert len(found) > 300
    return found


def ids(hits) -> set[int]:
    return {hit.id for hit in hits}


# Every operator alone and in combination, each with what it must mean.
ORACLE_CASES = [
    ("upgrade", lambda r: r.has("upgrade")),
    ("upgrade plugins", lambda r: r.has("upgrade") and r.has("plugins")),
    ("upgrade AND plugins", lambda r: r.has("upgrade") and r.has("plugins")),
    ('"upgrade guide"', lambda r: r.has("upgrade guide")),
    ('"the upgrade guide does not"', lambda r: r.has("the upgrade guide does not")),
    ("migration OR reviewers", lambda r: r.has("migration") or r.has("reviewers")),
    ("plugins -upgrade", lambda r: r.has("plugins") and not r.has("upgrade")),
    ("plugins NOT upgrade", lambda r: r.has("plugins") and not r.has("upgrade")),
    ("-thanks", lambda r: not r.has("thanks")),
    ("NOT thanks NOT agreed", lambda r: not r.has("thanks") and not r.has("agreed")),
    ("arm*", lambda r: r.has("arm", prefix=True)),
    ('"release cand"*', lambda r: r.has("release cand", prefix=True)),
    (
        "(migration OR reviewers) -thanks",
        lambda r: (r.has("migration") or r.has("reviewers")) and not r.has("thanks"),
    ),
    (
        "release notes OR checksums -binaries",
        lambda r: (
            r.has("release") and (r.has("notes") or r.has("checksums")) and not r.has("binaries")
        ),
    ),
    (
        "-(thanks OR agreed) lts",
        lambda r: r.has("lts") and not (r.has("thanks") or r.has("agreed")),
    ),
    ("subject:release", lambda r: r.has("release", "subject")),
    ('subject:"long-term support"', lambda r: r.has("long term support", "subject")),
    ("subject:plug*", lambda r: r.has("plug", "subject", prefix=True)),
    ("-subject:re thanks", lambda r: r.has("thanks") and not r.has("re", "subject")),
    ("from:ann", lambda r: r.has("ann", "author")),
    ("author:ann", lambda r: r.has("ann", "author")),
    ("from:example.de", lambda r: r.has("example de", "author")),
    ("from:guenter...@example.de", lambda r: r.has("guenter example de", "author")),
    ('from:"Günter Groß"', lambda r: r.has("gunter groß", "author")),
    ("from:gunter", lambda r: r.has("gunter", "author")),  # diacritics folded
    ("from:gu*", lambda r: r.has("gu", "author", prefix=True)),
    ("from:ann OR from:hiro", lambda r: r.has("ann", "author") or r.has("hiro", "author")),
    ("-from:bot", lambda r: not r.has("bot", "author")),
    ("from:ann thanks", lambda r: r.has("ann", "author") and r.has("thanks")),
    ("group:dev", lambda r: DEV in r.groups),
    ("group:dev@example.org", lambda r: DEV in r.groups),
    ("group:demo-announce", lambda r: ANNOUNCE in r.groups),
    ("group:https://groups.google.com/a/example.org/g/dev", lambda r: DEV in r.groups),
    ("-group:dev", lambda r: DEV not in r.groups),
    ("group:dev group:demo-announce", lambda r: r.groups == {ANNOUNCE, DEV}),
    ("group:dev OR from:hiro", lambda r: DEV in r.groups or r.has("hiro", "author")),
    ("group:demo-announce arm64", lambda r: ANNOUNCE in r.groups and r.has("arm64")),
    ("after:2025-03-15", lambda r: r.on_or_after("2025-03-15")),
    ("before:2024-02-01", lambda r: not r.on_or_after("2024-02-01")),
    (
        "on:2025-03-15",
        lambda r: r.on_or_after("2025-03-15") and not r.on_or_after("2025-03-16"),
    ),
    ("after:120d", lambda r: r.posted_at >= NOW - timedelta(days=120)),
    ("before:1y", lambda r: r.posted_at < datetime(2024, 3, 31, 12, tzinfo=UTC)),
    ("after:2w", lambda r: r.posted_at >= NOW - timedelta(weeks=2)),
    ("after:4m", lambda r: r.posted_at >= datetime(2024, 11, 30, 12, tzinfo=UTC)),
    ("-after:2024-02-01", lambda r: not r.on_or_after("2024-02-01")),
    (
        "thanks after:2025-01-01 before:2025-04-01 group:demo-announce -from:ann",
        lambda r: (
            r.has("thanks")
            and r.on_or_after("2025-01-01")
            and not r.on_or_after("2025-04-01")
            and ANNOUNCE in r.groups
            and not r.has("ann", "author")
        ),
    ),
    ("CVE-2024-3177", lambda r: r.exact("CVE-2024-3177")),
    ("cve-2024-3177", lambda r: r.exact("CVE-2024-3177")),
    ("v1.30.2", lambda r: r.exact("v1.30.2")),
    ("go1.22.1", lambda r: r.exact("go1.22.1")),
    ("kubernetes/kubernetes#12345", lambda r: r.exact("kubernetes/kubernetes#12345")),
    ("v1.30*", lambda r: r.has("v1 30", prefix=True) and r.exact("v1.30", open_end=True)),
    ("subject:CVE-2024-3177", lambda r: r.exact("CVE-2024-3177", "subject")),
    ('"fixed in v1.30.2"', lambda r: r.has("fixed in v1 30 2") and r.exact("v1.30.2")),
    (
        "CVE-2024-3177 OR go1.22.1",
        lambda r: r.exact("CVE-2024-3177") or r.exact("go1.22.1"),
    ),
    ("-CVE-2024-3177 v1.30.2", lambda r: r.exact("v1.30.2") and not r.exact("CVE-2024-3177")),
    ("v1.30.2 -go1.22.1", lambda r: r.exact("v1.30.2") and not r.exact("go1.22.1")),
    ("v1.30.2 arm64 OR sync", lambda r: r.exact("v1.30.2") and (r.has("arm64") or r.has("sync"))),
    ("cve 2024 3177", lambda r: r.has("cve") and r.has("2024") and r.has("3177")),
    ('"cve 2024 3177"', lambda r: r.has("cve 2024 3177")),
    ("Überprüfung", lambda r: r.has("uberprufung")),
    ("uberprufung", lambda r: r.has("uberprufung")),
    ("版本发布", lambda r: r.contains("版本发布")),
    ("中文", lambda r: r.contains("中文")),
    ("subject:中文", lambda r: "中文" in r.subject),
    ("中文 -decoy", lambda r: r.contains("中文") and not r.has("decoy")),
    ("中文 OR reviewers", lambda r: r.contains("中文") or r.has("reviewers")),
    ('"Demo 2.0"', lambda r: r.has("demo 2 0") and r.exact("2.0")),
    ("", lambda r: True),
]


@pytest.mark.parametrize(("query", "expected"), ORACLE_CASES, ids=[c[0] for c in ORACLE_CASES])
def test_every_operator_and_combination_matches_the_oracle(archive_path, rows, query, expected):
    want = {row.id for row in rows if expected(row)}
    got = search(archive_path, query, limit=None, now=NOW)
    assert ids(got) == want
    assert len(got) == len(want)  # one result per distinct message
    if query:
        assert 0 < len(want) < len(rows), "the case must tell a right answer from a wrong one"


@pytest.mark.parametrize(
    ("query", "expected"), ORACLE_CASES[::3], ids=[c[0] for c in ORACLE_CASES[::3]]
)
def test_matching_message_ids_agrees(archive_path, rows, query, expected):
    want = {row.id for row in rows if expected(row)}
    found = matching_message_ids(archive_path, query, now=NOW)
    assert set(found) == want and len(found) == len(want)
    by_id = {row.id: row for row in rows}
    dates = [by_id[i].posted_at for i in found]
    assert dates == sorted(dates, reverse=True)


PLAN_QUERIES = [
    "thanks",
    "agreed -thanks",
    "thanks group:dev",
    "v1.30.2",
    "from:ann thanks",
    "arm* OR upgrade*",
    "thanks after:2024-06-01 before:2024-09-01",
    "thanks OR upgrade after:2025-01-01 before:2025-03-20",
]


@pytest.mark.parametrize("choice", ["set", "probe", "walk"])
def test_every_date_plan_gives_the_same_answers(archive_path, monkeypatch, choice):
    """Large archives walk the date index newest first, or the index in rowid order,
    instead of sorting every hit; forced here on the demo, they must agree."""
    expected = {q: search(archive_path, q, sort="date", limit=7, offset=2) for q in PLAN_QUERIES}
    assert all(expected.values())
    monkeypatch.setattr(tuning, "FEW_HITS", 0)
    if choice != "walk":
        monkeypatch.setattr(planner, "_choose", lambda *args: choice)
        monkeypatch.setattr(runner, "_rowid_walk", lambda *args: None)
    for query in PLAN_QUERIES:
        found = search(archive_path, query, sort="date", limit=7, offset=2)
        assert [h.id for h in found] == [h.id for h in expected[query]], query


def no_bounds(conn, compiled, estimates):
    """In place of the planner's _rowid_bounds: never a band of rowids."""
    return None, estimates


class Spy:
    """Calls the real function and keeps what it returned."""

    def __init__(self, real):
        self.real = real
        self.results = []

    def __call__(self, *args):
        result = self.real(*args)
        self.results.append(result)
        return result


def _ordered_archive(path: Path, order: str) -> None:
    """300 messages with a common word, saved oldest first, newest first, or shuffled;
    "late replies": oldest first, but every 50th message came ten days later."""
    group = Group(GroupRef("walk"), "1", "walk@googlegroups.com", "Walk")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    numbers = list(range(300))
    if order == "newest first":
        numbers.reverse()
    elif order == "shuffled":
        numbers.sort(key=lambda n: (n * 7919) % 300)
    with Archive(path) as archive:
        for n in numbers:
            words = "common " + ("even" if n % 2 == 0 else "odd") + f" word{n}"
            when = start + timedelta(hours=n)
            if order == "late replies" and n % 50 == 0:
                when += timedelta(days=10)
            topic = f"t{n:010d}"
            message = Message(f"m{n:011d}", topic, f"Author {n % 5}", when, f"Message {n}",
                              f"<p>{words}</p>")  # fmt: skip
            archive.save_thread(Thread(group, topic, message.subject, (message,)), seen_at=start)


@pytest.mark.parametrize("order", ["oldest first", "newest first", "late replies", "shuffled"])
def test_rowid_walk_finds_the_newest_hits_whatever_the_save_order(tmp_path, monkeypatch, order):
    path = tmp_path / "walk.db"
    _ordered_archive(path, order)
    queries = ["common", "even", "common before:2024-01-07", "odd from:author", "-even common"]
    expected = {q: search(path, q, sort="date", limit=7, offset=3) for q in queries}
    assert all(len(found) == 7 for found in expected.values())
    spy = Spy(runner._rowid_walk)
    monkeypatch.setattr(tuning, "FEW_HITS", 0)
    monkeypatch.setattr(runner, "_rowid_walk", spy)
    walked = []
    for query in queries:
        spy.results.clear()
        found = search(path, query, sort="date", limit=7, offset=3)
        assert [h.id for h in found] == [h.id for h in expected[query]], query
        walked.append(any(result is not None for result in spy.results))
    if order == "late replies":  # newer messages below the first batch: read their band
        assert "Message 100" in {h.subject for h in expected["common"]}
    if order == "shuffled":
        assert not any(walked)
    else:  # the walk proved its answer for the queries without a date range
        assert walked[:2] == [True, True] and walked[3:] == [True, True]


@pytest.mark.parametrize("order", ["oldest first", "newest first", "shuffled"])
def test_rowid_bounds_of_a_date_range_change_nothing(tmp_path, monkeypatch, order):
    path = tmp_path / "bounds.db"
    _ordered_archive(path, order)
    queries = [
        "common after:2024-01-05 before:2024-01-08",
        "even after:2024-01-10",
        "odd before:2024-01-03",
        "common on:2024-01-04 -odd",
        "common after:2030-01-01",
    ]
    spy = Spy(planner._rowid_bounds)
    monkeypatch.setattr(planner, "_rowid_bounds", no_bounds)
    expected = {(q, s): search(path, q, sort=s, limit=None) for q in queries for s in SORTS}
    assert expected[("common after:2030-01-01", "rank")] == []
    monkeypatch.setattr(tuning, "FEW_HITS", 0)
    monkeypatch.setattr(planner, "_rowid_bounds", spy)
    bounded = {}
    for (query, sort), hits in expected.items():
        found = search(path, query, sort=sort, limit=None)
        assert [(h.id, h.score) for h in found] == [(h.id, h.score) for h in hits], query
        bounded[query] = spy.results[-1][0] is not None
    assert bounded["common after:2030-01-01"]  # an empty range needs no index at all
    narrow = [q for q in queries[:4] if bounded[q]]
    assert (narrow == []) if order == "shuffled" else len(narrow) >= 3


def test_rowid_walk_gives_up_when_the_band_is_too_wide(tmp_path, monkeypatch):
    path = tmp_path / "late.db"
    _ordered_archive(path, "late replies")
    expected = [h.id for h in search(path, "common", sort="date", limit=7)]
    monkeypatch.setattr(tuning, "FEW_HITS", 0)
    monkeypatch.setattr(tuning, "WALK_BAND_CAP", 1)
    spy = Spy(runner._rowid_walk)
    monkeypatch.setattr(runner, "_rowid_walk", spy)
    assert [h.id for h in search(path, "common", sort="date", limit=7)] == expected
    assert spy.results == [None]


def test_plans_are_chosen_by_cost(archive_path, monkeypatch):
    from archive.query import parse_query
    from archive.search.compiler import compile_query

    with runner.Reading(archive_path) as conn:

        def choice(query: str, wanted: int = 20) -> str:
            return planner._choose(conn, compile_query(conn, parse_query(query)), wanted)

        assert choice("reviewers") == "all"  # few hits: sort them
        monkeypatch.setattr(tuning, "FEW_HITS", 0)
        monkeypatch.setattr(tuning, "COST_PROBE", 1.0)  # a freshly merged index
        assert choice("thanks OR agreed OR lts", wanted=1) == "probe"  # common: walk
        assert choice("th*", wanted=1) == "set"  # a prefix is never probed row by row
        assert choice("reviewers", wanted=1000) == "all"


# ---------------------------------------------------------------- bounded ranking


def _exact_hits(path, query: str, **options) -> list[SearchHit]:
    return search(path, query, limit=None, exact=True, now=NOW, own_words=False, **options)


def _pairs(hits) -> list[tuple[int, float | None]]:
    return [(h.id, h.score) for h in hits]


def _match_count(path, query: str) -> int:
    return len(matching_message_ids(path, query, now=NOW))


BOUND_QUERIES = [q for q, _ in ORACLE_CASES if q] + PLAN_QUERIES


@pytest.mark.parametrize("bound", [1, 3, 12])
def test_bounded_ranking_scores_only_the_newest_matches(archive_path, monkeypatch, bound):
    """With fewer matches than the bound, exactly today's ranking; with more, the exact
    ranking of the ``bound`` matches at the newest end of the rowids, scores unchanged."""
    exact = {q: _exact_hits(archive_path, q) for q in BOUND_QUERIES}
    counts = {q: _match_count(archive_path, q) for q in BOUND_QUERIES}
    monkeypatch.setattr(tuning, "RANK_BOUND", bound)
    spy = Spy(planner._rank_floor)
    monkeypatch.setattr(planner, "_rank_floor", spy)
    applied = 0
    for query in BOUND_QUERIES:
        spy.results.clear()
        found = search(archive_path, query, limit=bound, now=NOW, own_words=False)
        band = next((r for r, _ in spy.results if r is not None), None)
        if counts[query] <= bound or band is None:
            assert _pairs(found) == _pairs(exact[query][:bound]), query
            continue
        applied += 1
        inside = [h for h in exact[query] if band[0] <= h.id <= band[1]]
        outside = [h.id for h in exact[query] if not band[0] <= h.id <= band[1]]
        assert len(inside) == bound, query  # the bound, no more, no fewer
        assert all(i < band[0] for i in outside) or all(i > band[1] for i in outside), query
        assert _pairs(found) == _pairs(inside), query  # same order, same bm25 scores
    assert applied >= 5, "the bound must have applied to the demo's common words"


def test_bounded_ranking_is_identical_with_the_bound_at_the_match_count(archive_path, monkeypatch):
    for query in ["upgrade", "thanks group:dev", "thanks after:2024-06-01 before:2024-09-01"]:
        count = _match_count(archive_path, query)
        assert count > 2, query
        expected = _pairs(_exact_hits(archive_path, query))
        monkeypatch.setattr(tuning, "RANK_BOUND", count)
        found = search(archive_path, query, limit=count, now=NOW, own_words=False)
        assert _pairs(found) == expected, query
        monkeypatch.setattr(tuning, "RANK_BOUND", count - 1)
        bounded = search(archive_path, query, limit=count - 1, now=NOW, own_words=False)
        assert len(bounded) == count - 1, query  # one match left out: the oldest by rowid


@pytest.mark.parametrize("order", ["oldest first", "newest first", "late replies"])
def test_dates_checked_after_ranking_the_band_give_the_same_top_hits(tmp_path, monkeypatch, order):
    """Ranked in a date range's band of rowids, hits are scored without reading their
    messages and only the best are checked against the range; messages whose dates lie
    outside it (the late replies) must still be left out."""
    path = tmp_path / "later.db"
    _ordered_archive(path, order)
    queries = [
        "common after:2024-01-05 before:2024-01-08",  # the band holds two late replies
        "odd after:2024-01-09 before:2024-01-12",  # with them, half the band is elsewhere
    ]
    monkeypatch.setattr(planner, "_rowid_bounds", no_bounds)
    expected = {q: search(path, q, limit=5, offset=2) for q in queries}
    monkeypatch.undo()
    spy = Spy(planner._dates_later)
    monkeypatch.setattr(tuning, "FEW_HITS", 0)
    monkeypatch.setattr(planner, "_dates_later", spy)
    for query in queries:
        found = search(path, query, limit=5, offset=2)
        assert len(found) == 5
        assert [(h.id, h.score) for h in found] == [(h.id, h.score) for h in expected[query]]
    # A band mostly outside the range is still read with each hit's date.
    assert spy.results == [True, order != "late replies"]


BLOCK = 1 << db_module.DATE_BLOCK_BITS
DAY0 = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module", params=["oldest first", "newest first", "late replies"])
def blocks_archive(request, tmp_path_factory) -> Path:
    """Five blocks of ids, a message a day, in threads of 64; "late replies": every
    64th message came 400 days later, so its block spans far more than its days."""
    path = tmp_path_factory.mktemp("blocks") / f"{request.param}.db"
    group = Group(GroupRef("blocks"), "1", "blocks@googlegroups.com", "Blocks")
    total, size = 5 * BLOCK, 64
    starts = list(range(0, total, size))
    if request.param == "newest first":
        starts.reverse()
    with Archive(path) as archive:
        for first in starts:
            topic = f"t{first:08d}"
            messages = []
            for n in range(first, first + size):
                days = n + (400 if request.param == "late replies" and n % 64 == 63 else 0)
                words = "common " + ("even" if n % 2 == 0 else "odd") + f" word{n}"
                messages.append(Message(f"m{n:011d}", topic, f"Author {n % 5}",
                                        DAY0 + timedelta(days=days), f"Message {n}",
                                        f"<p>{words}</p>"))  # fmt: skip
            archive.save_thread(Thread(group, topic, f"Message {first}", tuple(messages)),
                                seen_at=DAY0)  # fmt: skip
    return path


def _day(n: int) -> str:
    return (DAY0 + timedelta(days=n)).date().isoformat()


def test_date_blocks_bound_a_range_to_its_band_and_change_no_result(blocks_archive, monkeypatch):
    path = blocks_archive
    # Ids start at 1, so block 1 holds messages 1023-2046: a range of exactly those days
    # is exact, the others straddle blocks.
    queries = [
        f"common after:{_day(1023)} before:{_day(2047)}",
        f"even after:{_day(1500)} before:{_day(2600)}",
        f"common after:{_day(3000)}",
        f"odd before:{_day(900)} -word5",
        f"common after:{_day(9000)}",
    ]
    monkeypatch.setattr(planner, "_rowid_bounds", no_bounds)
    expected = {
        (q, s, limit): search(path, q, sort=s, limit=limit)
        for q in queries for s in SORTS for limit in (20, None)
    }  # fmt: skip
    assert all(expected[(q, "rank", None)] for q in queries[:4])
    assert expected[(queries[4], "rank", None)] == []
    monkeypatch.undo()
    blocks = Spy(planner._block_band)
    monkeypatch.setattr(planner, "_block_band", blocks)
    for (query, sort, limit), hits in expected.items():
        found = search(path, query, sort=sort, limit=limit)
        assert [(h.id, h.score) for h in found] == [(h.id, h.score) for h in hits], query
    assert any(result is not None for result in blocks.results)


def test_a_band_from_date_blocks_holds_every_message_of_the_range(blocks_archive):
    conn = sqlite3.connect(blocks_archive)
    posted = dict(conn.execute("SELECT id, posted_at FROM messages"))
    first_id, last_id, first, last = conn.execute(
        "SELECT first_id, last_id, first_posted_at, last_posted_at"
        " FROM message_date_blocks WHERE block = 1"
    ).fetchone()
    start = datetime.fromisoformat(first)
    ranges = [
        DateRange(start, datetime.fromisoformat(last) + timedelta(seconds=1)),  # block 1
        DateRange(start + timedelta(days=100), start + timedelta(days=1500)),
        DateRange(None, start + timedelta(days=10)),
        DateRange(start + timedelta(days=2000), None),
        DateRange(DAY0 + timedelta(days=9000), None),
    ]
    bands = 0
    for dates in ranges:
        result = planner._block_band(conn, dates)
        if result is None:
            continue  # more than half the archive: not worth a band
        bands += 1
        (low, high), in_range, exact = result
        inside = {
            i for i, when in posted.items()
            if (dates.start is None or datetime.fromisoformat(when) >= dates.start)
            and (dates.end is None or datetime.fromisoformat(when) < dates.end)
        }  # fmt: skip
        assert all(low <= i <= high for i in inside), dates
        assert in_range >= len(inside)
        if exact:
            assert all(i in inside for i in range(low, high + 1)), dates
    # Late replies widen their blocks' spans, so fewer ranges are narrow enough.
    assert bands >= (2 if "late" in blocks_archive.name else 3)
    assert planner._block_band(conn, ranges[4]) == ((1, 0), 0, True)
    if blocks_archive.name.startswith("oldest"):
        # Ids start at 1: block 1 holds days 1023-2046 and nothing else does.
        assert planner._block_band(conn, ranges[0]) == ((first_id, last_id), BLOCK, True)
        assert (first_id, last_id) == (BLOCK, 2 * BLOCK - 1)


@pytest.mark.parametrize("few_hits", [tuning.FEW_HITS, 0])
@pytest.mark.parametrize("order", ["oldest first", "newest first", "shuffled"])
def test_bounded_ranking_keeps_the_most_recent_matches(tmp_path, monkeypatch, order, few_hits):
    """A date range is bounded to its band of rowids first when it pays (always, with
    ``FEW_HITS`` at 0); either way the bound keeps the range's most recent matches."""
    path = tmp_path / "bounded.db"
    _ordered_archive(path, order)
    monkeypatch.setattr(tuning, "FEW_HITS", few_hits)
    queries = {
        "common": 300,
        "even": 150,
        '"common even"': 150,
        "common after:2024-01-05 before:2024-01-10": 120,
        "even -word0 group:walk": 149,
    }
    exact = {q: _exact_hits(path, q) for q in queries}
    assert {q: len(hits) for q, hits in exact.items()} == queries
    monkeypatch.setattr(tuning, "RANK_BOUND", 40)
    by_date = {}
    for query in queries:
        found = search(path, query, limit=20, own_words=False)
        assert len(found) == 20
        exact_scores = {h.id: h.score for h in exact[query]}
        assert all(h.score == exact_scores[h.id] for h in found), query
        newest = sorted(exact[query], key=lambda h: h.posted_at, reverse=True)[:40]
        by_date[query] = [h.id for h in found] == [
            h.id for h in exact[query] if h.id in {n.id for n in newest}
        ][:20]
        exactly = search(path, query, limit=20, exact=True, own_words=False)
        assert exactly == exact[query][:20], query
    if order == "shuffled":  # rowids say nothing of dates: every match is ranked
        assert [h.id for h in search(path, "common", limit=20, own_words=False)] == [
            h.id for h in exact["common"][:20]
        ]
    else:
        assert all(by_date.values()), by_date
    if order == "oldest first":  # equal scores tie by rowid: the oldest win, unbounded
        assert search(path, "common", limit=20, own_words=False) != exact["common"][:20]


def test_asking_for_more_results_than_the_bound_ranks_every_match(tmp_path, monkeypatch):
    path = tmp_path / "paging.db"
    _ordered_archive(path, "oldest first")
    exact = _exact_hits(path, "common")
    monkeypatch.setattr(tuning, "RANK_BOUND", 40)
    assert search(path, "common", limit=10, offset=35, own_words=False) == exact[35:45]
    assert search(path, "common", limit=None, own_words=False) == exact
    assert matching_message_ids(path, "common", sort="rank", limit=50) == [h.id for h in exact[:50]]
    assert matching_message_ids(path, "common", sort="rank", limit=20) != [h.id for h in exact[:20]]
    assert matching_message_ids(path, "common", sort="rank", limit=20, exact=True) == [
        h.id for h in exact[:20]
    ]


def test_estimates_count_words_only_as_far_as_the_bound(tmp_path, monkeypatch):
    from archive.query import parse_query
    from archive.search.compiler import compile_query

    path = tmp_path / "estimates.db"
    _ordered_archive(path, "oldest first")
    monkeypatch.setattr(tuning, "RANK_BOUND", 200)
    with Archive(path) as archive, runner.Reading(archive) as conn:

        def estimate(query: str) -> int | None:
            compiled = compile_query(conn, parse_query(query))
            hits, estimates = planner._estimated_hits(conn, compiled, planner.Estimates())
            assert estimates.hits == hits and estimates.hits_counted  # returned, not kept
            return hits

        assert estimate("common") == 201  # 300: past the bound, counting stopped
        assert estimate('"common even"') == 150  # a phrase: its rarest word
        assert estimate("odd common") == 150
        assert estimate("word7 OR word8") == 2
        assert estimate("word1*") == 111  # word1, word10-19, word100-199
        assert estimate("common -even") == 201  # a negation narrows nothing
        assert estimate("nowhere") == 0
        assert estimate("after:2024-01-05") is None  # no words to count


def test_cli_exact_rank(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from archive.cli import cli

    path = tmp_path / "cli.db"
    _ordered_archive(path, "oldest first")
    monkeypatch.setattr(tuning, "RANK_BOUND", 40)

    def listed(*extra: str) -> list[int]:
        result = CliRunner().invoke(cli, ["search", "--db", str(path), "common", "--json", *extra])
        assert result.exit_code == 0, result.output
        return [hit["id"] for hit in json.loads(result.output)]

    exact = [h.id for h in _exact_hits(path, "common")[:20]]
    assert listed("--exact-rank") == exact
    assert listed() != exact
    help_text = CliRunner().invoke(cli, ["search", "--help"]).output
    assert "--exact-rank" in help_text
    assert f"{tuning.RANK_BOUND:,}" not in help_text  # patched here; the real one is:
    monkeypatch.undo()
    assert f"{tuning.RANK_BOUND:,} most recent" in " ".join(help_text.split())


# ---------------------------------------------------------------- identifiers


def subjects(hits) -> set[str]:
    return {hit.subject for hit in hits}


@pytest.mark.parametrize(
    "identifier", ["CVE-2024-3177", "v1.30.2", "go1.22.1", "kubernetes/kubernetes#12345"]
)
def test_identifiers_never_match_their_parts_or_longer_ids(archive_path, identifier):
    hits = search(archive_path, identifier, limit=None)
    assert hits
    assert not {s for s in subjects(hits) if s.startswith("Decoy")}
    # ...while the words of the decoys are there to be found
    loose = " ".join(re.split(r"[^0-9A-Za-z]+", identifier))
    assert any(s.startswith("Decoy") for s in subjects(search(archive_path, loose, limit=None)))


def test_identifier_finds_the_advisory_and_the_release(archive_path):
    assert "[demo-announce] Security advisory: CVE-2024-3177" in subjects(
        search(archive_path, "CVE-2024-3177")
    )
    assert "Go toolchain bump to go1.22.1" in subjects(search(archive_path, "go1.22.1"))
    longer = search(archive_path, "CVE-2024-31770")
    assert subjects(longer) == {"Decoy: longer identifiers"}
    assert subjects(search(archive_path, "v1.30.20")) == {"Decoy: longer identifiers"}


# ---------------------------------------------------------------- results


def test_a_cross_post_is_one_result_listing_every_group(archive_path, demo_state):
    original, copy = demo_state.demo.cross_posts[1]
    message = original.messages[0]
    hits = search(archive_path, "subject:advisory from:ann -subject:re")
    assert len(hits) == 1
    hit = hits[0]
    assert hit.groups == (ANNOUNCE, DEV)
    assert hit.url == message.url  # the canonical URL: the first posting's
    assert hit.thread == (ANNOUNCE, original.id)
    assert hit.group_key == ANNOUNCE and hit.topic_id == original.id
    assert hit.posted_at == message.posted_at
    assert hit.subject == message.subject
    assert hit.author == "Ann Author"
    assert hit.masked_address == "ann.a...@example.com"
    # found through either group, still once
    assert [h.id for h in search(archive_path, "advisory group:dev from:ann -subject:re")] == [
        hit.id
    ]
    assert copy.id != original.id


def test_snippet_highlights_the_identifier_as_a_whole(archive_path):
    hits = search(archive_path, "CVE-2024-3177 subject:advisory -subject:re")
    assert "**CVE-2024-3177**" in hits[0].snippet
    assert "\n" not in hits[0].snippet


def test_snippet_markers_are_the_callers(archive_path):
    hits = search(archive_path, "reviewers", highlight=("<b>", "</b>"))
    assert hits and all("<b>reviewers</b>" in h.snippet.lower() for h in hits)


def test_snippet_marks_words_from_every_branch_and_substrings(archive_path):
    hits = search(archive_path, "中文 OR reviewers", limit=None)
    marked = [h.snippet for h in hits]
    assert any("**中文**" in s for s in marked)
    assert any("**reviewers**" in s.lower() for s in marked)


def test_no_snippets_when_not_asked(archive_path):
    assert all(h.snippet == "" for h in search(archive_path, "thanks", snippets=False))


def test_filter_only_query_lists_newest_first_with_an_opening_snippet(archive_path, rows):
    hits = search(archive_path, "group:dev", limit=5)
    dev = sorted((r for r in rows if DEV in r.groups), key=lambda r: (r.posted_at, r.id))
    assert [h.id for h in hits] == [r.id for r in reversed(dev)][:5]
    assert all(h.score is None for h in hits)
    first_words = " ".join(dev[-1].body.split()[:5])
    assert hits[0].snippet.startswith(first_words)


def test_keyword_filters_do_what_the_operators_do(archive_path):
    def same(query, **filters):
        return [h.id for h in search(archive_path, query, limit=None, sort="date", **filters)]

    assert same("thanks", groups=["dev"]) == same("thanks group:dev")
    assert same("", groups=["dev", "demo-announce"]) == same("group:dev OR group:demo-announce")
    assert same("thanks", authors=["ann"]) == same("thanks from:ann")
    assert same("", authors=["ann", "bruno"]) == same("from:ann OR from:bruno")
    assert same("", since="2025-03-15") == same("after:2025-03-15")
    # --until includes the day it names
    assert same("", until="2025-03-15") == same("before:2025-03-16")
    assert same("", since="2025-03-15", until="2025-03-15") == same("on:2025-03-15")
    assert same("", since="30d", now=NOW) == same("after:30d", now=NOW)


def test_rank_puts_subject_matches_first(archive_path, rows):
    hits = search(archive_path, "arm64", limit=None)
    in_subject = [h for h in hits if "arm64" in h.subject.lower()]
    assert in_subject and len(in_subject) < len(hits)
    assert hits[: len(in_subject)] == in_subject
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_sort_date_is_newest_first(archive_path):
    hits = search(archive_path, "thanks", sort="date", limit=None)
    dates = [(h.posted_at, h.id) for h in hits]
    assert dates == sorted(dates, reverse=True)
    assert all(h.score is None for h in hits)


@pytest.mark.parametrize("sort", ["rank", "date"])
def test_limit_and_offset_page_through_the_same_order(archive_path, sort):
    everything = [h.id for h in search(archive_path, "thanks OR agreed", sort=sort, limit=None)]
    assert len(everything) > 30
    pages = [
        [h.id for h in search(archive_path, "thanks OR agreed", sort=sort, limit=10, offset=o)]
        for o in range(0, 30, 10)
    ]
    assert sum(pages, []) == everything[:30]
    assert search(archive_path, "thanks", limit=0) == []


def test_accepts_an_archive_or_a_connection(archive_path):
    expected = [h.id for h in search(archive_path, "reviewers")]
    with Archive(archive_path, create=False) as archive:
        assert [h.id for h in search(archive, "reviewers")] == expected
        assert [h.id for h in search(archive.db, "reviewers")] == expected
        assert [h.id for h in search(archive.db.conn, "reviewers")] == expected


# ---------------------------------------------------------------- threads


def test_threads_count_hits_per_thread(archive_path, rows, demo_state):
    long_thread = demo_state.demo.long_thread
    threads = search_threads(archive_path, "lts", limit=None)
    by_topic = {t.topic_id: t for t in threads}
    thread = by_topic[long_thread.id]
    expected = sum(1 for r in rows if r.has("lts") and r.subject.endswith(long_thread.subject))
    assert thread.hits == expected > 1
    assert thread.url == long_thread.url
    assert thread.group_key == ANNOUNCE
    assert sum(t.hits for t in threads) == len(search(archive_path, "lts", limit=None))
    assert len({t.thread_id for t in threads}) == len(threads)


def test_threads_list_a_cross_post_in_each_group_unless_filtered(archive_path, demo_state):
    original, copy = demo_state.demo.cross_posts[1]
    topics = {t.topic_id for t in search_threads(archive_path, "CVE-2024-3177", limit=None)}
    assert {original.id, copy.id} <= topics
    in_dev = search_threads(archive_path, "CVE-2024-3177", groups=["dev"], limit=None)
    assert {t.group_key for t in in_dev} == {DEV}
    in_both = search_threads(
        archive_path, "CVE-2024-3177", groups=["dev", "demo-announce"], limit=None
    )
    assert {t.topic_id for t in in_both} == topics
    in_announce = search_threads(archive_path, "CVE-2024-3177 group:demo-announce", limit=None)
    assert {t.group_key for t in in_announce} == {ANNOUNCE}


def test_threads_sorted_by_date_or_rank(archive_path):
    by_date = search_threads(archive_path, "thanks", sort="date", limit=None)
    latest = [t.latest_hit_at for t in by_date]
    assert latest == sorted(latest, reverse=True) and len(latest) > 5
    by_rank = search_threads(archive_path, "thanks", limit=None)
    scores = [t.score for t in by_rank]
    assert scores == sorted(scores, reverse=True)
    assert len(search_threads(archive_path, "thanks", limit=3, offset=2)) == 3
    assert [t.thread_id for t in search_threads(archive_path, "thanks", limit=3, offset=2)] == [
        t.thread_id for t in by_rank[2:5]
    ]


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('"unbalanced', "unbalanced quote"),
        ("freeze OR", "OR needs a term on both sides"),
        ("NOT", "NOT needs a term after it"),
        ("(freeze", "unbalanced parentheses"),
        ("after:someday", "after: expects a date"),
        ("group:nope", "no archived group matches 'nope'; archived groups: " + ANNOUNCE),
        ("🎉", "has no letters or digits"),
    ],
)
def test_bad_queries_raise_bad_query(archive_path, query, message):
    with pytest.raises(BadQuery, match=re.escape(message)):
        search(archive_path, query)


def test_bad_option_values_raise_bad_query(archive_path):
    with pytest.raises(BadQuery, match="--since expects a date"):
        search(archive_path, "", since="last tuesday")
    with pytest.raises(BadQuery, match="no archived group matches 'nope'"):
        search(archive_path, "", groups=["nope"])


def test_missing_archive(tmp_path):
    with pytest.raises(ArchiveError, match="no archive at .*; run listarchive sync first"):
        search(tmp_path / "missing.db", "x")
    assert not (tmp_path / "missing.db").exists()


def test_not_an_archive(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(ArchiveError, match="corrupt or not a listarchive archive"):
        search(junk, "x")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(ArchiveError, match="not a listarchive archive"):
        search(other, "x")


# ---------------------------------------------------------------- ranking, by hand


def _tiny_archive(path: Path) -> None:
    group = Group(GroupRef("tiny"), "1", "tiny@googlegroups.com", "Tiny")
    when = datetime(2024, 5, 1, tzinfo=UTC)
    filler = " ".join(f"word{i}" for i in range(40))
    bodies = [
        ("Zebra crossing", f"<p>{filler} {filler}</p>"),  # subject only, the oldest
        ("Nothing here", f"<p>{filler} zebra {filler}</p>"),  # body only
        ("Other", f"<p>{filler} {filler} plain</p>"),
    ]
    with Archive(path) as archive:
        for i, (subject, html) in enumerate(bodies):
            message = Message(f"m{i:011d}", f"t{i:010d}", "Someone", when + timedelta(days=i),
                              subject, html)  # fmt: skip
            archive.save_thread(Thread(group, f"t{i:010d}", subject, (message,)), seen_at=when)


def test_subject_is_weighted_above_body(tmp_path):
    path = tmp_path / "tiny.db"
    _tiny_archive(path)
    assert [h.subject for h in search(path, "zebra")] == ["Zebra crossing", "Nothing here"]
    by_date = search(path, "zebra", sort="date")
    assert [h.subject for h in by_date] == ["Nothing here", "Zebra crossing"]


# ---------------------------------------------------------------- the command


def run_cli(*args: str):
    from click.testing import CliRunner

    from archive.cli import cli

    return CliRunner().invoke(cli, ["search", *args])


def test_cli_json_parses_back(archive_path):
    result = run_cli("--db", str(archive_path), "CVE-2024-3177", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    expected = search(archive_path, "CVE-2024-3177")
    assert [d["id"] for d in data] == [h.id for h in expected]
    first = data[0]
    assert set(first) >= {"subject", "author", "posted_at", "groups", "url", "snippet"}
    assert first["groups"] == list(expected[0].groups)
    assert "**CVE-2024-3177**" in "".join(d["snippet"] for d in data)
    assert result.stderr == ""


def test_cli_nl_is_one_object_per_line(archive_path):
    result = run_cli("--db", str(archive_path), "thanks", "--nl", "--limit", "5")
    lines = result.stdout.splitlines()
    assert len(lines) == 5
    assert [json.loads(line)["id"] for line in lines] == [
        h.id for h in search(archive_path, "thanks", limit=5)
    ]


def test_cli_csv_parses_back(archive_path):
    import csv
    import io

    result = run_cli("--db", str(archive_path), "advisory", "--csv", "--sort", "date")
    records = list(csv.DictReader(io.StringIO(result.stdout)))
    hits = search(archive_path, "advisory", sort="date")
    assert [int(r["id"]) for r in records] == [h.id for h in hits]
    assert [r["groups"].split(";") for r in records] == [list(h.groups) for h in hits]
    assert records[0]["url"] == hits[0].url


def test_cli_table_fits_the_width_and_marks_matches_without_a_terminal(archive_path):
    result = CliRunnerWithColumns(80).invoke("--db", str(archive_path), "reviewers")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines
    assert "**reviewers**" in result.stdout.lower()
    assert "\x1b[" not in result.stdout
    for line in lines:
        assert len(line) <= 80 or line.strip().startswith("https://")


class CliRunnerWithColumns:
    def __init__(self, columns: int) -> None:
        self.columns = columns

    def invoke(self, *args: str):
        from click.testing import CliRunner

        from archive.cli import cli

        runner = CliRunner(env={"COLUMNS": str(self.columns)})
        return runner.invoke(cli, ["search", *args])


class FakeTerminal:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


def test_table_is_bold_on_a_terminal(archive_path, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")  # TERM=dumb, as CI may have, means no colour
    out, err = FakeTerminal(), FakeTerminal()
    print_results("reviewers", db_path=archive_path, stdout=out, stderr=err)
    assert "\x1b[1mreviewers\x1b[22m" in out.text.lower()
    assert "**" not in out.text


def test_cli_threads(archive_path, demo_state):
    result = run_cli("--db", str(archive_path), "lts", "--threads", "--json")
    data = json.loads(result.stdout)
    assert data[0]["hits"] >= 1 and "thread_id" in data[0]
    table = run_cli("--db", str(archive_path), "lts", "--threads").stdout
    assert demo_state.demo.long_thread.url in table
    assert re.search(r"\d+ hits", table)


def test_cli_filters_and_sort(archive_path):
    result = run_cli(
        "--db", str(archive_path), "--group", "dev", "--from", "ann", "--since", "2024-01-01",
        "--until", "2025-12-31", "--sort", "date", "--limit", "0", "--json",
    )  # fmt: skip
    data = json.loads(result.stdout)
    expected = search(archive_path, "group:dev from:ann after:2024-01-01", sort="date", limit=None)
    assert [d["id"] for d in data] == [h.id for h in expected] and data


def test_cli_query_words_may_be_separate_arguments(archive_path):
    joined = run_cli("--db", str(archive_path), "--json", "upgrade guide").stdout
    separate = run_cli("--db", str(archive_path), "--json", "upgrade", "guide").stdout
    assert json.loads(joined) == json.loads(separate) != []


@pytest.mark.parametrize(
    "query", ['"code freeze', "OR", "freeze AND", "from:", "on:2024-02-30", "(a", "a)", "*"]
)
def test_cli_bad_query_exits_12_with_one_line(archive_path, query):
    result = run_cli("--db", str(archive_path), "--json", query)
    assert result.exit_code == 12
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1


def test_cli_missing_archive(tmp_path):
    result = run_cli("--db", str(tmp_path / "none.db"), "x")
    assert result.exit_code == 11
    assert "no archive at" in result.stderr and result.stdout == ""


def test_cli_no_results(archive_path):
    result = run_cli("--db", str(archive_path), "zzzyzzx")
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr == "No messages match.\n"
    assert run_cli("--db", str(archive_path), "zzzyzzx", "--json").stdout == "[]\n"


# What a command must not import: the fetching and HTML stacks, the web server. A
# whole-process search is mostly start-up, so search leaves out sqlite-utils too.
HEAVY_MODULES = (
    "httpx", "tenacity", "lxml", "bs4", "markdownify", "nh3", "datasette",
    "scraper.http", "scraper.pages", "scraper.crawl", "archive.sync",
)  # fmt: skip
READ_COMMANDS = {
    "search": (["search", "--json", "CVE-2024-3177"], ("sqlite_utils",)),
    "search as a table": (["search", "release", "--sort", "date"], ("sqlite_utils",)),
    "show": (["show", "{topic}"], ()),
    "groups": (["groups"], ()),
    "runs": (["runs"], ()),
}


@pytest.mark.parametrize("name", READ_COMMANDS)
def test_cli_read_commands_do_not_load_the_http_or_html_stack(archive_path, name):
    args, also_absent = READ_COMMANDS[name]
    topic = search(archive_path, "CVE-2024-3177")[0].topic_id
    args = [a.format(topic=topic) for a in args]
    code = (
        "import sys\n"
        "from archive.cli import cli\n"
        "try:\n"
        "    cli([*sys.argv[2:], '--db', sys.argv[1]])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "heavy = sys.stdin.read().split()\n"
        "sys.stderr.write(' '.join(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(archive_path), *args],
        input=" ".join(HEAVY_MODULES + also_absent),
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "the command printed nothing"
    if args[-1] == "CVE-2024-3177":
        assert json.loads(done.stdout)[0]["subject"]
    assert done.stderr == ""


def test_hit_to_dict_round_trips_through_json(archive_path):
    hit = search(archive_path, "go1.22.1")[0]
    assert isinstance(hit, SearchHit)
    data = json.loads(json.dumps(hit.to_dict()))
    assert data["posted_at"].endswith("Z")
    assert datetime.fromisoformat(data["posted_at"]) == hit.posted_at


@pytest.mark.parametrize("output", ["--csv", "--nl"])
def test_cli_threads_in_script_formats(archive_path, output):
    import csv
    import io

    text = run_cli("--db", str(archive_path), "lts", "--threads", output).stdout
    if output == "--csv":
        records = list(csv.DictReader(io.StringIO(text)))
    else:
        records = [json.loads(line) for line in text.splitlines()]
    expected = search_threads(archive_path, "lts")
    assert [int(r["thread_id"]) for r in records] == [t.thread_id for t in expected]
    assert [int(r["hits"]) for r in records] == [t.hits for t in expected]


# ---------------------------------------------------------------- only the user's text is wrong

# Pieces of hostile queries: FTS5's own syntax (quotes, NEAR, column filters, ^, *,
# +), SQL, our fields, control characters, unsegmented and combining text, identifiers.
HOSTILE_PIECES = (
    "release", "fix", "thanks", '"', '""', "(", ")", " ", "-", "*", "^", ":", "+", ",", ".",
    "NEAR", "NEAR(", "NEAR/2", "AND", "OR", "NOT", "body_text:", "subject:", "from:",
    "author:", "group:dev", "group:", "to:", "id:", "msgid:", "after:", "before:", "on:",
    "after:last-sync", "{subject}", "{", "}", "'", "\\", "\0", "\x01", "\x1b[2J", "\n", "\t",
    "\r", "\u202e", "\ufeff", "\u200b", "\x7f", "中文", "版本发布", "Grüße", "ǅ", "\u0378",
    "𝐀", "ſ", "é", "e\u0301", "CVE-2024-3177", "v1.30.2", "go1.22.1*", "2024-01-01",
    "7d", "bm25(", "messages_fts", "';--", "%", "_", "\u201c", "\u201d", "a*b", "*a",
    "x" * 60, "rowid:", "masked_address:", "col:", "os.Exit()", "\udcff", "from:ann",
    "author:chen*", "to:list", "id:<a@b>", "after:2024-06-01", "before:30d", "on:2024-02-18",
    "subject:release", 'subject:"[security]"', "-agreed", "-(fix OR a.b)", "(release OR 中文)",
)  # fmt: skip
# Balanced quotes and parentheses are what most random text lacks: rarer here, so that
# most random queries parse and reach SQLite.
RARE_PIECES = {
    '"', '""', "\u201c", "\u201d", "(", ")", "\udcff", "NEAR(", "from:", "author:", "to:",
    "id:", "msgid:", "after:", "before:", "on:", "subject:", "group:", "-", "*",
}
HOSTILE_QUERIES = (
    '"a\\0b"', "\\0", "NEAR(a b, 2)", "body_text:release", "^release", "release^", '"release"*',
    "{subject}: release", "- release", "release -", "a OR", "OR a", "((a)", "a))", "\\udcff",
    '"', '""', '"*', 'subject:""', "from:*", "*", "-*", "x" * 10_001,
)  # fmt: skip
# Long lists of conditions: SQLite refuses an expression more than 1,000 deep.
LONG_QUERIES = (
    "x " * 5_000, "v1.2 " * 1_100, "-v1.2 " * 100 + "release", "v1.2 OR " * 1_100 + "v1.3",
    "on:2024-01-01 " * 700, '"' + "a.b " * 2_400 + '"',
)  # fmt: skip
# Every shape of nesting, as deep as the parser lets it go (MAX_NESTING) and one more.
NESTINGS = (
    lambda d: "(a OR " * d + "b" + ")" * d,
    lambda d: "".join("(a OR " if i % 2 else "(a " for i in range(d)) + "b" + ")" * d,
    lambda d: "-(a OR " * (d // 2) + "b" + ")" * (d // 2),
    lambda d: "release " + "-(v1.2 " * (d // 2) + "a" + ")" * (d // 2),
    lambda d: "release " + "-(v1.2 OR " * (d // 2) + "a" + ")" * (d // 2),
    lambda d: "(after:2024-01-01 OR -" * (d // 2) + "b" + ")" * (d // 2),
    lambda d: "(中文 OR -(group:dev " * (d // 3) + "b" + "))" * (d // 3),
    lambda d: "-(" * (d // 2) + "to:x" + ")" * (d // 2),
)


def _hostile_queries(count: int, seed: int = 14) -> list[str]:
    rng = random.Random(seed)
    queries = list(HOSTILE_QUERIES)
    for make in NESTINGS:
        queries += [make(MAX_NESTING), make(MAX_NESTING + 2)]
    weights = [0.1 if piece in RARE_PIECES else 1.0 for piece in HOSTILE_PIECES]
    for _ in range(count):
        pieces = rng.choices(HOSTILE_PIECES, weights, k=rng.randint(1, 9))
        queries.append("".join(p + rng.choice(("", "", " ")) for p in pieces))
    return queries


def _runs_or_is_refused_by_the_parser(path: Path, query: str, *, every_way: bool) -> bool:
    """Whether ``query`` ran (every way of searching with it, or just one); False when
    the parser refused it. Fails the test on anything else."""
    from archive.query import parse_query

    try:
        parse_query(query, now=NOW)
    except BadQuery:
        parsed = False
    else:
        parsed = True
    runs = [lambda: search(path, query, now=NOW, limit=5)]
    if every_way:
        runs += [
            lambda: search(path, query, now=NOW, sort="date", limit=5),
            lambda: search(path, query, now=NOW, sort="date", reverse=True, limit=3),
            lambda: search_threads(path, query, now=NOW, limit=5),
            lambda: matching_message_ids(path, query, now=NOW, sort="rank", limit=5),
        ]
    for run in runs:
        try:
            run()
        except UnknownGroup:
            assert parsed and "group:" in query, query  # a group the archive lacks
        except BadQuery as err:
            assert not parsed, f"{query!r}: {err}"  # only the parser rejects a query
        else:
            assert parsed, query
    return parsed


def test_any_query_text_runs_or_is_a_bad_query_from_the_parser(archive_path):
    """Whatever the user types, search runs it or the query parser says what is wrong:
    the compiler writes only valid FTS5 and SQL, so SQLite never rejects it."""
    ran = [
        _runs_or_is_refused_by_the_parser(archive_path, query, every_way=True)
        for query in _hostile_queries(250)
    ]
    assert sum(ran) > 100 and ran.count(False) > 80  # both kinds were met, often
    for query in LONG_QUERIES:
        assert _runs_or_is_refused_by_the_parser(archive_path, query, every_way=False), query


def test_nesting_past_what_sqlite_can_parse_is_refused_by_the_parser(archive_path):
    from archive.query import parse_query

    for make in NESTINGS:
        search(archive_path, make(MAX_NESTING), limit=3)
        with pytest.raises(BadQuery, match=f"more than {MAX_NESTING} deep"):
            parse_query(make(MAX_NESTING + 2))


@pytest.mark.parametrize("broken", ["fts5", "sql"])
def test_our_own_sql_failing_is_a_bug_exit_1_never_a_bad_query(archive_path, monkeypatch, broken):
    """A statement of ours that SQLite rejects (an unterminated FTS5 string, a column
    that does not exist) says it is a bug to report, exit 1, not "bad query" (12)."""
    from archive.search import compiler

    if broken == "fts5":
        monkeypatch.setattr(compiler, "fts_string", lambda text: '"' + text)
    else:
        real = runner._ordered_sql
        monkeypatch.setattr(
            runner, "_ordered_sql", lambda *args: real(*args).replace("m.id", "m.no_such_id", 1)
        )
    with pytest.raises(SearchBug) as raised:
        search(archive_path, "release", sort="date", limit=5)
    assert not isinstance(raised.value, BadQuery)
    assert isinstance(raised.value.__cause__, sqlite3.OperationalError)
    result = run_cli("--db", str(archive_path), "release", "--sort", "date")
    assert result.exit_code == 1, result.output
    assert result.stdout == "" and result.stderr.count("\n") == 1
    assert result.stderr.startswith("Error: search: OperationalError: ")
    assert "a bug in listarchive, not in your query: please report it" in result.stderr
    assert "Traceback" not in result.stderr


def test_table_lines_fit_with_wide_characters_and_far_matches(archive_path):
    from archive.render import MARK_END, MARK_START, display_width, render_table

    hits = search(archive_path, "中文 OR 版本发布", highlight=(MARK_START, MARK_END), limit=None)
    far = search(archive_path, "deprecated", highlight=(MARK_START, MARK_END), limit=None)
    assert any("版本" in h.subject for h in hits)
    for width in (50, 72, 120):
        table = render_table(hits + far, width=width, bold=("**", "**"))
        for line in table.splitlines():
            assert display_width(line) <= width or line.strip().startswith("https://")
        # the snippet line is moved along so that the first match shows
        snippet_lines = [line for line in table.splitlines() if "**" in line]
        assert len(snippet_lines) == len(hits + far)


def test_cli_stops_quietly_when_the_reader_goes_away(archive_path):
    code = "import sys\nfrom archive.cli import cli\ncli(sys.argv[1:])\n"
    args = ["search", "--db", str(archive_path), "--json", "--limit", "0"]
    with subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[1],
    ) as process:
        assert process.stdout.readline() == b"[\n"
        process.stdout.close()  # like `| head -1`: the rest cannot be written
        stderr = process.stderr.read().decode()
        assert process.wait(timeout=60) == 0
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr


def test_dates_before_the_year_1000_compare_correctly(archive_path, rows):
    assert search(archive_path, "before:0999-01-01", limit=None) == []
    assert len(search(archive_path, "after:0999-01-01", limit=None)) == len(rows)


@pytest.mark.parametrize(
    ("identifier", "inside"),
    [("i2c_driver", "module_i2c_driver"), ("v1.30.2", "xfoo_v1.30.2"), ("v1.30.2", "go-v1.30.2")],
)
def test_an_identifier_joined_to_a_word_before_it_is_not_that_identifier(
    tmp_path, identifier, inside
):
    path = tmp_path / "ids.db"
    group = Group(GroupRef("ids"), "1", "ids@googlegroups.com", "Ids")
    when = datetime(2024, 1, 1, tzinfo=UTC)
    with Archive(path) as archive:
        for n, text in enumerate([f"Use {inside} here.", f"Use {identifier} here."]):
            topic = f"t{n:010d}"
            message = Message(f"m{n:011d}", topic, "Someone", when, f"Message {n}",
                              f"<p>{text}</p>")  # fmt: skip
            archive.save_thread(Thread(group, topic, message.subject, (message,)), seen_at=when)
    assert subjects(search(path, identifier, limit=None)) == {"Message 1"}


# ---------------------------------------------------------------- ranking replies


FILLER = " ".join(f"Paragraph {n} of the notes says what changes for users." for n in range(40))


def _announcement_and_replies(path: Path, subject: str, announcement: str, replies: list[str]):
    """A thread: a long announcement, then short replies that each quote its key lines
    (as people trim a quote) above a line of their own."""
    group = Group(GroupRef("rank"), "1", "rank@googlegroups.com", "Rank")
    when = datetime(2024, 3, 1, tzinfo=UTC)
    quoted = f"<blockquote>{announcement}</blockquote>"
    bodies = [(subject, f"{announcement}<p>{FILLER}</p>")] + [
        (f"Re: {subject}", f"<p>{own}</p>{quoted}") for own in replies
    ]
    messages = tuple(
        Message(f"m{i:011d}", "t000000001", f"Author {i}", when + timedelta(hours=i), s, html)
        for i, (s, html) in enumerate(bodies)
    )
    with Archive(path) as archive:
        archive.save_thread(Thread(group, "t000000001", subject, messages), seen_at=when)


def test_a_reply_quoting_the_announcement_ranks_below_it(tmp_path):
    path = tmp_path / "replies.db"
    _announcement_and_replies(
        path,
        "Kubeflow WG disbanded",
        "<p>The working group is disbanded. Its repositories move to the disbanded-sigs "
        "org; the disbanded group's meetings stop.</p>",
        ["Sad to see it go, thanks for all the work."],
    )
    assert [h.subject for h in search(path, "disbanded")][0] == "Kubeflow WG disbanded"


def test_an_advisory_leads_its_works_for_us_reply(tmp_path):
    path = tmp_path / "advisory.db"
    _announcement_and_replies(
        path,
        "[security] Security advisory: CVE-2024-3177",
        "<p>CVE-2024-3177 lets a pod bypass the mountable secrets policy. Upgrade now; "
        "CVE-2024-3177 is fixed in v1.30.2.</p>",
        ["Upgraded, works for us.", "Same here, CVE-2024-3177 fixed on our clusters too."],
    )
    # The advisory, then the reply that says the identifier in its own words, then the
    # one that only quotes it.
    assert [h.author for h in search(path, "CVE-2024-3177")] == [
        "Author 0", "Author 2", "Author 1"
    ]
