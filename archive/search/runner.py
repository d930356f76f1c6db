"""Running a search: a plan's statement executed, hits reranked, read and snippeted.

The order of the work: :func:`archive.search.compiler.compile_query`, then
:func:`archive.search.planner.plan`, then here the ids to show are found (with
LIMIT), the best few reranked by their own words (:func:`_rerank`), and only then
are the rows shown read in full and their snippets cut from the text
(:mod:`archive.snippets`), a batch at a time as they are taken.

SQLite's failures while searching: a locked, full or corrupt archive is the user's
one-line error (:func:`archive.connection.sqlite_failure`); any other, a syntax error
included, is :class:`~scraper.errors.SearchBug`. The compiler writes only valid FTS5
and SQL, so only the query parser tells the user their query is wrong.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from archive.query import Query
from archive.search import planner, tuning
from archive.search.compiler import (
    Compiled,
    Params,
    build_query,
    cached_regex,
    compile_query,
    contains,
    hit_source,
    index_tokens,
    terms,
    where,
)
from archive.search.results import SearchHit, ThreadHit
from archive.text import is_quoted
from archive.times import parse_utc
from scraper.errors import ArchiveError, SearchBug

__all__ = [
    "iter_search",
    "iter_search_threads",
    "matching_message_ids",
    "open_archive",
    "search",
    "search_threads",
]

SORTS = ("rank", "date")


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


class Reading:
    """Context: the connection, with SQLite failures turned into one-line errors."""

    def __init__(self, db_or_archive: Any) -> None:
        self.conn, self.opened = _connection(db_or_archive)
        self.conn.create_function("listarchive_contains", -1, contains, deterministic=True)

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc is not None and isinstance(exc, sqlite3.Error):
                raise _failure(self.conn, exc) from exc
        finally:
            if self.opened:
                self.conn.close()


def _failure(conn: sqlite3.Connection, exc: sqlite3.Error) -> Exception:
    """What an SQLite error while searching means: the archive's state, or a bug."""
    from archive.connection import sqlite_failure

    failure = sqlite_failure(exc, "the archive")
    if failure is not None:
        return failure
    if _older_schema(conn):
        return ArchiveError("the archive was made by an older listarchive; run listarchive sync")
    return SearchBug(" ".join(f"search: {type(exc).__name__}: {exc}".split())[:300])


def _older_schema(conn: sqlite3.Connection) -> bool:
    try:
        applied = conn.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0]
    except sqlite3.Error:
        return False
    from archive.db import SCHEMA_VERSION  # only here: sqlite-utils is slow to import

    return applied < SCHEMA_VERSION


# ---------------------------------------------------------------- finding the ids


def _ranked_ids(
    conn: sqlite3.Connection,
    compiled: Compiled,
    sort: str,
    limit: int | None,
    offset: int,
    *,
    exact: bool = False,
    oldest_first: bool = False,
) -> list[tuple[int, float | None]]:
    """``(message id, score)`` of the hits to show, in order (by date: newest first, or
    ``oldest_first``). A ranking bounded as the planner says unless ``exact``."""
    if limit == 0:
        return []
    wanted = None if limit is None else offset + limit
    rank = sort == "rank" and compiled.ranked
    chosen = planner.plan(
        conn, compiled, rank=rank, wanted=wanted, exact=exact, oldest_first=oldest_first
    )
    if chosen.strategy == "walk":
        assert wanted is not None and chosen.walk_from is not None
        walked = _rowid_walk(conn, compiled, chosen.walk_from == "DESC", wanted)
        if walked is not None:
            return walked[offset:]
        chosen = planner.after_walk(conn, compiled, chosen)
    params = Params(compiled.params)
    sql = _ordered_sql(compiled, chosen, params)
    if not compiled.needles and not chosen.dates_later:
        window = {"window_limit": -1 if limit is None else limit, "window_offset": offset}
        return conn.execute(
            sql + " LIMIT :window_limit OFFSET :window_offset", {**params.values, **window}
        ).fetchall()
    # Identifiers are checked on the text of candidates in their final order, and only
    # until enough have passed: the index already narrowed them to their words. Dates
    # left for later are checked the same way.
    cursor = conn.execute(sql, params.values)
    kept: list[tuple[int, float | None]] = []
    while wanted is None or len(kept) < wanted:
        batch = cursor.fetchmany(tuning.CHECK_BATCH)
        if not batch:
            break
        ids = [row[0] for row in batch]
        if chosen.dates_later:
            ids = _passing_residual(conn, compiled, chosen.residual, ids)
        passed = _passing_needles(conn, ids, compiled.needles) if compiled.needles else set(ids)
        kept += [row for row in batch if row[0] in passed]
    cursor.close()
    return kept[offset:wanted]


def _ordered_sql(compiled: Compiled, chosen: planner.Plan, params: Params) -> str:
    """SELECT (id, score) of every match, in the order to show them.

    Ranking takes every hit within the plan's bounds: bm25 needs them all (and scoring
    one message at a time would recount the whole index to weigh each word). Sorted by
    date, a few hits are sorted outright ("all"); many are found by walking the
    posted_at index newest first, testing each message against the index ("probe": a
    common word) or against the set of hits built once ("set": a prefix, or a word that
    is not that common).
    """
    residual = () if chosen.dates_later else chosen.residual
    conditions = where(residual)
    newest_first = " ORDER BY m.posted_at DESC, m.id DESC"
    if chosen.oldest_first:
        newest_first = " ORDER BY m.posted_at, m.id"
    if compiled.drive is None:
        return f"SELECT m.id, NULL FROM messages m WHERE {conditions}{newest_first}"
    if chosen.strategy == "probe":
        drive = params.add(compiled.drive)
        member = (
            f"EXISTS (SELECT 1 FROM messages_fts WHERE messages_fts MATCH {drive}"
            " AND messages_fts.rowid = m.id)"
        )
        return f"SELECT m.id, NULL FROM messages m WHERE {member} AND {conditions}{newest_first}"
    if chosen.strategy == "set":
        drive = params.add(compiled.drive)
        # The unary + keeps SQLite from looking messages up by the set: it walks the
        # posted_at index instead, newest first, and stops once it has enough.
        hit_set = f"+m.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH {drive})"
        return f"SELECT m.id, NULL FROM messages m WHERE {hit_set} AND {conditions}{newest_first}"
    if chosen.rank:
        score = "bm25(messages_fts, " + ", ".join(str(w) for w in tuning.WEIGHTS) + ")"
        source = hit_source(compiled, residual, params, chosen.bounds)
        return f"SELECT messages_fts.rowid, {score} AS score {source} ORDER BY score, 1"
    source = hit_source(compiled, residual, params, chosen.bounds, joined=True)
    return f"SELECT m.id, NULL {source}{newest_first}"


def _rowid_walk(
    conn: sqlite3.Connection, compiled: Compiled, descending: bool, wanted: int
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
    size = max(tuning.WALK_BATCH_FACTOR * wanted, tuning.WALK_FIRST_BATCH)
    batch = _hits_by_rowid(conn, compiled, descending, None, None, size)
    best = _newest(conn, compiled, batch, [], wanted)
    if len(batch) < size:
        return [(i, None) for _, i in best]  # every hit has been read
    if len(best) < wanted:
        return None
    edge = batch[-1]
    # Where the messages at least as new as the last one kept begin (or end).
    count, band_edge = conn.execute(
        f"SELECT count(*), {'min' if descending else 'max'}(id) FROM"
        " (SELECT id FROM messages WHERE posted_at >= ? LIMIT ?)",
        (best[-1][0], tuning.WALK_NEWER_CAP + 1),
    ).fetchone()
    if count > tuning.WALK_NEWER_CAP:
        return None
    if (band_edge >= edge) if descending else (band_edge <= edge):
        return [(i, None) for _, i in best]  # none of them is beyond the batch
    low, high = (band_edge, edge - 1) if descending else (edge + 1, band_edge)
    band = _hits_by_rowid(conn, compiled, descending, low, high, tuning.WALK_BAND_CAP + 1)
    if len(band) > tuning.WALK_BAND_CAP:
        return None
    return [(i, None) for _, i in _newest(conn, compiled, band, best, wanted)]


def _hits_by_rowid(
    conn: sqlite3.Connection,
    compiled: Compiled,
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
            {"walk_drive": compiled.drive, "walk_low": low, "walk_high": high,
             "walk_limit": limit},
        )
    ]


def _newest(
    conn: sqlite3.Connection,
    compiled: Compiled,
    ids: list[int],
    best: list[tuple[str, int]],
    wanted: int,
) -> list[tuple[str, int]]:
    """``best`` with the hits among ``ids`` that pass the filters: the ``wanted``
    newest (posted_at, id) pairs, newest first."""
    rows = conn.execute(
        "SELECT m.id, m.posted_at FROM messages m"
        f" WHERE m.id IN (SELECT value FROM json_each(:walk_ids)) AND {where(compiled.residual)}",
        {**compiled.params, "walk_ids": json.dumps(ids)},
    ).fetchall()
    if compiled.needles and rows:
        passed = _passing_needles(conn, [row[0] for row in rows], compiled.needles)
        rows = [row for row in rows if row[0] in passed]
    return sorted(best + [(posted, i) for i, posted in rows], reverse=True)[:wanted]


_NEEDLE_FIELDS = {
    None: ("subject", "author", "masked_address", "body_text"),
    "subject": ("subject",),
    "author": ("author", "masked_address"),
}


def _passing_residual(
    conn: sqlite3.Connection, compiled: Compiled, residual: Sequence[str], ids: list[int]
) -> list[int]:
    """Those of ``ids`` whose messages pass the ``residual`` conditions."""
    rows = conn.execute(
        "SELECT m.id FROM messages m WHERE m.id IN (SELECT value FROM json_each(:checked_ids))"
        f" AND {where(residual)}",
        {**compiled.params, "checked_ids": json.dumps(ids)},
    )
    return [row[0] for row in rows]


def _passing_needles(
    conn: sqlite3.Connection, ids: list[int], needles: Sequence[tuple[str, str | None]]
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
            if not contains(pattern, *(fields.get(name) for name in _NEEDLE_FIELDS[column]))
        ]
        if any(column is not None for _, column in short):
            continue  # a subject: or from: identifier is missing
        if short:
            (body,) = conn.execute(
                "SELECT body_text FROM messages WHERE id = ?", (fields["id"],)
            ).fetchone()
            if not all(contains(pattern, body) for pattern, _ in short):
                continue
        passed.add(fields["id"])
    return passed


# ---------------------------------------------------------------- reranking


def _rerank(
    conn: sqlite3.Connection, compiled: Compiled, ranked: list[tuple[int, float | None]]
) -> list[tuple[int, float | None]]:
    """The best ``RERANK_POOL`` hits reordered by their own words.

    bm25 counts a reply's quote of the announcement as the reply's words, so a short
    reply that quotes the key lines outranks the long announcement it quotes. Here the
    body's share of each score is scaled by the share of the query's words that the
    message writes itself (outside ``>`` lines), and the opening post of a thread whose
    subject matches gets ``ORIGINAL_POST_BOOST``. Deeper hits keep bm25's order.
    """
    head, tail = ranked[: tuning.RERANK_POOL], ranked[tuning.RERANK_POOL :]
    if not head:
        return ranked
    words = [
        (word, term.prefix and n == len(found) - 1)
        for node in compiled.driving
        for term in terms(node, positive_only=True)
        if term.column is None
        for found in [index_tokens(term.text)]
        for n, word in enumerate(found)
    ]
    if not words:
        return ranked
    ids = [message_id for message_id, _ in head]
    marks = ", ".join("?" * len(ids))
    # The bodies are read as blobs, up to what is needed: SQLite loads a whole value
    # for a SELECT, even under substr(), and one body may be a 20 MB log.
    texts = {
        row[0]: (
            row[1],
            _body_head(conn, row[0], tuning.RERANK_TEXT * 4)[0][: tuning.RERANK_TEXT],
            row[2],
        )
        for row in conn.execute(
            "SELECT m.id, m.subject, EXISTS (SELECT 1 FROM"
            " postings p WHERE p.message_id = m.id AND p.position = 0) FROM messages m"
            f" WHERE m.id IN ({marks})",
            ids,
        )
    }
    weights = tuning.WEIGHTS
    rescored = []
    for order, (message_id, score) in enumerate(head):
        if score is None or message_id not in texts:
            return ranked
        subject, body, opening = texts[message_id]
        in_subject = sum(1 for _ in _word_starts(words, (subject or "").lower()))
        own, quoted = _own_and_quoted_hits(words, body or "")
        # The score's share that came from quoted words, by the index's own weights
        # (bm25 is not additive, so this is an estimate; it only ever lowers a score).
        weighted = weights[0] * in_subject + weights[-1] * (own + quoted)
        adjusted = score * ((weighted - weights[-1] * quoted) / weighted if weighted else 1.0)
        if opening and in_subject:
            adjusted *= tuning.ORIGINAL_POST_BOOST
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


# ---------------------------------------------------------------- reading the hits


def _hits(
    conn: sqlite3.Connection,
    ranked: list[tuple[int, float | None]],
    compiled: Compiled,
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
    texts = _snippets(conn, ids, compiled, highlight) if snippets else {}
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
    conn: sqlite3.Connection, ids: list[int], compiled: Compiled, highlight: tuple[str, str]
) -> dict[int, str]:
    """A short excerpt of each body, matches marked; computed for these rows only."""
    from archive.snippets import excerpt

    regex = cached_regex(compiled.highlight) if compiled.highlight else None
    scans = None if compiled.scans is None else [re.compile(s) for s in compiled.scans]
    found = {}
    for message_id in ids:
        body, more = _body_head(conn, message_id)
        found[message_id] = excerpt(body, regex, highlight, scans=scans, more=more)
    return found


def _body_head(
    conn: sqlite3.Connection, message_id: int, limit: int | None = None
) -> tuple[str, bool]:
    """The start of a message's text (``limit`` bytes, by default what a snippet may
    need), and whether there is more.

    Read as a blob, so a 20 MB body costs the megabyte read, not 20 (SQLite loads a
    whole value for a SELECT, even under substr()).
    """
    try:
        with conn.blobopen("messages", "body_text", message_id, readonly=True) as blob:
            size = len(blob)
            data = blob.read(tuning.SNIPPET_BYTES if limit is None else limit)
    except sqlite3.OperationalError:  # NULL, or no such row
        return "", False
    # A cut may split a character's bytes: drop that part.
    return data.decode("utf-8", errors="ignore"), size > len(data)


# ---------------------------------------------------------------- public API


def _check(sort: str, limit: int | None, offset: int, reverse: bool = False) -> None:
    if reverse and sort != "date":
        raise ValueError("reverse lists oldest first: it needs sort='date'")
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {SORTS}, not {sort!r}")
    if limit is not None and limit < 0:
        raise ValueError("limit must be zero or more")
    if offset < 0:
        raise ValueError("offset must be zero or more")


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

    Ranked by relevance, words found in more than ``RANK_BOUND`` messages rank only
    the ``RANK_BOUND`` most recent matches (when no more results than that are asked
    for); ``exact=True`` ranks every match. With ``own_words`` (the default) the best
    ``RERANK_POOL`` are reranked by the words each message writes itself, not those it
    quotes (see :func:`_rerank`); without it the order is bm25's alone. ``reverse``
    (with ``sort="date"``) lists oldest first.
    """
    return list(
        iter_search(
            db_or_archive, query, groups=groups, authors=authors, since=since, until=until,
            sort=sort, limit=limit, offset=offset, snippets=snippets, now=now,
            highlight=highlight, exact=exact, own_words=own_words, reverse=reverse,
        )
    )  # fmt: skip


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
    """The hits of :func:`search` (same arguments), read and snippeted ``HIT_BATCH`` at
    a time as they are taken: ``--limit 0`` holds the ranked ids and one batch, not
    every hit. Errors are raised when the first hit is taken."""
    _check(sort, limit, offset, reverse)
    parsed = build_query(query, groups=groups, authors=authors, since=since, until=until, now=now)
    with Reading(db_or_archive) as conn:
        compiled = compile_query(conn, parsed)
        rerank = own_words and sort == "rank" and compiled.ranked
        if rerank and compiled.drive is not None and limit != 0:
            # The best RERANK_POOL hits are reranked whatever the page, so every page and
            # every limit see one order (a pool no deeper than the bound, which decides
            # how the pool itself is found).
            pool = None
            if limit is not None:
                pool = max(offset + limit, min(tuning.RERANK_POOL, tuning.RANK_BOUND))
            candidates = _ranked_ids(conn, compiled, sort, pool, 0, exact=exact)
            end = None if limit is None else offset + limit
            ranked = _rerank(conn, compiled, candidates)[offset:end]
        else:
            ranked = _ranked_ids(
                conn, compiled, sort, limit, offset, exact=exact, oldest_first=reverse
            )
        for start in range(0, len(ranked), tuning.HIT_BATCH):
            batch = ranked[start : start + tuning.HIT_BATCH]
            yield from _hits(conn, batch, compiled, snippets=snippets, highlight=highlight)


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
    parsed = build_query(query, groups=groups, authors=authors, since=since, until=until, now=now)
    with Reading(db_or_archive) as conn:
        compiled = compile_query(conn, parsed)
        return [row[0] for row in _ranked_ids(conn, compiled, sort, limit, 0, exact=exact)]


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
    return list(
        iter_search_threads(
            db_or_archive, query, groups=groups, authors=authors, since=since, until=until,
            sort=sort, limit=limit, offset=offset, now=now, reverse=reverse,
        )
    )  # fmt: skip


def iter_search_threads(
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
) -> Iterator[ThreadHit]:
    """The threads of :func:`search_threads` (same arguments), read ``HIT_BATCH`` at a
    time as they are taken: every hit's id is held, not every thread's record.
    Errors are raised when the first thread is taken."""
    _check(sort, limit, offset, reverse)
    parsed = build_query(query, groups=groups, authors=authors, since=since, until=until, now=now)
    with Reading(db_or_archive) as conn:
        compiled = compile_query(conn, parsed)
        hits = _ranked_ids(conn, compiled, sort, None, 0)
        if not hits:
            return
        scored = sort == "rank" and compiled.ranked and compiled.drive is not None
        ids = json.dumps(hits)  # [[id, score], ...]: the pairs as arrays
        del hits
        params: dict[str, Any] = {"hits": ids}
        in_groups = ""
        if compiled.group_keys:
            in_groups = " AND p.group_key IN (SELECT value FROM json_each(:groups))"
            params["groups"] = json.dumps(compiled.group_keys)
        order = "best, latest DESC" if scored else "latest DESC, best"
        if reverse:
            order = "latest, best"
        window = ""
        if limit is not None:
            window = " LIMIT :limit OFFSET :offset"
            params.update(limit=limit, offset=offset)
        cursor = conn.execute(
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
        )
        while rows := cursor.fetchmany(tuning.HIT_BATCH):
            for row in rows:
                yield ThreadHit(
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
