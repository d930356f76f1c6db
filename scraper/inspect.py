"""``listarchive inspect``: fetch one group page or thread and return what was parsed.

Nothing is stored; :func:`archive.render.format_inspection` writes the report and
:func:`archive.render.inspection_json` the JSON document, times in the archive's one
format (the scraper side does not know it, so times stay datetimes here). The point
is diagnosis: does the URL resolve, does the page parse, and which layer of the parser
(embedded JSON or DOM) produced the data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scraper.crawl import Crawler
from scraper.http import Fetcher
from scraper.models import Group, Message, Thread, ThreadRef, Topic, TopicPage
from scraper.urls import parse_url

__all__ = ["inspect_url"]


def inspect_url(
    url: str,
    *,
    base_url: str | None = None,
    cookies_file: str | None = None,
    delay: float = 1.0,
    timeout: float | None = None,
    report_dir: str | Path | None = None,
    fetcher: Fetcher | None = None,
) -> dict[str, Any]:
    """Fetch and parse the group page (first page only) or thread that ``url`` names.

    Returns a dict of plain values and aware UTC datetimes (or None for a time the page
    lacked); ``kind`` is ``"group"`` or ``"thread"`` and ``source`` is the parser layer
    that produced the data (``"json"`` or ``"dom"``).
    """
    ref = parse_url(url)
    own_fetcher = fetcher is None
    if fetcher is None:
        fetcher = Fetcher(base_url=base_url, delay=delay, cookies_file=cookies_file,
                          deadline=timeout)
    try:
        crawler = Crawler(fetcher, report_dir=report_dir)
        if isinstance(ref, ThreadRef):
            result = _thread_dict(crawler.fetch_thread(ref))
            result["url"] = ref.url
            result["message_id"] = ref.message_id
        else:
            result = _topic_page_dict(crawler.fetch_group_page(ref))
            result["url"] = ref.url
        result["requests"] = fetcher.requests_made
        return result
    finally:
        if own_fetcher:
            fetcher.close()


def _group_dict(group: Group) -> dict[str, Any]:
    return {
        "name": group.name,
        "domain": group.domain,
        "email": group.email,
        "id": group.id,
        "title": group.title,
        "url": group.ref.url,
        "total_topics": group.total_topics,
    }


def _topic_dict(topic: Topic, group: Group) -> dict[str, Any]:
    return {
        "id": topic.id,
        "subject": topic.subject,
        "snippet": topic.snippet,
        "created_at": topic.created_at,
        "last_activity_at": topic.last_activity_at,
        "message_count": topic.message_count,
        "authors": list(topic.authors),
        "url": group.ref.thread(topic.id).url,
    }


def _topic_page_dict(page: TopicPage) -> dict[str, Any]:
    return {
        "kind": "group",
        "source": page.source,
        "group": _group_dict(page.group),
        "topic_count": len(page.topics),
        "has_more": bool(page.next_token),
        # Whether each token was found, not its value: `at` is an XSRF token.
        "tokens": {
            "at": page.tokens.at is not None,
            "f_sid": page.tokens.f_sid is not None,
            "bl": page.tokens.bl,
        },
        "topics": [_topic_dict(topic, page.group) for topic in page.topics],
    }


def _message_dict(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "author": message.author,
        "masked_address": message.masked_address,
        "posted_at": message.posted_at,
        "updated_at": message.updated_at,
        "subject": message.subject,
        "attachments": [
            {"filename": a.filename, "mime_type": a.mime_type, "url": a.url}
            for a in message.attachments
        ],
        "body_html": message.body_html,
    }


def _thread_dict(thread: Thread) -> dict[str, Any]:
    return {
        "kind": "thread",
        "source": thread.source,
        "group": _group_dict(thread.group),
        "topic_id": thread.topic_id,
        "subject": thread.subject,
        "message_count": len(thread.messages),
        "expected_count": thread.expected_count,
        "complete": thread.complete,
        "messages": [_message_dict(message) for message in thread.messages],
    }
