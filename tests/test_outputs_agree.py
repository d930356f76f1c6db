"""Every output says the same about a message: plain text (what ``show`` prints and
search indexes), search snippets, Markdown export and the Atom feed keep the same words
and drop the same ones. Run on each variant of Google's footer and on a hostile message,
through the commands a user runs."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive.cli import cli
from archive.db import Archive
from archive.feed import message_html
from archive.markdown import html_to_markdown
from archive.text import message_text
from scraper.models import Group, GroupRef, Message, Thread

WHEN = datetime(2025, 3, 4, 10, tzinfo=UTC)
GROUP = Group(GROUP_REF := GroupRef("agree"), "1", "agree@googlegroups.com", "Agree")

# The sentences Google has opened its footer with; each is followed by the same lines.
OPENINGS = {
    "message": "You received this message because you are subscribed to the Google Groups",
    "topic": "You received this topic because you are subscribed to the Google Groups",
    "topic-in": (
        "You received this message because you are subscribed to a topic in the Google Groups"
    ),
}
FOOTER_WORDS = ("You received this", "unsubscribe", "footerlink")


def footer(opening: str) -> str:
    return (
        f"<p></p>-- <br />{opening} &quot;Agree&quot; group.<br />"
        "To unsubscribe from this group and stop receiving emails from it, send an email to "
        '<a href data-email-masked rel="nofollow">agree+...@googlegroups.com</a>.<br />'
        'To view this discussion visit <a href="https://groups.google.com/d/msgid/agree/x'
        '?footerlink">https://groups.google.com/d/msgid/agree/x?footerlink</a>.<br />'
    )


# Words every output shows, and words no output may show, in the hostile message.
SHOWN = ("openingword", "boldword", "cellword", "itemword", "closingword")
DROPPED = (
    "scriptword", "styleword", "buttonword", "optionword", "textareaword", "svgword",
    "mathword", "canvasword", "videoword", "noscriptword", "templateword", "iframeword",
    "titleword", "dialogword",
)  # fmt: skip
HOSTILE = (
    "<title>titleword</title><style>p { color: red } styleword</style>"
    "<p>openingword <b>boldword</b>\x1b]52;c;eA==\x07 \u202eevil</p>"
    "<script>alert('scriptword')</script><noscript>noscriptword</noscript>"
    "<form action='https://evil.example/'><button>buttonword</button>"
    "<select><option>optionword</option></select><textarea>textareaword</textarea></form>"
    "<svg><text>svgword</text></svg><math><mi>mathword</mi></math>"
    "<canvas>canvasword</canvas><video>videoword</video><template>templateword</template>"
    "<iframe>iframeword</iframe><dialog open>dialogword</dialog>"
    "<table><tr><td>cellword</td></tr></table><ul><li>itemword</li></ul>"
    "<p>closingword</p>" + footer(OPENINGS["message"])
)
# A group with a footer of its own: "-- / the group's lines / --- / Google's footer".
GROUP_FOOTER = (
    "<p>groupownword body</p><p></p>-- <br />Read the rules: groupruleword<br />--- <br />"
    + footer(OPENINGS["message"]).removeprefix("<p></p>-- <br />")
)

BODIES = {
    **{
        f"t{n:09d}": f"<p>bodyword{n} says hello.</p>{footer(opening)}"
        for n, opening in enumerate(OPENINGS.values(), start=1)
    },
    "t000000010": HOSTILE,
    "t000000011": GROUP_FOOTER,
}


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("agree") / "archive.db"
    with Archive(path) as archive:
        for n, (topic, body) in enumerate(BODIES.items()):
            message = Message(f"m{n:011d}", topic, "Ann", WHEN + timedelta(hours=n),
                              f"[agree] Subject {topic}", body)  # fmt: skip
            archive.save_thread(Thread(GROUP, topic, f"[agree] Subject {topic}", (message,)),
                                seen_at=WHEN)  # fmt: skip
    return path


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def outputs(db: Path, topic: str, tmp_path: Path) -> dict[str, str]:
    """What each output shows of the one message in ``topic``."""
    body = BODIES[topic]
    shown = json.loads(run("show", "--db", str(db), topic, "--json"))["messages"][0]
    out = tmp_path / topic
    run("export", "--db", str(db), topic, "--out", str(out))
    feed = run("feed", "--db", str(db), "--limit", "0")
    entry = next(e for e in feed.split("<entry>")[1:] if f"Subject {topic}<" in e)
    return {
        "text": message_text(body),
        "show": run("show", "--db", str(db), topic),
        "show --json": shown["body_text"],
        "markdown": html_to_markdown(body),
        "export": next(out.glob("*.md")).read_text(encoding="utf-8"),
        "feed html": message_html(body),
        "feed": entry,
    }


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+word\d*", text))


@pytest.mark.parametrize("topic", list(BODIES))
def test_every_output_keeps_and_drops_the_same_words(db, topic, tmp_path):
    seen = outputs(db, topic, tmp_path)
    for name, text in seen.items():
        for dropped in FOOTER_WORDS:
            assert dropped not in text, f"{name} keeps the footer ({dropped!r})"
    vocabularies = {name: words(text) for name, text in seen.items()}
    assert len({frozenset(v) for v in vocabularies.values()}) == 1, vocabularies
    if topic == "t000000010":
        assert vocabularies["text"] == set(SHOWN)
        assert not set(DROPPED) & vocabularies["feed"]
    elif topic == "t000000011":
        assert vocabularies["text"] == {"groupownword"}
    else:
        assert vocabularies["text"] == {f"bodyword{int(topic[1:])}"}


@pytest.mark.parametrize("topic", list(BODIES))
def test_search_snippets_agree(db, topic):
    expected = words(json.loads(run("show", "--db", str(db), topic, "--json"))["messages"][0]
                     ["body_text"])  # fmt: skip
    first = sorted(expected)[0]
    hits = json.loads(run("search", "--db", str(db), first, "--json"))
    assert [hit["topic_id"] for hit in hits] == [topic]
    assert words(hits[0]["snippet"]) <= expected
    for word in ("unsubscribe", "footerlink", *DROPPED):
        assert json.loads(run("search", "--db", str(db), word, "--json")) == []
