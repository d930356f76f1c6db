"""Golden Markdown: every body the project carries, converted, kept byte for byte.

``tests/golden/markdown.json`` holds, for each input, the HTML and what
:func:`archive.markdown.html_to_markdown` made of it, with quotes dropped and kept. The
inputs: the simulator's demo groups (synced through the real server), the bodies of the
thread page in ``tests/pages``, the mail in ``tests/mail``, hostile bodies, and seeded
random HTML (``tests/helpers/random_html.py``). Any change to a rule shows here as a diff.

The file was written by the BeautifulSoup and markdownify converter that the lxml writer
replaced; the writer matched it on every entry. Rewrite it only for a deliberate change:
``python -m tests.test_markdown_golden --write``, then read the diff.

One more check: the markdownify library itself against the writer on fresh random HTML
where none of our rules (escaping, links, code, quotes) has anything to do. The old
converter is not kept beside the writer: the golden file pins what it wrote.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

from archive.markdown import _tidy, html_to_markdown
from tests.helpers.bodies import ANNOUNCEMENT, FOOTER
from tests.helpers.random_html import random_bodies

GOLDEN = Path(__file__).parent / "golden" / "markdown.json"
ROOT = Path(__file__).parent
RANDOM_SEED = 20261207
RANDOM_COUNT = 400

PWN = "document.documentElement.dataset.pwned='1'"
HOSTILE = {
    "script-author-img": f'<div>Run ps aux | grep x</div><div>__init__.py and _word_ and '
    f'snake_case</div><img src=x onerror="{PWN}">',
    "pipes-table": "<p>a | b | c</p><p>| --- | --- |</p><p>| d | e |</p>",
    "templates": "<p>]]&gt; ends CDATA; {{ site.title }} {% include x.html %} {{< s >}}</p>"
    "<pre>{{ x }} {% y %}</pre><code>{{ z }}</code>{: .class}",
    "javascript-links": f"<p>&lt;script&gt;{PWN}&lt;/script&gt; is text.</p>"
    f'<p><a href="javascript:{PWN}">link</a> <a href="https://example.net/">ok</a></p>'
    f'<iframe src="javascript:{PWN}"></iframe><svg onload="{PWN}"></svg>',
    "script-style": "<script>alert(1)</script><style>p{}</style><p>kept</p>"
    "<noscript>gone</noscript><template>gone</template><form><input value=x>gone</form>",
    "entities": "<p>&amp;amp; &lt;b&gt; &#123;&#123; &nbsp;x&nbsp; &quot;q&quot;</p>",
    "line-starts": "<div># not a heading</div><div>- not a list</div><div>1. not a list</div>"
    "<div>&gt; not a quote</div><div>+ plus</div><div>=== under</div><div>2024. year</div>",
    "fences": "<pre>```\ninside\n```</pre><pre>a ```` b</pre><code>``x``</code>",
    "controls": "<p>bell\x07 esc\x1b[31m red \u202e rlo \u2028 ls \x85 nel</p>",
    "deep-quotes": "<blockquote>" * 40 + "deep" + "</blockquote>" * 40,
    "deep-divs": "<div>" * 300 + "very deep" + "</div>" * 300,
    "deep-lists": "<ul><li>" * 60 + "x" + "</li></ul>" * 60,
    "redirect": '<a href="https://www.google.com/url?q=https://example.org/x&amp;sa=D">r</a>',
    "autolink": '<a href="https://example.org/a_b">https://example.org/a_b</a>',
    "img": '<img src="https://example.org/i.png" alt="a *b* [c]"><img src="javascript:x" '
    'alt="js"><h2><img src="https://example.org/h.png" alt="in heading"></h2>',
    "role-button": '<div role="button">Reply all</div><p>text</p><span role=button>x</span>',
    "attribution": '<div>Hello</div>On Tue, Aug 1, 2017 at 11:13 AM, George <a href="mailto:'
    'g@x.org">g@x.org</a> wrote:<br><blockquote type="cite">quoted</blockquote><p>after</p>',
    "moz-cite": '<div class="moz-cite-prefix">On 5/1/24 10:00, Ann wrote:<br></div>'
    '<blockquote type="cite">quoted</blockquote><p>reply</p>',
    "yahoo": '<div class="yahoo_quoted">old</div><p>new</p>',
    "tables": "<table><thead><tr><th>a</th><th colspan=2>b</th></tr></thead><tbody><tr><td>"
    "1 | x</td><td>2</td><td>3</td></tr></tbody></table><table><tr><td>no</td><td>head"
    "</td></tr><tr><td>r2</td></tr></table>",
    "lists": '<ol start="7"><li>seven</li><li>eight<ul><li>sub</li></ul></li></ol><p>p</p>'
    "<ul><li></li><li>  spaced  </li></ul>",
    "footer": "<p>Body text.</p>" + FOOTER,
    "announcement": ANNOUNCEMENT,
    "empty": "",
    "blank": "  \n\t ",
    "text-only": "plain text with no tags * and _edges_",
    "bom": "\ufeff<p>after a byte order mark</p>",
    "doctype": "<!DOCTYPE html><html><head><title>t</title><meta charset=utf-8></head>"
    "<body><p>x</p><!-- c --></body></html>",
    "ruby-link": '<a href="https://example.org/"><ruby>https://example.org/<rt>x</rt></ruby>'
    "</a>",
    "brs": "a<br>b<br><br><br>c<pre>x<br>y</pre><h3>h<br>i</h3>",
}


def _mail_bodies() -> dict[str, str]:
    from archive.mail import iter_mail, mail_sources, parse_message

    out = {}
    for source in mail_sources(sorted((ROOT / "mail").iterdir())):
        if isinstance(source, Exception):
            continue
        for raw in iter_mail(source):
            try:
                message = parse_message(raw.data, pipermail=raw.pipermail)
            except ValueError:
                continue
            out[f"mail/{source.path.name}@{raw.offset}"] = message.body_html
    return out


def _page_bodies() -> dict[str, str]:
    from scraper.models import GroupRef
    from scraper.pages import parse_thread_page

    html = (ROOT / "pages" / "thread.html").read_text(encoding="utf-8")
    ref = GroupRef("tidepool-notes").thread("pQ7vT2xLm0A")
    thread = parse_thread_page(html, ref)
    out = {f"pages/thread.html#{m.id}": m.body_html for m in thread.messages}
    for name in ("thread.html", "topic-list.html"):
        out[f"pages/{name}"] = (ROOT / "pages" / name).read_text(encoding="utf-8")
    return out


def _demo_bodies(tmp: Path) -> dict[str, str]:
    from archive.db import Archive, decode_body
    from tests.helpers.sync import sync_demo
    from tests.simulator import GroupsState
    from tests.simulator.demo import populate

    state = GroupsState()
    populate(state)
    path = sync_demo(state, tmp / "demo.db")
    archive = Archive(path)
    try:
        rows = archive.db.execute("SELECT id, body_html FROM messages ORDER BY id").fetchall()
    finally:
        archive.close()
    return {f"demo/{row[0]}": decode_body(row[1]) for row in rows}


def _inputs_without_demo() -> dict[str, str]:
    inputs = {f"hostile/{k}": v for k, v in HOSTILE.items()}
    inputs.update(_page_bodies())
    inputs.update(_mail_bodies())
    for n, body in enumerate(random_bodies(RANDOM_SEED, RANDOM_COUNT)):
        inputs[f"random/{n}"] = body
    return inputs


def _entry(html: str) -> dict[str, str]:
    return {
        "html": html,
        "markdown": html_to_markdown(html),
        "markdown_quotes": html_to_markdown(html, keep_quotes=True),
    }


def _golden() -> dict[str, dict[str, str]]:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_every_golden_body_converts_to_its_golden_markdown():
    golden = _golden()
    assert len(golden) > RANDOM_COUNT + len(HOSTILE)
    wrong = []
    for name, entry in golden.items():
        if html_to_markdown(entry["html"]) != entry["markdown"]:
            wrong.append(name)
        if html_to_markdown(entry["html"], keep_quotes=True) != entry["markdown_quotes"]:
            wrong.append(name + " (quotes kept)")
    assert wrong == []


def test_the_golden_file_covers_the_inputs_the_project_carries():
    # A new hostile case, a changed page or mail file, or another random generator shows
    # here: the golden file must be rewritten (and its diff read) to cover it.
    golden = _golden()
    for name, html in _inputs_without_demo().items():
        assert name in golden, name
        assert golden[name]["html"] == html, name


def test_the_demo_groups_bodies_are_in_the_golden_file(tmp_path):
    golden = _golden()
    demo = _demo_bodies(tmp_path)
    assert len(demo) > 100
    for name, html in demo.items():
        assert golden.get(name, {}).get("html") == html, f"{name}: the demo changed"
        assert html_to_markdown(html) == golden[name]["markdown"], name


# --- markdownify itself as the oracle ------------------------------------------------

_PLAIN_WORDS = ["alpha", "beta", "gamma", "delta", "one two", "x", "y z"]
_PLAIN_INLINE = ["b", "strong", "i", "em", "span", "u", "font", "del", "s"]
_PLAIN_BLOCK = ["p", "div", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table",
                "tr", "td", "th", "thead", "tbody", "section", "article", "hr", "br", "dl",
                "dt", "dd"]  # fmt: skip


def _plain_html(rng: random.Random, depth: int = 0) -> str:
    parts = []
    for _ in range(rng.randint(1, 4)):
        roll = rng.random()
        if roll < 0.4 or depth > 5:
            parts.append(rng.choice(_PLAIN_WORDS) + rng.choice(["", " ", "\n", "  "]))
        else:
            tag = rng.choice(_PLAIN_INLINE if roll < 0.7 else _PLAIN_BLOCK)
            if tag in ("hr", "br"):
                parts.append(f"<{tag}>")
            else:
                parts.append(f"<{tag}>{_plain_html(rng, depth + 1)}</{tag}>")
    return "".join(parts)


def test_the_writer_matches_the_markdownify_library_where_no_rule_of_ours_applies():
    markdownify = pytest.importorskip("markdownify")
    rng = random.Random(random.randrange(1 << 30))
    for _ in range(300):
        html = _plain_html(rng)
        expected = markdownify.markdownify(
            html, heading_style="ATX", bullets="-", escape_underscores=False,
            escape_asterisks=False, bs4_options="lxml",
        )  # fmt: skip
        assert html_to_markdown(html, keep_quotes=True) == _tidy(expected), html


def _write() -> None:
    import tempfile

    inputs = _inputs_without_demo()
    with tempfile.TemporaryDirectory() as tmp:
        inputs.update(_demo_bodies(Path(tmp)))
    golden = {name: _entry(html) for name, html in inputs.items()}
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(golden, indent=1, ensure_ascii=True) + "\n", encoding="utf-8")
    print(f"wrote {len(golden)} entries to {GOLDEN}", file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.test_markdown_golden --write")
    _write()
