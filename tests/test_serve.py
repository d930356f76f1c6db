"""The archive in the tools people open SQLite files with: plain Datasette and
sqlite-utils find its search index with no setup, and ``listarchive serve`` drives
Datasette with metadata, facets, labels, readable bodies and thread links.

The archive is built once from the simulator's demo groups plus one hostile message,
and only read: every tool here runs as its own process, as a reader would run it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import lxml.html
import pytest

from archive.db import Archive, decode_body
from scraper.errors import EXIT_DATABASE
from tests.helpers.sync import sync_demo
from tests.simulator import GroupsState
from tests.simulator.demo import body, populate

BIN = Path(sys.executable).parent
HOSTILE_SUBJECT = "Mallory's zyzzyva notes"
HOSTILE_HTML = (
    '<p>zyzzyva <b>bold</b></p><script>document.title="pwned"</script>'
    '<img src="x" onerror="alert(1)"><a href="javascript:alert(2)">click</a>'
)


@pytest.fixture(scope="module")
def archive_path(tmp_path_factory) -> Path:
    state = GroupsState()
    populate(state)
    state.add_topic(
        state.group("dev", "example.org"),
        HOSTILE_SUBJECT,
        "Mallory <img src=x onerror=alert(3)>",
        "mallory@example.net",
        body_html=HOSTILE_HTML + body("more words"),
        posted_at=datetime(2025, 6, 1, 12, tzinfo=UTC),
    )
    return sync_demo(state, tmp_path_factory.mktemp("serve") / "archive.db")


def rows(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with Archive(path, create=False) as archive:
        return archive.db.conn.execute(sql, params).fetchall()


def ids_holding(path: Path, word: str) -> set[int]:
    """Messages with ``word`` in a field the index covers (the oracle; ASCII words)."""
    found = set()
    for message_id, *fields in rows(
        path, "SELECT id, subject, author, coalesce(masked_address, ''), body_text FROM messages"
    ):
        words = " ".join(fields).lower()
        tokens = "".join(c if c.isalnum() else " " for c in words).split()
        if word in tokens:
            found.add(message_id)
    return found


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


# --- plain Datasette and sqlite-utils -----------------------------------------------


@pytest.mark.parametrize("word", ["release", "zyzzyva", "nothingmatchesthis"])
def test_plain_datasette_searches_messages_with_the_archive_index(archive_path, word):
    result = run(
        str(BIN / "datasette"),
        str(archive_path),
        "--get",
        f"/archive/messages.json?_search={word}&_shape=array&_size=max&_col=id",
    )
    assert result.returncode == 0, result.stderr
    found = {row["id"] for row in json.loads(result.stdout)}
    expected = ids_holding(archive_path, word)
    assert found == expected
    total = rows(archive_path, "SELECT count(*) FROM messages")[0][0]
    assert len(found) < total  # before, ?_search= returned every row


def test_plain_datasette_shows_a_search_box_on_messages(archive_path):
    result = run(str(BIN / "datasette"), str(archive_path), "--get", "/archive/messages")
    assert result.returncode == 0, result.stderr
    assert 'name="_search"' in result.stdout


def test_sqlite_utils_search_finds_the_index(archive_path):
    result = run(
        str(BIN / "sqlite-utils"), "search", str(archive_path), "messages", "release", "-c", "id"
    )
    assert result.returncode == 0, result.stderr
    found = [row["id"] for row in json.loads(result.stdout)]
    assert sorted(found) == sorted(ids_holding(archive_path, "release"))
    # Its ranking is the index's default rank, which is the archive's own: the most
    # relevant message (the word in its subject) comes first, as in listarchive search.
    from archive.search import search

    assert found[0] == search(archive_path, "release", limit=1)[0].id


# --- listarchive serve ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def served(archive_path) -> Iterator[httpx.Client]:
    before = archive_path.read_bytes()
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "listarchive"), "serve", "--db", str(archive_path), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                client.get("/-/versions.json").raise_for_status()
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(process.stderr.read().decode()) from None
                time.sleep(0.2)
        yield client
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=30)
        process.stdout.close()
        process.stderr.close()
    assert archive_path.read_bytes() == before  # read-only


def get_json(client: httpx.Client, path: str, **params) -> object:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_serve_searches_posts_with_facets_by_group_and_author(served, archive_path):
    data = get_json(served, "/archive/posts.json", _search="release", _size="max")
    found = {row[data["columns"].index("message_id")] for row in data["rows"]}
    assert found == ids_holding(archive_path, "release")
    facets = data["facet_results"]
    groups = {f["value"]: f["count"] for f in facets["group_key"]["results"]}
    assert set(groups) <= {"demo-announce@googlegroups.com", "dev@example.org"}
    assert sum(groups.values()) == len(data["rows"])
    assert facets["author"]["results"]


def test_serve_labels_foreign_keys_with_subjects_and_titles(served, archive_path):
    postings = get_json(served, "/archive/postings.json", _labels="on", _shape="array")
    subjects = dict(rows(archive_path, "SELECT id, subject FROM messages"))
    for posting in postings:
        assert posting["message_id"]["label"] == subjects[posting["message_id"]["value"]]
    threads = get_json(served, "/archive/threads.json", _labels="on", _shape="array")
    titles = dict(rows(archive_path, "SELECT key, title FROM groups"))
    assert {t["group_key"]["label"] for t in threads} == set(titles.values())


def test_serve_thread_query_lists_a_thread_in_order_with_google_links(served, archive_path):
    [(thread_id, group_key, topic_id)] = rows(
        archive_path,
        "SELECT thread_id, group_key, topic_id FROM postings GROUP BY thread_id"
        " ORDER BY count(*) DESC, thread_id LIMIT 1",
    )
    data = get_json(served, "/archive/thread.json", thread_id=thread_id, _shape="array")
    with Archive(archive_path, create=False) as archive:
        thread = archive.get_thread(group_key, topic_id)
    assert [m["message_id"] for m in data] == [m["id"] for m in thread["messages"]]
    assert len(data) > 1
    assert all(m["url"].startswith("https://groups.google.com/") for m in data)


def test_serve_pages_link_a_post_to_its_thread(served, archive_path):
    [(message_id, thread_id)] = rows(
        archive_path,
        "SELECT message_id, thread_id FROM postings p JOIN messages m ON m.id = p.message_id"
        " WHERE m.subject = ?",
        (HOSTILE_SUBJECT,),
    )
    page = served.get("/archive/posts", params={"_search": "zyzzyva"}).text
    assert f'href="/archive/thread?thread_id={thread_id}"' in page
    threads = served.get("/archive/threads", params={"id": thread_id}).text
    assert f'href="/archive/thread?thread_id={thread_id}"' in threads
    thread_page = served.get("/archive/thread", params={"thread_id": thread_id}).text
    assert "zyzzyva <b>bold</b>" in thread_page  # the HTML body, rendered


def test_serve_shows_bodies_readable_and_inert(served, archive_path):
    [(message_id,)] = rows(
        archive_path, "SELECT id FROM messages WHERE subject = ?", (HOSTILE_SUBJECT,)
    )
    page = served.get(f"/archive/messages/{message_id}").text
    assert "zyzzyva <b>bold</b>" in page
    assert "&lt;Binary" not in page and "<Binary" not in page
    tree = lxml.html.fromstring(page)
    assert not [s for s in tree.iter("script") if "pwned" in (s.text or "")]
    assert not [e for e in tree.iter() for name in e.attrib if name.startswith("on")]
    assert not [e for e in tree.iter("a") if "javascript" in e.get("href", "")]
    assert not [e for e in tree.iter("img") if e.get("src") == "x"]
    assert "Mallory &lt;img src=x onerror=alert(3)&gt;" in page  # the author reads as written


def test_serve_registers_listarchive_html_for_sql(served, archive_path):
    [(message_id, stored)] = rows(
        archive_path, "SELECT id, body_html FROM messages WHERE subject = ?", (HOSTILE_SUBJECT,)
    )
    data = get_json(
        served,
        "/archive.json",
        sql="select listarchive_html(body_html) as html from messages where id = :id",
        id=message_id,
        _shape="array",
    )
    assert data == [{"html": decode_body(stored)}]
    assert HOSTILE_HTML in data[0]["html"]  # the text as received; pages sanitise it


def test_serve_is_read_only(served):
    sql = "insert into runs (started_at) values ('x')"
    response = served.get("/archive.json", params={"sql": sql})
    assert response.status_code == 400
    assert not any(r["started_at"] == "x" for r in get_json(served, "/archive/runs.json",
                                                             _shape="array"))


def test_serve_refuses_a_missing_archive_in_one_line(tmp_path):
    result = run(str(BIN / "listarchive"), "serve", "--db", str(tmp_path / "none.db"))
    assert result.returncode == EXIT_DATABASE
    assert result.stderr.strip().count("\n") == 0
    assert "no archive at" in result.stderr
    assert not (tmp_path / "none.db").exists()


def test_a_huge_body_is_cut_on_pages():
    from archive.db import encode_body
    from archive.serve import CELL_LIMIT, render_cell

    text = "<script>x</script> " + "log line\n" * (CELL_LIMIT // 5)
    cell = render_cell(None, text, "body_text", "messages", "archive", None)
    assert len(cell) < CELL_LIMIT + 500
    assert f"{len(text):,} characters in all" in cell
    assert "<script>" not in cell
    html = render_cell(None, encode_body(f"<pre>{text}</pre>"), "body_html", "posts", "a", None)
    assert "characters of HTML: read body_text" in html and "log line" not in html
    small = encode_body("<p>hi<script>x</script></p>")
    small = render_cell(None, small, "body_html", "messages", "archive", None)
    assert "<p>hi</p>" in small and "script" not in small
