"""Importing mail: every format, threads, duplicates, hostile mail, and the mbox export."""

from __future__ import annotations

import bz2
import gzip
import lzma
import mailbox
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import compat32
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive import mail_import
from archive.cli import cli
from archive.db import MAIL_PAGE_SIZE, PAGE_SIZE, Archive
from archive.mail import msgid_links, parse_address, parse_message, split_mbox
from archive.mail_import import import_mail
from archive.mbox import write_mbox
from archive.search import search
from scraper.models import Group, GroupRef, Message, Thread

HERE = Path(__file__).parent / "mail"
LIST = HERE / "list.mboxrd"
PIPERMAIL = HERE / "2024-March.txt"
DEV = "dev@lists.example.org"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
LIST_IDS = {
    "root@example.org", "r1@example.com", "r2@example.org", "r3@example.net",
    "x1@example.org", "x2@example.org", "y1@example.org", "s1@example.org", "s2@example.org",
}  # fmt: skip


def run_import(db: Path, *paths: Path, group: str | None = None, rejects=None):
    with Archive(db) as archive:
        return import_mail(
            archive,
            paths,
            group=group,
            now=NOW,
            on_reject=(lambda where, reason: rejects.append((where, reason)))
            if rejects is not None
            else None,
        )


def rows(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def message_ids(db: Path) -> set[str]:
    return {r[0] for r in rows(db, "SELECT rfc822_id FROM messages")}


def thread_of(db: Path, rfc822_id: str) -> int:
    return rows(
        db,
        "SELECT p.thread_id FROM postings p JOIN messages m ON m.id = p.message_id"
        " WHERE m.rfc822_id = ?",
        (rfc822_id,),
    )[0][0]


# --- reading ------------------------------------------------------------------------


def test_split_mbox_unquotes_mboxrd_and_keeps_dateless_from_lines() -> None:
    with open(LIST, "rb") as stream:
        messages = list(split_mbox(stream, chunk_size=64))  # tiny reads cross every boundary
    assert len(messages) == 9
    assert messages[0][0] == 0
    first = messages[0][1]
    assert b"\nFrom here on, lines starting" in first
    assert b"\n>From this line, one quote stays." in first
    assert b"\nFrom me to you: this line looks like a separator" in first
    assert first.endswith(b"has no date.\n")
    # Offsets point at each From line of the file.
    data = LIST.read_bytes()
    for offset, _ in messages:
        assert data[offset : offset + 5] == b"From "


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ('"Ann Author" <ann@example.org>', ("Ann Author", "ann@example.org")),
        ("Ann Author <ann@example.org>", ("Ann Author", "ann@example.org")),
        ("andy@example.com", ("", "andy@example.com")),
        ("<andy@example.com>", ("", "andy@example.com")),
        ("andy@example.com (Andy Lee)", ("Andy Lee", "andy@example.com")),
        ('"Lee, Andy" <andy@example.com>', ("Lee, Andy", "andy@example.com")),
        ("Just A Name", ("Just A Name", None)),
    ],
)
def test_from_with_and_without_display_names(field: str, expected: tuple) -> None:
    assert parse_address(field) == expected


def test_parse_message_fields() -> None:
    with open(LIST, "rb") as stream:
        raws = [data for _, data in split_mbox(stream)]
    root = parse_message(raws[0])
    assert root.message_id == "root@example.org"
    assert root.author == "Ann Author" and root.address == "ann@example.org"
    assert root.group == DEV and root.list_id == "dev.lists.example.org"
    assert root.recipients == 'dev@lists.example.org, "Bob Builder" <bob@example.com>'
    assert root.posted_at == datetime(2024, 3, 4, 9, tzinfo=UTC)
    assert root.body_charset == "utf-8"  # the body is the text: stored once
    reply = parse_message(raws[1])
    assert reply.author == "bob@example.com" and reply.address == "bob@example.com"
    assert reply.body_text == "Sounds good. Café at noon?\n"
    assert reply.body_charset is None  # quoted-printable: the raw body is kept
    assert reply.in_reply_to == "root@example.org"
    html = parse_message(raws[3])
    assert html.body_text == "Noon it is.\n" and "<b>it is</b>" in html.body_html
    assert parse_message(raws[4]).author == "Davé"


# --- formats ---------------------------------------------------------------------------


def compressed(tmp_path: Path, opener, name: str) -> Path:
    path = tmp_path / name
    with opener(path, "wb") as out:
        out.write(LIST.read_bytes())
    return path


@pytest.mark.parametrize(
    ("opener", "name"),
    [
        (gzip.open, "list.mbox"),  # the names lie: content decides
        (lzma.open, "list.gz"),
        (bz2.open, "list.xz"),
        (open, "list.bz2"),
    ],
)
def test_compressed_mbox_by_content(tmp_path: Path, opener, name: str) -> None:
    db = tmp_path / "a.db"
    summary = run_import(db, compressed(tmp_path, opener, name))
    assert (summary.new, summary.rejected) == (9, 0)
    assert message_ids(db) == LIST_IDS


def test_maildir(tmp_path: Path) -> None:
    box = mailbox.Maildir(tmp_path / "Mail", create=True)
    with open(LIST, "rb") as stream:
        for _, data in split_mbox(stream):
            box.add(data)
    db = tmp_path / "a.db"
    summary = run_import(db, tmp_path / "Mail")
    assert (summary.new, summary.rejected) == (9, 0)
    assert message_ids(db) == LIST_IDS


def takeout_topic(n: int, group: str) -> bytes:
    # As Google Groups writes a topics.mbox: a thread number at a dummy host and the
    # zone before the year on the From line, CRLF lines, no list headers.
    return (
        f"From 2866812551168{n}@xxx Thu Apr 16 09:53:0{n} +0000 2015\r\n"
        f"X-GM-THRID: 2861652718387{n}\r\nX-Google-Groups: {group.partition('@')[0]}\r\n"
        f"From: Ann <ann@example.org>\r\nSubject: topic {n}\r\n"
        f"Date: Thu, 16 Apr 2015 09:53:0{n} +0000\r\nMessage-ID: <t{n}.{group}>\r\n"
        f"\r\nbody {n}\r\n\r\n"
    ).encode()


def test_takeout_layout_names_the_group_by_its_folder(tmp_path: Path) -> None:
    # Takeout's layout: Takeout/Groups/googlegroups.com/[groups you own/]<address>/
    # topics.mbox beside CSV files, the names but the address in the account's
    # language. The folder given may be any of them; the address folder names the group.
    english = tmp_path / "Takeout" / "Groups" / "googlegroups.com" / "Groups you own"
    spanish = tmp_path / "Takeout" / "Grupos" / "googlegroups.com"
    for folder, group, name in (
        (english, "golang-nuts@googlegroups.com", "topics.mbox"),
        (spanish, "medios@googlegroups.com", "temas.mbox"),
        (spanish, "Staff@Example.com", "temas.mbox"),  # a Workspace group
    ):
        (folder / group).mkdir(parents=True)
        (folder / group / name).write_bytes(takeout_topic(1, group) + takeout_topic(2, group))
        (folder / group / "members.csv").write_text("Email\nann@example.org\n")
        (folder / group / "info.csv").write_text("Name,Description\nx,y\n")
    db = tmp_path / "a.db"
    summary = run_import(db, tmp_path / "Takeout")
    assert (summary.new, summary.rejected) == (6, 0)
    assert rows(db, "SELECT key, url FROM groups ORDER BY key") == [
        ("golang-nuts@googlegroups.com", "https://groups.google.com/g/golang-nuts"),
        ("medios@googlegroups.com", "https://groups.google.com/g/medios"),
        ("staff@example.com", "https://groups.google.com/a/example.com/g/staff"),
    ]
    assert rows(db, "SELECT min(posted_at), max(posted_at) FROM messages") == [
        ("2015-04-16T09:53:01Z", "2015-04-16T09:53:02Z")
    ]
    # The group's own folder, or its mbox, names it as well.
    for given in (english / "golang-nuts@googlegroups.com",
                  spanish / "medios@googlegroups.com" / "temas.mbox"):  # fmt: skip
        summary = run_import(other := tmp_path / f"{given.name}.db", given)
        assert (summary.new, summary.rejected) == (2, 0)
        assert len(rows(other, "SELECT key FROM groups")) == 1


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_public_inbox_git_repository(tmp_path: Path) -> None:
    work = tmp_path / "inbox"
    work.mkdir()

    def git(*args: str, cwd: Path = work) -> None:
        subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "inbox@example.org")
    git("config", "user.name", "inbox")
    with open(LIST, "rb") as stream:
        for i, (_, data) in enumerate(split_mbox(stream)):
            (work / "m").write_bytes(data)
            git("add", "m")
            git("commit", "-q", "-m", f"message {i}")
    git("rm", "-q", "m")  # public-inbox removes a message with a commit without m
    (work / "d").write_text("removed\n")
    git("add", "d")
    git("commit", "-q", "-m", "removal")
    git("clone", "-q", "--mirror", str(work), str(tmp_path / "inbox.git"), cwd=tmp_path)
    db = tmp_path / "a.db"
    summary = run_import(db, tmp_path / "inbox.git")
    assert (summary.read, summary.new, summary.rejected) == (9, 9, 0)
    assert message_ids(db) == LIST_IDS
    assert run_import(db, work).already == 9  # a work tree's repository reads the same


def test_pipermail_unmunges_addresses_and_needs_a_group(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    gz = tmp_path / "2024-March.txt.gz"
    gz.write_bytes(gzip.compress(PIPERMAIL.read_bytes()))
    rejects: list = []
    summary = run_import(db, gz, rejects=rejects)
    assert (summary.new, summary.no_group) == (0, 2)
    assert all("names no list" in reason for _, reason in rejects)
    summary = run_import(db, gz, group="pipe@lists.example.org")
    assert summary.new == 2
    assert rows(db, "SELECT author, masked_address FROM messages ORDER BY posted_at") == [
        ("Ann Author", "ann@example.org"),
        ("Bob", "bob@example.com"),
    ]
    assert thread_of(db, "p1@example.org") == thread_of(db, "p2@example.org")


def test_cli_says_group_is_required(tmp_path: Path) -> None:
    runner = CliRunner()
    db = str(tmp_path / "a.db")
    result = runner.invoke(cli, ["import", str(PIPERMAIL), "--db", db])
    assert result.exit_code == 2
    assert "--group" in result.output and "Traceback" not in result.output
    result = runner.invoke(cli, ["import", str(PIPERMAIL), "--db", db, "--group", "pipe@x.org"])
    assert result.exit_code == 0, result.output
    assert "Read 2 messages: 2 new, 0 already archived, 0 rejected" in result.output


def test_an_archive_made_by_import_has_larger_pages(tmp_path: Path) -> None:
    # Mail rows are 3-8 KB: a new archive for mail gets MAIL_PAGE_SIZE pages; one that
    # exists (made by sync) keeps its own.
    runner = CliRunner()
    made, existing = tmp_path / "made.db", tmp_path / "existing.db"
    Archive(existing).close()
    for db in (made, existing):
        result = runner.invoke(cli, ["import", str(LIST), "--db", str(db)])
        assert result.exit_code == 0, result.output
    assert rows(made, "PRAGMA page_size") == [(MAIL_PAGE_SIZE,)]
    assert rows(existing, "PRAGMA page_size") == [(PAGE_SIZE,)] != [(MAIL_PAGE_SIZE,)]
    assert message_ids(made) == message_ids(existing) == LIST_IDS


# --- threads and duplicates ----------------------------------------------------------------


def test_threads_from_references_in_any_order(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    run_import(db, LIST)
    release = {thread_of(db, i) for i in ("root@example.org", "r1@example.com", "r2@example.org",
                                            "r3@example.net")}  # fmt: skip
    assert len(release) == 1
    # x2 arrived before its parent x1, which then joined y1's thread: one thread.
    build = {thread_of(db, i) for i in ("x1@example.org", "x2@example.org", "y1@example.org")}
    assert len(build) == 1
    # No headers at all: the reply joins by subject.
    assert thread_of(db, "s1@example.org") == thread_of(db, "s2@example.org")
    assert len(release | build | {thread_of(db, "s1@example.org")}) == 3
    threads = rows(db, "SELECT subject, message_count FROM threads ORDER BY created_at")
    assert threads == [("[dev] Release plan", 4), ("Build broken", 3), ("Meeting notes", 2)]
    # Positions follow the dates within a thread.
    order = rows(
        db,
        "SELECT m.rfc822_id FROM postings p JOIN messages m ON m.id = p.message_id"
        " WHERE p.thread_id = ? ORDER BY p.position",
        (thread_of(db, "root@example.org"),),
    )
    assert [r[0] for r in order] == [
        "root@example.org", "r1@example.com", "r2@example.org", "r3@example.net",
    ]  # fmt: skip


def test_a_long_references_header_threads_like_a_short_one(tmp_path: Path) -> None:
    # The ids a batch names are looked up a few hundred to a statement; a message
    # naming more than that must still find its thread.
    def mail(n: int, references: list[str]) -> bytes:
        refs = f"References: {' '.join(f'<{r}>' for r in references)}\n" if references else ""
        return (
            f"From a@example.org Mon Mar  4 10:0{n}:00 2024\n"
            f"From: A <a@example.org>\nTo: {DEV}\nList-Id: <dev.lists.example.org>\n"
            f"Subject: part {n}\nDate: Mon, 4 Mar 2024 10:0{n}:00 +0000\n"
            f"Message-ID: <m{n}@example.org>\n{refs}\nbody {n}\n\n"
        ).encode()

    unknown = [f"gone{i}@example.org" for i in range(mail_import._LOOKUP_IDS + 20)]
    box = tmp_path / "long.mbox"
    parent = "m1@example.org"
    box.write_bytes(mail(1, []) + mail(2, [parent]) + mail(3, [*unknown, parent]))
    run_import(db := tmp_path / "a.db", box)
    assert thread_of(db, "m1@example.org") == thread_of(db, "m2@example.org")
    assert thread_of(db, "m3@example.org") == thread_of(db, "m1@example.org")
    assert rows(db, "SELECT count(*) FROM mail_ids") == [(len(unknown) + 3,)]


def dump(db: Path) -> list:
    tables = ["groups", "threads", "messages", "postings", "mail_sources", "mail_ids"]
    return [rows(db, f"SELECT * FROM {table} ORDER BY 1") for table in tables]


def test_importing_twice_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    run_import(db, LIST)
    before = dump(db)
    summary = run_import(db, LIST, compressed(tmp_path, gzip.open, "again.mbox"))
    assert (summary.new, summary.already, summary.rejected) == (0, 18, 0)
    assert dump(db) == before


def test_reading_in_a_second_process_or_not_stores_the_same(tmp_path: Path) -> None:
    dumps = []
    for parallel in (False, True):
        db = tmp_path / f"{parallel}.db"
        with Archive(db) as archive:
            summary = import_mail(archive, [LIST, hostile_mbox(tmp_path)], now=NOW,
                                  parallel=parallel)  # fmt: skip
        assert (summary.read, summary.new, summary.rejected) == (17, 15, 2)
        dumps.append(dump(db))
    assert dumps[0] == dumps[1]


def google_thread(body_html: str, posted_at: datetime) -> Thread:
    group = Group(GroupRef("golang-announce"), "1", "golang-announce@googlegroups.com")
    message = Message(
        id="AbCdEfGhIjKl",
        topic_id="T0pic",
        author="Ann Author",
        masked_address="an...@example.org",
        posted_at=posted_at,
        subject="[security] Go 1.22.1 is released",
        body_html=body_html,
    )
    return Thread(group, "T0pic", message.subject, (message,))


GOOGLE_MAIL = b"""From: Ann Author <ann@example.org>
To: golang-announce@googlegroups.com
Subject: [security] Go 1.22.1 is released
Date: Tue, 05 Mar 2024 18:00:05 +0000
Message-ID: <CAgo-1221@mail.example.org>
List-ID: <golang-announce.googlegroups.com>
Mailing-list: list golang-announce@googlegroups.com; contact golang-announce+owners@googlegroups.com
X-Google-Group-Id: 1234
Content-Type: text/plain; charset="UTF-8"

Hello gophers,

We have just released Go 1.22.1.

--=20
You received this message because you are subscribed to the Google Groups "golang-announce" group.
To unsubscribe from this group and stop receiving emails from it, send an email to golang-announce+unsubscribe@googlegroups.com.
"""  # noqa: E501

GOOGLE_HTML = "<p>Hello gophers,</p><p>We have just released Go 1.22.1.</p>"


def test_batch_and_statement_sizes_do_not_change_what_is_stored(
    tmp_path: Path, monkeypatch
) -> None:
    # New messages are held and inserted many to a statement, and a transaction ends
    # every BATCH messages: wherever those cuts fall (inside a thread, between a
    # message and its duplicate, before a merge of two threads) the rows are the same.
    # (A transaction's end also ends a block of mail bytes, so with another BATCH
    # only mail_sources' block numbers differ.)
    twice = tmp_path / "twice.mbox"
    twice.write_bytes(LIST.read_bytes() * 2)
    default = (mail_import.BATCH, mail_import._ROWS_PER_INSERT)
    dumps = {}
    for sizes in (default, (default[0], 1), (default[0], 2), (3, 2), (1, 1)):
        monkeypatch.setattr(mail_import, "BATCH", sizes[0])
        monkeypatch.setattr(mail_import, "_ROWS_PER_INSERT", sizes[1])
        db = tmp_path / f"{sizes[0]}-{sizes[1]}.db"
        with Archive(db) as archive:
            summary = import_mail(archive, [twice], now=NOW, parallel=False)
        # Each message of the file twice: the second copy is already archived.
        assert summary.new == summary.already == 9
        dumps[sizes] = dump(db)
    sources = 4  # dump()'s mail_sources
    for sizes, tables in dumps.items():
        if sizes[0] == default[0]:
            assert tables == dumps[default], sizes
        else:
            assert tables[:sources] + tables[sources + 1 :] == (
                dumps[default][:sources] + dumps[default][sources + 1 :]
            ), sizes


@pytest.mark.parametrize("mail_first", [False, True])
def test_scraped_and_mailed_copies_are_one_message(tmp_path: Path, mail_first: bool) -> None:
    db = tmp_path / "a.db"
    path = tmp_path / "one.eml"
    path.write_bytes(GOOGLE_MAIL.replace(b"--=20", b"-- "))
    thread = google_thread(GOOGLE_HTML, datetime(2024, 3, 5, 18, 0, 4, tzinfo=UTC))
    if mail_first:
        assert run_import(db, path).new == 1
    with Archive(db) as archive:
        archive.save_thread(thread, seen_at=NOW)
    if not mail_first:
        summary = run_import(db, path)
        assert (summary.new, summary.added_postings) == (0, 1)
    assert rows(db, "SELECT count(*), rfc822_id FROM messages") == [
        (1, "CAgo-1221@mail.example.org")
    ]
    postings = rows(db, "SELECT group_key, google_message_id FROM postings ORDER BY id")
    assert sorted(postings) == [
        ("golang-announce@googlegroups.com", "<CAgo-1221@mail.example.org>"),
        ("golang-announce@googlegroups.com", "AbCdEfGhIjKl"),
    ]
    # And importing it again still changes nothing.
    before = dump(db)
    assert run_import(db, path).already == 1
    assert dump(db) == before


LINK = "https://groups.google.com/d/msgid/golang-announce/CAgo-1221%40mail.example.org"


def test_msgid_links_are_read_from_unquoted_lines() -> None:
    text = (
        f"Hi\nTo view this discussion on the web visit {LINK}.\n"
        "> https://groups.google.com/d/msgid/golang-nuts/quoted%40example.org\n"
        "https://groups.google.com/a/example.com/d/msgid/staff/a%2Bb%40example.com?utm=x\n"
    )
    assert msgid_links(text) == ("CAgo-1221@mail.example.org", "a+b@example.com")
    assert msgid_links("no link here") == ()


@pytest.mark.parametrize("quoted", [False, True])
def test_a_msgid_link_joins_copies_whose_texts_differ(tmp_path: Path, quoted: bool) -> None:
    # Google's footer links a message by its Message-ID: a scraped copy whose text
    # carries the link (unquoted) is the mail with that Message-ID, even where the
    # texts differ too much for the fingerprint. A quoted link names the message quoted.
    footer = f"<p>To view this discussion on the web visit <a href='{LINK}?utm_medium=email'>{LINK}?utm_medium=email</a>.</p>"  # noqa: E501
    html = "<p>Hello gophers, from the web.</p>" + (
        f"<blockquote>{footer}</blockquote>" if quoted else footer
    )
    db = tmp_path / "a.db"
    with Archive(db) as archive:
        archive.save_thread(
            google_thread(html, datetime(2024, 3, 5, 18, 20, tzinfo=UTC)), seen_at=NOW
        )
    path = tmp_path / "one.eml"
    mail = GOOGLE_MAIL.replace(b"--=20", b"-- ").replace(b"We have just", b"Today we")
    path.write_bytes(mail + f"To view this discussion on the web visit {LINK}.\n".encode())
    summary = run_import(db, path)
    assert (summary.new, summary.added_postings) == ((1, 0) if quoted else (0, 1))
    assert rows(db, "SELECT count(*) FROM messages") == [(2 if quoted else 1,)]
    assert rows(db, "SELECT count(*) FROM postings") == [(2,)]


def test_a_second_list_adds_a_posting(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    run_import(db, LIST)
    other = tmp_path / "other.mbox"
    other.write_bytes(
        LIST.read_bytes().replace(b"dev.lists.example.org", b"ops.lists.example.org")
        .replace(b"mailto:dev@", b"mailto:ops@")
    )  # fmt: skip
    summary = run_import(db, other)
    assert (summary.new, summary.added_postings) == (0, 9)
    assert rows(db, "SELECT group_key, count(*) FROM postings GROUP BY 1") == [
        (DEV, 9),
        ("ops@lists.example.org", 9),
    ]


# --- search ---------------------------------------------------------------------------------


def test_search_by_message_id_and_recipients(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    run_import(db, LIST)
    with Archive(db) as archive:
        for query in ("id:r1@example.com", "msgid:<r1@example.com>", "id:<r1@example.com>"):
            hits = search(archive, query)
            assert [h.subject for h in hits] == ["Re: [dev] Release plan"], query
        assert {h.author for h in search(archive, "to:bob@example.com")} == {"Ann Author"}
        assert search(archive, "to:nobody@example.com") == []
        assert {h.author for h in search(archive, "from:bob@example.com")} == {"bob@example.com"}


# --- hostile and broken mail ------------------------------------------------------------------


def good(n: int) -> bytes:
    return (
        f"From: Good {n} <good{n}@example.org>\nSubject: good {n}\n"
        f"Date: Mon, 04 Mar 2024 09:0{n}:00 +0000\nMessage-ID: <good{n}@example.org>\n"
        f"List-Id: <dev.lists.example.org>\n\nGood message {n}.\n"
    ).encode()


HOSTILE = [
    good(1),
    b"\x00\x01\x02 binary garbage \xff\xfe without any header\n",
    b"From: Eve <eve@example.org>\nSubject: \xff\xfe raw 8-bit subject \x1b[31m\n"
    b"Date: Mon, 04 Mar 2024 09:00:00 +0000\nMessage-ID: <8bit@example.org>\n"
    b"List-Id: <dev.lists.example.org>\nContent-Type: text/plain; charset=x-no-such-charset\n"
    b"\n\xe9t\xe9 body in an unknown charset\n",
    b"From: Eve <eve@example.org>\nSubject: no date\nMessage-ID: <nodate@example.org>\n"
    b"Date: not a date at all\nList-Id: <dev.lists.example.org>\n\nbody\n",
    b"From: Eve <eve@example.org>\nSubject: broken mime\nMessage-ID: <mime@example.org>\n"
    b"Date: Mon, 04 Mar 2024 09:00:00 +0000\nList-Id: <dev.lists.example.org>\n"
    b"Content-Type: multipart/mixed\nContent-Transfer-Encoding: base64\n\n!!!not base64\n",
    b"From: Eve <eve@example.org>\nSubject: nested\nMessage-ID: <nested@example.org>\n"
    b"Date: Mon, 04 Mar 2024 09:00:00 +0000\nList-Id: <dev.lists.example.org>\n"
    + b"".join(
        b'Content-Type: multipart/mixed; boundary="n%d"\n\n--n%d\n' % (i, i) for i in range(60)
    )
    + b"\ndeep\n",
    b"From: Eve <eve@example.org>\nSubject: " + b"long " * 20000 + b"\n"
    b"Message-ID: <\x1b]0;title\x07@example.org>\nDate: Mon, 04 Mar 2024 09:00:00 +0000\n"
    b"List-Id: <dev.lists.example.org>\nContent-Type: text/plain; charset=utf-8\n"
    b"Content-Transfer-Encoding: base64\n\n=====\n",
    good(2),
]


def hostile_mbox(tmp_path: Path) -> Path:
    path = tmp_path / "hostile.mbox"
    with open(path, "wb") as out:
        for i, data in enumerate(HOSTILE):
            sender = b"\xff\xfe@example.org" if i == 2 else b"someone@example.org"
            out.write(b"From " + sender + b" Mon Mar  4 09:00:00 2024\n" + data + b"\n")
    return path


def test_hostile_mail_is_named_and_skipped_and_the_rest_kept(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    path = hostile_mbox(tmp_path)
    rejects: list = []
    summary = run_import(db, path, rejects=rejects)
    assert summary.rejected == 2 and len(rejects) == 2
    data = path.read_bytes()
    for where, _ in rejects:
        name, offset = where.rsplit("@", 1)
        assert name == str(path) and data[int(offset) : int(offset) + 5] == b"From "
    assert "no header" in rejects[0][1] or "header line" in rejects[0][1]
    assert "Date" in rejects[1][1]
    ids = message_ids(db)
    assert {"good1@example.org", "good2@example.org", "8bit@example.org"} <= ids
    assert {"mime@example.org", "nested@example.org", "\x1b]0;title\x07@example.org"} <= ids
    assert summary.new == 6


def test_hostile_mail_through_the_cli(tmp_path: Path) -> None:
    path = hostile_mbox(tmp_path)
    result = CliRunner().invoke(cli, ["import", str(path), "--db", str(tmp_path / "a.db")])
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    assert "6 new" in result.output and "2 rejected" in result.output
    assert "\x1b" not in result.output


def test_a_truncated_compressed_file_keeps_what_was_read(tmp_path: Path) -> None:
    data = lzma.compress(LIST.read_bytes() * 1)
    path = tmp_path / "cut.mbox.xz"
    path.write_bytes(data[: len(data) - 40])
    rejects: list = []
    db = tmp_path / "a.db"
    summary = run_import(db, path, rejects=rejects)
    assert summary.rejected == 1 and "stopped reading" in rejects[0][1]
    assert summary.new >= 1 and len(message_ids(db)) == summary.new


def test_not_mail_and_missing_paths_are_named(tmp_path: Path) -> None:
    junk = tmp_path / "photo.jpg"
    junk.write_bytes(b"\xff\xd8\xff\xe0 not mail")
    rejects: list = []
    summary = run_import(tmp_path / "a.db", junk, tmp_path / "missing.mbox", rejects=rejects)
    assert summary.rejected == 2
    assert [r[0] for r in rejects] == [str(junk), str(tmp_path / "missing.mbox")]


# --- mbox export ---------------------------------------------------------------------------


def export(db: Path, tmp_path: Path, name: str = "out.mbox") -> Path:
    out = tmp_path / name
    with Archive(db) as archive, open(out, "wb") as stream:
        keys = [(t["group_key"], t["topic_id"]) for t in archive.list_threads()]
        write_mbox(archive, keys, stream)
    return out


ATTACHED = b"""From: Ann <ann@example.org>
To: dev@lists.example.org
List-Id: <dev.lists.example.org>
Subject: [PATCH] fix the clock
Date: Mon, 4 Mar 2024 10:00:00 +0000
Message-ID: <attached@example.org>
Content-Type: multipart/mixed; boundary="BB"

--BB
Content-Type: text/plain

The fix and a capture.
--BB
Content-Type: text/x-patch; name="fix.patch"
Content-Disposition: inline; filename="fix.patch"

--- a/clock.c
+++ b/clock.c
--BB
Content-Type: application/octet-stream
Content-Disposition: attachment; filename*=UTF-8''caf%C3%A9.bin
Content-Transfer-Encoding: base64

AAECAwQ=
--BB
Content-Type: application/pgp-signature

-----BEGIN PGP SIGNATURE-----
--BB--
"""


def test_attachments_of_mail_are_listed_and_kept_once(tmp_path: Path) -> None:
    box = tmp_path / "attached.mbox"
    box.write_bytes(b"From ann@example.org Mon Mar  4 10:00:00 2024\n" + ATTACHED + b"\n")
    db = tmp_path / "a.db"
    run_import(db, box)
    run_import(db, box)  # again: nothing added
    assert rows(db, "SELECT position, filename, mime_type, url, size FROM attachments") == [
        (0, "fix.patch", "text/x-patch", "", len(b"--- a/clock.c\n+++ b/clock.c")),
        (1, "caf\u00e9.bin", "application/octet-stream", "", 5),
        (2, "", "application/pgp-signature", "", len(b"-----BEGIN PGP SIGNATURE-----")),
    ]
    assert rows(db, "SELECT body_text FROM messages") == [("The fix and a capture.",)]
    # The bytes are the message's own, given back whole by the mbox export.
    exported = mailbox.mbox(export(db, tmp_path))[0]
    files = [(p.get_filename(), p.get_payload(decode=True)) for p in exported.walk()
             if not p.is_multipart()]  # fmt: skip
    assert ("caf\u00e9.bin", b"\x00\x01\x02\x03\x04") in files
    assert exported.as_bytes().count(b"--BB") == 5


def test_round_trip_import_export_import(tmp_path: Path) -> None:
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    run_import(first, LIST)
    out = export(first, tmp_path)
    assert run_import(second, out).new == 9
    columns = (
        "rfc822_id, subject, author, masked_address, posted_at, body_text, body_html,"
        " in_reply_to, reference_ids, recipients, list_id, fingerprint"
    )
    sql = f"SELECT {columns} FROM messages ORDER BY rfc822_id"
    assert rows(first, sql) == rows(second, sql)
    # The same threads (their ids come from whichever message arrived first).
    threads = (
        "SELECT subject, message_count, group_concat(rfc822_id, ' ') FROM ("
        " SELECT t.id, t.subject, t.message_count, m.rfc822_id"
        " FROM threads t JOIN postings p ON p.thread_id = t.id"
        " JOIN messages m ON m.id = p.message_id ORDER BY t.id, p.position"
        ") GROUP BY id ORDER BY 1"
    )
    assert rows(first, threads) == rows(second, threads)


def test_python_mailbox_reads_every_message_intact(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    run_import(db, LIST)
    out = export(db, tmp_path)
    with open(LIST, "rb") as stream:
        originals = {
            message_from_bytes(data, policy=compat32)["Message-ID"]: data
            for _, data in split_mbox(stream)
        }
    box = mailbox.mbox(out)
    assert len(box) == 9
    for message in box:
        original = originals[message["Message-ID"]]
        raw = message.as_bytes(policy=compat32.clone(linesep="\n"))
        # Python's mailbox reads mboxo: it leaves the mboxrd quote on From lines.
        raw = (
            raw.replace(b"\n>From here on", b"\nFrom here on")
            .replace(b"\n>>From this", b"\n>From this")
            .replace(b"\n>From me to you", b"\nFrom me to you")
        )
        assert raw == original


def test_export_of_scraped_messages_is_well_formed(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    thread = google_thread(GOOGLE_HTML, datetime(2024, 3, 5, 18, 0, 4, tzinfo=UTC))
    reply = Message(
        id="ReplyId00001",
        topic_id="T0pic",
        author="Zoë Émile",
        masked_address=None,
        posted_at=datetime(2024, 3, 5, 19, tzinfo=UTC),
        subject="Re: [security] Go 1.22.1 is released",
        body_html="<p>Thanks! From now on\nFrom here</p>",
    )
    thread = Thread(thread.group, "T0pic", thread.subject, (*thread.messages, reply))
    with Archive(db) as archive:
        archive.save_thread(thread, seen_at=NOW)
    out = export(db, tmp_path)
    assert export(db, tmp_path, "again.mbox").read_bytes() == out.read_bytes()  # stable
    box = list(mailbox.mbox(out))
    assert len(box) == 2
    first, second = box
    assert first["From"] == "Ann Author <an...@example.org>"
    assert first["Subject"] == "[security] Go 1.22.1 is released"
    assert first["Date"] == "Tue, 05 Mar 2024 18:00:04 +0000"
    assert first.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in first.get_payload()]
    assert parts == ["text/plain", "text/html"]
    assert second["In-Reply-To"] == first["Message-ID"]
    # And it imports back as the same messages, into the same group.
    fresh = tmp_path / "b.db"
    assert run_import(fresh, out).new == 2
    assert rows(fresh, "SELECT author, subject FROM messages ORDER BY posted_at") == [
        ("Ann Author", "[security] Go 1.22.1 is released"),
        ("Zoë Émile", "Re: [security] Go 1.22.1 is released"),
    ]
    assert rows(fresh, "SELECT key FROM groups") == [("golang-announce@googlegroups.com",)]
    assert rows(fresh, "SELECT body_text FROM messages ORDER BY posted_at") == rows(
        db, "SELECT body_text FROM messages ORDER BY posted_at"
    )


def test_cli_export_mbox(tmp_path: Path) -> None:
    db = str(tmp_path / "a.db")
    runner = CliRunner()
    assert runner.invoke(cli, ["import", str(LIST), "--db", db]).exit_code == 0
    result = runner.invoke(
        cli, ["export", "--group", DEV, "--format", "mbox", "--out", str(tmp_path), "--db", db]
    )
    assert result.exit_code == 0, result.output
    assert len(mailbox.mbox(tmp_path / "messages.mbox")) == 9
    result = runner.invoke(cli, ["export", "--query", "id:r2@example.org", "--format", "mbox",
                                 "--db", db])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.count(b"\nMessage-ID: <") == 4  # the thread of that message


@pytest.mark.skipif(shutil.which("gzip") is None, reason="no gzip")
def test_gzip_of_the_export_imports_too(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    run_import(db, LIST)
    out = export(db, tmp_path)
    gz = tmp_path / "out.mbox.gz"
    gz.write_bytes(gzip.compress(out.read_bytes()))
    assert run_import(tmp_path / "b.db", gz).new == 9


def test_a_message_too_large_to_hold_is_named_and_skipped(tmp_path: Path, monkeypatch) -> None:
    from archive import mail

    monkeypatch.setattr(mail, "MAX_MESSAGE_BYTES", 2000)
    huge = good(3) + (b"y" * 79 + b"\n") * 100  # 8 KB: four times the limit
    data = b""
    for message in (good(1), huge, good(2)):
        data += b"From someone@example.org Mon Mar  4 09:00:00 2024\n" + message + b"\n"
    path = tmp_path / "big.mbox"
    path.write_bytes(data)
    with open(path, "rb") as stream:
        parts = list(split_mbox(stream, chunk_size=512))
    separators = [i + 1 for i in range(len(data)) if data.startswith(b"\nFrom someone", i)]
    assert [offset for offset, _ in parts] == [0, *separators]
    assert len(parts[1][1]) == 2001  # cut just past the limit, the rest never held
    rejects: list = []
    summary = run_import(tmp_path / "a.db", path, rejects=rejects)
    assert (summary.new, summary.rejected) == (2, 1)
    assert rejects[0][0] == f"{path}@{parts[1][0]}" and "larger than" in rejects[0][1]


def test_crlf_mbox(tmp_path: Path) -> None:
    path = tmp_path / "crlf.mbox"
    path.write_bytes(LIST.read_bytes().replace(b"\n", b"\r\n"))
    db = tmp_path / "a.db"
    summary = run_import(db, path)
    assert (summary.new, summary.rejected) == (9, 0)
    assert message_ids(db) == LIST_IDS
    assert rows(db, "SELECT body_text FROM messages WHERE rfc822_id = 'r1@example.com'") == [
        ("Sounds good. Café at noon?\n",)
    ]
    # Exported and read back, each message is as it came, CRLF and all.
    out = export(db, tmp_path)
    assert run_import(tmp_path / "b.db", out).new == 9


def test_a_resync_of_the_scraped_copy_keeps_the_mail_as_it_came(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    path = tmp_path / "one.eml"
    raw = GOOGLE_MAIL.replace(b"--=20", b"-- ")
    path.write_bytes(raw)
    assert run_import(db, path).new == 1
    thread = google_thread(GOOGLE_HTML, datetime(2024, 3, 5, 18, 0, 4, tzinfo=UTC))
    with Archive(db) as archive:
        archive.save_thread(thread, seen_at=NOW)
        archive.save_thread(thread, seen_at=NOW)  # the next sync sees it again
    data = export(db, tmp_path).read_bytes()
    assert data == b"From ann@example.org Tue Mar  5 18:00:05 2024\n" + raw + b"\n"
    assert rows(db, "SELECT author, masked_address FROM messages") == [
        ("Ann Author", "ann@example.org")
    ]
