"""Full-text search over the archive: the query language compiled to FTS5 and SQL.

The plan, in the order the work is done:

1. :func:`archive.query.parse_query` turns the text into a tree.
2. The tree is compiled into a *driving* FTS5 expression (everything the full-text
   index can decide: words, phrases, prefixes, ``subject:``, ``from:``, and
   ``-word`` beside them) and a *residual* SQL condition on the ``messages`` row for
   the rest (dates, groups, the exact check of identifiers, negations that FTS5
   cannot express on their own).
3. The ids to show are found first, with LIMIT: ranked by bm25 (subject weighted
   above body), or newest first. For date order with many hits the plan is chosen by
   a small cost model (:func:`_choose`): sort every hit, walk the posted_at index
   testing messages against the index or against the set of hits, or read the index
   in rowid order when rowids follow dates (:func:`_rowid_walk`). Ranked by bm25 with
   more than :data:`RANK_BOUND` hits, only the most recent ``RANK_BOUND`` are scored
   (:func:`_rank_floor`), unless every hit is asked for.
4. Only then are the rows shown read in full, and their snippets cut from the text
   (:mod:`archive.snippets`, in time bounded whatever one message holds).

This module reads the archive only. It imports no HTTP or HTML code (and not even
sqlite-utils), so ``listarchive search`` starts quickly.
"""

from __future__ import annotations

import functools
import json
import math
import re
import sqlite3
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

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
from archive.text import is_quoted
from archive.times import parse_utc, utc_iso
from scraper.errors import ArchiveError, BadOption, BadQuery, UnknownGroup

__all__ = [
    "SearchHit",
    "ThreadHit",
    "matching_message_ids",
    "open_archive",
    "parse_query",
    "resolve_group",
    "RANK_BOUND",
    "search",
    "search_threads",
]

SORTS = ("rank", "date")
# bm25 weights for the FTS columns, in the table's order: the name and the masked
# address weigh the same, so they score as one author field. The index's default
# rank (set by the schema) is the same, for other tools that sort by it.
WEIGHTS = (10.0, 2.0, 2.0, 1.0)
FTS_COLUMNS = ("subject", "author", "masked_address", "body_text")
# The FTS columns a query's column filter searches.
_FILTER_COLUMNS = {"subject": "subject", "author": "author masked_address"}


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class SearchHit:
    """One distinct message that matched, with where it was posted.

    ``url``, ``group_key``, ``topic_id`` and ``thread_id`` are those of the message's
    first posting (its canonical place); ``groups`` lists every group it was posted
    to, that one first. ``score`` is the relevance (bm25, negated so that higher is
    better), or None when results are sorted by date.
    """

    id: int
    subject: str
    author: str
    masked_address: str | None
    posted_at: datetime
    groups: tuple[str, ...]
    url: str
    group_key: str
    topic_id: str
    thread_id: int | None
    snippet: str
    score: float | None = None

    @property
    def thread(self) -> tuple[str, str]:
        return (self.group_key, self.topic_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "author": self.author,
            "masked_address": self.masked_address,
            "posted_at": utc_iso(self.posted_at),
            "groups": list(self.groups),
            "url": self.url,
            "group_key": self.group_key,
            "topic_id": self.topic_id,
            "thread_id": self.thread_id,
            "snippet": self.snippet,
            "score": self.score,
        }


@dataclass(frozen=True)
class ThreadHit:
    """A thread with at least one matching message; ``hits`` counts them."""

    thread_id: int
    group_key: str
    topic_id: str
    subject: str
    url: str
    hits: int
    message_count: int | None
    latest_hit_at: datetime
    last_activity_at: datetime | None
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "thread_id": self.thread_id,
            "group_key": self.group_key,
            "topic_id": self.topic_id,
            "subject": self.subject,
            "url": self.url,
            "hits": self.hits,
            "message_count": self.message_count,
            "latest_hit_at": utc_iso(self.latest_hit_at),
            "last_activity_at": utc_iso(self.last_activity_at) if self.last_activity_at else None,
            "score": self.score,
        }


def _stored_time(moment: datetime) -> str:
    """A bound in the archive's one time format, so text comparison orders correctly."""
    return utc_iso(moment)


# ---------------------------------------------------------------- opening the archive


def open_archive(path: str | Path) -> sqlite3.Connection:
    """A read-only connection to the archive at ``path``; ArchiveError if there is none."""
    from archive.connection import connect_readonly

    path = Path(path)
    conn = connect_readonly(path)
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as err:
        conn.close()
        raise ArchiveError(f"{path} is corrupt or not a listarchive archive ({err})") from err
    missing = {"messages", "messages_fts", "postings", "groups", "threads"} - tables
    if missing:
        conn.close()
        if "_sqlite_migrations" in tables and "messages" in tables:
            raise ArchiveError(f"{path} was made by an older listarchive; run listarchive sync")
        raise ArchiveError(f"{path} is an SQLite database but not a listarchive archive")
    return conn


def _connection(db_or_archive: Any) -> tuple[sqlite3.Connection, bool]:
    """``(connection, opened_here)`` from an Archive, a sqlite-utils Database, a sqlite3
    connection or a path."""
    if isinstance(db_or_archive, sqlite3.Connection):
        return db_or_archive, False
    if isinstance(db_or_archive, (str, Path)):
        return open_archive(db_or_archive), True
    inner = getattr(db_or_archive, "db", db_or_archive)  # Archive -> sqlite_utils.Database
    conn = getattr(inner, "conn", None)
    if isinstance(conn, sqlite3.Connection):
        return conn, False
    raise TypeError(f"expected an Archive, a Database, a connection or a path, not {inner!r}")


class _Reading:
    """Context: the connection, with SQLite failures turned into one-line errors."""

    def __init__(self, db_or_archive: Any) -> None:
        self.conn, self.opened = _connection(db_or_archive)
        self.conn.create_function("listarchive_contains", -1, _contains, deterministic=True)

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.opened:
            self.conn.close()
        if exc is None or not isinstance(exc, sqlite3.Error):
            return
        from archive.connection import sqlite_failure

        message = str(exc)
        lowered = message.lower()
        if isinstance(exc, sqlite3.OperationalError) and (
            "fts5" in lowered or "syntax error" in lowered or "unterminated" in lowered
        ):
            raise BadQuery(f"the full-text index rejected the query: {message}") from exc
        failure = sqlite_failure(exc, "the archive")
        if failure is not None:
            raise failure from exc
        raise ArchiveError(f"cannot search the archive: {message}") from exc


# ---------------------------------------------------------------- identifiers


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _contains(pattern: str, *texts: str | None) -> int:
    regex = _compiled(pattern)
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


# ---------------------------------------------------------------- compiling


def _fts_string(text: str) -> str:
    # A quoted string is tokenized by the index's own tokenizer and matched as a
    # phrase, so punctuation, FTS5 keywords and column names are all taken literally.
    return '"' + text.replace('"', '""') + '"'


def _term_fts(term: Term) -> str:
    expression = _fts_string(term.text) + ("*" if term.prefix else "")
    if term.column:
        expression = "{" + _FILTER_COLUMNS.get(term.column, term.column) + "} : " + expression
    return expression


_NEEDLE_COLUMNS = {
    None: "m.subject, m.author, m.masked_address, m.body_text",
    "subject": "m.subject",
    "author": "m.author, m.masked_address",
}


class _Compiler:
    """Builds SQL text with named parameters; one instance per statement family."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.params: dict[str, Any] = {}
        self._group_keys: dict[str, list[str]] = {}

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return ":" + name

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
            for negative in negatives:
                expression = f"({expression} NOT {negative})"
            return expression
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
            f"listarchive_contains({self.param(needle_pattern(n))}, {columns})"
            for n in term.needles
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
            return "(" + " AND ".join(self.sql(child) for child in node.nodes) + ")"
        if isinstance(node, Or):
            return "(" + " OR ".join(self.sql(child) for child in node.nodes) + ")"
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
            parts.append(f"m.posted_at >= {self.param(_stored_time(node.start))}")
        if node.end is not None:
            parts.append(f"m.posted_at < {self.param(_stored_time(node.end))}")
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


@dataclass
class _Plan:
    """A compiled query: the driving FTS expression and the residual SQL condition."""

    compiler: _Compiler
    drive: str | None  # FTS5 expression every hit satisfies (None: no full-text part)
    residual: list[str]  # SQL conditions on messages m, ANDed
    needles: list[tuple[str, str | None]]  # (regex, column): exact identifiers, checked last
    ranked: bool  # whether bm25 means anything (some free text, not just from:)
    prefix: bool  # the drive has a prefix term (costly to test row by row)
    dates: DateRange | None  # the narrowest top-level date range, to bound rowids by
    highlight: str | None  # regex: any positive word of the query, to mark in bodies
    scans: list[str] | None  # where highlight may match in lower-cased ASCII text
    group_keys: list[str]  # groups named by top-level group: conditions
    driving: list[Node]  # the top-level parts the drive is made of, to estimate hits by
    dates_only: bool = False  # the residual conditions are all date ranges
    estimates: dict[str, int | None] = field(default_factory=dict)  # computed once


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


def _terms(node: Node | None, *, positive_only: bool = False) -> list[Term]:
    if isinstance(node, Term):
        return [node]
    if isinstance(node, (And, Or)):
        return [t for child in node.nodes for t in _terms(child, positive_only=positive_only)]
    if isinstance(node, Not) and not positive_only:
        return _terms(node.node)
    return []


def _narrower(a: DateRange | None, b: DateRange) -> DateRange:
    if a is None:
        return b
    starts = [d for d in (a.start, b.start) if d is not None]
    ends = [d for d in (a.end, b.end) if d is not None]
    return DateRange(max(starts) if starts else None, min(ends) if ends else None)


def _any_of(parts: list[str | None]) -> str | None:
    """FTS5's OR of ``parts``; None when one of them has no FTS5 expression."""
    known = [part for part in parts if part is not None]
    return "(" + " OR ".join(known) + ")" if len(known) == len(parts) else None


def _group_filter(compiler: _Compiler, node: Node) -> list[str]:
    """The keys of ``group:G`` or ``group:G OR group:H`` (as --group makes), else none."""
    fields = node.nodes if isinstance(node, Or) else (node,)
    if all(isinstance(f, Field) and f.name == "group" for f in fields):
        return [
            key for f in fields if isinstance(f, Field) for key in compiler.group_keys(f.value)
        ]
    return []


def _plan(conn: sqlite3.Connection, query: Query) -> _Plan:
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
        for negative in negatives:
            drive = f"({drive}) NOT {negative}"
    else:
        residual += [f"NOT {compiler.membership(negative)}" for negative in negatives]
    terms = _terms(query.root, positive_only=True)
    # Any word of the query found in a body is worth marking, whichever branch matched;
    # from: and subject: words are not looked for in bodies.
    patterns = [p for t in terms if t.column is None and (p := _highlight_pattern(t))]
    highlight = "|".join(f"(?:{p})" for p in dict.fromkeys(p for p, _ in patterns))
    scans = [scan for _, scan in patterns]
    ascii_scans = None if None in scans else list(dict.fromkeys(s for s in scans if s))
    prefix = any(t.prefix for t in _terms(query.root) if not t.substring)
    return _Plan(
        compiler, drive, residual, needles, ranked, prefix, dates, highlight or None,
        ascii_scans, group_keys, driving, dates_only=bool(residual) and dated == len(residual),
    )  # fmt: skip


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


def _build_query(
    query: str | Query,
    *,
    groups: Iterable[str],
    authors: Iterable[str],
    since: Any,
    until: Any,
    now: datetime | None,
) -> Query:
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


# ---------------------------------------------------------------- running


def _where(conditions: Sequence[str]) -> str:
    return " AND ".join(conditions) if conditions else "1"


def _ranked_ids(
    conn: sqlite3.Connection,
    plan: _Plan,
    sort: str,
    limit: int | None,
    offset: int,
    *,
    exact: bool = False,
    oldest_first: bool = False,
) -> list[tuple[int, float | None]]:
    """``(message id, score)`` of the hits to show, in order (by date: newest first, or
    ``oldest_first``).

    Unless ``exact``, a ranking that shows no more than :data:`RANK_BOUND` results
    scores only the ``RANK_BOUND`` most recent hits (see :func:`_rank_floor`).
    """
    if limit == 0:
        return []
    wanted = None if limit is None else offset + limit
    rank = sort == "rank" and plan.ranked
    choice = "all"
    # The walks and the cost model serve newest first; oldest first sorts every hit.
    newest = not oldest_first
    if plan.drive is not None and wanted is not None and not rank and newest and _many_hits(
        conn, plan
    ):
        walked = _rowid_walk(conn, plan, wanted)
        if walked is not None:
            return walked[offset:]
        choice = _choose(conn, plan, wanted)
    bounds = _rowid_bounds(conn, plan) if choice == "all" else None
    if bounds is not None and plan.dates_only and plan.estimates.get("band_exact"):
        # Every message in the band is in the range: no date needs reading.
        plan = replace(plan, residual=[])
    if rank and not exact and plan.drive is not None and wanted is not None:
        if wanted <= RANK_BOUND:
            bounds = _rank_floor(conn, plan, bounds) or bounds
    dates_later = rank and _dates_later(plan, bounds)
    sql = _ordered_sql(
        replace(plan, residual=[]) if dates_later else plan, rank, choice, bounds,
        oldest_first=oldest_first,
    )  # fmt: skip
    params = plan.compiler.params
    if not plan.needles and not dates_later:
        window = {"window_limit": -1 if limit is None else limit, "window_offset": offset}
        return conn.execute(
            sql + " LIMIT :window_limit OFFSET :window_offset", {**params, **window}
        ).fetchall()
    # Identifiers are checked on the text of candidates in their final order, and only
    # until enough have passed: the index already narrowed them to their words. Dates
    # left for later are checked the same way.
    cursor = conn.execute(sql, params)
    kept: list[tuple[int, float | None]] = []
    while wanted is None or len(kept) < wanted:
        batch = cursor.fetchmany(50)
        if not batch:
            break
        ids = [row[0] for row in batch]
        if dates_later:
            ids = _passing_residual(conn, plan, ids)
        passed = _passing_needles(conn, ids, plan.needles) if plan.needles else set(ids)
        kept += [row for row in batch if row[0] in passed]
    cursor.close()
    return kept[offset:wanted]


def _rerank(
    conn: sqlite3.Connection, plan: _Plan, ranked: list[tuple[int, float | None]]
) -> list[tuple[int, float | None]]:
    """The best :data:`RERANK_POOL` hits reordered by their own words.

    bm25 counts a reply's quote of the announcement as the reply's words, so a short
    reply that quotes the key lines outranks the long announcement it quotes. Here the
    body's share of each score is scaled by the share of the query's words that the
    message writes itself (outside ``>`` lines), and the opening post of a thread whose
    subject matches gets :data:`ORIGINAL_POST_BOOST`. Deeper hits keep bm25's order.
    """
    head, tail = ranked[:RERANK_POOL], ranked[RERANK_POOL:]
    if not head:
        return ranked
    words = [
        (word, term.prefix and n == len(found) - 1)
        for node in plan.driving
        for term in _terms(node, positive_only=True)
        if term.column is None
        for found in [_index_words(term.text)]
        for n, word in enumerate(found)
    ]
    if not words:
        return ranked
    ids = [message_id for message_id, _ in head]
    marks = ", ".join("?" * len(ids))
    # The bodies are read as blobs, up to what is needed: SQLite loads a whole value
    # for a SELECT, even under substr(), and one body may be a 20 MB log.
    texts = {
        row[0]: (row[1], _body_head(conn, row[0], RERANK_TEXT * 4)[0][:RERANK_TEXT], row[2])
        for row in conn.execute(
            "SELECT m.id, m.subject, EXISTS (SELECT 1 FROM"
            " postings p WHERE p.message_id = m.id AND p.position = 0) FROM messages m"
            f" WHERE m.id IN ({marks})",
            ids,
        )
    }
    rescored = []
    for order, (message_id, score) in enumerate(head):
        if score is None or message_id not in texts:
            return ranked
        subject, body, opening = texts[message_id]
        in_subject = sum(1 for _ in _word_starts(words, (subject or "").lower()))
        own, quoted = _own_and_quoted_hits(words, body or "")
        # The score's share that came from quoted words, by the index's own weights
        # (bm25 is not additive, so this is an estimate; it only ever lowers a score).
        weighted = WEIGHTS[0] * in_subject + WEIGHTS[-1] * (own + quoted)
        adjusted = score * ((weighted - WEIGHTS[-1] * quoted) / weighted if weighted else 1.0)
        if opening and in_subject:
            adjusted *= ORIGINAL_POST_BOOST
        rescored.append((adjusted, order, message_id))
    rescored.sort()
    if tail and tail[0][1] is not None:
        # The scores shown keep falling down the list: a reranked hit scores at least
        # as well as the first hit after the pool (scores are negative here).
        floor, count = tail[0][1], len(rescored)
        rescored = [
            (min(adjusted, floor - 1e-9 * (count - n)), order, message_id)
            for n, (adjusted, order, message_id) in enumerate(rescored)
        ]
    return [(message_id, adjusted) for adjusted, _, message_id in rescored] + tail


def _word_starts(words: list[tuple[str, bool]], text: str) -> Iterator[int]:
    """Where the index words start a word of ``text`` (lower case), whole unless a
    prefix. Plain ``str.find`` per word: a regex alternation ignoring case tries every
    position of a long body."""
    for word, prefix in words:
        at = text.find(word)
        while at >= 0:
            end = at + len(word)
            if (not at or not text[at - 1].isalnum()) and (
                prefix or end == len(text) or not text[end].isalnum()
            ):
                yield at
            at = text.find(word, at + 1)


def _own_and_quoted_hits(words: list[tuple[str, bool]], body: str) -> tuple[int, int]:
    """How often the query's words occur in the message's own lines and in its quotes."""
    own = quoted = 0
    text = body.lower()
    for at in _word_starts(words, text):
        start = text.rfind("\n", 0, at) + 1
        end = text.find("\n", start)
        if is_quoted(text[start : end if end >= 0 else None]):
            quoted += 1
        else:
            own += 1
    return own, quoted


def _dates_later(plan: _Plan, bounds: tuple[int, int] | None) -> bool:
    """Whether to rank the hits in a date range's band of rowids without their dates,
    and check the dates of the best ones afterwards.

    Reading a message's date costs more than scoring it (joining each hit of a word in
    4% of a million messages to its message took 6.7 ms of a 10.3 ms ranking), and when
    most messages in the band are in the range, the first few dozen best hits give the
    top 20.
    """
    in_range = plan.estimates.get("in_range")
    if not plan.dates_only or bounds is None or not in_range:
        return False
    return in_range * 2 >= bounds[1] - bounds[0] + 1


# What a plan costs, in microseconds per step, measured on a million messages: sorting
# or ranking one full-text hit joined to its message, adding one hit to a temporary
# set, one step along the posted_at index, one probe of the index for one message
# (7 on an index merged into one segment, up to 150 on one that syncs left in many),
# and reading one message of a date range from the posted_at index.
COST_SORT = 1.2
COST_SET = 0.1
COST_STEP = 0.2
COST_PROBE = 20.0
COST_RANGE = 0.1
# Below this many hits, ranking or sorting all of them is always cheap.
FEW_HITS = 2000


def _ordered_sql(
    plan: _Plan,
    rank: bool,
    choice: str,
    bounds: tuple[int, int] | None = None,
    *,
    oldest_first: bool = False,
) -> str:
    """SELECT (id, score) of every match, in the order to show them.

    ``choice`` comes from :func:`_choose`. Ranking takes every hit within ``bounds``:
    bm25 needs them all (and scoring one message at a time would recount the whole
    index to weigh each word). Sorted by date, a few hits are sorted outright; many
    are found by walking the posted_at index newest first, testing each message
    against the index (a common word: "probe") or against the set of hits built once
    ("set": a prefix, or a word that is not that common). ``bounds`` limits the
    rowids read from the index (see :func:`_rowid_bounds` and :func:`_rank_floor`).
    """
    c = plan.compiler
    residual = _where(plan.residual)
    newest_first = " ORDER BY m.posted_at DESC, m.id DESC"
    if oldest_first:
        newest_first = " ORDER BY m.posted_at, m.id"
    if plan.drive is None:
        return f"SELECT m.id, NULL FROM messages m WHERE {residual}{newest_first}"
    drive = c.param(plan.drive)
    score = "bm25(messages_fts, " + ", ".join(str(w) for w in WEIGHTS) + ")"
    hit_set = f"+m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH {drive})"
    if choice == "probe":
        member = (
            f"EXISTS (SELECT 1 FROM messages_fts WHERE messages_fts MATCH {drive}"
            " AND messages_fts.rowid = m.id)"
        )
        return f"SELECT m.id, NULL FROM messages m WHERE {member} AND {residual}{newest_first}"
    if choice == "set":
        # The unary + keeps SQLite from looking messages up by the set: it walks the
        # posted_at index instead, newest first, and stops once it has enough.
        return f"SELECT m.id, NULL FROM messages m WHERE {hit_set} AND {residual}{newest_first}"
    if rank:
        source = _hit_source(plan, drive, bounds)
        return f"SELECT messages_fts.rowid, {score} AS score {source} ORDER BY score, 1"
    source = _hit_source(plan, drive, bounds, joined=True)
    return f"SELECT m.id, NULL {source}{newest_first}"


def _hit_source(
    plan: _Plan, drive: str, bounds: tuple[int, int] | None, *, joined: bool = False
) -> str:
    """``FROM ... WHERE ...`` of every hit of the drive (the parameter ``drive``) that
    passes the residual conditions, with rowids within ``bounds``; ``joined``: with
    each hit's message as ``m`` even when the conditions do not need it."""
    c = plan.compiler
    residual = _where(plan.residual)
    within = ""
    if bounds is not None:
        low, high = c.param(bounds[0]), c.param(bounds[1])
        within = f" AND messages_fts.rowid BETWEEN {low} AND {high}"
    if not plan.residual and not joined:
        return f"FROM messages_fts WHERE messages_fts MATCH {drive}{within}"
    if not joined and not re.search(r"\bm\.(?!id\b)", residual):
        # Only the id is needed (a group, a negation): no need to read each message.
        residual = residual.replace("m.id", "messages_fts.rowid")
        return f"FROM messages_fts WHERE messages_fts MATCH {drive} AND {residual}{within}"
    return (
        "FROM messages_fts CROSS JOIN messages m ON m.id = messages_fts.rowid"
        f" WHERE messages_fts MATCH {drive} AND {residual}{within}"
    )


# Ranked by relevance, at most this many hits are scored: the most recent ones. bm25
# costs about a microsecond per hit, and a word found in a quarter of a million
# messages would otherwise take a quarter of a second to rank; the bound keeps the
# cost of any ranking near that of a word in this many messages. bm25 still weighs
# words by their frequency in the whole archive, so scores are those of an exact
# ranking; only the candidates are fewer.
RANK_BOUND = 25_000
# How many of the best bm25 hits are reranked by their own words, and how much of each
# body is read for it (a pasted log must not make ranking slow).
RERANK_POOL = 50
# Hits read and snippeted at a time when they are streamed (iter_search).
HIT_BATCH = 200
RERANK_TEXT = 65_536
# An opening post whose subject matches ranks as if its score were this many times better.
ORIGINAL_POST_BOOST = 2.0
# Every rowid SQLite can hold: the band of a search without bounds.
ROWIDS = (-(2**63), 2**63 - 1)


def _rank_floor(
    conn: sqlite3.Connection, plan: _Plan, bounds: tuple[int, int] | None
) -> tuple[int, int] | None:
    """The band of rowids (within ``bounds``) holding the ``RANK_BOUND`` most recent
    hits, when there are more hits than that; None to rank every hit.

    The index's per-word document counts tell at once when there cannot be that many
    (a phrase or AND has no more hits than its rarest word); otherwise the index is
    read in rowid order from the newest end, stopping at the ``RANK_BOUND``-th hit.
    With fewer hits than that the read finds none, and every hit is ranked, as
    without a bound. Rowids stand for recency only when syncs stored messages in date
    order (either way): when the newest messages are in the middle, every hit is
    ranked.
    """
    assert plan.drive is not None
    if bounds is not None:
        # The band holds every hit of the date range and then some, so when it has
        # fewer than the bound the range has fewer still. Counting them is cheap, while
        # the probe below may read each hit's message for its date.
        if _band_hits(conn, plan, bounds) < RANK_BOUND:
            return None
    else:
        estimate = _estimated_hits(conn, plan)
        if estimate is not None and estimate <= RANK_BOUND:
            return None
    low, high = bounds or ROWIDS
    direction = _newest_end(conn, plan, bounds)
    if direction is None:
        return None
    c = plan.compiler
    source = _hit_source(plan, c.param(plan.drive), bounds)
    edge = conn.execute(
        f"SELECT messages_fts.rowid {source} ORDER BY messages_fts.rowid {direction}"
        " LIMIT 1 OFFSET :rank_offset",
        {**c.params, "rank_offset": RANK_BOUND - 1},
    ).fetchone()
    if edge is None:
        return None
    return (max(low, edge[0]), high) if direction == "DESC" else (low, min(high, edge[0]))


def _band_hits(conn: sqlite3.Connection, plan: _Plan, bounds: tuple[int, int]) -> int:
    """Hits of the drive with rowids within ``bounds``, whatever the other conditions,
    counted up to :data:`RANK_BOUND`."""
    return _count(
        conn,
        "messages_fts WHERE messages_fts MATCH ? AND rowid BETWEEN ? AND ?",
        [plan.drive, *bounds],
        cap=RANK_BOUND,
    )


def _newest_end(
    conn: sqlite3.Connection, plan: _Plan, bounds: tuple[int, int] | None
) -> str | None:
    """Which end of the rowids holds the newest messages: "DESC", "ASC", or None for
    neither. Within ``bounds`` (a date range's band), those of the range; otherwise
    those of the archive, which also orders the messages of any date range."""
    dated = "1"
    params: list[str] = []
    if plan.dates is not None and bounds is not None:
        dated, params = _in_dates(plan.dates)
    newest = [
        row[0]
        for row in conn.execute(
            f"SELECT id FROM messages WHERE {dated} ORDER BY posted_at DESC, id DESC LIMIT 10",
            params,
        )
    ]
    if not newest:
        return None
    if bounds is None:
        bounds = conn.execute(
            "SELECT (SELECT min(id) FROM messages), (SELECT max(id) FROM messages)"
        ).fetchone()
    return _which_end(newest, *bounds)


def _which_end(newest: list[int], low: int, high: int) -> str | None:
    """Where most of the ids ``newest`` lie: near ``high`` ("DESC"), near ``low``
    ("ASC"), or neither (None)."""
    middle = sorted(newest)[len(newest) // 2]
    margin = (high - low) * 0.1
    if middle >= high - margin:
        return "DESC"
    if middle <= low + margin:
        return "ASC"
    return None


def _estimated_hits(conn: sqlite3.Connection, plan: _Plan) -> int | None:
    """At least as many as the hits of the drive, or more than :data:`RANK_BOUND`;
    None when no part of the query can be counted by its words."""
    if "hits" not in plan.estimates:
        plan.estimates["hits"] = _least(conn, plan.driving)
    return plan.estimates["hits"]


def _least(conn: sqlite3.Connection, nodes: Iterable[Node]) -> int | None:
    """The smallest estimate among ``nodes`` (all must match), stopping at the first
    that is within the bound: that already settles the question."""
    least = None
    for node in nodes:
        estimate = _estimate(conn, node)
        if estimate is not None:
            least = estimate if least is None else min(least, estimate)
            if least <= RANK_BOUND:
                break
    return least


def _estimate(conn: sqlite3.Connection, node: Node) -> int | None:
    if isinstance(node, Term):
        words = _index_words(node.text)
        if node.substring or not words:
            return None
        # A phrase has no more hits than its rarest word.
        last = len(words) - 1
        least = None
        for i, word in enumerate(words):
            count = _documents(conn, word, prefix=node.prefix and i == last)
            least = count if least is None else min(least, count)
            if least <= RANK_BOUND:
                break
        return least
    if isinstance(node, And):
        return _least(conn, node.nodes)
    if isinstance(node, Or):
        total = 0
        for child in node.nodes:
            estimate = _estimate(conn, child)
            if estimate is None:
                return None
            total += estimate
            if total > RANK_BOUND:
                break
        return total
    return None  # a negation, a date, a group: no bound on the hits


def _index_words(text: str) -> list[str]:
    """The tokens the index's unicode61 tokenizer (remove_diacritics 2) makes of text."""
    folded = "".join(
        c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c)
    )
    return "".join(c if is_token_char(c) else " " for c in folded).split()


def _documents(conn: sqlite3.Connection, word: str, *, prefix: bool) -> int:
    """How many messages hold ``word`` (or a word it begins), counted up to one more
    than :data:`RANK_BOUND`."""
    # Counting stops there, so a word in half the archive costs no more to count than
    # a word at the bound. (fts5vocab's per-word counts read a word's every entry: 7 ms
    # for a word in a third of a million messages.)
    return _count(
        conn,
        "messages_fts WHERE messages_fts MATCH ?",
        [_fts_string(word) + ("*" if prefix else "")],
        cap=RANK_BOUND + 1,
    )


def _rowid_bounds(conn: sqlite3.Connection, plan: _Plan) -> tuple[int, int] | None:
    """The lowest and highest rowid of the messages in the query's date range.

    Syncs store messages roughly in date order, so a date range is usually a narrow
    band of rowids, and the index can skip the hits outside it instead of joining each
    to its message to read its date. Worth it only with many hits and a range that is
    not too large beside them; None otherwise.
    """
    if plan.dates is None or plan.drive is None:
        return None
    blocks = _block_band(conn, plan.dates)
    if blocks is not None:
        band, in_range, exact = blocks
        plan.estimates["in_range"] = in_range
        plan.estimates["band_exact"] = int(exact)
        return band
    # An estimate will do: it only weighs whether the band is worth finding.
    hits = _estimated_hits(conn, plan)
    if hits is None:
        hits = _count(conn, "messages_fts WHERE messages_fts MATCH ?", [plan.drive], cap=10**6)
    if hits < FEW_HITS:
        return None
    dated, params = _in_dates(plan.dates)
    # Reading the range is worth it while it costs less than ranking every hit.
    cap = int(hits * COST_SORT / COST_RANGE)
    in_range, low, high = conn.execute(
        f"SELECT count(*), min(id), max(id) FROM (SELECT id FROM messages WHERE {dated} LIMIT ?)",
        [*params, cap + 1],
    ).fetchone()
    if in_range > cap:
        return None
    if not in_range:
        return (1, 0)  # nothing in the range: no rowid qualifies
    plan.estimates["in_range"] = in_range
    first, last = conn.execute(
        "SELECT (SELECT min(id) FROM messages), (SELECT max(id) FROM messages)"
    ).fetchone()
    if (high - low) > (last - first) / 2:
        return None
    return low, high


def _block_band(
    conn: sqlite3.Connection, dates: DateRange
) -> tuple[tuple[int, int], int, bool] | None:
    """The band of rowids holding every message of ``dates``, from the blocks of ids
    the archive keeps with their span of dates: ``(band, messages in the band's
    blocks, whether every one of them is in the range)``. None when the band would be
    more than half the archive (small archives are a single block), or the archive
    predates the blocks.
    """
    overlaps, inside = [], []  # a block with some of its dates in the range; all of them
    if dates.start is not None:
        overlaps.append("last_posted_at >= :start")
        inside.append("first_posted_at >= :start")
    if dates.end is not None:
        overlaps.append("first_posted_at < :end")
        inside.append("last_posted_at < :end")
    bounds = {
        "start": None if dates.start is None else _stored_time(dates.start),
        "end": None if dates.end is None else _stored_time(dates.end),
    }
    try:
        rows = conn.execute(
            f"SELECT block, first_id, last_id, messages, {_where(inside)}"
            f" FROM message_date_blocks WHERE {_where(overlaps)} ORDER BY block",
            bounds,
        ).fetchall()
        if not rows:
            return (1, 0), 0, True  # nothing in the range: no rowid qualifies
        first, last, blocks = conn.execute(
            "SELECT (SELECT min(first_id) FROM message_date_blocks),"
            " (SELECT max(last_id) FROM message_date_blocks),"
            " (SELECT count(*) FROM message_date_blocks WHERE block BETWEEN ? AND ?)",
            (rows[0][0], rows[-1][0]),
        ).fetchone()
    except sqlite3.OperationalError:
        return None  # an archive from before the blocks, opened read-only
    low, high = min(row[1] for row in rows), max(row[2] for row in rows)
    if (high - low) * 2 > last - first:
        return None
    # Exact when no block between the first and the last lies outside the range, and
    # every one of them lies wholly inside it.
    exact = blocks == len(rows) and all(row[4] for row in rows)
    return (low, high), sum(row[3] for row in rows), exact


def _in_dates(dates: DateRange) -> tuple[str, list[str]]:
    conditions, params = [], []
    if dates.start is not None:
        conditions.append("posted_at >= ?")
        params.append(_stored_time(dates.start))
    if dates.end is not None:
        conditions.append("posted_at < ?")
        params.append(_stored_time(dates.end))
    return _where(conditions), params


def _rowid_walk(
    conn: sqlite3.Connection, plan: _Plan, wanted: int
) -> list[tuple[int, float | None]] | None:
    """The ``wanted`` newest hits, read from the index in rowid order; None if unproven.

    Syncs store messages roughly in date order (newest last once a group is followed,
    newest first in a first sync), so the hits at one end of the rowids are usually
    the newest. The walk reads a batch of hits from that end and keeps the newest;
    every message at least as new as the last one kept lies in a band of rowids that
    the posted_at index gives at once, and once the hits in that band are read too, no
    hit left unread can be newer. When rowids do not follow dates (the band is too
    wide) the walk gives up and a plan by dates runs instead.
    """
    assert plan.drive is not None
    direction = _walk_direction(conn, plan)
    if direction is None:
        return None
    descending = direction == "DESC"
    size = max(4 * wanted, 100)
    batch = _hits_by_rowid(conn, plan, descending, None, None, size)
    best = _newest(conn, plan, batch, [], wanted)
    if len(batch) < size:
        return [(i, None) for _, i in best]  # every hit has been read
    if len(best) < wanted:
        return None
    edge = batch[-1]
    # Where the messages at least as new as the last one kept begin (or end).
    count, band_edge = conn.execute(
        f"SELECT count(*), {'min' if descending else 'max'}(id) FROM"
        " (SELECT id FROM messages WHERE posted_at >= ? LIMIT ?)",
        (best[-1][0], WALK_NEWER_CAP + 1),
    ).fetchone()
    if count > WALK_NEWER_CAP:
        return None
    if (band_edge >= edge) if descending else (band_edge <= edge):
        return [(i, None) for _, i in best]  # none of them is beyond the batch
    low, high = (band_edge, edge - 1) if descending else (edge + 1, band_edge)
    band = _hits_by_rowid(conn, plan, descending, low, high, WALK_BAND_CAP + 1)
    if len(band) > WALK_BAND_CAP:
        return None
    return [(i, None) for _, i in _newest(conn, plan, band, best, wanted)]


# A rowid walk gives up when more messages than this are as new as the hits it keeps,
# or when more hits than this lie in the band of rowids it would have to read.
WALK_NEWER_CAP = 50_000
WALK_BAND_CAP = 10_000


def _hits_by_rowid(
    conn: sqlite3.Connection,
    plan: _Plan,
    descending: bool,
    low: int | None,
    high: int | None,
    limit: int,
) -> list[int]:
    bounds = ""
    if low is not None:
        bounds += " AND rowid >= :walk_low"
    if high is not None:
        bounds += " AND rowid <= :walk_high"
    return [
        row[0]
        for row in conn.execute(
            f"SELECT rowid FROM messages_fts WHERE messages_fts MATCH :walk_drive{bounds}"
            f" ORDER BY rowid {'DESC' if descending else 'ASC'} LIMIT :walk_limit",
            {"walk_drive": plan.drive, "walk_low": low, "walk_high": high, "walk_limit": limit},
        )
    ]


def _newest(
    conn: sqlite3.Connection,
    plan: _Plan,
    ids: list[int],
    best: list[tuple[str, int]],
    wanted: int,
) -> list[tuple[str, int]]:
    """``best`` with the hits among ``ids`` that pass the filters: the ``wanted``
    newest (posted_at, id) pairs, newest first."""
    rows = conn.execute(
        "SELECT m.id, m.posted_at FROM messages m"
        f" WHERE m.id IN (SELECT value FROM json_each(:walk_ids)) AND {_where(plan.residual)}",
        {**plan.compiler.params, "walk_ids": json.dumps(ids)},
    ).fetchall()
    if plan.needles and rows:
        passed = _passing_needles(conn, [row[0] for row in rows], plan.needles)
        rows = [row for row in rows if row[0] in passed]
    return sorted(best + [(posted, i) for i, posted in rows], reverse=True)[:wanted]


def _walk_direction(conn: sqlite3.Connection, plan: _Plan) -> str | None:
    """Which end of the rowids holds the newest messages that pass the filters, if one:
    "DESC" when they were archived last, "ASC" when first, None when in the middle."""
    newest = [
        row[0]
        for row in conn.execute(
            f"SELECT m.id FROM messages m WHERE {_where(plan.residual)}"
            " ORDER BY m.posted_at DESC, m.id DESC LIMIT 10",
            plan.compiler.params,
        )
    ]
    if not newest:
        return None
    # Two subqueries: SQLite answers a lone min() or max() from the b-tree, not both.
    low, high = conn.execute(
        "SELECT (SELECT min(id) FROM messages), (SELECT max(id) FROM messages)"
    ).fetchone()
    return _which_end(newest, low, high)


def _many_hits(conn: sqlite3.Connection, plan: _Plan) -> bool:
    """Whether the hits are too many to sort them all without a second thought."""
    hits = _count(conn, "messages_fts WHERE messages_fts MATCH ?", [plan.drive], cap=FEW_HITS)
    return hits >= FEW_HITS


def _choose(conn: sqlite3.Connection, plan: _Plan, wanted: int) -> str:
    """The cheapest date-order plan by the cost model above: "all", "set" or "probe"."""
    assert plan.drive is not None
    messages = conn.execute("SELECT max(id) FROM messages").fetchone()[0] or 0
    # Count hits only as far as it can change the choice.
    if plan.prefix:
        cap = math.isqrt(int(COST_STEP / (COST_SORT - COST_SET) * wanted * messages)) + 1
    else:
        cap = math.isqrt(int((COST_PROBE - COST_STEP) / COST_SET * wanted * messages)) + 1
    hits = _count(conn, "messages_fts WHERE messages_fts MATCH ?", [plan.drive], cap=cap)
    if hits < FEW_HITS:
        return "all"
    walk = min(wanted * messages / hits, messages)
    costs = {"all": hits * COST_SORT, "set": hits * COST_SET + walk * COST_STEP}
    if not plan.prefix:  # a prefix is expanded again on every probe
        costs["probe"] = walk * COST_PROBE
    return min(costs, key=costs.__getitem__)


def _count(conn: sqlite3.Connection, source: str, params: list[Any], cap: int) -> int:
    return conn.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {source} LIMIT ?)", [*params, cap]
    ).fetchone()[0]


_NEEDLE_FIELDS = {
    None: ("subject", "author", "masked_address", "body_text"),
    "subject": ("subject",),
    "author": ("author", "masked_address"),
}


def _passing_residual(conn: sqlite3.Connection, plan: _Plan, ids: list[int]) -> list[int]:
    """Those of ``ids`` whose messages pass the plan's residual conditions."""
    rows = conn.execute(
        "SELECT m.id FROM messages m WHERE m.id IN (SELECT value FROM json_each(:checked_ids))"
        f" AND {_where(plan.residual)}",
        {**plan.compiler.params, "checked_ids": json.dumps(ids)},
    )
    return [row[0] for row in rows]


def _passing_needles(
    conn: sqlite3.Connection, ids: list[int], needles: list[tuple[str, str | None]]
) -> set[int]:
    passed = set()
    rows = conn.execute(
        "SELECT id, subject, author, masked_address FROM messages"
        " WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(ids),),
    )
    names = ("id", "subject", "author", "masked_address")
    for row in rows:
        fields = dict(zip(names, row, strict=True))
        # The body is read only when the short fields do not settle it: it may be
        # megabytes.
        short = [
            (pattern, column)
            for pattern, column in needles
            if not _contains(pattern, *(fields.get(name) for name in _NEEDLE_FIELDS[column]))
        ]
        if any(column is not None for _, column in short):
            continue  # a subject: or from: identifier is missing
        if short:
            (body,) = conn.execute(
                "SELECT body_text FROM messages WHERE id = ?", (fields["id"],)
            ).fetchone()
            if not all(_contains(pattern, body) for pattern, _ in short):
                continue
        passed.add(fields["id"])
    return passed


def _hits(
    conn: sqlite3.Connection,
    ranked: list[tuple[int, float | None]],
    plan: _Plan,
    *,
    snippets: bool,
    highlight: tuple[str, str],
) -> list[SearchHit]:
    if not ranked:
        return []
    ids = [row[0] for row in ranked]
    id_list = json.dumps(ids)
    messages = {
        row[0]: row
        for row in conn.execute(
            "SELECT id, subject, author, masked_address, posted_at FROM messages"
            " WHERE id IN (SELECT value FROM json_each(?))",
            (id_list,),
        )
    }
    postings: dict[int, list[tuple]] = {}
    for row in conn.execute(
        "SELECT message_id, group_key, topic_id, thread_id, url FROM postings"
        " WHERE message_id IN (SELECT value FROM json_each(?)) ORDER BY message_id, id",
        (id_list,),
    ):
        postings.setdefault(row[0], []).append(row)
    texts = _snippets(conn, ids, plan, highlight) if snippets else {}
    hits = []
    for message_id, score in ranked:
        _, subject, author, masked, posted_at = messages[message_id]
        places = postings.get(message_id, [])
        first = places[0] if places else (message_id, "", "", None, "")
        groups = tuple(dict.fromkeys(place[1] for place in places))
        hits.append(
            SearchHit(
                id=message_id,
                subject=subject,
                author=author,
                masked_address=masked,
                posted_at=parse_utc(posted_at),
                groups=groups,
                url=first[4],
                group_key=first[1],
                topic_id=first[2],
                thread_id=first[3],
                snippet=texts.get(message_id, ""),
                score=None if score is None else -score,
            )
        )
    return hits


def _snippets(
    conn: sqlite3.Connection, ids: list[int], plan: _Plan, highlight: tuple[str, str]
) -> dict[int, str]:
    """A short excerpt of each body, matches marked; computed for these rows only."""
    from archive.snippets import excerpt

    regex = _compiled(plan.highlight) if plan.highlight else None
    scans = None if plan.scans is None else [re.compile(s) for s in plan.scans]
    found = {}
    for message_id in ids:
        body, more = _body_head(conn, message_id)
        found[message_id] = excerpt(body, regex, highlight, scans=scans, more=more)
    return found


# The bytes of a body a snippet may need: as far as the scan for a first match goes,
# and the window after it.
SNIPPET_BYTES = 1_000_000 + 16_384


def _body_head(
    conn: sqlite3.Connection, message_id: int, limit: int = SNIPPET_BYTES
) -> tuple[str, bool]:
    """The start of a message's text (``limit`` bytes), and whether there is more.

    Read as a blob, so a 20 MB body costs the megabyte read, not 20 (SQLite loads a
    whole value for a SELECT, even under substr()).
    """
    try:
        with conn.blobopen("messages", "body_text", message_id, readonly=True) as blob:
            size = len(blob)
            data = blob.read(limit)
    except sqlite3.OperationalError:  # NULL, or no such row
        return "", False
    # A cut may split a character's bytes: drop that part.
    return data.decode("utf-8", errors="ignore"), size > len(data)


def _check(sort: str, limit: int | None, offset: int, reverse: bool = False) -> None:
    if reverse and sort != "date":
        raise ValueError("reverse lists oldest first: it needs sort='date'")
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {SORTS}, not {sort!r}")
    if limit is not None and limit < 0:
        raise ValueError("limit must be zero or more")
    if offset < 0:
        raise ValueError("offset must be zero or more")


# ---------------------------------------------------------------- public API


def search(
    db_or_archive: Any,
    query: str | Query = "",
    *,
    groups: Iterable[str] = (),
    authors: Iterable[str] = (),
    since: str | date | datetime | None = None,
    until: str | date | datetime | None = None,
    sort: str = "rank",
    limit: int | None = 20,
    offset: int = 0,
    snippets: bool = True,
    now: datetime | None = None,
    highlight: tuple[str, str] = ("**", "**"),
    exact: bool = False,
    own_words: bool = True,
    reverse: bool = False,
) -> list[SearchHit]:
    """Messages matching ``query`` and the filters, best first (or newest first).

    ``groups`` and ``authors`` match any of their values (like ``group:`` and
    ``from:``); ``since`` and ``until`` take dates, datetimes, or text such as
    ``2024-03-01`` or ``7d``; ``until`` includes a whole given day. A query without
    words (only filters, or empty) lists messages newest first. ``sort="rank"``
    orders by bm25 when there are words to rank by. ``highlight`` wraps the matched
    words in each snippet. Raises :class:`BadQuery` for a malformed query.

    Ranked by relevance, words found in more than :data:`RANK_BOUND` messages rank
    only the ``RANK_BOUND`` most recent matches (when no more results than that are
    asked for); ``exact=True`` ranks every match. With ``own_words`` (the default) the
    best :data:`RERANK_POOL` are reranked by the words each message writes itself, not
    those it quotes (see :func:`_rerank`); without it the order is bm25's alone.
    ``reverse`` (with ``sort="date"``) lists oldest first.
    """
    return list(
        iter_search(
            db_or_archive, query, groups=groups, authors=authors, since=since, until=until,
            sort=sort, limit=limit, offset=offset, snippets=snippets, now=now,
            highlight=highlight, exact=exact, own_words=own_words, reverse=reverse,
        )
    )


def iter_search(
    db_or_archive: Any,
    query: str | Query = "",
    *,
    groups: Iterable[str] = (),
    authors: Iterable[str] = (),
    since: str | date | datetime | None = None,
    until: str | date | datetime | None = None,
    sort: str = "rank",
    limit: int | None = 20,
    offset: int = 0,
    snippets: bool = True,
    now: datetime | None = None,
    highlight: tuple[str, str] = ("**", "**"),
    exact: bool = False,
    own_words: bool = True,
    reverse: bool = False,
) -> Iterator[SearchHit]:
    """The hits of :func:`search` (same arguments), read and snippeted
    :data:`HIT_BATCH` at a time as they are taken: ``--limit 0`` holds the ranked ids
    and one batch, not every hit. Errors are raised when the first hit is taken."""
    _check(sort, limit, offset, reverse)
    parsed = _build_query(query, groups=groups, authors=authors, since=since, until=until, now=now)
    with _Reading(db_or_archive) as conn:
        plan = _plan(conn, parsed)
        if own_words and sort == "rank" and plan.ranked and plan.drive is not None and limit != 0:
            # The best RERANK_POOL hits are reranked whatever the page, so every page and
            # every limit see one order (a pool no deeper than the bound, which decides
            # how the pool itself is found).
            pool = None if limit is None else max(offset + limit, min(RERANK_POOL, RANK_BOUND))
            candidates = _ranked_ids(conn, plan, sort, pool, 0, exact=exact)
            end = None if limit is None else offset + limit
            ranked = _rerank(conn, plan, candidates)[offset:end]
        else:
            ranked = _ranked_ids(
                conn, plan, sort, limit, offset, exact=exact, oldest_first=reverse
            )
        for start in range(0, len(ranked), HIT_BATCH):
            batch = ranked[start : start + HIT_BATCH]
            yield from _hits(conn, batch, plan, snippets=snippets, highlight=highlight)


def matching_message_ids(
    db_or_archive: Any,
    query: str | Query = "",
    *,
    groups: Iterable[str] = (),
    authors: Iterable[str] = (),
    since: str | date | datetime | None = None,
    until: str | date | datetime | None = None,
    sort: str = "date",
    limit: int | None = None,
    now: datetime | None = None,
    exact: bool = False,
) -> list[int]:
    """The ids of every message matching (newest first, or best first with ``"rank"``).

    For ``export --query`` and ``feed --query``: no snippets, no row reads. A ranked
    ``limit`` is bounded as in :func:`search` unless ``exact``.
    """
    _check(sort, limit, 0)
    parsed = _build_query(query, groups=groups, authors=authors, since=since, until=until, now=now)
    with _Reading(db_or_archive) as conn:
        plan = _plan(conn, parsed)
        return [row[0] for row in _ranked_ids(conn, plan, sort, limit, 0, exact=exact)]


def search_threads(
    db_or_archive: Any,
    query: str | Query = "",
    *,
    groups: Iterable[str] = (),
    authors: Iterable[str] = (),
    since: str | date | datetime | None = None,
    until: str | date | datetime | None = None,
    sort: str = "rank",
    limit: int | None = 20,
    offset: int = 0,
    now: datetime | None = None,
    reverse: bool = False,
) -> list[ThreadHit]:
    """Threads holding matching messages, one per thread with its number of hits.

    A message cross-posted to several groups counts in each group's thread; with
    group filters, only threads in those groups are listed. Ranked by the best hit
    in the thread, or by the newest hit with ``sort="date"`` (the oldest first with
    ``reverse``: threads whose latest hit is oldest).
    """
    _check(sort, limit, offset, reverse)
    parsed = _build_query(query, groups=groups, authors=authors, since=since, until=until, now=now)
    with _Reading(db_or_archive) as conn:
        plan = _plan(conn, parsed)
        hits = _ranked_ids(conn, plan, sort, None, 0)
        if not hits:
            return []
        scored = sort == "rank" and plan.ranked and plan.drive is not None
        ids = json.dumps([[message_id, score] for message_id, score in hits])
        params: dict[str, Any] = {"hits": ids}
        in_groups = ""
        if plan.group_keys:
            in_groups = " AND p.group_key IN (SELECT value FROM json_each(:groups))"
            params["groups"] = json.dumps(plan.group_keys)
        order = "best, latest DESC" if scored else "latest DESC, best"
        if reverse:
            order = "latest, best"
        window = ""
        if limit is not None:
            window = " LIMIT :limit OFFSET :offset"
            params.update(limit=limit, offset=offset)
        rows = conn.execute(
            f"""
            WITH hits AS (
                SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS score
                FROM json_each(:hits)
            ), per_thread AS (
                SELECT p.thread_id, count(DISTINCT h.id) AS hits, min(h.score) AS best,
                       max(m.posted_at) AS latest
                FROM hits h
                JOIN postings p ON p.message_id = h.id{in_groups}
                JOIN messages m ON m.id = h.id
                GROUP BY p.thread_id
            )
            SELECT t.id, t.group_key, t.topic_id, t.subject, t.url, pt.hits,
                   t.message_count, pt.latest, t.last_activity_at, pt.best
            FROM per_thread pt JOIN threads t ON t.id = pt.thread_id
            ORDER BY {order}, t.id{window}
            """,
            params,
        ).fetchall()
    return [
        ThreadHit(
            thread_id=row[0],
            group_key=row[1],
            topic_id=row[2],
            subject=row[3],
            url=row[4],
            hits=row[5],
            message_count=row[6],
            latest_hit_at=parse_utc(row[7]),
            last_activity_at=parse_utc(row[8]) if row[8] else None,
            score=-row[9] if scored else None,
        )
        for row in rows
    ]
