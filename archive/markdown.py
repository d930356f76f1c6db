"""Message bodies (HTML) to Markdown that is safe to publish on a Jekyll or Hugo site.

Pure functions: str in, str out. bs4 and markdownify are imported on first use only,
so ``search`` and ``show`` never pay for them.

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
from urllib.parse import parse_qs, urljoin, urlsplit

from archive.content import DROPPED_VOID, DROPPED_WITH_CONTENT

__all__ = [
    "escape_markdown",
    "html_to_markdown",
    "inert_code",
    "safe_url",
]

# Quoted earlier messages as mail clients and Google mark them:
#   gmail_quote / gmail_attr: Gmail and the Google Groups web editor;
#   wqmMgb: Google Groups' own "trimmed content" wrapper;
#   blockquote[type=cite] + moz-cite-prefix: Apple Mail, Thunderbird;
#   yahoo_quoted: Yahoo Mail.
_QUOTE_SELECTORS = (
    ".gmail_quote, .gmail_attr, .wqmMgb, blockquote[type=cite], .moz-cite-prefix, .yahoo_quoted"
)
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

# Everything a Markdown link destination or a template engine could read as syntax.
_URL_UNSAFE = frozenset(" \"<>\\^`{|}()[]'")


def safe_url(url: str | None) -> str | None:
    """A link target fit to publish, or None when it should not be a link at all.

    Relative links are resolved against groups.google.com, as Google's pages do.
    """
    if not url:
        return None
    # Browsers drop tabs, newlines and other control characters inside URLs, which
    # is how "java\tscript:" slips past naive checks.
    url = "".join(c for c in url if ord(c) >= 0x20 and c != "\x7f").strip(" ")
    if not url:
        return None
    try:
        url = _unwrap_google_redirect(urljoin(_LINK_BASE, url))
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    if scheme not in _SAFE_SCHEMES:
        return None
    return "".join(
        "".join(f"%{b:02X}" for b in c.encode("utf-8")) if c in _URL_UNSAFE else c for c in url
    )


def _unwrap_google_redirect(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host in ("www.google.com", "google.com") and parts.path == "/url":
        query = parse_qs(parts.query)
        target = (query.get("q") or query.get("url") or [""])[0]
        if target and urlsplit(target).scheme.lower() in ("http", "https"):
            return target
    return url


# --- the converter -----------------------------------------------------------------

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

# "On Tue, Aug 1, 2017 at 11:13 AM, George Zaki wrote:", or a localised
# "среда, 17 ноября 2021 г. в 02:11:08 UTC+3, yankovic...@gmail.com:".
_ATTRIBUTION = re.compile(r"\d.*:\s*\Z", re.DOTALL)
_BLOCK_TAGS = frozenset(
    {"p", "div", "blockquote", "ul", "ol", "li", "pre", "table", "h1", "h2", "h3", "h4",
     "h5", "h6", "hr", "section", "article", "br"}
)  # fmt: skip


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


# --- tidying the Markdown -------------------------------------------------------------

_FENCE = re.compile(r"^(?:[ \t]*>)*[ \t]*(`{3,})[ \t]*$")
# A signature or footer separator left at the end once the footer is gone:
# "--", "---" (escaped or not), possibly with a trailing hard break.
_TRAILING_SEPARATOR = re.compile(r"^[ \t]*(?:\\?-){2,3}[ \t]*$")


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
    while lines and (not lines[-1].strip() or _TRAILING_SEPARATOR.match(lines[-1])):
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
