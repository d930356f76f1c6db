import json
import subprocess
import sys
from pathlib import Path

import pytest

from archive.text import (
    fingerprint,
    fold_whitespace,
    html_to_text,
    message_text,
    normalize_subject,
    strip_footer,
    strip_list_tags,
)

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "google-groups"

CURRENT_FOOTER = (
    "-- <br />You received this message because you are subscribed to the Google Groups "
    '"Demo announcements" group.<br />To unsubscribe from this group and stop receiving '
    'emails from it, send an email to <a href="mailto:demo-announce+unsubscribe@googlegroups.com">'
    "demo-announce+unsubscribe@googlegroups.com</a>.<br />To view this discussion visit "
    '<a href="https://groups.google.com/d/msgid/demo-announce/abc%40mail.example.org">'
    "https://groups.google.com/d/msgid/demo-announce/abc%40mail.example.org</a>.<br />"
)
OLDER_FOOTER = (
    "-- <br />You received this message because you are subscribed to the Google Groups "
    '"dev" group.<br />To unsubscribe from this group and stop receiving emails from it, '
    "send an email to dev+unsubscribe@googlegroups.com.<br />To post to this group, send "
    "email to dev@googlegroups.com.<br />Visit this group at "
    '<a href="https://groups.google.com/group/dev">https://groups.google.com/group/dev</a>.'
    "<br />For more options, visit https://groups.google.com/d/optout.<br />"
)
WEB_FOOTER = (
    "<p></p>\n-- <br />\nYou received this message because you are subscribed to the Google "
    'Groups "golang-nuts" group.<br />\nTo unsubscribe from this group and stop receiving '
    "emails from it, send an email to golang-nuts+unsubscribe@googlegroups.com.<br />\n"
    "To view this discussion on the web visit "
    '<a href="https://groups.google.com/d/msgid/golang-nuts/x">'
    "https://groups.google.com/d/msgid/golang-nuts/x</a>.<br />"
)
TOPIC_FOOTER = (
    "-- <br />You received this message because you are subscribed to a topic in the Google "
    'Groups "dev" group.<br />To unsubscribe from this topic, visit '
    "https://groups.google.com/d/topic/dev/abc/unsubscribe.<br />"
)
BODY = (
    '<div dir="ltr">The release freeze starts on <b>Monday</b>.<div><br></div>Thanks,<br>Ann</div>'
)
BODY_TEXT = "The release freeze starts on Monday.\n\nThanks,\nAnn"


# --- footers ---------------------------------------------------------------


@pytest.mark.parametrize(
    "footer", [CURRENT_FOOTER, OLDER_FOOTER, WEB_FOOTER, TOPIC_FOOTER], ids=lambda f: f[30:60]
)
def test_every_footer_variant_is_removed_and_the_message_kept(footer):
    assert message_text(BODY + "\n" + footer) == BODY_TEXT


def test_footer_removal_keeps_the_authors_own_signature():
    html = "Text<br>-- <br>Ann Example<br>Release team<br>" + CURRENT_FOOTER
    assert message_text(html) == "Text\n--\nAnn Example\nRelease team"


def test_group_specific_footer_before_the_standard_one_is_removed_too():
    # Groups with a footer of their own get "-- / group footer / --- / Google's footer".
    html = (
        "Call for posters.<br><br>--<br>Systems Neuroscience mailing list: www.example.eu<br>"
        "To post, send email to sys...@example.eu<br>--- <br>"
        + CURRENT_FOOTER.removeprefix("-- <br />")
    )
    assert message_text(html) == "Call for posters."


def test_a_quoted_footer_in_a_bottom_posted_reply_is_kept_with_the_reply_below_it():
    html = (
        "<div>On Monday Ann wrote:</div><blockquote>Freeze on Monday.<br>"
        + CURRENT_FOOTER
        + "</blockquote><div>Sounds good, thanks!</div>"
        + CURRENT_FOOTER
    )
    text = message_text(html)
    assert text.endswith("Sounds good, thanks!")
    assert "> You received this message" in text  # the quote itself is untouched
    assert text.count("You received this message") == 1


def test_text_without_a_footer_is_unchanged():
    text = "Line one\n--\nsignature"
    assert strip_footer(text) == text


def test_real_message_footer_is_removed():
    path = FIXTURES / "new-ui-derived" / "systems-neuro-scrape_messages-2025-04.json"
    if not path.exists():
        pytest.skip("shared fixtures not available")
    data = json.loads(path.read_text(encoding="utf-8"))
    bodies = [
        m["body_html"]
        for topic in data["topics"]
        for m in topic["messages"]
        if "You received this message" in m["body_html"]
    ]
    assert bodies, "the fixture should hold at least one message with a footer"
    for body in bodies:
        text = message_text(body)
        assert "You received this message" not in text
        assert "To view this discussion" not in text
        assert "mailing list:" not in text  # the group's own footer went too
        assert text.rstrip().endswith("www.lizhaoping.org")


# --- subjects ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("[dev] Release freeze", "Release freeze"),
        ("[demo-announce] [ANN] v1.2", "v1.2"),
        ("Re: [dev] Release freeze", "Re: Release freeze"),
        ("[dev] Re: Release freeze", "Re: Release freeze"),
        ("Release [draft] notes", "Release [draft] notes"),
        ("Note: [dev] is moving", "Note: [dev] is moving"),
        ("No tags at all", "No tags at all"),
    ],
)
def test_strip_list_tags(subject, expected):
    assert strip_list_tags(subject) == expected


def test_normalize_subject_ignores_tags_marker_spelling_and_spacing():
    same = {
        normalize_subject(s)
        for s in ["Re: [dev] Release  freeze", "[demo-announce] RE: Release freeze",
                  "Re: Re: release freeze", "Re[2]: [dev] Release freeze", "AW: Release freeze"]
    }  # fmt: skip
    assert same == {"re: release freeze"}


def test_normalize_subject_keeps_reply_and_forward_apart_from_the_original():
    assert len({normalize_subject(s) for s in ["Freeze", "Re: Freeze", "Fwd: Freeze"]}) == 3


# --- html to text ------------------------------------------------------------


def test_link_text_is_kept():
    text = html_to_text('See <a href="https://example.org/notes">the release notes</a> now.')
    assert text == "See the release notes now."


def test_list_items_are_on_their_own_lines():
    html = (
        "<p>Agenda:</p><ul><li>freeze</li><li>branch<ul><li>cut rc1</li></ul></li></ul>"
        "<ol><li>first</li><li><p>second</p></li></ol>after"
    )
    assert html_to_text(html) == (
        "Agenda:\n\n- freeze\n- branch\n  - cut rc1\n1. first\n2. second\nafter"
    )


def test_quotes_are_kept_and_marked():
    html = (
        '<div>I agree.</div><div class="gmail_quote">On Mon, Bob wrote:<br>'
        "<blockquote>Ship it<br><br>today<blockquote>nested</blockquote></blockquote></div>"
    )
    assert html_to_text(html) == (
        "I agree.\nOn Mon, Bob wrote:\n\n> Ship it\n>\n> today\n>\n> > nested"
    )


def test_blocks_breaks_entities_and_whitespace():
    html = (
        "<div>one\n   two&nbsp;&amp; three</div><div><br></div><div>four<br>five</div>"
        "<script>alert(1)</script><style>p{}</style><!-- hidden -->"
    )
    assert html_to_text(html) == "one two & three\n\nfour\nfive"


def test_preformatted_text_keeps_its_layout():
    assert html_to_text("<pre>if x:\n    go()\n</pre>") == "if x:\n    go()"


@pytest.mark.parametrize("html", ["", "   ", "<br>", "<!-- only a comment -->"])
def test_empty_bodies_give_empty_text(html):
    assert html_to_text(html) == ""


def test_broken_markup_still_gives_its_words():
    assert html_to_text("<div><p>unclosed <b>bold <i>and") == "unclosed bold and"
    assert html_to_text("<") == "<"


def test_pathologically_deep_nesting_keeps_the_words():
    deep = "<blockquote>" * 3000 + "still here &amp; searchable" + "</blockquote>" * 3000
    assert "still here & searchable" in html_to_text(deep)


def test_large_body_is_converted_whole():
    # ~1 MB of HTML; the pytest timeout, not an assertion, guards the speed.
    html = "".join(f'<p>paragraph {i} with <a href="u">a link</a></p>' for i in range(20000))
    lines = [line for line in html_to_text(html).split("\n") if line]
    assert len(lines) == 20000
    assert lines[-1] == "paragraph 19999 with a link"


def test_importing_the_archive_does_not_import_lxml():
    code = "import sys, archive.text, archive.db; print('lxml' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- fingerprint ---------------------------------------------------------------


def test_fold_whitespace():
    assert fold_whitespace("  a\n\tb\u00a0 c  ") == "a b c"


def test_cross_post_copies_have_the_same_fingerprint():
    copy_a = message_text(BODY + CURRENT_FOOTER)
    copy_b = message_text(BODY.replace("<br>", "<br>\n  ") + OLDER_FOOTER)
    assert fingerprint("Ann Example", "[demo-announce] Freeze", copy_a) == fingerprint(
        "ann  example", "[dev] Freeze", copy_b
    )


@pytest.mark.parametrize(
    ("author", "subject", "body"),
    [
        ("Bob", "Freeze", BODY_TEXT),
        ("Ann Example", "Re: Freeze", BODY_TEXT),
        ("Ann Example", "Freeze", BODY_TEXT + " Also Tuesday."),
    ],
)
def test_different_messages_have_different_fingerprints(author, subject, body):
    assert fingerprint(author, subject, body) != fingerprint("Ann Example", "Freeze", BODY_TEXT)
