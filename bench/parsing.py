"""Thread-page parsing: embedded JSON to models, plus body text extraction, on one core.

The pages are the simulator's generated thread pages (rendered in-process, before any
timing). Baseline: a bare ``lxml.html.fromstring`` of the same page bytes, timed in
the same run, alternating with the measured code so both see the same machine state.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bench.common import median

GROUP = "bench-parse"


def thread_pages(topics: int, per_topic: int, *, json: bool = True, seed: int = 0):
    """``[(ThreadRef, page bytes), ...]`` for ``topics`` generated threads."""
    from scraper.models import GroupRef, ThreadRef
    from tests.simulator import GroupsState, Site
    from tests.simulator.render import Variant

    state = GroupsState()
    group = state.add_generated_group(GROUP, topics=topics, messages_per_topic=per_topic,
                                      seed=seed)
    site = Site(state)
    _, rows = group.listing(0, topics)
    ref = GroupRef(GROUP)
    pages = []
    for row in rows:
        response = site.respond("GET", f"{group.path}/c/{row.id}", variant=Variant(json=json))
        assert response.status == 200, response.status
        pages.append((ThreadRef(ref, row.id), response.body))
    return pages


def _parse_all(pages) -> int:
    from archive.text import message_text
    from scraper.pages import parse_thread_page

    count = 0
    for ref, body in pages:
        thread = parse_thread_page(body, ref)
        for message in thread.messages:
            message_text(message.body_html)
        count += len(thread.messages)
    return count


def _parse_only(pages) -> None:
    from scraper.pages import parse_thread_page

    for ref, body in pages:
        parse_thread_page(body, ref)


def _text_only(bodies: list[str]) -> None:
    from archive.text import message_text

    for body in bodies:
        message_text(body)


def _lxml_all(pages) -> None:
    import lxml.html

    for _, body in pages:
        lxml.html.fromstring(body)


def _bs4_all(pages) -> None:
    from bs4 import BeautifulSoup

    for _, body in pages:
        BeautifulSoup(body, "lxml")


def _timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def run(*, topics: int, per_topic: int = 50, reps: int = 5, dom_topics: int = 10) -> dict[str, Any]:
    """Median seconds over ``reps`` passes over every page, and the rates they give."""
    from scraper.pages import parse_thread_page

    pages = thread_pages(topics, per_topic)
    messages = sum(len(parse_thread_page(body, ref).messages) for ref, body in pages)
    bodies = [m.body_html for ref, body in pages for m in parse_thread_page(body, ref).messages]
    page_bytes = sum(len(body) for _, body in pages)
    _parse_all(pages[:2])  # imports and caches outside the timing
    _lxml_all(pages[:2])
    full, bare, parse_only, text_only = [], [], [], []
    for _ in range(reps):
        full.append(_timed(_parse_all, pages))
        bare.append(_timed(_lxml_all, pages))
        parse_only.append(_timed(_parse_only, pages))
        text_only.append(_timed(_text_only, bodies))
    # The DOM fallback (a page without its JSON) and BeautifulSoup, for scale only.
    # Each such page logs a warning; a screenful of them says nothing here.
    pages_log = logging.getLogger("scraper.pages")
    level = pages_log.level
    pages_log.setLevel(logging.ERROR)
    try:
        dom_pages = thread_pages(min(dom_topics, topics), per_topic, json=False)
        dom_messages = sum(len(parse_thread_page(body, ref).messages) for ref, body in dom_pages)
        dom = [_timed(_parse_all, dom_pages) for _ in range(max(2, reps // 2))]
    finally:
        pages_log.setLevel(level)
    dom_bare = [_timed(_lxml_all, dom_pages) for _ in range(max(2, reps // 2))]
    soup = [_timed(_bs4_all, dom_pages[:5]) for _ in range(2)]
    soup_bare = [_timed(_lxml_all, dom_pages[:5]) for _ in range(2)]
    t_full, t_bare = median(full), median(bare)
    return {
        "pages": len(pages),
        "messages": messages,
        "page_kb_avg": round(page_bytes / len(pages) / 1024, 1),
        "reps": reps,
        "seconds_parse_and_text": t_full,
        "seconds_bare_lxml": t_bare,
        "seconds_parse_only": median(parse_only),
        "seconds_text_only": median(text_only),
        "messages_per_s": messages / t_full,
        "bare_lxml_messages_per_s": messages / t_bare,
        "ratio_to_bare_lxml": t_full / t_bare,
        "parse_share": median(parse_only) / t_full,
        "text_share": median(text_only) / t_full,
        "dom_fallback_messages_per_s": dom_messages / median(dom),
        "dom_fallback_ratio_to_bare_lxml": median(dom) / median(dom_bare),
        "bs4_ratio_to_bare_lxml": median(soup) / median(soup_bare),
    }
