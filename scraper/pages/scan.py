"""What a JSON-parsed thread still needs from the page's HTML, read without building a DOM.

The embedded JSON has every message but not the authors' masked addresses, nor the
group's name: only the server-rendered HTML shows those. Parsing a whole thread page with
lxml for them costs as much as decoding the JSON, so this module finds them with string
searches and a small tokenizer that reads only each message's header: from the
``section[data-doc-id]`` start tag to the body (``role="region"``), or to the end of the
author's header when that comes first. Bodies are skipped unread.

It applies the rules of the lxml layer (:func:`.dom.message_sections`,
:func:`.dom.section_masked_address`, :func:`.dom.group_title`) to markup plain enough to
know how lxml builds it: well-nested tags from a short list, attributes in any order and
case, quoted or bare, plain text and character references. Anything else (an unknown tag
or a comment in a header, a tag closed out of order, a duplicate message id, a
"data-doc-id" that may or may not be inside a tag...) and it answers ``None``: "cannot
tell", and the caller asks lxml. So it does when the selectors table no longer says what
this module mirrors.

Not checked, to keep the pass cheap: that a message's start tag is not inside a comment
or a script other than the embedded JSON (whose spans the caller passes in).
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Sequence
from html.entities import html5 as html5_entities

from scraper.pages.blocks import outside_spans
from scraper.pages.dom import MASKED_ADDRESS_RE
from scraper.pages.selectors import SELECTORS, css_class

__all__ = ["group_title", "masked_addresses"]

_WS = "\t\n\f\r "  # HTML's whitespace: no-break and other Unicode spaces are text
_ATTRIBUTE = rf"""[^{_WS}"'>/=]+(?:[{_WS}]*=[{_WS}]*(?:"[^"]*"|'[^']*'|[^{_WS}"'=<>`]+))?"""
# One token at a "<": a start or end tag in plain form (attributes separated by
# whitespace, values quoted or bare), else markup this module does not read (a comment,
# a doctype, a malformed tag: group "odd"), else a "<" that is just text.
_TOKEN = re.compile(
    rf"<(?:(?P<end>/?)(?P<name>[A-Za-z][^{_WS}/>]*)"
    rf"(?P<attrs>(?:[{_WS}]+{_ATTRIBUTE})*)[{_WS}]*(?P<close>/?)>"
    r"|(?P<odd>[A-Za-z/!?])|)"
)
_TAG = re.compile(rf"<(?:/?)[A-Za-z][^{_WS}/>]*(?:[{_WS}]+{_ATTRIBUTE})*[{_WS}]*/?>")
_ATTRIBUTE_PARTS = re.compile(
    rf"""([^{_WS}"'>/=]+)(?:[{_WS}]*=[{_WS}]*(?:"([^"]*)"|'([^']*)'|([^{_WS}"'=<>`]+)))?"""
)
# "&" that does not start a plain reference ("&amp;", "&#38;", "&#x26;"): HTML reads such
# text by rules this module does not repeat.
_LOOSE_AMPERSAND = re.compile(r"&(?!#[0-9]{1,7};|#[xX][0-9a-fA-F]{1,6};|[A-Za-z][A-Za-z0-9]*;)")
_REFERENCE = re.compile(
    r"&(?:#(?P<hex>[xX]?)(?P<digits>[0-9a-fA-F]+)|(?P<name>[A-Za-z][A-Za-z0-9]*));"
)

# Tags whose nesting lxml builds exactly as written, neither closing nor closed by others.
_PLAIN_TAGS = frozenset(
    {
        "a", "b", "br", "circle", "div", "em", "g", "h3", "i", "img", "path", "rect",
        "section", "small", "span", "strong", "svg", "time", "u", "use",
    }
)  # fmt: skip
_VOID_TAGS = frozenset({"br", "img"})  # not wbr: lxml puts what follows inside it
_CUSTOM_ELEMENT = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)+\Z")  # html-blob, c-wiz
# Elements whose content lxml reads as text, not markup (and comments).
_RAW_ELEMENTS = (
    "script style textarea title xmp iframe noembed noframes noscript template plaintext"
).split()
_RAW_OPENING = re.compile(
    rf"<(?:({'|'.join(_RAW_ELEMENTS)})(?=[{_WS}/>])|!--)",
    re.IGNORECASE,
)
_RAW_CLOSING = {
    name: re.compile(rf"</{name}(?=[{_WS}/>])", re.IGNORECASE) for name in _RAW_ELEMENTS
}

_DOC_ID = "data-doc-id"
# Found case-insensitively at the speed of str.find: the pattern starts with a literal.
_DOC_ID_TAIL = re.compile(r"-[dD][oO][cC]-[iI][dD]")
_MASKED = "data-email-masked"
_BODY_CLASS = "ptW7te"
_AUTHOR_CLASS = "s1f8Zd"


class _Unsure(Exception):
    """The markup is not plain enough to be sure what lxml would make of it."""


def _mirrors_selectors() -> bool:
    """Whether the selectors table still says what this module reproduces."""
    return (
        SELECTORS.messages[0] == f"//section[@role='listitem'][@{_DOC_ID}]"
        and SELECTORS.message_id_attrs[0] == _DOC_ID
        and SELECTORS.message_author == (".//h3", f".//*[{css_class(_AUTHOR_CLASS)}]")
        and SELECTORS.message_body[:2]
        == (".//*[@role='region']//html-blob", ".//*[@role='region']")
        and SELECTORS.message_body[2:] == (".//html-blob", f".//*[{css_class(_BODY_CLASS)}]")
        and SELECTORS.masked_links == f".//a[@{_MASKED}]"
        and SELECTORS.recipients_prefix == "to "
        and SELECTORS.group_title == ("//h2",)
    )


# Masked addresses ----------------------------------------------------------------------


def masked_addresses(
    text: str, skip: Sequence[tuple[int, int]] = ()
) -> dict[str, str | None] | None:
    """The masked address in each message's author header, by message id, in page order.

    ``None`` for a message whose header shows none; the whole answer is ``None`` when the
    page has no message sections or this pass cannot be sure (see the module docstring).
    ``skip`` lists ``(start, end)`` spans that are not markup (the embedded JSON).
    The author's name itself looking like a masked address is the caller's business.
    """
    if not _mirrors_selectors():
        return None
    found: dict[str, str | None] = {}
    try:
        for start, end in outside_spans(skip, len(text)):
            hit = _DOC_ID_TAIL.search(text, start, end)
            while hit is not None:
                resume = hit.end()
                position = hit.start() - 4
                if text[position : hit.start()].lower() == "data":
                    message_id, resume = _message_start(text, position)
                    if message_id is not None:
                        if message_id in found:
                            raise _Unsure
                        found[message_id], resume = _author_address(text, resume)
                hit = _DOC_ID_TAIL.search(text, resume, end) if resume < end else None
    except _Unsure:
        return None
    return found or None


def _message_start(text: str, position: int) -> tuple[str | None, int]:
    """The message id of the tag holding the words "data-doc-id" found at ``position``.

    ``(None, where to search on)`` when they are not a message's (in text, in another
    attribute's value, on a tag lxml's selector skips); raises :class:`_Unsure` when it is
    not plain which.
    """
    opening = text.rfind("<", 0, position)
    if opening > 0 and text.rfind("<", 0, opening) > text.rfind(">", 0, opening):
        raise _Unsure  # that "<" may be inside another tag ("<b<section ...>")
    if opening < 0:
        raise _Unsure  # the words come before any tag
    token = _TOKEN.match(text, opening)
    if token is None or token["name"] is None or '"' in token["name"] or "'" in token["name"]:
        raise _Unsure  # a "<" in text or in a quoted value: the words may be in a tag or not
    if token.end() <= position:
        if "'" in text[token.end() : position] or '"' in text[token.end() : position]:
            raise _Unsure  # the text may be a quoted attribute value holding a ">"
        return None, position + len(_DOC_ID)  # the words are text
    attributes = _attributes(token["attrs"])
    if (
        _DOC_ID not in attributes
        or token["end"]
        or token["name"].lower() != "section"
        or attributes.get("role") != "listitem"
    ):
        return None, token.end()
    message_id = attributes[_DOC_ID]
    if not message_id or token["close"]:
        raise _Unsure  # lxml would go on to data-message-id, or see an empty section
    return message_id, token.end()


def _attributes(raw: str) -> dict[str, str]:
    """A start tag's attributes; the first of repeated names wins, as in lxml."""
    found: dict[str, str] = {}
    for name, double, single, bare in _ATTRIBUTE_PARTS.findall(raw):
        name = name.lower()
        if name not in found:
            value = double or single or bare
            if "\r" in value:
                raise _Unsure  # lxml rewrites line ends
            found[name] = _unescape(value)
    return found


def _author_address(text: str, start: int) -> tuple[str | None, int]:
    """The rule of :func:`.dom.section_masked_address`, read from the section's start on.

    The author's header is the parent of the section's first ``h3``; its first
    ``a[data-email-masked]`` outside the body, whose parent's text does not begin with
    "to ", gives the address. Reading stops at the body (``role="region"``), or as soon as
    the header closes. Returns the address (or None) and where reading stopped.
    """
    # Each element read: [name, parent index (-1: the section), inner start, inner end
    # (-1 while open)].
    elements: list[list] = []
    open_elements: list[int] = []
    anchors: list[int] = []
    header = heading = None
    open_links = open_headings = 0  # lxml does not nest these as written
    blob_seen = False  # an html-blob or ptW7te outside a region: the body could be it
    search = _TOKEN.search
    position = start
    while True:
        token = search(text, position)
        if token is None:
            raise _Unsure
        closing, name, raw, self_closing, odd = token.groups()
        if odd is not None:
            raise _Unsure
        position = token.end()
        if name is None:
            continue  # a "<" in text
        name = name.lower()
        if closing:
            if not open_elements:
                if name != "section" or blob_seen:
                    raise _Unsure  # without a region, lxml's body may be in the header
                break  # the section ended without a body
            index = open_elements.pop()
            element = elements[index]
            if element[0] != name:
                raise _Unsure
            element[3] = token.start()
            if name == "a":
                open_links -= 1
            elif name == "h3":
                open_headings -= 1
            if index == header and not blob_seen:
                break
            continue

        masked = False
        lowered = raw.lower()  # attribute names are not case-sensitive
        if _DOC_ID in lowered or "region" in lowered or "ptw7te" in lowered or _MASKED in lowered:
            attributes = _attributes(raw)
            if _DOC_ID in attributes:
                raise _Unsure  # a message inside a message
            if attributes.get("role") == "region":
                break  # the body starts: what follows in the header is the body's
            if _BODY_CLASS in attributes.get("class", "").split():
                blob_seen = True
            masked = name == "a" and _MASKED in attributes
        if name not in _PLAIN_TAGS and not _CUSTOM_ELEMENT.match(name):
            raise _Unsure
        if name == "html-blob":
            blob_seen = True

        index = len(elements)
        parent = open_elements[-1] if open_elements else -1
        empty = self_closing or name in _VOID_TAGS
        elements.append([name, parent, position, position if empty else -1])
        if name == "a":
            if open_links:
                raise _Unsure  # lxml closes the outer link
            if masked:
                anchors.append(index)
            open_links += not empty
        elif name == "h3":
            if open_headings:
                raise _Unsure
            if heading is None:
                heading, header = index, parent
                if header == -1:
                    return None, position  # lxml: a heading without a header of its own
            open_headings += not empty
        if not empty:
            open_elements.append(index)

    if heading is None or header is None:  # set together
        raise _Unsure  # lxml would look further: an h3 in the body, or the class
    for anchor in anchors:
        _, parent, inner_start, inner_end = elements[anchor]
        ancestor = parent
        while ancestor != header and ancestor != -1:
            ancestor = elements[ancestor][1]
        if ancestor != header:
            continue
        _, _, line_start, line_end = elements[parent]
        if inner_end < 0 or line_end < 0:
            raise _Unsure  # its text may go on past where reading stopped
        if _text(text, line_start, line_end).startswith(SELECTORS.recipients_prefix):
            continue
        match = MASKED_ADDRESS_RE.search(_text(text, inner_start, inner_end))
        if match:
            return match[0], position
    if elements[header][3] < 0:
        raise _Unsure  # the header holds the body: addresses after the body would count
    return None, position


def _text(text: str, start: int, end: int) -> str:
    """:func:`.dom.text_of` of markup already read by the tokenizer."""
    content = text[start:end]
    if "<" in content:
        content = _TAG.sub("", content)
    return _folded(content)


def _folded(content: str) -> str:
    """Text with its references decoded and whitespace folded, as :func:`_text` gives it."""
    # str.split() and dom.text_of's \s+ agree on what whitespace is.
    return " ".join(_unescape(content).split())


def _unescape(value: str) -> str:
    """Character references decoded as lxml would, or :class:`_Unsure` if that is unclear."""
    if "&" in value:
        if _LOOSE_AMPERSAND.search(value):
            raise _Unsure
        for match in _REFERENCE.finditer(value):
            if match["name"] is not None:
                if match["name"] + ";" not in html5_entities:
                    raise _Unsure  # lxml would read a shorter name, or none
                continue
            code = int(match["digits"], 16 if match["hex"] else 10)
            if not (0x20 <= code < 0x7F or 0xA0 <= code <= 0x10FFFF) or 0xD800 <= code <= 0xDFFF:
                raise _Unsure  # control characters get substitutes
        value = html_lib.unescape(value)
    if "\x00" in value:
        raise _Unsure  # lxml substitutes it
    return value


# The group's name ----------------------------------------------------------------------


def group_title(text: str) -> str | None:
    """The text of the page's first ``h2`` when it is plain text, else ``None``.

    ``None`` means "ask lxml": no ``h2``, an empty one, markup inside it, or an ``h2``
    that might be inside a script or comment.
    """
    if not _mirrors_selectors():
        return None
    position = text.find("<h2")
    upper = text.find("<H2", 0, position if position >= 0 else len(text))
    position = upper if upper >= 0 else position
    if position < 0:
        return None
    token = _TOKEN.match(text, position)
    if token is None or token["name"] is None or token["name"].lower() != "h2":
        return None
    if token["close"] or text.rfind("<", 0, position) > text.rfind(">", 0, position):
        return None  # empty, or inside another tag's attribute value
    if _inside_raw_text(text, position):
        return None
    content_end = text.find("<", token.end())
    end_tag = _TOKEN.match(text, content_end) if content_end >= 0 else None
    if end_tag is None or not end_tag["end"] or (end_tag["name"] or "").lower() != "h2":
        return None  # markup inside the heading, or no end to it
    content = text[token.end() : content_end]
    try:
        title = " ".join(_unescape(content).split())
    except _Unsure:
        return None
    return title or None


def _inside_raw_text(text: str, position: int) -> bool:
    """Whether ``position`` may be inside a script, a comment or other unparsed text."""
    search_from = 0
    while True:
        opening = _RAW_OPENING.search(text, search_from, position)
        if opening is None:
            return False
        name = opening[1]
        if name is None:
            end = text.find("-->", opening.end())
            search_from = end + 3
        else:
            match = _RAW_CLOSING[name.lower()].search(text, opening.end())
            end = match.start() if match else -1
            search_from = match.end() if match else 0
        if end < 0 or end >= position:
            return True
