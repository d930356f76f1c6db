"""Golden outputs: what the body text and the masked-address scan give on fixed inputs.

Archives hold ``body_text`` and dedupe fingerprints computed from the text of each
body, so a change to the conversion that alters any string would split a message from
its earlier copy; the scan of thread pages must keep reading authors' addresses as it
does. Each set below builds its inputs from the project's own material (the pages in
``tests/pages``, the mail in ``tests/mail``, the simulator's demo and generated groups,
seeded random and perturbed markup), and ``tests/golden/<set>.json`` holds what the code
gave for each input. ``tests/test_golden.py`` compares.

When a change is meant to alter an output, regenerate and review the diff::

    python -m tests.golden --update     # rewrite every set's file
    python -m tests.golden              # compare only; list what differs

Sets marked ``shared`` read third-party captures from ``../shared`` when present and
keep only a digest of each output (the captures are not the project's to copy); they
are skipped, saying so, where the captures are absent.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import mailbox
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parent
REGENERATE = "python -m tests.golden --update"


@dataclass(frozen=True)
class GoldenSet:
    name: str
    inputs: Callable[[], list[str]]
    output: Callable[[str], Any]
    # Whether the file keeps a digest of each output, not the output: for sets too big to
    # commit whole, and for ../shared's captures (see the module docstring).
    digests: bool = False
    shared: bool = False  # reads ../shared: skipped when absent

    @property
    def path(self) -> Path:
        return GOLDEN / f"{self.name}.json"


def digest(value: Any, size: int = 32) -> str:
    data = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()[:size]


class SharedMissing(Exception):
    """The captures in ../shared a set reads are not there."""


# --- outputs ------------------------------------------------------------------------------


def text_output(document: str) -> dict[str, str]:
    """The body's text; its stored text (footer removed) too, when that differs."""
    from archive.text import html_to_text, strip_footer

    text = html_to_text(document)
    stored = strip_footer(text)
    return {"text": text} if stored == text else {"text": text, "message_text": stored}


def scan_output(page: str) -> list[Any]:
    """What the scan reads from a page: each message's masked address, and the group name."""
    from scraper.pages import scan
    from scraper.pages.blocks import init_data_blocks

    spans = [(block.start, block.end) for block in init_data_blocks(page)]
    return [scan.masked_addresses(page, spans), scan.group_title(page)]


# --- inputs: body text --------------------------------------------------------------------


def _thread_page_bodies(state: Any, variant: Any) -> list[str]:
    from scraper.pages import parse_thread_page
    from tests.helpers.scan_pages import simulator_thread_pages

    return [
        message.body_html
        for ref, page in simulator_thread_pages(state, variant)
        for message in parse_thread_page(page, ref).messages
    ]


def demo_bodies() -> list[str]:
    """The demo groups' bodies as written and as served, and as read back from their
    thread pages (with and without the embedded JSON)."""
    from tests.simulator import GroupsState
    from tests.simulator.demo import populate
    from tests.simulator.render import Variant

    state = GroupsState()
    populate(state)
    written = [
        html
        for group in state.groups
        for topic in group.visible_topics()
        for message in topic.messages
        for html in (message.body_html, message.served_html)
    ]
    return (
        written
        + _thread_page_bodies(state, Variant())
        + _thread_page_bodies(state, Variant(json=False))
    )


def generated_bodies() -> list[str]:
    from tests.simulator import GroupsState
    from tests.simulator.render import Variant

    state = GroupsState()
    state.add_generated_group("generated", topics=20, messages_per_topic=25, seed=3)
    return _thread_page_bodies(state, Variant())


def _html_parts(messages: Iterable[email.message.Message]) -> list[str]:
    parts = []
    for message in messages:
        for part in message.walk():
            if part.get_content_maintype() == "text":
                payload = part.get_payload(decode=True) or b""
                assert isinstance(payload, bytes)
                parts.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return parts


def project_page_documents() -> list[str]:
    """Our own pages and mail, whole (bigger and stranger than any body: heads, scripts,
    escaped JSON, plain text), the bodies of our thread page, and every text part of
    our mail."""
    from scraper.models import GroupRef
    from scraper.pages import parse_thread_page

    tests = GOLDEN.parent
    files = sorted(p for folder in ("pages", "mail") for p in (tests / folder).iterdir())
    documents = [p.read_bytes().decode("utf-8", errors="replace") for p in files]
    thread = (tests / "pages" / "thread.html").read_text(encoding="utf-8")
    ref = GroupRef("tidepool-notes").thread("pQ7vT2xLm0A")
    documents += [m.body_html for m in parse_thread_page(thread, ref).messages]
    mbox = mailbox.mbox(tests / "mail" / "list.mboxrd", create=False)
    documents += _html_parts(
        email.message_from_bytes(m.as_bytes(), policy=email.policy.default) for m in mbox
    )
    return documents


def tricky_documents() -> list[str]:
    from tests.helpers.html_inputs import TRICKY

    return list(TRICKY)


def random_documents() -> list[str]:
    from tests.helpers.html_inputs import random_documents

    return random_documents()


def wrapped_fragments() -> list[str]:
    from tests.helpers.html_inputs import wrapped_fragments

    return wrapped_fragments()


def _fixtures() -> Path:
    from tests.helpers.shared import FIXTURES

    if not FIXTURES.is_dir():
        raise SharedMissing(f"the captures in ../shared ({FIXTURES.name}) are not available")
    return FIXTURES


def shared_text_documents() -> list[str]:
    """Third-party captures: a real group's bodies, an old-UI topic page's messages, every
    capture whole, and the text parts of real mail."""
    from lxml import etree, html

    fixtures = _fixtures()
    derived = fixtures / "new-ui-derived" / "systems-neuro-scrape_messages-2025-04.json"
    data = json.loads(derived.read_text(encoding="utf-8"))
    documents = [m["body_html"] for topic in data["topics"] for m in topic["messages"]]
    old_ui = fixtures.joinpath(
        "old-ui-escaped-fragment", "henriquebastos_topic_wttd-2015_BqKNl92tGG8.html"
    )
    tree = html.fromstring(old_ui.read_bytes())
    documents += [
        (cell.text or "")
        + "".join(etree.tostring(child, encoding="unicode", method="html") for child in cell)
        for cell in tree.xpath('//td[contains(@class, "snippet")]')
    ]
    files = sorted(p for p in fixtures.rglob("*") if p.is_file() and p.suffix != ".mbox")
    documents += [p.read_bytes().decode("utf-8", errors="replace") for p in files]
    messages = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(fixtures.glob("raw-rfc822/*.eml"))
    ]
    for path in sorted(fixtures.glob("mbox/*.mbox")):
        messages += [
            email.message_from_bytes(m.as_bytes(), policy=email.policy.default)
            for m in mailbox.mbox(path)
        ]
    return documents + _html_parts(messages)


# --- inputs: thread pages for the scan ----------------------------------------------------


def simulator_pages() -> list[str]:
    from tests.helpers.scan_pages import simulator_scan_texts

    return simulator_scan_texts()


def our_thread_pages() -> list[str]:
    from tests.helpers.scan_pages import thread_html, with_alice_address

    return [thread_html(), with_alice_address(thread_html())]


def random_header_pages() -> list[str]:
    from tests.helpers.scan_pages import random_header_pages

    return random_header_pages()


def perturbed_pages() -> list[str]:
    from tests.helpers.scan_pages import perturbed_pages

    return perturbed_pages()


def shared_pages() -> list[str]:
    """Every capture that may hold markup, and thread pages built around a real group's
    messages."""
    from tests.helpers.pages import neuro_thread_page, neuro_topics

    fixtures = _fixtures()
    texts = [
        path.read_bytes().decode("utf-8", errors="replace")
        for path in sorted(fixtures.rglob("*"))
        if path.is_file() and path.suffix in {".html", ".md", ".txt", ".xml", ".eml", ".mbox"}
    ]
    texts += [
        neuro_thread_page(topic["id"], topic["title"], 1, topic["messages"])
        for topic in neuro_topics()
    ]
    return texts


# --- whole-archive outputs of the demo groups ------------------------------------------

FEEDS: dict[str, dict[str, Any]] = {
    "every message": {"limit": 0},
    "the default 50": {},
    "one group's threads": {"groups": ["demo-announce"], "threads": True, "limit": 0},
    "a query, site links": {
        "query": "release", "limit": 0, "base_link": "https://example.org/{stem}/",
        "self_link": "https://example.org/feed.xml", "title": "Releases",
    },
    "nothing matches": {"query": "zzzyzzx", "limit": 0},
}  # fmt: skip
SEARCH_QUERIES = ["", "release", "zzzyzzx", "CVE-2024-3177"]
SEARCH_SORTS = ["rank", "date"]
SEARCH_OUTPUTS = ["json", "nl", "csv"]
_DEMO_ARCHIVE: list[Path] = []


def demo_archive() -> Path:
    """The demo groups synced from the simulator into an archive, once per process."""
    if not _DEMO_ARCHIVE:
        import atexit
        import shutil
        import tempfile

        from tests.helpers.sync import sync_demo
        from tests.simulator import GroupsState
        from tests.simulator.demo import populate

        folder = Path(tempfile.mkdtemp(prefix="golden-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        state = GroupsState()
        populate(state)
        _DEMO_ARCHIVE.append(sync_demo(state, folder / "archive.db"))
    return _DEMO_ARCHIVE[0]


def feed_key(name: str) -> str:
    return f"feed {name}"


def search_key(query: str, sort: str, output: str) -> str:
    return f"search {output} {sort} {query!r}"


def streaming_cases() -> list[str]:
    return [feed_key(name) for name in FEEDS] + [
        search_key(query, sort, output)
        for query in SEARCH_QUERIES
        for sort in SEARCH_SORTS
        for output in SEARCH_OUTPUTS
    ]


def streaming_output(case: str) -> str:
    """The bytes of a feed, or of ``search --json``/``--nl``/``--csv``, of the demo archive."""
    import io

    from archive.feed import publish_feed
    from archive.render import print_results

    db = demo_archive()
    for name, options in FEEDS.items():
        if case == feed_key(name):
            out = io.BytesIO()
            publish_feed(db, stdout=out, **options)
            return out.getvalue().decode("utf-8")
    for query in SEARCH_QUERIES:
        for sort in SEARCH_SORTS:
            for output in SEARCH_OUTPUTS:
                if case == search_key(query, sort, output):
                    text = io.StringIO()
                    print_results(query, db_path=db, limit=None, sort=sort, output=output,
                                  stdout=text, stderr=io.StringIO())  # fmt: skip
                    return text.getvalue()
    raise KeyError(case)


def output_digest(output: str) -> str:
    """The digest the streaming set keeps of an output: the feed's generator version is
    left out, so that a release does not change every feed's digest."""
    from archive import __version__

    return digest(output.replace(f'version="{__version__}"', 'version=""'))


def streaming_output_digest(case: str) -> str:
    return output_digest(streaming_output(case))


def expected_output_digest(case: str) -> str:
    """The digest the golden file keeps for one case of the streaming set."""
    golden = SETS["streaming-demo"]
    by_input = dict(map(tuple, load(golden)))
    return by_input[digest(case, 16)]


SETS = {
    s.name: s
    for s in [
        GoldenSet("text-tricky", tricky_documents, text_output),
        GoldenSet("text-project-pages", project_page_documents, text_output),
        GoldenSet("text-demo", demo_bodies, text_output),
        GoldenSet("text-generated", generated_bodies, text_output, digests=True),
        GoldenSet("text-random", random_documents, text_output, digests=True),
        GoldenSet("text-random-wrapped", wrapped_fragments, text_output, digests=True),
        GoldenSet("text-shared", shared_text_documents, text_output, digests=True, shared=True),
        GoldenSet("scan-simulator", simulator_pages, scan_output),
        GoldenSet("scan-our-thread-page", our_thread_pages, scan_output),
        GoldenSet("scan-random-headers", random_header_pages, scan_output),
        GoldenSet("scan-perturbed", perturbed_pages, scan_output),
        GoldenSet("scan-shared", shared_pages, scan_output, digests=True, shared=True),
        GoldenSet("streaming-demo", streaming_cases, streaming_output_digest),
    ]
}


# --- files ----------------------------------------------------------------------------------


def compute(golden: GoldenSet) -> list[list[Any]]:
    """One case per input: ``[the input's digest, the output or its digest]``."""
    cases = []
    for document in golden.inputs():
        output = golden.output(document)
        cases.append([digest(document, 16), digest(output) if golden.digests else output])
    return cases


def load(golden: GoldenSet) -> list[list[Any]]:
    return json.loads(golden.path.read_text(encoding="utf-8"))["cases"]


def write(golden: GoldenSet, cases: list[list[Any]]) -> None:
    """One case a line, so that a change shows in a diff as the cases it changed."""
    head = json.dumps({"set": golden.name, "regenerate": REGENERATE})[:-1]
    lines = ",\n".join(json.dumps(case, ensure_ascii=False) for case in cases)
    golden.path.write_text(f'{head}, "cases": [\n{lines}\n]}}\n', encoding="utf-8")


def differences(golden: GoldenSet, limit: int = 3) -> list[str]:
    """What differs between the code and the golden file, in words; empty when nothing."""
    expected = load(golden)
    got = compute(golden)
    if [case[0] for case in got] != [case[0] for case in expected]:
        return [
            f"{golden.name}: the inputs are not those the golden file was made from "
            f"({len(got)} inputs now, {len(expected)} then); if they changed on purpose, "
            f"check the outputs and run {REGENERATE}"
        ]
    found = [
        f"{golden.name} case {n} (input {a[0]}):\n  expected {a[1]!r}\n  got      {b[1]!r}"
        for n, (a, b) in enumerate(zip(expected, got, strict=True))
        if a[1] != b[1]
    ]
    if len(found) > limit:
        found = found[:limit] + [f"... and {len(found) - limit} more in {golden.name}"]
    return found
