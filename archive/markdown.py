"""Message bodies (HTML) to Markdown that is safe to publish on a Jekyll or Hugo site.

Pure functions: str in, str out. lxml is imported on first use only, so ``search`` and
``show`` never pay for it. The writer follows markdownify's rules over lxml's parse (see
"writing Markdown" below); neither BeautifulSoup nor markdownify is used.

What "safe" means here, and why each rule exists:

* Raw HTML never passes through. Tags become Markdown or plain text; scripts, styles,
  frames and forms are dropped with their content; attributes other than a link's
  ``href`` and an image's ``src``/``alt`` are ignored. Text that was only text in the
  message (``&lt;script&gt;``) is written with entities (``&lt;script>``) so no
  Markdown renderer can take it for a tag.
* Links keep only http, https, mailto and ftp targets, percent-encoded so a URL can
  neither end the link early nor carry template syntax. Google's
  ``https://www.google.com/url?q=...`` redirects are unwrapped.
* Template syntax stays inert. Jekyll runs Liquid (``{{ }}``, ``{% %}``) over a whole
  post before Markdown, Jekyll 3 (GitHub Pages) has no switch to turn that off, and
  kramdown reads ``{:`` as an attribute list; Hugo runs shortcodes (``{{< >}}``,
  ``{{% %}}``). In prose, a ``{`` that could open one of those is written as the entity
  ``&#123;``: neither template engine decodes entities, and Markdown renders it as
  ``{``, so readers see the original text. Entities are not decoded inside code, so
  there a ZERO WIDTH SPACE goes between the ``{`` and the next ``{`` or ``%``:
  invisible, but no longer a delimiter.
* Characters that would turn text into markup (``*``, backticks, ``[``, ``]``, ``\\``,
  ``|``, ``$$``, and ``#``, ``-``, ``+``, ``=``, ``1.`` at the start of a line) are
  backslash-escaped with escapes that CommonMark and kramdown both understand; a
  ``>`` at the start of a line becomes ``&gt;``. Control characters are dropped.
  ``|`` is escaped everywhere because kramdown (Jekyll) makes a table of any line
  holding one (``ps aux | grep x``). An underscore is escaped only at a word's edge
  (``__init__.py``, ``_word_``), where it could open or close emphasis; inside a word
  (``snake_case``) neither renderer reads it as emphasis, and it stays as typed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import parse_qs, urljoin, urlsplit

from archive.content import (
    DROPPED_VOID,
    DROPPED_WITH_CONTENT,
    FOOTER_SEPARATOR,
    GROUP_FOOTER_END,
)

__all__ = [
    "escape_markdown",
    "html_to_markdown",
    "inert_code",
    "safe_url",
]

_SAFE_SCHEMES = frozenset({"http", "https", "mailto", "ftp"})
_LINK_BASE = "https://groups.google.com/"  # the <base href> of every Google Groups page

ZWSP = "\u200b"

# --- escaping ------------------------------------------------------------------

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BACKSLASH_ESCAPED = re.compile(r"([\\*`\[\]|])")
# An underscore not between two letters or digits: one that could delimit emphasis.
_EDGE_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
_ENTITY_LIKE = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
# A "{" that could open {{ }}, {% %}, {{< >}}, {{% %}} or kramdown's {: } / {:: }.
# One at the very end of a piece of text is escaped too: the next piece may start
# with "{", "%" or ":".
_TEMPLATE_OPENER = re.compile(r"\{(?=[{%:]|\Z)")
_CODE_TEMPLATE_OPENER = re.compile(r"\{(?=[{%])")
# Text with none of these is written as it is: every rule below starts from one of
# them (a control character, a character escaped anywhere, or what can start markup at
# the start of a line).
_NEEDS_ESCAPING = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\\*`\[\]|_&<{$]|^[ \t]*[#>\-+=\d]", re.M)
_LINE_START_MARKUP = re.compile(
    r"^([ \t]*)(#{1,6}(?=[ \t]|$)|>|[-+=]+(?=[ \t]|$)|\d{1,9}(?=[.)](?:[ \t]|$)))",
    re.MULTILINE,
)


def escape_markdown(text: str) -> str:
    """Plain text as Markdown that renders as exactly that text and nothing more.

    Used for message text and for subjects, names and titles written into an export.
    """
    if not text:
        return ""
    if _NEEDS_ESCAPING.search(text) is None:
        return text
    text = _CONTROL.sub("", text)
    text = _BACKSLASH_ESCAPED.sub(r"\\\1", text)
    text = _EDGE_UNDERSCORE.sub(r"\\_", text)
    text = _ENTITY_LIKE.sub("&amp;", text)
    text = text.replace("<", "&lt;")
    text = _TEMPLATE_OPENER.sub("&#123;", text)
    text = text.replace("$$", r"\$\$")  # kramdown's math delimiter
    return _LINE_START_MARKUP.sub(_escape_line_start, text)


def _escape_line_start(match: re.Match) -> str:
    indent, marker = match.groups()
    if marker == ">":
        return f"{indent}&gt;"  # pairs with the "&lt;" a "<" became
    if marker[0].isdigit():
        return f"{indent}{marker}\\"  # "2024." -> "2024\." (the dot follows)
    return f"{indent}\\{marker}"


def inert_code(code: str) -> str:
    """Code text with template openers broken up invisibly (see the module docstring)."""
    return _CODE_TEMPLATE_OPENER.sub("{" + ZWSP, code)


# --- URLs ------------------------------------------------------------------------

# Everything a Markdown link destination or a template engine could read as syntax,
# percent-encoded (all ASCII, so one byte each).
_URL_UNSAFE = {ord(c): f"%{ord(c):02X}" for c in " \"<>\\^`{|}()[]'"}
_URL_CONTROL = re.compile("[\x00-\x1f\x7f]")


def safe_url(url: str | None) -> str | None:
    """A link target fit to publish, or None when it should not be a link at all.

    Relative links are resolved against groups.google.com, as Google's pages do.
    """
    if not url:
        return None
    # Browsers drop tabs, newlines and other control characters inside URLs, which
    # is how "java\tscript:" slips past naive checks.
    url = _URL_CONTROL.sub("", url).strip(" ")
    if not url:
        return None
    try:
        url = _unwrap_google_redirect(urljoin(_LINK_BASE, url))
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    if scheme not in _SAFE_SCHEMES:
        return None
    return url.translate(_URL_UNSAFE)


def _unwrap_google_redirect(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host in ("www.google.com", "google.com") and parts.path == "/url":
        query = parse_qs(parts.query)
        target = (query.get("q") or query.get("url") or [""])[0]
        if target and urlsplit(target).scheme.lower() in ("http", "https"):
            return target
    return url


# --- reading the body ----------------------------------------------------------------
#
# The body is read by lxml's HTML parser (libxml2) through its event interface, and a
# small tree is built from the events. Through events, libxml2 keeps nesting deeper than
# the 255 levels its own tree builder stops at, and every run of text between two tags,
# comments or dropped elements stays one piece of text of its own, as it was read:
# Markdown is written piece by piece (white space is folded and characters escaped in
# each), so two pieces must never merge. What a body loses is dropped while the tree is
# built, in this order: comments, processing instructions and doctypes; elements that go
# with their content (archive.content); void elements, as tags only; anything with
# role=button (Google's buttons); then quoted earlier messages, each with the "On ...
# wrote:" line before it (unless quotes are kept).

# Quoted earlier messages as mail clients and Google mark them:
#   gmail_quote / gmail_attr: Gmail and the Google Groups web editor;
#   wqmMgb: Google Groups' own "trimmed content" wrapper;
#   blockquote[type=cite] + moz-cite-prefix: Apple Mail, Thunderbird;
#   yahoo_quoted: Yahoo Mail.
_QUOTE_CLASSES = frozenset(
    {"gmail_quote", "gmail_attr", "wqmMgb", "moz-cite-prefix", "yahoo_quoted"}
)
# The HTML parser folds white space that is all ASCII spaces, outside <pre> and
# <textarea>, to one space or (if it held one) one newline.
_ASCII_SPACES = "\x20\x0a\x09\x0c\x0d"
_PRESERVE_SPACE = frozenset({"pre", "textarea"})
_RUBY = frozenset({"rt", "rp"})
# "On Tue, Aug 1, 2017 at 11:13 AM, George Zaki wrote:", or a localised
# "среда, 17 ноября 2021 г. в 02:11:08 UTC+3, yankovic...@gmail.com:".
_ATTRIBUTION = re.compile(r"\d.*:\s*\Z", re.DOTALL)
_BLOCK_TAGS = frozenset(
    {"p", "div", "blockquote", "ul", "ol", "li", "pre", "table", "h1", "h2", "h3", "h4",
     "h5", "h6", "hr", "section", "article", "br"}
)  # fmt: skip
# Nesting deeper than this (counting <html> and <body>) is written as plain text (see
# html_to_markdown). markdownify recursed three calls per level and so gave up where
# Python's recursion limit fell, which depended on how deep the caller's stack was;
# called by the export command, 323 nested quotes were written as Markdown and 324 were
# not. That point is kept, as a fixed rule.
MAX_DEPTH = 325


class _Node:
    __slots__ = ("name", "attrs", "children", "parent")

    def __init__(self, name: str, attrs: Any, parent: _Node | None) -> None:
        self.name = name
        self.attrs = attrs
        self.children: list[_Node | str] = []
        self.parent = parent


class _Builder:
    """lxml parser target: builds the cleaned tree (see above)."""

    def __init__(self, keep_quotes: bool = False) -> None:
        self.reset(keep_quotes)

    def reset(self, keep_quotes: bool) -> None:
        self.keep_quotes = keep_quotes
        self.root = _Node("[document]", {}, None)
        self.node = self.root
        # One entry per open element: the node its content goes to, or None when the
        # element is dropped with its content.
        self.stack: list[_Node | None] = []
        self.names: list[str] = []
        self.pending: list[str] = []
        self.skipping = 0  # open elements inside a dropped one
        self.preserve = 0  # open <pre>/<textarea>
        self.ruby: list[str] = []  # open <rt>/<rp>, innermost last
        self.depth = 0
        self.max_depth = 0

    def _flush(self) -> None:
        text = "".join(self.pending)
        self.pending.clear()
        if not text:
            return
        if not self.preserve and not text.strip(_ASCII_SPACES):
            text = "\n" if "\n" in text else " "
        self.node.children.append(_RUBY_KINDS[self.ruby[-1]](text) if self.ruby else text)

    def start(self, tag: str, attrs: Any) -> None:
        if self.pending:
            self._flush()
        self.names.append(tag)
        if tag in _PRESERVE_SPACE:
            self.preserve += 1
        if tag in _RUBY:
            self.ruby.append(tag)
        if self.skipping:
            self.skipping += 1
            self.stack.append(None)
            return
        if tag in DROPPED_WITH_CONTENT:
            self.skipping = 1
            self.stack.append(None)
            return
        if tag in DROPPED_VOID:
            self.stack.append(self.node)  # its content goes to its parent
            return
        if attrs and attrs.get("role") == "button":
            self.skipping = 1
            self.stack.append(None)
            return
        if not self.keep_quotes and attrs and _is_quote(tag, attrs):
            if tag == "blockquote":
                _drop_attribution(self.node.children)
            self.skipping = 1
            self.stack.append(None)
            return
        node = _Node(tag, attrs, self.node)
        self.node.children.append(node)
        self.stack.append(self.node)
        self.node = node
        self.depth += 1
        if self.depth > self.max_depth:
            self.max_depth = self.depth

    def end(self, tag: str) -> None:
        if self.pending:
            self._flush()
        if not self.names:
            return
        name = self.names.pop()
        if name in _PRESERVE_SPACE:
            self.preserve -= 1
        if name in _RUBY:
            self.ruby.pop()
        parent = self.stack.pop()
        if self.skipping:
            self.skipping -= 1
        elif parent is not None and parent is not self.node:
            self.node = parent
            self.depth -= 1

    def data(self, text: str) -> None:
        if not self.skipping:
            self.pending.append(text)

    def comment(self, text: str) -> None:
        if self.pending:
            self._flush()
        if not text and self.preserve and not self.skipping:
            # BeautifulSoup kept an empty comment inside <pre> (its filter never matched
            # an empty string), and markdownify took the text beside one for the first
            # or last of its parent's children. An empty string plays that part here: it
            # writes nothing and counts as no neighbour.
            self.node.children.append("")

    def pi(self, target: str, data: str | None = None) -> None:
        if self.pending:
            self._flush()

    def doctype(self, *args: Any) -> None:
        if self.pending:
            self._flush()

    def close(self) -> _Node:
        if self.pending:
            self._flush()
        return self.root


def _is_quote(tag: str, attrs: Any) -> bool:
    classes = attrs.get("class")
    if classes and not _QUOTE_CLASSES.isdisjoint(classes.split()):
        return True
    if tag == "blockquote":
        kind = attrs.get("type")
        # An HTML attribute whose value CSS compares in ASCII case-insensitively.
        return kind is not None and kind.translate(_ASCII_LOWER) == "cite"
    return False


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _drop_attribution(children: list[_Node | str]) -> None:
    """Remove the "On ... wrote:" line written as bare text just before a quote."""
    i = len(children) - 1
    # Skip the line break(s) between the attribution and the quote.
    while i >= 0:
        node = children[i]
        if node.name == "br" if isinstance(node, _Node) else not node.strip():
            i -= 1
        else:
            break
    while i >= 0:
        node = children[i]
        if type(node) is _Node and node.name in _BLOCK_TAGS:
            break
        i -= 1
    pieces = children[i + 1 :]
    # Text read inside <rt> or <rp> does not count, as in _text_of.
    text = "".join(
        _text_of(p) if isinstance(p, _Node) else p if type(p) is str else "" for p in pieces
    )
    if len(text) < 400 and _ATTRIBUTION.search(text):
        del children[i + 1 :]


class _RubyText(str):
    __slots__ = ()


class _RubyParen(str):
    __slots__ = ()


# Text read inside <rt> or <rp> counts as such an element's own text only: it is
# written like any text, but is not part of the text a link shows (which is compared
# with the link's target) nor of an attribution line.
_RUBY_KINDS: dict[str, type[str]] = {"rt": _RubyText, "rp": _RubyParen}


def _text_of(node: _Node, separator: str = "") -> str:
    kind = _RUBY_KINDS.get(node.name, str)
    out: list[str] = []
    stack: list[Iterator[_Node | str]] = [iter(node.children)]
    while stack:
        for child in stack[-1]:
            if type(child) is _Node:
                stack.append(iter(child.children))
                break
            if type(child) is kind:
                out.append(child)
        else:
            stack.pop()
    return separator.join(out)


# --- writing Markdown ---------------------------------------------------------------
#
# The rules of markdownify 1.2 (MarkdownConverter with heading_style="ATX", bullets="-",
# and escaping left to escape_markdown), with ours for links, images, code, quotes and
# line breaks in code, written over the tree above. Its output is the old converter's
# byte for byte: tests/test_markdown_golden.py holds what that converter wrote for every
# body the project carries, and compares the two on fresh random HTML.

_HEADING = re.compile(r"h(\d+)")
_CONVERT_NAME = re.compile(r"[\[\]:-]")
_LINE_WITH_CONTENT = re.compile(r"^(.*)", flags=re.MULTILINE)
_WHITESPACE = re.compile(r"[\t ]+")
_ALL_WHITESPACE = re.compile(r"[\t \r\n]+")
_NEWLINE_WHITESPACE = re.compile(r"[\t \r\n]*[\r\n][\t \r\n]*")
_BACKTICKS = re.compile(r"`+")
_STRIP_INSIDE = frozenset(
    {"p", "blockquote", "article", "div", "section", "ol", "ul", "li", "dl", "dt", "dd",
     "table", "thead", "tbody", "tfoot", "tr", "td", "th"}
)  # fmt: skip
_NOFORMAT = frozenset({"pre", "code", "kbd", "samp"})
_INLINE_MARK = {"b": "**", "strong": "**", "em": "*", "i": "*", "del": "~~", "s": "~~",
                "sub": "", "sup": ""}  # fmt: skip
_inside_cache: dict[str, bool] = {}


def _strips_inside(name: str) -> bool:
    """White space just inside this element is not written (block elements)."""
    known = _inside_cache.get(name)
    if known is None:
        known = name in _STRIP_INSIDE or _HEADING.match(name) is not None
        if len(_inside_cache) < 4096:
            _inside_cache[name] = known
    return known


def _strips_outside(node: _Node | str | None) -> bool:
    return type(node) is _Node and (_strips_inside(node.name) or node.name == "pre")


def _split_newlines(text: str) -> tuple[str, str, str]:
    body = text.lstrip("\n")
    content = body.rstrip("\n")
    return text[: len(text) - len(body)], content, body[len(content) :]


def _chomp(text: str) -> tuple[str, str, str]:
    prefix = " " if text[:1] == " " else ""
    suffix = " " if text[-1:] == " " else ""
    return prefix, suffix, text.strip()


def _number(value: str, low: int, high: int) -> int:
    """int(value) clamped to [low, high]. markdownify's int() raised on a digit Python
    does not read as a number ("²") or on thousands of digits, and stopped the export;
    those are taken as the lower and the upper bound."""
    try:
        number = int(value)
    except ValueError:
        number = high if len(value) > 100 else low
    return max(low, min(high, number))


# Per element name: (white space inside is dropped, its content is code, its content is
# inline, the name its markdownify converter was found by, heading level or 0).
_NameInfo = tuple[bool, bool, bool, str, int]
_names: dict[str, _NameInfo] = {}
_CONVERTED = frozenset(
    {"b", "strong", "em", "i", "del", "s", "sub", "sup", "p", "div", "article", "section",
     "dl", "a", "br", "code", "kbd", "samp", "ul", "ol", "list", "li", "blockquote", "pre",
     "img", "hr", "td", "th", "tr", "table", "caption", "figcaption", "q", "dt", "dd",
     "script", "style", "_document_"}
)  # fmt: skip


def _name_info(name: str) -> _NameInfo:
    info = _names.get(name)
    if info is None:
        heading = _HEADING.match(name) is not None
        lowered = name.lower()
        # markdownify looked a converter up by the lower-cased name with "[", "]", ":"
        # and "-" made "_", and took any h<digits> name for a heading.
        key = _CONVERT_NAME.sub("_", lowered)
        level = 0
        if key not in _CONVERTED and (match := _HEADING.match(lowered)) is not None:
            level = _number(match.group(1), 1, 6)
        info = (_strips_inside(name), name in _NOFORMAT, heading or name in ("td", "th"), key,
                level)  # fmt: skip
        if len(_names) < 4096:
            _names[name] = info
    return info


def _write(node: _Node, index: int, pre: bool, noformat: bool, inline: bool, in_li: bool) -> str:
    """Markdown for one element; the flags say what its ancestors are."""
    name = node.name
    children = node.children
    inside, code, makes_inline, key, level = _name_info(name)
    c_pre = pre or name == "pre"
    c_noformat = noformat or code
    c_inline = inline or makes_inline
    c_li = in_li or name == "li"
    strings: list[str] = []
    last = len(children) - 1
    for i, child in enumerate(children):
        if isinstance(child, _Node):
            text = _write(child, i, c_pre, c_noformat, c_inline, c_li)
        else:
            prev = children[i - 1] if i else None
            nxt = children[i + 1] if i < last else None
            after_block = _strips_outside(prev)
            before_block = _strips_outside(nxt)
            if not child.strip():
                if inside and (not prev or not nxt):
                    continue
                if after_block or before_block:
                    continue
            text = str(child)
            if not c_pre:
                if "\n" in text or "\r" in text:
                    text = _NEWLINE_WHITESPACE.sub("\n", text)
                if "\t" in text or "  " in text:
                    text = _WHITESPACE.sub(" ", text)
            if not c_noformat:
                text = escape_markdown(text)
            if after_block or (inside and not prev):
                text = text.lstrip(" \t\r\n")
            if before_block or (inside and not nxt):
                text = text.rstrip()
        if text:
            strings.append(text)
    if c_pre:
        text = "".join(strings)
    else:
        # Newlines where two children meet: the larger count of the two, at most two.
        joined = [""]
        for string in strings:
            if string[0] != "\n" and string[-1] != "\n":
                joined += ("", string, "")
                continue
            leading, content, trailing = _split_newlines(string)
            if joined[-1] and leading:
                before = joined.pop()
                leading = "\n" * min(2, max(len(before), len(leading)))
            joined += (leading, content, trailing)
        text = "".join(joined)
    if key not in _CONVERTED:
        if level and not inline:
            text = _ALL_WHITESPACE.sub(" ", text.strip())
            return f"\n\n{'#' * level} {text}\n\n"
        return text
    return _convert(node, key, index, text, pre, noformat, inline, in_li)


def _convert(
    node: _Node,
    key: str,
    index: int,
    text: str,
    pre: bool,
    noformat: bool,
    inline: bool,
    in_li: bool,
) -> str:
    if key in _INLINE_MARK:
        if noformat:
            return text
        prefix, suffix, text = _chomp(text)
        if not text:
            return ""
        mark = _INLINE_MARK[key]
        return f"{prefix}{mark}{text}{mark}{suffix}"
    if key in ("p", "div", "article", "section", "dl"):
        if inline:
            if key == "p":
                return " " + text.strip(" \t\r\n") + " "
            return " " + text.strip() + " "
        text = text.strip(" \t\r\n") if key == "p" else text.strip()
        return f"\n\n{text}\n\n" if text else ""
    if key == "a":
        return _convert_a(node, text, noformat)
    if key == "br":
        if pre:
            return "\n" + text  # a hard break inside code is just a newline
        if inline:
            return text + " " if text else " "
        return "  \n" + text
    if key in ("code", "kbd", "samp"):
        if noformat:
            return text
        prefix, suffix, text = _chomp(inert_code(text))
        if not text:
            return ""
        longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
        delimiter = "`" * (longest + 1)
        if longest:
            text = f" {text} "
        return f"{prefix}{delimiter}{text}{delimiter}{suffix}"
    if key in ("ul", "ol", "list"):
        return _convert_list(node, index, text, in_li)
    if key == "li":
        return _convert_li(node, index, text)
    if key == "blockquote":
        text = text.strip(" \t\r\n")
        if inline:
            return " " + text + " "
        if not text:
            return "\n"
        text = _LINE_WITH_CONTENT.sub(lambda m: "> " + m.group(1) if m.group(1) else ">", text)
        # A blank line before the quote: kramdown does not let a quote interrupt a
        # paragraph.
        return "\n\n" + text + "\n\n"
    if key == "pre":
        if not text:
            return ""
        text = inert_code(text.strip("\n"))
        # The fence must be longer than any backtick run inside, or the code would end
        # early and the rest be read as Markdown.
        longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
        fence = "`" * max(3, longest + 1)
        return f"\n\n{fence}\n{text}\n{fence}\n\n"
    if key == "img":
        return _convert_img(node, inline)
    if key == "hr":
        return "\n\n---\n\n"
    if key in ("td", "th"):
        colspan = 1
        value = node.attrs.get("colspan")
        if value is not None and value.isdigit():
            colspan = _number(value, 1, 1000)
        return " " + text.strip().replace("\n", " ") + " |" * colspan
    if key == "tr":
        return _convert_tr(node, index, text)
    if key == "table":
        return "\n\n" + text.strip() + "\n\n"
    if key == "caption":
        return text.strip() + "\n\n"
    if key == "figcaption":
        return "\n\n" + text.strip() + "\n\n"
    if key == "q":
        return '"' + text + '"'
    if key == "dt":
        text = _ALL_WHITESPACE.sub(" ", text.strip())
        if inline:
            return " " + text + " "
        return f"\n\n{text}\n" if text else "\n"
    if key == "dd":
        text = text.strip()
        if inline:
            return " " + text + " "
        if not text:
            return "\n"
        text = _LINE_WITH_CONTENT.sub(lambda m: "    " + m.group(1) if m.group(1) else "", text)
        return ":" + text[1:] + "\n"
    if key in ("script", "style"):
        return ""
    if key == "_document_":
        return text.strip("\n")
    return text


def _convert_a(node: _Node, text: str, noformat: bool) -> str:
    if noformat:
        return text
    prefix, suffix, text = _chomp(text)
    if not text:
        return ""
    href = node.attrs.get("href")
    url = safe_url(href)
    if url is None:
        return prefix + text + suffix
    shown = _text_of(node).strip()
    if shown == href.strip() and url.lower().startswith(("http://", "https://")):
        return f"{prefix}<{url}>{suffix}"
    return f"{prefix}[{text}]({url}){suffix}"


def _convert_img(node: _Node, inline: bool) -> str:
    alt = escape_markdown(" ".join((node.attrs.get("alt") or "").split()))
    url = safe_url(node.attrs.get("src"))
    if url is None or not url.lower().startswith(("http://", "https://")):
        return alt
    if inline:
        return alt
    return f"![{alt}]({url})"


def _convert_list(node: _Node, index: int, text: str, in_li: bool) -> str:
    if in_li:
        return "\n" + text.rstrip()  # a nested list
    before_paragraph = False
    parent = node.parent
    if parent is not None:
        for sibling in parent.children[index + 1 :]:
            if isinstance(sibling, _Node):
                before_paragraph = sibling.name not in ("ul", "ol")
                break
            if sibling.strip():
                before_paragraph = True
                break
    return "\n\n" + text + ("\n" if before_paragraph else "")


def _convert_li(node: _Node, index: int, text: str) -> str:
    text = text.strip()
    if not text:
        return "\n"
    parent = node.parent
    if parent is not None and parent.name == "ol":
        start = parent.attrs.get("start")
        first = 1
        if start and start.isnumeric():
            try:
                first = int(start)
            except ValueError:  # "½", or thousands of digits: markdownify raised
                first = 1
        siblings = parent.children[:index]
        before = sum(1 for s in siblings if type(s) is _Node and s.name == "li")
        bullet = f"{first + before}. "
    else:
        bullet = "- "
    indent = " " * len(bullet)
    text = _LINE_WITH_CONTENT.sub(lambda m: indent + m.group(1) if m.group(1) else "", text)
    return bullet + text[len(bullet) :] + "\n"


def _descendants(node: _Node, names: tuple[str, ...]) -> list[_Node]:
    found: list[_Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        for child in reversed(current.children):
            if type(child) is _Node:
                stack.append(child)
        if current is not node and current.name in names:
            found.append(current)
    return found


def _previous_element(node: _Node | None, index: int | None = None) -> bool:
    """Whether an element comes before ``node`` among its parent's children."""
    if node is None or node.parent is None:
        return False
    siblings = node.parent.children
    if index is None:
        index = next(i for i, child in enumerate(siblings) if child is node)
    return any(type(child) is _Node for child in siblings[:index])


def _convert_tr(node: _Node, index: int, text: str) -> str:
    cells = _descendants(node, ("td", "th"))
    parent = node.parent
    assert parent is not None
    is_first_row = not _previous_element(node, index)
    is_headrow = all(cell.name == "th" for cell in cells) or (
        parent.name == "thead" and len(_descendants(parent, ("tr",))) == 1
    )
    grandparent = parent.parent
    is_head_row_missing = (is_first_row and not parent.name == "tbody") or (
        is_first_row
        and parent.name == "tbody"
        and (grandparent is None or len(_descendants(grandparent, ("thead",))) < 1)
    )
    full_colspan = 0
    for cell in cells:
        value = cell.attrs.get("colspan")
        if value is not None and value.isdigit():
            full_colspan += _number(value, 1, 1000)
        else:
            full_colspan += 1
    overline = underline = ""
    if is_headrow and is_first_row:
        underline = "| " + " | ".join(["---"] * full_colspan) + " |" + "\n"
    elif is_head_row_missing or (
        is_first_row
        and (parent.name == "table" or (parent.name == "tbody" and not _previous_element(parent)))
    ):
        overline = "| " + " | ".join([""] * full_colspan) + " |" + "\n"
        overline += "| " + " | ".join(["---"] * full_colspan) + " |" + "\n"
    return overline + "|" + text + "\n" + underline


# --- the parser ------------------------------------------------------------------------


_readers = threading.local()


def _read(html: str, keep_quotes: bool) -> tuple[_Node, int]:
    """The cleaned tree of a body, and how deep it nests."""
    reader = getattr(_readers, "reader", None)
    if reader is None:
        from lxml import etree

        builder = _Builder()
        # The options BeautifulSoup gave lxml, so that libxml2 reads a body as it did
        # before. One parser per thread is reused: making one inspects the target.
        parser = etree.HTMLParser(target=cast(Any, builder), recover=True, huge_tree=False)
        reader = _readers.reader = (parser, builder)
    parser, builder = reader
    if html[0] == "\ufeff":
        html = html[1:]
    builder.reset(keep_quotes)
    try:
        parser.feed(html)
    finally:
        parser.close()
    return builder.root, builder.max_depth


# --- tidying the Markdown -------------------------------------------------------------

_FENCE = re.compile(r"^(?:[ \t]*>)*[ \t]*(`{3,})[ \t]*$")


def _tidy(markdown: str) -> str:
    """Trailing spaces and runs of blank lines out, code blocks untouched."""
    out: list[str] = []
    fence: str | None = None
    lines = markdown.split("\n")
    for index, line in enumerate(lines):
        match = _FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
        elif fence is not None:
            if match and len(match.group(1)) >= len(fence):
                fence = None
            out.append(line)
            continue
        if not line.strip():
            if out and out[-1]:
                out.append("")  # one blank line is enough, and none at the start
            continue
        if not line.strip(" \t>"):
            # A blank line inside a quote: just its markers, once.
            line = line.rstrip(" \t")
            if out and out[-1] == line:
                continue
            out.append(line)
            continue
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if not following.strip(" \t>"):
            # A hard break before a blank line or the end breaks nothing.
            line = line.rstrip(" \t")
        elif line.endswith("  "):
            line = line.rstrip(" \t") + "  "  # a hard break: exactly two spaces
        else:
            line = line.rstrip(" \t")
        out.append(line)
    while out and not out[-1].strip(" \t>"):
        out.pop()
    return "\n".join(out)


def _strip_footer(markdown: str) -> str:
    from archive.text import strip_footer

    text = strip_footer(markdown)
    if text == markdown:
        return markdown
    lines = text.split("\n")
    # A signature or footer separator left at the end once the footer is gone: "--" or
    # "---" (escaped or not), possibly with a trailing hard break.
    while lines and (
        not lines[-1].strip()
        or FOOTER_SEPARATOR.match(lines[-1])
        or GROUP_FOOTER_END.match(lines[-1])
    ):
        lines.pop()
    return "\n".join(lines)


# --- the entry point -------------------------------------------------------------------


def html_to_markdown(html: str, *, keep_quotes: bool = False) -> str:
    """A message body as Markdown: links, bold and italic, lists, headings and code kept.

    Quoted earlier messages (with their "On ... wrote:" line) are dropped unless
    ``keep_quotes``; Google Groups' footer is always dropped. Masked addresses are
    left exactly as Google shows them.
    """
    if not html or not html.strip():
        return ""
    root, depth = _read(html, keep_quotes)
    if depth > MAX_DEPTH:
        # A body nested hundreds of levels deep (quotes of quotes, or malice) is kept as
        # escaped plain text: one paragraph per run of text.
        lines = (" ".join(line.split()) for line in _text_of(root, "\n").split("\n"))
        markdown = "\n\n".join(escape_markdown(line) for line in lines if line)
    else:
        markdown = _write(root, 0, False, False, False, False)
    return _tidy(_strip_footer(_tidy(markdown)))
