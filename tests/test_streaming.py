"""Commands that write the whole archive stream it: feed and ``search --json``, ``--nl``
and ``--csv`` write each entry as it is read, in batches, and give the bytes the golden
file ``tests/golden/streaming-demo.json`` pins for the demo groups (made when
everything was collected first and written at once; ``python -m tests.golden`` says how
to regenerate it when a change is meant to alter an output)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from archive.db import Archive
from archive.feed import (
    build_feed,
    publish_feed,
    render_atom,
)
from archive.render import (
    print_results,
)
from archive.search import search
from tests.golden import (
    FEEDS,
    SEARCH_OUTPUTS,
    SEARCH_QUERIES,
    SEARCH_SORTS,
    expected_output_digest,
    feed_key,
    output_digest,
    search_key,
)
from tests.helpers.sync import sync_demo
from tests.simulator import GroupsState
from tests.simulator.demo import populate


@pytest.fixture(scope="module")
def demo_archive(tmp_path_factory) -> Path:
    state = GroupsState()
    populate(state)
    return sync_demo(state, tmp_path_factory.mktemp("streaming") / "archive.db")


@pytest.mark.parametrize("name", FEEDS)
def test_feed_streams_the_bytes_the_whole_tree_gave(demo_archive, tmp_path, monkeypatch, name):
    monkeypatch.setattr("archive.feed.BATCH", 7)  # many batches, one cut inside a thread
    options = FEEDS[name]
    with Archive(demo_archive, create=False, readonly=True) as archive:
        collected = build_feed(archive, **options)
    expected = render_atom(collected)
    assert output_digest(expected.decode("utf-8")) == expected_output_digest(feed_key(name))
    out = tmp_path / "feed.xml"
    assert publish_feed(demo_archive, out=out, **options) == len(collected.entries)
    assert out.read_bytes() == expected
    stdout = io.BytesIO()
    assert publish_feed(demo_archive, stdout=stdout, **options) == len(collected.entries)
    assert stdout.getvalue() == expected


@pytest.mark.parametrize("query", SEARCH_QUERIES)
@pytest.mark.parametrize("sort", SEARCH_SORTS)
def test_search_json_streams_what_the_whole_list_gave(demo_archive, monkeypatch, query, sort):
    monkeypatch.setattr("archive.search.tuning.HIT_BATCH", 7)
    hits = search(demo_archive, query, limit=None, sort=sort)
    written = {}
    for output in SEARCH_OUTPUTS:
        stdout, stderr = io.StringIO(), io.StringIO()
        print_results(
            query, db_path=demo_archive, limit=None, sort=sort, output=output,
            stdout=stdout, stderr=stderr,
        )  # fmt: skip
        written[output] = stdout.getvalue()
        assert output_digest(written[output]) == expected_output_digest(
            search_key(query, sort, output)
        )
    assert json.loads(written["json"]) == [h.to_dict() for h in hits]
    assert [json.loads(line) for line in written["nl"].splitlines()] == json.loads(written["json"])
    assert len(list(csv.reader(io.StringIO(written["csv"])))) == len(hits) + 1
    if query in ("", "release"):
        assert len(hits) > 7  # more than one batch


@pytest.mark.parametrize("query", ["", "release", "zzzyzzx"])
@pytest.mark.parametrize("sort", ["rank", "date"])
def test_search_threads_streams_what_the_whole_list_gave(demo_archive, monkeypatch, query, sort):
    """``search --threads`` writes each thread as it is read, in every format, with the
    bytes the collected list gave (``render_table`` and the writers of whole lists)."""
    from archive.render import hits_to_csv, hits_to_json, hits_to_ndjson, render_table
    from archive.search import search_threads

    threads = search_threads(demo_archive, query, limit=None, sort=sort)
    monkeypatch.setattr("archive.search.tuning.HIT_BATCH", 7)
    monkeypatch.setenv("COLUMNS", "90")
    expected = {
        "json": hits_to_json(threads) + "\n",
        "nl": hits_to_ndjson(threads),
        "csv": hits_to_csv(threads, threads=True),
        None: render_table(threads, width=90),
    }
    for output, text in expected.items():
        stdout, stderr = io.StringIO(), io.StringIO()
        print_results(
            query, db_path=demo_archive, limit=None, sort=sort, output=output, threads=True,
            stdout=stdout, stderr=stderr,
        )  # fmt: skip
        assert stdout.getvalue() == text, output
        assert stderr.getvalue() == ("No threads match.\n" if output is None and not threads
                                     else ""), output
    if query in ("", "release"):
        assert len(threads) > 7  # more than one batch
