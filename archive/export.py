"""Threads out of the archive: readable text for ``show``, Markdown and JSON for ``export``.

Everything here but :func:`export_threads` (which writes files) is a pure function
over the thread dictionaries :meth:`archive.db.Archive.get_thread` returns. The
archive is only read. Like search, this module imports no HTTP code; lxml is imported
by :mod:`archive.markdown` only when a body is converted.

Markdown exports follow Jekyll's ``_posts`` convention (``YYYY-MM-DD-slug.md``) and
carry YAML front matter that Jekyll and Hugo both read. Every string in it is a
JSON-style double-quoted string, which is valid YAML: no subject can break out of
its value or start a new key.
"""

from __future__ import annotations

import json
import os
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from archive.content import author_label, bare_subject, strip_list_tags, subject_tags
from archive.files import write_atomically
from archive.markdown import _EDGE_UNDERSCORE, escape_markdown, html_to_markdown, safe_url
from archive.render import inert
from archive.times import parse_utc_or_none
from scraper.errors import BadOption, BadURL, ListarchiveError, NotFound

__all__ = [
    "FORMATS",
    "export_filename",
    "export_threads",
    "description",
    "front_matter",
    "page_text",
    "render_thread_text",
    "resolve_target",
    "resolve_thread",
    "select_threads",
    "site_names",
    "subject_tags",
    "thread_start",
    "thread_to_json",
    "thread_to_markdown",
    "yaml_string",
]

FORMATS = ("markdown", "json")
EXTENSIONS = {"markdown": "md", "json": "json"}
SLUG_MAX_BYTES = 80
_TOPIC_ID = re.compile(r"[A-Za-z0-9_-]{6,32}\Z")
_NUMBERED = re.compile(r"(?:(message|thread):)?(\d{1,18})\Z")
THREAD_FORMS = (
    "a topic id, a thread or message URL, an id from search --json (message:N, thread:N) "
    "or a feed entry id"
)

ThreadKey = tuple[str, str]  # (group_key, topic_id)


# --- finding threads ------------------------------------------------------------------


def resolve_thread(archive, text: str, *, group: str | None = None) -> ThreadKey:
    """The archived thread a THREAD argument names (see :func:`resolve_target`)."""
    group_key, topic_id, _ = resolve_target(archive, text, group=group)
    return group_key, topic_id


def resolve_target(
    archive, text: str, *, group: str | None = None
) -> tuple[str, str, str | None]:
    """``(group_key, topic_id, google_message_id or None)`` for a THREAD argument:
    whatever search, ``--json`` and feed print.

    A topic id; any URL of the thread or of one of its messages (the message is
    returned too); a number from ``search --json``: ``id`` (a message; also
    ``message:N``) or ``thread:N`` for a ``thread_id``; a feed
    entry id (``tag:listarchive,2024:group/topic[/message]``). A bare topic id found in
    several groups needs ``group`` (a key, name or URL) to choose; otherwise the error
    lists the candidates.
    """
    text = (text or "").strip()
    if not text:
        raise BadOption(f"THREAD is empty: give {THREAD_FORMS}")
    if text.startswith("tag:"):
        return _from_feed_id(archive, text)
    numbered = _NUMBERED.match(text)
    if numbered and (numbered[1] or not archive.list_threads(topic_id=text)):
        return _from_number(archive, numbered[1], int(numbered[2]), text)
    if _TOPIC_ID.match(text):
        candidates = sorted({row["group_key"] for row in archive.list_threads(topic_id=text)})
        if group is not None:
            wanted = set(_group_keys(archive, group))
            candidates = [key for key in candidates if key in wanted]
        if not candidates:
            where = f" in {group}" if group else ""
            raise NotFound(f"no thread with topic id {text!r}{where} in the archive")
        if len(candidates) > 1:
            raise NotFound(
                f"topic id {text!r} is in several groups ({', '.join(candidates)}); "
                "give the thread's URL or --group to choose"
            )
        return candidates[0], text, None

    from scraper.models import ThreadRef
    from scraper.urls import parse_url

    try:
        ref = parse_url(text)
    except BadURL as err:
        raise BadURL(f"{err}; THREAD is {THREAD_FORMS}") from None
    if not isinstance(ref, ThreadRef):
        raise BadURL(
            f"{text!r} names a group, not a thread; give a topic id or a URL with /c/<topic>"
        )
    key = ref.group.key
    if not archive.list_threads(key, topic_id=ref.topic_id):
        raise NotFound(
            f"thread {ref.thread_url} is not in the archive; run listarchive sync {ref.group.url}"
        )
    return key, ref.topic_id, ref.message_id


def _from_number(archive, kind: str | None, number: int, text: str) -> tuple[str, str, str | None]:
    # A bare number is a message: search --json's "id". A thread row says so.
    if kind == "thread":
        found = archive.thread_by_id(number)
        if found is None:
            raise NotFound(f"no thread with id {number} in the archive")
        return found[0], found[1], None
    postings = archive.postings_of(number)
    if not postings:
        hint = "" if kind else f" (a thread_id from search --threads --json is thread:{number})"
        raise NotFound(f"no message with id {number} in the archive{hint}")
    return postings[0]


def _from_feed_id(archive, text: str) -> tuple[str, str, str | None]:
    from urllib.parse import unquote

    from archive.feed import ID_PREFIX

    parts = [unquote(p) for p in text.removeprefix(ID_PREFIX).split("/")]
    if not text.startswith(ID_PREFIX) or len(parts) not in (2, 3) or not all(parts):
        raise BadURL(f"{text!r} is not a listarchive feed entry id ({ID_PREFIX}group/topic...)")
    if not archive.list_threads(parts[0], topic_id=parts[1]):
        raise NotFound(f"no thread {parts[1]} of {parts[0]} in the archive")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def _group_keys(archive, value: str) -> list[str]:
    from archive.search import resolve_group
    from scraper.errors import BadQuery

    try:
        return resolve_group(archive.db.conn, value)
    except BadQuery as err:
        raise NotFound(str(err)) from None


def _groups_or_all(group_keys: Sequence[str] | None) -> list[str | None]:
    """What to pass to ``Archive.list_threads`` for each group: ``None`` means all."""
    return list(group_keys) if group_keys else [None]


def select_threads(
    archive,
    threads: Sequence[str] = (),
    *,
    group: str | None = None,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    query: str | None = None,
    now: datetime | None = None,
) -> list[ThreadKey]:
    """The threads to export: those listed, in their order, or else the selection,
    oldest first.

    ``threads`` are THREAD arguments (see :func:`resolve_thread`). The options narrow
    them down, or, without any, select from the whole archive: ``group`` (key, name or
    URL), ``since``/``until`` (a date such as ``2024-03-01`` or a span such as ``30d``;
    compared with the thread's first message, ``until`` including that whole day) and
    ``query`` (the search language: threads with at least one matching message).
    """
    from archive.query import parse_date_bound

    start = parse_date_bound(since, now=now) if since is not None else None
    end = parse_date_bound(until, end=True, now=now) if until is not None else None
    group_keys = _group_keys(archive, group) if group is not None else None

    if threads:
        keys = [resolve_thread(archive, text, group=group) for text in threads]
        if query is not None:
            matching = {key for key in _query_threads(archive, query, group_keys)}
            keys = [key for key in keys if key in matching]
    elif query is not None:
        keys = _query_threads(archive, query, group_keys)
    else:
        keys = [
            (row["group_key"], row["topic_id"])
            for key in _groups_or_all(group_keys)
            for row in archive.list_threads(key)
        ]
    if group_keys is not None:
        keys = [key for key in keys if key[0] in group_keys]
    keys = list(dict.fromkeys(keys))  # a thread named twice is exported once
    if threads and start is None and end is None:
        return _once_per_cross_post(archive, keys, listed=True)  # as the user listed them

    created = {
        (row["group_key"], row["topic_id"]): parse_utc_or_none(row["created_at"])
        for key in _groups_or_all(group_keys)
        for row in archive.list_threads(key)
    }
    if start is not None:
        keys = [k for k in keys if (when := created.get(k)) is not None and when >= start]
    if end is not None:
        keys = [k for k in keys if (when := created.get(k)) is not None and when < end]
    if not threads:
        far_past = datetime.min.replace(tzinfo=UTC)
        keys.sort(key=lambda k: (created.get(k) or far_past, k))
    return _once_per_cross_post(archive, keys, listed=bool(threads))


def _once_per_cross_post(archive, keys: list[ThreadKey], *, listed: bool) -> list[ThreadKey]:
    """One thread for each opening message: a message cross-posted to several groups
    is one announcement, so one post, whose front matter lists every group.

    The thread kept is the one the user named first when threads were listed, else
    the one from the group the message was archived from first. (With ``--group``
    the others were never selected.)
    """
    if len(keys) < 2:
        return keys
    kept = _cross_post_choice(archive, keys, listed=listed)
    return [key for key in keys if kept.get(key, key) == key]


def _cross_post_choice(
    archive, keys: list[ThreadKey], *, listed: bool
) -> dict[ThreadKey, ThreadKey]:
    """For each thread of ``keys``, the thread of ``keys`` exported in its place
    (itself, unless it is a cross-post exported under another group)."""
    rows = archive.db.execute(
        "SELECT t.group_key, t.topic_id, p.message_id, p.first_seen_at, p.id"
        " FROM threads t JOIN postings p ON p.id = (SELECT q.id FROM postings q"
        "  WHERE q.thread_id = t.id ORDER BY q.position, q.id LIMIT 1)"
        " WHERE t.group_key || char(9) || t.topic_id IN (SELECT value FROM json_each(?))",
        (json.dumps([f"{group}\t{topic}" for group, topic in keys]),),
    ).fetchall()
    order = {key: index for index, key in enumerate(keys)}
    best: dict[int, tuple[Any, ThreadKey]] = {}
    for group_key, topic_id, message_id, first_seen, posting_id in rows:
        key = (group_key, topic_id)
        rank = order[key] if listed else (first_seen, posting_id)
        if message_id not in best or rank < best[message_id][0]:
            best[message_id] = (rank, key)
    return {(g, t): best[m][1] for g, t, m, *_ in rows}


def site_names(archive, group_keys: Sequence[str] = (), *, ext: str = "md") -> dict[ThreadKey, str]:
    """The file name of each thread of these groups (every group if none) in an
    export of them all into an empty folder, oldest first: what a site built from
    ``export --group ... --out DIR`` serves. A cross-post not exported under its own
    group maps to the name of the one that is."""
    rows = [row for key in _groups_or_all(group_keys) for row in archive.list_threads(key)]
    far_past = datetime.min.replace(tzinfo=UTC)
    rows.sort(
        key=lambda r: (
            parse_utc_or_none(r["created_at"]) or far_past, r["group_key"], r["topic_id"]
        )
    )
    keys = [(row["group_key"], row["topic_id"]) for row in rows]
    choice = _cross_post_choice(archive, keys, listed=False) if len(keys) > 1 else {}
    taken: set[str] = set()
    names: dict[ThreadKey, str] = {}
    for row, key in zip(rows, keys, strict=True):
        if choice.get(key, key) != key:
            continue
        name = next(n for n in _name_options(row, ext) if _free(n, taken))
        taken.add(name)
        names[key] = name
    for key in keys:
        if key not in names and choice.get(key) in names:
            names[key] = names[choice[key]]
    return names


def _query_threads(archive, query: str, group_keys: list[str] | None) -> list[ThreadKey]:
    from archive.search import search_threads

    hits = search_threads(archive, query, groups=group_keys or (), limit=None, sort="date")
    return [(hit.group_key, hit.topic_id) for hit in hits]


# --- pieces shared by every format ----------------------------------------------------

def _title(thread: dict[str, Any]) -> str:
    subject = _clean_line(thread.get("subject") or "")
    return strip_list_tags(subject) or subject or "(no subject)"


def _clean_line(text: str) -> str:
    return inert(text)


def _clean_block(text: str) -> str:
    return inert(text, multiline=True)


def thread_start(thread: dict[str, Any]) -> datetime | None:
    started = parse_utc_or_none(thread.get("created_at"))
    if started is None and thread.get("messages"):
        started = parse_utc_or_none(thread["messages"][0].get("posted_at"))
    return started


def _author(message: dict[str, Any]) -> str:
    return author_label(message.get("author"), message.get("masked_address"), _clean_line)


def _short_time(value: str | None) -> str:
    moment = parse_utc_or_none(value)
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "(no date)"


def _group_label(thread: dict[str, Any]) -> str:
    group = thread.get("group") or {}
    return _clean_line(group.get("title") or "") or thread["group_key"]


# --- thread notes: incomplete or gone upstream (the sync's marks) ---------------------


def thread_notes(thread: dict[str, Any]) -> list[str]:
    """One line per mark the sync left on the thread: fewer messages archived than
    Google counts (``complete`` false), or the thread gone upstream (``gone_since``)."""
    notes = []
    if thread.get("complete") is False:
        notes.append(
            f"Incomplete: the archive holds {thread.get('messages_seen')} of the "
            f"{thread.get('message_count')} messages Google counts for this thread."
        )
    if thread.get("gone_since"):
        notes.append(f"Gone upstream since {_short_time(thread['gone_since'])}.")
    return notes


# --- show -----------------------------------------------------------------------------


def render_thread_text(thread: dict[str, Any], *, marked: str | None = None) -> str:
    """The thread as plain text for a terminal: subject, then each message.

    ``marked`` (a Google message id) flags the message a URL pointed at.
    """
    messages = thread.get("messages") or []
    lines = [
        _clean_line(thread.get("subject") or "") or "(no subject)",
        f"{thread['group_key']} · {len(messages)} message{'s' if len(messages) != 1 else ''}"
        f" · {thread.get('url') or ''}".rstrip(" ·"),
        *thread_notes(thread),
    ]
    for number, message in enumerate(messages, 1):
        lines.append("")
        author = _author(message)
        masked = _clean_line(message.get("masked_address") or "")
        if masked and masked != author:
            author += f" <{masked}>"
        header = f"[{number}/{len(messages)}] {author} · {_short_time(message['posted_at'])}"
        if message.get("missing_since"):
            header += " · deleted upstream"
        if marked is not None and message.get("google_message_id") == marked:
            header = f"{header} ◀ this message"
        lines.append(header)
        subject = _clean_line(message.get("subject") or "")
        if subject and bare_subject(subject) != bare_subject(thread.get("subject") or ""):
            lines.append(f"Subject: {subject}")
        lines.append("")
        body = _clean_block(message.get("body_text") or "").strip("\n")
        lines.append(body or "(no text)")
        for attachment in message.get("attachments") or []:
            name = _clean_line(attachment.get("filename") or "") or "attachment"
            lines.append(f"[attachment] {name} {_clean_line(attachment.get('url') or '')}")
    return "\n".join(lines) + "\n"


# --- Markdown -------------------------------------------------------------------------

_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")


def yaml_string(value: str) -> str:
    """A double-quoted YAML scalar that reads back as exactly ``value``.

    JSON strings are YAML; on top of JSON's escapes, characters YAML 1.1 treats as
    line breaks or does not allow unescaped are written as ``\\uXXXX``.
    """
    quoted = json.dumps(value, ensure_ascii=False)
    return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


def _yaml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_value(item) for item in value) + "]"
    return yaml_string(str(value))


# Front-matter strings are printed by themes, and each prints them its own way, as
# checked by building real sites:
#   * minima 2.5 prints ``page.author`` raw into the page (``{{ page.author }}``), and
#     jekyll-seo-tag raw into ``<meta name="author" content="...">`` and into its
#     JSON-LD ``<script>`` (where ``</script>`` ends the script);
#   * minima escapes ``page.title``; jekyll-seo-tag runs titles and descriptions
#     through markdownify, strip_html and escape_once; jekyll-feed through smartify,
#     strip_html and xml_escape; Hugo's html/template escapes everything once.
# No spelling of ``<`` is both inert where a value is printed raw and read back as
# ``<`` where it is escaped: an entity (``&lt;``) shows as "&lt;" in minima's title,
# jekyll-feed and Hugo, and a raw ``<`` is live markup in minima's byline. So the few
# characters those printers treat as syntax are written as their full-width forms
# (``<`` as U+FF1C), which every printer passes through as plain text and a reader
# reads as written; Unicode compatibility folding (NFKC) maps each back to the
# original, as search engines do. Those characters are HTML's ``<``, ``>`` and ``"``,
# an ``&`` that would start an entity, and the Markdown that jekyll-seo-tag's
# markdownify would turn into structure (``|``, ``*``, backticks, and ``_`` at a
# word's edge); everything else, ``snake_case`` and "Q&A" included, stays as typed.
_FULL_WIDTH = str.maketrans({c: chr(ord(c) + 0xFEE0) for c in '<>"|*`'})
_ENTITY_AMPERSAND = re.compile(r"&(?=#?[0-9A-Za-z]+;)")


def page_text(text: str) -> str:
    """A one-line front-matter value that every common theme prints as inert text."""
    text = _clean_line(text)
    text = _ENTITY_AMPERSAND.sub("\uff06", text)
    text = _EDGE_UNDERSCORE.sub("\uff3f", text)
    return text.translate(_FULL_WIDTH)


DESCRIPTION_CHARS = 160


def description(message: dict[str, Any]) -> str:
    """The opening of a message's text, for summaries and search results: about
    DESCRIPTION_CHARS characters, cut at a word, quoted lines left out."""
    lines = (_clean_block(message.get("body_text") or "")).split("\n")
    text = _clean_line(" ".join(line for line in lines if not line.lstrip().startswith(">")))
    if len(text) <= DESCRIPTION_CHARS:
        return text
    cut = text[: DESCRIPTION_CHARS + 1].rsplit(" ", 1)[0] or text[:DESCRIPTION_CHARS]
    return cut.rstrip(" ,;:.-") + "…"


def _published(thread: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages a published page shows."""
    everything = thread.get("messages") or []
    # Messages gone upstream are mostly moderated spam: the archive keeps them, a
    # published page does not (unless nothing else is left of the thread).
    return [m for m in everything if not m.get("missing_since")] or everything


def _tags(thread: dict[str, Any]) -> list[str]:
    """The subject's list tags, then the group's name."""
    group_name = (thread.get("group") or {}).get("name") or thread["group_key"].split("@")[0]
    tags = subject_tags(thread.get("subject") or "")
    for tag in [group_name.lower()]:
        if tag not in tags:
            tags.append(tag)
    return [_clean_line(tag) for tag in tags]


def front_matter(thread: dict[str, Any], *, layout: str = "post") -> dict[str, Any]:
    """The front matter fields, in order: layout, title, date, author, description,
    groups, source, message_count, tags. Strings that themes print go through
    :func:`page_text`."""
    messages = thread.get("messages") or []
    first = messages[0] if messages else {}
    shown = _published(thread)
    groups = [thread["group_key"]]
    for key in first.get("groups") or []:
        if key not in groups:
            groups.append(key)
    fields: dict[str, Any] = {
        "layout": layout,
        "title": page_text(_title(thread)),
        "date": thread_start(thread),
        "author": page_text(_author(first)) if first else "",
        "description": page_text(description(shown[0])) if shown else "",
        "groups": groups,
        "source": thread.get("url") or "",
        "message_count": thread.get("message_count") or len(messages),
        "tags": [page_text(tag) for tag in _tags(thread)],
    }
    if fields["date"] is None:
        del fields["date"]
    if not fields["description"]:
        del fields["description"]
    return fields


def _front_matter_block(fields: dict[str, Any]) -> str:
    lines = ["---"]
    lines += [f"{name}: {_yaml_value(value)}" for name, value in fields.items()]
    lines.append("---")
    return "\n".join(lines)


def _attachments_markdown(message: dict[str, Any]) -> str:
    items = []
    for attachment in message.get("attachments") or []:
        name = escape_markdown(_clean_line(attachment.get("filename") or "") or "attachment")
        url = safe_url(attachment.get("url"))
        items.append(f"- [{name}]({url})" if url else f"- {name}")
    return "*Attachments:*\n\n" + "\n".join(items) if items else ""


def _credit(thread: dict[str, Any], first: dict[str, Any] | None) -> str:
    """The line crediting the source: group, author, time, and any other groups the
    opening message was posted to."""
    source = safe_url(thread.get("url"))
    label = escape_markdown(_group_label(thread))
    where = f"[{label}]({source})" if source else label
    if first is None:
        return f"*Originally posted on {where}*."
    when = _short_time(first.get("posted_at"))
    link = safe_url(first.get("url"))
    stamp = f"[{when}]({link})" if link else when
    line = f"*Originally posted by {escape_markdown(_author(first))} on {where}, {stamp}*."
    others = [key for key in first.get("groups") or [] if key != thread["group_key"]]
    if others:
        line += f" Also posted to {escape_markdown(', '.join(others))}."
    return line


def thread_to_markdown(
    thread: dict[str, Any],
    *,
    first_only: bool = False,
    keep_quotes: bool = False,
    layout: str = "post",
) -> str:
    """A Markdown document for the thread: front matter, then the messages (just the
    opening one with ``first_only``, as a blog reposts an announcement). Bodies are
    converted by :func:`archive.markdown.html_to_markdown`; quoted earlier messages
    are kept only with ``keep_quotes``.

    The line crediting the source follows the opening message rather than leading
    the page: Jekyll's excerpt, Hugo's summary and feed readers take a post's first
    paragraph, which should be the announcement, not the credit.
    """
    messages = _published(thread)
    if first_only:
        messages = messages[:1]
    parts = [_front_matter_block(front_matter(thread, layout=layout))]
    for index, message in enumerate(messages):
        body = html_to_markdown(message.get("body_html") or "", keep_quotes=keep_quotes)
        if not body.strip():
            body = escape_markdown(_clean_block(message.get("body_text") or "").strip())
        if index:
            parts += ["", "---"]
            when = _short_time(message.get("posted_at"))
            link = safe_url(message.get("url"))
            stamp = f"[{when}]({link})" if link else when
            parts += ["", f"**{escape_markdown(_author(message))}** · {stamp}"]
        parts += ["", body or "*(no text)*"]
        attachments = _attachments_markdown(message)
        if attachments:
            parts += ["", attachments]
        if not index:
            parts += ["", _credit(thread, message), *_incomplete_note(thread)]
    if not messages:
        parts += ["", _credit(thread, None), *_incomplete_note(thread)]
    return "\n".join(parts) + "\n"


def _incomplete_note(thread: dict[str, Any]) -> list[str]:
    """The sync's incomplete mark as a line after the credit (see :func:`thread_notes`)."""
    if thread.get("complete") is not False:
        return []
    return ["", f"*{escape_markdown(thread_notes(thread)[0])}*"]


# --- JSON -----------------------------------------------------------------------------


def thread_to_json(
    thread: dict[str, Any], *, first_only: bool = False, keep_quotes: bool = False
) -> dict[str, Any]:
    """The thread as a JSON-ready dict: thread fields, its group, and every field of
    each message, plus ``body_markdown`` (what the Markdown export writes)."""
    messages = thread.get("messages") or []
    if first_only:
        messages = messages[:1]
    out = {
        "group_key": thread["group_key"],
        "topic_id": thread["topic_id"],
        "subject": thread.get("subject") or "",
        "url": thread.get("url"),
        "created_at": thread.get("created_at"),
        "last_activity_at": thread.get("last_activity_at"),
        "message_count": thread.get("message_count"),
        "complete": thread.get("complete"),
        "fetched_at": thread.get("fetched_at"),
        "group": dict(thread.get("group") or {}),
        "tags": _tags(thread),
        "messages": [],
    }
    for message in messages:
        item = {key: value for key, value in message.items() if key != "id"}
        item = {"archive_id": message.get("id"), **item}
        item["attachments"] = [dict(a) for a in message.get("attachments") or []]
        item["groups"] = list(message.get("groups") or [])
        item["body_markdown"] = html_to_markdown(
            message.get("body_html") or "", keep_quotes=keep_quotes
        )
        out["messages"].append(item)
    return out


# --- file names -----------------------------------------------------------------------


def _slug(text: str) -> str:
    """Lower-case letters and digits joined by single dashes; never ``.``, ``/`` or a
    control character, at most SLUG_MAX_BYTES bytes of UTF-8."""
    if not text.isascii():  # ASCII is its own NFKD form, with no combining marks
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    words = re.split(r"[^\w]+|_", text.lower())
    slug = ""
    for word in filter(None, words):
        if not word.isalnum():
            word = "".join(c for c in word if c.isalnum())
        if not word:
            continue
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate.encode("utf-8")) > SLUG_MAX_BYTES:
            if not slug:  # one enormous word: cut it
                while len(candidate.encode("utf-8")) > SLUG_MAX_BYTES:
                    candidate = candidate[:-1]
                slug = candidate
            break
        slug = candidate
    return slug


def _name_options(thread: dict[str, Any], ext: str) -> Iterator[str]:
    started = thread_start(thread)
    day = started.strftime("%Y-%m-%d") if started else "undated"
    subject = thread.get("subject") or ""
    slug = _slug(strip_list_tags(subject)) or _slug(subject) or "thread"
    topic = _slug(thread["topic_id"].replace("_", "-")) or "topic"
    group = _slug(thread["group_key"]) or "group"
    yield f"{day}-{slug}.{ext}"
    yield f"{day}-{slug}-{topic}.{ext}"
    longest = f"{day}-{slug}-{topic}-{group}"
    yield f"{longest}.{ext}"
    for n in range(2, 10_000):
        yield f"{longest}-{n}.{ext}"


def export_filename(thread: dict[str, Any], taken: set[str], *, ext: str = "md") -> str:
    """``YYYY-MM-DD-<slug>.<ext>`` for the thread, not one of ``taken``; added to it.

    The date is the thread's start (UTC), the slug its subject without list tags.
    When the name is taken (another thread started the same day with the same
    subject), the topic id is added, then the group.
    """
    for name in _name_options(thread, ext):
        if name not in taken:
            taken.add(name)
            return name
    raise ListarchiveError(f"no free file name for thread {thread.get('url')}")


# --- writing --------------------------------------------------------------------------

_SOURCE_LINE = re.compile(r'^source: (".*")\s*$', re.MULTILINE)


def _source_of(path: Path) -> str | None:
    """The source URL a previous export wrote into ``path``, if it is one of ours."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if path.suffix == ".json":
        try:
            source = json.loads(text).get("url")
        except (ValueError, AttributeError):
            return None
        return source if isinstance(source, str) else None
    if not text.startswith("---\n"):
        return None
    end = text.find("\n---", 3)
    match = _SOURCE_LINE.search(text[: end if end > 0 else 0])
    if not match:
        return None
    try:
        return json.loads(match.group(1))
    except ValueError:
        return None


def _prepare_out_dir(out_dir: Path) -> Path:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ListarchiveError(f"--out {out_dir} exists and is not a directory") from None
    except OSError as err:
        raise ListarchiveError(f"cannot create {out_dir}: {err.strerror or err}") from None
    return out_dir.resolve()


def _exports_in(directory: Path, ext: str) -> dict[str, list[str]]:
    """The files an earlier export wrote into ``directory``, by the source URL each
    carries: the thread's identity, whatever its file is called."""
    found: dict[str, list[str]] = {}
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError as err:
        raise ListarchiveError(f"cannot read {directory}: {err.strerror or err}") from None
    for entry in entries:
        if not entry.name.endswith("." + ext) or entry.name.startswith("."):
            continue
        if not entry.is_file(follow_symlinks=False):
            continue
        source = _source_of(Path(entry.path))
        if source:
            found.setdefault(source, []).append(entry.name)
    return found


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def export_threads(
    archive,
    selection: Iterable[ThreadKey],
    out_dir: str | Path | None = None,
    fmt: str = "markdown",
    *,
    first_only: bool = False,
    keep_quotes: bool = False,
    stream: IO[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write the selected threads; return the thread files, written or not.

    With ``out_dir``, one file per thread (the directory is created if missing). A
    file is written only when its content changes, so a static site rebuilt from
    the folder redeploys only what changed. A file an earlier export wrote for the
    same thread is kept under its name; when the thread's name changed (its start
    date was corrected, or its subject), the old file is renamed, never left beside
    the new one, and ``log`` says so. A cross-post's file written under one group is
    the same thread's when it is exported under another: one announcement stays one
    post. Any other file is left alone and the thread
    takes the next name (see :func:`export_filename`). Without ``out_dir``, Markdown
    (one thread only) or a JSON array goes to ``stream`` (stdout).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    keys = list(selection)

    def threads() -> Iterator[dict[str, Any]]:
        # One at a time: a large export never holds every thread in memory.
        for group_key, topic_id in keys:
            thread = archive.get_thread(group_key, topic_id)
            if thread is None:
                raise NotFound(f"thread {topic_id} of {group_key} is not in the archive")
            yield thread

    def as_json(thread: dict[str, Any]) -> dict[str, Any]:
        return thread_to_json(thread, first_only=first_only, keep_quotes=keep_quotes)

    def render(thread: dict[str, Any]) -> str:
        if fmt == "json":
            return json.dumps(as_json(thread), indent=2, ensure_ascii=False) + "\n"
        return thread_to_markdown(thread, first_only=first_only, keep_quotes=keep_quotes)

    if out_dir is None:
        stream = stream or sys.stdout
        if fmt == "json":
            stream.write("[")
            # The same text as json.dumps(list, indent=2), one thread at a time.
            for index, thread in enumerate(threads()):
                text = json.dumps(as_json(thread), indent=2, ensure_ascii=False)
                stream.write(("," if index else "") + "\n" + _indent(text))
            stream.write("\n]\n" if keys else "]\n")
        elif len(keys) > 1:
            raise ValueError("several threads in Markdown need an output directory")
        else:
            for thread in threads():
                stream.write(render(thread))
        return []

    directory = _prepare_out_dir(Path(out_dir))
    ext = EXTENSIONS[fmt]
    earlier = _exports_in(directory, ext)
    owner = {name: source for source, names in earlier.items() for name in names}
    used: set[str] = set()
    files: list[Path] = []
    counts = {"written": 0, "unchanged": 0, "renamed": 0}
    for thread in threads():
        source = thread.get("url") or ""
        # A cross-post is one announcement, so one file: the file an earlier export
        # wrote for it under another group is this thread's too, and is renamed (or
        # rewritten in place) rather than left beside it as a second post.
        sources = [source, *_cross_post_sources(archive, thread)]
        mine = [name for s in sources for name in earlier.pop(s, []) if name not in used]
        name = _choose_name(directory, thread, ext, set(sources), mine, used, owner)
        used.add(name)
        path = directory / name
        text = render(thread)
        for old in mine:
            if old == name:
                continue
            old_path = directory / old
            try:
                if not path.exists():
                    os.replace(old_path, path)
                else:
                    old_path.unlink()
            except OSError as err:
                raise ListarchiveError(f"cannot rename {old_path}: {err.strerror or err}") from None
            counts["renamed"] += 1
            if log and owner[old] != source:  # written for one of its cross-posts
                log(f"Renamed {old} to {name}: the same cross-post, now exported under "
                    f"{_clean_line(thread['group_key'])}")
            elif log:
                log(f"Renamed {old} to {name}: the thread's date or subject changed")
        if _read(path) == text:
            counts["unchanged"] += 1
        else:
            write_atomically(path, text.encode("utf-8"))
            counts["written"] += 1
        files.append(path)
    if log:
        noun = "thread" if len(files) == 1 else "threads"
        log(
            f"Exported {len(files)} {noun} to {out_dir}: {counts['written']} written, "
            f"{counts['unchanged']} unchanged, {counts['renamed']} renamed"
        )
    return files


def _cross_post_sources(archive, thread: dict[str, Any]) -> list[str]:
    """The URLs of the other threads that open with this thread's first message: the
    same announcement cross-posted to other groups."""
    messages = thread.get("messages") or []
    if not messages or len(messages[0].get("groups") or []) < 2:
        return []
    rows = archive.db.execute(
        "SELECT t.url FROM threads t JOIN postings p ON p.id = (SELECT q.id FROM postings q"
        "  WHERE q.thread_id = t.id ORDER BY q.position, q.id LIMIT 1)"
        " WHERE p.message_id = ? AND t.url != ? ORDER BY t.id",
        (messages[0]["id"], thread.get("url") or ""),
    ).fetchall()
    return [row[0] for row in rows]


def _choose_name(
    directory: Path,
    thread: dict[str, Any],
    ext: str,
    sources: set[str],
    mine: list[str],
    used: set[str],
    owner: dict[str, str],
) -> str:
    """The file name for the thread: the one an earlier export gave it, while that is
    still one of the thread's names; else the first name that is free or its own.
    ``sources`` are the thread's URL and those of its cross-posts elsewhere."""
    names = _name_options(thread, ext)
    if mine:
        wanted = set(mine)
        for name in names:
            if name in wanted:
                return name
        names = _name_options(thread, ext)
    for name in names:
        if not _free(name, used) or _next_door(directory, name, sources, owner):
            continue
        path = directory / name
        if path.parent != directory or path.name != name:  # never, but never write there
            raise ListarchiveError(f"refusing to write outside {directory}: {name!r}")
        if not path.exists() and not path.is_symlink():
            return name
        if owner.get(name) in sources:
            return name
    raise ListarchiveError(f"no free file name for thread {thread.get('url') or ''}")


_DATED_NAME = re.compile(r"(\d{4}-\d\d-\d\d)-(.+)\Z")


def _neighbours(name: str) -> list[str]:
    """The same name dated a day before and a day after.

    Names are dated in UTC, but Jekyll dates a post's URL in the site's time zone,
    which may move a thread to the day before or after: two threads with the same
    subject on neighbouring days could then share one URL, and Jekyll would
    silently build only one of them. Such a name is lengthened like a same-day one.
    """
    match = _DATED_NAME.match(name)
    if not match:
        return []
    day = datetime.fromisoformat(match.group(1))
    return [f"{(day + timedelta(days=step)):%Y-%m-%d}-{match.group(2)}" for step in (-1, 1)]


def _free(name: str, taken: set[str]) -> bool:
    """Whether ``name`` can be given next to the names in ``taken``."""
    return name not in taken and not any(other in taken for other in _neighbours(name))


def _next_door(directory: Path, name: str, sources: set[str], owner: dict[str, str]) -> bool:
    """Whether a file of another thread (or not an export) has the same slug a day
    before or after (see :func:`_neighbours`)."""
    return any(
        owner.get(other) not in sources and (directory / other).exists()
        for other in _neighbours(name)
    )


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.split("\n"))
