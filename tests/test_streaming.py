"""Commands that write the whole archive stream it: feed and ``search --json``, ``--nl``
and ``--csv`` write each entry as it is read, and their bytes are the same as when
everything was collected first (the reference renderers below are the collect-then-write
code they replaced)."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from archive import __version__
from archive.db import Archive
from archive.feed import (
    ATOM_NS,
    GENERATOR_URI,
    Feed,
    _element,
    _plain,
    _rfc3339,
    build_feed,
    publish_feed,
    render_atom,
)
from archive.render import (
    HIT_CSV_COLUMNS,
    csv_cell,
    hits_to_json,
    hits_to_ndjson,
    print_results,
)
from archive.search import search
from tests.helpers.sync import sync_demo
from tests.simulator import GroupsState
from tests.simulator.demo import populate


@pytest.fixture(scope="module")
def demo_archive(tmp_path_factory) -> Path:
    state = GroupsState()
    populate(state)
    return sync_demo(state, tmp_path_factory.mktemp("streaming") / "archive.db")


def whole_tree_atom(feed: Feed) -> bytes:
    """The feed built as one ElementTree, indented and written at once."""
    root = ET.Element("feed", {"xmlns": ATOM_NS})
    _element(root, "id", feed.id)
    _element(root, "title", feed.title)
    if feed.subtitle:
        _element(root, "subtitle", _plain(feed.subtitle))
    _element(root, "updated", _rfc3339(feed.updated))
    if feed.link:
        _element(root, "link", rel="alternate", type="text/html", href=feed.link)
    if feed.self_link:
        _element(root, "link", rel="self", type="application/atom+xml", href=feed.self_link)
    _element(root, "generator", "listarchive", uri=GENERATOR_URI, version=__version__)
    for entry in feed.entries:
        item = _element(root, "entry")
        _element(item, "id", entry.id)
        _element(item, "title", entry.title)
        author = _element(item, "author")
        _element(author, "name", entry.author)
        _element(item, "published", _rfc3339(entry.published))
        _element(item, "updated", _rfc3339(entry.updated))
        _element(item, "link", rel="alternate", type="text/html", href=entry.link)
        for term, label in entry.categories:
            _element(item, "category", term=term, label=label)
        _element(item, "content", entry.content_html, type="html")
    ET.indent(root, space="  ")
    document = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + document + "\n").encode("utf-8")


FEEDS = {
    "every message": {"limit": 0},
    "the default 50": {},
    "one group's threads": {"groups": ["demo-announce"], "threads": True, "limit": 0},
    "a query, site links": {
        "query": "release", "limit": 0, "base_link": "https://example.org/{stem}/",
        "self_link": "https://example.org/feed.xml", "title": "Releases",
    },
    "nothing matches": {"query": "zzzyzzx", "limit": 0},
}  # fmt: skip


@pytest.mark.parametrize("name", FEEDS)
def test_feed_streams_the_bytes_the_whole_tree_gave(demo_archive, tmp_path, monkeypatch, name):
    monkeypatch.setattr("archive.feed.BATCH", 7)  # many batches, one cut inside a thread
    options = FEEDS[name]
    with Archive(demo_archive, create=False, readonly=True) as archive:
        collected = build_feed(archive, **options)
    expected = whole_tree_atom(collected)
    assert render_atom(collected) == expected
    out = tmp_path / "feed.xml"
    assert publish_feed(demo_archive, out=out, **options) == len(collected.entries)
    assert out.read_bytes() == expected
    stdout = io.BytesIO()
    assert publish_feed(demo_archive, stdout=stdout, **options) == len(collected.entries)
    assert stdout.getvalue() == expected


@pytest.mark.parametrize("query", ["", "release", "zzzyzzx", "CVE-2024-3177"])
@pytest.mark.parametrize("sort", ["rank", "date"])
def test_search_json_streams_what_the_whole_list_gave(demo_archive, monkeypatch, query, sort):
    monkeypatch.setattr("archive.search.HIT_BATCH", 7)
    hits = search(demo_archive, query, limit=None, sort=sort)
    expected = {"json": hits_to_json(hits) + "\n", "nl": hits_to_ndjson(hits)}
    assert json.loads(expected["json"]) == [h.to_dict() for h in hits]
    for output, text in expected.items():
        stdout, stderr = io.StringIO(), io.StringIO()
        print_results(
            query, db_path=demo_archive, limit=None, sort=sort, output=output,
            stdout=stdout, stderr=stderr,
        )  # fmt: skip
        assert stdout.getvalue() == text, output
    # CSV too, against the csv module writing every row at once (the whole-list way).
    whole = io.StringIO()
    writer = csv.writer(whole, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(HIT_CSV_COLUMNS)
    for hit in hits:
        row = {**hit.to_dict(), "groups": ";".join(hit.groups)}
        writer.writerow([csv_cell(row[key]) for key in HIT_CSV_COLUMNS])
    stdout = io.StringIO()
    print_results(query, db_path=demo_archive, limit=None, sort=sort, output="csv", stdout=stdout)
    assert stdout.getvalue() == whole.getvalue()
    if query in ("", "release"):
        assert len(hits) > 7  # more than one batch
