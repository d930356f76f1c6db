"""Atom feeds: read back with feedparser and with a strict XML parser."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner

from archive.cli import cli
from archive.db import Archive
from archive.export import export_threads
from archive.feed import (
    THREAD_MESSAGES_SHOWN,
    base_link_url,
    build_feed,
    feed_id,
    message_entry_id,
    message_html,
    render_atom,
    sanitize_html,
    site_timezone,
    strip_html_footer,
    xml_text,
)
from scraper.errors import BadQuery
from scraper.models import Group, GroupRef, Message, Thread

A = "{http://www.w3.org/2005/Atom}"
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)\Z")
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

GOLANG = GroupRef("golang-announce")
KUBE = GroupRef("dev", "kubernetes.io")
TITLES = {GOLANG: "golang-announce", KUBE: "Kubernetes developers"}

FOOTER = (
    "<p>-- <br>You received this message because you are subscribed to the Google Groups"
    ' "{name}" group.<br>To unsubscribe from this group and stop receiving emails from it,'
    ' send an email to <a href="mailto:x@googlegroups.com">x@googlegroups.com</a>.</p>'
)


# --- building archives ------------------------------------------------------------


def group(ref: GroupRef) -> Group:
    return Group(ref, id=None, email=ref.email, title=TITLES.get(ref))


def message(
    mid: str,
    topic: str,
    minutes: int,
    subject: str,
    body: str = "<p>hello</p>",
    author: str = "Ann Author",
) -> Message:
    return Message(
        id=mid,
        topic_id=topic,
        author=author,
        posted_at=T0 + timedelta(minutes=minutes),
        subject=subject,
        body_html=body,
        masked_address="ann.a...@example.com",
    )


def save(archive: Archive, ref: GroupRef, topic: str, *messages: Message, subject=None):
    thread = Thread(group(ref), topic, subject or messages[0].subject, tuple(messages))
    archive.save_thread(thread, seen_at=T0 + timedelta(days=30))


def mid(n: int) -> str:
    return f"msg{n:09d}"


def tid(n: int) -> str:
    return f"topic{n:06d}"


@pytest.fixture
def archive(tmp_path: Path):
    with Archive(tmp_path / "archive.db") as opened:
        yield opened


def security_release() -> tuple[Message, Message]:
    """The first golang-announce thread: the announcement and one reply."""
    subject = "[security] Go 1.22.1 and Go 1.21.8 are released"
    return (
        message(mid(1), tid(1), 0, subject,
                "<p>Hello gophers, we have just released Go 1.22.1.</p>"),
        message(mid(2), tid(1), 90, "Re: " + subject, "<p>Thanks!</p>", author="Bob Replier"),
    )  # fmt: skip


@pytest.fixture
def announce(archive: Archive) -> Archive:
    """Two groups: three golang-announce threads (one with a reply), one kubernetes thread."""
    save(
        archive,
        GOLANG,
        tid(1),
        *security_release(),
    )
    save(archive, GOLANG, tid(2), message(mid(3), tid(2), 60, "Go 1.23rc1 is released"))
    save(
        archive,
        GOLANG,
        tid(3),
        message(mid(4), tid(3), 120, "[security] Vulnerability in golang.org/x/net"),
    )
    save(
        archive,
        KUBE,
        tid(4),
        message(mid(5), tid(4), 30, "[security] Kubernetes code freeze", author="Jeremy"),
    )
    return archive


# --- reading feeds back -------------------------------------------------------------


def parse(data: bytes) -> tuple[ET.Element, feedparser.FeedParserDict]:
    """Parse strictly (expat, no recovery) and with feedparser; check what readers rely on."""
    assert data.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    root = ET.fromstring(data)
    assert root.tag == A + "feed"
    parsed = feedparser.parse(data)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"

    for name in ("id", "title", "updated"):
        assert (root.findtext(A + name) or "").strip(), f"feed has no {name}"
    assert RFC3339.match(root.findtext(A + "updated"))
    ids = []
    for entry in root.findall(A + "entry"):
        for name in ("id", "title", "updated", "published"):
            assert (entry.findtext(A + name) or "").strip(), f"entry has no {name}"
        assert RFC3339.match(entry.findtext(A + "updated"))
        assert RFC3339.match(entry.findtext(A + "published"))
        assert entry.findtext(f"{A}author/{A}name").strip()
        link = entry.find(A + "link")
        assert link is not None and link.get("rel") == "alternate"
        assert link.get("href").startswith(("https://", "http://"))
        assert entry.find(A + "content").get("type") == "html"
        ids.append(entry.findtext(A + "id"))
    assert len(ids) == len(set(ids)), "entry ids are not unique"
    assert [e.id for e in parsed.entries] == ids
    return root, parsed


def feed_bytes(archive: Archive, **options) -> bytes:
    return render_atom(build_feed(archive, **options))


def entry_contents(root: ET.Element) -> list[str]:
    """The HTML of each entry, unescaped once: what a reader renders."""
    return [entry.findtext(A + "content") for entry in root.findall(A + "entry")]


# --- entries ----------------------------------------------------------------------


def test_one_entry_per_message_newest_first(announce: Archive):
    root, parsed = parse(feed_bytes(announce))

    assert [e.title for e in parsed.entries] == [
        "[security] Vulnerability in golang.org/x/net",
        "Re: [security] Go 1.22.1 and Go 1.21.8 are released",
        "Go 1.23rc1 is released",
        "[security] Kubernetes code freeze",
        "[security] Go 1.22.1 and Go 1.21.8 are released",
    ]
    reply = parsed.entries[1]
    assert reply.id == f"tag:listarchive,2024:golang-announce@googlegroups.com/{tid(1)}/{mid(2)}"
    assert reply.author == "Bob Replier"
    assert reply.link == f"https://groups.google.com/g/golang-announce/c/{tid(1)}/m/{mid(2)}"
    assert reply.published == reply.updated == "2024-03-01T13:30:00Z"
    assert "Thanks!" in reply.content[0].value
    assert [t.term for t in reply.tags] == ["golang-announce@googlegroups.com"]

    kube = parsed.entries[3]
    assert kube.link == f"https://groups.google.com/a/kubernetes.io/g/dev/c/{tid(4)}/m/{mid(5)}"
    assert kube.tags[0].label == "Kubernetes developers"
    # The feed is as new as its newest entry, not as the run that wrote it.
    assert root.findtext(A + "updated") == "2024-03-01T14:00:00Z"


def test_same_archive_gives_byte_identical_feeds(announce: Archive):
    assert feed_bytes(announce) == feed_bytes(announce)
    assert feed_bytes(announce, threads=True) == feed_bytes(announce, threads=True)


def test_ids_survive_new_messages_and_do_not_depend_on_position(announce: Archive):
    _, before = parse(feed_bytes(announce))
    old = {e.id: (e.title, e.link, e.updated) for e in before.entries}

    save(
        announce,
        GOLANG,
        tid(1),
        *security_release(),
        message(mid(6), tid(1), 300, "Re: [security] Go 1.22.1 and Go 1.21.8 are released"),
    )
    save(announce, GOLANG, tid(5), message(mid(7), tid(5), 200, "Go 1.22.2 is released"))

    _, after = parse(feed_bytes(announce))
    assert [e.id for e in after.entries[:2]] == [
        message_entry_id("golang-announce@googlegroups.com", tid(1), mid(6)),
        message_entry_id("golang-announce@googlegroups.com", tid(5), mid(7)),
    ]
    # Every old entry is still there, unchanged, though all moved down two places.
    assert {e.id: (e.title, e.link, e.updated) for e in after.entries[2:]} == old

    _, newest_only = parse(feed_bytes(announce, limit=1))
    assert [e.id for e in newest_only.entries] == [after.entries[0].id]


def test_ids_come_from_google_identity_not_row_numbers(tmp_path: Path):
    """Two archives that stored the same threads in opposite orders write the same feed."""

    def build(path: Path, order: list[int]) -> bytes:
        threads = {
            1: (
                GOLANG,
                tid(1),
                [message(mid(1), tid(1), 0, "First"), message(mid(2), tid(1), 10, "Re: First")],
            ),
            2: (GOLANG, tid(2), [message(mid(3), tid(2), 5, "Second")]),
            3: (KUBE, tid(3), [message(mid(4), tid(3), 7, "Third")]),
            # Posted in the same second as each other:
            4: (GOLANG, tid(4), [message(mid(5), tid(4), 20, "Fourth")]),
            5: (KUBE, tid(5), [message(mid(6), tid(5), 20, "Fifth")]),
        }
        with Archive(path) as archive:
            for n in order:
                ref, topic, messages = threads[n]
                save(archive, ref, topic, *messages)
            return feed_bytes(archive) + feed_bytes(archive, threads=True)

    assert build(tmp_path / "a.db", [1, 2, 3, 4, 5]) == build(tmp_path / "b.db", [5, 4, 3, 2, 1])


def test_cross_posted_message_is_one_entry_with_one_id(archive: Archive):
    body = "<p>Kubernetes 1.30 is out.</p>"
    save(archive, KUBE, tid(1), message(mid(1), tid(1), 0, "[ANN] Kubernetes 1.30", body))
    save(archive, GOLANG, tid(2), message(mid(2), tid(2), 0, "[ANN] Kubernetes 1.30", body))

    _, everything = parse(feed_bytes(archive))
    _, golang_only = parse(feed_bytes(archive, groups=["golang-announce"]))

    assert len(everything.entries) == len(golang_only.entries) == 1
    first_seen = message_entry_id("dev@kubernetes.io", tid(1), mid(1))
    assert everything.entries[0].id == golang_only.entries[0].id == first_seen
    assert sorted(t.term for t in everything.entries[0].tags) == [
        "dev@kubernetes.io",
        "golang-announce@googlegroups.com",
    ]
    # The golang feed links to the golang copy, not to a group its readers may not follow.
    assert golang_only.entries[0].link == (
        f"https://groups.google.com/g/golang-announce/c/{tid(2)}/m/{mid(2)}"
    )


def test_messages_deleted_upstream_leave_the_feed(archive: Archive):
    kept = message(mid(1), tid(1), 0, "Announcement")
    spam = message(mid(2), tid(1), 5, "Re: Announcement", "<p>cheap watches</p>")
    save(archive, GOLANG, tid(1), kept, spam)
    save(archive, GOLANG, tid(1), kept)  # a moderator removed the spam

    _, parsed = parse(feed_bytes(archive))
    assert [e.id for e in parsed.entries] == [
        message_entry_id("golang-announce@googlegroups.com", tid(1), mid(1))
    ]


def test_limit_and_since(announce: Archive):
    _, two = parse(feed_bytes(announce, limit=2))
    assert [e.updated for e in two.entries] == ["2024-03-01T14:00:00Z", "2024-03-01T13:30:00Z"]

    _, recent = parse(feed_bytes(announce, since=T0 + timedelta(minutes=60)))
    assert [e.updated for e in recent.entries] == [
        "2024-03-01T14:00:00Z",
        "2024-03-01T13:30:00Z",
        "2024-03-01T13:00:00Z",  # posted exactly at --since: kept
    ]
    _, everything = parse(feed_bytes(announce, limit=0))
    assert len(everything.entries) == 5


def test_empty_feed_is_valid_and_stable(archive: Archive):
    root, parsed = parse(feed_bytes(archive))
    assert parsed.entries == []
    assert root.findtext(A + "updated") == "1970-01-01T00:00:00Z"


# --- threads ----------------------------------------------------------------------


def test_threads_one_entry_each_ordered_by_latest_message(announce: Archive):
    root, parsed = parse(feed_bytes(announce, threads=True))

    assert [e.id for e in parsed.entries] == [
        f"tag:listarchive,2024:golang-announce@googlegroups.com/{tid(3)}",
        f"tag:listarchive,2024:golang-announce@googlegroups.com/{tid(1)}",  # reply at 13:30
        f"tag:listarchive,2024:golang-announce@googlegroups.com/{tid(2)}",
        f"tag:listarchive,2024:dev@kubernetes.io/{tid(4)}",
    ]
    release = parsed.entries[1]
    assert release.title == "[security] Go 1.22.1 and Go 1.21.8 are released"
    assert release.author == "Ann Author"  # who started it
    assert release.published == "2024-03-01T12:00:00Z"
    assert release.updated == "2024-03-01T13:30:00Z"
    assert release.link == f"https://groups.google.com/g/golang-announce/c/{tid(1)}"
    content = entry_contents(root)[1]
    assert content.index("Hello gophers") < content.index("Bob Replier") < content.index("Thanks!")


def test_thread_entry_moves_up_and_keeps_its_id_when_a_reply_arrives(announce: Archive):
    _, before = parse(feed_bytes(announce, threads=True))
    save(
        announce,
        KUBE,
        tid(4),
        message(mid(5), tid(4), 30, "[security] Kubernetes code freeze", author="Jeremy"),
        message(mid(9), tid(4), 500, "Re: [security] Kubernetes code freeze"),
    )
    _, after = parse(feed_bytes(announce, threads=True))

    assert after.entries[0].id == before.entries[-1].id
    assert after.entries[0].updated == "2024-03-01T20:20:00Z"
    assert after.entries[0].published == before.entries[-1].published
    assert [e.id for e in after.entries[1:]] == [e.id for e in before.entries[:-1]]


def test_long_thread_shows_opening_message_and_latest_replies(archive: Archive):
    count = THREAD_MESSAGES_SHOWN + 5
    messages = [message(mid(0), tid(1), 0, "Proposal", "<p>opening words</p>")]
    messages += [
        message(mid(n), tid(1), n, "Re: Proposal", f"<p>reply number {n}.</p>")
        for n in range(1, count)
    ]
    save(archive, GOLANG, tid(1), *messages)

    root, _ = parse(feed_bytes(archive, threads=True))
    content = entry_contents(root)[0]
    assert "opening words" in content
    assert "5 more messages" in content
    assert "reply number 5." not in content
    assert all(f"reply number {n}." in content for n in range(6, count))


# --- filters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        "golang-announce",
        "golang-announce@googlegroups.com",
        "https://groups.google.com/g/golang-announce",
        "https://groups.google.com/forum/#!forum/golang-announce",
    ],
)
def test_group_filter_accepts_name_address_or_url(announce: Archive, spec: str):
    root, parsed = parse(feed_bytes(announce, groups=[spec]))
    assert len(parsed.entries) == 4
    assert all(e.tags[0].term == "golang-announce@googlegroups.com" for e in parsed.entries)
    assert root.findtext(A + "id") == feed_id(["golang-announce@googlegroups.com"], None, False)
    assert parsed.feed.title == "golang-announce"
    assert parsed.feed.link == "https://groups.google.com/g/golang-announce"


def test_group_filter_finds_workspace_group_by_bare_name(announce: Archive):
    _, parsed = parse(feed_bytes(announce, groups=["dev"]))
    assert [e.title for e in parsed.entries] == ["[security] Kubernetes code freeze"]
    _, both = parse(feed_bytes(announce, groups=["dev", "golang-announce"], threads=True))
    assert len(both.entries) == 4


def test_unknown_group_is_a_clear_error(announce: Archive):
    with pytest.raises(BadQuery, match="no archived group matches 'golang-nuts'"):
        build_feed(announce, groups=["golang-nuts"])


def test_query_makes_a_security_announcement_feed(announce: Archive):
    root, parsed = parse(
        feed_bytes(announce, groups=["golang-announce"], query='subject:"[security]"')
    )
    assert [e.title for e in parsed.entries] == [
        "[security] Vulnerability in golang.org/x/net",
        "Re: [security] Go 1.22.1 and Go 1.21.8 are released",
        "[security] Go 1.22.1 and Go 1.21.8 are released",
    ]
    assert parsed.feed.title == 'golang-announce: subject:"[security]"'
    # A different selection is a different feed.
    assert root.findtext(A + "id") != feed_id(["golang-announce@googlegroups.com"], None, False)


def test_query_with_threads_selects_threads_that_have_a_match(announce: Archive):
    _, parsed = parse(feed_bytes(announce, query="thanks", threads=True))
    assert [e.title for e in parsed.entries] == ["[security] Go 1.22.1 and Go 1.21.8 are released"]


# --- hostile contents ---------------------------------------------------------------

CONTROL = "".join(chr(c) for c in range(0x20) if chr(c) not in "\t\n\r")
HOSTILE_BODY = (
    f"<p>before{CONTROL}after ]]> <![CDATA[ x ]]> &#1; &#xb; end</p>"
    "<script>alert('script')</script>"
    '<img src="https://example.org/x.png" onerror="alert(\'onerror\')">'
    "<a href=\"javascript:alert('js')\">click</a>"
    '<a href="JaVaScRiPt&#58;alert(1)">click2</a>'
    '<iframe src="https://evil.example/"></iframe>'
    '<p style="position:fixed" onclick="steal()">styled</p>'
    "<style>body{display:none}</style>"
    '<div dir="rtl">مرحبا \u202eabc</div>'
    "<table><tr><td>unclosed <b>bold <i>mixed</b> </i>"
)


VOID = frozenset({"area", "br", "col", "hr", "img", "wbr"})


def assert_balanced(markup: str) -> None:
    """Broken markup was repaired, not passed on: every element is closed, in order."""
    open_tags: list[str] = []

    class Checker(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag not in VOID:
                open_tags.append(tag)

        def handle_endtag(self, tag):
            assert open_tags and open_tags.pop() == tag, (tag, markup)

    checker = Checker()
    checker.feed(markup)
    checker.close()
    assert open_tags == [], markup


def test_hostile_contents_still_make_a_well_formed_safe_feed(archive: Archive):
    subject = f"Evil{CONTROL} ]]> <b>subject</b> \u202eRTL \U0001f600"
    save(
        archive,
        GOLANG,
        tid(1),
        message(mid(1), tid(1), 0, subject, HOSTILE_BODY, author="Mal\x00lory \u202eevil"),
        message(mid(2), tid(1), 5, "שלום עולם", '<div dir="rtl">שלום <b>עולם</div>'),
    )

    for threads in (False, True):
        data = feed_bytes(archive, threads=threads)
        for char in CONTROL:
            assert char.encode() not in data
        root, parsed = parse(data)
        for html in entry_contents(root):
            lowered = html.lower()
            for forbidden in (
                "<script",
                "alert(",
                "onerror",
                "onclick",
                "javascript:",
                "<iframe",
                "<style",
                "style=",
                "steal()",
                "display:none",
            ):
                assert forbidden not in lowered, forbidden
            assert_balanced(html)

    root, parsed = parse(feed_bytes(archive))
    evil = parsed.entries[1]
    assert evil.title.startswith("Evil ]]> <b>subject</b> \u202eRTL \U0001f600")
    # The override is closed, so it cannot reverse what a reader prints after the title.
    assert evil.title.endswith("\u202c")
    assert evil.author == "Mallory \u202eevil\u202c"
    content = entry_contents(root)[1]
    assert "beforeafter ]]&gt;" in content
    assert '<img src="https://example.org/x.png">' in content
    assert "click" in content and "styled" in content and "مرحبا" in content
    assert '<div dir="rtl">' in content
    assert parsed.entries[0].title == "שלום עולם"


def test_xml_text_drops_exactly_what_xml_forbids():
    allowed = "\t\n\r a\u00e9\u05d0\ud7ff\ue000\ufffd\U0001f600\U0010ffff\u202e"
    forbidden = CONTROL + "\ud800\udfff\ufffe\uffff"
    assert xml_text(forbidden + allowed + forbidden) == allowed


def test_sanitizer_resolves_relative_links_against_google_groups():
    cleaned = sanitize_html('<a href="/g/golang-nuts/c/abc">thread</a>')
    assert 'href="https://groups.google.com/g/golang-nuts/c/abc"' in cleaned


# --- footers ----------------------------------------------------------------------


def test_google_groups_footer_is_dropped_but_quoted_footers_stay(archive: Archive):
    quoted = (
        "<p>Agreed.</p><blockquote>earlier words"
        + FOOTER.format(name="golang-announce")
        + "</blockquote>"
    )
    save(
        archive,
        GOLANG,
        tid(1),
        message(
            mid(1), tid(1), 0, "Release", "<p>Released.</p>" + FOOTER.format(name="golang-announce")
        ),
        message(mid(2), tid(1), 5, "Re: Release", quoted + FOOTER.format(name="x")),
    )

    root, _ = parse(feed_bytes(archive))
    reply, release = entry_contents(root)
    assert release == "<p>Released.</p>"
    assert reply.count("You received this message") == 1
    assert reply.index("You received this message") < reply.index("</blockquote>")
    assert "-- <br>" not in reply[reply.index("</blockquote>") :]


def test_footer_cut_takes_the_separator_line_only():
    body = (
        "<div>Text with -- dashes inside.<br>--<br>You received this message because you"
        ' are subscribed to the Google Groups "g" group.<br>To unsubscribe</div>'
    )
    assert strip_html_footer(body) == "<div>Text with -- dashes inside."
    assert strip_html_footer("<p>no footer here</p>") == "<p>no footer here</p>"


def test_stored_plain_text_stands_in_for_an_empty_html_body():
    assert message_html("<p> </p>", "line <one>\nline two\n\npara\x01 2") == (
        "<p>line &lt;one&gt;<br>\nline two</p>\n<p>para 2</p>"
    )
    assert message_html('<img src="https://example.org/a.png">', "") == (
        '<img src="https://example.org/a.png">'
    )


# --- links to a static site ------------------------------------------------------------


def test_base_link_url_forms():
    name = "2024-03-01-go-1-22-1-is-released.md"
    assert base_link_url("https://example.org/threads", name) == (
        "https://example.org/threads/2024-03-01-go-1-22-1-is-released.html"
    )
    assert base_link_url("https://example.org/threads/", name) == (
        "https://example.org/threads/2024-03-01-go-1-22-1-is-released.html"
    )
    assert base_link_url("https://example.org/t/{stem}/", name) == (
        "https://example.org/t/2024-03-01-go-1-22-1-is-released/"
    )
    assert base_link_url("https://example.org/raw/{name}", name) == (
        "https://example.org/raw/2024-03-01-go-1-22-1-is-released.md"
    )
    assert base_link_url("https://example.org/{year}/{month}/{day}/{slug}.html", name) == (
        "https://example.org/2024/03/01/go-1-22-1-is-released.html"
    )
    assert base_link_url("https://example.org/t/{stem}", "2024-03-01-café ?#.md") == (
        "https://example.org/t/2024-03-01-caf%C3%A9%20%3F%23"
    )


def test_base_link_dates_follow_the_sites_time_zone():
    name = "2024-03-01-go-1-22-1-is-released.md"
    late = datetime(2024, 3, 1, 23, 30, tzinfo=UTC)  # already March 2nd in Tokyo
    dated = "https://example.org/{year}/{month}/{day}/{slug}.html"
    assert base_link_url(dated, name, started=late, timezone=site_timezone("Asia/Tokyo")) == (
        "https://example.org/2024/03/02/go-1-22-1-is-released.html"
    )
    assert base_link_url(dated, name, started=late, timezone=site_timezone("UTC")) == (
        "https://example.org/2024/03/01/go-1-22-1-is-released.html"
    )
    early = datetime(2024, 3, 1, 2, 0, tzinfo=UTC)  # still February 29th in New York
    assert base_link_url(
        dated, name, started=early, timezone=site_timezone("America/New_York")
    ) == "https://example.org/2024/02/29/go-1-22-1-is-released.html"
    # A link without dates does not move.
    assert base_link_url("https://example.org/t/{stem}/", name, started=late,
                         timezone=site_timezone("Asia/Tokyo")) == (
        "https://example.org/t/2024-03-01-go-1-22-1-is-released/"
    )  # fmt: skip
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        site_timezone("Mars/Olympus")
    result = CliRunner().invoke(cli, ["feed", "--timezone", "Mars/Olympus", "--db", "x.db"])
    assert result.exit_code == 2 and "unknown time zone" in result.stderr


def test_base_link_points_at_the_file_the_export_writes(announce: Archive, tmp_path: Path):
    written = export_threads(
        announce, [("golang-announce@googlegroups.com", tid(1))], tmp_path / "site"
    )
    expected = "https://example.org/threads/" + written[0].name.removesuffix(".md") + ".html"

    _, messages = parse(feed_bytes(announce, base_link="https://example.org/threads"))
    _, threads = parse(feed_bytes(announce, base_link="https://example.org/threads/", threads=True))
    thread_entry = f"tag:listarchive,2024:golang-announce@googlegroups.com/{tid(1)}"
    assert [e.link for e in messages.entries if tid(1) in e.id] == [expected, expected]
    assert [e.link for e in threads.entries if e.id == thread_entry] == [expected]


# --- the command ------------------------------------------------------------------


def test_command_writes_to_stdout_or_atomically_to_a_file(announce: Archive, tmp_path: Path):
    runner = CliRunner()
    db = str(announce.path)
    args = ["feed", "--db", db, "--group", "golang-announce", "--since", "2024-03-01"]

    printed = runner.invoke(cli, args)
    assert printed.exit_code == 0, printed.output
    _, parsed = parse(printed.stdout_bytes)
    assert len(parsed.entries) == 4

    target = tmp_path / "site" / "golang.xml"
    target.parent.mkdir()
    target.write_bytes(b"yesterday's feed")
    written = runner.invoke(cli, [*args, "--out", str(target)])
    assert written.exit_code == 0, written.output
    assert written.stdout_bytes == b""
    assert "Wrote 4 entries to" in written.stderr
    assert target.read_bytes() == printed.stdout_bytes
    assert list(target.parent.iterdir()) == [target]  # no temporary file left behind

    # A failed run leaves the published feed as it was.
    failed = runner.invoke(cli, [*args, "--query", '"unclosed', "--out", str(target)])
    assert failed.exit_code == 12
    assert failed.stderr.startswith("Error: ")
    assert target.read_bytes() == printed.stdout_bytes


def test_command_options_reach_the_feed(announce: Archive):
    result = CliRunner().invoke(
        cli,
        [
            "feed",
            "--db",
            str(announce.path),
            "--threads",
            "--limit",
            "2",
            "--title",
            "Go releases",
            "--self-link",
            "https://example.org/go.xml",
            "--base-link",
            "https://example.org/threads/{stem}/",
        ],
    )
    assert result.exit_code == 0, result.output
    root, parsed = parse(result.stdout_bytes)
    assert parsed.feed.title == "Go releases"
    assert [link.get("href") for link in root.findall(A + "link") if link.get("rel") == "self"] == [
        "https://example.org/go.xml"
    ]
    assert len(parsed.entries) == 2
    assert all(e.id.count("/") == 1 for e in parsed.entries)  # thread ids
    assert all(re.fullmatch(r"https://example\.org/threads/[^/]+/", e.link) for e in parsed.entries)


@pytest.mark.parametrize(
    "args, code, message",
    [
        # one code per kind of mistake in every command: unknown group 7, bad option 2
        (["--group", "nope"], 7, "no archived group matches 'nope'"),
        (["--since", "yesterday"], 2, "--since expects a date"),
        (["--query", "subject:"], 12, ""),
    ],
)
def test_command_errors_are_one_line(announce: Archive, args, code, message):
    result = CliRunner().invoke(cli, ["feed", "--db", str(announce.path), *args])
    assert result.exit_code == code
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stdout_bytes == b""


def test_command_reports_an_unwritable_output(announce: Archive, tmp_path: Path):
    (tmp_path / "a-file").write_text("not a folder")
    target = tmp_path / "a-file" / "feed.xml"
    result = CliRunner().invoke(cli, ["feed", "--db", str(announce.path), "--out", str(target)])
    assert result.exit_code == 1
    assert result.stderr == f"Error: cannot write {target}: {target.parent} is not a folder\n"


def test_command_without_an_archive(tmp_path: Path):
    result = CliRunner().invoke(cli, ["feed", "--db", str(tmp_path / "missing.db")])
    assert result.exit_code == 11
    assert "no archive at" in result.stderr
    assert not (tmp_path / "missing.db").exists()


# --- an archive synced from the simulator ------------------------------------------------


def test_feeds_of_a_synced_archive_keep_their_entries_as_the_groups_grow(
    simulator, sim_state, tmp_path: Path
):
    from archive.sync import sync_groups, targets_from_urls
    from scraper.http import Fetcher

    db = tmp_path / "synced.db"
    urls = [
        "https://groups.google.com/g/demo-announce",
        "https://groups.google.com/a/example.org/g/dev",
    ]

    def sync() -> None:
        with Fetcher(base_url=simulator.base_url, delay=0, timeout=5) as fetcher:
            sync_groups(db, targets_from_urls(urls), fetcher=fetcher)

    def entries(root: ET.Element) -> dict[str, bytes]:
        return {e.findtext(A + "id"): ET.tostring(e) for e in root.findall(A + "entry")}

    sync()
    with Archive(db, create=False) as archive:
        stored = archive.db.execute("SELECT count(*) FROM messages").fetchone()[0]
        root, everything = parse(feed_bytes(archive, limit=0))
        _, dev = parse(feed_bytes(archive, groups=["dev@example.org"], limit=0))
        _, advisories = parse(
            feed_bytes(archive, groups=["demo-announce"], query='subject:"Security advisory"')
        )
        _, threads = parse(feed_bytes(archive, threads=True, limit=0))

    # One entry per message: the cross-posts are in both groups, and in the feed once.
    assert len(everything.entries) == stored
    crossed = [e for e in everything.entries if len(e.tags) == 2]
    assert sorted(e.title for e in crossed) == [
        "[demo-announce] Demo v1.30.2 released",
        "[demo-announce] Security advisory: CVE-2024-3177",
    ]
    dev_ids = {e.id: e.link for e in dev.entries}
    for entry in crossed:
        # demo-announce was synced first, so its postings give the ids.
        assert entry.id.startswith("tag:listarchive,2024:demo-announce@googlegroups.com/")
        assert dev_ids[entry.id].startswith("https://groups.google.com/a/example.org/g/dev/c/")
    # The simulator appends each group's footer, as Google does; the feed drops it.
    for html in entry_contents(root):
        assert "You received this message" not in html.rsplit("</blockquote>", 1)[-1]
    assert advisories.entries and all("Security advisory" in e.title for e in advisories.entries)
    assert len(threads.entries) == 75 + 10

    # New messages arrive; every entry already published stays byte for byte the same.
    topic = sim_state.demo.cross_posts[0][0]
    reply_at, release_at = datetime(2025, 8, 1, 9, tzinfo=UTC), datetime(2025, 8, 2, 9, tzinfo=UTC)
    sim_state.add_message(topic, "Dana", "dana@example.org", "<p>Upgraded.</p>", reply_at)
    sim_state.add_topic(
        sim_state.demo.announce,
        "Demo v1.41.0 released",
        "Release Bot",
        None,
        "<p>Out.</p>",
        release_at,
    )
    sync()
    with Archive(db, create=False) as archive:
        root_after, after = parse(feed_bytes(archive, limit=0))
    assert [e.title for e in after.entries[:2]] == [
        "Demo v1.41.0 released",
        "Re: [demo-announce] Demo v1.30.2 released",
    ]
    assert len(after.entries) == stored + 2
    old = entries(root)
    assert {k: v for k, v in entries(root_after).items() if k in old} == old


# The rule before it was computed from the end: the oracle of _strip_trailing_blank.
TRAILING_BLANK = re.compile(
    r"(?:\s|&nbsp;|&#160;|&#xa0;|<br\s*/?>|<(?:p|div|span|font)\b[^>]*>)+\Z", re.IGNORECASE
)
BLANK_PIECES = [
    " ", "\n", "\t", "\u00a0", "\u2003", "&nbsp;", "&NBSP;", "&#160;", "&#xA0;", "&nbſp;",
    "<br>", "<BR/>", "<br />", "<br", "<p>", "<p class='x'>", "<p <br>", "<div>", "</div>",
    "<span>", "<font color=red>", "<pre>", "<p", ">", "<", "a", "-", "--", "&", ";",
    "x<p>y", "<divx>", "<p\n>",
]  # fmt: skip


def test_trailing_blanks_are_cut_as_the_regex_cut_them():
    import random

    from archive.feed import _strip_trailing_blank

    rng = random.Random(16)
    for _ in range(20_000):
        text = "".join(rng.choice(BLANK_PIECES) for _ in range(rng.randint(0, 12)))
        assert _strip_trailing_blank(text) == TRAILING_BLANK.sub("", text), repr(text)
