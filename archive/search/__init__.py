"""Full-text search over the archive, read-only: the query language compiled to FTS5 and SQL.

The data flow, one module each:

1. :mod:`archive.query` parses the text into a tree (the only place that raises
   :class:`~scraper.errors.BadQuery` for what the user typed);
2. :mod:`archive.search.compiler` turns the tree into a driving FTS5 expression and
   residual SQL conditions, always valid whatever the text;
3. :mod:`archive.search.planner` chooses how to find the hits (ranked, bounded, a date
   band, a walk by date), returning a :class:`~archive.search.planner.Plan` with the
   estimates it chose by;
4. :mod:`archive.search.runner` runs it, reranks the best hits by their own words,
   reads the rows shown and cuts their snippets (:mod:`archive.snippets`);
5. :mod:`archive.search.results` holds what comes out.

Every tuning number is in :mod:`archive.search.tuning`. Nothing here imports HTTP or
HTML code (nor sqlite-utils), so ``listarchive search`` starts quickly.
"""

from __future__ import annotations

from archive.query import parse_query
from archive.search.compiler import resolve_group
from archive.search.results import SearchHit, ThreadHit
from archive.search.runner import (
    SORTS,
    iter_search,
    iter_search_threads,
    matching_message_ids,
    open_archive,
    search,
    search_threads,
)
from archive.search.tuning import FTS_COLUMNS, RANK_BOUND, WEIGHTS

__all__ = [
    "FTS_COLUMNS",
    "RANK_BOUND",
    "SORTS",
    "SearchHit",
    "ThreadHit",
    "WEIGHTS",
    "iter_search",
    "iter_search_threads",
    "matching_message_ids",
    "open_archive",
    "parse_query",
    "resolve_group",
    "search",
    "search_threads",
]
