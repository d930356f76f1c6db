"""Results read well: list tags left out, matched identifiers never cut, oldest first on
request, colour only on a terminal that wants it. Through the real CLI."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive.cli import cli
from archive.db import Archive
from archive.render import Palette, print_results
from archive.search import search, search_threads
from scraper.models import Group, GroupRef, Message, Thread

WHEN = datetime(2024, 1, 1, 12, tzinfo=UTC)
GROUP = Group(GroupRef("results"), "1", "results@googlegroups.com", "Results")
IDENTIFIER = "CVE-2024-3177"


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("results") / "archive.db"
    filler = " ".join(f"word{i}" for i in range(40))
    with Archive(path) as archive:
        for i in range(30):
            topic = f"t{i:010d}"
            subject = (
                f"[ann] [security] Advisory number {i} for the whole project: {IDENTIFIER}"
                if i % 3 == 0
                else f"Re: [dev] weekly notes {i}"
            )
            body = f"<p>{filler} the {IDENTIFIER} advisory {filler}</p>" if i % 3 == 0 else (
                f"<p>notes {i}: nothing about it</p>")
            message = Message(f"m{i:011d}", topic, f"Author {i % 4}",
                              WHEN + timedelta(days=i), subject, body)  # fmt: skip
            archive.save_thread(Thread(GROUP, topic, subject, (message,)), seen_at=WHEN)
    return path


def run(*args: str, env: dict[str, str] | None = None):
    result = CliRunner().invoke(cli, list(args), env=env)
    assert "Traceback" not in result.output, result.output
    return result


def test_list_tags_are_left_out_of_the_subject_column(db):
    for extra in ((), ("--threads",)):
        out = run("search", "--db", str(db), "weekly", "--limit", "0", *extra).stdout
        assert "Re: weekly notes" in out
        assert "[dev]" not in out
    # the data keeps them
    assert search(db, "weekly", limit=1)[0].subject.startswith("Re: [dev] weekly")


@pytest.mark.parametrize("columns", [40, 52, 60, 66, 72, 80, 100])
def test_a_matched_identifier_is_never_cut(db, columns):
    out = run("search", "--db", str(db), IDENTIFIER, "--limit", "0",
              env={"COLUMNS": str(columns)}).stdout  # fmt: skip
    assert out.count("\n") == 3 * 10
    # wherever the identifier shows, it shows whole, in the subject and in the snippet
    for found in re.finditer(r"CVE-[\d-]*", out):
        assert found.group() == IDENTIFIER, (columns, out)
    snippets = out.splitlines()[1::3]
    assert all(f"**{IDENTIFIER}**" in line for line in snippets), (columns, out)


def test_oldest_first(db):
    newest = [h.id for h in search(db, "notes", sort="date", limit=None)]
    oldest = [h.id for h in search(db, "notes", sort="date", reverse=True, limit=None)]
    assert oldest == newest[::-1] and len(oldest) == 20
    assert [h.id for h in search(db, "notes", sort="date", reverse=True, limit=3, offset=2)] == (
        oldest[2:5]
    )
    # a query without words lists by date too
    everything = [h.id for h in search(db, "", sort="date", reverse=True, limit=None)]
    assert everything == sorted(everything) and len(everything) == 30
    threads = search_threads(db, "notes", sort="date", reverse=True, limit=None)
    assert [t.latest_hit_at for t in threads] == sorted(t.latest_hit_at for t in threads)

    out = run("search", "--db", str(db), "notes", "--sort", "date", "--reverse", "--limit", "2")
    dates = re.findall(r"^(\d{4}-\d\d-\d\d)  ", out.stdout, re.M)
    assert dates == ["2024-01-02", "2024-01-03"]
    wrong = run("search", "--db", str(db), "notes", "--reverse")
    assert wrong.exit_code == 2 and "--sort date" in wrong.stderr


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("env", "coloured"),
    [({"TERM": "xterm-256color"}, True), ({"TERM": "xterm", "NO_COLOR": "1"}, False),
     ({"TERM": "dumb"}, False), ({"TERM": "xterm", "NO_COLOR": ""}, True)],
)  # fmt: skip
def test_colour_on_a_terminal_only_when_wanted(db, monkeypatch, env, coloured):
    monkeypatch.delenv("NO_COLOR", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    out = Terminal()
    print_results(IDENTIFIER, db_path=db, stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    palette = Palette.for_stream(out)
    if coloured:
        assert f"{palette.date[0]}2024-" in text and palette.author[0] + "Author" in text
        assert f"{palette.match[0]}{IDENTIFIER}{palette.match[1]}" in text
    else:
        assert "\x1b" not in text and f"**{IDENTIFIER}**" in text
    # piped: never colour
    piped = run("search", "--db", str(db), IDENTIFIER, env={"TERM": "xterm-256color"})
    assert "\x1b" not in piped.stdout
