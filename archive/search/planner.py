"""How to find a compiled query's hits, chosen from what the archive holds: :func:`plan`.

The ids to show are found first, with LIMIT: ranked by bm25, or newest first. What the
planner counts or reads to choose is returned in the :class:`Plan` as
:class:`Estimates`, never kept anywhere else.

- By date with many hits, a *rowid walk* reads the index from the end where syncs put
  the newest messages (see :mod:`archive.search.runner`); when that proves nothing,
  :func:`after_walk` chooses by a small cost model (:func:`_choose`): sort every hit
  ("all"), walk the posted_at index testing each message against the index ("probe")
  or against the set of hits built once ("set").
- A date range becomes a band of rowids (from the archive's date blocks), so the index
  skips the hits outside it instead of reading each one's date; when most of the band
  is in the range, hits are ranked without their dates, which are checked afterwards
  on the best few ("dates later").
- Ranked by bm25 with more than :data:`~archive.search.tuning.RANK_BOUND` hits, only
  the most recent ``RANK_BOUND`` are scored (:func:`_rank_floor`), unless every hit is
  asked for.

Every number this weighs is in :mod:`archive.search.tuning`.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable
from typing import Any, NamedTuple

from archive.query import And, DateRange, Node, Or, Term
from archive.search import tuning
from archive.search.compiler import Compiled, Params, fts_string, hit_source, index_tokens, where
from archive.times import utc_iso

__all__ = ["Estimates", "Plan", "after_walk", "plan"]

# Every rowid SQLite can hold: the band of a search without bounds.
ROWIDS = (-(2**63), 2**63 - 1)


class Estimates(NamedTuple):
    """What the planner counted to choose, each None when it did not need to know.

    (A named tuple, like :class:`Plan`, as immutable as a frozen dataclass and a tenth of
    its cost to define at start-up: 0.2 ms against 2.)"""

    many_hits: bool | None = None  # the drive has at least FEW_HITS hits
    hits: int | None = None  # at least the drive's hits, counted by its words up to the bound
    hits_counted: bool = False  # ``hits`` was worked out (None then: no words to count)
    in_range: int | None = None  # messages in the date range's band of rowids
    band_exact: bool = False  # every message of the band is in the date range


class Plan(NamedTuple):
    """How the runner finds the hits: ``strategy`` is "walk" (rowid walk, newest first,
    from the end ``walk_from``: "DESC" or "ASC"), or a statement ordering every hit
    ("all"), or one walking the posted_at index newest first ("set", "probe")."""

    rank: bool  # ordered by bm25 (else by date)
    oldest_first: bool
    wanted: int | None  # offset + limit; None for every hit
    exact: bool  # rank every hit, whatever their number
    strategy: str
    walk_from: str | None = None
    bounds: tuple[int, int] | None = None  # the band of rowids the hits lie in
    residual: tuple[str, ...] = ()  # the compiled conditions still to check
    dates_later: bool = False  # rank the band without dates, check the best ones' after
    estimates: Estimates = Estimates()


def plan(
    conn: sqlite3.Connection,
    compiled: Compiled,
    *,
    rank: bool,
    wanted: int | None,
    exact: bool = False,
    oldest_first: bool = False,
) -> Plan:
    """The plan for ``wanted`` hits of ``compiled`` (None: all), by bm25 when ``rank``.

    Unless ``exact``, a ranking that shows no more than ``RANK_BOUND`` results scores
    only the ``RANK_BOUND`` most recent hits.
    """
    estimates = Estimates()
    # The walks and the cost model serve newest first; oldest first sorts every hit.
    if compiled.drive is not None and wanted is not None and not rank and not oldest_first:
        many = _many_hits(conn, compiled)
        estimates = estimates._replace(many_hits=many)
        if many:
            direction = _walk_direction(conn, compiled)
            if direction is not None:
                return Plan(
                    rank, oldest_first, wanted, exact, "walk", walk_from=direction,
                    residual=compiled.residual, estimates=estimates,
                )  # fmt: skip
            choice = _choose(conn, compiled, wanted)
            return _finish(conn, compiled, rank, wanted, exact, oldest_first, choice, estimates)
    return _finish(conn, compiled, rank, wanted, exact, oldest_first, "all", estimates)


def after_walk(conn: sqlite3.Connection, compiled: Compiled, walk: Plan) -> Plan:
    """The plan by dates to run when a rowid walk could not prove it had the newest."""
    assert walk.wanted is not None
    choice = _choose(conn, compiled, walk.wanted)
    return _finish(
        conn, compiled, walk.rank, walk.wanted, walk.exact, walk.oldest_first, choice,
        walk.estimates,
    )  # fmt: skip


def _finish(
    conn: sqlite3.Connection,
    compiled: Compiled,
    rank: bool,
    wanted: int | None,
    exact: bool,
    oldest_first: bool,
    choice: str,
    estimates: Estimates,
) -> Plan:
    bounds = None
    if choice == "all":
        bounds, estimates = _rowid_bounds(conn, compiled, estimates)
    residual = compiled.residual
    if bounds is not None and compiled.dates_only and estimates.band_exact:
        residual = ()  # every message in the band is in the range: no date needs reading
    if rank and not exact and compiled.drive is not None and wanted is not None:
        if wanted <= tuning.RANK_BOUND:
            floor, estimates = _rank_floor(conn, compiled, residual, bounds, estimates)
            bounds = floor or bounds
    return Plan(
        rank, oldest_first, wanted, exact, choice, bounds=bounds, residual=residual,
        dates_later=rank and _dates_later(compiled, bounds, estimates), estimates=estimates,
    )  # fmt: skip


def _dates_later(compiled: Compiled, bounds: tuple[int, int] | None, estimates: Estimates) -> bool:
    """Whether to rank the hits in a date range's band of rowids without their dates,
    and check the dates of the best ones afterwards.

    Reading a message's date costs more than scoring it (joining each hit of a word in
    4% of a million messages to its message took 6.7 ms of a 10.3 ms ranking), and when
    most messages in the band are in the range, the first few dozen best hits give the
    top 20.
    """
    in_range = estimates.in_range
    if not compiled.dates_only or bounds is None or not in_range:
        return False
    return in_range * 2 >= bounds[1] - bounds[0] + 1


# ---------------------------------------------------------------- counting


def _count(conn: sqlite3.Connection, source: str, params: list[Any], cap: int) -> int:
    return conn.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {source} LIMIT ?)", [*params, cap]
    ).fetchone()[0]


def _many_hits(conn: sqlite3.Connection, compiled: Compiled) -> bool:
    """Whether the hits are too many to sort them all without a second thought."""
    hits = _count(
        conn, "messages_fts WHERE messages_fts MATCH ?", [compiled.drive], cap=tuning.FEW_HITS
    )
    return hits >= tuning.FEW_HITS


def _estimated_hits(
    conn: sqlite3.Connection, compiled: Compiled, estimates: Estimates
) -> tuple[int | None, Estimates]:
    """At least as many as the hits of the drive, or more than ``RANK_BOUND``; None
    when no part of the query can be counted by its words. Counted once per plan."""
    if not estimates.hits_counted:
        hits = _least(conn, compiled.driving)
        estimates = estimates._replace(hits=hits, hits_counted=True)
    return estimates.hits, estimates


def _least(conn: sqlite3.Connection, nodes: Iterable[Node]) -> int | None:
    """The smallest estimate among ``nodes`` (all must match), stopping at the first
    that is within the bound: that already settles the question."""
    least = None
    for node in nodes:
        estimate = _estimate(conn, node)
        if estimate is not None:
            least = estimate if least is None else min(least, estimate)
            if least <= tuning.RANK_BOUND:
                break
    return least


def _estimate(conn: sqlite3.Connection, node: Node) -> int | None:
    if isinstance(node, Term):
        words = index_tokens(node.text)
        if node.substring or not words:
            return None
        # A phrase has no more hits than its rarest word.
        last = len(words) - 1
        least = None
        for i, word in enumerate(words):
            count = _documents(conn, word, prefix=node.prefix and i == last)
            least = count if least is None else min(least, count)
            if least <= tuning.RANK_BOUND:
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
            if total > tuning.RANK_BOUND:
                break
        return total
    return None  # a negation, a date, a group: no bound on the hits


def _documents(conn: sqlite3.Connection, word: str, *, prefix: bool) -> int:
    """How many messages hold ``word`` (or a word it begins), counted up to one more
    than ``RANK_BOUND``."""
    # Counting stops there, so a word in half the archive costs no more to count than
    # a word at the bound. (fts5vocab's per-word counts read a word's every entry: 7 ms
    # for a word in a third of a million messages.)
    return _count(
        conn,
        "messages_fts WHERE messages_fts MATCH ?",
        [fts_string(word) + ("*" if prefix else "")],
        cap=tuning.RANK_BOUND + 1,
    )


# ---------------------------------------------------------------- bounded ranking


def _rank_floor(
    conn: sqlite3.Connection,
    compiled: Compiled,
    residual: tuple[str, ...],
    bounds: tuple[int, int] | None,
    estimates: Estimates,
) -> tuple[tuple[int, int] | None, Estimates]:
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
    assert compiled.drive is not None
    if bounds is not None:
        # The band holds every hit of the date range and then some, so when it has
        # fewer than the bound the range has fewer still. Counting them is cheap, while
        # the probe below may read each hit's message for its date.
        if _band_hits(conn, compiled, bounds) < tuning.RANK_BOUND:
            return None, estimates
    else:
        estimate, estimates = _estimated_hits(conn, compiled, estimates)
        if estimate is not None and estimate <= tuning.RANK_BOUND:
            return None, estimates
    low, high = bounds or ROWIDS
    direction = _newest_end(conn, compiled, bounds)
    if direction is None:
        return None, estimates
    params = Params(compiled.params)
    source = hit_source(compiled, residual, params, bounds)
    edge = conn.execute(
        f"SELECT messages_fts.rowid {source} ORDER BY messages_fts.rowid {direction}"
        " LIMIT 1 OFFSET :rank_offset",
        {**params.values, "rank_offset": tuning.RANK_BOUND - 1},
    ).fetchone()
    if edge is None:
        return None, estimates
    floor = (max(low, edge[0]), high) if direction == "DESC" else (low, min(high, edge[0]))
    return floor, estimates


def _band_hits(conn: sqlite3.Connection, compiled: Compiled, bounds: tuple[int, int]) -> int:
    """Hits of the drive with rowids within ``bounds``, whatever the other conditions,
    counted up to ``RANK_BOUND``."""
    return _count(
        conn,
        "messages_fts WHERE messages_fts MATCH ? AND rowid BETWEEN ? AND ?",
        [compiled.drive, *bounds],
        cap=tuning.RANK_BOUND,
    )


# ---------------------------------------------------------------- which end is newest


def _newest_end(
    conn: sqlite3.Connection, compiled: Compiled, bounds: tuple[int, int] | None
) -> str | None:
    """Which end of the rowids holds the newest messages: "DESC", "ASC", or None for
    neither. Within ``bounds`` (a date range's band), those of the range; otherwise
    those of the archive, which also orders the messages of any date range."""
    dated = "1"
    params: list[Any] = []
    if compiled.dates is not None and bounds is not None:
        dated, params = _in_dates(compiled.dates)
    newest = [
        row[0]
        for row in conn.execute(
            f"SELECT id FROM messages WHERE {dated} ORDER BY posted_at DESC, id DESC LIMIT ?",
            [*params, tuning.NEWEST_SAMPLE],
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
    margin = (high - low) * tuning.NEWEST_END_MARGIN
    if middle >= high - margin:
        return "DESC"
    if middle <= low + margin:
        return "ASC"
    return None


def _walk_direction(conn: sqlite3.Connection, compiled: Compiled) -> str | None:
    """Which end of the rowids holds the newest messages that pass the filters, if one:
    "DESC" when they were archived last, "ASC" when first, None when in the middle."""
    newest = [
        row[0]
        for row in conn.execute(
            f"SELECT m.id FROM messages m WHERE {where(compiled.residual)}"
            " ORDER BY m.posted_at DESC, m.id DESC LIMIT :newest_sample",
            {**compiled.params, "newest_sample": tuning.NEWEST_SAMPLE},
        )
    ]
    if not newest:
        return None
    # Two subqueries: SQLite answers a lone min() or max() from the b-tree, not both.
    low, high = conn.execute(
        "SELECT (SELECT min(id) FROM messages), (SELECT max(id) FROM messages)"
    ).fetchone()
    return _which_end(newest, low, high)


# ---------------------------------------------------------------- date ranges


def _rowid_bounds(
    conn: sqlite3.Connection, compiled: Compiled, estimates: Estimates
) -> tuple[tuple[int, int] | None, Estimates]:
    """The lowest and highest rowid of the messages in the query's date range.

    Syncs store messages roughly in date order, so a date range is usually a narrow
    band of rowids, and the index can skip the hits outside it instead of joining each
    to its message to read its date. Worth it only with many hits and a range that is
    not too large beside them; None otherwise.
    """
    if compiled.dates is None or compiled.drive is None:
        return None, estimates
    blocks = _block_band(conn, compiled.dates)
    if blocks is not None:
        band, in_range, exact = blocks
        return band, estimates._replace(in_range=in_range, band_exact=exact)
    # An estimate will do: it only weighs whether the band is worth finding.
    hits, estimates = _estimated_hits(conn, compiled, estimates)
    if hits is None:
        hits = _count(
            conn, "messages_fts WHERE messages_fts MATCH ?", [compiled.drive],
            cap=tuning.BAND_COUNT_CAP,
        )  # fmt: skip
    if hits < tuning.FEW_HITS:
        return None, estimates
    dated, params = _in_dates(compiled.dates)
    # Reading the range is worth it while it costs less than ranking every hit.
    cap = int(hits * tuning.COST_SORT / tuning.COST_RANGE)
    in_range, low, high = conn.execute(
        f"SELECT count(*), min(id), max(id) FROM (SELECT id FROM messages WHERE {dated} LIMIT ?)",
        [*params, cap + 1],
    ).fetchone()
    if in_range > cap:
        return None, estimates
    if not in_range:
        return (1, 0), estimates  # nothing in the range: no rowid qualifies
    estimates = estimates._replace(in_range=in_range)
    first, last = conn.execute(
        "SELECT (SELECT min(id) FROM messages), (SELECT max(id) FROM messages)"
    ).fetchone()
    if (high - low) > (last - first) * tuning.BAND_SHARE:
        return None, estimates
    return (low, high), estimates


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
        "start": None if dates.start is None else utc_iso(dates.start),
        "end": None if dates.end is None else utc_iso(dates.end),
    }
    try:
        rows = conn.execute(
            f"SELECT block, first_id, last_id, messages, {where(inside)}"
            f" FROM message_date_blocks WHERE {where(overlaps)} ORDER BY block",
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
    except sqlite3.OperationalError as err:
        if "no such table" not in str(err):
            raise
        return None  # an archive from before the blocks, opened read-only
    low, high = min(row[1] for row in rows), max(row[2] for row in rows)
    if (high - low) > (last - first) * tuning.BAND_SHARE:
        return None
    # Exact when no block between the first and the last lies outside the range, and
    # every one of them lies wholly inside it.
    exact = blocks == len(rows) and all(row[4] for row in rows)
    return (low, high), sum(row[3] for row in rows), exact


def _in_dates(dates: DateRange) -> tuple[str, list[Any]]:
    conditions, params = [], []
    if dates.start is not None:
        conditions.append("posted_at >= ?")
        params.append(utc_iso(dates.start))
    if dates.end is not None:
        conditions.append("posted_at < ?")
        params.append(utc_iso(dates.end))
    return where(conditions), params


# ---------------------------------------------------------------- plans by date


def _choose(conn: sqlite3.Connection, compiled: Compiled, wanted: int) -> str:
    """The cheapest date-order plan by the costs in tuning: "all", "set" or "probe"."""
    assert compiled.drive is not None
    messages = conn.execute("SELECT max(id) FROM messages").fetchone()[0] or 0
    # Count hits only as far as it can change the choice.
    if compiled.prefix:
        scale = tuning.COST_STEP / (tuning.COST_SORT - tuning.COST_SET)
    else:
        scale = (tuning.COST_PROBE - tuning.COST_STEP) / tuning.COST_SET
    cap = math.isqrt(int(scale * wanted * messages)) + 1
    hits = _count(conn, "messages_fts WHERE messages_fts MATCH ?", [compiled.drive], cap=cap)
    if hits < tuning.FEW_HITS:
        return "all"
    walk = min(wanted * messages / hits, messages)
    costs = {
        "all": hits * tuning.COST_SORT,
        "set": hits * tuning.COST_SET + walk * tuning.COST_STEP,
    }
    if not compiled.prefix:  # a prefix is expanded again on every probe
        costs["probe"] = walk * tuning.COST_PROBE
    return min(costs, key=costs.__getitem__)
