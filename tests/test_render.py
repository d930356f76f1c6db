"""Every human-readable output, CSV and JSON lines, fed hostile text from a real archive.

Anyone can post to a public group: subjects, author names and bodies below carry
terminal escapes (screen clear, OSC 8 links, OSC 52 clipboard writes, window titles),
bells, carriage returns, forged lines, bidi overrides, line separators and spreadsheet
formulas. Each output is read back the way its consumer reads it: a terminal's view of
characters, ``str.splitlines`` for line readers, ``csv.reader`` for CSV.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive.cli import cli
from archive.db import Archive
from archive.progress import TerminalProgress
from archive.render import (
    HIT_CSV_COLUMNS,
    THREAD_CSV_COLUMNS,
    Palette,
    csv_cell,
    inert,
    json_chunks,
    json_line,
    print_results,
)
from archive.sync import GroupResult
from scraper.models import Group, GroupRef, Message, Thread
from tests.simulator import GroupsState, Simulator

HOSTILE = (
    "\x02fake mark\x03",  # our own highlight markers
    "\x1b[2J\x1b[3J\x1b[H",  # clear the screen and scrollback, cursor home
    "\x1b]8;;https://evil.example/\x1b\\click me\x1b]8;;\x1b\\",  # OSC 8 link
    "\x1b]52;c;cm0gLXJmIH4K\x07",  # OSC 52: write the clipboard
    "\x1b]0;pwned title\x07",  # window title
    "\x07\x07",  # bells
    "\rOVERWRITTEN",  # back to the start of the line
    "\nFORGED 2099-01-01  Forger  forged result",  # a line of its own
    "\u202eevil\u202c \u2066isolated\u2069 \u200bzero",  # bidi override, isolate, ZWSP
    "\u2028LS\u2029PS\u0085NEL\x0bVT\x0cFF\x1cFS",  # what line readers split on
    "\x9b2J\x9d0;c1 title\x9c",  # the same escapes as C1 controls
    "\x00nul\x7fdel",
)
HOSTILE_TEXT = " ".join(HOSTILE)
# A cell starting with each of these is a formula to a spreadsheet (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
WHEN = datetime(2024, 5, 1, 12, tzinfo=UTC)
GROUP = Group(GroupRef("hostile"), "1", "hostile@googlegroups.com", "Hostile " + HOSTILE_TEXT)


def _subject(start: str) -> str:
    return f'{start}HYPERLINK("https://evil.example","release") [ann] release {HOSTILE_TEXT}'


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "archive.db"
    with Archive(path) as archive:
        for i, start in enumerate(FORMULA_STARTS):
            topic = f"t{i:010d}"
            message = Message(
                f"m{i:011d}",
                topic,
                f"{start}SUM(1+1) Mallory {HOSTILE_TEXT}",
                WHEN + timedelta(days=i),
                _subject(start),
                f"<p>release notes {HOSTILE_TEXT} and the release again</p>",
                masked_address=f"{start}mal...@example.com",
            )
            archive.save_thread(Thread(GROUP, topic, message.subject, (message,)), seen_at=WHEN)
        run = archive.start_run([f"https://groups.google.com/g/x{HOSTILE_TEXT}"], WHEN)
        archive.finish_run(run, status="failed", finished_at=WHEN, errors=[HOSTILE_TEXT])
    return path


def _visible_controls(text: str, *, allowed: str = "\n") -> list[str]:
    """Characters a terminal acts on or hides: controls, separators, format characters."""
    return [
        c
        for c in text
        if c not in allowed
        and (
            unicodedata.category(c) in ("Cc", "Zl", "Zp")
            or (unicodedata.category(c) == "Cf" and c not in "\u200c\u200d")
        )
    ]


def assert_inert(
    text: str, *, allowed_escapes: tuple[str, ...] = (), debris: bool = False
) -> None:
    for escape in allowed_escapes:
        text = text.replace(escape, "")
    assert _visible_controls(text) == [], repr(text)
    if not debris:  # no remains of a removed sequence either
        assert "]52;" not in text and "]8;;" not in text and "[2J" not in text
    assert not any(line.startswith("FORGED") for line in text.split("\n"))


def run(*args: str):
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output, result.output
    return result


# ---------------------------------------------------------------- the one rule


def test_inert_removes_whole_sequences_and_keeps_the_words():
    assert inert("a\x1b[2Jb\x1b]8;;http://x/\x1b\\link\x1b]8;;\x1b\\c") == "ablinkc"
    assert inert("x\x1b]52;c;Zm9v\x07y") == "xy"
    assert inert("line\rover\nforged\u2028sep\u0085nel") == "line over forged sep nel"
    assert inert("\u202eabc\u202c \u2066d\u2069") == "abc d"
    # joiners shape emoji and Persian words; they stay
    assert inert("\U0001f469\u200d\U0001f4bb \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645") == (
        "\U0001f469\u200d\U0001f4bb \u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"
    )
    # an unterminated OSC string ends at the line, so it cannot hide a whole body
    assert inert("a\x1b]0;title\nrest of the body", multiline=True) == "a\nrest of the body"
    assert inert("one\r\ntwo\rthree\u2028four\tfive\x07", multiline=True) == (
        "one\ntwo\nthree\nfour\tfive"
    )


def test_inert_drops_every_format_and_control_character():
    import sys

    everything = "".join(
        chr(code)
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) in ("Cc", "Cf", "Zl", "Zp")
    )
    assert _visible_controls(inert(everything)) == []
    assert _visible_controls(inert(everything, multiline=True), allowed="\n\t") == []


def test_csv_cell_and_json_line():
    assert [csv_cell(s + "x") for s in FORMULA_STARTS] == ["'" + s + "x" for s in FORMULA_STARTS]
    assert csv_cell(-1.5) == -1.5 and csv_cell(None) == "" and csv_cell("a=b") == "a=b"
    line = json_line({"t": "a\u2028b\u2029c\x85d\x7f"})
    assert line.splitlines() == [line] and json.loads(line) == {"t": "a\u2028b\u2029c\x85d\x7f"}


# ---------------------------------------------------------------- search


def test_search_table_piped(hostile_db):
    result = run("search", "--db", str(hostile_db), "release", "--limit", "0")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert_inert(out)
    # three lines a hit (header, snippet, URL), whatever the text held
    assert len(out.splitlines()) == 3 * len(FORMULA_STARTS)
    headers = out.splitlines()[::3]
    assert all(re.match(r"\d{4}-\d\d-\d\d  ", line) for line in headers)
    assert all("**release**" in line for line in out.splitlines()[1::3])
    assert "fake mark" in out and "**fake mark**" not in out


def test_search_table_on_a_terminal_has_only_its_own_colours(hostile_db, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    out, err = FakeTerminal(), FakeTerminal()
    print_results("release", db_path=hostile_db, limit=None, stdout=out, stderr=err)
    palette = Palette.for_stream(out)
    ours = tuple({code for style in vars(palette).values() for code in style if code})
    assert "\x1b[1m" in ours and palette.match[0] + "release" in out.text
    assert_inert(out.text, allowed_escapes=ours)
    assert len(out.text.splitlines()) == 3 * len(FORMULA_STARTS)


def test_search_threads_table(hostile_db):
    result = run("search", "--db", str(hostile_db), "release", "--threads")
    assert result.exit_code == 0, result.output
    assert_inert(result.stdout)
    assert len(result.stdout.splitlines()) == 2 * len(FORMULA_STARTS)


def test_search_nl_keeps_one_record_a_line(hostile_db):
    for extra in ((), ("--threads",)):
        result = run("search", "--db", str(hostile_db), "release", "--nl", *extra)
        lines = result.stdout.splitlines()  # splits on U+2028, NEL, VT, FS...
        assert len(lines) == len(FORMULA_STARTS)
        records = [json.loads(line) for line in lines]
        # the data itself is untouched: JSON is for programs
        assert {r["subject"] for r in records} == {_subject(s) for s in FORMULA_STARTS}


def test_search_csv_round_trips(hostile_db):
    for extra, columns in (((), HIT_CSV_COLUMNS), (("--threads",), THREAD_CSV_COLUMNS)):
        result = run("search", "--db", str(hostile_db), "release", "--csv", *extra)
        rows = list(csv.reader(io.StringIO(result.stdout, newline="")))
        assert rows[0] == list(columns)
        assert len(rows) == len(FORMULA_STARTS) + 1
        assert all(len(row) == len(columns) for row in rows)
        body = rows[1:]
        for row in body:
            assert not any(cell.startswith(FORMULA_STARTS) for cell in row), row
        subjects = {row[columns.index("subject")] for row in body}
        assert subjects == {"'" + _subject(s) for s in FORMULA_STARTS}
        if not extra:
            authors = {row[columns.index("author")] for row in body}
            assert "'@SUM(1+1) Mallory " + HOSTILE_TEXT in authors
            masked = {row[columns.index("masked_address")] for row in body}
            assert masked == {f"'{s}mal...@example.com" for s in FORMULA_STARTS}


def test_bad_input_error_line_is_inert(hostile_db):
    result = run("search", "--db", str(hostile_db), "release", "--group", HOSTILE_TEXT)
    assert result.exit_code != 0
    assert_inert(result.stderr, debris=True)  # the value is quoted, escapes spelled out
    assert len(result.stderr.splitlines()) == 1


# ---------------------------------------------------------------- other commands


def test_show(hostile_db):
    url = Archive(hostile_db, create=False).list_groups()  # the archive opens read-only too
    assert url
    result = run("show", "--db", str(hostile_db), "t0000000000")
    assert result.exit_code == 0, result.output
    assert_inert(result.stdout)
    first = result.stdout.split("\n")[0]
    assert first == inert(_subject("="))


def test_groups_and_runs(hostile_db):
    groups = run("groups", "--db", str(hostile_db))
    assert groups.exit_code == 0, groups.output
    assert_inert(groups.stdout)
    assert len(groups.stdout.splitlines()) == 3  # header, rule, one group
    assert "Hostile" in groups.stdout
    runs = run("runs", "--db", str(hostile_db))
    assert runs.exit_code == 0, runs.output
    assert_inert(runs.stdout)
    assert len(runs.stdout.splitlines()) == 3
    stats = run("stats", "--db", str(hostile_db))
    assert stats.exit_code == 0, stats.output
    assert_inert(stats.stdout)
    assert "Mallory" in stats.stdout  # the top poster, its name made inert


def test_sync_summary_line():
    result = GroupResult(
        group="x@googlegroups.com", url="https://groups.google.com/g/x", mode="incremental"
    )
    result.status = "failed"
    result.errors.append("the server said " + HOSTILE_TEXT)
    result.warnings.append(HOSTILE_TEXT)
    out = io.StringIO()
    TerminalProgress(bar=False, file=out).group_finished(result)
    assert_inert(out.getvalue())
    assert len(out.getvalue().splitlines()) == 1


def test_inspect_group_and_thread():
    state = GroupsState()
    group = state.add_group("hostile", None, "Hostile " + HOSTILE_TEXT)
    topic = state.add_topic(
        group,
        "release " + HOSTILE_TEXT,
        "Mallory " + HOSTILE_TEXT,
        "mallory@example.com",
        body_html=f"<p>{HOSTILE_TEXT}</p>",
        posted_at=WHEN,
    )
    with Simulator(state) as sim:
        for url in (group.url, topic.url):
            as_json = run("inspect", "--base-url", sim.base_url, "--delay", "0", "--json", url)
            assert as_json.exit_code == 0, as_json.output
            assert "\\u001b]52;" in as_json.stdout  # the page did carry the escapes
            text = run("inspect", "--base-url", sim.base_url, "--delay", "0", url)
            assert text.exit_code == 0, text.output
            assert_inert(text.stdout)
            assert "release" in text.stdout


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True

    @property
    def text(self) -> str:
        return self.getvalue()


def _random_json(rng, depth=0):
    roll = rng.random()
    if depth > 4 or roll < 0.4:
        return rng.choice([None, True, False, 0, -7, 1.5, 1e300, "", "a\"b\\c", "é\u2028\x00",
                           "\ud83d\ude00", "line\nbreak"])
    if roll < 0.7:
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(["k", "ü", "", "a b", "\t"]) + str(n): _random_json(rng, depth + 1)
            for n in range(rng.randint(0, 4))}


def _as_iterators(value):
    """The same value with every list turned into a one-pass iterator."""
    if isinstance(value, dict):
        return {key: _as_iterators(item) for key, item in value.items()}
    if isinstance(value, list):
        return iter([_as_iterators(item) for item in value])
    return value


def test_json_chunks_writes_what_json_dumps_writes_with_iterators_as_arrays():
    import random

    rng = random.Random(20261207)
    for _ in range(2000):
        value = _random_json(rng)
        expected = json.dumps(value, indent=2, ensure_ascii=False)
        assert "".join(json_chunks(value)) == expected
        assert "".join(json_chunks(_as_iterators(value))) == expected
