"""HTML documents for the tests of the body text (``archive.text``): inputs where a
tempting shortcut gives a different text, and seeded random markup made to hit every
branch of the conversion: odd whitespace, broken nesting, lists, quotes and <pre> in
each other. ``tests/golden`` pins the text of each."""

from __future__ import annotations

import random

# Inputs where a tempting shortcut gives a different text. str.split() splits on
# \x1c-\x1f, \x85, U+1680 and U+2028, which folding keeps inside a line, though
# strip() still takes them off its ends; non-ASCII and ASCII control whitespace must
# fold; a run of spaces can be split between text nodes; a line of only ">" counts as
# blank; an empty line before an item's first words keeps the pending bullet.
TRICKY = [
    "a\x1cb\u2028c\x85d\u1680e\x1fz",
    "<div>\x1cedge\x1f</div><div>\u2028edge\x85</div>",
    "a&nbsp;&nbsp;b\u3000\u3000c\u202f d",
    "x\v\fy\t\tz",
    "one <b> two </b> three<i> </i> four",
    "<ul><li><br>first words<br>more</li><li><div></div>second</li></ul>",
    "<ul>loose text<li>item</li>tail</ul><ol><li><p>para</p></li></ol>",
    "<pre>a\r<b>\n</b>b&#13;\nc\u00a0 </pre>after",
    "<blockquote>\u00a0</blockquote>x<blockquote>><br>>></blockquote>",
    "<div>> quoted-looking</div><div>>></div><div> > </div>",
    "text<br>-- <br>You received this message because you are subscribed to the Google"
    " Groups &quot;x&quot; group.<br>",
]


BLOCKS = ["div", "p", "blockquote", "ul", "ol", "li", "pre", "table", "tr", "td", "th",
          "tbody", "h1", "h3", "h6", "center", "dl", "dt", "dd", "section", "html-blob",
          "address", "form"]  # fmt: skip
INLINES = ["span", "a", "b", "i", "font", "strong", "em", "code", "small", "u", "tt",
           "my-tag", "o:p", "label"]  # fmt: skip
DROPPED = ["script", "style", "title", "noscript", "iframe", "object", "template", "head"]
VOIDS = ["br", "br", "br", "hr", "img", "wbr", "input", "meta"]
WORDS = ["release", "freeze", "Ann", "wrote:", "v1.2", "Überprüfung", "版本", "🎉", ">", ">>",
         "--", "-", "1.", "x", "=", "a,b", "You", "received", "this"]  # fmt: skip
# Whitespace that folds, whitespace str.strip() knows but the folding does not, and
# lookalikes that are neither.
SPACES = [" ", "  ", "\t", "\n", "\r\n", "\r", "\f", "\v", "\u00a0", "&nbsp;", "&#160;",
          "\u2002", "\u2009", "\u200a", "\u202f", "\u205f", "\u3000", "\u2028", "\u2029", "\u1680",
          "\x1c", "\x1f", "\x85", "\u200b", "\u180e", "\ufeff", " \n  \t ", "&#13;",
          "&#x2003;", "&#10;"]  # fmt: skip
ENTITIES = ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;", "&eacute;", "&bogus;", "&", "&#0;",
            "&#x1F389;", "<", "a < b", "x>y"]  # fmt: skip
FOOTER = (
    "-- <br>You received this message because you are subscribed to the Google Groups "
    '"dev" group.<br>To unsubscribe from this group, send an email to dev+u...@x.org.<br>'
)


class RandomHtml:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def tag_name(self, names: list[str]) -> str:
        name = self.rng.choice(names)
        return name.upper() if self.rng.random() < 0.1 else name

    def text(self) -> str:
        rng = self.rng
        pieces = []
        for _ in range(rng.randint(0, 5)):
            roll = rng.random()
            if roll < 0.45:
                pieces.append(rng.choice(WORDS))
            elif roll < 0.85:
                pieces.append(rng.choice(SPACES))
            else:
                pieces.append(rng.choice(ENTITIES))
        return "".join(pieces)

    def attributes(self) -> str:
        if self.rng.random() < 0.7:
            return ""
        return self.rng.choice([' dir="ltr"', ' class="gmail_quote"', " href", " style='x:y'"])

    def fragment(self, depth: int) -> str:
        rng = self.rng
        out = [self.text()]
        for _ in range(rng.randint(0, 4 if depth < 6 else 1)):
            roll = rng.random()
            if roll < 0.08:
                out.append(f"<{self.tag_name(VOIDS)}{self.attributes()}>")
            elif roll < 0.11:
                tag = self.tag_name(DROPPED)
                out.append(f"<{tag}>{self.text()}<b>x</b></{tag}>")
            elif roll < 0.13:
                out.append(rng.choice(["<!-- note -->", "<?php echo 1 ?>", "<![CDATA[x]]>",
                                       "<!DOCTYPE html>", "</div>", "</li>", "</p>", "<//>",
                                       "<br/>", "</br>", "<p/>"]))  # fmt: skip
            elif roll < 0.15 and depth < 40:
                # Deep quotes and blocks, nested past where a recursive walk would stop.
                tag = rng.choice(["blockquote", "div", "ul", "li", "span"])
                levels = rng.randint(5, 60)
                out.append(
                    f"<{tag}>" * levels + self.fragment(depth + levels) + f"</{tag}>" * levels
                )
            elif depth < 12:
                tag = self.tag_name(BLOCKS if roll < 0.6 else INLINES)
                inner = self.fragment(depth + 1)
                closing = f"</{tag}>"
                close_roll = rng.random()
                if close_roll < 0.1:
                    closing = ""  # left open
                elif close_roll < 0.15:
                    closing = f"</{self.tag_name(BLOCKS + INLINES)}>"  # misnested
                out.append(f"<{tag}{self.attributes()}>{inner}{closing}")
            out.append(self.text())
        return "".join(out)

    def document(self) -> str:
        rng = self.rng
        body = self.fragment(0)
        if rng.random() < 0.15:
            body += FOOTER if rng.random() < 0.7 else f"<blockquote>{FOOTER}</blockquote>after"
        if rng.random() < 0.1:
            body = f"<html><head><title>t</title></head><body>{body}</body></html>"
        if rng.random() < 0.1:
            body = rng.choice(SPACES) + body + rng.choice(SPACES)
        return body


def random_documents(count: int = 2000, seed: int = 20261127) -> list[str]:
    generator = RandomHtml(seed)
    return [generator.document() for _ in range(count)]


# Wrappers that put a fragment's text in a <pre>, a list item or a quote, where lines
# are built differently.
WRAPPERS = ["<pre>{}</pre>", "<ul><li>{}</li></ul>", "<ol>{}</ol>", "<blockquote>{}",
            "<pre><blockquote>{}</blockquote></pre>", "<table><tr><td>{}<td>x</table>",
            "<ul>text in the list<li>{}<p>para</p></li>tail</ul>"]  # fmt: skip


def wrapped_fragments(count: int = 1000, seed: int = 7) -> list[str]:
    generator = RandomHtml(seed)
    return [generator.rng.choice(WRAPPERS).format(generator.fragment(1)) for _ in range(count)]
