"""Pages and RPC replies in the shapes Google Groups serves them.

Pure functions: model objects in, ``str`` out. The shapes follow the research notes
(group page, thread page, batchexecute) and the pages in tests/pages: the same JSON
positions, ARIA/data attributes and minified class names.

Where this goes beyond those pages, on purpose:

* Every page carries a second, unrelated ``AF_initDataCallback`` block, so a parser
  must pick its block through ``AF_dataServiceRequests``. By default the unrelated
  block comes first (ds:1 on group pages, ds:2 on thread pages; the data is ds:7 /
  ds:6); the ``renamed`` variant puts the data first as ds:3 and the other as ds:11.
* JSON inside ``<script>`` escapes ``<``, ``>`` and ``&`` as ``\\u003c`` etc., and uses
  compact separators; ``json`` decoding gives the same values either way.
* In a thread's JSON, a message element is ``[[meta, body]]`` and becomes
  ``[[meta, body, attachments]]`` only when the message has attachments. Some bodies
  are split into 2-3 type-1 segments, and some carry an extra type-2 segment (plain
  text) that is not part of the body: concatenate the type-1 segments only.
* In a thread's DOM, each ``section`` starts with the author's ``h3`` followed by the
  author's masked address (the section's first ``a[data-email-masked]``); then the
  date, Google's signed-out menu text, a "to <group>[, <replied-to masked address>]"
  line, and the body. The first ``div.gmail_quote`` of a body is folded: wrapped in
  ``.wqmMgb`` after a "Show trimmed content" button, the quote itself kept in a hidden
  ``div``. Attachments are in the JSON only.
* Visible dates are rendered in UTC, en-US; short list dates are relative to ``today``
  ("3:43 PM" today, "Jan 27" this year, "1/27/19" before).
* ``.F5JnCe``'s label is proper English: "1 message", "3 messages".

What the live service does, from google-groups-evidence-2026.md (each place cites it):
topic-row fields [4]/[5] are the newest message's updated and post times; titles and
snippets come HTML-escaped; deleted messages keep their place in a thread's list with no
author and no body, and the counts leave them out; the last topic page may end in null
rows and a token to a page of null rows (``SimGroup.null_last_page``); ``H08Fi`` serves a
thread's JSON without the page. ``SimTopic.raw_row`` and ``SimMessage.raw_meta`` serve
odd JSON verbatim (``1e30``, lone surrogates, deep nesting) for robustness tests.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from tests.simulator.model import (
    CANONICAL_ORIGIN,
    SimGroup,
    SimMessage,
    SimTopic,
    TopicRow,
    digest,
    text_snippet,
)

THREAD_PAGE_LIMIT = 100  # a thread page carries at most this many messages
PAGE_SIZE = 30
LIST_RPC = "Dq0xse"
THREAD_RPC = "H08Fi"
OTHER_RPC = "AGm4Ld"  # an unrelated data service, present so parsers must use the mapping

WIZ_GLOBAL_DATA = {
    "SNlM0e": "AOjK3fVn5w0pQmY2x8cLrT7sZ1bE:1735689600000",
    "FdrFJe": "-3078643617398008504",
    "cfb2h": "boq_groupsfrontendserver_20250114.06_p0",
}

# Google's minified class names, as the fixtures and scrapers know them.
CLASS_NAMES = (
    "aEb7Ed yhgbKd VWSb7b z0zUgf ZLl54 Dysyo iBQX0d t17a0d o1DPKc WzoK F5JnCe kOkyJc tRlaM "
    "RBM0ic KPwZRb gKR4Fb ThqSJd Nadu4b BkrUxb D1OdOb LgTNRd s1f8Zd ELCJ4d zX2W9c X7AGAf "
    "ptW7te wqmMgb"
).split()


def _renamed(name: str) -> str:
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    alphabet = letters + "0123456789"
    raw = digest("renamed-class", name)
    return letters[raw[0] % 52] + "".join(alphabet[b % 62] for b in raw[1:6])


DEFAULT_CLASSES = {name: name for name in CLASS_NAMES}
RENAMED_CLASSES = {name: _renamed(name) for name in CLASS_NAMES}


@dataclass(frozen=True)
class Variant:
    """How a page deviates from the default: no embedded JSON, or a new release's names."""

    json: bool = True
    renamed: bool = False

    @property
    def classes(self) -> dict[str, str]:
        return RENAMED_CLASSES if self.renamed else DEFAULT_CLASSES

    def ds_keys(self, page: str) -> tuple[int, int, bool]:
        """``(data ds number, other ds number, data block first?)``."""
        if self.renamed:
            return 3, 11, True
        return (7, 1, False) if page == "list" else (6, 2, False)


DEFAULT = Variant()


@lru_cache(maxsize=4096)
def esc(text: str) -> str:
    """``html.escape``, cached: names, subjects and addresses repeat on every page."""
    return html.escape(text, quote=True)


def script_json(value: object) -> str:
    """JSON safe inside ``<script>``: no ``</script>`` can close the block early."""
    text = json.dumps(value, separators=(",", ":"))
    text = text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return expand_raw(text)


# Odd data for robustness tests: a value that stands for raw JSON text, substituted into
# the serialised page or reply (Python values cannot hold 1e30 as JSON spells it, a lone
# surrogate escape, or nesting deeper than json.dumps goes).
_RAW_MARK = "\x00RAW\x00"
_RAW_FOUND = re.compile(r'"\\u0000RAW\\u0000(?:[^"\\]|\\.)*?\\u0000"')


def raw_json(text: str) -> str:
    """A placeholder that :func:`expand_raw` replaces by ``text`` verbatim."""
    return f"{_RAW_MARK}{text}\x00"


def expand_raw(serialised: str) -> str:
    if _RAW_MARK[1:4] not in serialised:
        return serialised
    return _RAW_FOUND.sub(lambda m: json.loads(m.group())[len(_RAW_MARK) : -1], serialised)


def google_escape(text: str) -> str:
    """Titles and snippets as topic rows carry them: HTML-escaped, ``'`` as ``&#39;``.

    Evidence section 1: the systems-neuro-scrape snippets hold ``&amp;``, ``&#39;`` and
    ``&quot;``, and aposd-illustrated's groups_scan.py unescapes titles before use.
    """
    return html.escape(text, quote=True).replace("&#x27;", "&#39;")


def epoch(value: datetime) -> list[int]:
    return [int(value.timestamp()), value.microsecond * 1000]


def long_date(value: datetime) -> str:
    hour = value.hour % 12 or 12
    half = "AM" if value.hour < 12 else "PM"
    return f"{value:%b} {value.day}, {value.year}, {hour}:{value:%M:%S}\u202f{half}"


def numeric_date(value: datetime) -> str:
    return f"{value.month}/{value.day}/{value:%y}"


def list_date(value: datetime, today: date) -> str:
    if value.date() == today:
        return f"{value.hour % 12 or 12}:{value:%M}\u202f{'AM' if value.hour < 12 else 'PM'}"
    if value.year == today.year:
        return f"{value:%b} {value.day}"
    return numeric_date(value)


def _head(title: str) -> str:
    return (
        '<!doctype html><html lang="en" dir="ltr"><head>'
        '<base href="https://groups.google.com/"><meta charset="utf-8">'
        f"<title>{esc(title)}</title>\n"
        f'<script nonce="sim">window.WIZ_global_data = {json.dumps(WIZ_GLOBAL_DATA)};</script>'
        "</head><body><c-wiz>\n"
    )


def _data_scripts(
    page: str, variant: Variant, data: object, request: list[object], group: SimGroup
) -> str:
    """The ``AF_initDataCallback`` blocks and the ``AF_dataServiceRequests`` mapping."""
    rpc = LIST_RPC if page == "list" else THREAD_RPC
    data_ds, other_ds, data_first = variant.ds_keys(page)
    blocks = [
        (data_ds, rpc, request, data, "2"),
        (other_ds, OTHER_RPC, [group.email], _group_info(group), "1"),
    ]
    if not data_first:
        blocks.reverse()
    out = []
    if variant.json:
        for number, _rpc, _request, payload, hash_ in blocks:
            out.append(
                f'<script class="ds:{number}" nonce="sim">AF_initDataCallback({{key: '
                f"'ds:{number}', hash: '{hash_}', data:{script_json(payload)}, "
                "sideChannel: {}});</script>\n"
            )
    keys = ",".join(f'"ds:{number}"' for number, *_ in blocks)
    mapping = ",".join(
        f"'ds:{number}' : {{id:'{rpc_id}',request:{script_json(req)}}}"
        for number, rpc_id, req, _payload, _hash in blocks
    )
    out.append(
        f'<script nonce="sim">var AF_initDataKeys = [{keys}]; var AF_dataServiceRequests = '
        f"{{{mapping}}}; var AF_initDataChunkQueue = [];</script>\n"
    )
    return "".join(out)


def _group_info(group: SimGroup) -> list[object]:
    return [[group.gid, group.email], group.title, f"Discussions of {group.title}", [["en"], 0]]


# -- topic list ---------------------------------------------------------------------------


def topic_meta(group: SimGroup, row: TopicRow, raw: dict[int, str] | None = None) -> list[object]:
    """One row's meta. [4] is the newest message's updated time and [5] its post time
    (evidence section 1); title and snippet come HTML-escaped."""
    authors = [[name, None, None, author_id] for name, author_id in row.authors]
    meta: list[object] = [
        group.gid,
        row.id,
        google_escape(row.subject),
        google_escape(row.snippet),
        epoch(row.last_activity_at),
        epoch(row.last_posted_at),
        row.message_count,
        None,
        None,
        [authors, row.author_count],
    ]
    for position, text in (raw or {}).items():
        meta[position] = raw_json(text)
    return meta


def topic_list_data(
    group: SimGroup,
    total: int,
    rows: Sequence[TopicRow | None] | None,
    token: str | None,
    raw_rows: dict[str, dict[int, str]] | None = None,
) -> list[object]:
    """``[[gid, email], total, [[topic_meta], ...], next_token|null]`` (page and RPC).

    ``rows=None`` serves the null row list the evidence allows on the last page, and a
    None among the rows a null row.
    """
    raw_rows = raw_rows or {}
    listed = (
        None
        if rows is None
        else [
            None if row is None else [topic_meta(group, row, raw_rows.get(row.id))]
            for row in rows
        ]
    )
    return [[group.gid, group.email], total, listed, token]


def group_page(
    group: SimGroup,
    total: int,
    rows: Sequence[TopicRow],
    token: str | None,
    *,
    today: date,
    variant: Variant = DEFAULT,
    raw_rows: dict[str, dict[int, str]] | None = None,
) -> str:
    c = variant.classes
    link_base = group.path.lstrip("/")
    parts = [_head(f"{group.title} - Google Groups"), f"<h2>{esc(group.title)}</h2>\n"]
    if rows:
        parts.append(f'<div class="{c["aEb7Ed"]}">1&#8211;{len(rows)} of {total:,}</div>\n')
    parts.append('<div role="rowgroup">\n')
    for row in rows:
        subject = esc(row.subject)
        authors = ", ".join(
            f'<span class="{c["z0zUgf"]}">{esc(name)}</span>' for name, _ in row.authors
        )
        count = row.message_count
        parts.append(
            f'<div role="row" class="{c["yhgbKd"]}" data-rowid="{row.id}" '
            f'aria-label="Select {subject}">\n'
            f' <div class="{c["VWSb7b"]}">{authors}</div>\n'
            f' <a class="{c["ZLl54"]} {c["Dysyo"]}" href="./{link_base}/c/{row.id}">'
            f'<div class="{c["iBQX0d"]} {c["t17a0d"]}"><span class="{c["o1DPKc"]}">{subject}'
            f'</span></div><span class="{c["WzoK"]}">{esc(row.snippet)}</span></a>\n'
            f' <div class="{c["F5JnCe"]}" aria-label="{count} message{"" if count == 1 else "s"}">'
            f"{count}</div>\n"
            f' <div class="{c["kOkyJc"]}"><div class="{c["tRlaM"]}">'
            f"{list_date(row.last_activity_at, today)}</div></div>\n</div>\n"
        )
    parts.append("</div>\n")
    if token:
        parts.append('<div role="button" aria-label="Next page" tabindex="0"></div>\n')
    parts.append("</c-wiz>\n")
    parts.append(
        _data_scripts(
            "list",
            variant,
            topic_list_data(group, total, rows, token, raw_rows),
            [group.email, PAGE_SIZE, None, [], 0],
            group,
        )
    )
    parts.append("</body></html>\n")
    return "".join(parts)


# -- thread ---------------------------------------------------------------------------------

_DIV_TOKEN = re.compile(r"<div\b|</div\s*>")
_QUOTE = re.compile(r'<div class="gmail_quote\b')
MENU_TEXT = (
    "Reply to author",
    "Sign in to reply to author",
    "Forward",
    "Sign in to forward",
    "Delete",
    "You do not have permission to delete messages in this group",
    "Copy link",
    "Report message",
    "Show original message",
    "Either email addresses are anonymous for this group or you need the view member "
    "email addresses permission to view the original message",
)
MENU_HTML = (
    '<div aria-hidden="true">' + "".join(f"<div>{item}</div>" for item in MENU_TEXT) + "</div>"
)


def fold_quote(body: str, fold_class: str) -> str:
    """Google's "Show trimmed content": the first ``div.gmail_quote`` folded away."""
    start = _QUOTE.search(body)
    if start is None:
        return body
    depth = 0
    for token in _DIV_TOKEN.finditer(body, start.start()):
        depth += 1 if token.group().startswith("<div") else -1
        if depth == 0:
            end = token.end()
            return (
                f'{body[: start.start()]}<div class="{fold_class}"><div role="button" '
                'aria-label="Show trimmed content" aria-expanded="false"></div>'
                f'<div style="display:none">{body[start.start() : end]}</div></div>{body[end:]}'
            )
    return body


def body_segments(message_id: str, served: str) -> list[object]:
    """``[2, [[1, [null, html]], ...]]``: some bodies split, some with a non-HTML segment."""
    plan = digest("segments", message_id)[0] % 5
    pieces = [served]
    if plan in (1, 2) and len(served) > 40:
        cuts = 2 if plan == 1 else 3
        pieces = []
        rest = served
        for remaining in range(cuts, 1, -1):
            at = rest.rfind("<", 1, len(rest) // remaining + 1)
            if at <= 0:
                break
            pieces.append(rest[:at])
            rest = rest[at:]
        pieces.append(rest)
    segments: list[object] = [[1, [None, piece]] for piece in pieces]
    if plan == 3:
        segments.append([2, [None, text_snippet(served, 200)]])
    return [2, segments]


def message_record(
    group: SimGroup, message: SimMessage, served: str, *, deleted: bool = False
) -> list[object]:
    """One element of a thread's message list. A deleted message keeps its place and
    times but has an empty author and no body (evidence section 3)."""
    meta: list[object] = [
        group.gid,
        message.id,
        [] if deleted else [[message.author, None, None, message.author_id]],
        0,
        None,
        "" if deleted else message.subject,
        "" if deleted else message.snippet,
        epoch(message.updated_at or message.posted_at),
        epoch(message.posted_at),
    ]
    for position, text in message.raw_meta.items():
        meta.extend([None] * (position + 1 - len(meta)))
        meta[position] = raw_json(text)
    if deleted:
        return [[meta]]
    record: list[object] = [meta, body_segments(message.id, served)]
    if message.attachments:
        record.append(
            [
                [attachment.url(group, n), None, None, attachment.mime_type, attachment.filename]
                for n, attachment in enumerate(message.attachments, start=1)
            ]
        )
    return [record]


def thread_data(
    group: SimGroup,
    topic: SimTopic,
    messages: Sequence[SimMessage],
    served: Sequence[str],
    token: str | None = None,
) -> list[object]:
    """The thread page's JSON and the ``H08Fi`` payload; [1][6] leaves deleted messages
    out, as the topic list's count does. ``token`` (the ``H08Fi`` continuation) is this
    project's assumption: no public source shows how a longer thread continues."""
    data: list[object] = [
        [group.gid, group.email],
        [group.gid, topic.id, topic.subject, None, None, None, len(topic.messages)],
        [
            message_record(group, m, body, deleted=m not in topic.messages)
            for m, body in zip(messages, served, strict=True)
        ],
    ]
    if token is not None:
        data.append(token)
    return data


def _section(
    message: SimMessage,
    index: int,
    served: str,
    replied_to: SimMessage | None,
    group_title: str,
    c: dict[str, str],
    *,
    deleted: bool = False,
) -> str:
    label = f"c{2 * index + 1}"
    if deleted:
        # The place of a deleted message: no author, no address, no body.
        return (
            f'<section class="{c["BkrUxb"]}" role="listitem" data-doc-id="{message.id}">\n'
            f' <div class="{c["D1OdOb"]}">\n'
            f'  <div class="{c["LgTNRd"]}"><h3 class="{c["s1f8Zd"]}" id="{label}"></h3></div>\n'
            f'  <div class="{c["ELCJ4d"]}"><span class="{c["zX2W9c"]}">'
            f"{long_date(message.posted_at)}</span><span>{numeric_date(message.posted_at)}"
            "</span></div>\n </div>\n</section>\n"
        )
    masked = message.masked_address
    address = (
        f'<a data-email-masked="" href="https://groups.google.com/">{esc(masked)}</a>'
        if masked
        else ""
    )
    recipients = esc(group_title)
    if replied_to is not None and replied_to.masked_address:
        recipients += (
            ', <a data-email-masked="" href="https://groups.google.com/">'
            f"{esc(replied_to.masked_address)}</a>"
        )
    return (
        f'<section class="{c["BkrUxb"]}" role="listitem" data-doc-id="{message.id}" '
        f'data-author="{esc(message.author)}">\n <div class="{c["D1OdOb"]}">\n'
        f'  <div class="{c["LgTNRd"]}"><h3 class="{c["s1f8Zd"]}" id="{label}">'
        f"{esc(message.author)}</h3>{address}</div>\n"
        f'  <div class="{c["ELCJ4d"]}"><span class="{c["zX2W9c"]}">{long_date(message.posted_at)}'
        f"</span><span>{numeric_date(message.posted_at)}</span></div>\n"
        f"  {MENU_HTML}\n"
        f"  <div>to {recipients}</div>\n"
        f'  <div class="{c["X7AGAf"]}"><div class="{c["ptW7te"]}" jsname="yjbGtf" role="region" '
        f'aria-labelledby="{label}"><html-blob>{fold_quote(served, c["wqmMgb"])}</html-blob>'
        "</div></div>\n </div>\n</section>\n"
    )


def thread_page(
    group: SimGroup,
    topic: SimTopic,
    *,
    variant: Variant = DEFAULT,
    limit: int = THREAD_PAGE_LIMIT,
) -> str:
    """The whole thread page; only the first ``limit`` messages, as Google does."""
    c = variant.classes
    messages = topic.served_messages()[:limit]
    served = [message.served_html if message in topic.messages else "" for message in messages]
    parts = [
        _head(topic.subject),
        f"<h2>{esc(group.title)}</h2>\n",
        f'<div class="{c["RBM0ic"]}">\n',
        f'<h1 class="{c["KPwZRb"]} {c["gKR4Fb"]}" jsname="GNEpNe"><html-blob>'
        f'<div class="{c["ThqSJd"]}">{esc(topic.subject)}</div></html-blob></h1>\n',
        f'<div class="{c["Nadu4b"]}">{topic.views:,} views</div>\n',
        '<div role="list">\n',
    ]
    previous = None
    for index, (message, body) in enumerate(zip(messages, served, strict=True)):
        deleted = message not in topic.messages
        parts.append(_section(message, index, body, previous, group.title, c, deleted=deleted))
        previous = None if deleted else message
    parts.append("</div></div></c-wiz>\n")
    parts.append(
        _data_scripts(
            "thread",
            variant,
            thread_data(group, topic, messages, served),
            [group.email, topic.id],
            group,
        )
    )
    parts.append("</body></html>\n")
    return "".join(parts)


# -- batchexecute ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RpcResult:
    """One call's answer: ``payload`` (JSON-able) or an ``error`` status code."""

    rpc_id: str
    tag: str
    payload: object = None
    error: int | None = None


def batchexecute_reply(results: Iterable[RpcResult]) -> str:
    """``)]}'`` + a JSON array of ``wrb.fr`` entries, then ``di`` and ``af.httprm``."""
    entries: list[object] = []
    for result in results:
        if result.error is not None:
            entries.append(["wrb.fr", result.rpc_id, None, None, None, [result.error], result.tag])
        else:
            inner = expand_raw(
                json.dumps(result.payload, ensure_ascii=False, separators=(",", ":"))
            )
            entries.append(["wrb.fr", result.rpc_id, inner, None, None, None, result.tag])
    entries.append(["di", 87])
    entries.append(["af.httprm", 86, "-6032457013413186581", 25])
    return ")]}'\n\n" + json.dumps(entries, ensure_ascii=False, separators=(",", ":")) + "\n"


# -- other pages ------------------------------------------------------------------------------


def error_page(status: int, reason: str) -> str:
    return (
        '<!DOCTYPE html><html lang=en><meta charset=utf-8><title>'
        f"Error {status} ({esc(reason)})!!1</title>"
        f"<p><b>{status}.</b> <ins>That's an error.</ins></p>"
        f"<p>{esc(reason)}. <ins>That's all we know.</ins></p></html>\n"
    )


def rate_limited_page() -> str:
    return (
        "<!DOCTYPE html><html><head><title>Sorry...</title></head><body>"
        "<h1>Sorry...</h1><p>We're sorry but your computer or network may be sending "
        "automated queries. To protect our users, we can't process your request right now."
        "</p></body></html>\n"
    )


def access_error_page() -> str:
    return (
        _head("Google Groups")
        + "<div><h2>Content unavailable</h2><p>You don't have permission to access this "
        "content</p><p>For access, try contacting the owner of the group.</p></div>"
        "</c-wiz></body></html>\n"
    )


def consent_page(continue_url: str) -> str:
    hidden = (
        f'<input type="hidden" name="continue" value="{esc(continue_url)}">'
        '<input type="hidden" name="gl" value="DE"><input type="hidden" name="m" value="0">'
        '<input type="hidden" name="pc" value="ggr"><input type="hidden" name="hl" value="en">'
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Before you continue to Google</title></head><body>"
        "<h1>Before you continue to Google</h1><p>We use cookies and data to deliver and "
        "maintain Google services.</p>"
        f'<form action="https://consent.google.com/save" method="POST">{hidden}'
        '<input type="hidden" name="set_eom" value="true"><button>Reject all</button></form>'
        f'<form action="https://consent.google.com/save" method="POST">{hidden}'
        '<input type="hidden" name="set_eom" value="false"><button>Accept all</button></form>'
        "</body></html>\n"
    )


def index_page(groups: Sequence[SimGroup], base_url: str) -> str:
    """The simulator's own front page: links to every group (not a Google page)."""
    items = "".join(
        f'<li><a href="{base_url}{group.path}">{esc(group.title)}</a> '
        f"({CANONICAL_ORIGIN}{group.path}, {group.topic_count()} topics)</li>"
        for group in groups
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Google Groups simulator</title></head><body><ul>{items}</ul></body></html>\n"
    )
