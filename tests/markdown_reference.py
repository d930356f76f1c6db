"""The Markdown converter as it was before the lxml writer: BeautifulSoup (lxml) and a
markdownify subclass. Kept, unchanged, as the oracle the writer in
:mod:`archive.markdown` is checked against byte for byte (``tests/test_markdown_golden.py``).
"""

from __future__ import annotations

import re

from archive.content import DROPPED_VOID, DROPPED_WITH_CONTENT
from archive.markdown import (
    _ATTRIBUTION,
    _BLOCK_TAGS,
    _strip_footer,
    _tidy,
    escape_markdown,
    inert_code,
    safe_url,
)

# --- the converter (markdownify) -----------------------------------------------------------------

_QUOTE_SELECTORS = (
    ".gmail_quote, .gmail_attr, .wqmMgb, blockquote[type=cite], .moz-cite-prefix, .yahoo_quoted"
)
_CONVERTER_CLASS = None


def _converter_class():
    """The markdownify subclass, built on first use so the import stays lazy."""
    global _CONVERTER_CLASS
    if _CONVERTER_CLASS is not None:
        return _CONVERTER_CLASS
    from markdownify import MarkdownConverter

    class SafeConverter(MarkdownConverter):
        def escape(self, text, parent_tags):
            return escape_markdown(text)  # "|" included, so table cells are safe too

        def convert_a(self, el, text, parent_tags):
            if "_noformat" in parent_tags:
                return text
            prefix, suffix, text = _chomp(text)
            if not text:
                return ""
            href = el.get("href")
            url = safe_url(href)
            if url is None:
                return prefix + text + suffix
            shown = el.get_text().strip()
            if shown == href.strip() and url.lower().startswith(("http://", "https://")):
                return f"{prefix}<{url}>{suffix}"
            return f"{prefix}[{text}]({url}){suffix}"

        def convert_img(self, el, text, parent_tags):
            alt = escape_markdown(" ".join((el.get("alt") or "").split()))
            url = safe_url(el.get("src"))
            if url is None or not url.lower().startswith(("http://", "https://")):
                return alt
            if "_inline" in parent_tags:
                return alt
            return f"![{alt}]({url})"

        def convert_code(self, el, text, parent_tags):
            if "_noformat" in parent_tags:
                return text
            return super().convert_code(el, inert_code(text), parent_tags)

        def convert_blockquote(self, el, text, parent_tags):
            # A blank line before the quote: kramdown does not let a quote
            # interrupt a paragraph.
            quoted = super().convert_blockquote(el, text, parent_tags)
            return "\n" + quoted if quoted.startswith("\n>") else quoted

        def convert_br(self, el, text, parent_tags):
            if "pre" in parent_tags:
                return "\n" + text  # a hard break inside code is just a newline
            return super().convert_br(el, text, parent_tags)

        convert_kbd = convert_code
        convert_samp = convert_code

        def convert_pre(self, el, text, parent_tags):
            if not text:
                return ""
            text = inert_code(text.strip("\n"))
            # The fence must be longer than any backtick run inside, or the code
            # would end early and the rest be read as Markdown.
            longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
            fence = "`" * max(3, longest + 1)
            return f"\n\n{fence}\n{text}\n{fence}\n\n"

    _CONVERTER_CLASS = SafeConverter
    return SafeConverter


def _chomp(text: str) -> tuple[str, str, str]:
    prefix = " " if text[:1] == " " else ""
    suffix = " " if text[-1:] == " " else ""
    return prefix, suffix, text.strip()


# --- cleaning the tree ---------------------------------------------------------------

def _drop_quotes(soup) -> None:
    for quote in soup.select(_QUOTE_SELECTORS):
        if quote.decomposed:
            continue
        if quote.name == "blockquote":
            _drop_attribution(quote)
        quote.decompose()


def _drop_attribution(quote) -> None:
    """Remove the "On ... wrote:" line written as bare text just before a quote."""
    pieces = []
    node = quote.previous_sibling
    # Skip the line break(s) between the attribution and the quote.
    while node is not None and (
        getattr(node, "name", None) == "br" or (node.name is None and not str(node).strip())
    ):
        pieces.append(node)
        node = node.previous_sibling
    while node is not None and getattr(node, "name", None) not in _BLOCK_TAGS:
        pieces.append(node)
        node = node.previous_sibling
    text = "".join(p.get_text() if hasattr(p, "get_text") else str(p) for p in reversed(pieces))
    if len(text) < 400 and _ATTRIBUTION.search(text):
        for piece in pieces:
            piece.extract()


def _clean(soup, *, keep_quotes: bool) -> None:
    from bs4 import CData, Comment, Declaration, Doctype, ProcessingInstruction

    for node in soup.find_all(
        string=lambda s: isinstance(
            s, Comment | CData | Declaration | Doctype | ProcessingInstruction
        )
    ):
        node.extract()
    for tag in soup.find_all(sorted(DROPPED_WITH_CONTENT)):
        tag.decompose()
    for tag in soup.find_all(sorted(DROPPED_VOID)):
        tag.unwrap()
    for tag in soup.select("[role=button]"):
        tag.decompose()
    if not keep_quotes:
        _drop_quotes(soup)



def reference_markdown(html: str, *, keep_quotes: bool = False) -> str:
    """A message body as Markdown: links, bold and italic, lists, headings and code kept.

    Quoted earlier messages (with their "On ... wrote:" line) are dropped unless
    ``keep_quotes``; Google Groups' footer is always dropped. Masked addresses are
    left exactly as Google shows them.
    """
    if not html or not html.strip():
        return ""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")
    _clean(soup, keep_quotes=keep_quotes)
    converter = _converter_class()(
        heading_style="ATX",
        bullets="-",
        escape_underscores=False,
        escape_asterisks=False,  # escape_markdown does it, with the other characters
    )
    try:
        markdown = converter.convert_soup(soup)
    except RecursionError:
        # markdownify recurses once per level of nesting; a body nested hundreds of
        # levels deep (quotes of quotes, or malice) is kept as escaped plain text.
        lines = (" ".join(line.split()) for line in soup.get_text("\n").split("\n"))
        markdown = "\n\n".join(escape_markdown(line) for line in lines if line)
    return _tidy(_strip_footer(_tidy(markdown)))
