"""``listarchive show``: quotes on request, JSON, and on a terminal wrapped and paged.
The terminal is a real pseudo-terminal; the pager is whatever $PAGER names."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive.cli import cli
from archive.db import Archive
from archive.render import display_width, wrap
from archive.text import without_quotes
from scraper.models import Group, GroupRef, Message, Thread

REPO = Path(__file__).resolve().parents[1]
WHEN = datetime(2024, 2, 1, 9, tzinfo=UTC)
LONG = " ".join(f"word{i}" for i in range(60))
URL = "https://example.org/" + "a" * 80


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("show") / "archive.db"
    group = Group(GroupRef("show"), "1", "show@googlegroups.com", "Show")
    first = Message("m00000000001", "t000000001", "Ann", WHEN, "Release plan",
                    f"<p>The plan is ready.</p><p>{LONG}</p><p>{URL}</p>")  # fmt: skip
    reply = Message(
        "m00000000002", "t000000001", "Bob", WHEN + timedelta(hours=1), "Re: Release plan",
        "<p>Looks good to me.</p><div>On Thu, Feb 1, 2024 Ann wrote:</div>"
        "<blockquote><p>The plan is ready.</p><p>Quoted\x1b]52;c;eA==\x07 line</p></blockquote>"
        "<p>Thanks, Bob</p>",
    )
    with Archive(path) as archive:
        archive.save_thread(Thread(group, "t000000001", "Release plan", (first, reply)),
                            seen_at=WHEN)  # fmt: skip
    return path


def show(db: Path, *args: str):
    result = CliRunner().invoke(cli, ["show", "--db", str(db), "t000000001", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_quotes_shown_or_left_out(db):
    full = show(db)
    assert "> The plan is ready." in full and "Ann wrote:" in full
    assert "\x1b" not in full and "\x07" not in full
    bare = show(db, "--no-quotes")
    assert ">" not in bare and "wrote:" not in bare
    assert "Looks good to me.\n\nThanks, Bob" in bare
    # piped: not wrapped
    assert LONG in full


def test_json(db):
    document = json.loads(show(db, "--json"))
    assert [m["author"] for m in document["messages"]] == ["Ann", "Bob"]
    assert "> The plan is ready." in document["messages"][1]["body_text"]
    bare = json.loads(show(db, "--json", "--no-quotes"))
    assert ">" not in bare["messages"][1]["body_text"]


def test_without_quotes_keeps_an_unquoted_wrote_line():
    text = "I wrote: nothing\n\nOn Monday Ann wrote:\n\n> a\n> b\n\nmine"
    assert without_quotes(text) == "I wrote: nothing\n\nmine"


def test_wrap_keeps_quote_prefixes_and_long_words():
    text = "> " + LONG + "\n" + URL
    lines = wrap(text, 40).split("\n")
    assert all(line.startswith("> ") for line in lines[:-1])
    assert lines[-1] == URL  # longer than a line: kept whole
    assert all(display_width(line) <= 40 for line in lines[:-1])


def test_on_a_terminal_wrapped_and_paged(db):
    env = {**os.environ, "COLUMNS": "50", "LINES": "10", "PAGER": "sed 's/^/P|/'",
           "PYTHONPATH": str(REPO)}  # fmt: skip
    env.pop("NO_COLOR", None)
    try:
        leader, follower = pty.openpty()
    except OSError as err:  # a container without /dev/ptmx
        pytest.skip(f"no pseudo-terminal on this machine: {err}")
    code = "import sys\nfrom archive.cli import cli\ncli(sys.argv[1:])\n"
    with subprocess.Popen(
        [sys.executable, "-c", code, "show", "--db", str(db), "t000000001"],
        stdin=follower, stdout=follower, stderr=subprocess.PIPE, env=env, cwd=REPO,
    ) as process:  # fmt: skip
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=60) == 0, process.stderr.read()
    os.close(leader)
    lines = b"".join(chunks).decode().replace("\r\n", "\n").rstrip("\n").split("\n")
    assert lines and all(line.startswith("P|") for line in lines), lines  # through the pager
    shown = [line[2:] for line in lines]
    assert "Release plan" in shown[0]
    assert URL in shown  # one word longer than a line stays whole
    assert all(display_width(line) <= 50 for line in shown if line != URL), shown
    assert "word59" in "\n".join(shown)
