"""Thread pages for the tests of the masked-address scan (``scraper.pages.scan``): the
simulator's pages, one section in the served shape with parts to vary, and seeded
random and perturbed markup. ``tests/test_pages.py`` checks the scan against lxml on
them; ``tests/golden`` pins the scan's answers on them."""

from __future__ import annotations

import json
import random
import re

from scraper.models import GroupRef, ThreadRef
from tests.helpers.written import written_page
from tests.simulator import GroupsState, Site
from tests.simulator.demo import populate as populate_demo
from tests.simulator.render import Variant


def thread_html() -> str:
    return written_page("thread.html")


def message_element(message_id, author, created, subject, body_html, attachments=None):
    meta = [
        "4417093526",
        message_id,
        [[author, None, None, "2002"]],
        0,
        None,
        subject,
        "snippet",
        [created + 60, 0],
        [created, 0],
    ]
    record = [meta, [2, [[1, [None, body_html]]]]]
    if attachments is not None:
        record.append(attachments)
    return [record]



ALICE_HEADER = '<h3 class="s1f8Zd" id="c4">Maren Holt</h3>'



def with_alice_address(html: str) -> str:
    """The page with a masked address in Maren Holt's header."""
    anchor = '<a data-email-masked="" href="https://groups.google.com/">mare...@example.org</a>'
    return html.replace(ALICE_HEADER, ALICE_HEADER + anchor)



def simulator_thread_pages(state: GroupsState, variant: Variant) -> list[tuple[ThreadRef, bytes]]:
    site = Site(state)
    pages = []
    for group in state.groups:
        _, rows = group.listing(0, 1000)
        for row in rows:
            response = site.respond("GET", f"{group.path}/c/{row.id}", variant=variant)
            assert response.status == 200
            ref = GroupRef(group.name, group.domain).thread(row.id)
            pages.append((ref, response.body))
    return pages



# One section in the simulator's shape, with {section}, {before}, {link} and {body} to vary.
SECTION = (
    "<section {section}>\n"
    ' <div class="D1OdOb">\n'
    '  <div class="LgTNRd">{before}<h3 class="s1f8Zd" id="c4">Maren Holt</h3>{link}</div>\n'
    '  <div class="ELCJ4d"><span class="zX2W9c">Jan 27, 2019, 3:43:08 PM</span></div>\n'
    '  <div>to Tidepool Notes, <a data-email-masked="" href="https://groups.google.com/">'
    "bo...@example.com</a></div>\n"
    '  <div class="X7AGAf"><div class="ptW7te" jsname="yjbGtf" role="region" '
    'aria-labelledby="c4"><html-blob>{body}</html-blob></div></div>\n'
    " </div>\n"
    "</section>\n"
)
SECTION_TAG = 'class="BkrUxb" role="listitem" data-doc-id="MSG1" data-author="Maren Holt"'
LINK = '<a data-email-masked="" href="https://groups.google.com/">mare...@example.org</a>'
BODY = '<div dir="ltr">Hi <a data-email-masked="">quot...@example.com</a> wrote</div>'


def section_page(
    section: str = SECTION_TAG, before: str = "", link: str = LINK, body: str = BODY, **more
) -> str:
    sections = SECTION.format(section=section, before=before, link=link, body=body)
    if more.get("twice"):
        sections += sections
    data = [
        ["1", "tidepool-notes@googlegroups.com"],
        ["1", "pQ7vT2xLm0A", "Subject", None, None, None, 1],
        [message_element("MSG1", "Maren Holt", 1548632588, "Subject", "<p>Hi</p>")],
    ]
    blob = json.dumps(data).replace("<", "\\u003c")
    return (
        "<!doctype html><html><head><title>T</title></head><body><h2>Tidepool Notes</h2>"
        f'<div role="list">{sections}</div>'
        f"<script>AF_initDataCallback({{key: 'ds:5', hash: '1', data:{blob}, "
        "sideChannel: {}});</script></body></html>"
    )


TOLERATED = {
    "as served": {},
    "attributes reordered": {
        "section": 'data-author="Maren Holt" data-doc-id="MSG1" class="BkrUxb" role="listitem"',
        "link": '<a href="https://groups.google.com/" data-email-masked="">mare...@example.org</a>',
    },
    "single quotes": {
        "section": "class='BkrUxb' role='listitem' data-doc-id='MSG1' data-author='Maren Holt'",
        "link": "<a data-email-masked='' href='https://groups.google.com/'>mare...@example.org</a>",
    },
    "bare values": {
        "section": "class=BkrUxb role=listitem data-doc-id=MSG1",
        "link": "<a data-email-masked href=https://groups.google.com/>mare...@example.org</a>",
    },
    "upper-case names": {
        "section": 'CLASS="BkrUxb" ROLE="listitem" DATA-DOC-ID="MSG1"',
        "link": '<A DATA-EMAIL-MASKED="" HREF="https://groups.google.com/">mare...@example.org</A>',
    },
    "spaces and line breaks in tags": {
        "section": '\n  role = "listitem"\tdata-doc-id =\n"MSG1"  ',
        "link": '<a\n data-email-masked = ""\thref="https://groups.google.com/"\n>mare...@example.org</a>',
    },
    "valued masked attribute": {"link": '<a data-email-masked="1">mare...@example.org</a>'},
    "entity in the address": {
        "link": "<a data-email-masked>mare&#46;&#46;&#x2e;@example&period;org</a>"
    },
    "address wrapped": {"link": f"<span><span>{LINK}</span></span>"},
    "address first": {"before": LINK, "link": ""},
    "quoted values holding > and the words": {
        "section": 'title="a>b data-doc-id" role="listitem" data-doc-id="MSG1"'
    },
    "avatar and icon": {
        "link": '<img src="/avatar.png" alt=""><svg viewBox="0 0 24 24"><path d="M0 0h24"/></svg>'
        + LINK
        + "<br>"
    },
    "custom elements": {"link": f"<c-wiz><c-data>{LINK}</c-data></c-wiz>"},
    "recipients inside the header": {
        "link": '<div>to <a data-email-masked="">bo...@x.org</a></div>'
    },
    "no address": {"link": ""},
    "unmasked link": {"link": '<a href="mailto:maren@example.org">mare...@example.org</a>'},
    "words that are not an address": {"link": "<a data-email-masked>Alice</a>"},
}

def random_section(rng: random.Random, message_id: str) -> str:
    """A section whose header is built at random from pieces the scan must get right or
    decline: links in and out of the header, "to" lines, odd tags, entities, comments."""

    def attributes(pairs):
        pairs = list(pairs)
        rng.shuffle(pairs)
        out = ""
        for name, value in pairs:
            name = name.upper() if rng.random() < 0.15 else name
            quote = rng.choice(['"', "'", "" if value.isalnum() else '"'])
            out += rng.choice([" ", "\n ", "\t"]) + f"{name}={quote}{value}{quote}"
        return out

    def link():
        masked = [("data-email-masked", "")] if rng.random() < 0.7 else []
        text = rng.choice(["mare...@example.org", "bo...@x.org", "m.t&#46;...@gmail.com", "Al"])
        return f"<a{attributes([*masked, ('href', 'https://groups.google.com/')])}>{text}</a>"

    def piece(depth=0):
        choice = rng.random()
        if choice < 0.35:
            return link()
        if choice < 0.5:
            return rng.choice(["to ", "to", "x", " ", "&amp;", "&nbsp;", "a < b", "\r\n"])
        if choice < 0.65 and depth < 2:
            name = rng.choice(["span", "div", "b", "em", "c-data", "svg"])
            inner = "".join(piece(depth + 1) for _ in range(rng.randint(0, 3)))
            return f"<{name}{attributes([('class', 'k')])}>{inner}</{name}>"
        if choice < 0.72:
            return rng.choice(["<img src=x>", "<br/>", "<svg><path d='M0'/></svg>"])
        if choice < 0.8:
            return rng.choice(
                ["<!-- c -->", "<p>x</p>", "<wbr>", "</span>", "<html-blob>b</html-blob>",
                 '<div role="region">r</div>', '<i data-doc-id="z">z</i>', "<h3>again</h3>"]
            )  # fmt: skip
        return f"<div>to Group, {link()}</div>"

    heading = f'<h3 class="s1f8Zd">{rng.choice(["Alice", "to be named", "A &amp; B"])}</h3>'
    header_name = rng.choice(["div", "span", "c-wiz", "b"])
    before = "".join(piece() for _ in range(rng.randint(0, 2)))
    after = "".join(piece() for _ in range(rng.randint(0, 3)))
    header = f"<{header_name}>{before}{heading}{after}</{header_name}>"
    layout = rng.random()
    if layout < 0.15:  # the heading beside the body
        header = before + heading + after
    region = attributes([("class", "ptW7te"), ("role", "region")])
    body = f"<div{region}><html-blob>Body {piece()}{piece()}</html-blob></div>"
    if layout > 0.9:
        body = "<html-blob>no region</html-blob>" if layout > 0.95 else ""
    tag = attributes([("class", "BkrUxb"), ("role", "listitem"), ("data-doc-id", message_id)])
    extra = "".join(piece() for _ in range(rng.randint(0, 2)))
    return f"<section{tag}><div>{header}<div>date</div>{extra}{body}</div></section>\n"



def demo_thread_texts() -> list[str]:
    state = GroupsState()
    populate_demo(state)
    return [
        body.decode()
        for json_ in (True, False)
        for renamed in (False, True)
        for _, body in simulator_thread_pages(state, Variant(json=json_, renamed=renamed))
    ]



# Pieces a perturbation inserts: each is something one of the scan's rules is about.
INSERTIONS = [
    "<!-- c -->", "<!---->", "<", ">", " a < b ", "a > b", "<>", "</>", "< span>", "<3",
    "to ", "to", "&amp;", "&bogus;", "& ", "&#0;", "&#x41;", "\x00", "\r\n", "\n  ",
    "data-doc-id", 'data-doc-id="x"', "mare...@example.org",
    '<a data-email-masked="">ins...@example.org</a>',
    '<div>to <a data-email-masked="" href="https://groups.google.com/">rc...@x.org</a></div>',
    "<div>to Group</div>", '<a href="/x">link</a>', "<a data-email-masked>Al</a>",
    '<span class="ptW7te">b</span>', '<div role="region">r</div>', "<html-blob>b</html-blob>",
    "<h3>again</h3>", "<p>x</p>", "<wbr>", "<br>", "<br/>", "<img src=x>", "</div>", "</span>",
    "<span>", "<div>", "<c-wiz>", "</c-wiz>", '<svg><path d="M0"/></svg>', "<b><i>x</b></i>",
    '<section role="listitem" data-doc-id="nested">', "</section>",
    "<script>var s = '<section>';</script>",
]  # fmt: skip
TAG_TEXT = re.compile(r"<[^<>]*>")
TAG_ATTRIBUTES = re.compile(
    r"""([\t\n\f\r ]+)([^\t\n\f\r "'>/=]+)(=(?:"[^"]*"|'[^']*'|[^\t\n\f\r ">]+))?"""
)


def perturb_tag(rng: random.Random, tag: str) -> str:
    """The tag with its attributes reordered, requoted, recased or respaced, or changed."""
    match = re.fullmatch(r"<(/?)([^\t\n\f\r />]+)(.*?)(/?)>", tag, re.S)
    if match is None:
        return tag
    closing, name, rest, slash = match.groups()
    attributes = [list(m.groups()) for m in TAG_ATTRIBUTES.finditer(rest)]
    choice = rng.randrange(9)
    if choice == 0:
        rng.shuffle(attributes)
    elif choice == 1 and attributes:
        attribute = rng.choice(attributes)
        value = (attribute[2] or "=")[1:].strip("\"'")
        quote = rng.choice(['"', "'", ""])
        attribute[2] = rng.choice([f"={quote}{value}{quote}", "", f"={value}"])
    elif choice == 2:
        name = name.upper() if rng.random() < 0.5 else name.title()
        for attribute in attributes:
            if rng.random() < 0.5:
                attribute[1] = attribute[1].upper()
    elif choice == 3:
        for attribute in attributes:
            attribute[0] = rng.choice([" ", "\n ", "\t", "  \n\t"])
            if attribute[2] and rng.random() < 0.5:
                attribute[2] = rng.choice([" = ", "=\n", "\t="]) + attribute[2][1:]
        slash = rng.choice(["", " ", "\n"]) + slash
    elif choice == 4:
        extra = rng.choice(
            ['class="ptW7te"', 'role="region"', 'role="listitem"', 'data-doc-id="d1"',
             "data-email-masked", 'data-doc-id=""', 'title="a>b"', "title='<b>'",
             'class="x\ry"', "href=a&amp;b", "href=a&b", 'id="c&#0;"', 'class="k"']
        )  # fmt: skip
        key, equals, value = extra.partition("=")
        attributes.insert(rng.randint(0, len(attributes)), [" ", key, equals + value])
    elif choice == 5 and attributes:
        attributes.remove(rng.choice(attributes))
    elif choice == 6:
        slash = "/"
    elif choice == 7:
        return ""
    else:
        return tag + tag
    body = "".join(space + attribute + (value or "") for space, attribute, value in attributes)
    return f"<{closing}{name}{body}{slash}>"


def perturb(rng: random.Random, text: str) -> str:
    """``text`` with a few random changes to the tags and text near message starts."""
    starts = [m.start() for m in re.finditer(r"<section", text)] or [0]
    for _ in range(rng.randint(1, 4)):
        start = rng.choice(starts)
        tags = list(TAG_TEXT.finditer(text, start, start + 1200))
        if not tags:
            continue
        tag = rng.choice(tags)
        if rng.random() < 0.5:
            replacement = perturb_tag(rng, tag[0])
        elif rng.random() < 0.1:  # a whole section again, inside this one
            section = re.search(r"<section.*?</section>", text[start:], re.S)
            replacement = tag[0] + (section[0] if section else "")
        else:
            replacement = tag[0] + rng.choice(INSERTIONS)
        text = text[: tag.start()] + replacement + text[tag.end() :]
        starts = [m.start() for m in re.finditer(r"<section", text)] or [0]
    return text


# Seeded page sets ------------------------------------------------------------------------


def random_header_pages(count: int = 300, seed: int = 7) -> list[str]:
    """Pages of one to three sections whose headers are built by :func:`random_section`."""
    rng = random.Random(seed)
    pages = []
    for _ in range(count):
        ids = [f"m{n}" for n in range(rng.randint(1, 3))]
        sections = "".join(random_section(rng, message_id) for message_id in ids)
        pages.append(f"<html><body><h2>G</h2><div role=list>{sections}</div></body></html>")
    return pages


def perturbed_pages(count: int = 5000, seed: int = 20261127) -> list[str]:
    """Small demo pages, our thread page and the tolerated section shapes, each changed
    a little at random near its message starts (see :func:`perturb`)."""
    bases = [body for body in demo_thread_texts()[:85] if len(body) < 12000][:25]
    bases += [thread_html(), with_alice_address(thread_html())]
    bases += [section_page(**change) for change in TOLERATED.values()]
    rng = random.Random(seed)
    return [perturb(rng, rng.choice(bases)) for _ in range(count)]


def simulator_scan_texts() -> list[str]:
    """Every thread page of the demo groups (four variants) and of a generated group."""
    texts = demo_thread_texts()
    state = GroupsState()
    state.add_generated_group("generated", topics=20, messages_per_topic=30, seed=11)
    texts += [body.decode() for _, body in simulator_thread_pages(state, Variant())]
    texts += [body.decode() for _, body in simulator_thread_pages(state, Variant(renamed=True))]
    return texts
