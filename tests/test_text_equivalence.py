"""The fast ``html_to_text`` returns exactly what the reference implementation returns.

Stored ``body_text`` and dedupe fingerprints of existing archives were computed by the
straightforward implementation kept in ``tests/text_reference.py``; a different string
for any body would split a message from its earlier copy. So the fast code is compared
byte for byte with it on every body the fixtures, the simulator and the benchmark
corpus hold, and on a few thousand random documents made to hit every branch of the
conversion: odd whitespace, broken nesting, lists, quotes and <pre> in each other.
"""

from __future__ import annotations

import email
import email.policy
import json
import mailbox
import random
from collections.abc import Iterable
from pathlib import Path

import pytest

from archive import text as fast
from scraper.models import GroupRef, ThreadRef
from scraper.pages import parse_thread_page
from scraper.urls import parse_url
from tests import text_reference as reference
from tests.simulator import GroupsState, Site
from tests.simulator.demo import populate
from tests.simulator.render import Variant

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "google-groups"


def assert_same_text(documents: Iterable[str]) -> int:
    """Compare both conversions (and the footer removal after them) on every document."""
    count = 0
    mismatches = []
    for document in documents:
        count += 1
        expected = reference.html_to_text(document)
        got = fast.html_to_text(document)
        if got != expected:
            mismatches.append((document, expected, got))
        elif fast.strip_footer(got) != reference.strip_footer(expected):
            mismatches.append((document, reference.strip_footer(expected), fast.strip_footer(got)))
    if mismatches:
        document, expected, got = mismatches[0]
        pytest.fail(
            f"{len(mismatches)} of {count} documents differ; the first:\n"
            f"html: {document[:2000]!r}\nexpected: {expected[:2000]!r}\ngot: {got[:2000]!r}"
        )
    return count


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


def test_tricky_inputs():
    assert assert_same_text(TRICKY) == len(TRICKY)


# --- (a) the simulator's pages, and real captures when present ----------------------


def fixture_path(*parts: str) -> Path:
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"fixture {'/'.join(parts)} not available")
    return path


def test_simulator_thread_page_bodies():
    # Every thread page of the simulator's demo groups: the project's own pages, in
    # Google's shape, with quotes, footers, non-Latin text and attachments.
    state = GroupsState()
    populate(state)
    site = Site(state)
    bodies = []
    for group in state.groups:
        for topic in group.visible_topics():
            page = site.respond("GET", f"{group.path}/c/{topic.id}").body.decode("utf-8")
            ref = parse_url(f"{group.url}/c/{topic.id}")
            bodies += [m.body_html for m in parse_thread_page(page, ref).messages]
    assert assert_same_text(bodies) >= 100


def test_derived_json_message_bodies():
    path = fixture_path("new-ui-derived", "systems-neuro-scrape_messages-2025-04.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    bodies = [m["body_html"] for topic in data["topics"] for m in topic["messages"]]
    assert assert_same_text(bodies) >= 10


def test_old_ui_topic_page_message_bodies():
    from lxml import etree, html

    path = fixture_path(
        "old-ui-escaped-fragment", "henriquebastos_topic_wttd-2015_BqKNl92tGG8.html"
    )
    tree = html.fromstring(path.read_bytes())
    # Each td.snippet holds a whole message; its inside, serialized, is the body HTML.
    bodies = [
        (cell.text or "")
        + "".join(etree.tostring(child, encoding="unicode", method="html") for child in cell)
        for cell in tree.xpath('//td[contains(@class, "snippet")]')
    ]
    assert assert_same_text(bodies) == 88


def test_whole_fixture_files_as_documents():
    # Whole pages, feeds and markdown are bigger and stranger than any message body:
    # head, scripts, styles, tables, feeds' escaped HTML, plain text.
    fixture_path()
    files = sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.suffix != ".mbox")
    documents = [p.read_bytes().decode("utf-8", errors="replace") for p in files]
    assert assert_same_text(documents) >= 15


def test_mail_message_parts():
    fixture_path()
    messages = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(FIXTURES.glob("raw-rfc822/*.eml"))
    ]
    for path in sorted(FIXTURES.glob("mbox/*.mbox")):
        messages += [
            email.message_from_bytes(m.as_bytes(), policy=email.policy.default)
            for m in mailbox.mbox(path)
        ]
    parts = []
    for message in messages:
        for part in message.walk():
            if part.get_content_maintype() == "text":
                payload = part.get_payload(decode=True) or b""
                parts.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    assert any("<blockquote" in part for part in parts)  # the reply's HTML part is there
    assert assert_same_text(parts) >= 10


# --- (b) the simulator and the benchmark corpus -------------------------------------------


def thread_page_bodies(state: GroupsState, variant: Variant, limit: int = 1000) -> list[str]:
    site = Site(state)
    bodies = []
    for group in state.groups:
        _, rows = group.listing(0, limit)
        for row in rows:
            response = site.respond("GET", f"{group.path}/c/{row.id}", variant=variant)
            assert response.status == 200
            ref = ThreadRef(GroupRef(group.name, group.domain), row.id)
            bodies += [m.body_html for m in parse_thread_page(response.body, ref).messages]
    return bodies


def test_simulator_demo_bodies():
    state = GroupsState()
    populate(state)
    written = [
        html
        for group in state.groups
        for topic in group.visible_topics()
        for message in topic.messages
        for html in (message.body_html, message.served_html)
    ]
    assert assert_same_text(written) > 200
    assert assert_same_text(thread_page_bodies(state, Variant(json=False))) > 100


def test_simulator_generated_group_bodies():
    state = GroupsState()
    state.add_generated_group("generated", topics=20, messages_per_topic=25, seed=3)
    assert assert_same_text(thread_page_bodies(state, Variant())) == 500


def test_benchmark_corpus_bodies():
    corpus = pytest.importorskip("bench.corpus")
    bodies = []
    for thread, _ in corpus.Corpus(600, seed=1).threads():
        bodies += [m.body_html for m in thread.messages]
    assert assert_same_text(bodies) == 600


# --- (c) random documents -----------------------------------------------------------------

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


def test_random_documents():
    generator = RandomHtml(seed=20261127)
    documents = [generator.document() for _ in range(2000)]
    assert assert_same_text(documents) == 2000


def test_random_documents_inside_pre_lists_and_quotes():
    # The same fragments again, each wrapped so that its text lands in a <pre>, a list
    # item or a quote, where lines are built differently.
    generator = RandomHtml(seed=7)
    wrappers = ["<pre>{}</pre>", "<ul><li>{}</li></ul>", "<ol>{}</ol>", "<blockquote>{}",
                "<pre><blockquote>{}</blockquote></pre>", "<table><tr><td>{}<td>x</table>",
                "<ul>text in the list<li>{}<p>para</p></li>tail</ul>"]  # fmt: skip
    documents = [generator.rng.choice(wrappers).format(generator.fragment(1)) for _ in range(1000)]
    assert assert_same_text(documents) == 1000
