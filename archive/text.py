"""Pure text helpers for message bodies and subjects: str in, str out, no I/O.

lxml is imported inside :func:`html_to_text` only, so importing this module costs
nothing and :mod:`archive.db` stays quick to import for ``search`` and ``export``.

The rules every output shares (the footer, subject tags, what a body drops) live in
:mod:`archive.content`; the subject helpers are importable from here too.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import TYPE_CHECKING, cast

from archive.content import (
    DROPPED_WITH_CONTENT,
    FOOTER_IN_TEXT,
    FOOTER_SEPARATOR,
    FOOTER_WORDS,
    GROUP_FOOTER_END,
    GROUP_FOOTER_MAX_LINES,
    normalize_subject,
    strip_list_tags,
)

if TYPE_CHECKING:
    from lxml.etree import _Element

__all__ = [
    "fingerprint",
    "fold_whitespace",
    "html_to_text",
    "is_quoted",
    "message_text",
    "normalize_subject",
    "strip_footer",
    "strip_list_tags",
    "text_as_html",
    "without_quotes",
]

# --- whitespace and footers -------------------------------------------------


def fold_whitespace(text: str) -> str:
    """Every run of whitespace (including no-break spaces and newlines) becomes one space."""
    return " ".join(text.split())




def is_quoted(line: str) -> bool:
    """Whether a line of body text quotes another message (``> ``, as
    :func:`html_to_text` writes blockquotes and mail clients write replies)."""
    return line.lstrip().startswith(">")


_ATTRIBUTION = re.compile(r".*\bwrote:\s*$")


def without_quotes(text: str) -> str:
    """``text`` without its quoted lines, nor the "On ... wrote:" line that opens a
    quote; the blank lines left behind fold into one."""
    lines = text.split("\n")
    kept: list[str] = []
    for n, line in enumerate(lines):
        if is_quoted(line):
            continue
        if _ATTRIBUTION.match(line):
            after = next((later for later in lines[n + 1 :] if later.strip()), "")
            if is_quoted(after):
                continue
        if not line.strip() and kept and not kept[-1].strip():
            continue
        kept.append(line)
    return "\n".join(kept).strip("\n")


def strip_footer(text: str) -> str:
    """Remove the footer Google Groups appends to every message, from its ``-- `` line on.

    When the group has a footer of its own, Google writes it between a ``-- `` and a
    ``--- `` line before its standard one; that is removed too, since it also names
    the group. Only an unquoted footer counts: a reply that quotes an earlier message
    (``> `` lines, as :func:`html_to_text` writes blockquotes) keeps the quoted footer
    and everything written below it. When several footers appear, the last is Google's.
    """
    opening = _last_footer_opening(text)
    if opening is None:
        return text
    lines = text[:opening].split("\n")
    lines.pop()  # the (empty) start of the footer's own line
    _drop_blank_tail(lines)
    if lines and GROUP_FOOTER_END.match(lines[-1]):
        lines.pop()
        for back in range(1, min(len(lines), GROUP_FOOTER_MAX_LINES) + 1):
            if FOOTER_SEPARATOR.match(lines[-back]):
                del lines[-back:]
                break
    elif lines and FOOTER_SEPARATOR.match(lines[-1]):
        lines.pop()
    _drop_blank_tail(lines)
    return "\n".join(lines)


def _last_footer_opening(text: str) -> int | None:
    """Where the last match of FOOTER_IN_TEXT starts, if any.

    The regex has no literal prefix, so a search tries it at every position of the
    text. A match starts a line and stays within it, so it is enough to try it at the
    start of each line that holds its fixed words, from the last such line back.
    """
    end = len(text)
    while (found := text.rfind(FOOTER_WORDS, 0, end)) >= 0:
        line_start = text.rfind("\n", 0, found) + 1
        if FOOTER_IN_TEXT.match(text, line_start):
            return line_start
        end = line_start
    return None


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
_CELL_TAGS = frozenset({"td", "th"})
_TAGS = re.compile(r"<[^>]*>")
_DROPPED_BLOCKS = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_PARSER = None  # created on first use, so importing this module stays cheap
# Whitespace a line folds: every run of these becomes one space. Only the runs that
# folding changes are matched (all but a lone " "): leaving the ordinary gaps between
# words alone makes the substitution faster.
_OTHER_SPACES = r"\t\r\n\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000"
_SPACES_TO_FOLD = re.compile(rf"[{_OTHER_SPACES}][ {_OTHER_SPACES}]*| [ {_OTHER_SPACES}]+")

# What the walk does with an element. Nearly every element of a message is inline
# (b, a, span, font: only its text counts), a plain block (div: the line ends before
# and after it), a <br> or a list item; the walk's loop handles those itself and
# leaves the rest (paragraphs, lists, quotes, cells, <pre>) to open() and close().
_INLINE, _BLOCK, _BREAK, _ITEM, _RULE, _DROPPED, _PRE, _OTHER = range(8)
_OPENED_AND_CLOSED = _PARAGRAPH_TAGS | _CELL_TAGS | {"blockquote", "ul", "ol"}
_KINDS: dict[object, int] = {}  # tag as lxml gives it -> kind, filled as tags are met
_KINDS_MAX = 1000  # made-up tag names are endless; past this many, classify each time


def _kind(tag: object) -> int:
    if not isinstance(tag, str):
        return _DROPPED  # comments and processing instructions
    tag = tag.lower()
    if tag in DROPPED_WITH_CONTENT:
        return _DROPPED
    if tag == "br":
        return _BREAK
    if tag == "hr":
        return _RULE
    if tag == "pre":
        return _PRE
    if tag == "li":
        return _ITEM
    if tag in _OPENED_AND_CLOSED:
        return _OTHER
    if tag in _BLOCK_TAGS:
        return _BLOCK
    return _INLINE


class _TextWriter:
    """Accumulates lines; knows the current quote depth, list nesting and <pre> state.

    Outside <pre> the pieces of a line are kept as they come and the line's whitespace
    is folded once, when it ends. That gives the line folding each piece would (a run
    of spaces split between pieces folds to one space either way, and the ends are
    stripped) for one regex call per line instead of one per text node.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.buffer: list[str] = []  # emptied in place: the walk holds its append
        self.quote_depth = 0
        self.list_stack: list[list[int | None]] = []  # [next number or None for bullets]
        self.bullet: str | None = None  # marker waiting for the first line of an <li>
        self.pre_depth = 0
        self._nesting_changed()

    # prefixes -------------------------------------------------------------
    def _nesting_changed(self) -> None:
        # Lines far outnumber changes of quote depth or list nesting: work the
        # prefixes out here, not for every line.
        quote = "> " * self.quote_depth
        self.item_prefix = quote + "  " * max(len(self.list_stack) - 1, 0)
        self.prefix = self.item_prefix + "  " if self.list_stack else quote
        self.empty_line = self.prefix.rstrip()

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
        self.buffer.append(value)

    def end_line(self, keep_empty: bool = False) -> None:
        buffer = self.buffer
        if buffer:
            line = "".join(buffer)
            buffer.clear()
            if self.pre_depth:
                line = line.rstrip()
            else:
                # Stripping first gives what folding first would: folding turns runs of
                # whitespace into a space, and strip() takes every whitespace character
                # off the ends. Most lines then have nothing left to fold (a line's text
                # usually starts with the newline after the previous <br>).
                line = line.strip()
                if "  " in line or (
                    ("\n" in line or "\t" in line or "\r" in line or "\f" in line or "\v" in line)
                    if line.isascii()
                    else not line.isprintable()
                ):
                    # Something to fold: two spaces in a row or another whitespace
                    # character, all of which are unprintable. These tests cost a
                    # fraction of the regex; for ASCII the substring tests are cheapest.
                    line = _SPACES_TO_FOLD.sub(" ", line)
            if line:
                bullet = self.bullet
                if bullet is None:
                    self.lines.append(self.prefix + line)
                else:
                    self.bullet = None
                    self.lines.append(self.item_prefix + bullet + line)
                return
        if keep_empty:
            # An empty line leaves a pending list marker for the item's first words.
            self.lines.append(self.empty_line)

    def blank_line(self) -> None:
        self.end_line()
        if self.lines and self.lines[-1].strip(" >"):
            # Inside a quote the blank line keeps its ">" so the quote reads as one block.
            self.lines.append(" ".join(">" * self.quote_depth))

    # tree walk --------------------------------------------------------------
    def walk(self, root: _Element) -> None:
        # A stack of the open elements' child iterators, not recursion: quotes of
        # quotes can nest past Python's limit. A leaf never goes on the stack. The
        # inside of a <pre> is left to _walk_preformatted, so every text this loop
        # meets goes into the buffer as it is.
        kinds = _KINDS
        buffer = self.buffer
        append = buffer.append
        end_line = self.end_line
        lines = self.lines
        stack: list[tuple[Iterator[_Element], _Element, int, bool]] = []
        children: Iterator[_Element] = iter((root,))
        while True:
            for el in children:
                tag = el.tag
                kind = kinds.get(tag)
                if kind is None:
                    kind = _kind(tag)
                    if len(kinds) < _KINDS_MAX:
                        kinds[tag] = kind
                if kind == _BLOCK:
                    if buffer:
                        end_line()
                    text = el.text
                    if text:
                        append(text)
                    if len(el):
                        stack.append((children, el, kind, False))
                        children = iter(el)
                        break
                    if buffer:
                        end_line()
                elif kind == _BREAK:
                    if buffer:
                        end_line(True)
                    else:
                        lines.append(self.empty_line)
                elif kind == _INLINE:
                    text = el.text
                    if text:
                        append(text)
                    if len(el):
                        stack.append((children, el, kind, False))
                        children = iter(el)
                        break
                elif kind == _ITEM:
                    if buffer:
                        end_line()
                    self._start_item()
                    text = el.text
                    if text:
                        append(text)
                    stack.append((children, el, kind, False))
                    children = iter(el)
                    break
                elif kind == _OTHER:
                    # _kind gives _OTHER to named elements only: the tag is a str.
                    paragraph = self.open(cast(str, tag).lower())
                    text = el.text
                    if text:
                        append(text)
                    stack.append((children, el, kind, paragraph))
                    children = iter(el)
                    break
                elif kind == _RULE:
                    self.blank_line()
                elif kind == _PRE:
                    paragraph = self.open("pre")
                    self._walk_preformatted(el)
                    self.close("pre", paragraph)
                # _DROPPED: nothing but the tail
                tail = el.tail
                if tail:
                    append(tail)
            else:
                if not stack:
                    return
                children, el, kind, paragraph = stack.pop()
                if kind == _BLOCK:
                    if buffer:
                        end_line()
                elif kind == _ITEM:
                    if buffer:
                        end_line()
                    self.bullet = None
                elif kind == _OTHER:
                    self.close(cast(str, el.tag).lower(), paragraph)
                tail = el.tail
                if tail:
                    append(tail)

    def _walk_preformatted(self, pre: _Element) -> None:
        """The text and descendants of a <pre>, every text through :meth:`text`.

        Inside a <pre> each newline of a text ends a line, so no shortcut applies; a
        <pre> is rare enough for the plain walk.
        """
        self.text(pre.text)
        stack: list[tuple[_Element, str | None, bool]] = [
            (child, None, False) for child in reversed(pre)
        ]
        while stack:
            el, closing_tag, paragraph = stack.pop()
            if closing_tag is not None:
                self.close(closing_tag, paragraph)
                self.text(el.tail)
                continue
            kind = _kind(el.tag)
            if kind == _DROPPED:
                self.text(el.tail)
                continue
            if kind == _BREAK:
                self.end_line(keep_empty=True)
                self.text(el.tail)
                continue
            if kind == _RULE:
                self.blank_line()
                self.text(el.tail)
                continue
            tag = cast(str, el.tag).lower()  # comments were _DROPPED above
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
            self._nesting_changed()
        elif tag in ("ul", "ol"):
            self.list_stack.append([1 if tag == "ol" else None])
            self._nesting_changed()
        elif tag == "li":
            self._start_item()
        elif tag == "pre":
            self.pre_depth += 1
        return paragraph

    def _start_item(self) -> None:
        numbering = self.list_stack[-1] if self.list_stack else [None]
        if numbering[0] is None:
            self.bullet = "- "
        else:
            self.bullet = f"{numbering[0]}. "
            numbering[0] += 1

    def close(self, tag: str, paragraph: bool) -> None:
        if tag == "blockquote":
            self.end_line()
            while self.lines and not self.lines[-1].strip(" >"):
                self.lines.pop()
            self.quote_depth -= 1
            self._nesting_changed()
            self.blank_line()
        elif tag in ("ul", "ol"):
            self.end_line()
            self.list_stack.pop()
            self._nesting_changed()
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
        after_blank = True  # no leading blank lines, no runs of blank lines
        for line in self.lines:
            if line.strip(" >"):
                out.append(line)
                after_blank = False
            elif not after_blank:
                out.append(line)
                after_blank = True
        if after_blank and out:
            out.pop()  # nor a trailing one
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
    # root.find("body") does the same through ElementPath, at twice the cost.
    body = next(root.iterchildren("body"), None) if root is not None else None
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


def text_as_html(text: str) -> str:
    """HTML for a plain-text mail body (mail has no HTML of its own): kept preformatted,
    since list mail lines up code, patches and quotes by its spaces."""
    import html as html_entities

    return f"<pre>{html_entities.escape(text, quote=False)}</pre>" if text else ""


def message_text(body_html: str) -> str:
    """The ``body_text`` the archive stores: plain text with Google's footer removed."""
    return strip_footer(html_to_text(body_html))


# --- fingerprint --------------------------------------------------------------


def fingerprint(author: str, subject: str, body_text: str) -> str:
    """Identify a message's content across groups.

    Two postings with the same fingerprint (and close enough in time; the archive
    decides that) are the same message: same author name (case and spacing folded),
    same :func:`normalize_subject`, same body text with whitespace folded. Pass the
    body *after* :func:`strip_footer`: the footer names the group, so it differs
    between the copies of a cross-post.
    """
    import hashlib  # on the save path only: search needs this module, not its 3 ms import

    parts = (
        fold_whitespace(unicodedata.normalize("NFC", author)).casefold(),
        normalize_subject(subject),
        fold_whitespace(unicodedata.normalize("NFC", body_text)),
    )
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=16).hexdigest()
