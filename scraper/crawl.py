"""Walk a group: its topic list page by page, and its threads.

The topic list is the answer to Google's private batchexecute RPC (``Dq0xse``),
page by page with a continuation token; its first page is also the group page itself
(GET), which carries the group's name. A thread is its page (GET), which carries at
most 100 messages and the authors' masked addresses; the thread RPC (``H08Fi``)
carries the same JSON without the markup, and a thread's messages past the page's.
Everything is lazy: a consumer that stops iterating causes no further requests. When
a parser cannot make sense of a reply (:class:`LayoutChanged`), on either path, the
reply is saved so that a bug report can carry it.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from scraper import pages
from scraper.errors import (
    LayoutChanged,
    ListarchiveError,
    ParserBug,
    RedirectedAway,
    RpcError,
    ThreadGone,
)
from scraper.http import Fetcher, Page
from scraper.models import (
    Group,
    GroupRef,
    Message,
    PageTokens,
    Thread,
    ThreadRef,
    Topic,
    TopicPage,
)

__all__ = [
    "Crawler",
    "BATCHEXECUTE_PATH",
    "TOPIC_LIST_RPC",
    "THREAD_RPC",
    "PAGE_SIZE",
    "THREAD_PAGE_SIZE",
    "topic_pages_allowed",
]

log = logging.getLogger("listarchive")

BATCHEXECUTE_PATH = "/_/GroupsFrontendUi/data/batchexecute"
TOPIC_LIST_RPC = "Dq0xse"
THREAD_RPC = "H08Fi"
PAGE_SIZE = 30
# A layout report is for reading the page's shape; the first megabytes show it.
REPORT_MAX_BYTES = 5 * 1024 * 1024
THREAD_PAGE_SIZE = 100  # H08Fi's page size as the evidence shows it called
# Thread pages an H08Fi walk follows at most: a token that never ends is not a thread.
MAX_THREAD_PAGES = 1000

T = TypeVar("T")


class Crawler:
    """Fetch and parse group pages, topic-list pages and threads through a :class:`Fetcher`."""

    def __init__(
        self,
        fetcher: Fetcher,
        report_dir: str | Path | None = None,
        *,
        rpc_threads: bool = False,
    ) -> None:
        """``rpc_threads`` fetches threads through ``H08Fi`` first and their pages only
        as the fallback: fewer bytes, but signed out the RPC carries no masked addresses,
        which only the page shows. Without it the page comes first, and ``H08Fi`` reads
        what a page cannot carry (the messages past its first 100)."""
        self.fetcher = fetcher
        self.report_dir = report_dir
        self.rpc_threads = rpc_threads

    def fetch_group_page(self, ref: GroupRef) -> TopicPage:
        """The group page: the first topics (about 30) and the tokens for the next pages."""
        return self._fetch_group_page(ref)[1]

    def iter_topic_pages(self, ref: GroupRef, *, rpc_first: bool = False) -> Iterator[TopicPage]:
        """Every page of the topic list, newest activity first; fetched only as consumed.

        ``rpc_first`` reads the list through ``Dq0xse`` from its first page (token "",
        as a scraper in daily use does), never loading the group page unless that call
        fails; the RPC does not carry the group's title. Otherwise the group page comes
        first. When the group page carried no JSON (so no continuation token) but more
        topics than it shows, the list is read again through the RPC from its
        start: that first RPC page repeats the topics of the group page.
        """
        if rpc_first:
            group = Group(ref, id=None, email=ref.email)
            try:
                page = self._fetch_rpc_page(ref, group, PageTokens(), "")
            except (RpcError, LayoutChanged) as err:
                log.warning("%s: the topic-list RPC failed (%s); reading the group page", ref.url,
                            err)
            else:
                yield page
                yield from self._rpc_pages(ref, page.group, PageTokens(), page.next_token,
                                           page.topics, restart=False)
                return
        raw_first, first = self._fetch_group_page(ref)
        yield first
        group, tokens = first.group, first.tokens
        token, topics = first.next_token, first.topics
        restart = bool(not token and topics and _has_more(first))
        if restart:
            log.warning(
                "%s: the group page has no topic-list JSON (read from its HTML); "
                "listing the topics through the RPC from the start",
                ref.url,
            )
        yield from self._rpc_pages(ref, group, tokens, token, topics, restart=restart,
                                   raw_first=raw_first)

    def _rpc_pages(
        self,
        ref: GroupRef,
        group: Group,
        tokens: PageTokens,
        token: str | None,
        topics: tuple[Topic, ...],
        *,
        restart: bool,
        raw_first: Page | None = None,
    ) -> Iterator[TopicPage]:
        seen_tokens: set[str] = set()
        pages, total = 1, group.total_topics
        # A page of null rows (or only odd ones) may still carry a token: follow it; a
        # page without topics and without a token ends the list (evidence section 2).
        while restart or token:
            if token in seen_tokens:
                raise LayoutChanged(
                    f"the topic list of {ref.url} came back with a continuation token it "
                    f"had already given; stopping rather than looping",
                    url=ref.url,
                )
            if token:
                seen_tokens.add(token)
            pages += 1
            _refuse_endless_list(ref, pages, total)
            try:
                page = self._fetch_rpc_page(ref, group, tokens, token)
            except RpcError as err:
                if not restart or raw_first is None:
                    raise
                raise self._report(
                    raw_first,
                    f"the group page {ref.url} has no topic-list JSON and the RPC would not "
                    f"list the topics from the start ({err})",
                ) from err
            restart = False
            total = max(total or 0, page.group.total_topics or 0) or None
            token, topics = page.next_token, page.topics
            if topics or page.rejected:
                yield page

    def _fetch_group_page(self, ref: GroupRef) -> tuple[Page, TopicPage]:
        page = self.fetcher.get(ref.path)
        parsed = self._parse(page, lambda: pages.parse_group_page(page.content, ref, url=page.url))
        return page, replace(parsed, raw=page) if parsed.rejected else parsed

    def _fetch_rpc_page(
        self, ref: GroupRef, group: Group, tokens: PageTokens, token: str | None
    ) -> TopicPage:
        # "" (or null) asks for the first page.
        data = {"f.req": pages.build_batchexecute_request(group.email, token, PAGE_SIZE)}
        reply = self._post_rpc(ref, TOPIC_LIST_RPC, data, tokens)
        page = self._parse(
            reply, lambda: pages.parse_batchexecute(reply.content, group, url=reply.url)
        )
        return replace(page, raw=reply) if page.rejected else page

    def _post_rpc(
        self, ref: GroupRef, rpc_id: str, data: dict[str, str], tokens: PageTokens
    ) -> Page:
        params = {"rpcids": rpc_id, "source-path": ref.path, "hl": "en"}
        if tokens.f_sid:
            params["f.sid"] = tokens.f_sid
        if tokens.bl:
            params["bl"] = tokens.bl
        if tokens.at:
            data = {**data, "at": tokens.at}
        return self.fetcher.post_form(BATCHEXECUTE_PATH, params, data)

    def iter_topics(self, ref: GroupRef) -> Iterator[Topic]:
        """Every topic of the group, each once, newest activity first.

        A topic that gains a message while we page moves to the top and pushes
        another one onto the next page; that one is not yielded twice.
        """
        seen: set[str] = set()
        for topic_page in self.iter_topic_pages(ref):
            for topic in topic_page.topics:
                if topic.id not in seen:
                    seen.add(topic.id)
                    yield topic

    def fetch_thread(self, ref: ThreadRef, expected_count: int | None = None) -> Thread:
        """A whole thread. ``Thread.complete`` is False unless its count says every
        message is there (``expected_count``, the list's count, stands in when the thread
        gives none). :class:`ThreadGone` when the thread's URL redirects away.

        Page first (unless ``rpc_threads``): a page carries at most 100 messages, so a
        longer thread is read again through ``H08Fi``, page by page, when its reply
        shows a continuation; the page's masked addresses are kept for its messages.
        """
        thread_ref = ThreadRef(ref.group, ref.topic_id)
        if self.rpc_threads:
            try:
                thread = self._fetch_thread_rpc(thread_ref)
            except (RpcError, LayoutChanged) as err:
                log.info("%s: %s; reading the thread page", thread_ref.url, err)
                thread = self._fetch_thread_page(thread_ref)
        else:
            thread = self._fetch_thread_page(thread_ref)
            if not thread.complete:
                thread = self._complete_through_rpc(thread)
        own = thread.expected_count
        if own is not None and thread.deleted_ids and own >= (
            len(thread.messages) + len(thread.deleted_ids)
        ):
            # A count that takes in the deleted messages the thread lists (the list's
            # count never does, evidence section 1) would leave it incomplete for ever.
            thread = replace(thread, expected_count=own - len(thread.deleted_ids))
        if thread.expected_count is None and expected_count is not None:
            thread = replace(thread, expected_count=expected_count)
        if not thread.complete:
            log.warning(
                "%s: %d of %d messages could be read; the thread is kept marked incomplete",
                thread_ref.url,
                len(thread.messages),
                thread.expected_count,
            )
        return thread

    def _fetch_thread_page(self, ref: ThreadRef) -> Thread:
        try:
            page = self.fetcher.get(ref.path)
        except RedirectedAway as err:
            # Off Google Groups altogether: the thread is no more there than when it
            # redirects to its group's page.
            where = err.target or "nowhere"
            raise ThreadGone(f"thread {ref.url} is gone (it redirects to {where})",
                             url=ref.url) from None
        if urlsplit(page.url).path.rstrip("/") != ref.path:
            # A deleted thread answers with a redirect (evidence section 3: a 302 to the
            # group page); whatever page it led to, it is not this thread.
            raise ThreadGone(f"thread {ref.url} is gone (it redirects to {page.url})",
                             url=ref.url)
        return self._parse(page, lambda: pages.parse_thread_page(page.content, ref, url=page.url))

    def _fetch_thread_rpc(self, ref: ThreadRef) -> Thread:
        """Every message ``H08Fi`` gives, following its continuation while it shows one.

        The continuation (a token at ``[3]`` of the payload, sent back as the fourth
        argument) is this project's reading, by analogy with ``Dq0xse``: no public
        source shows one. A reply without it ends the walk, and the count decides
        whether the thread is complete.
        """
        messages: dict[str, Message] = {}
        deleted: set[str] = set()
        token: str | None = None
        first: Thread | None = None
        for _ in range(MAX_THREAD_PAGES):
            data = {"f.req": pages.build_thread_request(ref.group.email, ref.topic_id,
                                                        THREAD_PAGE_SIZE, token)}
            reply = self._post_rpc(ref.group, THREAD_RPC, data, PageTokens())
            part, next_token = self._parse(
                reply, functools.partial(pages.parse_thread_rpc, reply.content, ref, url=reply.url)
            )
            first = first or part
            for message in part.messages:
                messages.setdefault(message.id, message)
            deleted.update(part.deleted_ids)
            if not next_token or next_token == token:
                break
            token = next_token
        assert first is not None
        return replace(
            first,
            messages=tuple(messages.values()),
            deleted_ids=tuple(sorted(deleted - set(messages))),
        )

    def _complete_through_rpc(self, thread: Thread) -> Thread:
        """The page's first 100 messages and the rest through ``H08Fi``, if it has them."""
        try:
            whole = self._fetch_thread_rpc(thread.ref)
        except (RpcError, LayoutChanged) as err:
            log.warning("%s: could not read past the page's messages (%s)", thread.ref.url, err)
            return thread
        if len(whole.messages) <= len(thread.messages):
            return thread
        from_page = {message.id: message for message in thread.messages}
        messages = tuple(from_page.get(message.id, message) for message in whole.messages)
        return replace(
            thread,
            messages=messages,
            expected_count=thread.expected_count or whole.expected_count,
            deleted_ids=tuple(sorted(set(thread.deleted_ids) | set(whole.deleted_ids))),
        )

    def save_report(self, page: Page, message: str) -> LayoutChanged:
        """Save ``page`` for a bug report about ``message``; the error names the file."""
        return self._report(page, message)

    def _parse(self, page: Page, parse: Callable[[], T]) -> T:
        try:
            return parse()
        except LayoutChanged as err:
            raise self._report(page, str(err)) from err
        except ListarchiveError:
            raise
        except Exception as err:
            # The parser met a shape it did not check for (or data nested deeper than
            # the decoder goes): the page is kept, as for a layout change.
            # Whether Google changed the page is unknown: the failure is ours to fix.
            detail = " ".join(str(err).split())[:200] or "no detail"
            raise self._report(
                page,
                f"could not parse {page.url} ({type(err).__name__}: {detail}), a bug in "
                "listarchive rather than a sign that Google changed its pages",
                ParserBug,
            ) from err

    def _report(
        self, page: Page, message: str, kind: type[LayoutChanged] = LayoutChanged
    ) -> LayoutChanged:
        """Save the page for a bug report; return the error to raise, naming the file."""
        message = " ".join(message.split()).rstrip(".")
        try:
            path = save_page_for_report(page, self.report_dir)
        except OSError as err:
            return kind(
                f"{message}; could not save the page for a bug report: {err.strerror or err}",
                url=page.url,
            )
        return kind(
            f"{message}; page saved to {path}; please attach it to a bug report",
            url=page.url,
            saved_to=str(path),
        )


def topic_pages_allowed(total: int | None) -> int | None:
    """How many topic-list pages a group of ``total`` topics may take (None: no bound).

    Its topics' worth of pages, plus a margin for topics posted while we page (each
    pushes a row onto the next page) and for the RPC restarting after an HTML-only
    group page.
    """
    if total is None:
        return None
    pages = -(-total // PAGE_SIZE) + 1
    return pages + max(2, pages // 10)


def _refuse_endless_list(ref: GroupRef, pages: int, total: int | None) -> None:
    """Stop a topic list whose continuation tokens never end before it costs more."""
    allowed = topic_pages_allowed(total)
    if allowed is not None and pages > allowed:
        raise LayoutChanged(
            f"the topic list of {ref.url} goes on past {allowed} pages, more than its "
            f"{total} topics fill; stopping rather than paging for ever",
            url=ref.url,
        )


def _has_more(page: TopicPage) -> bool:
    """Whether the list goes on past ``page``, judging by the group's topic count."""
    listed = len(page.topics) + len(page.rejected)
    total = page.group.total_topics
    if total is None:
        return listed >= PAGE_SIZE
    return total > listed


def save_page_for_report(page: Page, report_dir: str | Path | None = None) -> Path:
    """Write the page's bytes to ``listarchive-layout-<timestamp>-<slug>.html``.

    At most :data:`REPORT_MAX_BYTES` of them, then a note saying the page was cut.
    """
    directory = Path(
        report_dir or os.environ.get("LISTARCHIVE_REPORT_DIR") or tempfile.gettempdir()
    )
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    stem = f"listarchive-layout-{stamp}-{_slug(page.url)}"
    for n in range(1, 1000):
        path = directory / (f"{stem}.html" if n == 1 else f"{stem}-{n}.html")
        try:
            with open(path, "xb") as out:
                out.write(page.content[:REPORT_MAX_BYTES])
                if len(page.content) > REPORT_MAX_BYTES:
                    out.write(_report_cut_note(len(page.content)))
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"too many reports named {stem} in {directory}")


def _report_cut_note(size: int) -> bytes:
    return (
        f"\n<!-- listarchive: page cut here for the report: the first {REPORT_MAX_BYTES:,} "
        f"of its {size:,} bytes are kept -->\n"
    ).encode()


def _slug(url: str) -> str:
    parts = urlsplit(url)
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", parts.path).strip("-")
    return slug[:80] or "page"
