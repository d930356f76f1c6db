"""Output for people and for the programs they pipe into: terminals, CSV, JSON lines.

Anyone can post to a public group, so a subject, an author's name or a body may carry
terminal escapes (screen clears, OSC 8 links, OSC 52 clipboard writes, window titles),
bells, carriage returns that overwrite a line, newlines that forge extra result lines,
bidi overrides that reorder what is shown, or cells a spreadsheet runs as formulas.
Every human-readable output passes its text through :func:`inert` (``show``,
``search``, ``groups``, ``runs``, ``stats``, ``inspect``, the ``sync`` summaries, error
lines), whether or not it goes to a terminal: a pipe often ends in one (``| less -R``,
``| tee``). CSV cells go through :func:`csv_cell`, JSON lines through :func:`json_line`.

This module imports nothing heavy, so commands that only read stay quick to start.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from archive.content import author_label, strip_list_tags

if TYPE_CHECKING:
    from archive.search import SearchHit, ThreadHit

__all__ = [
    "Palette",
    "format_inspection",
    "inspection_json",
    "csv_cell",
    "display_width",
    "fit",
    "hits_to_csv",
    "hits_to_json",
    "hits_to_ndjson",
    "inert",
    "json_line",
    "plain_table",
    "print_results",
    "render_table",
    "show_json",
    "show_text",
    "to_csv",
    "wrap",
]

# Highlight markers inside snippets made for the table; never in stored text, since
# :func:`inert` removes them like every other control character.
MARK_START, MARK_END = "\x02", "\x03"
ELLIPSIS = "\u2026"

# ---------------------------------------------------------------- inert text

# Whole escape sequences go, not just their ESC, so no "[2J" or "]52;c;..." debris is
# left: CSI (ESC [ or the C1 byte), OSC/DCS/APC/PM/SOS strings (to BEL or ST, or when
# unterminated to the end of the line, so a stray one cannot hide a whole body), and
# two-byte ESC sequences.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]?"
)
# Line breaks other than \n that some reader splits on: CR, VT, FF, the file/group/record
# separators Python's str.splitlines() honours, NEL, LINE and PARAGRAPH SEPARATOR.
_BREAKS = re.compile("\r\n|[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
# The format characters (Unicode category Cf) but ZWNJ and ZWJ, which shape Persian and
# Indic words and emoji sequences. The rest (bidi overrides, embeddings and isolates,
# zero-width spaces, tag characters) can hide or reorder text.
_FORMAT = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b\u200e\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f]"
)
# Control characters (category Cc) and the Unicode line and paragraph separators.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROLS_BUT_LF_TAB = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def inert(text: str, *, multiline: bool = False, strip: bool = True) -> str:
    """``text`` made harmless to print on a terminal: the one rule every output uses.

    Escape sequences are removed whole; other control characters, bidi controls and
    invisible format characters are dropped. One line (the default): every line break
    and tab becomes a space and runs of white space fold into one, so a value can never
    start a line of its own; ``strip=False`` keeps one space where the text began or
    ended with white space, for a piece of a line. ``multiline=True`` keeps tabs and
    turns every kind of line break (CR, CRLF, NEL, U+2028...) into ``\\n``, for bodies.
    """
    if not text:
        return ""
    if text.isascii() and _CONTROLS_BUT_LF_TAB.search(text) is None:
        # Nothing to remove (the common case): the rules below would change nothing
        # but white space, which folds the same way here.
        if multiline:
            return text
        spaced = text
    else:
        text = _FORMAT.sub("", _ESCAPES.sub("", text))
        if multiline:
            return _CONTROLS_BUT_LF_TAB.sub("", _BREAKS.sub("\n", text))
        spaced = _CONTROLS.sub(" ", text)
    line = " ".join(spaced.split())
    if strip:
        return line
    lead = " " if spaced[:1].isspace() else ""
    trail = " " if spaced[-1:].isspace() and line else ""
    return lead + line + trail


# ---------------------------------------------------------------- CSV and JSON lines

# OWASP's list: a cell starting with one of these is a formula (or becomes one once a
# spreadsheet trims the tab or CR).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value a spreadsheet shows as text: formula-like strings get a leading ``'``.

    Numbers stay numbers (a negative score is not a formula).
    """
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV with a header row, every cell through :func:`csv_cell`.

    Every text cell is quoted: Python's writer leaves a bare CR unquoted when lines end
    in LF, and a reader then splits the row there.
    """
    return "".join(csv_chunks(header, rows))


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """:func:`to_csv`, a row at a time, as ``rows`` are taken."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()


# Characters JSON leaves raw that a line reader (Python's splitlines, JavaScript's
# line terminators, some log shippers) takes for the end of a record.
_JSON_BREAKS = re.compile("[\x7f-\x9f\u2028\u2029]")


def json_line(value: Any) -> str:
    """``value`` as one line of JSON that every line reader sees as one line."""
    text = json.dumps(value, ensure_ascii=False)
    return _JSON_BREAKS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# ---------------------------------------------------------------- widths


def _char_width(char: str) -> int:
    if char < "\x80":  # no ASCII character is wide, combining or a format character
        return 1
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes (wide characters two, marks none)."""
    if text.isascii():
        return len(text) - text.count(MARK_START) - text.count(MARK_END)
    return sum(_char_width(c) for c in text if c not in (MARK_START, MARK_END))


def fit(text: str, width: int, *, bold: tuple[str, str] | None = None) -> str:
    """``text`` cut to ``width`` terminal columns (with an ellipsis), markers rendered.

    ``bold`` gives the strings for the highlight markers: ANSI codes take no room,
    plain markers do. A cut never splits a highlighted match (it shows whole or not at
    all) and, when a space leaves at least half the room, never splits a word, so an
    identifier such as ``CVE-2024-3177`` is never shown cut short.
    """
    start, end = bold or ("", "")
    start_width, end_width = _visible_width(start), _visible_width(end)
    marks = text.count(MARK_START)
    if display_width(text) + marks * (start_width + end_width) <= width:
        return text.replace(MARK_START, start).replace(MARK_END, end)
    limit = max(width - 1, 0)
    out: list[str] = []
    used = at = 0
    space: tuple[int, int] | None = None  # (pieces, columns) at the last space
    while at < len(text):
        char = text[at]
        if char == MARK_START:
            close = text.find(MARK_END, at + 1)
            close = len(text) if close < 0 else close
            span = text[at + 1 : close]
            need = start_width + display_width(span) + end_width
            if used + need > limit:
                break
            out.append(start + span + end)
            used += need
            at = close + 1
            continue
        if char != MARK_END:
            w = _char_width(char)
            if used + w > limit:
                break
            if char == " ":
                space = (len(out), used)
            out.append(char)
            used += w
        at += 1
    cut_in_word = at < len(text) and text[at] != " " and out and not out[-1].endswith(" ")
    if cut_in_word and space is not None and space[1] >= limit // 2:
        out = out[: space[0]]
    return "".join(out).rstrip() + ELLIPSIS


def _visible_width(marker: str) -> int:
    return 0 if marker.startswith("\x1b") else display_width(marker)


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - display_width(text), 0)


# ---------------------------------------------------------------- colour


@dataclass(frozen=True)
class Palette:
    """ANSI styles for the table; all empty when colour is off.

    ``match`` wraps highlighted words: bold on a terminal, ``**`` otherwise.
    """

    date: tuple[str, str] = ("", "")
    author: tuple[str, str] = ("", "")
    match: tuple[str, str] = ("**", "**")
    dim: tuple[str, str] = ("", "")

    @classmethod
    def for_stream(cls, stream: Any, environ: dict[str, str] | None = None) -> Palette:
        """Colour when ``stream`` is a terminal, unless ``NO_COLOR`` is set (to
        anything but the empty string) or ``TERM=dumb``."""
        env = os.environ if environ is None else environ
        isatty = getattr(stream, "isatty", None)
        if not (isatty and isatty()) or env.get("NO_COLOR") or env.get("TERM") == "dumb":
            return cls()
        return cls(
            date=("\x1b[36m", "\x1b[39m"),
            author=("\x1b[33m", "\x1b[39m"),
            match=("\x1b[1m", "\x1b[22m"),
            dim=("\x1b[2m", "\x1b[22m"),
        )


def _paint(text: str, style: tuple[str, str]) -> str:
    return f"{style[0]}{text}{style[1]}" if style[0] and text else text


# ---------------------------------------------------------------- plain tables


def plain_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: set[int]) -> str:
    """Columns padded to their widest cell; ``numeric`` columns right-aligned.

    Every cell is made :func:`inert` first, so none can break the layout or the terminal.
    """
    cells = [list(headers)] + [[inert(str(c)) for c in row] for row in rows]
    widths = [max(display_width(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        padded = []
        for i, cell in enumerate(row):
            gap = " " * max(widths[i] - display_width(cell), 0)
            padded.append(gap + cell if i in numeric and n else cell + gap)
        lines.append("  ".join(padded).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ---------------------------------------------------------------- search results


def hits_to_json(items: Sequence[SearchHit | ThreadHit]) -> str:
    return json.dumps([item.to_dict() for item in items], indent=2, ensure_ascii=False)


def json_array_chunks(items: Iterable[SearchHit | ThreadHit]) -> Iterator[str]:
    """``hits_to_json(items) + "\\n"``, a hit at a time, for results too many to hold."""
    opening = "[\n  "
    for item in items:
        yield opening + json.dumps(item.to_dict(), indent=2, ensure_ascii=False).replace(
            "\n", "\n  "
        )
        opening = ",\n  "
    yield "[]\n" if opening == "[\n  " else "\n]\n"


def json_chunks(value: Any, level: int = 0) -> Iterator[str]:
    """``json.dumps(value, indent=2, ensure_ascii=False)`` in pieces, with any iterator
    inside ``value`` written as an array as it is consumed: a document too big to hold
    (a first sync's every added message) is written without being held."""
    if isinstance(value, dict):
        if not value:
            yield "{}"
            return
        pad, sep = "  " * (level + 1), "{\n"
        for key, item in value.items():
            yield f"{sep}{pad}{json.dumps(str(key), ensure_ascii=False)}: "
            yield from json_chunks(item, level + 1)
            sep = ",\n"
        yield "\n" + "  " * level + "}"
    elif isinstance(value, list | tuple | Iterator):
        pad, sep = "  " * (level + 1), "[\n"
        for item in value:
            yield sep + pad
            yield from json_chunks(item, level + 1)
            sep = ",\n"
        yield "[]" if sep == "[\n" else "\n" + "  " * level + "]"
    else:
        yield json.dumps(value, ensure_ascii=False)


def write_chunks(stdout: Any, chunks: Iterable[str]) -> None:
    """Write ``chunks`` to ``stdout`` as they come; a reader that goes away ends it quietly."""
    _write(stdout, chunks)


def hits_to_ndjson(items: Sequence[SearchHit | ThreadHit]) -> str:
    """One JSON object per line; no character inside a record ends a line."""
    return "".join(json_line(item.to_dict()) + "\n" for item in items)


HIT_CSV_COLUMNS = (
    "id", "posted_at", "author", "masked_address", "subject", "groups", "url",
    "group_key", "topic_id", "thread_id", "snippet", "score",
)  # fmt: skip
THREAD_CSV_COLUMNS = (
    "thread_id", "group_key", "topic_id", "subject", "url", "hits", "message_count",
    "latest_hit_at", "last_activity_at", "score",
)  # fmt: skip


def hits_to_csv(items: Sequence[SearchHit | ThreadHit], *, threads: bool = False) -> str:
    """CSV with a header row; a message's ``groups`` are joined with ``;``."""
    return "".join(hit_csv_chunks(items, threads=threads))


def hit_csv_chunks(
    items: Iterable[SearchHit | ThreadHit], *, threads: bool = False
) -> Iterator[str]:
    """:func:`hits_to_csv`, a row at a time, as ``items`` are taken."""
    columns = THREAD_CSV_COLUMNS if threads else HIT_CSV_COLUMNS
    return csv_chunks(columns, (_csv_row(item, columns) for item in items))


def _csv_row(item: SearchHit | ThreadHit, columns: Sequence[str]) -> list[Any]:
    row = item.to_dict()
    if "groups" in row:
        row["groups"] = ";".join(row["groups"])
    return [row[key] for key in columns]


def render_table(
    items: Sequence[SearchHit | ThreadHit],
    *,
    width: int = 100,
    bold: tuple[str, str] | None = None,
    palette: Palette | None = None,
) -> str:
    """The human-readable listing: each line fits in ``width`` columns.

    Snippets made with ``highlight=(MARK_START, MARK_END)`` have their matches drawn in
    ``palette.match`` (``bold`` overrides it): ANSI bold on a terminal, ``**``
    otherwise. Every message-born string is made :func:`inert`. URLs are never cut.
    """
    from archive.search import ThreadHit

    palette = palette or Palette()
    if bold is not None:
        palette = Palette(palette.date, palette.author, bold, palette.dim)
    width = max(width, 40)
    authors = [_author(item) for item in items if not isinstance(item, ThreadHit)]
    author_width = min(max([display_width(a) for a in authors] + [8]), 24, width // 5)
    named = iter(authors)
    lines: list[str] = []
    for item in items:
        if isinstance(item, ThreadHit):
            lines += _thread_lines(item, width, palette)
        else:
            lines += _hit_lines(item, next(named), width, author_width, palette)
    return "".join(line.rstrip() + "\n" for line in lines)


_INDENT = " " * 12


def _short_group(key: str) -> str:
    return inert(key.removesuffix("@googlegroups.com"))


def _author(hit: SearchHit) -> str:
    return author_label(hit.author, hit.masked_address, inert)


def _subject(subject: str) -> str:
    clean = inert(subject)
    return strip_list_tags(clean) or clean or "(no subject)"


def _inert_snippet(snippet: str) -> str:
    """The snippet made inert between its markers, the markers kept."""
    parts = re.split(f"([{MARK_START}{MARK_END}])", snippet)
    return "".join(p if p in (MARK_START, MARK_END) else inert(p, strip=False) for p in parts)


def _hit_lines(
    hit: SearchHit, author: str, width: int, author_width: int, palette: Palette
) -> list[str]:
    date_text = _paint(hit.posted_at.strftime("%Y-%m-%d"), palette.date)
    author_cell = _pad(fit(author, author_width), author_width)
    author_cell = _paint(author_cell, palette.author)
    room = width - len(_INDENT) - author_width - 2
    groups = ""
    if hit.groups:
        groups = fit(", ".join(_short_group(g) for g in hit.groups), max(room * 2 // 5, 10))
        groups = f"  [{groups}]"
    subject = fit(_subject(hit.subject), room - display_width(groups))
    lines = [f"{date_text}  {author_cell}  {subject}{_paint(groups, palette.dim)}"]
    snippet = _inert_snippet(hit.snippet)
    if snippet:
        room = width - len(_INDENT)
        lines.append(_INDENT + fit(_focus(snippet, room), room, bold=palette.match))
    lines.append(_INDENT + inert(hit.url))
    return lines


def _focus(snippet: str, room: int) -> str:
    """Drop leading words so the first highlighted match shows on a narrow line."""
    at = snippet.find(MARK_START)
    if at < 0 or display_width(snippet[:at]) < room // 2:
        return snippet
    words = snippet[:at].split(" ")
    while words and display_width(" ".join(words)) > room // 3:
        words.pop(0)
    return ELLIPSIS + " ".join(words) + snippet[at:]


def _thread_lines(thread: ThreadHit, width: int, palette: Palette) -> list[str]:
    count = f"{thread.hits} hit" + ("" if thread.hits == 1 else "s")
    when = f"{thread.latest_hit_at:%Y-%m-%d}"
    head = f"{count:>8}  {when}  "
    group = f"  [{_short_group(thread.group_key)}]"
    subject_room = width - len(head) - display_width(group)
    if subject_room < 12:
        group, subject_room = "", width - len(head)
    painted = f"{count:>8}  {_paint(when, palette.date)}  "
    first = painted + fit(_subject(thread.subject), subject_room) + _paint(group, palette.dim)
    return [first, " " * len(head) + inert(thread.url)]


# ---------------------------------------------------------------- the search command


def terminal_columns(fallback: int = 100) -> int:
    """``shutil.get_terminal_size().columns`` without importing shutil (2 ms of start-up):
    ``$COLUMNS``, else the width of the terminal on stdout, else ``fallback``."""
    import sys

    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0 and sys.__stdout__ is not None:  # None without a console
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else fallback


def print_results(
    query: str,
    *,
    db_path: Any,
    groups: Iterable[str] = (),
    authors: Iterable[str] = (),
    since: str | None = None,
    until: str | None = None,
    sort: str = "rank",
    reverse: bool = False,
    limit: int | None = 20,
    offset: int = 0,
    threads: bool = False,
    output: str | None = None,
    exact: bool = False,
    stdout: Any = None,
    stderr: Any = None,
) -> None:
    """What ``listarchive search`` does: search, then write one output format to stdout.

    ``output`` is None (a table fitted to the terminal, in colour when stdout is one,
    else matches marked with ``**``), ``"json"``, ``"nl"`` or ``"csv"``.
    """
    import sys

    from archive.search import iter_search, iter_search_threads, search

    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    filters: dict[str, Any] = {
        "groups": groups, "authors": authors, "since": since, "until": until,
        "sort": sort, "reverse": reverse, "limit": limit, "offset": offset,
    }  # fmt: skip
    # Written as they are read: --limit 0 over a whole archive takes one batch's memory.
    # Only the table of messages is drawn whole: its author column fits the widest name.
    items: Iterable[SearchHit | ThreadHit]
    if threads:
        items = iter_search_threads(db_path, query, **filters)
    elif output is not None:
        items = iter_search(db_path, query, exact=exact, **filters)
    else:
        marks = (MARK_START, MARK_END)
        hits = search(db_path, query, highlight=marks, exact=exact, **filters)
        text = render_table(hits, width=terminal_columns(), palette=Palette.for_stream(stdout))
        if not hits:
            stderr.write("No messages match.\n")
        _write(stdout, [text])
        return
    if output == "json":
        _write(stdout, json_array_chunks(items))
    elif output == "csv":
        _write(stdout, hit_csv_chunks(items, threads=threads))
    elif output == "nl":
        _write(stdout, (json_line(item.to_dict()) + "\n" for item in items))
    else:
        shown = _Counted(items)
        width, palette = terminal_columns(), Palette.for_stream(stdout)
        _write(stdout, (render_table([item], width=width, palette=palette) for item in shown))
        if not shown.count:
            stderr.write("No threads match.\n")


class _Counted:
    """An iterable that counts what was taken from it."""

    def __init__(self, items: Iterable[Any]) -> None:
        self.items = items
        self.count = 0

    def __iter__(self) -> Iterator[Any]:
        for item in self.items:
            self.count += 1
            yield item


def _write(stdout: Any, chunks: Iterable[str]) -> None:
    try:
        for chunk in chunks:
            stdout.write(chunk)
        stdout.flush()
    except BrokenPipeError:
        # The reader (head, less) has gone: stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stdout.fileno())


# ---------------------------------------------------------------- show


def show_text(
    thread: dict[str, Any],
    *,
    marked: str | None = None,
    quotes: bool = True,
    width: int | None = None,
) -> str:
    """What ``listarchive show`` prints: the thread as text, its quoted lines left out
    unless ``quotes``, long lines wrapped at ``width`` columns when given."""
    from archive.export import render_thread_text

    text = render_thread_text(_quotes_kept(thread, quotes), marked=marked)
    return wrap(text, width) if width else text


def show_json(thread: dict[str, Any], *, quotes: bool = True) -> str:
    """``show --json``: the thread as ``export --format json`` writes one."""
    from archive.export import thread_to_json

    document = thread_to_json(_quotes_kept(thread, quotes), keep_quotes=quotes)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _quotes_kept(thread: dict[str, Any], quotes: bool) -> dict[str, Any]:
    if quotes:
        return thread
    from archive.text import without_quotes

    messages = [
        {**message, "body_text": without_quotes(message.get("body_text") or "")}
        for message in thread.get("messages") or []
    ]
    return {**thread, "messages": messages}


_QUOTE_PREFIX = re.compile(r"(?:[ \t]*>)*[ \t]*")


def wrap(text: str, width: int) -> str:
    """Lines longer than ``width`` columns wrapped between words, a quoted line's ``>``
    prefix repeated on each of its pieces; words longer than a line (URLs) kept whole."""
    import textwrap

    width = max(width, 20)
    out: list[str] = []
    for line in text.split("\n"):
        if display_width(line) <= width:
            out.append(line)
            continue
        prefix = _QUOTE_PREFIX.match(line).group()  # type: ignore[union-attr]
        pieces = textwrap.wrap(
            line[len(prefix) :],
            width=max(width - display_width(prefix), 10),
            initial_indent=prefix,
            subsequent_indent=prefix,
            break_long_words=False,
            break_on_hyphens=False,
        )
        out += pieces or [line]
    return "\n".join(out)


# ---------------------------------------------------------------- the inspect command


def format_inspection(result: dict[str, Any]) -> str:
    """The human-readable report of :func:`scraper.inspect.inspect_url`."""
    group = result["group"]
    title = inert(group.get("title") or "")
    group_line = inert(group["email"]) + (f"  ({title})" if title else "")
    lines: list[str] = []
    if result["kind"] == "group":
        total = group.get("total_topics")
        of_total = f" of {total}" if total is not None else ""
        lines += [
            f"Group      {group_line}",
            f"URL        {inert(result['url'])}",
            f"Parsed by  {_parser_layer(result['source'])}",
            f"Topics     {result['topic_count']} on the first page{of_total}; "
            f"more pages: {'yes' if result['has_more'] else 'no'}",
            "",
        ]
        for topic in result["topics"]:
            when = _short_moment(topic["last_activity_at"])
            count = topic["message_count"]
            count_text = f"{count:>3} msg{'s' if count != 1 else ' '}" if count else "   ? msgs"
            lines.append(
                f"  {when}  {count_text}  {inert(topic['id'])}  {inert(topic['subject'] or '')}"
            )
    else:
        expected = result["expected_count"]
        count = result["message_count"]
        messages_line = f"{count}"
        if expected is not None and expected != count:
            messages_line += f" of {expected}"
        if not result["complete"]:
            messages_line += " (incomplete: not every message could be read)"
        lines += [
            f"Thread     {inert(result['subject'] or '')}",
            f"URL        {inert(result['url'])}",
            f"Group      {group_line}",
            f"Parsed by  {_parser_layer(result['source'])}",
            f"Messages   {messages_line}",
            "",
        ]
        for n, message in enumerate(result["messages"], 1):
            marker = "*" if message["id"] == result.get("message_id") else " "
            masked = inert(message["masked_address"] or "")
            address = f" <{masked}>" if masked else ""
            attachments = len(message["attachments"])
            extra = f", {attachments} attachment{'s' if attachments != 1 else ''}" \
                if attachments else ""
            lines.append(
                f"{marker}{n:>4}. {_short_moment(message['posted_at'])}  {inert(message['id'])}  "
                f"{inert(message['author'] or '')}{address}  "
                f"({len(message['body_html'])} chars{extra})"
            )
    lines.append("")
    lines.append(f"Times are UTC. {result['requests']} request(s); nothing was stored.")
    return "\n".join(lines)


def _parser_layer(source: str) -> str:
    names = {"json": "embedded JSON (AF_initDataCallback)", "dom": "DOM fallback (HTML)"}
    return names.get(source, source)


def _short_moment(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "????-??-?? ??:??"


def inspection_json(result: dict[str, Any]) -> str:
    """``inspect --json``: :func:`scraper.inspect.inspect_url`'s result, its times in the
    archive's one format (``2024-01-02T03:04:05Z``), as every other JSON output writes
    them."""
    from datetime import datetime

    from archive.times import utc_iso

    def moment(value: Any) -> str:
        if isinstance(value, datetime):
            return utc_iso(value)
        raise TypeError(f"{type(value).__name__} is not JSON")

    return json.dumps(result, indent=2, ensure_ascii=False, default=moment)
