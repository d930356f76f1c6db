"""The search query language, parsed into a small tree. Pure: text in, dataclasses out.

The language, all parts combinable::

    kubernetes release        every word must match (anywhere: subject, author, body)
    "code freeze"             an exact phrase
    freeze OR thaw            either (OR binds tighter than the implicit AND)
    -draft   NOT draft        must not match
    kube*                     a prefix
    (a OR b) -c               parentheses group
    from:jeremy               a word of the author's name or masked address
                              (``from:yuan...@gmail.com``, ``from:gmail.com``, ``from:jer*``)
    subject:"v1.30"           a word or phrase in the subject
    group:dev                 posted to a group (its address, or the name before the @)
    id:<a1b2@example.org>     the message with this Message-ID (also msgid:; brackets optional)
    to:linux-i2c@vger.kernel  a part of the To or Cc of a message imported from mail
    after:2024-03-01          on or after that day (UTC)
    before:2024-04-01         before that day
    on:2024-03-12             during that day
    after:7d  before:2w       relative: days, weeks, months, years before now
    after:last-sync           messages the last sync run added to the archive

Identifiers such as ``CVE-2024-3177``, ``v1.30.2`` or ``kubernetes/kubernetes#12345`` are
split into words by the full-text index; a :class:`Term` carries them as *needles* so the
search can check that the text contains them exactly, not just their parts.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from scraper.errors import BadOption, BadQuery

__all__ = [
    "And",
    "DateRange",
    "Field",
    "Needle",
    "Node",
    "Not",
    "Or",
    "Query",
    "Term",
    "author_term",
    "known_fields",
    "parse_date_bound",
    "parse_query",
]

QUOTES = '"\u201c\u201d'  # straight and typographic, as pasted from mail or a word processor
FIELD_ALIASES = {
    "from": "from",
    "author": "from",
    "subject": "subject",
    "group": "group",
    "id": "msgid",
    "msgid": "msgid",
    "to": "to",
    "after": "after",
    "before": "before",
    "on": "on",
}
_FIELD_RE = re.compile(r"(?i)(" + "|".join(FIELD_ALIASES) + r"):")
# A word that looks like a field (``to:alice``, ``tag:x``) but is none of ours; a URL
# (``https://...``) or ``std::vector`` is still a word.
_UNKNOWN_FIELD_RE = re.compile(r"([A-Za-z][A-Za-z_]*):(?![/:])(?=\S)")
LAST_SYNC = "last-sync"
# Parentheses and NOTs nest this deep at most: deeper is no real query, the parser and
# the compiler recurse once per level, and SQLite's parsers of FTS5 and of SQL keep a
# stack of about a hundred entries, a few per level of what the compiler writes (a
# negated identifier inside a negation, the deepest shape, overflows it at 24 levels).
MAX_NESTING = 16
# A query is at most this long: SQLite takes at most 32,766 parameters in a statement,
# and the compiler writes at most about one for every two characters.
MAX_QUERY_CHARS = 10_000
_RELATIVE_RE = re.compile(r"(\d{1,5})([dwmy])", re.IGNORECASE)
_DATE_RE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_SENTENCE_PUNCTUATION = ".,;:!?"


# ---------------------------------------------------------------- the tree


class Needle(NamedTuple):
    """Text that must occur exactly (case-insensitively) with word boundaries around it.

    ``open_end`` is set for a prefix search (``v1.30*``): no boundary is required after it.
    (Needles, date ranges and queries are named tuples, the other nodes frozen
    dataclasses: as immutable, and a tenth of the cost to define at start-up; the others
    stay apart so that no two kinds of node with the same fields compare equal.)
    """

    text: str
    open_end: bool = False


@dataclass(frozen=True)
class Term:
    """A word, prefix or phrase; ``column`` limits it to ``"subject"`` or ``"author"``.

    ``substring`` is set for text in scripts written without spaces (Chinese, Japanese,
    Thai...): the index keeps a whole run of such characters as one token, so a word
    inside it can only be found as a substring.
    """

    text: str
    phrase: bool = False
    prefix: bool = False
    column: str | None = None
    needles: tuple[Needle, ...] = ()
    substring: bool = False


@dataclass(frozen=True)
class Field:
    """``group:`` (matched against where a message was posted), ``added:last-sync``
    (what ``after:last-sync`` means: first stored by the last sync run), ``msgid:`` (a
    Message-ID without its angle brackets) or ``to:`` (text of To or Cc)."""

    name: str
    value: str


class DateRange(NamedTuple):
    """``start <= posted_at < end``; either bound may be open (None). Both are UTC."""

    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class Not:
    node: Node


@dataclass(frozen=True)
class And:
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    nodes: tuple[Node, ...]


Node = Term | Field | DateRange | Not | And | Or


class Query(NamedTuple):
    """A parsed query. ``root`` is None for an empty query (which matches everything).
    (A named tuple, for start-up, as :class:`Needle` is.)"""

    text: str
    root: Node | None

    def __bool__(self) -> bool:
        return self.root is not None

    def combined(self, *nodes: Node | None) -> Query:
        """This query AND the given extra conditions (the command-line filters)."""
        parts = [n for n in (self.root, *nodes) if n is not None]
        if not parts:
            return self
        return Query(self.text, parts[0] if len(parts) == 1 else And(tuple(parts)))


def known_fields() -> list[str]:
    """Every ``field:`` the language has, aliases included, for error messages and help."""
    return sorted(FIELD_ALIASES)


# ---------------------------------------------------------------- words and identifiers


def is_token_char(char: str) -> bool:
    """What SQLite's unicode61 tokenizer keeps in a token: letters, digits, private use."""
    category = unicodedata.category(char)
    return category[0] in "LN" or category == "Co"


# Thai, Lao, Myanmar, Khmer, kana, CJK, Hangul. As a regex character class these ranges
# took 2 ms to compile, a tenth of search's start-up; a query's words are checked by hand.
_UNSEGMENTED = (
    (0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x3040, 0x30FF), (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF), (0xAC00, 0xD7AF), (0xF900, 0xFAFF), (0x20000, 0x3FFFF),
)


def is_unsegmented(text: str) -> bool:
    """Whether ``text`` has characters of a script written without spaces between words."""
    return any(
        low <= point <= high
        for point in map(ord, text) if point >= 0x0E00
        for low, high in _UNSEGMENTED
    )


def has_token(text: str) -> bool:
    return any(is_token_char(c) for c in text)


def _needle(word: str, open_end: bool) -> Needle | None:
    """The exact text a word must appear as, if the index would split it into parts."""
    word = word.rstrip(_SENTENCE_PUNCTUATION) if not open_end else word
    if not has_token(word) or all(is_token_char(c) for c in word):
        return None
    return Needle(word, open_end)


def _needles(text: str, *, phrase: bool, prefix: bool) -> tuple[Needle, ...]:
    words = text.split() if phrase else [text]
    found = []
    for i, word in enumerate(words):
        needle = _needle(word, open_end=prefix and i == len(words) - 1)
        if needle:
            found.append(needle)
    return tuple(found)


def make_term(
    text: str, *, phrase: bool = False, prefix: bool = False, column: str | None = None
) -> Term:
    if not has_token(text):
        shown = f'"{text}"' if phrase else text + ("*" if prefix else "")
        raise BadQuery(f"{shown!r} has no letters or digits to search for")
    if is_unsegmented(text):
        return Term(text, phrase=phrase, prefix=prefix, column=column, substring=True)
    needles = _needles(text, phrase=phrase, prefix=prefix)
    return Term(text, phrase=phrase, prefix=prefix, column=column, needles=needles)


def author_term(value: str, *, prefix: bool = False) -> Term:
    """``from:VALUE``: the words of VALUE in the author's name or masked address.

    It searches the author's name and masked address, so ``from:jeremy``,
    ``from:jer...@example.org`` and ``from:example.org`` all work;
    ``from:jer*`` is a prefix.
    """
    return make_term(value, phrase=True, prefix=prefix, column="author")


# ---------------------------------------------------------------- dates


def _months_back(day: datetime, months: int) -> datetime:
    month_index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(month_index, 12)
    if year < 1:
        raise ValueError("too far back")
    last_day = calendar.monthrange(year, month + 1)[1]
    return day.replace(year=year, month=month + 1, day=min(day.day, last_day))


def _relative(amount: int, unit: str, now: datetime) -> datetime:
    unit = unit.lower()
    if unit == "d":
        return now - timedelta(days=amount)
    if unit == "w":
        return now - timedelta(weeks=amount)
    return _months_back(now, amount * (12 if unit == "y" else 1))


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _next_day(moment: datetime) -> datetime:
    """A day later; the last day of year 9999 ends at the end of representable time."""
    try:
        return moment + timedelta(days=1)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def _parse_when(value: str, now: datetime) -> tuple[datetime, bool]:
    """``(instant, is_whole_day)``: a calendar day gives its UTC midnight."""
    if m := _DATE_RE.fullmatch(value):
        try:
            return _day_start(date(int(m[1]), int(m[2]), int(m[3]))), True
        except ValueError:
            raise BadQuery(f"{value} is not a date on the calendar") from None
    if m := _RELATIVE_RE.fullmatch(value):
        return _relative(int(m[1]), m[2], now), False
    raise ValueError("not a date")


def parse_date_bound(value: str | date | datetime, *, end: bool = False, now=None) -> datetime:
    """A ``--since`` (``end=False``) or ``--until`` (``end=True``) value as a UTC instant.

    ``--until 2024-03-31`` includes that whole day, so it returns 2024-04-01 00:00;
    a relative span or a datetime is taken as the exact instant.
    """
    now = _aware(now or datetime.now(UTC))
    if isinstance(value, datetime):
        return _aware(value)
    if isinstance(value, date):
        start = _day_start(value)
        return _next_day(start) if end else start
    option = "--until" if end else "--since"
    try:
        instant, whole_day = _parse_when(value.strip(), now)
    except BadQuery as err:
        raise BadOption(f"{option}: {err}") from None
    except (ValueError, OverflowError):
        raise BadOption(
            f"{option} expects a date like 2024-03-01 or a span like 7d, 2w, 3m, 1y; got {value!r}"
        ) from None
    return _next_day(instant) if end and whole_day else instant


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _date_node(name: str, value: str, now: datetime) -> DateRange | Field:
    if value.lower() == LAST_SYNC:
        if name != "after":
            raise BadQuery(f"{LAST_SYNC} goes with after: only, as in after:{LAST_SYNC}")
        return Field("added", LAST_SYNC)
    try:
        instant, whole_day = _parse_when(value, now)
    except BadQuery:
        raise
    except (ValueError, OverflowError):
        raise BadQuery(
            f"{name}: expects a date like 2024-03-01 or a span like 7d, 2w, 3m, 1y; got {value!r}"
        ) from None
    if name == "after":
        return DateRange(start=instant)
    if name == "before":
        return DateRange(end=instant)
    day = _day_start(instant.date())
    return DateRange(start=day, end=_next_day(day))


# ---------------------------------------------------------------- lexer


class _Token(NamedTuple):
    """One token of a query (a named tuple: as immutable as the tree's frozen dataclasses
    and a tenth of the cost of one to define, for search's start-up)."""

    kind: str  # WORD PHRASE FIELD LPAREN RPAREN OR AND NOT NEG
    text: str = ""
    pos: int = 0
    prefix: bool = False
    field: str = ""
    quoted: bool = False


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """The text between the quote at ``start`` and its closing quote; the index after it."""
    end = start + 1
    while end < len(text) and text[end] not in QUOTES:
        end += 1
    if end >= len(text):
        raise BadQuery(f"unbalanced quote: the quote at position {start + 1} is never closed")
    return text[start + 1 : end], end + 1


def _read_word(text: str, start: int) -> int:
    """The end of a bare word. Parentheses inside a word (``os.Exit()``) belong to it."""
    depth = 0
    i = start
    while i < len(text):
        char = text[i]
        if char.isspace() or char in QUOTES:
            break
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                break
            depth -= 1
        i += 1
    return i


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char == "(":
            tokens.append(_Token("LPAREN", "(", i))
            i += 1
        elif char == ")":
            tokens.append(_Token("RPAREN", ")", i))
            i += 1
        elif char == "-" and (i + 1 < len(text) and not text[i + 1].isspace()):
            tokens.append(_Token("NEG", "-", i))
            i += 1
        elif char == "-":
            raise BadQuery(f"'-' at position {i + 1} must be followed by a word to exclude")
        elif char in QUOTES:
            phrase, i = _read_quoted(text, i)
            prefix = text.startswith("*", i)
            i += prefix
            tokens.append(_Token("PHRASE", phrase, i, prefix=prefix))
        elif m := _FIELD_RE.match(text, i):
            name = FIELD_ALIASES[m[1].lower()]
            i = m.end()
            if i < len(text) and text[i] in QUOTES:
                value, i = _read_quoted(text, i)
                quoted = True
            else:
                end = _read_word(text, i)
                value, i = text[i:end], end
                quoted = False
            prefix = value.endswith("*") and not quoted
            if i < len(text) and text[i] == "*" and quoted:
                prefix, i = True, i + 1
            value = value.rstrip("*").strip() if prefix else value.strip()
            if not value:
                example = {"after": "2024-03-01", "before": "30d", "on": "2024-03-12"}
                raise BadQuery(
                    f"{m[1]}: needs a value right after the colon, "
                    f"e.g. {m[1]}:{example.get(name, 'alice')}"
                )
            tokens.append(_Token("FIELD", value, i, prefix=prefix, field=name, quoted=quoted))
        else:
            end = _read_word(text, i)
            word = text[i:end]
            if m := _UNKNOWN_FIELD_RE.match(word):
                raise BadQuery(
                    f"unknown field {m[1]}: (fields: {', '.join(f + ':' for f in known_fields())})"
                    f"; to search for the text itself, quote it: \"{word}\""
                )
            if word in ("OR", "AND", "NOT"):
                tokens.append(_Token(word, word, i))
            elif word.strip("*") == "":
                raise BadQuery(f"'*' at position {i + 1} must follow a word, as in kube*")
            else:
                prefix = word.endswith("*")
                tokens.append(_Token("WORD", word.rstrip("*"), i, prefix=prefix))
            i = end
    return tokens


# ---------------------------------------------------------------- parser


class _Parser:
    """Recursive descent: ``and := or+``, ``or := unary (OR unary)*``, ``unary := -unary``."""

    def __init__(self, tokens: list[_Token], now: datetime):
        self.tokens = tokens
        self.i = 0
        self.now = now
        self.depth = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def parse(self) -> Node | None:
        if not self.tokens:
            return None
        node = self.parse_and()
        token = self.peek()
        if token is not None:  # only a stray ')' stops parse_and early
            raise BadQuery(f"unbalanced parentheses: ')' at position {token.pos + 1} has no '('")
        return node

    def parse_and(self) -> Node:
        nodes: list[Node] = []
        while (token := self.peek()) is not None and token.kind != "RPAREN":
            if token.kind == "AND":
                self.take()
                if not nodes:
                    raise BadQuery("AND needs a term before it")
                following = self.peek()
                if following is None or following.kind in ("RPAREN", "OR", "AND"):
                    raise BadQuery("AND needs a term after it")
                continue
            nodes.append(self.parse_or())
        if not nodes:
            if self.depth == 0 and token is not None:  # a ')' before any '('
                raise BadQuery(
                    f"unbalanced parentheses: ')' at position {token.pos + 1} has no '('"
                )
            raise BadQuery("empty parentheses: put something to search for inside ( )")
        return nodes[0] if len(nodes) == 1 else And(tuple(nodes))

    def parse_or(self) -> Node:
        nodes = [self.parse_unary()]
        while (token := self.peek()) is not None and token.kind == "OR":
            self.take()
            following = self.peek()
            if following is None or following.kind in ("RPAREN", "OR", "AND"):
                raise BadQuery("OR needs a term on both sides, as in freeze OR thaw")
            nodes.append(self.parse_unary())
        return nodes[0] if len(nodes) == 1 else Or(tuple(nodes))

    def parse_unary(self) -> Node:
        token = self.peek()
        if token is not None and token.kind in ("NEG", "NOT", "LPAREN"):
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise BadQuery(
                    f"the query nests parentheses or NOT more than {MAX_NESTING} deep "
                    f"(at position {token.pos + 1})"
                )
            try:
                return self._parse_unary()
            finally:
                self.depth -= 1
        return self._parse_unary()

    def _parse_unary(self) -> Node:
        token = self.take()
        if token.kind in ("NEG", "NOT"):
            following = self.peek()
            if following is None or following.kind in ("RPAREN", "OR", "AND"):
                raise BadQuery(f"{token.text} needs a term after it, as in -draft or NOT draft")
            return Not(self.parse_unary())
        if token.kind == "OR":
            raise BadQuery("OR needs a term on both sides, as in freeze OR thaw")
        if token.kind == "LPAREN":
            node = self.parse_and()
            if self.peek() is None:
                raise BadQuery(
                    f"unbalanced parentheses: '(' at position {token.pos + 1} is never closed"
                )
            self.take()
            return node
        if token.kind == "WORD":
            return make_term(token.text, prefix=token.prefix)
        if token.kind == "PHRASE":
            if not token.text.strip():
                raise BadQuery('empty quotes: put a word or phrase between the " "')
            return make_term(token.text, phrase=True, prefix=token.prefix)
        if token.kind == "FIELD":
            return self.field(token)
        raise BadQuery(f"unexpected {token.text!r} at position {token.pos + 1}")  # pragma: no cover

    def field(self, token: _Token) -> Node:
        name, value = token.field, token.text
        if name in ("after", "before", "on"):
            return _date_node(name, value, self.now)
        if name == "subject":
            phrase = token.quoted or len(value.split()) > 1
            return make_term(value, phrase=phrase, prefix=token.prefix, column="subject")
        if name == "from":
            return author_term(value, prefix=token.prefix)
        if name == "msgid":
            value = value.strip().removeprefix("<").removesuffix(">")
        return Field(name, value)


def parse_query(text: str, *, now: datetime | None = None) -> Query:
    """Parse ``text`` into a :class:`Query`; raise :class:`BadQuery` saying what is wrong.

    ``now`` anchors relative dates (``after:7d``); it defaults to the current time.
    """
    now = _aware(now or datetime.now(UTC))
    text = text or ""
    if len(text) > MAX_QUERY_CHARS:
        raise BadQuery(
            f"the query is {len(text):,} characters long; search for at most "
            f"{MAX_QUERY_CHARS:,} at a time"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:  # a byte that is not UTF-8, passed on by the shell
        raise BadQuery(
            f"the query is not valid text: it has a byte that is not UTF-8 at position "
            f"{err.start + 1}"
        ) from None
    return Query(text, _Parser(_tokenize(text), now).parse())
