import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlite_utils

import archive.db as db_module
from archive.db import (
    MIGRATION_NAMES,
    MIGRATIONS,
    SCHEMA_VERSION,
    Archive,
    SaveResult,
    ThreadState,
    parse_utc,
    utc_iso,
)
from scraper.errors import EXIT_DATABASE, ArchiveError, ArchiveLocked
from scraper.models import Attachment, Group, GroupRef, Message, Thread, Topic

T0 = datetime(2024, 3, 4, 12, 0, tzinfo=UTC)
DEV = Group(GroupRef("dev", "example.org"), "gid-dev", "dev@example.org", "Dev list", 12)
ANNOUNCE = Group(
    GroupRef("demo-announce"), "gid-ann", "demo-announce@googlegroups.com", "Demo announcements"
)
TABLES = ("groups", "threads", "messages", "postings", "attachments", "runs")


def footer(group: Group) -> str:
    return (
        "-- <br />You received this message because you are subscribed to the Google Groups "
        f'"{group.title}" group.<br />To unsubscribe from this group and stop receiving emails '
        f'from it, send an email to <a href="mailto:{group.ref.name}+unsubscribe@'
        f'googlegroups.com">...</a>.<br />To view this discussion visit <a href="https://groups.'
        f'google.com/d/msgid/{group.ref.name}/x">...</a>.<br />'
    )


def message(
    mid: str,
    *,
    topic: str = "topic1",
    minutes: float = 0,
    author: str = "Ann Example",
    subject: str = "Release freeze",
    body: str = "The release freeze starts on Monday.",
    group: Group = DEV,
    masked: str | None = "ann...@example.org",
    attachments: tuple[Attachment, ...] = (),
    updated: datetime | None = None,
) -> Message:
    return Message(
        id=mid,
        topic_id=topic,
        author=author,
        posted_at=T0 + timedelta(minutes=minutes),
        subject=subject,
        body_html=f'<div dir="ltr">{body}</div>\n{footer(group)}',
        masked_address=masked,
        attachments=attachments,
        updated_at=updated,
    )


def thread(
    group: Group,
    messages: list[Message],
    *,
    topic: str = "topic1",
    expected: int | None = None,
    subject: str = "Release freeze",
) -> Thread:
    return Thread(group, topic, subject, tuple(messages), expected)


def three_messages(group: Group = DEV, topic: str = "topic1") -> list[Message]:
    return [
        message("msgAAAAAAAAA", topic=topic, group=group, body="The freeze starts on Monday."),
        message(
            "msgBBBBBBBBB",
            topic=topic,
            group=group,
            minutes=30,
            author="Bob Builder",
            masked="bob...@example.com",
            subject="Re: Release freeze",
            body="Does it include docs?",
            attachments=(Attachment("https://example.org/a1", "plan.pdf", "application/pdf"),),
        ),
        message(
            "msgCCCCCCCCC",
            topic=topic,
            group=group,
            minutes=90,
            subject="Re: Release freeze",
            body="Yes, docs <b>too</b>.",
            updated=T0 + timedelta(minutes=95),
        ),
    ]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "archive.db"


@pytest.fixture
def archive(path: Path):
    with Archive(path) as opened:
        yield opened


def dump(archive: Archive) -> dict[str, list[tuple]]:
    """Every row of every table, plus what full-text search sees."""
    conn = archive.db.conn
    state = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in TABLES}
    state["fts"] = conn.execute(
        "SELECT rowid, subject, author, masked_address, body_text FROM messages_fts ORDER BY rowid"
    ).fetchall()
    return state


def counts(archive: Archive) -> dict[str, int]:
    conn = archive.db.conn
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}


def search(archive: Archive, query: str) -> list[int]:
    return [
        row[0]
        for row in archive.db.conn.execute(
            "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid", (query,)
        )
    ]


def assert_fts_consistent(archive: Archive) -> None:
    conn = archive.db.conn
    conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
    # rank = 1 also compares the index with the content it was built from.
    conn.execute("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)")


# --- times ---------------------------------------------------------------------


def test_utc_iso_has_one_sortable_format():
    eastern = timezone(timedelta(hours=-5))
    assert utc_iso(datetime(2024, 1, 2, 3, 4, 5, 999_999, tzinfo=UTC)) == "2024-01-02T03:04:05Z"
    assert utc_iso(datetime(2024, 1, 1, 22, 0, tzinfo=eastern)) == "2024-01-02T03:00:00Z"
    assert parse_utc("2024-01-02T03:04:05Z") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    times = [T0 + timedelta(seconds=s) for s in (5, 86_400 * 40, 9, 3_600)]
    assert sorted(utc_iso(t) for t in times) == [utc_iso(t) for t in sorted(times)]
    with pytest.raises(ValueError, match="naive"):
        utc_iso(datetime(2024, 1, 2))


# --- saving ----------------------------------------------------------------------


def test_thread_round_trip(archive):
    topic = Topic(
        "topic1",
        "Release freeze",
        created_at=T0,
        last_activity_at=T0 + timedelta(minutes=95),
        message_count=3,
    )
    result = archive.save_thread(thread(DEV, three_messages(), expected=3), topic, seen_at=T0)
    assert result == SaveResult(
        new_thread=True, new_messages=3, changed_messages=0, new_postings=3, marked_missing=0
    )

    saved = archive.get_thread("dev@example.org", "topic1")
    assert saved["subject"] == "Release freeze"
    assert saved["url"] == "https://groups.google.com/a/example.org/g/dev/c/topic1"
    assert saved["created_at"] == "2024-03-04T12:00:00Z"
    assert saved["last_activity_at"] == "2024-03-04T13:35:00Z"
    assert (saved["message_count"], saved["messages_seen"], saved["complete"]) == (3, 3, True)
    assert saved["group"]["title"] == "Dev list"
    first, second, third = saved["messages"]
    assert [m["google_message_id"] for m in saved["messages"]] == [
        "msgAAAAAAAAA",
        "msgBBBBBBBBB",
        "msgCCCCCCCCC",
    ]
    assert [m["position"] for m in saved["messages"]] == [0, 1, 2]
    assert first["url"] == ("https://groups.google.com/a/example.org/g/dev/c/topic1/m/msgAAAAAAAAA")
    assert first["body_text"] == "The freeze starts on Monday."
    assert "You received this message" in first["body_html"]  # kept as received
    assert second["author"] == "Bob Builder"
    assert second["masked_address"] == "bob...@example.com"
    assert second["posted_at"] == "2024-03-04T12:30:00Z"
    assert second["attachments"] == [
        {"filename": "plan.pdf", "mime_type": "application/pdf", "url": "https://example.org/a1"}
    ]
    assert third["body_text"] == "Yes, docs too."
    assert third["updated_at"] == "2024-03-04T13:35:00Z"
    assert third["groups"] == ["dev@example.org"]
    assert third["missing_since"] is None

    assert archive.thread_state("dev@example.org", "topic1") == ThreadState(
        last_activity_at=T0 + timedelta(minutes=95),
        message_count=3,
        messages_seen=3,
        complete=True,
        fetched_at=T0,
    )
    assert archive.thread_state("dev@example.org", "nope") is None
    assert archive.get_thread("other@example.org", "topic1") is None
    assert archive.get_thread(None, "topic1")["id"] == saved["id"]
    assert_fts_consistent(archive)


def test_resaving_a_thread_changes_nothing_but_last_seen(archive):
    archive.save_thread(thread(DEV, three_messages()), seen_at=T0)
    before = dump(archive)
    later = T0 + timedelta(days=1)

    result = archive.save_thread(thread(DEV, three_messages()), seen_at=later)

    assert result == SaveResult(False, 0, 0, 0, 0)
    after = dump(archive)
    assert {t: len(rows) for t, rows in after.items()} == {
        t: len(rows) for t, rows in before.items()
    }
    assert [r[0] for r in after["messages"]] == [r[0] for r in before["messages"]]
    assert [r[0] for r in after["postings"]] == [r[0] for r in before["postings"]]
    assert after["fts"] == before["fts"]
    saved = archive.get_thread("dev@example.org", "topic1")
    assert {m["last_seen_at"] for m in saved["messages"]} == {utc_iso(later)}
    assert {m["first_seen_at"] for m in saved["messages"]} == {utc_iso(T0)}
    assert archive.thread_state("dev@example.org", "topic1").fetched_at == later
    assert_fts_consistent(archive)


def test_edited_body_is_updated_and_reindexed(archive):
    archive.save_thread(thread(DEV, three_messages()), seen_at=T0)
    [freeze_id] = search(archive, "monday")
    edited = three_messages()
    edited[0] = replace(
        edited[0],
        body_html=edited[0].body_html.replace("starts on Monday", "thaws on Wednesday"),
        updated_at=T0 + timedelta(hours=3),
    )

    result = archive.save_thread(thread(DEV, edited), seen_at=T0 + timedelta(hours=4))

    assert (result.new_messages, result.changed_messages, result.new_postings) == (0, 1, 0)
    assert search(archive, "monday") == []
    assert search(archive, "wednesday") == [freeze_id]  # same row, updated in place
    first = archive.get_thread("dev@example.org", "topic1")["messages"][0]
    assert first["body_text"] == "The freeze thaws on Wednesday."
    assert first["updated_at"] == "2024-03-04T15:00:00Z"
    assert counts(archive)["messages"] == 3
    assert_fts_consistent(archive)
    again = archive.save_thread(thread(DEV, edited), seen_at=T0 + timedelta(hours=5))
    assert again.changed_messages == 0


def test_html_that_differs_only_in_googles_per_fetch_stamps_is_no_change(archive):
    def fetched(stamp: str, updated: datetime | None = None) -> Thread:
        link = (
            '<a href="https://example.org/notes" data-saferedirecturl="https://www.google.com/'
            f'url?q=https://example.org/notes&amp;ust={stamp}">the notes</a>'
        )
        return thread(DEV, [message("msgAAAAAAAAA", body=f"Read {link}.", updated=updated)])

    archive.save_thread(fetched("1787196303290000"), seen_at=T0)
    stored = archive.get_thread("dev@example.org", "topic1")["messages"][0]["body_html"]

    result = archive.save_thread(fetched("1787282703290000"), seen_at=T0 + timedelta(days=1))

    assert result.changed_messages == 0
    assert archive.get_thread("dev@example.org", "topic1")["messages"][0]["body_html"] == stored
    # Metadata that changes with the same text is a change.
    edited_at = T0 + timedelta(hours=2)
    result = archive.save_thread(fetched("1787282703290001", edited_at), seen_at=T0)
    assert result.changed_messages == 1
    saved = archive.get_thread("dev@example.org", "topic1")["messages"][0]
    assert saved["updated_at"] == utc_iso(edited_at)
    assert saved["body_text"] == "Read the notes."


def test_changed_attachments_count_as_a_change(archive):
    archive.save_thread(thread(DEV, three_messages()), seen_at=T0)
    changed = three_messages()
    changed[1] = replace(changed[1], attachments=(Attachment("https://e.org/a2", "plan-v2.pdf"),))
    result = archive.save_thread(thread(DEV, changed), seen_at=T0 + timedelta(hours=1))
    assert result.changed_messages == 1
    second = archive.get_thread("dev@example.org", "topic1")["messages"][1]
    assert [a["filename"] for a in second["attachments"]] == ["plan-v2.pdf"]
    assert counts(archive)["attachments"] == 1


def test_author_search_matches_name_and_masked_address(archive):
    archive.save_thread(
        thread(DEV, [message("m1", author="Jérémy Dupont", masked="jer...@example.org")]),
        seen_at=T0,
    )
    # The name and the masked address are two columns of the index (those of the
    # messages table); a column set searches both, as from: does.
    [row] = search(archive, "author: jeremy")
    assert search(archive, "masked_address: jer") == [row]
    assert search(archive, "{author masked_address}: jer") == [row]
    assert search(archive, "{author masked_address}: dupont AND subject: freeze") == [row]
    assert search(archive, "{author masked_address}: monday") == []


# --- deduplication ------------------------------------------------------------------


def cross_post(group: Group, mid: str, minutes: float, topic: str) -> Thread:
    tag = f"[{group.ref.name}] "
    body = "Version 1.2 is out.<br>   Upgrade   soon."
    return thread(
        group,
        [message(mid, topic=topic, group=group, minutes=minutes, subject=tag + "v1.2", body=body)],
        topic=topic,
        subject=tag + "v1.2",
    )


def test_cross_post_is_one_message_with_a_posting_per_group(archive):
    first = archive.save_thread(cross_post(DEV, "devMsg000001", 0, "devTopic"), seen_at=T0)
    second = archive.save_thread(cross_post(ANNOUNCE, "annMsg000001", 2, "annTopic"), seen_at=T0)

    assert (first.new_messages, first.new_postings) == (1, 1)
    assert (second.new_messages, second.new_postings) == (0, 1)
    assert counts(archive)["messages"] == 1
    assert counts(archive)["postings"] == 2
    dev_copy = archive.get_thread("dev@example.org", "devTopic")["messages"][0]
    ann_copy = archive.get_thread("demo-announce@googlegroups.com", "annTopic")["messages"][0]
    assert dev_copy["id"] == ann_copy["id"]
    assert ann_copy["url"].endswith("/g/demo-announce/c/annTopic/m/annMsg000001")
    assert dev_copy["groups"] == ["demo-announce@googlegroups.com", "dev@example.org"]
    assert len(search(archive, "upgrade")) == 1
    groups = {g["key"]: g["messages"] for g in archive.list_groups()}
    assert groups == {"demo-announce@googlegroups.com": 1, "dev@example.org": 1}

    # Re-syncing both groups must not flip the shared row back and forth.
    for group, mid, minutes, topic in [
        (DEV, "devMsg000001", 0, "devTopic"),
        (ANNOUNCE, "annMsg000001", 2, "annTopic"),
    ]:
        again = archive.save_thread(cross_post(group, mid, minutes, topic), seen_at=T0)
        assert again == SaveResult(False, 0, 0, 0, 0)
    assert_fts_consistent(archive)


@pytest.mark.parametrize(
    ("minutes_apart", "messages"),
    [(59, 1), (61, 2), (60 * 24 * 7, 2)],
    ids=["within-an-hour", "just-over-an-hour", "a-week-later"],
)
def test_same_text_is_one_message_only_within_an_hour(archive, minutes_apart, messages):
    archive.save_thread(cross_post(DEV, "devMsg000001", 0, "devTopic"), seen_at=T0)
    archive.save_thread(cross_post(ANNOUNCE, "annMsg000001", minutes_apart, "annTopic"), seen_at=T0)
    assert counts(archive)["messages"] == messages
    assert counts(archive)["postings"] == 2


def test_weekly_reminder_in_the_same_group_is_a_new_message_each_week(archive):
    for week in range(3):
        reminder = message(
            f"remind{week:06d}",
            topic=f"weekly{week}",
            minutes=week * 60 * 24 * 7,
            subject="[dev] Weekly meeting reminder",
            body="The weekly meeting is on Thursday.",
        )
        result = archive.save_thread(
            thread(DEV, [reminder], topic=f"weekly{week}"), seen_at=T0 + timedelta(weeks=week)
        )
        assert result.new_messages == 1
    assert counts(archive)["messages"] == 3
    assert len(search(archive, "thursday")) == 3


def test_two_uploads_to_one_group_stay_two_messages(archive):
    # Google gave them different ids in the same group: they are two messages upstream.
    twins = [message("twin00000001"), message("twin00000002", minutes=1)]
    archive.save_thread(thread(DEV, twins), seen_at=T0)
    assert counts(archive)["messages"] == 2


def test_an_edit_in_one_group_splits_a_cross_post_and_a_matching_edit_rejoins_it(archive):
    def post(group, mid, topic, minutes, body):
        subject = f"[{group.ref.name}] Release freeze"
        copy = message(mid, topic=topic, group=group, minutes=minutes, body=body, subject=subject)
        return thread(group, [copy], topic=topic)

    archive.save_thread(post(DEV, "devMsg000001", "devTopic", 0, "Old text."), seen_at=T0)
    archive.save_thread(post(ANNOUNCE, "annMsg000001", "annTopic", 1, "Old text."), seen_at=T0)
    assert counts(archive)["messages"] == 1

    edited = archive.save_thread(post(DEV, "devMsg000001", "devTopic", 0, "New text."), seen_at=T0)
    assert edited.changed_messages == 1
    assert counts(archive)["messages"] == 2  # the other group still shows the old text
    unchanged = archive.save_thread(
        post(ANNOUNCE, "annMsg000001", "annTopic", 1, "Old text."), seen_at=T0
    )
    assert unchanged.changed_messages == 0

    archive.save_thread(post(ANNOUNCE, "annMsg000001", "annTopic", 1, "New text."), seen_at=T0)
    assert counts(archive)["messages"] == 1
    dev_copy = archive.get_thread("dev@example.org", "devTopic")["messages"][0]
    ann_copy = archive.get_thread("demo-announce@googlegroups.com", "annTopic")["messages"][0]
    assert dev_copy["id"] == ann_copy["id"]
    assert dev_copy["body_text"] == "New text."
    assert search(archive, "old") == []
    assert_fts_consistent(archive)


# --- messages that disappear -----------------------------------------------------


def test_message_missing_from_a_complete_thread_is_marked_not_deleted(archive):
    archive.save_thread(thread(DEV, three_messages(), expected=3), seen_at=T0)
    later = T0 + timedelta(days=2)
    remaining = [m for m in three_messages() if m.id != "msgBBBBBBBBB"]

    result = archive.save_thread(thread(DEV, remaining, expected=2), seen_at=later)

    assert result.marked_missing == 1
    assert counts(archive)["messages"] == 3
    saved = archive.get_thread("dev@example.org", "topic1")
    by_id = {m["google_message_id"]: m for m in saved["messages"]}
    assert by_id["msgBBBBBBBBB"]["missing_since"] == utc_iso(later)
    assert by_id["msgBBBBBBBBB"]["body_text"] == "Does it include docs?"
    assert by_id["msgAAAAAAAAA"]["missing_since"] is None
    assert (saved["message_count"], saved["messages_seen"]) == (2, 2)
    assert search(archive, "docs")  # still searchable

    # Seen again while still gone: the first date it went missing is kept.
    archive.save_thread(thread(DEV, remaining, expected=2), seen_at=later + timedelta(days=1))
    saved = archive.get_thread("dev@example.org", "topic1")
    assert saved["messages"][1]["missing_since"] == utc_iso(later)

    # And when it comes back, it is present again.
    back = archive.save_thread(thread(DEV, three_messages(), expected=3), seen_at=later)
    assert back.new_messages == back.new_postings == back.marked_missing == 0
    saved = archive.get_thread("dev@example.org", "topic1")
    assert all(m["missing_since"] is None for m in saved["messages"])


def test_incomplete_thread_leaves_absent_messages_alone(archive):
    archive.save_thread(thread(DEV, three_messages(), expected=3), seen_at=T0)
    first_two = three_messages()[:2]

    result = archive.save_thread(thread(DEV, first_two, expected=3), seen_at=T0 + timedelta(days=1))

    assert result.marked_missing == 0
    saved = archive.get_thread("dev@example.org", "topic1")
    assert all(m["missing_since"] is None for m in saved["messages"])
    assert len(saved["messages"]) == 3
    assert (saved["messages_seen"], saved["complete"]) == (2, False)
    assert archive.thread_state("dev@example.org", "topic1").complete is False


def test_a_page_with_no_messages_marks_nothing_missing(archive):
    archive.save_thread(thread(DEV, three_messages()), seen_at=T0)
    archive.save_thread(thread(DEV, []), seen_at=T0 + timedelta(days=1))
    saved = archive.get_thread("dev@example.org", "topic1")
    assert all(m["missing_since"] is None for m in saved["messages"])


# --- atomicity ----------------------------------------------------------------------


def grown_and_edited() -> list[Message]:
    messages = three_messages()
    messages[0] = replace(messages[0], body_html="<p>Edited before the failure.</p>")
    return [
        *messages,
        message("msgDDDDDDDDD", minutes=200, body="Fourth"),
        message("msgEEEEEEEEE", minutes=300, body="Fifth"),
    ]


def test_a_failure_mid_save_leaves_the_previous_state(archive, monkeypatch):
    archive.save_thread(thread(DEV, three_messages()), seen_at=T0)
    before = dump(archive)
    real_content = db_module._content
    calls = []

    def failing_content(msg):
        calls.append(msg.id)
        if msg.id == "msgEEEEEEEEE":
            raise RuntimeError("disk on fire")
        return real_content(msg)

    monkeypatch.setattr(db_module, "_content", failing_content)
    with pytest.raises(RuntimeError, match="disk on fire"):
        archive.save_thread(thread(DEV, grown_and_edited()), seen_at=T0 + timedelta(days=1))

    assert "msgAAAAAAAAA" in calls and "msgDDDDDDDDD" in calls  # earlier steps did run
    assert dump(archive) == before
    assert_fts_consistent(archive)
    monkeypatch.setattr(db_module, "_content", real_content)
    result = archive.save_thread(thread(DEV, grown_and_edited()), seen_at=T0)
    assert (result.new_messages, result.changed_messages) == (2, 1)


def test_bad_message_data_mid_save_leaves_the_previous_state(archive):
    archive.save_thread(thread(DEV, three_messages()), seen_at=T0)
    before = dump(archive)
    messages = grown_and_edited()
    messages[-1] = replace(messages[-1], body_html=None)  # the insert itself fails

    with pytest.raises(sqlite3.IntegrityError, match="body_html"):
        archive.save_thread(thread(DEV, messages), seen_at=T0 + timedelta(days=1))

    assert dump(archive) == before
    assert_fts_consistent(archive)


def test_rows_per_statement_do_not_change_what_is_stored(tmp_path, monkeypatch):
    # A thread's new messages go in many to a statement: wherever the cuts fall (one
    # row a statement is how they once went in), and whatever comes between them (a
    # copy of a message of another group, an id twice in a thread, a known message,
    # an edit that gives a shared message a row of its own), every row is the same.
    def saves(archive: Archive) -> None:
        archive.save_thread(cross_post(ANNOUNCE, "annMsg000001", 0, "annTopic"), seen_at=T0)
        archive.save_thread(thread(DEV, three_messages()[:1]), seen_at=T0)
        tag = "[dev] v1.2"
        copy = cross_post(DEV, "devMsg000001", 1, "topic1").messages[0]
        copy = replace(copy, topic_id="topic1", subject=tag)
        grown = [*three_messages()[:2], copy, *grown_and_edited()[3:], three_messages()[2]]
        grown.insert(1, message("msgNEW000001", minutes=5, body="New before a known one."))
        grown.append(grown[-2])  # the same id twice
        archive.save_thread(thread(DEV, grown), seen_at=T0 + timedelta(days=1))
        edited = replace(copy, body_html="<p>Edited in dev alone.</p>")
        archive.save_thread(
            thread(DEV, [*grown[:3], edited, message("msgNEW000002", minutes=400)]),
            seen_at=T0 + timedelta(days=2),
        )
        long = [message(f"long{n:08d}", topic="long", minutes=n, body=f"{n}") for n in range(40)]
        archive.save_thread(thread(DEV, long, topic="long"), seen_at=T0)

    dumps = []
    for size in (1, 2, db_module.ROWS_PER_INSERT):
        monkeypatch.setattr(db_module, "ROWS_PER_INSERT", size)
        with Archive(tmp_path / f"{size}.db") as archive:
            saves(archive)
            assert_fts_consistent(archive)
            dumps.append(dump(archive))
    assert dumps[0]["attachments"] and len(dumps[0]["messages"]) == 49
    # The dev copy was the announcement's message until its edit split it off.
    to = {posting[5]: posting[1] for posting in dumps[0]["postings"]}
    assert (to["annMsg000001"], to["devMsg000001"]) == (1, 8)
    assert dumps[1] == dumps[0] and dumps[2] == dumps[0]


def test_a_naive_time_is_refused_before_anything_is_written(archive):
    messages = three_messages()
    messages[1] = replace(messages[1], posted_at=datetime(2024, 3, 5, 9, 0))
    with pytest.raises(ValueError, match="naive datetime"):
        archive.save_thread(thread(DEV, messages), seen_at=T0)
    assert counts(archive) == dict.fromkeys(TABLES, 0)


def test_a_locked_archive_raises_archive_locked_and_loses_nothing(path):
    with Archive(path) as first:
        first.save_thread(thread(DEV, three_messages()), seen_at=T0)
    other = sqlite3.connect(path)
    other.execute("BEGIN IMMEDIATE")
    try:
        with Archive(path, busy_timeout=0.05) as second:
            with pytest.raises(ArchiveLocked, match="locked"):
                second.save_thread(thread(DEV, grown_and_edited()), seen_at=T0)
    finally:
        other.rollback()
        other.close()
    with Archive(path) as third:
        assert counts(third)["messages"] == 3
        assert third.save_thread(thread(DEV, grown_and_edited()), seen_at=T0).new_messages == 2


# --- groups and runs -------------------------------------------------------------------


def test_save_group_keeps_first_sync_and_updates_the_rest(archive):
    archive.save_group(DEV, T0)
    archive.save_thread(thread(DEV, three_messages()), seen_at=T0)
    renamed = replace(DEV, title="Developers", total_topics=None)
    archive.save_group(renamed, T0 + timedelta(days=1))
    [group] = archive.list_groups()
    assert group["key"] == "dev@example.org"
    assert group["title"] == "Developers"
    assert group["total_topics"] == 12  # an unknown count does not erase the known one
    assert group["first_synced_at"] == utc_iso(T0)
    assert group["last_synced_at"] == utc_iso(T0 + timedelta(days=1))
    assert (group["threads"], group["messages"], group["missing"]) == (1, 3, 0)
    assert group["url"] == "https://groups.google.com/a/example.org/g/dev"


def test_runs_are_recorded(archive):
    run_id = archive.start_run(["dev@example.org"], T0)
    assert archive.list_runs()[0]["status"] == "running"
    archive.finish_run(
        run_id,
        status="partial",
        finished_at=T0 + timedelta(minutes=3),
        topics_seen=40,
        threads_fetched=5,
        messages_new=7,
        messages_changed=1,
        requests=9,
        errors=["demo-announce: rate limited"],
    )
    second = archive.start_run(["x@googlegroups.com"], T0 + timedelta(hours=1))
    runs = archive.list_runs(limit=5)
    assert [r["id"] for r in runs] == [second, run_id]
    done = runs[1]
    assert done["status"] == "partial"
    assert done["finished_at"] == "2024-03-04T12:03:00Z"
    assert done["groups"] == ["dev@example.org"]
    assert (done["topics_seen"], done["messages_new"], done["requests"]) == (40, 7, 9)
    assert done["errors"] == ["demo-announce: rate limited"]
    assert archive.list_runs(limit=1) == runs[:1]
    with pytest.raises(ValueError, match="status"):
        archive.finish_run(run_id, status="great", finished_at=T0)
    with pytest.raises(TypeError, match="bogus"):
        archive.finish_run(run_id, status="ok", finished_at=T0, bogus=1)


def test_list_threads_newest_activity_first(archive):
    archive.save_thread(thread(DEV, three_messages(topic="old"), topic="old"), seen_at=T0)
    newer = [message("newMsg000001", topic="new", minutes=600)]
    archive.save_thread(thread(DEV, newer, topic="new"), seen_at=T0)
    assert [t["topic_id"] for t in archive.list_threads("dev@example.org")] == ["new", "old"]
    assert archive.list_threads("nobody@example.org") == []
    [old] = archive.list_threads(topic_id="old")
    assert (old["group_key"], old["message_count"], old["complete"]) == ("dev@example.org", 3, True)
    assert len(archive.list_threads(limit=1)) == 1


# --- opening, migrations, bad files --------------------------------------------------------


def test_new_archive_uses_wal_and_foreign_keys(archive):
    conn = archive.db.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert archive.schema_version == SCHEMA_VERSION >= 2


def test_version_1_archive_is_upgraded_in_place_with_data_intact(path):
    old = sqlite_utils.Database(path)
    MIGRATIONS.apply(old, stop_before=MIGRATION_NAMES[1])
    assert [m.name for m in MIGRATIONS.applied(old)] == MIGRATION_NAMES[:1]
    old.execute(
        "INSERT INTO groups (key, name, domain, url) VALUES"
        " ('dev@example.org', 'dev', 'example.org', 'https://groups.google.com/a/example.org/g/dev')"
    )
    old.execute(
        "INSERT INTO threads (id, group_key, topic_id, subject, url, first_seen_at, fetched_at)"
        " VALUES (1, 'dev@example.org', 'topic1', 'Release freeze', 'u', '2024-03-04T12:00:00Z',"
        " '2024-03-04T12:00:00Z')"
    )
    old.execute(
        "INSERT INTO messages (id, subject, author, masked_address, posted_at, body_html,"
        " body_text, fingerprint, first_seen_at, last_seen_at) VALUES (1, 'Release freeze',"
        " 'Ann Example', 'ann...@example.org', '2024-03-04T12:00:00Z', '<p>Codename: zanzibar</p>',"
        " 'Codename: zanzibar', 'f', '2024-03-04T12:00:00Z', '2024-03-04T12:00:00Z')"
    )
    old.execute(
        "INSERT INTO postings (message_id, group_key, thread_id, topic_id, google_message_id,"
        " position, url, first_seen_at, last_seen_at) VALUES (1, 'dev@example.org', 1, 'topic1',"
        " 'msgAAAAAAAAA', 0, 'u', '2024-03-04T12:00:00Z', '2024-03-04T12:00:00Z')"
    )
    old.close()

    with Archive(path) as upgraded:
        assert upgraded.schema_version == SCHEMA_VERSION
        saved = upgraded.get_thread("dev@example.org", "topic1")
        assert saved["messages"][0]["body_text"] == "Codename: zanzibar"
        assert saved["messages"][0]["body_html"] == "<p>Codename: zanzibar</p>"
        stored = upgraded.db.conn.execute("SELECT body_html FROM messages").fetchone()[0]
        assert isinstance(stored, bytes)  # deflated by the upgrade
        assert search(upgraded, "zanzibar") == [1]
        assert search(upgraded, "author: ann") == [1]
        assert_fts_consistent(upgraded)
        indexes = {
            row[0]
            for row in upgraded.db.conn.execute("SELECT name FROM sqlite_master WHERE type='index'")
        }
        assert "messages_by_fingerprint" in indexes
        assert upgraded.db.conn.execute("SELECT * FROM message_date_blocks").fetchall() == [
            (0, 1, 1, "2024-03-04T12:00:00Z", "2024-03-04T12:00:00Z", 1)
        ]


def test_search_index_columns_and_rank_are_what_search_uses(archive):
    from archive.search import FTS_COLUMNS, WEIGHTS

    conn = archive.db.conn
    columns = [row[1] for row in conn.execute("PRAGMA table_info(messages_fts)")]
    assert tuple(columns) == FTS_COLUMNS
    assert set(columns) <= set(archive.db["messages"].columns_dict)  # its content table
    [(rank,)] = conn.execute("SELECT v FROM messages_fts_config WHERE k = 'rank'")
    assert rank == f"bm25({', '.join(str(w) for w in WEIGHTS)})"


def test_schema_6_search_index_is_rebuilt_on_the_messages_table(path):
    from datasette.utils import detect_fts

    from archive.search import WEIGHTS

    old = sqlite_utils.Database(path)
    MIGRATIONS.apply(old, stop_before="m007_messages_table_as_search_content")
    assert old["messages"].detect_fts() is None  # the index's content was a view
    old.execute(
        "INSERT INTO messages (id, subject, author, masked_address, posted_at, body_html,"
        " body_text, fingerprint, first_seen_at, last_seen_at) VALUES"
        " (1, 'Release freeze', 'Ann Example', 'ann...@example.org', '2024-03-04T12:00:00Z',"
        " '', 'Codename: zanzibar', 'f', '2024-03-04T12:00:00Z', '2024-03-04T12:00:00Z'),"
        " (2, 'Lunch', 'Bob', NULL, '2024-03-05T12:00:00Z',"
        " '', 'Soup', 'g', '2024-03-05T12:00:00Z', '2024-03-05T12:00:00Z')"
    )
    old.close()

    with Archive(path) as upgraded:
        conn = upgraded.db.conn
        assert upgraded.db["messages"].detect_fts() == "messages_fts"
        assert detect_fts(conn, "messages") == "messages_fts"
        assert upgraded.db["messages_fts_source"].exists() is False
        assert search(upgraded, "zanzibar") == [1]
        assert search(upgraded, "masked_address: ann") == [1]
        assert search(upgraded, "author: bob") == [2]
        assert_fts_consistent(upgraded)
        assert len(upgraded.search_index_segments()) == 1
        [(rank,)] = conn.execute("SELECT v FROM messages_fts_config WHERE k = 'rank'")
        assert rank == f"bm25({', '.join(str(w) for w in WEIGHTS)})"
        # the triggers follow the messages table's columns
        conn.execute("UPDATE messages SET masked_address = 'bob...@example.net' WHERE id = 2")
        assert search(upgraded, "masked_address: bob") == [2]
        conn.execute("DELETE FROM messages WHERE id = 1")
        assert search(upgraded, "zanzibar") == []
        assert_fts_consistent(upgraded)
        posts = conn.execute("SELECT * FROM posts").fetchall()
        assert posts == []  # no postings in this archive; the view reads them


def test_newer_archive_is_refused_untouched(path):
    with Archive(path) as archive:
        archive.save_thread(thread(DEV, three_messages()), seen_at=T0)
        archive.db.execute(
            "INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
            " VALUES ('listarchive', 'm999_from_the_future', '2030-01-01')"
        )
    original = path.read_bytes()

    with pytest.raises(ArchiveError) as caught:
        Archive(path)

    message = str(caught.value)
    assert "newer listarchive" in message
    assert f"(schema {SCHEMA_VERSION + 1} > {SCHEMA_VERSION})" in message
    assert caught.value.exit_code == EXIT_DATABASE
    assert path.read_bytes() == original


def test_a_file_that_is_not_sqlite_is_refused_untouched(path):
    original = b"From alice@example.org Mon Jan  1 00:00:00 2024\nSubject: not a database\n" * 50
    path.write_bytes(original)

    with pytest.raises(ArchiveError) as caught:
        Archive(path)

    assert "\n" not in str(caught.value)
    assert "not a" in str(caught.value)
    assert path.read_bytes() == original
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def corrupt_archive(path: Path) -> bytes:
    with Archive(path) as archive:
        for n in range(20):
            long = [
                message(f"m{n:02d}{i:09d}", topic=f"t{n}", minutes=i, body="word " * 400)
                for i in range(10)
            ]
            archive.save_thread(thread(DEV, long, topic=f"t{n}"), seen_at=T0)
    data = bytearray(path.read_bytes())
    assert len(data) > 40 * 4096
    return bytes(data)


def test_a_corrupt_schema_page_is_refused_untouched(path):
    data = bytearray(corrupt_archive(path))
    data[100:4096] = bytes(range(256)) * 15 + bytes(range(256))[:156]  # page 1 after the header
    path.write_bytes(data)

    with pytest.raises(ArchiveError) as caught:
        Archive(path)

    assert "corrupt" in str(caught.value) and "\n" not in str(caught.value)
    assert path.read_bytes() == bytes(data)


def test_corrupt_data_pages_raise_archive_error_on_read(path):
    data = bytearray(corrupt_archive(path))
    data[10 * 4096 : 30 * 4096] = b"\xff" * (20 * 4096)
    path.write_bytes(data)

    with pytest.raises(ArchiveError, match="corrupt"):
        with Archive(path) as archive:
            for n in range(20):
                archive.get_thread("dev@example.org", f"t{n}")
            archive.list_groups()
    assert path.read_bytes() == bytes(data)


def test_someone_elses_sqlite_database_is_refused_untouched(path):
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE recipes (name TEXT)")
    other.commit()
    other.close()
    original = path.read_bytes()

    with pytest.raises(ArchiveError, match="not a listarchive archive"):
        Archive(path)
    assert path.read_bytes() == original


def test_create_false_does_not_make_a_new_archive(path):
    with pytest.raises(ArchiveError, match="no archive at"):
        Archive(path, create=False)
    assert not path.exists()
    with Archive(path):
        pass
    with Archive(path, create=False) as reopened:
        assert reopened.list_groups() == []


def test_a_directory_is_not_an_archive(tmp_path):
    with pytest.raises(ArchiveError, match="directory"):
        Archive(tmp_path)


def test_body_html_is_stored_deflated_and_read_back_exactly(archive):
    body = "<div dir=ltr>" + "Ünïcode release notes, <b>bold</b> and a link. " * 200 + "</div>"
    messages = three_messages()
    messages[0] = replace(messages[0], body_html=body)
    archive.save_thread(thread(DEV, messages), seen_at=T0)

    stored = archive.db.conn.execute(
        "SELECT body_html FROM messages ORDER BY posted_at LIMIT 1"
    ).fetchone()[0]
    assert isinstance(stored, bytes) and len(stored) < len(body.encode()) / 5
    first = archive.get_thread("dev@example.org", messages[0].topic_id)["messages"][0]
    assert first["body_html"] == body
    # An unchanged re-save compares against the decoded HTML: nothing counts as changed.
    again = archive.save_thread(thread(DEV, messages), seen_at=T0)
    assert (again.new_messages, again.changed_messages) == (0, 0)


def test_new_archives_use_larger_pages(archive):
    from archive.db import PAGE_SIZE

    assert archive.db.conn.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE == 8192


# --- search index upkeep --------------------------------------------------------------


def save_threads(archive: Archive, count: int, *, start: int = 0, words: str = "") -> None:
    """``count`` one-message threads, each saved (so committed) on its own."""
    for n in range(start, start + count):
        mid = f"msg{n:09d}"
        body = f"Note {n} about the release {words}".strip()
        archive.save_thread(
            thread(DEV, [message(mid, topic=f"t{n}", minutes=n, body=body)], topic=f"t{n}"),
            seen_at=T0,
        )


def test_every_commit_adds_a_segment_and_a_merge_leaves_one(archive):
    save_threads(archive, 3)
    assert len(archive.search_index_segments()) == 3
    assert archive.search_index_merge_due()
    before = search(archive, "release")

    assert archive.merge_search_index() is True

    assert len(archive.search_index_segments()) == 1
    assert search(archive, "release") == before == [1, 2, 3]
    assert_fts_consistent(archive)
    # One segment: nothing left to merge, even when forced.
    assert archive.merge_search_index(force=True) is False


def test_a_merge_waits_until_the_new_segments_are_a_tenth_of_the_index(archive):
    conn = archive.db.conn
    save_threads(archive, 400, words=" ".join(f"word{i}" for i in range(60)))
    archive.merge_search_index(force=True)
    [largest] = archive.search_index_segments()
    assert largest >= 20

    save_threads(archive, 1, start=400)
    sizes = archive.search_index_segments()
    assert len(sizes) == 2 and sizes[1] * 10 < sizes[0]
    assert not archive.search_index_merge_due()
    assert archive.search_index_merge_due(force=True)
    assert archive.merge_search_index() is False  # a small addition waits
    assert len(archive.search_index_segments()) == 2

    assert archive.merge_search_index(force=True) is True
    assert len(archive.search_index_segments()) == 1
    assert search(archive, "note") == list(range(1, 402))
    assert conn.execute("PRAGMA wal_checkpoint").fetchone()[1] == 0  # the log was truncated
    assert_fts_consistent(archive)


def test_date_blocks_keep_the_span_of_dates_of_each_block_of_ids(archive):
    conn = archive.db.conn
    archive.save_thread(thread(DEV, three_messages()), seen_at=T0)
    blocks = conn.execute("SELECT * FROM message_date_blocks").fetchall()
    assert blocks == [(0, 1, 3, utc_iso(T0), utc_iso(T0 + timedelta(minutes=90)), 3)]

    # Ids far apart fall in blocks of their own.
    far = (5 << db_module.DATE_BLOCK_BITS) + 3
    conn.execute(
        "INSERT INTO messages (id, subject, author, posted_at, body_html, body_text,"
        " fingerprint, first_seen_at, last_seen_at) VALUES (?, 's', 'a', ?, '', '', 'f', ?, ?)",
        (far, "2020-01-01T00:00:00Z", utc_iso(T0), utc_iso(T0)),
    )
    conn.execute("UPDATE messages SET posted_at = '2030-01-01T00:00:00Z' WHERE id = 2")
    conn.execute("DELETE FROM messages WHERE id = ?", (far,))
    conn.commit()
    assert conn.execute("SELECT * FROM message_date_blocks ORDER BY block").fetchall() == [
        (0, 1, 3, utc_iso(T0), "2030-01-01T00:00:00Z", 3),
        (5, far, far, "2020-01-01T00:00:00Z", "2020-01-01T00:00:00Z", 0),  # the spans stay
    ]


def test_a_merge_gives_the_old_segments_pages_back_to_the_file(archive):
    conn = archive.db.conn
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental, from birth
    save_threads(archive, 120, words=" ".join(f"word{i}" for i in range(60)))
    pages = conn.execute("PRAGMA page_count").fetchone()[0]

    assert archive.merge_search_index(force=True) is True

    # Without auto-vacuum the old segments' pages stay in the file as free pages.
    assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
    assert conn.execute("PRAGMA page_count").fetchone()[0] < pages
    assert search(archive, "note") == list(range(1, 121))
    assert_fts_consistent(archive)
