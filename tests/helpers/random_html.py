"""Seeded random message bodies: every construct the Markdown writer has a rule for, mixed
with the text and markup that hostile or careless senders produce. The same seed gives
the same bodies on every machine, so their Markdown can be kept as golden output."""

from __future__ import annotations

import random

# Text pieces: Markdown and template syntax, entities, white space of every kind, words
# that make attributions and footers, identifiers with underscores.
WORDS = [
    "alpha", "beta", "snake_case", "__init__.py", "_word_", "a*b", "`tick`", "``two``",
    "x|y", "[link]", "back\\slash", "{{ site.title }}", "{% raw %}", "{{< sc >}}", "{:",
    "{", "%", "$$", "&amp;", "&lt;b&gt;", "&lt;script&gt;", "&#123;", "&nbsp;", "&mdash;",
    "#", "##", "-", "--", "---", "+", "=", "1.", "2024.", "3)", ">", "&gt;", "<", "~",
    "wrote:", "On Mon, Jan 8, 2024 at 9:00 AM Ann wrote:", "12:30:", "You received this",
    "message because you are subscribed to the Google Groups", '"Demo"', "group.",
    "http://example.org/a_b", "https://example.net/x?y=1&z=2", "caf\u00e9", "\u00a0",
    "\u200b", "\u2028", "\u0085", "\x0c", "\t", "\r\n", "\n", "  ", " ", "\n\n",
    "\ufeff", "\x01", "\u202e", "\u4e2d\u6587", "\U0001f600",
]  # fmt: skip
INLINE = ["b", "strong", "i", "em", "del", "s", "sub", "sup", "code", "kbd", "samp", "q",
          "span", "font", "u", "a", "a", "tt", "small", "big", "abbr", "mark", "ruby", "rt",
          "rp", "bdo", "label", "cite", "var", "dfn"]  # fmt: skip
BLOCK = ["p", "div", "div", "blockquote", "pre", "ul", "ol", "li", "h1", "h2", "h3", "h4",
         "h6", "h7", "table", "tr", "td", "th", "thead", "tbody", "tfoot", "caption", "dl",
         "dt", "dd", "section", "article", "figure", "figcaption", "hr", "br", "br", "center",
         "header", "footer", "nav", "aside", "main", "address", "details", "summary",
         "list"]  # fmt: skip
DROPPED = ["script", "style", "iframe", "object", "noscript", "template", "form", "button",
           "select", "textarea", "svg", "math", "video", "audio", "title", "head"]  # fmt: skip
VOID = ["img", "img", "br", "hr", "wbr", "input", "meta", "link", "embed", "source", "area",
        "base", "track", "col"]  # fmt: skip
HREFS = [
    "https://example.org/", "http://example.org/a_b?c=1&d=2", "mailto:ann@example.org",
    "ftp://example.org/f", "javascript:alert(1)", "java\tscript:alert(1)", "data:text/html,x",
    "/g/demo/c/abc", "https://www.google.com/url?q=https://example.org/r&sa=D",
    "https://example.org/(paren)[b]{c}|d e\"f'g<h>", "", "  https://example.org/ ", "#top",
    "vbscript:x", "//evil.example/x", "https://example.org/x\u00e9",
]  # fmt: skip
CLASSES = ["gmail_quote", "gmail_attr", "wqmMgb", "moz-cite-prefix", "yahoo_quoted",
           "gmail_quote extra", "x gmail_quote", "GMAIL_QUOTE", "gmail_quote\u00a0x",
           "gmail_signature", "ltr", "", "quote"]  # fmt: skip


def _attrs(rng: random.Random, tag: str) -> str:
    out = []
    if tag == "a" or rng.random() < 0.05:
        href = rng.choice(HREFS)
        out.append(f'href="{href}"' if rng.random() < 0.9 else "href")
    if tag == "img":
        if rng.random() < 0.8:
            out.append(f'src="{rng.choice(HREFS)}"')
        if rng.random() < 0.6:
            out.append(f'alt="{rng.choice(WORDS)} {rng.choice(WORDS)}"')
    if tag == "ol" and rng.random() < 0.5:
        out.append(f'start="{rng.choice(["3", "0", "10", "-1", "x", "", " 2", "007"])}"')
    if tag in ("td", "th") and rng.random() < 0.3:
        out.append(f'colspan="{rng.choice(["2", "0", "3", "x", "", "1001"])}"')
    if tag == "blockquote" and rng.random() < 0.4:
        out.append(f'type="{rng.choice(["cite", "CITE", "Cite", "cite ", "other"])}"')
    if rng.random() < 0.15:
        out.append(f'class="{rng.choice(CLASSES)}"')
    if rng.random() < 0.04:
        out.append(f'role="{rng.choice(["button", "Button", "button ", "presentation"])}"')
    if rng.random() < 0.03:
        out.append('onclick="alert(1)"')
    return (" " + " ".join(out)) if out else ""


def _text(rng: random.Random) -> str:
    pieces = (rng.choice(WORDS) + rng.choice(["", " ", "", "\n"]) for _ in range(rng.randint(1, 4)))
    return "".join(pieces)


def _content(rng: random.Random, depth: int) -> str:
    parts = []
    for _ in range(rng.randint(1, 5 if depth < 3 else 3)):
        roll = rng.random()
        if roll < 0.35 or depth > 6:
            parts.append(_text(rng))
        elif roll < 0.42:
            parts.append(rng.choice(["<!-- c -->", "<!---->", "<?php x ?>", "<![CDATA[x]]>",
                                     "<!DOCTYPE html>", "</p>", "</div>", "<p>", "&", "<"]))
        elif roll < 0.50:
            tag = rng.choice(VOID)
            parts.append(f"<{tag}{_attrs(rng, tag)}>")
        elif roll < 0.54:
            tag = rng.choice(DROPPED)
            parts.append(f"<{tag}{_attrs(rng, tag)}>{_text(rng)}</{tag}>")
        else:
            tag = rng.choice(INLINE if roll < 0.75 else BLOCK)
            close = "" if rng.random() < 0.08 else f"</{tag}>"
            parts.append(f"<{tag}{_attrs(rng, tag)}>{_content(rng, depth + 1)}{close}")
    return "".join(parts)


def random_body(rng: random.Random) -> str:
    """One body: sometimes a whole document, sometimes a fragment."""
    body = _content(rng, 0)
    if rng.random() < 0.2:
        body = f"<html><head><title>t</title></head><body>{body}</body></html>"
    if rng.random() < 0.1:
        body = "\n  " + body + "\n"
    return body


def random_bodies(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return [random_body(rng) for _ in range(count)]
