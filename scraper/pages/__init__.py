"""Parse Google Groups pages: bytes or str in, :mod:`scraper.models` records out.

Pure functions without I/O. Each parser reads the JSON Google embeds in the page first
(exact epoch timestamps, full bodies, attachments) and falls back to the server-rendered
HTML when that JSON is missing or no longer has the expected shape; ``source`` on the
result says which layer produced it. When neither layer yields the data the parsers raise
:class:`~scraper.errors.LayoutChanged`: an empty thread or topic list is never returned as
if it were real. Saving the offending page is the caller's job.

What the HTML cannot give: topic creation dates, years of recent list dates, authors once
the classes are renamed, attachments, the continuation token, and exact times (visible
dates are in the viewer's unknown timezone and are read as UTC; see :mod:`.dates`).
"""

from __future__ import annotations

import hashlib
import html as html_lib
import json
import logging
import re
from dataclasses import replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any
from urllib.parse import unquote, urlsplit

from scraper.errors import LayoutChanged
from scraper.models import (
    Attachment,
    Group,
    GroupRef,
    Message,
    PageTokens,
    RejectedTopic,
    Thread,
    ThreadRef,
    Topic,
    TopicPage,
)
from scraper.pages import dom, scan
from scraper.pages.blocks import (
    RPC_THREAD,
    RPC_TOPIC_LIST,
    build_batchexecute_request,
    find_rpc_data,
    init_data_blocks,
    json_int,
    pick_rpc_data,
    rpc_payload,
)
from scraper.pages.blocks import parse_page_tokens as _tokens_from_text
from scraper.pages.dates import epoch_to_datetime, parse_visible_date
from scraper.pages.dom import MASKED_ADDRESS_RE, find_masked_addresses

__all__ = [
    "MASKED_ADDRESS_RE",
    "build_batchexecute_request",
    "build_thread_request",
    "find_masked_addresses",
    "parse_batchexecute",
    "parse_group_page",
    "parse_page_tokens",
    "parse_thread_page",
    "parse_thread_rpc",
    "parse_visible_date",
    "printable",
    "valid_id",
]

logger = logging.getLogger(__name__)

_HTML_END = re.compile(r"</(?:html|body)\s*>", re.IGNORECASE)

# What the parsers let through to the archive. Google's topic and message ids are
# base64url (``-nTNtBBHL2Y``, ``jISyG3VpBAAJ``); anyone can post to a public group, and
# a server may send anything, so ids, times and counts outside these bounds are odd data.
_GOOGLE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def valid_id(value: object) -> bool:
    """Whether ``value`` is shaped like a Google topic or message id."""
    return isinstance(value, str) and _GOOGLE_ID.fullmatch(value) is not None


def printable(value: object, limit: int = 80) -> str:
    """``value`` safe to print on one line: odd characters escaped, long ones cut."""
    text = value if isinstance(value, str) else repr(value)
    return ascii(text)[1:-1][:limit]


class _Unusable(Exception):
    """The embedded JSON is there but not in the shape this parser knows."""


def parse_group_page(
    html: bytes | str, ref: GroupRef, url: str | None = None, *, now: datetime | None = None
) -> TopicPage:
    """The first topic-list page of a group (``GET /g/<group>``).

    ``now`` dates the list's short visible dates ("Jan 1") when the DOM fallback is used.
    """
    text = _as_text(html)
    tree = dom.parse_html(html)
    where = url or ref.url
    tokens = _tokens_from_text(text)
    group = Group(ref, id=None, email=ref.email, title=dom.group_title(tree))

    data = find_rpc_data(text, RPC_TOPIC_LIST, _is_topic_list)
    if data is None:
        logger.warning("%s: no topic-list JSON in the page; reading its HTML instead", where)
    else:
        group = _group_from_list(data, group)
        try:
            topics, token, rejected = _topics_from_json(data)
            if not topics and not rejected and group.total_topics != 0:
                raise _Unusable(f"no topics in the JSON, yet the group has {group.total_topics}")
            return TopicPage(group, topics, token, "json", tokens, rejected)
        except _Unusable as problem:
            logger.warning("%s: %s; reading the page HTML instead", where, problem)

    _refuse_truncated(text, where)
    rows = dom.topic_rows(tree, _now(now))
    if not rows:
        raise LayoutChanged(
            f"no topic list found in {where}: neither the embedded JSON nor the HTML "
            "has one (Google may have changed its pages)",
            url=where,
        )
    topics = tuple(
        Topic(
            id=row.id,
            subject=row.subject,
            snippet=row.snippet,
            last_activity_at=row.last_activity_at,
            message_count=row.message_count,
            authors=row.authors,
        )
        for row in rows
        if valid_id(row.id)
    )
    rejected = tuple(
        RejectedTopic(
            printable(row.id),
            "its topic id is not shaped like Google's",
            hashlib.sha256(repr((row.id, row.message_count)).encode("utf-8", "replace"))
            .hexdigest()[:32],
        )
        for row in rows
        if not valid_id(row.id)
    )
    if group.total_topics is None:
        group = replace(group, total_topics=dom.total_topics(tree))
    return TopicPage(group, topics, None, "dom", tokens, rejected)


def parse_batchexecute(body: bytes | str, group: Group, url: str | None = None) -> TopicPage:
    """A later topic-list page: the reply to a ``Dq0xse`` batchexecute call.

    Raises :class:`~scraper.errors.RpcError` when the call answered with an error.
    An empty page is valid here: it ends the list.
    """
    where = url or group.ref.url
    data = rpc_payload(_as_text(body), RPC_TOPIC_LIST, where)
    if not _is_topic_list(data):
        raise LayoutChanged(
            f"the {RPC_TOPIC_LIST} reply from {where} is not a topic list", url=where
        )
    try:
        topics, token, rejected = _topics_from_json(data)
    except _Unusable as problem:
        raise LayoutChanged(f"unreadable topic list from {where}: {problem}", url=where) from None
    return TopicPage(_group_from_list(data, group), topics, token, "json", rejected=rejected)


def parse_thread_rpc(
    body: bytes | str, ref: ThreadRef, url: str | None = None
) -> tuple[Thread, str | None]:
    """The reply to an ``H08Fi`` call: one page of a thread's messages, and the token of
    the next page (None when the reply shows none).

    The payload is the thread page's JSON (``[2]`` the message list). Where a longer
    thread's continuation would be is not known from any public source: a non-empty
    string at ``[3]``, as ``Dq0xse`` carries its token, is read as one; the caller still
    judges completeness by the message count alone. There is no HTML beside the JSON, so
    masked addresses are not known (an author entry's address is null when signed out).
    Raises :class:`~scraper.errors.RpcError` when the call answered with an error.
    """
    where = url or ref.url
    data = rpc_payload(_as_text(body), RPC_THREAD, where)
    if not _is_thread(data) or _at(data[1], 1) != ref.topic_id:
        raise LayoutChanged(f"the {RPC_THREAD} reply from {where} is not this thread", url=where)
    group = _group_identity(data[0], Group(ref.group, id=None, email=ref.group.email))
    try:
        thread = _thread_from_json(data, group, _NO_HTML, datetime.now(UTC))
    except _Unusable as problem:
        raise LayoutChanged(f"unreadable thread from {where}: {problem}", url=where) from None
    token = _at(data, 3)
    return thread, _clean(token) if isinstance(token, str) and token else None


def parse_thread_page(
    html: bytes | str, ref: ThreadRef, url: str | None = None, *, now: datetime | None = None
) -> Thread:
    """Every message of a thread page (``GET /g/<group>/c/<topic>``).

    ``now`` dates time-only visible dates ("5:29 AM") when the DOM fallback is used.
    """
    text = _as_text(html)
    where = url or ref.url
    now = _now(now)
    blocks = init_data_blocks(text)
    data = pick_rpc_data(text, blocks, RPC_THREAD, _is_thread)
    page = _ThreadHtml(html, text, [(block.start, block.end) for block in blocks])
    group = Group(ref.group, id=None, email=ref.group.email, title=page.group_title())

    if data is None:
        logger.warning("%s: no thread JSON in the page; reading its HTML instead", where)
    else:
        group = _group_identity(data[0], group)
        try:
            return _thread_from_json(data, group, page, now)
        except _Unusable as problem:
            logger.warning("%s: %s; reading the page HTML instead", where, problem)

    tree, sections = page.tree, page.sections
    _refuse_truncated(text, where)
    if not sections:
        raise LayoutChanged(
            f"no messages found in {where}: neither the embedded JSON nor the HTML "
            "has any (Google may have changed its pages)",
            url=where,
        )
    subject = dom.thread_subject(tree) or ""
    messages = []
    deleted = []
    for message_id, section in sections.items():
        if not valid_id(message_id):
            raise LayoutChanged(
                f"a message id {printable(message_id)} in {where} is not shaped like Google's",
                url=where,
            )
        author = dom.section_author(section)
        body_html = dom.section_body_html(section) or ""
        if not author and not body_html.strip():
            deleted.append(message_id)  # its place in the list, with no author or body
            continue
        posted_at = dom.section_date(section, now)
        if posted_at is None:
            raise LayoutChanged(
                f"message {message_id} in {where} has no readable date "
                "(Google may have changed its pages)",
                url=where,
            )
        messages.append(
            Message(
                id=message_id,
                topic_id=ref.topic_id,
                author=author,
                posted_at=posted_at,
                subject=subject,
                body_html=body_html,
                masked_address=dom.section_masked_address(section, author),
            )
        )
    return Thread(
        group, ref.topic_id, subject, tuple(messages), dom.message_count(tree), "dom",
        tuple(deleted),
    )


def build_thread_request(
    group_email: str, topic_id: str, page_size: int = 100, token: str | None = None
) -> str:
    """The ``f.req`` form value asking ``H08Fi`` for a thread's messages.

    ``[group_email, topic_id, page_size, null, null, 2]`` as the evidence shows it; the
    fourth argument carrying a continuation token is this project's assumption.
    """
    arguments = json.dumps(
        [group_email, topic_id, page_size, token, None, 2], separators=(",", ":")
    )
    return json.dumps([[[RPC_THREAD, arguments, None, "generic"]]], separators=(",", ":"))


def parse_page_tokens(html: bytes | str) -> PageTokens:
    """The ``WIZ_global_data`` tokens a later batchexecute call may send (all optional)."""
    return _tokens_from_text(_as_text(html))


# The JSON layer --------------------------------------------------------------------------
#
# Positions come from the format research (sections 4a, 5a, 6). Arrays are read by index
# only and may grow extra trailing fields; a missing optional field reads as None.


def _is_topic_list(data: Any) -> bool:
    """``[[gid, email], total, [[topic_meta, ...], ...], token|null, ...]``.

    The rows may be null (or absent, or hold null rows) on the last page (evidence
    section 2: aposd-illustrated's groups_scan.py guards it with ``d[2] or []``).
    """
    if not (
        isinstance(data, list)
        and len(data) >= 2
        and (data[0] is None or isinstance(data[0], list))
        and _is_int(data[1])
    ):
        return False
    rows = _at(data, 2)
    if rows is None:
        return True
    first = next((row for row in rows if row is not None), None) if _is_list(rows) else None
    return _is_list(rows) and (first is None or _is_list(_at(first, 0)))


def _is_thread(data: Any) -> bool:
    """``[[gid, email], [gid, topic_id, subject, ..., count], [message, ...], ...]``."""
    return (
        isinstance(data, list)
        and len(data) >= 3
        and isinstance(data[1], list)
        and isinstance(_at(data[1], 1), str)
        and isinstance(data[2], list)
    )


def _group_identity(head: Any, group: Group) -> Group:
    gid, email = _at(head, 0), _at(head, 1)
    return replace(
        group,
        id=_clean(str(gid)) if isinstance(gid, str | int) and gid != "" else group.id,
        email=_clean(email) if isinstance(email, str) and "@" in email else group.email,
    )


def _group_from_list(data: list[Any], group: Group) -> Group:
    return replace(_group_identity(data[0], group), total_topics=json_int(data[1]))


class _OddRow(Exception):
    """One topic row's data is out of bounds: that row is rejected, not the page."""


def _topics_from_json(
    data: list[Any],
) -> tuple[tuple[Topic, ...], str | None, tuple[RejectedTopic, ...]]:
    topics, rejected = [], []
    for row in _at(data, 2) or ():
        if row is None:
            continue
        try:
            topics.append(_topic(row))
        except _OddRow as problem:
            fingerprint = hashlib.sha256(
                json.dumps(row, sort_keys=True).encode("ascii")
            ).hexdigest()[:32]
            rejected.append(
                RejectedTopic(printable(_at(_at(row, 0), 1)), str(problem), fingerprint)
            )
    token = _at(data, 3)
    return tuple(topics), _clean(token) if isinstance(token, str) and token else None, tuple(
        rejected
    )


def _topic(row: Any) -> Topic:
    meta = _at(row, 0)
    topic_id = _at(meta, 1)
    if not isinstance(topic_id, str) or not topic_id:
        raise _Unusable("a topic row without a topic id")
    if not valid_id(topic_id):
        raise _OddRow("its topic id is not shaped like Google's")
    count = _at(meta, 6)
    if count is not None and json_int(count) is None:
        # Without its count a row could never be found unchanged: the thread would be
        # fetched on every run. Rejected instead, and named.
        raise _OddRow(f"its message count {printable(count, 40)} is out of range")
    authors = _at(_at(meta, 9), 0)
    return Topic(
        id=topic_id,
        # Titles and snippets come HTML-escaped (evidence section 1): unescaped once here.
        subject=html_lib.unescape(_str(_at(meta, 2))),
        snippet=html_lib.unescape(_str(_at(meta, 3))),
        # [4] is the newest message's updated time; [5] is the newest message's post time,
        # NOT the topic's creation (evidence section 1), so created_at comes from the thread.
        last_activity_at=epoch_to_datetime(_at(meta, 4)),
        message_count=count,
        authors=tuple(
            _clean(name)
            for name in (_at(author, 0) for author in (authors if _is_list(authors) else ()))
            if isinstance(name, str) and name
        ),
    )


def _thread_from_json(data: list[Any], group: Group, page: _ThreadHtml, now: datetime) -> Thread:
    summary = data[1]
    topic_id = summary[1]
    subject = _str(_at(summary, 2)) or dom.thread_subject(page.tree) or ""
    if not data[2]:
        raise _Unusable("the thread JSON has no messages")
    if not valid_id(topic_id):
        raise LayoutChanged(
            f"the thread's topic id {printable(topic_id)} is not shaped like Google's"
        )
    # Each element of data[2] is ONE message (reading data[2][0] as the list loses replies).
    messages, deleted = [], []
    for element in data[2]:
        message_id = _deleted_message_id(element, page)
        if message_id is not None:
            deleted.append(message_id)
        else:
            messages.append(_message(element, topic_id, subject, page, now))
    count = _at(summary, 6)
    return Thread(
        group,
        topic_id,
        subject or (messages[0].subject if messages else ""),
        tuple(messages),
        json_int(count),
        "json",
        tuple(deleted),
    )


def _deleted_message_id(element: Any, page: _ThreadHtml) -> str | None:
    """The id of a deleted message, which stays in the list with an empty author and no
    body (evidence section 3, as aposd-illustrated's groups_fetch.py shows "(deleted)");
    None for any other message."""
    record = _at(element, 0)
    meta = _at(record, 0)
    message_id = _at(meta, 1)
    if not valid_id(message_id):
        return None
    if _str(_at(_at(_at(meta, 2), 0), 0)) or (_body_html(_at(record, 1)) or "").strip():
        return None
    if _at(record, 2):  # attachments
        return None
    section = page.sections.get(message_id) if page is not _NO_HTML else None
    if section is not None and (
        dom.section_author(section) or (dom.section_body_html(section) or "").strip()
    ):
        return None
    return message_id


def _message(
    element: Any, topic_id: str, thread_subject: str, page: _ThreadHtml, now: datetime
) -> Message:
    record = _at(element, 0)
    meta = _at(record, 0)
    message_id = _at(meta, 1)
    if not isinstance(message_id, str) or not message_id:
        raise _Unusable("a message without a message id")
    if not valid_id(message_id):
        raise LayoutChanged(f"a message id {printable(message_id)} is not shaped like Google's")

    author_entry = _at(_at(meta, 2), 0)
    author = _str(_at(author_entry, 0))
    if not author and (section := page.sections.get(message_id)) is not None:
        author = dom.section_author(section)
    email = _at(author_entry, 2)  # null unless a member's cookie was sent

    updated_at = epoch_to_datetime(_at(meta, 7))
    posted_at = epoch_to_datetime(_at(meta, 8)) or updated_at
    if posted_at is None and (section := page.sections.get(message_id)) is not None:
        posted_at = dom.section_date(section, now)
    if posted_at is None:
        raise _Unusable(f"message {message_id} has no timestamp")

    body_html = _body_html(_at(record, 1))
    if body_html is None:
        section = page.sections.get(message_id)
        body_html = (dom.section_body_html(section) if section is not None else None) or ""

    masked = page.masked_address(message_id, author)
    if masked is None:
        if isinstance(email, str) and "@" in email:
            masked = email
        elif MASKED_ADDRESS_RE.fullmatch(author):
            masked = author

    return Message(
        id=message_id,
        topic_id=topic_id,
        author=author,
        posted_at=posted_at,
        subject=_str(_at(meta, 5)) or thread_subject,
        body_html=body_html,
        masked_address=masked,
        attachments=_attachments(_at(record, 2)),
        updated_at=updated_at,
    )


def _body_html(body: Any) -> str | None:
    """``[2, [[1, [null, html]], ...]]``: every type-1 segment's HTML, joined.

    ``None`` when the body is not in that shape at all (the DOM may still have it).
    """
    segments = _at(body, 1)
    if not _is_list(segments):
        return None
    parts = []
    for segment in segments:
        if _at(segment, 0) == 1:
            part = _at(_at(segment, 1), 1)
            if isinstance(part, str):
                parts.append(part)
    return _clean("".join(parts))


def _attachments(value: Any) -> tuple[Attachment, ...]:
    """``[[url, ?, ?, mime_type, filename, ...], ...]``."""
    if not _is_list(value):
        return ()
    found = []
    for item in value:
        url = _at(item, 0)
        if not isinstance(url, str) or not url:
            continue
        mime_type = _at(item, 3)
        filename = _at(item, 4)
        found.append(
            Attachment(
                url=_clean(url),
                filename=_clean(filename)
                if isinstance(filename, str) and filename
                else _url_name(_clean(url)),
                mime_type=_clean(mime_type) if isinstance(mime_type, str) and mime_type else None,
            )
        )
    return tuple(found)


def _url_name(url: str) -> str:
    return unquote(urlsplit(url).path.rstrip("/").rpartition("/")[2]) or "attachment"


# The HTML beside the JSON ------------------------------------------------------------------


class _ThreadHtml:
    """A thread page's HTML, parsed into a DOM only when something needs one.

    A page read from its JSON still needs the group's name and the authors' masked
    addresses from the HTML; :mod:`.scan` reads those without a DOM when the markup is
    plain enough to be sure lxml would read the same, and lxml reads them otherwise. The
    DOM is also built for what a message's JSON lacks (an author, a date, a body).
    """

    def __init__(self, html: bytes | str, text: str, json_spans: list[tuple[int, int]]):
        self._html = html
        self._text = text
        self._json_spans = json_spans

    @cached_property
    def tree(self) -> dom.Element | None:
        return dom.parse_html(self._html)

    @cached_property
    def sections(self) -> dict[str, dom.Element]:
        return dom.message_sections(self.tree)

    @cached_property
    def _scanned_addresses(self) -> dict[str, str | None] | None:
        if not self._clean_text:
            return None
        return scan.masked_addresses(self._text, self._json_spans)

    @cached_property
    def _clean_text(self) -> bool:
        """Whether the text is what lxml reads: bytes that are valid UTF-8 (lxml has its
        own ways with bad bytes, unlike the decoding that put U+FFFD in their place)."""
        if isinstance(self._html, str) or "\ufffd" not in self._text:
            return True
        try:
            self._html.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    def group_title(self) -> str | None:
        title = scan.group_title(self._text) if self._clean_text else None
        return title if title is not None else dom.group_title(self.tree)

    def masked_address(self, message_id: str, author: str) -> str | None:
        """What :func:`.dom.section_masked_address` says for the message's section, if any."""
        scanned = self._scanned_addresses
        # Google shows every message of the JSON as a section: one the scan did not find
        # means markup it did not expect, so lxml decides.
        if scanned is None or message_id not in scanned:
            section = self.sections.get(message_id)
            return dom.section_masked_address(section, author) if section is not None else None
        return author if MASKED_ADDRESS_RE.fullmatch(author) else scanned[message_id]


# A thread read from an RPC reply has no HTML beside its JSON.
_NO_HTML = _ThreadHtml("", "", [])


# Small helpers -----------------------------------------------------------------------------


def _at(value: Any, index: int) -> Any:
    """``value[index]`` when ``value`` is a list long enough, else None."""
    if isinstance(value, list) and -len(value) <= index < len(value):
        return value[index]
    return None


def _is_list(value: Any) -> bool:
    return isinstance(value, list)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _str(value: Any) -> str:
    return _clean(value).strip() if isinstance(value, str) else ""


def _clean(text: str) -> str:
    """``text`` without lone surrogates (JSON can spell them, UTF-8 and SQLite cannot)."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def _refuse_truncated(text: str, where: str) -> None:
    """A page cut short would pass for a shorter list or thread in the HTML layer.

    (The JSON layer needs no such check: a cut-off block does not decode.)
    """
    if _HTML_END.search(text, max(0, len(text) - 4096)) is None:
        raise LayoutChanged(
            f"the page {where} ends before </html>: it looks truncated, so its HTML "
            "cannot be trusted to hold every item",
            url=where,
        )


def _as_text(page: bytes | str) -> str:
    if isinstance(page, bytes):
        page = page.decode("utf-8", errors="replace")
    return page.lstrip("\ufeff")


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)
