"""``show`` and ``export``: threads out of an archive as text, Markdown and JSON.

Two kinds of archive: one built by syncing the simulator (module-scoped, synced
once), and small ones saved from hand-made models for what the simulator cannot
serve (control characters, one topic id in two groups).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive.cli import cli
from archive.db import Archive
from archive.export import (
    export_filename,
    export_threads,
    front_matter,
    page_text,
    render_thread_text,
    resolve_thread,
    select_threads,
    site_names,
    subject_tags,
    thread_to_json,
    thread_to_markdown,
    yaml_string,
)
from scraper.errors import BadURL, NotFound
from scraper.models import Attachment, Group, GroupRef, Message, Thread
from tests.helpers.bodies import ANNOUNCEMENT, ANNOUNCEMENT_MARKDOWN, FOOTER
from tests.simulator import GroupsState, Simulator

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2024, 1, 8, 9, 0, tzinfo=UTC)
ANN_KEY = "demo-announce@googlegroups.com"
DEV_KEY = "dev@example.org"

# The announcement as its author wrote it: the simulator adds the group footer.
ANNOUNCEMENT_BODY = ANNOUNCEMENT.replace(FOOTER, "")
REPLY_BODY = (
    '<div dir="ltr"><div>Confirmed fixed on arm64, thanks!</div><br>'
    '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, Jan 8, 2024 at 9:00'
    ' AM Ann Author wrote:<br></div><blockquote class="gmail_quote">'
    "<div>We are happy to announce <b>Demo v1.30.2</b>.</div></blockquote></div></div>"
)
HOSTILE_BODY = (
    "<div>Write &lt;script&gt;alert(1)&lt;/script&gt; in a {{ site.title }} template, "
    "{% include evil.html %} and {{< shortcode >}}.</div>"
    '<script>alert(2)</script><iframe src="https://evil.example/"></iframe>'
    '<div><a href="javascript:alert(3)">click me</a></div>'
)
HOSTILE_SUBJECT = '../../etc/passwd "quoted" {{ site.title }}'


# --- an archive synced from the simulator -------------------------------------------------


def _populate(state: GroupsState) -> dict[str, object]:
    announce = state.add_group("demo-announce", None, "Demo announcements")
    dev = state.add_group("dev", "example.org", "Example developers")
    release = state.add_topic(
        announce, "[ANNOUNCE] Demo v1.30.2 released", "Ann Author", "ann.author@example.com",
        ANNOUNCEMENT_BODY, T0, [("notes.txt", "text/plain", b"notes")],
    )  # fmt: skip
    state.add_message(
        release, "Bruno Díaz", "bruno.diaz@example.net", REPLY_BODY, T0 + timedelta(hours=3)
    )
    state.cross_post(release, dev, subject="[dev] Demo v1.30.2 released")
    security = state.add_topic(
        announce, "[security] [ANNOUNCE] Fix for CVE-2024-3177", "Ann Author",
        "ann.author@example.com", "<div>Upgrade now: CVE-2024-3177 is fixed.</div>",
        T0 + timedelta(days=24),
    )  # fmt: skip
    hostile = state.add_topic(
        announce, HOSTILE_SUBJECT, "Eve <b>Mallory</b>", "eve@example.com", HOSTILE_BODY,
        T0 + timedelta(days=40),
    )  # fmt: skip
    weekly = [
        state.add_topic(
            announce,
            "Weekly meeting",
            "Chen Wei",
            "chenwei@example.cn",
            f"<div>Agenda number {n}.</div>",
            datetime(2024, 3, 4, 9 + 6 * n, tzinfo=UTC),
        )  # fmt: skip
        for n in range(2)
    ]
    con = state.add_topic(
        announce, "CON", "Chen Wei", "chenwei@example.cn", "<div>reserved</div>",
        datetime(2024, 3, 10, 9, tzinfo=UTC),
    )  # fmt: skip
    notes = state.add_topic(
        dev, "Dev sync notes", "Dana O'Brien", "dana@example.org", "<div>Notes.</div>",
        datetime(2024, 1, 10, 16, tzinfo=UTC),
    )  # fmt: skip
    return {
        "release": release, "security": security, "hostile": hostile, "weekly": weekly,
        "con": con, "notes": notes,
    }  # fmt: skip


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """``(db path, topics)``: the simulator's two groups synced into a fresh archive."""
    from archive.sync import sync_groups, targets_from_urls
    from scraper.http import Fetcher

    state = GroupsState()
    topics = _populate(state)
    db_path = tmp_path_factory.mktemp("synced") / "archive.db"
    with Simulator(state) as sim, Fetcher(base_url=sim.base_url, delay=0, timeout=10) as fetcher:
        summary = sync_groups(
            db_path,
            targets_from_urls(["https://groups.google.com/g/demo-announce", "dev@example.org"]),
            fetcher=fetcher,
        )
    assert summary.status == "ok"
    return db_path, topics


@pytest.fixture
def db(synced):
    return str(synced[0])


def run(*args: str, db: str | None = None) -> object:
    argv = [*args, "--db", db] if db else list(args)
    return CliRunner().invoke(cli, argv, catch_exceptions=False)


def thread_url(topic, message_index: int | None = None) -> str:
    group = topic.group
    base = "https://groups.google.com" + ("/a/" + group.domain if group.domain else "")
    url = f"{base}/g/{group.name}/c/{topic.id}"
    if message_index is not None:
        url += f"/m/{topic.messages[message_index].id}"
    return url


# --- show ---------------------------------------------------------------------------------


def test_show_prints_subject_then_each_message(synced, db):
    topics = synced[1]
    release = topics["release"]
    result = run("show", thread_url(release, 1), db=db)  # a message URL names its thread
    assert result.exit_code == 0, result.output
    lines = result.output.split("\n")
    assert lines[0] == "[ANNOUNCE] Demo v1.30.2 released"
    assert lines[1] == f"{ANN_KEY} · 2 messages · {thread_url(release)}"
    assert lines[2] == ""
    assert lines[3] == "[1/2] Ann Author <ann.a...@example.com> · 2024-01-08 09:00 UTC"
    assert "We are happy to announce Demo v1.30.2. Read the release blog for all the details." in (
        result.output
    )
    assert "- Fixed: a race in the sync loop." in lines
    # the message the URL points at is marked
    assert lines.index(
        "[2/2] Bruno Díaz <bruno...@example.net> · 2024-01-08 12:00 UTC ◀ this message"
    ) > 3
    assert result.output.count("◀") == 1
    assert "Confirmed fixed on arm64, thanks!" in lines
    assert "[attachment] notes.txt " in result.output
    assert "You received this message" not in result.output  # footers are not archived text
    assert result.output.endswith("\n") and not result.output.endswith("\n\n")


def test_show_accepts_a_bare_topic_id_and_legacy_urls(synced, db):
    security = synced[1]["security"]
    by_id = run("show", security.id, db=db)
    legacy = run("show", f"https://groups.google.com/d/topic/demo-announce/{security.id}", db=db)
    assert by_id.exit_code == 0 and legacy.exit_code == 0
    assert by_id.output == legacy.output
    assert by_id.output.startswith("[security] [ANNOUNCE] Fix for CVE-2024-3177\n")


def test_show_errors(synced, db, tmp_path):
    missing = run("show", "https://groups.google.com/g/demo-announce/c/AAAAAAAAAAA", db=db)
    assert missing.exit_code == 7
    assert "is not in the archive" in missing.output
    group_only = run("show", "https://groups.google.com/g/demo-announce", db=db)
    assert group_only.exit_code == 4
    assert "names a group, not a thread" in group_only.output
    no_archive = run("show", "AAAAAAAAAAA", db=str(tmp_path / "none.db"))
    assert no_archive.exit_code == 11
    assert not (tmp_path / "none.db").exists()  # a read command never creates an archive


# --- export: one thread -------------------------------------------------------------------


ANNOUNCEMENT_DESCRIPTION = (
    "Demo v1.30.2 released Hi all, We are happy to announce Demo v1.30.2. Read the release"
    " blog for all the details. Highlights: - Fixed: a race in the sync loop…"
)


def test_export_one_thread_first_only_to_stdout_exactly(synced, db):
    release = synced[1]["release"]
    result = run("export", thread_url(release), "--first-only", db=db)
    assert result.exit_code == 0, result.output
    url = thread_url(release)
    with Archive(synced[0], create=False) as archive:
        [attachment] = archive.get_thread(ANN_KEY, release.id)["messages"][0]["attachments"]
    # The credit follows the announcement, so excerpts and summaries start with it.
    assert result.output == (
        "---\n"
        'layout: "post"\n'
        'title: "Demo v1.30.2 released"\n'
        "date: 2024-01-08T09:00:00+00:00\n"
        'author: "Ann Author"\n'
        f'description: "{ANNOUNCEMENT_DESCRIPTION}"\n'
        f'groups: ["{ANN_KEY}", "{DEV_KEY}"]\n'
        f'source: "{url}"\n'
        "message_count: 2\n"
        'tags: ["announce", "demo-announce"]\n'
        "---\n"
        "\n"
        f"{ANNOUNCEMENT_MARKDOWN}\n"
        "\n"
        "*Attachments:*\n"
        "\n"
        f"- [notes.txt]({attachment['url']})\n"
        "\n"
        f"*Originally posted by Ann Author on [Demo announcements]({url}),"
        f" [2024-01-08 09:00 UTC]({thread_url(release, 0)})*. Also posted to {DEV_KEY}.\n"
    )
    assert len(ANNOUNCEMENT_DESCRIPTION) <= 161


def test_export_whole_thread_has_each_message_with_quotes_dropped(synced, db):
    release = synced[1]["release"]
    result = run("export", release.id, db=db)
    assert result.exit_code == 0, result.output
    text = result.output
    first = f"*Originally posted by Ann Author on [Demo announcements]({thread_url(release)}),"
    second = f"**Bruno Díaz** · [2024-01-08 12:00 UTC]({thread_url(release, 1)})"
    body = text.split("---\n", 2)[2]
    assert body.startswith("\n" + ANNOUNCEMENT_MARKDOWN)
    assert text.index(ANNOUNCEMENT_MARKDOWN) < text.index(first) < text.index("\n---\n\n" + second)
    assert text.endswith(second + "\n\nConfirmed fixed on arm64, thanks!\n")
    with_quotes = run("export", release.id, "--quotes", db=db).output
    assert with_quotes.endswith(
        "Confirmed fixed on arm64, thanks!\n\n"
        "On Mon, Jan 8, 2024 at 9:00 AM Ann Author wrote:\n\n"
        "> We are happy to announce **Demo v1.30.2**.\n"
    )
    assert "You received this message" not in text + with_quotes


def test_exported_front_matter_parses_as_yaml(synced, db):
    yaml = pytest.importorskip("yaml")
    release = synced[1]["release"]
    document = run("export", release.id, db=db).output
    fields = yaml.safe_load(document.split("---\n")[1])
    assert fields == {
        "layout": "post",
        "title": "Demo v1.30.2 released",
        "date": datetime(2024, 1, 8, 9, 0, tzinfo=UTC),
        "author": "Ann Author",
        "description": ANNOUNCEMENT_DESCRIPTION,
        "groups": [ANN_KEY, DEV_KEY],
        "source": thread_url(release),
        "message_count": 2,
        "tags": ["announce", "demo-announce"],
    }


def test_hostile_thread_exports_inert(synced, db, tmp_path):
    hostile = synced[1]["hostile"]
    result = run("export", hostile.id, "--out", str(tmp_path / "posts"), db=db)
    assert result.exit_code == 0, result.output
    written = Path(result.stdout.strip())
    assert written.parent == (tmp_path / "posts").resolve()
    assert written.name == "2024-02-17-etc-passwd-quoted-site-title.md"
    document = written.read_text(encoding="utf-8")
    body = document.split("---\n", 2)[2]
    assert "<script" not in body and "<iframe" not in body and "javascript:" not in body
    assert "{{" not in body and "{%" not in body
    assert "&lt;script>alert(1)&lt;/script>" in body
    assert "&#123;{ site.title }}" in body and "&#123;% include evil.html %}" in body
    assert "click me" in body
    # Names and titles are text, not markup: escaped in the body, and written with
    # full-width look-alikes in the front matter, which themes print raw or escaped.
    assert "by Eve &lt;b>Mallory&lt;/b> on" in body
    assert 'author: "Eve ＜b＞Mallory＜/b＞"' in document
    assert 'title: "../../etc/passwd ＂quoted＂ {{ site.title }}"' in document


# --- export: many threads -----------------------------------------------------------------


def test_export_group_to_directory_and_reexport_overwrites(synced, db, tmp_path):
    out = tmp_path / "site" / "_posts"  # created, parents too
    first = run("export", "--group", "demo-announce", "--out", str(out), db=db)
    assert first.exit_code == 0, first.output
    weekly = synced[1]["weekly"]
    names = [Path(line).name for line in first.stdout.splitlines()]
    assert names == [  # oldest first
        "2024-01-08-demo-v1-30-2-released.md",
        "2024-02-01-fix-for-cve-2024-3177.md",
        "2024-02-17-etc-passwd-quoted-site-title.md",
        "2024-03-04-weekly-meeting.md",
        f"2024-03-04-weekly-meeting-{weekly[1].id.lower().replace('_', '-')}.md",
        "2024-03-10-con.md",
    ]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    contents = {p.name: p.read_text(encoding="utf-8") for p in out.iterdir()}
    assert "Agenda number 0." in contents[names[3]] and "Agenda number 1." in contents[names[4]]

    # Same threads, other options: the same files are rewritten, none added.
    again = run("export", "--group", "demo-announce", "--out", str(out), "--first-only", db=db)
    assert [Path(line).name for line in again.stdout.splitlines()] == names
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    assert contents[names[0]] != (out / names[0]).read_text(encoding="utf-8")
    # The second of the two same-day threads keeps its longer name, even alone.
    alone = run("export", weekly[1].id, "--out", str(out), db=db)
    assert Path(alone.stdout.strip()).name == names[4]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)


def test_several_threads_in_markdown_need_out(synced, db):
    result = run("export", "--group", "demo-announce", db=db)
    assert result.exit_code == 2
    assert "6 threads match: give --out DIR" in result.output


def test_json_export_to_stdout_is_an_array_with_every_message_field(synced, db):
    release = synced[1]["release"]
    result = run("export", release.id, "--format", "json", db=db)
    assert result.exit_code == 0, result.output
    [thread] = json.loads(result.output)
    assert thread["group_key"] == ANN_KEY and thread["topic_id"] == release.id
    assert thread["subject"] == "[ANNOUNCE] Demo v1.30.2 released"
    assert thread["url"] == thread_url(release)
    assert thread["created_at"] == "2024-01-08T09:00:00Z"
    assert thread["message_count"] == 2
    assert thread["group"]["title"] == "Demo announcements"
    assert thread["tags"] == ["announce", "demo-announce"]
    first, second = thread["messages"]
    assert set(first) >= {
        "archive_id", "google_message_id", "position", "url", "subject", "author",
        "masked_address", "posted_at", "updated_at", "body_html", "body_text",
        "body_markdown", "attachments", "groups", "missing_since",
    }  # fmt: skip
    assert first["google_message_id"] == release.messages[0].id
    assert first["author"] == "Ann Author" and first["masked_address"] == "ann.a...@example.com"
    assert first["posted_at"] == "2024-01-08T09:00:00Z"
    assert first["groups"] == [ANN_KEY, DEV_KEY]
    assert first["attachments"][0]["filename"] == "notes.txt"
    assert first["body_markdown"] == ANNOUNCEMENT_MARKDOWN
    assert "You received this message" in first["body_html"]  # stored as served
    assert second["position"] == 1 and second["author"] == "Bruno Díaz"
    assert second["body_markdown"] == "Confirmed fixed on arm64, thanks!"


def test_json_export_to_directory_one_file_per_thread(synced, db, tmp_path):
    result = run("export", "--group", "dev", "--format", "json", "--out", str(tmp_path), db=db)
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["2024-01-08-demo-v1-30-2-released.json", "2024-01-10-dev-sync-notes.json"]
    data = json.loads((tmp_path / files[1]).read_text(encoding="utf-8"))
    assert data["subject"] == "Dev sync notes" and len(data["messages"]) == 1


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        # The cross-post's topic keeps the original subject; its message is "[dev] ...".
        (["--group", "dev@example.org"], ["[ANNOUNCE] Demo v1.30.2 released", "Dev sync notes"]),
        (
            ["--group", "https://groups.google.com/g/demo-announce", "--since", "2024-02-17"],
            [HOSTILE_SUBJECT, "Weekly meeting", "Weekly meeting", "CON"],
        ),
        (
            ["--since", "2024-01-09", "--until", "2024-02-17"],
            ["Dev sync notes", "[security] [ANNOUNCE] Fix for CVE-2024-3177", HOSTILE_SUBJECT],
        ),
        # A cross-post is one announcement: selected once (see test_cross_post_...).
        (["--until", "2024-01-08"], ["[ANNOUNCE] Demo v1.30.2 released"]),
        (
            ["--query", "CVE-2024-3177"],  # the announcement links to it too
            ["[ANNOUNCE] Demo v1.30.2 released", "[security] [ANNOUNCE] Fix for CVE-2024-3177"],
        ),
        (["--query", "arm64", "--group", "dev"], []),
        (
            ["--query", "agenda", "--since", "2024-03-04", "--until", "2024-03-04"],
            ["Weekly meeting", "Weekly meeting"],
        ),
    ],
)
def test_selection_options(synced, options, expected):
    with Archive(synced[0], create=False) as archive:
        keys = select_threads(
            archive,
            group=_option(options, "--group"),
            since=_option(options, "--since"),
            until=_option(options, "--until"),
            query=_option(options, "--query"),
        )
        assert [archive.get_thread(*key)["subject"] for key in keys] == expected


def _option(options: list[str], name: str) -> str | None:
    return options[options.index(name) + 1] if name in options else None


def test_listed_threads_keep_their_order_and_options_narrow_them(synced):
    topics = synced[1]
    with Archive(synced[0], create=False) as archive:
        listed = [topics["con"].id, thread_url(topics["release"])]
        assert select_threads(archive, listed) == [
            (ANN_KEY, topics["con"].id),
            (ANN_KEY, topics["release"].id),
        ]
        assert select_threads(archive, listed, since="2024-03-01") == [(ANN_KEY, topics["con"].id)]
        assert select_threads(archive, listed, query="arm64") == [(ANN_KEY, topics["release"].id)]


def test_no_selection_is_a_usage_error_and_an_empty_one_is_not(synced, db):
    nothing = run("export", db=db)
    assert nothing.exit_code == 2
    assert "give THREAD ids or URLs" in nothing.output
    empty = run("export", "--since", "2030-01-01", db=db)
    assert empty.exit_code == 0
    assert empty.stdout == "" and "No threads match." in empty.stderr


def test_out_that_is_a_file_is_refused_and_left_alone(synced, db, tmp_path):
    target = tmp_path / "taken"
    target.write_text("keep me")
    result = run("export", synced[1]["con"].id, "--out", str(target), db=db)
    assert result.exit_code == 2
    assert target.read_text() == "keep me"


# --- hand-made archives -----------------------------------------------------------------------

DEV = Group(GroupRef("dev", "example.org"), "gid-dev", DEV_KEY, "Example developers")
OPS = Group(GroupRef("ops", "example.org"), "gid-ops", "ops@example.org", "Ops")


def save(archive: Archive, group: Group, topic: str, subject: str, *, author="Ann", at=T0,
         body="<div>Hello.</div>", attachments=()) -> None:  # fmt: skip
    message = Message(
        id=f"m{topic}"[:12], topic_id=topic, author=author, posted_at=at, subject=subject,
        body_html=body, masked_address="ann...@example.org", attachments=attachments,
    )  # fmt: skip
    archive.save_thread(Thread(group, topic, subject, (message,)), seen_at=at + timedelta(days=1))


@pytest.fixture
def made(tmp_path) -> Archive:
    with Archive(tmp_path / "made.db") as archive:
        yield archive


def test_a_topic_id_in_two_groups_needs_the_group(made):
    save(made, DEV, "TTTTTTTTTTT", "In dev")
    save(made, OPS, "TTTTTTTTTTT", "In ops")
    with pytest.raises(NotFound, match=r"several groups \(dev@example.org, ops@example.org\)"):
        resolve_thread(made, "TTTTTTTTTTT")
    assert resolve_thread(made, "TTTTTTTTTTT", group="ops") == ("ops@example.org", "TTTTTTTTTTT")
    url = "https://groups.google.com/a/example.org/g/dev/c/TTTTTTTTTTT"
    assert resolve_thread(made, url) == (DEV_KEY, "TTTTTTTTTTT")
    with pytest.raises(BadURL):
        resolve_thread(made, "https://example.com/g/dev/c/TTTTTTTTTTT")


HOSTILE_SUBJECTS = [
    "../../etc/passwd",
    "CON",
    "nul.txt",
    "..",
    'a/b\\c:d*e?f"g<h>i|j',
    "tab\tnew\nline\x1b[31m\x00bell\x07",
    "x" * 300,
    "Überprüfung — 版本发布 v2.0 🎉" * 12,
    "",
    "[dev] [ANN]",
    "  ---\nlayout: evil\n---  ",
]


@pytest.mark.parametrize("subject", HOSTILE_SUBJECTS)
def test_file_names_never_leave_out(made, tmp_path, subject):
    save(made, DEV, "HHHHHHHHHHH", subject)
    thread = made.get_thread(DEV_KEY, "HHHHHHHHHHH")
    name = export_filename(thread, set())
    assert re.fullmatch(r"2024-01-08-[^\x00-\x1f/\\:*?\"<>|]+\.md", name), name
    assert ".." not in name and len(name.encode("utf-8")) <= 100
    out = tmp_path / "out"
    [path] = export_threads(made, [(DEV_KEY, "HHHHHHHHHHH")], out)
    assert path.parent == out.resolve() and path.name == name
    assert sorted(out.iterdir()) == [path]


def test_file_name_slugs():
    def name(subject, topic="abc_DEF-123"):
        thread = {"group_key": DEV_KEY, "topic_id": topic, "subject": subject,
                  "created_at": "2024-01-08T09:00:00Z", "messages": []}  # fmt: skip
        return export_filename(thread, set())

    assert (
        name("[ANNOUNCE] Kubernetes v1.30 released!") == "2024-01-08-kubernetes-v1-30-released.md"
    )
    assert name("CON") == "2024-01-08-con.md"
    assert name("../../etc/passwd") == "2024-01-08-etc-passwd.md"
    assert name("Überprüfung der Richtlinien") == "2024-01-08-uberprufung-der-richtlinien.md"
    assert name("版本发布 v2.0") == "2024-01-08-版本发布-v2-0.md"
    assert name("!!!") == "2024-01-08-thread.md"
    long = name("word " * 100)
    assert long.startswith("2024-01-08-word-word-") and len(long) <= 11 + 80 + 3
    assert not long[:-3].endswith("-")


def test_same_date_and_subject_get_distinct_names_whatever_the_order():
    def thread(topic):
        return {"group_key": DEV_KEY, "topic_id": topic, "subject": "Weekly",
                "created_at": "2024-01-08T09:00:00Z", "messages": []}  # fmt: skip

    taken: set[str] = set()
    a = export_filename(thread("AAAAAAAAAAA"), taken)
    b = export_filename(thread("BBBBBBBBBBB"), taken)
    assert (a, b) == ("2024-01-08-weekly.md", "2024-01-08-weekly-bbbbbbbbbbb.md")
    assert taken == {a, b}


def test_reexport_leaves_a_file_of_another_thread_alone(made, tmp_path):
    save(made, DEV, "AAAAAAAAAAA", "Weekly")
    save(made, DEV, "BBBBBBBBBBB", "Weekly", at=T0 + timedelta(hours=2))
    out = tmp_path / "out"
    out.mkdir()
    (out / "2024-01-08-weekly.md").write_text("my own post\n")
    written = export_threads(made, [(DEV_KEY, "AAAAAAAAAAA"), (DEV_KEY, "BBBBBBBBBBB")], out)
    assert [p.name for p in written] == [
        "2024-01-08-weekly-aaaaaaaaaaa.md",
        "2024-01-08-weekly-bbbbbbbbbbb.md",
    ]
    assert (out / "2024-01-08-weekly.md").read_text() == "my own post\n"
    again = export_threads(made, [(DEV_KEY, "BBBBBBBBBBB")], out)
    assert again == written[1:]
    assert len(list(out.iterdir())) == 3


def test_front_matter_strings_survive_any_subject(made):
    yaml = pytest.importorskip("yaml")
    subjects = [
        'Re: [dev] "quoted" \\ back: slash # not a comment',
        "new\nline: injected\n---",
        "\u2028line separator\u2029 and \x85 NEL \ufeff BOM \x7f DEL",
        "{{ site.title }} {% raw %} & *star* @at `tick` | pipe > gt",
        "",
    ]
    for n, subject in enumerate(subjects):
        topic = f"SSSSSSSSSS{n}"
        save(made, DEV, topic, subject, author=subject or "Ann")
        thread = made.get_thread(DEV_KEY, topic)
        block = thread_to_markdown(thread).split("---\n")[1]
        parsed = yaml.safe_load(block)
        assert parsed == strict_front_matter(block)
        title = parsed["title"]
        assert "\n" not in title and title == " ".join(title.split())
        expected_title = " ".join(
            "".join(" " if c in "\n\u2028\u2029\x85\ufeff\x7f" else c for c in subject).split()
        )
        if subject.startswith("Re: [dev]"):
            expected_title = expected_title.replace("[dev] ", "")
        # Theme-printed strings keep HTML and Markdown syntax out with full-width
        # look-alikes (see test_page_text...), which fold back under NFKC.
        assert not set('<>"|*`') & set(title)
        assert nfkc(title) == nfkc(expected_title or "(no subject)")
        assert list(parsed) == [
            "layout", "title", "date", "author", "description", "groups", "source",
            "message_count", "tags",
        ]  # fmt: skip


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def test_page_text_is_inert_and_folds_back_to_the_text():
    hostile = 'Mallory <img src=x onerror="alert(1)"> &lt;b&gt; a | b *c* `d` __init__.py'
    shown = page_text(hostile)
    assert shown == (
        "Mallory ＜img src=x onerror=＂alert(1)＂＞ ＆lt;b＆gt; a ｜ b ＊c＊ ｀d｀ ＿＿init＿＿.py"
    )
    assert nfkc(shown) == hostile
    # What needs no disguise stays exactly as typed.
    for plain in ("Q&A and R&D", "snake_case names", "Dana O'Brien", "v1.2 — café"):
        assert page_text(plain) == plain


def strict_front_matter(block: str) -> dict:
    """A reader that accepts only what the export should write: ``key: <JSON>`` lines
    (the date excepted), so a value spilling onto a second line fails loudly."""
    fields = {}
    for line in block.rstrip("\n").split("\n"):
        key, sep, value = line.partition(": ")
        assert sep and re.fullmatch(r"[a-z_]+", key), line
        if key == "date":
            fields[key] = datetime.fromisoformat(value)
        else:
            fields[key] = json.loads(value)
    return fields


def test_yaml_string_escapes_what_yaml_would_read_as_a_line_break():
    assert yaml_string('a "b" \\ c') == '"a \\"b\\" \\\\ c"'
    assert yaml_string("x\u2028y\x85z") == '"x\\u2028y\\u0085z"'
    assert yaml_string("tab\there") == '"tab\\there"'


def test_subject_tags():
    assert subject_tags("Re: [security] [ANNOUNCE] Go 1.22.1") == ["security", "announce"]
    assert subject_tags("Fix [not a tag]") == []
    assert subject_tags("[Demo  Announce] x") == ["demo announce"]


def test_front_matter_without_messages_or_title(made):
    save(made, OPS, "OOOOOOOOOOO", "[ops] Maintenance window")
    thread = made.get_thread("ops@example.org", "OOOOOOOOOOO")
    fields = front_matter(thread)
    assert fields["title"] == "Maintenance window"
    assert fields["tags"] == ["ops"]  # the list tag and the group name are the same
    assert fields["date"] == T0


def test_render_thread_text_strips_terminal_escapes(made):
    save(made, DEV, "EEEEEEEEEEE", "Alert\x1b]0;pwned\x07 now", author="Eve\x1b[2J",
         body="<div>line one\x1b[31m</div><div>two</div>")  # fmt: skip
    text = render_thread_text(made.get_thread(DEV_KEY, "EEEEEEEEEEE"))
    assert "\x1b" not in text and "\x07" not in text
    # whole sequences go, not only their ESC: no "]0;pwned" or "[2J" debris
    assert text.startswith("Alert now\n")
    assert "[1/1] Eve <ann...@example.org> · 2024-01-08 09:00 UTC" in text
    assert "line one\ntwo" in text


def test_attachments_and_masked_addresses_in_markdown_and_json(made):
    files = (Attachment("https://groups.google.com/group/dev/attach/1/a%20b.pdf", "a b.pdf"),
             Attachment("javascript:alert(1)", "evil.txt"))  # fmt: skip
    save(made, DEV, "AAAAAAAAAAA", "Files", attachments=files, author="")
    thread = made.get_thread(DEV_KEY, "AAAAAAAAAAA")
    document = thread_to_markdown(thread, first_only=True)
    assert "- [a b.pdf](https://groups.google.com/group/dev/attach/1/a%20b.pdf)" in document
    assert "- evil.txt\n" in document and "javascript" not in document
    assert 'author: "ann...@example.org"' in document  # masked, as Google showed it
    data = thread_to_json(thread)
    assert data["messages"][0]["masked_address"] == "ann...@example.org"
    assert data["messages"][0]["attachments"][1]["url"] == "javascript:alert(1)"  # data, not a link


# --- the import boundary ------------------------------------------------------------------


def test_show_and_export_do_not_import_the_http_stack(made, tmp_path):
    save(made, DEV, "AAAAAAAAAAA", "Boundary", body="<div><b>bold</b></div>")
    made.close()
    script = f"""
import io, sys
from archive.db import Archive
from archive.export import export_threads, render_thread_text, resolve_thread, select_threads
with Archive({str(tmp_path / "made.db")!r}, create=False) as archive:
    key = resolve_thread(archive, "AAAAAAAAAAA")
    render_thread_text(archive.get_thread(*key))
    assert "bs4" not in sys.modules and "markdownify" not in sys.modules, "show needs no HTML"
    keys = select_threads(archive, group="dev", query="boundary", since="2024-01-01")
    export_threads(archive, keys, stream=io.StringIO())
for name in ("httpx", "scraper.http", "scraper.crawl", "tenacity"):
    assert name not in sys.modules, name
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert result.stdout.strip() == "ok", result.stderr


def test_messages_deleted_upstream_are_kept_in_json_marked_in_show_and_not_published(made):
    def message(mid: str, minutes: int, text: str) -> Message:
        return Message(
            mid, "DDDDDDDDDDD", "Ann", T0 + timedelta(minutes=minutes), "Spam?",
            f"<div>{text}</div>",
        )  # fmt: skip

    first, spam = message("mAAAAAAAAAAA", 0, "Real post."), message("mBBBBBBBBBBB", 5, "Buy!")
    made.save_thread(Thread(DEV, "DDDDDDDDDDD", "Spam?", (first, spam)), seen_at=T0)
    made.save_thread(Thread(DEV, "DDDDDDDDDDD", "Spam?", (first,)), seen_at=T0 + timedelta(1))
    thread = made.get_thread(DEV_KEY, "DDDDDDDDDDD")
    assert "Buy!" not in thread_to_markdown(thread)
    assert "Real post." in thread_to_markdown(thread)
    assert "\n[2/2] Ann · 2024-01-08 09:05 UTC · deleted upstream\n\nBuy!\n" in (
        render_thread_text(thread)
    )
    deleted = thread_to_json(thread)["messages"][1]
    assert deleted["missing_since"] == "2024-01-09T09:00:00Z"
    assert deleted["body_markdown"] == "Buy!"


# --- exporting again ---------------------------------------------------------------------


def test_reexport_writes_only_what_changed(made, tmp_path):
    save(made, DEV, "AAAAAAAAAAA", "Weekly")
    save(made, DEV, "BBBBBBBBBBB", "Release", at=T0 + timedelta(days=1))
    keys = [(DEV_KEY, "AAAAAAAAAAA"), (DEV_KEY, "BBBBBBBBBBB")]
    out = tmp_path / "out"
    lines: list[str] = []
    first = export_threads(made, keys, out, log=lines.append)
    assert lines == [f"Exported 2 threads to {out}: 2 written, 0 unchanged, 0 renamed"]
    before = {p.name: os.stat(p) for p in first}

    lines.clear()
    save(made, DEV, "BBBBBBBBBBB", "Release", at=T0 + timedelta(days=1), body="<p>New.</p>")
    again = export_threads(made, keys, out, log=lines.append)
    assert again == first  # every thread's file is listed, written or not
    assert lines == [f"Exported 2 threads to {out}: 1 written, 1 unchanged, 0 renamed"]
    after = {p.name: os.stat(p) for p in again}
    unchanged, changed = (p.name for p in first)
    # Not even replaced by an identical copy: same inode, same modification time.
    assert (after[unchanged].st_ino, after[unchanged].st_mtime_ns) == (
        before[unchanged].st_ino,
        before[unchanged].st_mtime_ns,
    )
    assert after[changed].st_ino != before[changed].st_ino
    assert "New." in (out / changed).read_text(encoding="utf-8")


def test_reexport_after_a_date_correction_renames_the_old_file(made, tmp_path):
    """A corrected thread date (the archive once took a thread's last reply for its
    start) changes the file name: the old file is renamed, never left beside it."""
    save(made, DEV, "AAAAAAAAAAA", "Weekly", at=T0 + timedelta(days=3))
    save(made, DEV, "BBBBBBBBBBB", "Other", at=T0 + timedelta(days=3))
    out = tmp_path / "out"
    [old, other] = export_threads(made, [(DEV_KEY, "AAAAAAAAAAA"), (DEV_KEY, "BBBBBBBBBBB")], out)
    assert old.name == "2024-01-11-weekly.md"
    (out / "2024-01-08-weekly.md.bak").write_text("not an export\n")
    with made._write() as conn:  # what a date repair does to an existing archive
        conn.execute(
            "UPDATE threads SET created_at = '2024-01-08T09:00:00Z' WHERE topic_id = ?",
            ("AAAAAAAAAAA",),
        )
    lines: list[str] = []
    [new, same] = export_threads(
        made, [(DEV_KEY, "AAAAAAAAAAA"), (DEV_KEY, "BBBBBBBBBBB")], out, log=lines.append
    )
    assert new.name == "2024-01-08-weekly.md" and same == other
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [new.name, other.name, "2024-01-08-weekly.md.bak"]
    )
    assert "date: 2024-01-08T09:00:00+00:00" in new.read_text(encoding="utf-8")
    assert lines == [
        "Renamed 2024-01-11-weekly.md to 2024-01-08-weekly.md:"
        " the thread's date or subject changed",
        f"Exported 2 threads to {out}: 1 written, 1 unchanged, 1 renamed",
    ]
    # Through the command: the rename is said on stderr, the file list is on stdout.
    with made._write() as conn:
        conn.execute(
            "UPDATE threads SET created_at = '2024-01-09T09:00:00Z' WHERE topic_id = ?",
            ("AAAAAAAAAAA",),
        )
    result = CliRunner().invoke(
        cli, ["export", "AAAAAAAAAAA", "--out", str(out), "--db", str(made.path)]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == str(out.resolve() / "2024-01-09-weekly.md") + "\n"
    assert "Renamed 2024-01-08-weekly.md to 2024-01-09-weekly.md" in result.stderr
    assert not (out / "2024-01-08-weekly.md").exists()


def test_a_cross_post_is_exported_once_under_the_group_archived_first(synced, db, tmp_path):
    release = synced[1]["release"]
    out = tmp_path / "all"
    result = run("export", "--until", "2024-01-09", "--out", str(out), db=db)
    assert result.exit_code == 0, result.output
    [path] = [Path(line) for line in result.stdout.splitlines()]
    document = path.read_text(encoding="utf-8")
    assert f'source: "{thread_url(release)}"' in document  # demo-announce was synced first
    assert f'groups: ["{ANN_KEY}", "{DEV_KEY}"]' in document
    assert f"Also posted to {DEV_KEY}." in document
    # The group asked for wins.
    with Archive(synced[0], create=False) as archive:
        [key] = select_threads(archive, group="dev", until="2024-01-08")
        assert key[0] == DEV_KEY
        dev_url = archive.get_thread(*key)["url"]
        assert select_threads(archive, [dev_url, thread_url(release)]) == [key]
        assert select_threads(archive, [thread_url(release), dev_url]) == [(ANN_KEY, release.id)]


def test_a_cross_post_exported_under_another_group_later_stays_one_file(synced, db, tmp_path):
    """A site exported group by group into one folder: the announcement posted to both
    groups is one post, whichever group exported it last, and says where it was."""
    release = synced[1]["release"]
    out = tmp_path / "site"
    first = run("export", "--group", "demo-announce", "--until", "2024-01-09", "--out", str(out),
                db=db)  # fmt: skip
    assert first.exit_code == 0, first.output
    [announced] = [Path(line) for line in first.stdout.splitlines()]
    with Archive(synced[0], create=False) as archive:
        [key] = select_threads(archive, group="dev", until="2024-01-09")
        dev_url = archive.get_thread(*key)["url"]
    assert dev_url != thread_url(release)

    second = run("export", "--group", "dev", "--until", "2024-01-09", "--out", str(out), db=db)
    assert second.exit_code == 0, second.output
    [path] = [Path(line) for line in second.stdout.splitlines()]
    assert [p.name for p in out.iterdir()] == [path.name]  # not two posts of one message
    document = path.read_text(encoding="utf-8")
    assert f'source: "{dev_url}"' in document
    assert f"Also posted to {ANN_KEY}." in document
    # Both groups' subjects make the same name, so the file is rewritten in place (a
    # site keeps its URL); a name that differs is a rename, said on stderr.
    assert path.name == announced.name
    assert "1 written, 0 unchanged, 0 renamed" in second.stderr

    (out / path.name).rename(out / "2024-01-08-an-older-name.md")
    third = run("export", "--group", "demo-announce", "--until", "2024-01-09", "--out", str(out),
                db=db)  # fmt: skip
    assert third.exit_code == 0, third.output
    assert [p.name for p in out.iterdir()] == [announced.name]
    assert f'source: "{thread_url(release)}"' in announced.read_text(encoding="utf-8")
    assert (
        f"Renamed 2024-01-08-an-older-name.md to {announced.name}: the same cross-post, now"
        f" exported under {ANN_KEY}"
    ) in third.stderr
    # Exported again as it is: nothing is written.
    fourth = run("export", "--group", "demo-announce", "--until", "2024-01-09", "--out", str(out),
                 db=db)  # fmt: skip
    assert "0 written, 1 unchanged, 0 renamed" in fourth.stderr


def test_same_subject_on_neighbouring_days_gets_distinct_slugs(made, tmp_path):
    """A site in another time zone may date both on one day: Jekyll would build one."""
    save(made, DEV, "AAAAAAAAAAA", "Daily report", at=datetime(2024, 1, 8, 23, tzinfo=UTC))
    save(made, DEV, "BBBBBBBBBBB", "Daily report", at=datetime(2024, 1, 9, 1, tzinfo=UTC))
    save(made, DEV, "CCCCCCCCCCC", "Daily report", at=datetime(2024, 1, 11, 1, tzinfo=UTC))
    keys = select_threads(made, group="dev")
    written = export_threads(made, keys, tmp_path / "out")
    assert [p.name for p in written] == [
        "2024-01-08-daily-report.md",
        "2024-01-09-daily-report-bbbbbbbbbbb.md",
        "2024-01-11-daily-report.md",  # two days apart: no time zone brings them together
    ]
    # The feed links by the names the export gives.
    assert site_names(made, [DEV_KEY]) == {
        key: path.name for key, path in zip(keys, written, strict=True)
    }
