"""Where things sit on Google Groups pages: the one table to edit when Google changes them.

Google minifies its class names and renames them between releases, while ARIA roles,
``data-*`` attributes and ``jsname`` have stayed put since 2021. So every field below lists
XPath expressions from the most durable to the most brittle, and the first one that finds
something wins: attributes first, minified classes last (through :func:`css_class`).

The table also holds the few English UI strings the DOM layer reads ("Select …", "3 messages",
"1–30 of 2,768", "to …"); pages are fetched with ``hl=en`` so they are stable enough.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


def css_class(name: str) -> str:
    """An XPath predicate matching one CSS class, like ``.name`` in CSS."""
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


@dataclass(frozen=True)
class Selectors:
    # Any page ---------------------------------------------------------------------------
    group_title: tuple[str, ...] = ("//h2",)
    page_title: tuple[str, ...] = ("//title",)
    title_suffix: str = " - Google Groups"

    # Topic list (group page) -----------------------------------------------------------
    topic_rows: tuple[str, ...] = (
        "//*[@role='row'][@data-rowid]",
        "//*[@data-rowid]",
        f"//div[{css_class('yhgbKd')}]",
    )
    topic_id_attr: str = "data-rowid"
    topic_links: tuple[str, ...] = (
        ".//a[contains(@href, '/c/')]",
        f".//a[{css_class('ZLl54')}]",
        f".//a[{css_class('Dysyo')}]",
    )
    # The row's aria-label is "Select <title>"; the class is the fallback.
    row_label_prefix: str = "Select "
    topic_titles: tuple[str, ...] = (
        f".//*[{css_class('o1DPKc')}]",
        f".//*[{css_class('t17a0d')}]",
    )
    topic_snippets: tuple[str, ...] = (f".//*[{css_class('WzoK')}]",)
    topic_authors: tuple[str, ...] = (f".//*[{css_class('z0zUgf')}]",)
    topic_counts: tuple[str, ...] = (f".//*[{css_class('F5JnCe')}]",)
    count_label: re.Pattern[str] = re.compile(r"^\s*(\d[\d,]*)\s+messages?\s*$", re.I)
    topic_dates: tuple[str, ...] = (f".//*[{css_class('tRlaM')}]",)
    topic_range: tuple[str, ...] = (f"//*[{css_class('aEb7Ed')}]",)
    range_text: re.Pattern[str] = re.compile(
        r"^\s*\d[\d,]*\s*[\u2013\u2014-]\s*\d[\d,]*\s+of\s+(?:about\s+)?(\d[\d,]*)\s*$", re.I
    )

    # Thread page -----------------------------------------------------------------------
    # scan.py applies the message, author, body and masked-link rules below without a DOM
    # (for JSON-parsed threads); it steps aside for lxml when they change here.
    thread_subject: tuple[str, ...] = (
        "//h1[@jsname='GNEpNe']",
        "//h1",
        f"//*[{css_class('ThqSJd')}]",
    )
    messages: tuple[str, ...] = (
        "//section[@role='listitem'][@data-doc-id]",
        "//*[@data-doc-id]",
        "//*[@data-message-id]",
        f"//section[{css_class('BkrUxb')}]",
    )
    message_id_attrs: tuple[str, ...] = ("data-doc-id", "data-message-id")
    message_author_attr: str = "data-author"
    message_author: tuple[str, ...] = (".//h3", f".//*[{css_class('s1f8Zd')}]")
    message_dates: tuple[str, ...] = (f".//*[{css_class('zX2W9c')}]",)
    # The body is the inner HTML of the html-blob inside the region.
    message_body: tuple[str, ...] = (
        ".//*[@role='region']//html-blob",
        ".//*[@role='region']",
        ".//html-blob",
        f".//*[{css_class('ptW7te')}]",
    )
    masked_links: str = ".//a[@data-email-masked]"
    # "to Chromium Extensions, vladimira...@gmail.com": recipients, never the author.
    recipients_prefix: str = "to "


SELECTORS = Selectors()
