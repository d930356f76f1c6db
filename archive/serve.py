"""``listarchive serve``: browse an archive in Datasette, read-only.

Datasette does the serving; this module only describes the archive to it and adds
a small plugin:

- metadata: titles and descriptions, label columns (so a posting's message and
  thread read as subjects, a thread's group as its title), facets by group and
  author, search on ``messages`` and on the ``posts`` view, and canned queries:
  ``thread`` (a thread's messages in order, bodies readable) and ``search``
  (ranked like ``listarchive search``);
- ``render_cell``: message bodies shown readable (plain text kept in its lines;
  the stored, deflated HTML decoded and sanitised with the feed's allowlist), and
  a posting's thread linked to the ``thread`` query;
- ``prepare_connection``: the SQL function ``listarchive_html(body_html)``, which
  returns a stored body as HTML text, for any query typed into Datasette.

The archive itself needs none of this to open in plain Datasette or sqlite-utils
(the search index is found from ``messages``); this is what a reader expects on top.
Importing this module imports Datasette: the CLI imports it only to serve.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

# Datasette ships neither type hints nor a py.typed marker.
from datasette import hookimpl  # type: ignore[import-untyped]
from datasette.app import Datasette  # type: ignore[import-untyped]
from datasette.plugins import pm  # type: ignore[import-untyped]
from markupsafe import Markup, escape

from archive.db import Archive, decode_body

__all__ = ["build", "metadata", "serve", "thread_path"]

# What a message body cell may take on a page before it scrolls.
_BODY_STYLE = "white-space: pre-wrap; max-height: 16em; overflow: auto; min-width: 28em"
_HTML_STYLE = "max-height: 16em; overflow: auto; min-width: 28em"

_THREAD_SQL = """
select p.position, m.posted_at, m.author, m.masked_address, m.subject,
       m.body_text, m.body_html, p.url, m.id as message_id, p.missing_since
from postings p join messages m on m.id = p.message_id
where p.thread_id = :thread_id
order by p.position, m.posted_at, m.id
""".strip()

# The index's default rank is the archive's own ranking (see the schema), so this
# orders as `listarchive search` does; the query is FTS5 syntax.
_SEARCH_SQL = """
select m.id as message_id, m.posted_at, p.group_key, m.author, m.subject,
       p.thread_id, p.url
from messages_fts f
join messages m on m.id = f.rowid
join postings p on p.message_id = m.id
where messages_fts match :query
order by f.rank, m.id
limit 200
""".strip()


def metadata(database: str) -> dict[str, Any]:
    """Datasette metadata for an archive served under the name ``database``."""
    fts = {"fts_table": "messages_fts", "fts_pk": "message_id"}
    return {
        "title": "listarchive",
        "description": "Mailing list archive: search messages, browse threads by group.",
        "databases": {
            database: {
                "description": (
                    "Start with posts (each message in each group it was posted to; "
                    "search, facets by group and author) or the thread query."
                ),
                "tables": {
                    "posts": {
                        "description": "Each message as posted to a group; thread_id "
                        "opens the whole thread.",
                        "sort_desc": "posted_at",
                        "facets": ["group_key", "author"],
                        **fts,
                    },
                    "messages": {
                        "description": "One row per distinct message (a cross-post is "
                        "one message with several postings).",
                        "label_column": "subject",
                        "sort_desc": "posted_at",
                        "facets": ["author"],
                        "columns": {
                            "body_text": "Plain text of the body, footer removed.",
                            "body_html": "The body's HTML as received, stored "
                            "deflated; listarchive_html(body_html) in SQL gives the text.",
                            "masked_address": "As Google Groups shows it to anonymous readers.",
                        },
                    },
                    "threads": {
                        "label_column": "subject",
                        "sort_desc": "last_activity_at",
                        "facets": ["group_key"],
                    },
                    "groups": {"label_column": "title"},
                    "postings": {"facets": ["group_key"]},
                    "runs": {"sort_desc": "started_at"},
                    "message_date_blocks": {"hidden": True},
                    "_sqlite_migrations": {"hidden": True},
                },
                "queries": {
                    "thread": {
                        "title": "A thread",
                        "description": "The messages of one thread in order (thread_id "
                        "from posts, postings or threads).",
                        "sql": _THREAD_SQL,
                    },
                    "search": {
                        "title": "Search, ranked",
                        "description": "Full-text search (FTS5 syntax: words, "
                        '"a phrase", prefix*, subject:word), most relevant first.',
                        "sql": _SEARCH_SQL,
                    },
                },
            }
        },
    }


def thread_path(datasette: Datasette, database: str, thread_id: int) -> str:
    """The path of the ``thread`` query for one thread."""
    query = datasette.urls.table(database, "thread")
    return f"{query}?{urlencode({'thread_id': thread_id})}"


# Datasette hooks (this module is registered as the plugin): readable bodies, thread
# links, the listarchive_html() function.


@hookimpl
def prepare_connection(conn) -> None:
    conn.create_function("listarchive_html", 1, _html_or_none, deterministic=True)


# A page shows at most this many characters of one body (a pasted log can be 20 MB);
# the whole body is in the row's JSON and in `listarchive show`.
CELL_LIMIT = 200_000


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    if column == "body_text" and isinstance(value, str):
        shown = escape(value[:CELL_LIMIT])
        if len(value) > CELL_LIMIT:
            shown += Markup(f"<br><em>… {len(value):,} characters in all</em>")
        return Markup(f'<div style="{_BODY_STYLE}">{shown}</div>')
    if column == "body_html" and isinstance(value, bytes | str):
        html = decode_body(value)
        if len(html) > CELL_LIMIT:
            return Markup(f"<em>{len(html):,} characters of HTML: read body_text</em>")
        from archive.feed import sanitize_html  # nh3 is loaded on first use

        return Markup(f'<div style="{_HTML_STYLE}">{sanitize_html(html)}</div>')
    if column == "thread_id" and table in (None, "posts") and isinstance(value, int):
        # None: a canned query's result (the search query lists thread ids too)
        href = thread_path(datasette, database, value)
        return Markup(f'<a href="{escape(href)}">thread {value}</a>')
    if column == "topic_id" and table == "threads" and isinstance(value, str):
        href = thread_path(datasette, database, row["id"])
        return Markup(f'<a href="{escape(href)}">{escape(value)}</a>')
    return None


def _html_or_none(stored: bytes | str | None) -> str | None:
    return None if stored is None else decode_body(stored)


_PLUGIN_NAME = "listarchive"


def build(path: str | Path, *, settings: dict[str, Any] | None = None) -> Datasette:
    """A Datasette instance serving the archive at ``path`` read-only, plugin registered.

    The file is opened as an archive first: a missing, foreign or corrupt file is an
    :class:`~scraper.errors.ArchiveError`, and only an older schema is written (upgraded,
    as any command does). Datasette then reads it through read-only connections.
    """
    path = Path(path)
    with Archive(path, create=False, readonly=True):
        pass
    if pm.get_plugin(_PLUGIN_NAME) is None:
        pm.register(sys.modules[__name__], name=_PLUGIN_NAME)
    database = path.stem
    return Datasette(
        [str(path)],
        metadata=metadata(database),
        settings={"sql_time_limit_ms": 3000, "facet_time_limit_ms": 500, **(settings or {})},
    )


def serve(path: str | Path, *, host: str = "127.0.0.1", port: int = 8001) -> None:
    """Serve the archive until interrupted; progress goes to stderr."""
    import uvicorn

    datasette = build(path)
    asyncio.run(datasette.invoke_startup())
    print(
        f"Serving {path} read-only at http://{host}:{port}/{Path(path).stem}/posts"
        " (Ctrl-C stops)",
        file=sys.stderr,
    )
    uvicorn.run(datasette.app(), host=host, port=port, log_level="warning")
