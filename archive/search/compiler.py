"""A parsed query (:mod:`archive.query`) compiled to FTS5 and SQL: :func:`compile_query`.

The tree becomes a *driving* FTS5 expression (everything the full-text index can
decide: words, phrases, prefixes, ``subject:``, ``from:``, and ``-word`` beside them)
and *residual* SQL conditions on the ``messages m`` row for the rest (dates, groups,
the exact check of identifiers, negations that FTS5 cannot express on their own).

What comes out is always valid FTS5 and SQL, whatever the user typed: every word goes
into the index as a quoted string (so punctuation, ``NEAR``, ``^``, ``*`` and column
names are text), NUL (which would end the string early) becomes a space, chains of
negations are written flat, and long lists of conditions are grouped so SQLite's
expression tree stays shallow. The parser bounds the rest (nesting, length). So an
SQLite error about a query's syntax is a bug here, not the user's.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from archive.query import (
    And,
    DateRange,
    Field,
    Needle,
    Node,
    Not,
    Or,
    Query,
    Term,
    author_term,
    is_token_char,
    parse_date_bound,
    parse_query,
)
from archive.search import tuning
from archive.times import utc_iso
from scraper.errors import BadOption, BadQuery, UnknownGroup

__all__ = [
    "Compiled",
    "Params",
    "build_query",
    "cached_regex",
    "compile_query",
    "contains",
    "hit_source",
    "index_tokens",
    "needle_pattern",
    "resolve_group",
    "substring_pattern",
    "where",
]

# The FTS columns a query's column filter searches.
_FILTER_COLUMNS = {"subject": "subject", "author": "author masked_address"}
_NEEDLE_COLUMNS = {
    None: "m.subject, m.author, m.masked_address, m.body_text",
    "subject": "m.subject",
    "author": "m.author, m.masked_address",
}
# SQLite parses ``a AND b AND c ...`` into a tree as deep as the list is long, and
# refuses trees deeper than 1,000; longer lists are grouped this many at a time.
SQL_CHUNK = 32


# ---------------------------------------------------------------- identifiers


@functools.lru_cache(maxsize=tuning.REGEX_CACHE)
def cached_regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled, case ignored, once for every row that checks it."""
    return re.compile(pattern, re.IGNORECASE)


def contains(pattern: str, *texts: str | None) -> int:
    """The SQL function ``listarchive_contains(pattern, text...)``: whether the regex
    ``pattern`` (case ignored) is found in any of the texts."""
    regex = cached_regex(pattern)
    return int(any(text and regex.search(text) for text in texts))


def substring_pattern(text: str) -> str:
    """A regex for text found inside words (scripts written without spaces)."""
    return r"\s+".join(re.escape(word) for word in text.split())


def needle_pattern(needle: Needle) -> str:
    """A regex for ``needle`` as a whole identifier.

    Not inside a longer word, on either side: no letter or digit next to it, and no
    ``.``, ``-``, ``_`` or ``+`` joining it to one. ``v1.30.2`` must not match
    ``v1.30.20``, ``v1.30.2.1`` or ``xfoo_v1.30.2``, nor ``i2c_driver``
    ``module_i2c_driver``, while ``v1.30.2.`` at the end of a sentence or
    ``(v1.30.2)`` still match.
    """
    text = needle.text
    pattern = re.escape(text)
    if is_token_char(text[0]):
        # The checks of what comes before are made after the first character, not
        # before it: a pattern that starts with a character is searched for quickly,
        # one that starts with a lookbehind is tried at every position (4x slower
        # through a long log).
        before = r"(?<![^\W_].)(?<![^\W_][.\-_+].)"
        pattern = re.escape(text[0]) + before + re.escape(text[1:])
    if is_token_char(text[-1]) and not needle.open_end:
        pattern += r"(?![^\W_]|[.\-_+][^\W_])"
    return pattern


def index_tokens(text: str) -> list[str]:
    """The tokens the index's unicode61 tokenizer (remove_diacritics 2) makes of text."""
    folded = "".join(
        c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c)
    )
    return "".join(c if is_token_char(c) else " " for c in folded).split()


# ---------------------------------------------------------------- FTS5 text


def fts_string(text: str) -> str:
    """``text`` as an FTS5 string: tokenized by the index's own tokenizer and matched
    as a phrase, so punctuation, FTS5 keywords and column names are all taken
    literally. FTS5 ends a string at NUL, which the tokenizer separates words at
    anyway: it becomes a space."""
    return '"' + text.replace('"', '""').replace("\0", " ") + '"'


def _term_fts(term: Term) -> str:
    expression = fts_string(term.text) + ("*" if term.prefix else "")
    if term.column:
        expression = "{" + _FILTER_COLUMNS[term.column] + "} : " + expression
    return expression


def _any_of(parts: list[str | None]) -> str | None:
    """FTS5's OR of ``parts``; None when one of them has no FTS5 expression."""
    known = [part for part in parts if part is not None]
    return "(" + " OR ".join(known) + ")" if len(known) == len(parts) else None


def _without(expression: str, negatives: Sequence[str]) -> str:
    """``expression`` NOT each of ``negatives``, written flat: FTS5 reads ``a NOT b NOT
    c`` as ``(a NOT b) NOT c``, without a level of parentheses (and of its parser's
    stack) per negation."""
    return "".join([expression, *(f" NOT {negative}" for negative in negatives)])


# ---------------------------------------------------------------- SQL text


def _grouped(parts: Sequence[str], op: str) -> list[str]:
    """``parts``, grouped in parentheses :data:`SQL_CHUNK` at a time while too many."""
    parts = list(parts)
    while len(parts) > SQL_CHUNK:
        parts = [
            "(" + op.join(parts[i : i + SQL_CHUNK]) + ")" for i in range(0, len(parts), SQL_CHUNK)
        ]
    return parts


def where(conditions: Sequence[str]) -> str:
    """The conditions ANDed, for a WHERE clause ("1" when there are none)."""
    return " AND ".join(_grouped(conditions, " AND ")) if conditions else "1"


class Params:
    """Named parameters of one statement: a compiled query's, and more added to them."""

    def __init__(self, base: Mapping[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = dict(base or {})

    def add(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return ":" + name


class _Compiler:
    """Builds SQL text with named parameters for one query."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.params = Params()
        self._group_keys: dict[str, list[str]] = {}

    def param(self, value: Any) -> str:
        return self.params.add(value)

    # FTS5 --------------------------------------------------------------------------

    def pure(self, node: Node) -> str | None:
        """An FTS5 expression exactly equivalent to ``node``, if there is one."""
        if isinstance(node, Term):
            return None if node.needles or node.substring else _term_fts(node)
        if isinstance(node, Or):
            return _any_of([self.pure(child) for child in node.nodes])
        if isinstance(node, And):
            positives, negatives = [], []
            for child in node.nodes:
                if isinstance(child, Not):
                    inner = self.pure(child.node)
                    if inner is None:
                        return None
                    negatives.append(inner)
                else:
                    part = self.pure(child)
                    if part is None:
                        return None
                    positives.append(part)
            if not positives:
                return None  # FTS5's NOT needs something on its left
            expression = "(" + " AND ".join(positives) + ")"
            return f"({_without(expression, negatives)})" if negatives else expression
        return None

    def need(self, node: Node) -> str | None:
        """An FTS5 expression every match of ``node`` satisfies (maybe more), if any."""
        if isinstance(node, Term):
            return None if node.substring else _term_fts(node)
        if isinstance(node, Or):
            return _any_of([self.need(child) for child in node.nodes])
        if isinstance(node, And):
            parts = [p for p in (self.need(child) for child in node.nodes) if p]
            return "(" + " AND ".join(parts) + ")" if parts else None
        return None

    # SQL ---------------------------------------------------------------------------

    def membership(self, expression: str) -> str:
        return (
            "m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH "
            f"{self.param(expression)})"
        )

    def needles(self, term: Term) -> str:
        columns = _NEEDLE_COLUMNS[term.column]
        return " AND ".join(
            _grouped(
                [
                    f"listarchive_contains({self.param(needle_pattern(n))}, {columns})"
                    for n in term.needles
                ],
                " AND ",
            )
        )

    def sql(self, node: Node) -> str:
        """An SQL condition on the ``messages m`` row, exactly equivalent to ``node``."""
        pure = self.pure(node)
        if pure is not None:
            return self.membership(pure)
        if isinstance(node, Term) and node.substring:
            pattern = self.param(substring_pattern(node.text))
            return f"listarchive_contains({pattern}, {_NEEDLE_COLUMNS[node.column]})"
        if isinstance(node, Term):
            return f"({self.membership(_term_fts(node))} AND {self.needles(node)})"
        if isinstance(node, And):
            parts = [self.sql(child) for child in node.nodes]
            return "(" + " AND ".join(_grouped(parts, " AND ")) + ")"
        if isinstance(node, Or):
            parts = [self.sql(child) for child in node.nodes]
            return "(" + " OR ".join(_grouped(parts, " OR ")) + ")"
        if isinstance(node, Not):
            return f"NOT coalesce({self.sql(node.node)}, 0)"
        if isinstance(node, DateRange):
            return self.dates(node)
        if isinstance(node, Field) and node.name == "added":
            return f"m.first_seen_at >= {self.param(self.last_sync_start())}"
        if isinstance(node, Field) and node.name == "group":
            keys = self.group_keys(node.value)
            placeholders = ", ".join(self.param(key) for key in keys)
            return (
                "EXISTS (SELECT 1 FROM postings gp WHERE gp.message_id = m.id"
                f" AND gp.group_key IN ({placeholders}))"
            )
        if isinstance(node, Field) and node.name == "msgid":
            return f"m.rfc822_id = {self.param(node.value)}"
        if isinstance(node, Field) and node.name == "to":
            return f"instr(lower(m.recipients), {self.param(node.value.lower())}) > 0"
        raise AssertionError(f"cannot compile {node!r}")  # pragma: no cover

    def dates(self, node: DateRange) -> str:
        parts = []
        if node.start is not None:
            parts.append(f"m.posted_at >= {self.param(utc_iso(node.start))}")
        if node.end is not None:
            parts.append(f"m.posted_at < {self.param(utc_iso(node.end))}")
        return "(" + " AND ".join(parts) + ")" if parts else "1"

    def last_sync_start(self) -> str:
        """When the last finished sync run started: ``after:last-sync`` is what it added."""
        row = self.conn.execute(
            "SELECT started_at FROM runs WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            raise BadQuery("after:last-sync: the archive has no finished sync run yet")
        return row[0]

    def group_keys(self, value: str) -> list[str]:
        if value not in self._group_keys:
            self._group_keys[value] = resolve_group(self.conn, value)
        return self._group_keys[value]


def resolve_group(conn: sqlite3.Connection, value: str) -> list[str]:
    """The archived group keys ``value`` names: a key, an address, a name, or a URL."""
    candidates = {value.strip()}
    if "/" in value:
        from scraper.urls import parse_group_url  # only for URL-shaped values

        try:
            candidates.add(parse_group_url(value).key)
        except ValueError:
            pass
    keys: list[str] = []
    for candidate in candidates:
        keys += [
            row[0]
            for row in conn.execute(
                """
                SELECT key FROM groups
                WHERE key = :v COLLATE NOCASE OR email = :v COLLATE NOCASE
                   OR name = :v COLLATE NOCASE OR url = :v
                ORDER BY key
                """,
                {"v": candidate},
            )
        ]
    if keys:
        return sorted(set(keys))
    known = [row[0] for row in conn.execute("SELECT key FROM groups ORDER BY key")]
    if not known:
        raise UnknownGroup(f"no archived group matches {value!r}: the archive has no groups yet")
    raise UnknownGroup(
        f"no archived group matches {value!r}; archived groups: {', '.join(known)}"
    )


# ---------------------------------------------------------------- the compiled query


class Compiled(NamedTuple):
    """A query compiled: the driving FTS expression and the residual SQL conditions,
    with what the planner and the runner need to know about it (immutable)."""

    drive: str | None  # FTS5 expression every hit satisfies (None: no full-text part)
    residual: tuple[str, ...]  # SQL conditions on messages m, ANDed
    params: Mapping[str, Any]  # the named parameters of the residual conditions
    needles: tuple[tuple[str, str | None], ...]  # (regex, column): identifiers, checked last
    ranked: bool  # whether bm25 means anything (some free text, not just from:)
    prefix: bool  # the drive has a prefix term (costly to test row by row)
    dates: DateRange | None  # the narrowest top-level date range, to bound rowids by
    dates_only: bool  # the residual conditions are all date ranges
    highlight: str | None  # regex: any positive word of the query, to mark in bodies
    scans: tuple[str, ...] | None  # where highlight may match in lower-cased ASCII text
    group_keys: tuple[str, ...]  # groups named by top-level group: conditions
    driving: tuple[Node, ...]  # the top-level parts the drive is made of, to count hits by


def _conjuncts(node: Node | None) -> list[Node]:
    if node is None:
        return []
    if isinstance(node, And):
        return [part for child in node.nodes for part in _conjuncts(child)]
    return [node]


def _free_text(node: Node) -> bool:
    """Whether ``node`` contributes words to rank by (not only from: conditions)."""
    if isinstance(node, Term):
        return node.column != "author"
    if isinstance(node, (And, Or)):
        return any(_free_text(child) for child in node.nodes)
    return False


def terms(node: Node | None, *, positive_only: bool = False) -> list[Term]:
    """The terms of ``node``; with ``positive_only``, not those under a negation."""
    if isinstance(node, Term):
        return [node]
    if isinstance(node, (And, Or)):
        return [t for child in node.nodes for t in terms(child, positive_only=positive_only)]
    if isinstance(node, Not) and not positive_only:
        return terms(node.node)
    return []


def _narrower(a: DateRange | None, b: DateRange) -> DateRange:
    if a is None:
        return b
    starts = [d for d in (a.start, b.start) if d is not None]
    ends = [d for d in (a.end, b.end) if d is not None]
    return DateRange(max(starts) if starts else None, min(ends) if ends else None)


def _group_filter(compiler: _Compiler, node: Node) -> list[str]:
    """The keys of ``group:G`` or ``group:G OR group:H`` (as --group makes), else none."""
    fields = node.nodes if isinstance(node, Or) else (node,)
    if all(isinstance(f, Field) and f.name == "group" for f in fields):
        return [
            key for f in fields if isinstance(f, Field) for key in compiler.group_keys(f.value)
        ]
    return []


def compile_query(conn: sqlite3.Connection, query: Query) -> Compiled:
    """``query`` as FTS5 and SQL; ``conn`` resolves group names and ``after:last-sync``
    (:class:`UnknownGroup` or :class:`BadQuery` when the archive has no such thing)."""
    compiler = _Compiler(conn)
    positives: list[str] = []
    negatives: list[str] = []
    residual: list[str] = []
    needles: list[tuple[str, str | None]] = []
    ranked = False
    group_keys: list[str] = []
    dates: DateRange | None = None
    driving: list[Node] = []
    dated = 0
    for node in _conjuncts(query.root):
        needed = compiler.need(node)
        if needed is not None:
            positives.append(needed)
            driving.append(node)
            ranked = ranked or _free_text(node)
        if compiler.pure(node) is not None:
            continue  # decided by the driving expression alone
        if isinstance(node, Term) and not node.substring:
            needles += [(needle_pattern(n), node.column) for n in node.needles]
        elif isinstance(node, Not) and (inner := compiler.pure(node.node)) is not None:
            negatives.append(inner)
        else:
            group_keys += _group_filter(compiler, node)
            if isinstance(node, DateRange):
                dates = _narrower(dates, node)
                dated += 1
            residual.append(compiler.sql(node))
    drive = None
    if positives:
        drive = " AND ".join(positives)
        if negatives:
            drive = _without(f"({drive})", negatives)
    else:
        residual += [f"NOT {compiler.membership(negative)}" for negative in negatives]
    positive_terms = terms(query.root, positive_only=True)
    # Any word of the query found in a body is worth marking, whichever branch matched;
    # from: and subject: words are not looked for in bodies.
    patterns = [p for t in positive_terms if t.column is None and (p := _highlight_pattern(t))]
    highlight = "|".join(f"(?:{p})" for p in dict.fromkeys(p for p, _ in patterns))
    scans = [scan for _, scan in patterns]
    ascii_scans = None if None in scans else tuple(dict.fromkeys(s for s in scans if s))
    return Compiled(
        drive=drive,
        residual=tuple(residual),
        params=compiler.params.values,
        needles=tuple(needles),
        ranked=ranked,
        prefix=any(t.prefix for t in terms(query.root) if not t.substring),
        dates=dates,
        dates_only=bool(residual) and dated == len(residual),
        highlight=highlight or None,
        scans=ascii_scans,
        group_keys=tuple(group_keys),
        driving=tuple(driving),
    )


def _highlight_pattern(term: Term) -> tuple[str, str | None] | None:
    """Regexes for where ``term`` shows in a body (an identifier exactly, words as the
    index matches them, text in unsegmented scripts as a substring), and for where it
    may show in lower-cased ASCII text ("" if it cannot; None if unknown)."""
    from archive.snippets import index_words, scan_pattern, word_pattern

    if term.substring:
        return substring_pattern(term.text), None
    words = index_words(term.text)
    scan = scan_pattern(words, prefix=term.prefix) or ("" if words else None)
    if term.needles and not term.phrase:
        return "|".join(needle_pattern(n) for n in term.needles), scan
    pattern = word_pattern(words, prefix=term.prefix)
    return (pattern, scan) if pattern else None


def hit_source(
    compiled: Compiled,
    residual: Sequence[str],
    params: Params,
    bounds: tuple[int, int] | None,
    *,
    joined: bool = False,
) -> str:
    """``FROM ... WHERE ...`` of every hit of the drive that passes the ``residual``
    conditions, with rowids within ``bounds``; ``joined``: with each hit's message as
    ``m`` even when the conditions do not need it. Adds its parameters to ``params``."""
    drive = params.add(compiled.drive)
    conditions = where(residual)
    within = ""
    if bounds is not None:
        low, high = params.add(bounds[0]), params.add(bounds[1])
        within = f" AND messages_fts.rowid BETWEEN {low} AND {high}"
    if not residual and not joined:
        return f"FROM messages_fts WHERE messages_fts MATCH {drive}{within}"
    if not joined and not re.search(r"\bm\.(?!id\b)", conditions):
        # Only the id is needed (a group, a negation): no need to read each message.
        conditions = conditions.replace("m.id", "messages_fts.rowid")
        return f"FROM messages_fts WHERE messages_fts MATCH {drive} AND {conditions}{within}"
    return (
        "FROM messages_fts CROSS JOIN messages m ON m.id = messages_fts.rowid"
        f" WHERE messages_fts MATCH {drive} AND {conditions}{within}"
    )


# ---------------------------------------------------------------- the query with its options


def build_query(
    query: str | Query,
    *,
    groups: Iterable[str],
    authors: Iterable[str],
    since: Any,
    until: Any,
    now: datetime | None,
) -> Query:
    """The query text parsed, with the command's filters (``--group``, ``--from``,
    ``--since``, ``--until``) added as conditions of the same language."""
    if not isinstance(query, Query):
        query = parse_query(query or "", now=now)
    extra: list[Node] = []
    group_nodes = [Field("group", g) for g in _as_list(groups, "--group")]
    if group_nodes:
        extra.append(group_nodes[0] if len(group_nodes) == 1 else Or(tuple(group_nodes)))
    author_nodes = [
        author_term(a.rstrip("*"), prefix=a.endswith("*")) for a in _as_list(authors, "--from")
    ]
    if author_nodes:
        extra.append(author_nodes[0] if len(author_nodes) == 1 else Or(tuple(author_nodes)))
    if since is not None or until is not None:
        extra.append(
            DateRange(
                start=None if since is None else parse_date_bound(since, now=now),
                end=None if until is None else parse_date_bound(until, end=True, now=now),
            )
        )
    return query.combined(*extra)


def _as_list(values: Iterable[str] | str | None, option: str) -> list[str]:
    if values is None:
        return []
    listed = [values] if isinstance(values, str) else list(values)
    if any(not v.strip() for v in listed):
        # An empty value silently dropping the filter would widen the results unasked.
        raise BadOption(f"{option} needs a value, not an empty string")
    return listed
