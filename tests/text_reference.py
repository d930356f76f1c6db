"""The straightforward reference implementation the fast one in :mod:`archive.text` must match.

This is ``html_to_text`` (a ``_TextWriter`` that walks the lxml tree one callback per
node) and ``strip_footer`` exactly as they were before the conversion was made faster.
Archives already hold ``body_text`` and dedupe fingerprints computed by this code, so
``tests/test_text_equivalence.py`` requires the fast code to return byte-identical
strings for every input. Do not change it to follow the fast code: it is the oracle.
"""

from __future__ import annotations

import re

from archive.content import (
    DROPPED_WITH_CONTENT,
    FOOTER_IN_TEXT,
    FOOTER_SEPARATOR,
    GROUP_FOOTER_END,
    GROUP_FOOTER_MAX_LINES,
)


def fold_whitespace(text: str) -> str:
    """Every run of whitespace (including no-break spaces and newlines) becomes one space."""
    return " ".join(text.split())


# The opening sentence of every footer variant Google Groups has appended since
# about 2010. The later sentences ("To unsubscribe ...", "To post to this group ...",
# "Visit this group at ...", "For more options ...", "To view this discussion ...")
# always follow it, so cutting from here removes them all.
_FOOTER_OPENING = FOOTER_IN_TEXT
_SEPARATOR = FOOTER_SEPARATOR
# A group with a footer of its own gets "-- / <group footer> / --- / <Google footer>".
_CUSTOM_FOOTER_END = GROUP_FOOTER_END
_CUSTOM_FOOTER_MAX_LINES = GROUP_FOOTER_MAX_LINES


def strip_footer(text: str) -> str:
    """Remove the footer Google Groups appends to every message, from its ``-- `` line on.

    When the group has a footer of its own, Google writes it between a ``-- `` and a
    ``--- `` line before its standard one; that is removed too, since it also names
    the group. Only an unquoted footer counts: a reply that quotes an earlier message
    (``> `` lines, as :func:`html_to_text` writes blockquotes) keeps the quoted footer
    and everything written below it. When several footers appear, the last is Google's.
    """
    openings = list(_FOOTER_OPENING.finditer(text))
    if not openings:
        return text
    lines = text[: openings[-1].start()].split("\n")
    lines.pop()  # the (empty) start of the footer's own line
    _drop_blank_tail(lines)
    if lines and _CUSTOM_FOOTER_END.match(lines[-1]):
        lines.pop()
        for back in range(1, min(len(lines), _CUSTOM_FOOTER_MAX_LINES) + 1):
            if _SEPARATOR.match(lines[-back]):
                del lines[-back:]
                break
    elif lines and _SEPARATOR.match(lines[-1]):
        lines.pop()
    _drop_blank_tail(lines)
    return "\n".join(lines)


def _drop_blank_tail(lines: list[str]) -> None:
    while lines and not lines[-1].strip():
        lines.pop()


# --- HTML to text -----------------------------------------------------------

_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "dd", "details", "dialog",
        "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1",
        "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "html-blob", "li", "main",
        "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot",
        "th", "thead", "tr", "ul", "body", "html",
    }
)  # fmt: skip
_PARAGRAPH_TAGS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table", "hr"})
# What goes is the shared rule (archive.content); this copy pins only the walk.
_DROPPED_TAGS = DROPPED_WITH_CONTENT
_CELL_TAGS = frozenset({"td", "th"})
_TAGS = re.compile(r"<[^>]*>")
_DROPPED_BLOCKS = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_PARSER = None  # created on first use, so importing this module stays cheap
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")


class _TextWriter:
    """Accumulates lines; knows the current quote depth, list nesting and <pre> state."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.buffer: list[str] = []
        self.quote_depth = 0
        self.list_stack: list[list[int | None]] = []  # [next number or None for bullets]
        self.bullet: str | None = None  # marker waiting for the first line of an <li>
        self.pre_depth = 0

    # prefixes -------------------------------------------------------------
    def _prefix(self, *, starts_item: bool) -> str:
        quote = "> " * self.quote_depth
        indent = "  " * max(len(self.list_stack) - 1, 0)
        if starts_item and self.bullet is not None:
            marker, self.bullet = self.bullet, None
            return quote + indent + marker
        if self.list_stack:
            return quote + indent + "  "
        return quote

    # text -----------------------------------------------------------------
    def text(self, value: str | None) -> None:
        if not value:
            return
        if self.pre_depth:
            parts = value.replace("\r\n", "\n").split("\n")
            for index, part in enumerate(parts):
                if index:
                    self.end_line(keep_empty=True)
                self.buffer.append(part.replace("\u00a0", " "))
            return
        value = _SPACES.sub(" ", value)
        if not self.buffer or self.buffer[-1].endswith(" "):
            value = value.lstrip(" ")
        if value:
            self.buffer.append(value)

    def end_line(self, *, keep_empty: bool = False) -> None:
        line = "".join(self.buffer)
        self.buffer = []
        line = line.rstrip() if self.pre_depth else line.strip()
        if line or keep_empty:
            # An empty line leaves a pending list marker for the item's first words.
            self.lines.append((self._prefix(starts_item=bool(line)) + line).rstrip())

    def blank_line(self) -> None:
        self.end_line()
        if self.lines and self.lines[-1].strip(" >"):
            # Inside a quote the blank line keeps its ">" so the quote reads as one block.
            self.lines.append(" ".join(">" * self.quote_depth))

    # tree walk --------------------------------------------------------------
    def walk(self, root) -> None:
        # An explicit stack, not recursion: quotes of quotes can nest past Python's limit.
        stack: list[tuple[object, str | None, bool]] = [(root, None, False)]
        while stack:
            el, closing_tag, paragraph = stack.pop()
            if closing_tag is not None:
                self.close(closing_tag, paragraph)
                self.text(el.tail)
                continue
            tag = el.tag
            if not isinstance(tag, str) or tag.lower() in _DROPPED_TAGS:
                self.text(el.tail)  # comments, processing instructions, scripts
                continue
            tag = tag.lower()
            if tag == "br":
                self.end_line(keep_empty=True)
                self.text(el.tail)
                continue
            if tag == "hr":
                self.blank_line()
                self.text(el.tail)
                continue
            paragraph = self.open(tag)
            self.text(el.text)
            stack.append((el, tag, paragraph))
            stack.extend((child, None, False) for child in reversed(el))

    def open(self, tag: str) -> bool:
        # Paragraphs inside list items would put blank lines between the items.
        paragraph = tag in _PARAGRAPH_TAGS and not (tag == "p" and self.list_stack)
        if paragraph:
            self.blank_line()
        elif tag in _CELL_TAGS:
            self.text(" ")
        elif tag in _BLOCK_TAGS:
            self.end_line()

        if tag == "blockquote":
            self.blank_line()
            self.quote_depth += 1
        elif tag in ("ul", "ol"):
            self.list_stack.append([1 if tag == "ol" else None])
        elif tag == "li":
            numbering = self.list_stack[-1] if self.list_stack else [None]
            if numbering[0] is None:
                self.bullet = "- "
            else:
                self.bullet = f"{numbering[0]}. "
                numbering[0] += 1
        elif tag == "pre":
            self.pre_depth += 1
        return paragraph

    def close(self, tag: str, paragraph: bool) -> None:
        if tag == "blockquote":
            self.end_line()
            while self.lines and not self.lines[-1].strip(" >"):
                self.lines.pop()
            self.quote_depth -= 1
            self.blank_line()
        elif tag in ("ul", "ol"):
            self.end_line()
            self.list_stack.pop()
        elif tag == "li":
            self.end_line()
            self.bullet = None
        elif tag == "pre":
            self.end_line()
            self.pre_depth -= 1
        if paragraph:
            self.blank_line()
        elif tag in _BLOCK_TAGS and tag not in _CELL_TAGS:
            self.end_line()

    def result(self) -> str:
        self.end_line()
        out: list[str] = []
        for line in self.lines:
            empty = not line.strip(" >")
            if empty and (not out or not out[-1].strip(" >")):
                continue  # no leading blank lines, no runs of blank lines
            out.append(line)
        while out and not out[-1].strip(" >"):
            out.pop()
        return "\n".join(out)


def html_to_text(html: str) -> str:
    """Plain text of a message body: one line per block, list items as ``- ``/``1. ``
    lines, blockquotes prefixed with ``> ``, link text kept (URLs are not added), and
    scripts, styles and comments dropped. Whitespace inside a line is folded; ``<pre>``
    keeps its own.
    """
    if not html or not html.strip():
        return ""
    from lxml import etree

    global _PARSER
    if _PARSER is None:
        # Plain etree elements: lxml.html's element classes cost a lookup per node.
        # huge_tree lifts libxml2's nesting limit (256), past which it returns nothing.
        _PARSER = etree.HTMLParser(
            remove_comments=True, remove_pis=True, no_network=True, huge_tree=True
        )
    try:
        try:
            root = etree.fromstring(html, _PARSER)
        except ValueError:
            # A str that declares its own encoding must be handed over as bytes.
            root = etree.fromstring(html.encode("utf-8"), _PARSER)
    except etree.LxmlError:
        return _crude_text(html)
    body = root.find("body") if root is not None else None
    if body is None:
        return ""
    writer = _TextWriter()
    writer.walk(body)
    # libxml2 gives up on pathological markup (nesting beyond ~2,000 levels) and
    # returns an empty tree; the words must still reach the search index.
    return writer.result() or _crude_text(html)


def _crude_text(html: str) -> str:
    import html as html_entities

    without_tags = _TAGS.sub(" ", _DROPPED_BLOCKS.sub(" ", html))
    return fold_whitespace(html_entities.unescape(without_tags))


def message_text(body_html: str) -> str:
    return strip_footer(html_to_text(body_html))
