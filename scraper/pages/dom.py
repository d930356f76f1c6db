"""Reading the server-rendered HTML with lxml: the fallback layer, and masked addresses.

Every selector comes from :data:`~scraper.pages.selectors.SELECTORS`. lxml reads the full
DOM fallback, and the masked addresses and group name of JSON-parsed threads when
:mod:`.scan` cannot read them without a DOM: it is the parser BeautifulSoup would wrap
anyway, minus the 25x overhead, and tolerant of the same broken markup.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TypeAlias

import lxml.html
from lxml import etree

from scraper.pages.dates import parse_visible_date
from scraper.pages.selectors import SELECTORS

# "yuan...@gmail.com", "m.t....@gmail.com": a truncated local part, then "...@domain".
MASKED_ADDRESS_RE = re.compile(r"[\w.+-]+\.\.\.@[\w-]+(?:\.[\w-]+)+")

_SPACE = re.compile(r"\s+")
_NOT_TEXT = {"script", "style", "noscript", "template"}

Element: TypeAlias = lxml.html.HtmlElement


def find_masked_addresses(text: str) -> list[str]:
    """Every masked address in ``text``, in order. They are never unmasked."""
    return MASKED_ADDRESS_RE.findall(text)


def parse_html(html: str | bytes) -> Element | None:
    """The document tree, or ``None`` for an empty or unparsable page."""
    try:
        if isinstance(html, bytes):
            parser = lxml.html.HTMLParser(encoding="utf-8")
            return lxml.html.document_fromstring(html, parser=parser)
        return lxml.html.document_fromstring(html)
    except ValueError:  # a str that declares its own encoding
        return parse_html(html.encode("utf-8")) if isinstance(html, str) else None
    except etree.ParserError:
        return None


@cache
def _xpath(expression: str) -> etree.XPath:
    return etree.XPath(expression)


def first_match(root: Element, expressions: tuple[str, ...]) -> list[Element]:
    """The elements found by the first expression that finds any."""
    for expression in expressions:
        found = _elements(_xpath(expression)(root))
        if found:
            return found
    return []


def _elements(found: object) -> list[Element]:
    """The elements among what an XPath expression found (not its text or attributes)."""
    return [el for el in found if isinstance(el, Element)] if isinstance(found, list) else []


def text_of(element: Element | None) -> str:
    if element is None:
        return ""
    return _SPACE.sub(" ", element.text_content()).strip()


def inner_html(element: Element) -> str:
    """The element's content as HTML, without the element's own tag."""
    head = html_lib.escape(element.text, quote=False) if element.text else ""
    return head + "".join(lxml.html.tostring(child, encoding="unicode") for child in element)


def texts_outside(root: Element, excluded: Element | None) -> Iterator[str]:
    """The text pieces under ``root`` that are not inside ``excluded`` (nor scripts)."""
    skipped: set[Element] = set(excluded.iter()) if excluded is not None else set()
    for element in root.iter():
        if element in skipped:
            if excluded is not None and element is excluded and excluded.tail:
                yield excluded.tail
            continue
        if isinstance(element.tag, str) and element.tag not in _NOT_TEXT and element.text:
            yield element.text
        if element is not root and element.tail:
            yield element.tail


# Any page -------------------------------------------------------------------------------


def group_title(tree: Element | None) -> str | None:
    """The group's name: the first ``h2``, else the ``<title>`` minus " - Google Groups"."""
    return _first_text_or_title(tree, SELECTORS.group_title)


def _first_text_or_title(tree: Element | None, expressions: tuple[str, ...]) -> str | None:
    """The first non-empty text of the elements ``expressions`` find, else the page title."""
    if tree is None:
        return None
    for element in first_match(tree, expressions):
        text = text_of(element)
        if text:
            return text
    return page_title(tree)


def page_title(tree: Element | None) -> str | None:
    if tree is None:
        return None
    for element in first_match(tree, SELECTORS.page_title):
        title = text_of(element)
        if title.endswith(SELECTORS.title_suffix):
            title = title[: -len(SELECTORS.title_suffix)].strip()
        if title:
            return title
    return None


# Topic list -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DomTopic:
    id: str
    subject: str
    snippet: str
    last_activity_at: datetime | None
    message_count: int | None
    authors: tuple[str, ...]


def topic_rows(tree: Element | None, now: datetime) -> list[DomTopic]:
    if tree is None:
        return []
    topics: dict[str, DomTopic] = {}
    for row in first_match(tree, SELECTORS.topic_rows):
        topic = _topic_row(row, now)
        if topic is not None and topic.id not in topics:
            topics[topic.id] = topic
    return list(topics.values())


def _topic_row(row: Element, now: datetime) -> DomTopic | None:
    links = first_match(row, SELECTORS.topic_links)
    link = links[0] if links else None
    topic_id = row.get(SELECTORS.topic_id_attr) or _topic_id_from_href(link)
    if not topic_id:
        return None

    subject = ""
    label = row.get("aria-label") or ""
    if label.startswith(SELECTORS.row_label_prefix):
        subject = label[len(SELECTORS.row_label_prefix) :].strip()
    if not subject:
        subject = next(filter(None, map(text_of, first_match(row, SELECTORS.topic_titles))), "")
    link_texts: list[str] = _pieces(link) if link is not None else []
    if not subject and link_texts:
        subject = link_texts[0]

    snippet = next(filter(None, map(text_of, first_match(row, SELECTORS.topic_snippets))), "")
    if not snippet and link_texts:
        # The link holds the title, then the snippet, as separate text pieces.
        rest = link_texts[1:] if link_texts[0] == subject else []
        snippet = " ".join(rest)

    authors = tuple(filter(None, map(text_of, first_match(row, SELECTORS.topic_authors))))
    return DomTopic(
        id=topic_id,
        subject=subject,
        snippet=snippet,
        last_activity_at=_row_date(row, link, now),
        message_count=_row_count(row),
        authors=authors,
    )


def _topic_id_from_href(link: Element | None) -> str | None:
    if link is None:
        return None
    match = re.search(r"/c/([\w-]+)", link.get("href") or "")
    return match[1] if match else None


def _row_count(row: Element) -> int | None:
    for element in row.iter():
        match = SELECTORS.count_label.match(element.get("aria-label") or "")
        if match:
            return int(match[1].replace(",", ""))
    for element in first_match(row, SELECTORS.topic_counts):
        digits = text_of(element).replace(",", "")
        if digits.isdigit():
            return int(digits)
    return None


def _row_date(row: Element, link: Element | None, now: datetime) -> datetime | None:
    candidates = [text_of(el) for el in first_match(row, SELECTORS.topic_dates)]
    # Renamed classes: any text of the row, outside the title link, that reads as a date.
    candidates += [piece.strip() for piece in texts_outside(row, link)]
    for text in candidates:
        moment = parse_visible_date(text, now) if text else None
        if moment is not None:
            return moment
    return None


def total_topics(tree: Element | None) -> int | None:
    """The total from "1–30 of 2,768", if the page shows it."""
    if tree is None:
        return None
    candidates = [text_of(el) for el in first_match(tree, SELECTORS.topic_range)]
    candidates += [piece for piece in texts_outside(tree, None) if "of" in piece]
    for text in candidates:
        match = SELECTORS.range_text.match(text)
        if match:
            return int(match[1].replace(",", ""))
    return None


def _pieces(element: Element) -> list[str]:
    return [p for p in (_SPACE.sub(" ", t).strip() for t in texts_outside(element, None)) if p]


# Thread ---------------------------------------------------------------------------------


def thread_subject(tree: Element | None) -> str | None:
    return _first_text_or_title(tree, SELECTORS.thread_subject)


def message_sections(tree: Element | None) -> dict[str, Element]:
    """Each message's element by message id, in page order."""
    if tree is None:
        return {}
    sections: dict[str, Element] = {}
    for section in first_match(tree, SELECTORS.messages):
        message_id = next(filter(None, map(section.get, SELECTORS.message_id_attrs)), None)
        if message_id and message_id not in sections:
            sections[message_id] = section
    return sections


def message_count(tree: Element | None) -> int | None:
    """A "12 messages" label outside the messages, if the page shows one."""
    if tree is None:
        return None
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        label = element.get("aria-label") or ""
        match = SELECTORS.count_label.match(label)
        if match:
            return int(match[1].replace(",", ""))
    return None


def section_author(section: Element) -> str:
    author = section.get(SELECTORS.message_author_attr)
    if author and author.strip():
        return _SPACE.sub(" ", author).strip()
    return next(filter(None, map(text_of, first_match(section, SELECTORS.message_author))), "")


def section_body(section: Element) -> Element | None:
    found = first_match(section, SELECTORS.message_body)
    return found[0] if found else None


def section_body_html(section: Element) -> str | None:
    body = section_body(section)
    return inner_html(body) if body is not None else None


def section_date(section: Element, now: datetime) -> datetime | None:
    candidates = [text_of(el) for el in first_match(section, SELECTORS.message_dates)]
    # Renamed classes: the header text that reads as a date (never the body's quotes).
    candidates += [piece.strip() for piece in texts_outside(section, section_body(section))]
    for text in candidates:
        moment = parse_visible_date(text, now) if text else None
        if moment is not None:
            return moment
    return None


def section_masked_address(section: Element, author: str) -> str | None:
    """The author's masked address, when the page shows one for them.

    Taken from the author's own header (the element around the ``h3``), or from the author
    name itself when Google shows the address as the name. Addresses in the "to …"
    recipients line or quoted in the body belong to other people and are never used.
    """
    if MASKED_ADDRESS_RE.fullmatch(author):
        return author
    headings = first_match(section, SELECTORS.message_author)
    if not headings:
        return None
    header = headings[0].getparent()
    if header is None or header is section:
        return None
    links = _elements(_xpath(SELECTORS.masked_links)(header))
    body = section_body(section) if links else None
    for link in links:
        if body is not None and (link is body or body in link.iterancestors()):
            continue
        line = text_of(link.getparent())
        if line.startswith(SELECTORS.recipients_prefix):
            continue
        match = MASKED_ADDRESS_RE.search(text_of(link))
        if match:
            return match[0]
    return None
