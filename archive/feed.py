"""Atom 1.0 feeds of the archive: ``listarchive feed``.

Google removed every Google Groups feed in August 2021. An archive synced on a
schedule can publish them again: one entry per message (or per thread), newest
first, with the body as sanitised HTML.

Stable identity. An entry's id never depends on row numbers or on its position in
the feed, so a feed reader sees each message once however often the feed is
rebuilt, and an archive rebuilt from scratch gives the same ids:

* a message is ``tag:listarchive,2024:<group>/<topic id>/<Google message id>``,
  taken from the first posting the archive saw (a cross-posted message keeps the
  id of the group it arrived from first, whichever group's feed shows it);
* a thread is ``tag:listarchive,2024:<group>/<topic id>``;
* a feed is a ``urn:uuid`` derived from what it selects (groups, query, kind).

The same archive and options always give byte-identical output: even the feed's
``updated`` is the newest entry's time, not the time of the run.

Well-formedness. Every string that reaches the XML passes :func:`xml_text`, which
drops what XML 1.0 forbids (C0 controls, lone surrogates, U+FFFE/U+FFFF); bodies
pass :func:`sanitize_html` (an allowlist: no scripts, styles, frames, event
handlers or ``javascript:`` URLs) and are written as escaped ``type="html"``
content by a real XML serialiser, so ``]]>`` or broken markup in a message are
just text.
"""

from __future__ import annotations

import html
import json
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

from archive import __version__
from archive.content import (
    DROPPED_VOID,
    DROPPED_WITH_CONTENT,
    FOOTER_IN_HTML,
    GROUP_FOOTER_MAX_LINES,
    author_label,
)
from archive.db import Archive, archive_errors, decode_body
from archive.files import replacing
from archive.query import parse_date_bound
from archive.times import parse_utc, utc_iso
from scraper.errors import ListarchiveError
from scraper.models import CANONICAL_ORIGIN

__all__ = [
    "ATOM_NS",
    "DEFAULT_LIMIT",
    "Feed",
    "FeedEntry",
    "base_link_url",
    "atom_chunks",
    "build_feed",
    "publish_feed",
    "feed_id",
    "message_entry_id",
    "render_atom",
    "resolve_groups",
    "select_feed",
    "sanitize_html",
    "site_timezone",
    "strip_html_footer",
    "thread_entry_id",
    "write_feed",
    "xml_text",
]

ATOM_NS = "http://www.w3.org/2005/Atom"
ID_PREFIX = "tag:listarchive,2024:"
DEFAULT_LIMIT = 50
# A thread entry shows its opening message and the latest replies; a 300-message
# thread would otherwise make every refresh of the feed megabytes long.
THREAD_MESSAGES_SHOWN = 20
GENERATOR_URI = "https://github.com/listarchive/listarchive"
# Stands in for "no entries": a fixed time keeps an empty feed byte-identical too.
EMPTY_FEED_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)
# Entries are read, sanitised and written this many at a time: a feed of the whole
# archive takes the memory of one batch, not of every entry.
BATCH = 200
_FEED_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, GENERATOR_URI)


@dataclass(frozen=True)
class FeedEntry:
    id: str
    title: str
    author: str
    published: datetime
    updated: datetime
    link: str
    content_html: str
    categories: tuple[tuple[str, str], ...] = ()  # (term, label): the groups it is in


@dataclass(frozen=True)
class Feed:
    id: str
    title: str
    updated: datetime
    entries: tuple[FeedEntry, ...]
    subtitle: str | None = None
    link: str | None = None  # the human page the feed mirrors (the group), if one
    self_link: str | None = None  # where the feed itself is published, if known


# --- text that is safe in XML ---------------------------------------------------

# XML 1.0 ``Char``: everything else (C0 controls but tab/LF/CR, surrogates, U+FFFE,
# U+FFFF) makes the document ill-formed, and no parser will read past it.
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_BIDI_EMBEDDINGS = frozenset("\u202a\u202b\u202d\u202e")  # LRE RLE LRO RLO, closed by PDF
_BIDI_ISOLATES = frozenset("\u2066\u2067\u2068")  # LRI RLI FSI, closed by PDI
_PDF, _PDI = "\u202c", "\u2069"


def xml_text(text: str | None) -> str:
    """``text`` without the characters XML 1.0 forbids; everything else is kept."""
    if not text:
        return ""
    return _XML_ILLEGAL.sub("", text)


def _close_bidi(text: str) -> str:
    """Close the bidi overrides and isolates a string leaves open.

    A subject ending inside U+202E (RIGHT-TO-LEFT OVERRIDE) would reverse whatever a
    feed reader prints after it: the date, the next title. Closing them keeps the
    text as written while confining its direction to itself.
    """
    if not any(ch in _BIDI_EMBEDDINGS or ch in _BIDI_ISOLATES for ch in text):
        return text
    open_marks: list[str] = []
    for ch in text:
        if ch in _BIDI_EMBEDDINGS:
            open_marks.append(_PDF)
        elif ch in _BIDI_ISOLATES:
            open_marks.append(_PDI)
        elif ch == _PDF and open_marks and open_marks[-1] == _PDF:
            open_marks.pop()
        elif ch == _PDI and _PDI in open_marks:
            # A PDI also closes every embedding opened inside its isolate.
            while open_marks.pop() != _PDI:
                pass
    return text + "".join(reversed(open_marks))


def _plain(text: str | None, fallback: str = "") -> str:
    """A one-line field (title, name): XML-safe, whitespace folded, bidi closed."""
    folded = " ".join(xml_text(text).split())
    return _close_bidi(folded) if folded else fallback


# --- bodies -----------------------------------------------------------------------

_CLEANER = None

def _cleaner():
    global _CLEANER
    if _CLEANER is None:
        import nh3

        attributes = {tag: set(names) for tag, names in nh3.ALLOWED_ATTRIBUTES.items()}
        attributes["*"] = {"dir", "lang", "title"}  # dir keeps right-to-left mail readable
        _CLEANER = nh3.Cleaner(
            tags=set(nh3.ALLOWED_TAGS) - DROPPED_WITH_CONTENT - DROPPED_VOID,
            clean_content_tags=set(DROPPED_WITH_CONTENT),
            attributes=attributes,
            url_schemes={"http", "https", "mailto", "ftp"},
            # Bodies come from pages served with <base href="https://groups.google.com/">.
            url_relative=("rewrite_with_base", CANONICAL_ORIGIN + "/"),
            strip_comments=True,
        )
    return _CLEANER


def sanitize_html(body: str) -> str:
    """An allowlist copy of ``body``: formatting, links, images, tables and quotes stay;
    scripts, styles, frames, forms, event handlers and non-web URLs go.

    The result is XML-safe text (characters XML forbids are dropped, including any a
    character reference decoded into). Elements nested deeper than
    :data:`MAX_NESTING` lose their tags, keeping their text.
    """
    return xml_text(_cleaner().clean(bound_nesting(xml_text(body)))).strip()


# The sanitiser's parser slows down with the square of the nesting depth: 40,000 nested
# <div>s took 10 s, 1,000 take 10 ms. Mail quoting nests a few dozen levels at most.
MAX_NESTING = 256
_TAG = re.compile(r"<(/?)([A-Za-z][^\s/>]*)[^>]*>")
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
     "source", "track", "wbr"}
)  # fmt: skip


def bound_nesting(html: str, limit: int = MAX_NESTING) -> str:
    """``html`` with the tags of elements nested deeper than ``limit`` removed (their
    content stays), in one pass over the tags."""
    if html.count("<") <= limit:
        return html  # too few tags to nest that deep
    stack: list[tuple[str, bool]] = []  # (name, tags dropped)
    open_names: dict[str, int] = {}
    kept = 0  # elements on the stack whose tags are kept
    pieces: list[str] = []
    at = 0
    for match in _TAG.finditer(html):
        closing, name = match.group(1), match.group(2).lower()
        if not closing:
            if name in _VOID or match.group(0).endswith("/>"):
                continue
            dropped = kept >= limit
            stack.append((name, dropped))
            open_names[name] = open_names.get(name, 0) + 1
            kept += not dropped
        elif open_names.get(name):
            # Closes its element and any left open inside it, as a parser would.
            while True:
                top, dropped = stack.pop()
                open_names[top] -= 1
                kept -= not dropped
                if top == name:
                    break
        else:
            continue  # a stray end tag: the parser ignores it
        if dropped:
            pieces.append(html[at : match.start()])
            at = match.end()
    pieces.append(html[at:])
    return "".join(pieces)


_BLOCKQUOTE_OPEN = re.compile(r"<blockquote\b", re.IGNORECASE)
_BLOCKQUOTE_CLOSE = re.compile(r"</blockquote\s*>", re.IGNORECASE)
_TRAILING_SEPARATOR = re.compile(
    r"(\A|>|\n)[ \t\u00a0]*(-{2,3})[ \t\u00a0]*((?:</[a-z][a-z0-9]*\s*>\s*)*)\Z",
    re.IGNORECASE,
)
# The "-- " line that opens a group's own footer (see archive.content.GROUP_FOOTER_END),
# and what starts a line in HTML, to count the lines of that footer.
_GROUP_FOOTER_START = re.compile(
    r"(\A|>|\n)[ \t\u00a0]*--[ \t\u00a0]*(?=<br\b|</?(?:p|div)\b|\n)", re.IGNORECASE
)
_LINE_START = re.compile(r"<(?:br|p|div|li|tr|h[1-6])\b", re.IGNORECASE)
_BLANK_PIECE = re.compile(
    r"\s|&nbsp;|&#160;|&#xa0;|<br\s*/?>|<(?:p|div|span|font)\b[^>]*>", re.IGNORECASE
)


def _strip_trailing_blank(text: str) -> str:
    """``text`` without the run of blank pieces (:data:`_BLANK_PIECE`) it ends with.

    As the regex ``(?:piece)+\\Z`` this tried every position of the text for a match
    reaching its end, 40% of a feed's time; here the pieces that can end where the run
    starts are followed back from the end to the leftmost."""
    start = len(text)
    seen: set[int] = set()
    ends = [len(text)]
    while ends:
        end = ends.pop()
        candidates = [end - 1, end - 6]
        if end and text[end - 1] == ">":
            after_tag = text.rfind(">", 0, end - 1) + 1
            at = text.find("<", after_tag, end - 1)
            while at != -1:
                candidates.append(at)
                at = text.find("<", at + 1, end - 1)
        for begin in candidates:
            if begin >= 0 and begin not in seen and _BLANK_PIECE.fullmatch(text, begin, end):
                seen.add(begin)
                ends.append(begin)
                start = min(start, begin)
    return text[:start]
# Only the end of the body is examined for the separator: the footer sits there.
_TAIL = 2000


def strip_html_footer(body: str) -> str:
    """Cut the footer Google Groups appends to mail (``-- You received this message
    because you are subscribed ...``) from an HTML body, with its ``--`` line.

    A footer inside a ``<blockquote>`` is part of a quoted message and stays. The cut
    may leave elements open; the sanitiser's HTML5 parser closes them.
    """
    if "eceived" not in body:  # cheap test before the regular expression
        return body
    cut = None
    for match in FOOTER_IN_HTML.finditer(body):
        before = body[: match.start()]
        if len(_BLOCKQUOTE_OPEN.findall(before)) <= len(_BLOCKQUOTE_CLOSE.findall(before)):
            cut = match.start()
    if cut is None:
        return body
    head, tail = body[: max(0, cut - _TAIL)], body[max(0, cut - _TAIL) : cut]
    tail = _strip_trailing_blank(tail)
    separator = _TRAILING_SEPARATOR.search(tail)
    if separator:
        tail = tail[: separator.start()] + separator.group(1) + separator.group(3)
        tail = _strip_trailing_blank(tail)
        if separator.group(2) == "---":
            tail = _without_group_footer(tail)
    return head + tail


def _without_group_footer(tail: str) -> str:
    """``tail`` (which ended with a group footer's ``---`` line) without the group's
    footer: from the last ``--`` line, when that is at most
    :data:`~archive.content.GROUP_FOOTER_MAX_LINES` lines up, as plain text cuts it."""
    starts = list(_GROUP_FOOTER_START.finditer(tail))
    if not starts:
        return tail
    start = starts[-1]
    if len(_LINE_START.findall(tail, start.end())) > GROUP_FOOTER_MAX_LINES:
        return tail
    return _strip_trailing_blank(tail[: start.start()] + start.group(1))


def _text_to_html(text: str) -> str:
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "\n".join(
        "<p>" + html.escape(p.strip()).replace("\n", "<br>\n") + "</p>" for p in paragraphs
    )


# What cutting a footer leaves behind, in the sanitiser's normalised output.
_EMPTY_END = re.compile(r"(?:\s|<br>|<(p|div|span)>\s*</\1>)+\Z")


def message_html(body_html: str | bytes, body_text: str = "") -> str:
    """The HTML an entry shows for one message: sanitised, footer removed; the stored
    plain text (already footer-free) when the HTML has nothing left."""
    cleaned = sanitize_html(strip_html_footer(decode_body(body_html)))
    cleaned = cleaned[:-_TAIL] + _EMPTY_END.sub("", cleaned[-_TAIL:])
    if not re.sub(r"<[^>]*>|\s", "", cleaned) and "<img" not in cleaned:
        return xml_text(_text_to_html(body_text or ""))
    return cleaned


# --- identities ---------------------------------------------------------------------

# Characters a tag URI's specific part may hold unescaped (RFC 4151: pchar, "/", "?").
_TAG_SAFE = "!$&'()*+,;=:@-._~"


def message_entry_id(group_key: str, topic_id: str, google_message_id: str) -> str:
    parts = (group_key, topic_id, google_message_id)
    return ID_PREFIX + "/".join(quote(p, safe=_TAG_SAFE) for p in parts)


def thread_entry_id(group_key: str, topic_id: str) -> str:
    return ID_PREFIX + "/".join(quote(p, safe=_TAG_SAFE) for p in (group_key, topic_id))


def feed_id(group_keys: Iterable[str], query: str | None, threads: bool) -> str:
    """The same selection is the same feed, whatever order or spelling named the groups."""
    selection = json.dumps(
        {"groups": sorted(set(group_keys)), "query": query or "", "threads": bool(threads)},
        sort_keys=True,
        ensure_ascii=False,
    )
    return uuid.uuid5(_FEED_NAMESPACE, selection).urn


_POSTS_NAME = re.compile(r"(\d{4})-(\d\d)-(\d\d)-(.+)\Z")
_PLACEHOLDERS = ("{name}", "{stem}", "{slug}", "{year}", "{month}", "{day}")


def base_link_url(
    base_link: str,
    filename: str,
    *,
    started: datetime | None = None,
    timezone: tzinfo | None = None,
) -> str:
    """Where a static site serves the Markdown export ``filename``
    (``2024-03-01-go-1-22-1-is-released.md``).

    Without placeholders the link is ``base_link/<stem>.html``: what Jekyll, and so
    GitHub Pages, serves for a page kept in an ordinary folder. Other layouts say
    where the parts go: ``{stem}`` (the name without ``.md``), ``{name}``, and for
    Jekyll's ``_posts`` folder ``{year}``, ``{month}``, ``{day}`` and ``{slug}``
    (the rest of the name). For example, Jekyll posts by default:
    ``https://example.org/{year}/{month}/{day}/{slug}.html``; Hugo, whose pretty URLs
    use the file name: ``https://example.org/posts/{stem}/``.

    The file name's date is the thread's start in UTC. Jekyll dates a post's URL in
    the site's ``timezone`` instead, so a thread started at 23:00 UTC is served
    under the next day in Tokyo: given the thread's start and the site's
    ``timezone``, ``{year}``, ``{month}`` and ``{day}`` are that day, as Jekyll
    builds it. (Hugo keeps the UTC offset the front matter's date carries.)
    """
    stem = filename[:-3] if filename.endswith(".md") else filename
    if not any(p in base_link for p in _PLACEHOLDERS):
        return base_link.rstrip("/") + "/" + quote(stem) + ".html"
    dated = _POSTS_NAME.match(stem)
    year, month, day, slug = dated.groups() if dated else ("", "", "", stem)
    if dated and started is not None and timezone is not None:
        local = started.astimezone(timezone)
        year, month, day = f"{local.year:04d}", f"{local.month:02d}", f"{local.day:02d}"
    values = {"name": filename, "stem": stem, "slug": slug, "year": year, "month": month,
              "day": day}  # fmt: skip
    for key, value in values.items():
        base_link = base_link.replace("{" + key + "}", quote(value))
    return base_link


def site_timezone(name: str) -> tzinfo:
    """The time zone a site builds in, by its IANA name (``Asia/Tokyo``, ``UTC``)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        message = f"unknown time zone {name!r}; use an IANA name such as Asia/Tokyo"
        raise ValueError(message) from None


# --- choosing what goes in ------------------------------------------------------------


def resolve_groups(archive: Archive, specs: Sequence[str]) -> list[str]:
    """Group keys for what a user typed: a key, an address, a name or any group URL,
    resolved exactly as ``search --group`` does (BadQuery when nothing matches)."""
    from archive.search import resolve_group

    keys: list[str] = []
    with archive_errors(archive.path):
        for spec in specs:
            keys += [key for key in resolve_group(archive.db.conn, spec) if key not in keys]
    return keys


def _json_list(values: Iterable[Any]) -> str:
    return json.dumps(list(values))


def _matching_message_ids(
    archive: Archive, query: str, keys: Sequence[str], since: datetime | None
) -> list[int]:
    from archive.search import matching_message_ids

    return matching_message_ids(archive, query, groups=tuple(keys), since=since, sort="date")


def select_feed(
    archive: Archive,
    *,
    groups: Sequence[str] = (),
    query: str | None = None,
    since: datetime | None = None,
    limit: int | None = DEFAULT_LIMIT,
    threads: bool = False,
    base_link: str | None = None,
    title: str | None = None,
    self_link: str | None = None,
    timezone: tzinfo | None = None,
) -> tuple[Feed, Iterator[FeedEntry]]:
    """Describe the feed, and select its entries from ``archive`` as they are read:
    the :class:`Feed` has no entries, and its ``updated`` is the first entry's (entries
    come newest first).

    ``groups`` are names, addresses or URLs (see :func:`resolve_groups`); ``query`` is
    the search language; ``since`` keeps messages posted at or after it (threads
    with a message at or after it); ``limit`` None or 0 keeps every entry.
    Messages that disappeared upstream (deleted, moderated away) are left out.
    """
    query = (query or "").strip() or None
    limit = limit or None
    keys = resolve_groups(archive, groups)
    group_rows = _group_rows(archive)
    with archive_errors(archive.path):
        site = None
        if base_link is not None:
            from archive.export import site_names

            # Names as an export of the same groups into an empty folder gives them,
            # so a thread whose name the export lengthened is linked by that name.
            site = _SiteLinks(base_link, timezone, site_names(archive, keys))
        if threads:
            thread_ids = None
            if query is not None:
                ids = _matching_message_ids(archive, query, keys, None)
                thread_ids = _threads_of(archive, ids, keys)
            entries = _thread_entries(archive, keys, thread_ids, since, limit, site, group_rows)
        else:
            ids = None
            if query is not None:
                ids = _matching_message_ids(archive, query, keys, since)
            entries = _message_entries(archive, keys, ids, since, limit, site, group_rows)

    labels = [_group_label(group_rows.get(key), key) for key in keys]
    default_title = ", ".join(labels) if labels else "listarchive"
    if query is not None:
        default_title += f": {query}"
    kind = "Threads" if threads else "Messages"
    where = ", ".join(keys) if keys else "every archived group"
    subtitle = f"{kind} from {where}" + (f" matching {query}" if query else "")
    link = group_rows[keys[0]]["url"] if len(keys) == 1 and keys[0] in group_rows else None
    head = Feed(
        id=feed_id(keys, query, threads),
        title=_plain(title) or _plain(default_title, "listarchive"),
        updated=EMPTY_FEED_UPDATED,
        entries=(),
        subtitle=subtitle,
        link=link,
        self_link=self_link,
    )
    return head, entries


def build_feed(archive: Archive, **options: Any) -> Feed:
    """The feed with every entry in memory; ``options`` are :func:`select_feed`'s.

    ``groups`` are names, addresses or URLs (see :func:`resolve_groups`); ``query`` is
    the search language; ``since`` keeps messages posted at or after it (threads
    with a message at or after it); ``limit`` None or 0 keeps every entry.
    """
    head, entries = select_feed(archive, **options)
    kept = tuple(entries)
    return replace(
        head, entries=kept, updated=max((e.updated for e in kept), default=EMPTY_FEED_UPDATED)
    )


def _group_rows(archive: Archive) -> dict[str, dict[str, Any]]:
    with archive_errors(archive.path):
        cursor = archive.db.execute("SELECT key, name, title, url FROM groups")
        names = ("key", "name", "title", "url")
        return {row[0]: dict(zip(names, row, strict=True)) for row in cursor}


def _group_label(row: dict[str, Any] | None, key: str) -> str:
    if row is None:
        return key
    return row["title"] or row["name"] or key


def _categories(keys: Iterable[str], group_rows: dict[str, dict[str, Any]]):
    return tuple((key, _plain(_group_label(group_rows.get(key), key))) for key in sorted(keys))


def _rows(archive: Archive, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cursor = archive.db.execute(sql, params)
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def _threads_of(archive: Archive, message_ids: list[int], keys: Sequence[str]) -> list[int]:
    sql = (
        "SELECT DISTINCT p.thread_id FROM postings p"
        " WHERE p.message_id IN (SELECT value FROM json_each(:ids))"
        " AND p.missing_since IS NULL"
    )
    if keys:
        sql += " AND p.group_key IN (SELECT value FROM json_each(:keys))"
    rows = archive.db.execute(sql, {"ids": _json_list(message_ids), "keys": _json_list(keys)})
    return [row[0] for row in rows]


def _message_entries(
    archive: Archive,
    keys: Sequence[str],
    message_ids: list[int] | None,
    since: datetime | None,
    limit: int | None,
    site: _SiteLinks | None,
    group_rows: dict[str, dict[str, Any]],
) -> Iterator[FeedEntry]:
    present = "p.message_id = m.id AND p.missing_since IS NULL"
    if keys:
        present += " AND p.group_key IN (SELECT value FROM json_each(:keys))"
    where = [f"EXISTS (SELECT 1 FROM postings p WHERE {present})"]
    if message_ids is not None:
        where.append("m.id IN (SELECT value FROM json_each(:ids))")
    if since is not None:
        where.append("m.posted_at >= :since")
    sql = (
        "SELECT m.id, m.subject, m.author, m.masked_address, m.posted_at,"
        " m.body_html, m.body_text FROM messages m"
        f" WHERE {' AND '.join(where)}"
        # Messages posted in the same second are ordered by their identity, not by
        # row number, so two archives of the same groups write the same feed.
        " ORDER BY m.posted_at DESC, (SELECT p.group_key || '/' || p.topic_id || '/'"
        " || p.google_message_id FROM postings p WHERE p.message_id = m.id"
        " ORDER BY p.first_seen_at, p.id LIMIT 1) DESC"
    )
    if limit is not None:
        sql += " LIMIT :limit"
    params = {
        "keys": _json_list(keys),
        "ids": _json_list(message_ids or ()),
        "since": utc_iso(since) if since is not None else None,
        "limit": limit,
    }
    with archive_errors(archive.path):
        for messages in _batches(archive, sql, params):
            yield from _message_batch(archive, messages, keys, site, group_rows)


def _batches(archive: Archive, sql: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    cursor = archive.db.execute(sql, params)
    names = [c[0] for c in cursor.description]
    while rows := cursor.fetchmany(BATCH):
        yield [dict(zip(names, row, strict=True)) for row in rows]


def _message_batch(
    archive: Archive,
    messages: list[dict[str, Any]],
    keys: Sequence[str],
    site: _SiteLinks | None,
    group_rows: dict[str, dict[str, Any]],
) -> Iterator[FeedEntry]:
    postings: dict[int, list[dict[str, Any]]] = {m["id"]: [] for m in messages}
    for posting in _rows(
        archive,
        "SELECT p.message_id, p.group_key, p.topic_id, p.google_message_id, p.url,"
        " p.thread_id, p.missing_since FROM postings p"
        " WHERE p.message_id IN (SELECT value FROM json_each(:ids))"
        " ORDER BY p.message_id, p.first_seen_at, p.id",
        {"ids": _json_list(postings)},
    ):
        postings[posting["message_id"]].append(posting)

    threads = _thread_rows(archive, {p["thread_id"] for ps in postings.values() for p in ps})
    for message in messages:
        first = postings[message["id"]][0]
        shown = _link_posting(postings[message["id"]], keys)
        if site is not None:
            link = site.link(threads[shown["thread_id"]])
        else:
            link = shown["url"]
        posted = parse_utc(message["posted_at"])
        yield FeedEntry(
            id=message_entry_id(first["group_key"], first["topic_id"], first["google_message_id"]),
            title=_plain(message["subject"], "(no subject)"),
            author=_author(message),
            # Google Groups posts cannot be edited, and Google's second timestamp
            # moves with moderation and later activity: an entry changes when the
            # message is posted, and only then.
            published=posted,
            updated=posted,
            link=xml_text(link),
            content_html=message_html(message["body_html"], message["body_text"]),
            categories=_categories({p["group_key"] for p in postings[message["id"]]}, group_rows),
        )


def _link_posting(postings: list[dict[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    """The posting an entry links to: present upstream, and in a selected group."""
    for posting in postings:
        if posting["missing_since"] is None and (not keys or posting["group_key"] in keys):
            return posting
    return postings[0]


def _author(message: dict[str, Any]) -> str:
    # A masked address ("yuan...@gmail.com") is not a valid atom:email; it only
    # stands in for a missing name.
    return author_label(message["author"], message["masked_address"], _plain)


def _thread_rows(archive: Archive, thread_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    rows = _rows(
        archive,
        "SELECT t.id, t.group_key, t.topic_id, t.subject, t.created_at, t.url,"
        " (SELECT m.posted_at FROM postings p JOIN messages m ON m.id = p.message_id"
        "  WHERE p.thread_id = t.id ORDER BY p.position LIMIT 1) AS first_posted_at"
        " FROM threads t WHERE t.id IN (SELECT value FROM json_each(:ids))",
        {"ids": _json_list(thread_ids)},
    )
    for row in rows:
        # The export dates an undated thread by its first message.
        row["messages"] = [{"posted_at": row.pop("first_posted_at")}]
    return {row["id"]: row for row in rows}


@dataclass(frozen=True)
class _SiteLinks:
    base_link: str
    timezone: tzinfo | None
    names: dict[tuple[str, str], str]  # what the export calls each thread's file

    def link(self, thread: dict[str, Any]) -> str:
        """The page a static site builds from the thread's export."""
        from archive.export import export_filename, thread_start

        key = (thread["group_key"], thread["topic_id"])
        name = self.names.get(key) or export_filename(thread, set())
        return base_link_url(
            self.base_link, name, started=thread_start(thread), timezone=self.timezone
        )


def _thread_entries(
    archive: Archive,
    keys: Sequence[str],
    thread_ids: list[int] | None,
    since: datetime | None,
    limit: int | None,
    site: _SiteLinks | None,
    group_rows: dict[str, dict[str, Any]],
) -> Iterator[FeedEntry]:
    where = []
    if keys:
        where.append("t.group_key IN (SELECT value FROM json_each(:keys))")
    if thread_ids is not None:
        where.append("t.id IN (SELECT value FROM json_each(:ids))")
    sql = (
        "SELECT t.id, t.group_key, t.topic_id, t.subject, t.created_at,"
        " t.last_activity_at, t.url, max(m.posted_at) AS newest"
        " FROM threads t"
        " JOIN postings p ON p.thread_id = t.id AND p.missing_since IS NULL"
        " JOIN messages m ON m.id = p.message_id"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + " GROUP BY t.id"
        + (" HAVING max(m.posted_at) >= :since" if since is not None else "")
        + " ORDER BY newest DESC, t.group_key DESC, t.topic_id DESC"
        + (" LIMIT :limit" if limit is not None else "")
    )
    params = {
        "keys": _json_list(keys),
        "ids": _json_list(thread_ids or ()),
        "since": utc_iso(since) if since is not None else None,
        "limit": limit,
    }
    with archive_errors(archive.path):
        for threads in _batches(archive, sql, params):
            yield from _thread_batch(archive, threads, site, group_rows)


def _thread_batch(
    archive: Archive,
    threads: list[dict[str, Any]],
    site: _SiteLinks | None,
    group_rows: dict[str, dict[str, Any]],
) -> Iterator[FeedEntry]:
    messages: dict[int, list[dict[str, Any]]] = {t["id"]: [] for t in threads}
    for row in _rows(
        archive,
        "SELECT p.thread_id, p.url, m.subject, m.author, m.masked_address, m.posted_at,"
        " m.body_html, m.body_text FROM postings p JOIN messages m ON m.id = p.message_id"
        " WHERE p.thread_id IN (SELECT value FROM json_each(:ids)) AND p.missing_since IS NULL"
        " ORDER BY p.thread_id, p.position, m.posted_at, m.id",
        {"ids": _json_list(messages)},
    ):
        messages[row["thread_id"]].append(row)

    for thread in threads:
        shown = messages[thread["id"]]
        opening = shown[0]
        if site is not None:
            link = site.link({**thread, "messages": shown})
        else:
            link = thread["url"]
        yield FeedEntry(
            id=thread_entry_id(thread["group_key"], thread["topic_id"]),
            title=_plain(thread["subject"]) or _plain(opening["subject"], "(no subject)"),
            author=_author(opening),
            published=min(parse_utc(m["posted_at"]) for m in shown),
            updated=parse_utc(thread["newest"]),
            link=xml_text(link),
            content_html=_thread_html(shown, link),
            categories=_categories([thread["group_key"]], group_rows),
        )


def _thread_html(messages: list[dict[str, Any]], link: str) -> str:
    """The opening message, then the latest replies, each under its author and time."""
    if len(messages) > THREAD_MESSAGES_SHOWN:
        skipped = len(messages) - THREAD_MESSAGES_SHOWN
        shown = [messages[0], None, *messages[-(THREAD_MESSAGES_SHOWN - 1) :]]
    else:
        skipped, shown = 0, list(messages)
    parts = []
    for message in shown:
        if message is None:
            noun = "message" if skipped == 1 else "messages"
            parts.append(f'<p>… <a href="{html.escape(link)}">{skipped} more {noun}</a> …</p>')
            continue
        posted = utc_iso(parse_utc(message["posted_at"])).replace("T", " ").replace("Z", " UTC")
        parts.append(
            f"<p><strong>{html.escape(_author(message))}</strong> · "
            f'<a href="{html.escape(xml_text(message["url"]))}">{posted}</a></p>\n'
            + message_html(message["body_html"], message["body_text"])
        )
    return "\n<hr>\n".join(parts)


# --- writing ------------------------------------------------------------------------


def _rfc3339(moment: datetime) -> str:
    return utc_iso(moment)  # 2024-01-02T03:04:05Z is RFC 3339 as Atom wants it


def _element(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})
    if text is not None:
        element.text = xml_text(text)
    return element


def render_atom(feed: Feed) -> bytes:
    """The feed as an Atom 1.0 document (UTF-8 bytes)."""
    return b"".join(atom_chunks(feed, feed.entries, updated=feed.updated))


def atom_chunks(
    feed: Feed, entries: Iterable[FeedEntry], *, updated: datetime | None = None
) -> Iterator[bytes]:
    """The Atom document of ``feed`` with ``entries``, a piece at a time: the head, then
    one piece per entry as it is read. ``updated`` defaults to the first entry's (the
    entries of :func:`select_feed` come newest first)."""
    entries = iter(entries)
    first = next(entries, None)
    if updated is None:
        updated = first.updated if first is not None else EMPTY_FEED_UPDATED
    # The head as a whole document, without its closing tag; each entry is indented as
    # ET.indent would indent it inside the whole tree, so the bytes are the same.
    root = _atom_head(replace(feed, updated=updated))
    ET.indent(root, space="  ")
    root[-1].tail = None
    head = ET.tostring(root, encoding="unicode")
    yield ('<?xml version="1.0" encoding="utf-8"?>\n' + head.removesuffix("</feed>")).encode()
    if first is not None:
        yield _atom_entry(first)
        for entry in entries:
            yield _atom_entry(entry)
    yield b"\n</feed>\n"


def _atom_head(feed: Feed) -> ET.Element:
    root = ET.Element("feed", {"xmlns": ATOM_NS})
    _element(root, "id", feed.id)
    _element(root, "title", feed.title)
    if feed.subtitle:
        _element(root, "subtitle", _plain(feed.subtitle))
    _element(root, "updated", _rfc3339(feed.updated))
    if feed.link:
        _element(root, "link", rel="alternate", type="text/html", href=feed.link)
    if feed.self_link:
        _element(root, "link", rel="self", type="application/atom+xml", href=feed.self_link)
    _element(root, "generator", "listarchive", uri=GENERATOR_URI, version=__version__)
    return root


def _atom_entry(entry: FeedEntry) -> bytes:
    item = ET.Element("entry")
    _element(item, "id", entry.id)
    _element(item, "title", entry.title)
    author = _element(item, "author")
    _element(author, "name", entry.author)
    _element(item, "published", _rfc3339(entry.published))
    _element(item, "updated", _rfc3339(entry.updated))
    _element(item, "link", rel="alternate", type="text/html", href=entry.link)
    for term, label in entry.categories:
        _element(item, "category", term=term, label=label)
    _element(item, "content", entry.content_html, type="html")
    ET.indent(item, space="  ", level=1)
    return ("\n  " + ET.tostring(item, encoding="unicode")).encode("utf-8")


def write_feed(data: bytes | Iterable[bytes], path: str | Path) -> None:
    """Write ``data`` to ``path`` atomically: a reader (or a web server) sees the old
    feed or the new one, never half of one, and a failed run leaves the old one."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # as export --out does
    except FileExistsError:
        raise ListarchiveError(f"cannot write {path}: {path.parent} is not a folder") from None
    except OSError as err:
        raise ListarchiveError(f"cannot write {path}: {err.strerror or err}") from None
    with replacing(path) as out:
        for chunk in [data] if isinstance(data, bytes) else data:
            out.write(chunk)


def publish_feed(
    db_path: str | Path,
    *,
    out: str | Path | None = None,
    stdout: BinaryIO | None = None,
    since: str | datetime | None = None,
    now: datetime | None = None,
    **options: Any,
) -> int:
    """``listarchive feed``: write the feed of the archive at ``db_path`` to ``out``
    (atomically) or to ``stdout``, each entry as it is read; return how many entries it
    has. ``since`` may be text such as ``2024-03-01`` or ``7d``; ``options`` are
    :func:`select_feed`'s."""
    if isinstance(since, str):
        since = parse_date_bound(since, now=now)
    written = 0

    def counted(entries: Iterable[FeedEntry]) -> Iterator[FeedEntry]:
        nonlocal written
        for entry in entries:
            written += 1
            yield entry

    with Archive(db_path, create=False, readonly=True) as archive:
        head, entries = select_feed(archive, since=since, **options)
        chunks = atom_chunks(head, counted(entries))
        if out is not None:
            write_feed(chunks, out)
        elif stdout is not None:
            for chunk in chunks:
                stdout.write(chunk)
            stdout.flush()
    return written
