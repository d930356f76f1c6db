"""Walk a group: its topic list page by page, and its threads.

The first topic page is the group page itself (GET); later pages only exist as
answers to Google's private batchexecute RPC (``Dq0xse``) with a continuation
token. Everything is lazy: a consumer that stops iterating causes no further
requests. When a parser cannot make sense of a page (:class:`LayoutChanged`),
the page is saved so that a bug report can carry it.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from scraper import pages
from scraper.errors import LayoutChanged, RpcError
from scraper.http import Fetcher, Page
from scraper.models import Group, GroupRef, PageTokens, Thread, ThreadRef, Topic, TopicPage

__all__ = ["Crawler", "BATCHEXECUTE_PATH", "TOPIC_LIST_RPC", "PAGE_SIZE", "topic_pages_allowed"]

log = logging.getLogger("listarchive")

BATCHEXECUTE_PATH = "/_/GroupsFrontendUi/data/batchexecute"
TOPIC_LIST_RPC = "Dq0xse"
PAGE_SIZE = 30
# A layout report is for reading the page's shape; the first megabytes show it.
REPORT_MAX_BYTES = 5 * 1024 * 1024

T = TypeVar("T")

# What a parser throws when a page's structure is not what it expects, but the
# parser did not notice itself; treated like LayoutChanged so the page is kept.
_PARSER_ACCIDENTS = (IndexError, KeyError, TypeError, ValueError, AttributeError)


class Crawler:
    """Fetch and parse group pages, topic-list pages and threads through a :class:`Fetcher`."""

    def __init__(self, fetcher: Fetcher, report_dir: str | Path | None = None) -> None:
        self.fetcher = fetcher
        self.report_dir = report_dir

    def fetch_group_page(self, ref: GroupRef) -> TopicPage:
        """The group page: the first topics (about 30) and the tokens for the next pages."""
        return self._fetch_group_page(ref)[1]

    def iter_topic_pages(self, ref: GroupRef) -> Iterator[TopicPage]:
        """Every page of the topic list, newest activity first; fetched only as consumed.

        When the group page carried no JSON (so no continuation token) but more
        topics than it shows, the list is read again through the RPC from its
        start: that first RPC page repeats the topics of the group page.
        """
        raw_first, first = self._fetch_group_page(ref)
        yield first
        group, tokens = first.group, first.tokens
        token, topics = first.next_token, first.topics
        restart = not token and topics and _has_more(first)
        if restart:
            log.warning(
                "%s: the group page has no topic-list JSON (read from its HTML); "
                "listing the topics through the RPC from the start",
                ref.url,
            )
        seen_tokens: set[str] = set()
        pages, total = 1, group.total_topics
        while restart or (token and topics):
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
                if not restart:
                    raise
                raise self._report(
                    raw_first,
                    f"the group page {ref.url} has no topic-list JSON and the RPC would not "
                    f"list the topics from the start ({err})",
                ) from err
            restart = False
            total = max(total or 0, page.group.total_topics or 0) or None
            token, topics = page.next_token, page.topics
            if topics:
                yield page

    def _fetch_group_page(self, ref: GroupRef) -> tuple[Page, TopicPage]:
        page = self.fetcher.get(ref.path)
        return page, self._parse(
            page, lambda: pages.parse_group_page(page.content, ref, url=page.url)
        )

    def _fetch_rpc_page(
        self, ref: GroupRef, group: Group, tokens: PageTokens, token: str | None
    ) -> TopicPage:
        params = {"rpcids": TOPIC_LIST_RPC, "source-path": ref.path, "hl": "en"}
        if tokens.f_sid:
            params["f.sid"] = tokens.f_sid
        if tokens.bl:
            params["bl"] = tokens.bl
        # A null token asks for the first page.
        data = {"f.req": pages.build_batchexecute_request(group.email, token, PAGE_SIZE)}
        if tokens.at:
            data["at"] = tokens.at
        reply = self.fetcher.post_form(BATCHEXECUTE_PATH, params, data)
        return self._parse(
            reply, lambda: pages.parse_batchexecute(reply.content, group, url=reply.url)
        )

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

    def fetch_thread(self, ref: ThreadRef) -> Thread:
        """A whole thread page. ``Thread.complete`` is False when the page is truncated."""
        thread_ref = ThreadRef(ref.group, ref.topic_id)
        page = self.fetcher.get(thread_ref.path)
        thread = self._parse(
            page, lambda: pages.parse_thread_page(page.content, thread_ref, url=page.url)
        )
        if not thread.complete:
            log.warning(
                "%s: the page carries %d of %d messages; the rest are not served to "
                "plain HTTP clients",
                thread_ref.url,
                len(thread.messages),
                thread.expected_count,
            )
        return thread

    def _parse(self, page: Page, parse: Callable[[], T]) -> T:
        try:
            return parse()
        except LayoutChanged as err:
            raise self._report(page, str(err)) from err
        except _PARSER_ACCIDENTS as err:
            detail = " ".join(str(err).split()) or "no detail"
            raise self._report(
                page, f"could not parse {page.url} ({type(err).__name__}: {detail})"
            ) from err

    def _report(self, page: Page, message: str) -> LayoutChanged:
        """Save the page for a bug report; return the error to raise, naming the file."""
        message = " ".join(message.split()).rstrip(".")
        try:
            path = save_page_for_report(page, self.report_dir)
        except OSError as err:
            return LayoutChanged(
                f"{message}; could not save the page for a bug report: {err.strerror or err}",
                url=page.url,
            )
        return LayoutChanged(
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
    total = page.group.total_topics
    if total is None:
        return len(page.topics) >= PAGE_SIZE
    return total > len(page.topics)


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
