"""The CLI in daily use, through the real command line: one configuration for every
command, ids that round-trip, what a run added, one exit code per kind of mistake,
read-only archives, empty results, and nonsense input.

An archive is synced from the simulator by ``listarchive sync`` itself; the few
checks that need another user or no network run the CLI in a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive.cli import cli
from archive.db import Archive
from scraper.models import Group, GroupRef, Message, Thread
from tests.simulator import GroupsState, Simulator

T0 = datetime(2024, 1, 8, 9, 0, tzinfo=UTC)
ANN = "demo-announce@googlegroups.com"
DEV = "dev@example.org"
REPO = Path(__file__).resolve().parents[1]


def populate(state: GroupsState) -> dict[str, object]:
    announce = state.add_group("demo-announce", None, "Demo announcements")
    dev = state.add_group("dev", "example.org", "Example developers")
    release = state.add_topic(
        announce, "[ANNOUNCE] Demo v1.30.2 released", "Ann Author", "ann.author@example.com",
        "<div>We are happy to announce Demo v1.30.2.</div>", T0,
    )  # fmt: skip
    reply = state.add_message(
        release, "Bruno Díaz", "bruno.diaz@example.net", "<div>Works for us.</div>",
        T0 + timedelta(hours=3),
    )  # fmt: skip
    state.cross_post(release, dev, subject="[dev] Demo v1.30.2 released")
    draft = state.add_topic(
        announce, "Release notes draft", "Chen Wei", "chenwei@example.cn",
        "<div>The draft of the release notes.</div>", T0 + timedelta(days=2),
    )  # fmt: skip
    notes = state.add_topic(
        dev, "Dev sync notes", "Dana O'Brien", "dana@example.org", "<div>Notes.</div>",
        T0 + timedelta(days=3),
    )  # fmt: skip
    return {"announce": announce, "dev": dev, "release": release, "reply": reply,
            "draft": draft, "notes": notes}  # fmt: skip


@pytest.fixture
def world():
    state = GroupsState()
    topics = populate(state)
    with Simulator(state) as sim:
        yield state, topics, sim


@pytest.fixture
def runner(monkeypatch, tmp_path):
    """A CLI runner in an empty folder, with no settings from the environment or home."""
    for name in ("LISTARCHIVE_DB", "LISTARCHIVE_CONFIG", "LISTARCHIVE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return CliRunner()


def sync(runner, sim, *args):
    return runner.invoke(cli, ["sync", "--base-url", sim.base_url, "--delay", "0", *args])


@pytest.fixture
def synced(runner, world):
    """``(runner, state, topics, sim)`` with both groups synced into ./listarchive.db."""
    state, topics, sim = world
    result = sync(runner, sim, "--quiet", "demo-announce", DEV)
    assert result.exit_code == 0, result.output
    return runner, state, topics, sim


def one_line_error(result, code: int) -> str:
    """The single ``Error:`` line of a failed command (never a traceback)."""
    assert result.exit_code == code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("Error: "), result.stderr
    # before it, only click's usage reminder for a usage error
    assert all(line.startswith(("Usage: ", "Try ")) for line in lines[:-1]), result.stderr
    return lines[-1]


# --- 1. one configuration for every command --------------------------------------------


READERS = [
    ["search", "release"],
    ["groups"],
    ["runs"],
    ["stats"],
    ["feed"],
    ["export", "--group", "demo-announce", "--format", "json"],
]


def test_every_command_reads_the_config_files_db(runner, world, tmp_path):
    state, topics, sim = world
    Path("listarchive.toml").write_text(
        f'db = "lists.db"\ndelay = 0\nbase_url = "{sim.base_url}"\ngroups = ["demo-announce"]\n'
    )
    assert runner.invoke(cli, ["sync", "--quiet"]).exit_code == 0
    assert Path("lists.db").exists() and not Path("listarchive.db").exists()
    for args in READERS + [["show", topics["release"].id]]:
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, (args, result.output)
    assert "Demo v1.30.2" in runner.invoke(cli, ["search", "happy"]).stdout
    # A search from another folder finds the same archive through $LISTARCHIVE_CONFIG.
    os.chdir(tmp_path)
    os.environ["LISTARCHIVE_CONFIG"] = str(tmp_path / "work" / "listarchive.toml")
    try:
        assert "Demo v1.30.2" in runner.invoke(cli, ["search", "happy"]).stdout
    finally:
        del os.environ["LISTARCHIVE_CONFIG"]


def test_one_precedence_flag_env_config_default(runner, monkeypatch, tmp_path):
    def where(*args):
        result = runner.invoke(cli, ["search", "x", *args])
        assert result.exit_code == 11
        return result.stderr

    assert "no archive at listarchive.db" in where()
    Path("listarchive.toml").write_text('db = "cfg.db"\n')
    assert f"no archive at {Path('cfg.db').absolute()}" in where()
    monkeypatch.setenv("LISTARCHIVE_DB", "env.db")
    assert "no archive at env.db" in where()
    assert "no archive at flag.db" in where("--db", "flag.db")
    other = tmp_path / "other.toml"
    other.write_text('db = "other.db"\n')
    monkeypatch.delenv("LISTARCHIVE_DB")
    assert f"no archive at {tmp_path / 'other.db'}" in where("--config", str(other))


def test_the_per_user_config_works_from_any_folder(runner, world, tmp_path):
    state, topics, sim = world
    user = tmp_path / "xdg-config" / "listarchive"
    user.mkdir(parents=True)
    (user / "listarchive.toml").write_text(
        f'db = "{tmp_path / "mine.db"}"\nbase_url = "{sim.base_url}"\ndelay = 0\n'
        'groups = ["demo-announce"]\n'
    )
    assert runner.invoke(cli, ["sync", "-q"]).exit_code == 0
    assert (tmp_path / "mine.db").exists()
    assert "Demo v1.30.2" in runner.invoke(cli, ["search", "happy"]).stdout
    help_text = runner.invoke(cli, ["--help"]).stdout
    assert f"Archive: {tmp_path / 'mine.db'} (from db in {user / 'listarchive.toml'})" in (
        help_text
    )


def test_help_says_where_the_archive_is(runner, monkeypatch):
    text = runner.invoke(cli, ["--help"]).stdout
    assert f"Archive: {Path('listarchive.db').absolute()} (from the default)" in text
    monkeypatch.setenv("LISTARCHIVE_DB", "/srv/lists.db")
    text = runner.invoke(cli, ["--help"]).stdout
    assert "/srv/lists.db (from $LISTARCHIVE_DB)" in text


def test_base_url_from_the_environment_beats_the_config(runner, world):
    state, topics, sim = world
    Path("listarchive.toml").write_text('base_url = "http://127.0.0.1:9"\ndelay = 0\n')
    os.environ["LISTARCHIVE_BASE_URL"] = sim.base_url
    try:
        result = runner.invoke(cli, ["sync", "-q", "demo-announce"])
    finally:
        del os.environ["LISTARCHIVE_BASE_URL"]
    assert result.exit_code == 0, result.output


# --- 10. nonsense input: one line, its own code --------------------------------------------


HUGE = str(10**20)


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["sync", "--delay", "inf", "x"], 2, "from 0 to"),
        (["sync", "--delay", "nan", "x"], 2, "from 0 to"),
        (["inspect", "--delay", "-1", "x"], 2, "from 0 to"),
        (["search", "--limit", HUGE, "x"], 2, "--limit"),
        (["search", "--offset", HUGE, "x"], 2, "--offset"),
        (["runs", "-n", HUGE], 2, "-n"),
        (["feed", "--limit", HUGE], 2, "--limit"),
        (["sync", "--base-url", "http://[::1", "x"], 4, "is not a URL"),
        (["search", "--group", "", "x"], 2, "--group needs a value"),
        (["search", "--from", " ", "x"], 2, "--from needs a value"),
        (["search", "--db", "a\0b", "x"], 2, "NUL"),
        (["search", "(" * 3000 + "x" + ")" * 3000], 12, "more than 16 deep"),
        (["search", "--", "-" * 3000 + "x"], 12, "more than 16 deep"),
        (["search", "x " * 6000], 12, "12,000 characters long; search for at most 10,000"),
        (["export", "--query", ")"], 12, "')' at position 1 has no '('"),
        (["show", ""], 2, "THREAD is empty"),
    ],
)
def test_nonsense_gets_one_line(synced, args, code, words):
    runner = synced[0]
    assert words in one_line_error(runner.invoke(cli, args), code)


def test_the_last_day_of_time_is_a_date(synced):
    runner = synced[0]
    for args in (["--until", "9999-12-31"], ["--since", "0001-01-01"]):
        result = runner.invoke(cli, ["search", "happy", *args])
        assert result.exit_code == 0, result.output
        assert "Demo v1.30.2" in result.stdout
    assert runner.invoke(cli, ["search", "on:9999-12-31"]).exit_code == 0
    result = runner.invoke(cli, ["export", "--until", "9999-12-31", "--format", "json"])
    assert result.exit_code == 0 and len(json.loads(result.stdout)) == 3  # a cross-post once


def test_files_that_are_not_utf8(runner, world, tmp_path):
    state, topics, sim = world
    Path("listarchive.toml").write_bytes(b'db = "caf\xe9.db"\n')
    line = one_line_error(runner.invoke(cli, ["search", "x"]), 2)
    assert "is not UTF-8" in line
    Path("listarchive.toml").write_text('db = "a\\u0000b.db"\n')
    assert "NUL" in one_line_error(runner.invoke(cli, ["groups"]), 2)
    Path("listarchive.toml").unlink()
    cookies = tmp_path / "cookies.txt"
    cookies.write_bytes(
        b"# Netscape HTTP Cookie File\n.google.com\tTRUE\t/\tTRUE\t0\tSID\t\xff\xfe\n"
    )
    result = sync(runner, sim, "--cookies", str(cookies), "demo-announce")
    assert "not UTF-8" in one_line_error(result, 1)


def test_retry_after_nan_is_no_wait(runner, world):
    state, topics, sim = world
    sim.fault("503", times=1, retry_after="nan")
    result = sync(runner, sim, "-q", "demo-announce")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    # inspect waits with time.sleep, which refuses nan outright
    sim.fault("503", times=1, retry_after="nan")
    result = runner.invoke(cli, ["inspect", "--base-url", sim.base_url, "--delay", "0",
                                 "demo-announce"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len([r for r in sim.requests if "demo-announce" in str(r)]) >= 3


# --- 7. errors: one code per kind of mistake ----------------------------------------------


@pytest.mark.parametrize("prefix", ["tag", "in", "is"])
def test_unknown_fields_list_the_known_ones(synced, prefix):
    from archive.query import known_fields

    line = one_line_error(synced[0].invoke(cli, ["search", f"{prefix}:alice"]), 12)
    assert f"unknown field {prefix}:" in line
    assert all(f"{name}:" in line for name in known_fields())
    assert f'quote it: "{prefix}:alice"' in line
    # quoted, it is text to search for; a URL is never a field
    assert synced[0].invoke(cli, ["search", f'"{prefix}:alice"']).exit_code == 0
    assert synced[0].invoke(cli, ["search", "https://example.org/x"]).exit_code == 0


def test_an_unknown_group_is_7_in_every_command(synced):
    runner = synced[0]
    for args in (
        ["search", "x", "--group", "nope"],
        ["search", "group:nope"],
        ["export", "--group", "nope"],
        ["feed", "--group", "nope"],
        ["groups", "remove", "nope"],
    ):
        assert "no archived group matches 'nope'" in one_line_error(runner.invoke(cli, args), 7)


def test_a_bad_date_option_is_a_usage_error(synced):
    runner = synced[0]
    for args in (
        ["search", "x", "--since", "2024-13-45"],
        ["search", "x", "--until", "someday"],
        ["export", "--since", "yesterday"],
        ["feed", "--since", "2024-02-30"],
    ):
        one_line_error(runner.invoke(cli, args), 2)
    # in the query itself it is a query error
    one_line_error(runner.invoke(cli, ["search", "after:someday"]), 12)


def test_a_dash_word_says_to_quote_the_query(synced):
    result = synced[0].invoke(cli, ["search", "notes", "-draft"])
    line = one_line_error(result, 2)
    assert "No such option: -draft" in line and "listarchive search 'notes -draft'" in line
    quoted = synced[0].invoke(cli, ["search", "notes -draft", "--json"])
    assert quoted.exit_code == 0
    assert [hit["subject"] for hit in json.loads(quoted.stdout)] == ["Dev sync notes"]


# --- 2. what the output shows, the input accepts ---------------------------------------------


def test_show_and_export_take_every_id_search_and_feed_print(synced):
    runner, state, topics, sim = synced
    hits = json.loads(runner.invoke(cli, ["search", "works for us", "--json"]).stdout)
    [hit] = hits
    reply_url = hit["url"]
    assert "/m/" in reply_url
    threads = json.loads(runner.invoke(cli, ["search", "works", "--threads", "--json"]).stdout)
    feed = runner.invoke(cli, ["feed", "--group", "demo-announce"]).stdout
    entry_ids = [line.strip()[4:-5] for line in feed.splitlines() if line.strip().startswith(
        "<id>tag:")]  # fmt: skip
    assert entry_ids
    forms = [
        reply_url,                       # the message URL: its thread, that message marked
        hit["topic_id"],                 # the topic id
        str(hit["id"]),                  # the numbered ids of --json
        f"message:{hit['id']}",
        f"thread:{threads[0]['thread_id']}",
        hit["url"].split("/m/")[0],      # the thread URL
    ] + [e for e in entry_ids if topics["release"].id in e]  # feed entry ids
    for form in forms:
        shown = runner.invoke(cli, ["show", form])
        assert shown.exit_code == 0, (form, shown.output)
        assert shown.stdout.startswith("[ANNOUNCE] Demo v1.30.2 released\n"), form
        exported = runner.invoke(cli, ["export", form, "--format", "json"])
        assert exported.exit_code == 0, (form, exported.output)
        assert json.loads(exported.stdout)[0]["topic_id"] == topics["release"].id
    marked = runner.invoke(cli, ["show", reply_url]).stdout.splitlines()
    assert [line for line in marked if "◀" in line] == [
        next(line for line in marked if line.startswith("[2/2] Bruno Díaz"))
    ]
    assert "no message with id 999999" in one_line_error(
        runner.invoke(cli, ["show", "999999"]), 7
    )
    assert "no thread with id 999999" in one_line_error(
        runner.invoke(cli, ["show", "thread:999999"]), 7
    )


def test_a_topic_id_starting_with_a_dash(runner, tmp_path):
    group = Group(GroupRef("dev", "example.org"), "gid", DEV, "Example developers")
    message = Message(id="m1", topic_id="-x3KqMrn0aQ", author="Ann", posted_at=T0,
                      subject="Dashing", body_html="<div>Hello.</div>")  # fmt: skip
    with Archive("listarchive.db") as archive:
        archive.save_thread(Thread(group, "-x3KqMrn0aQ", "Dashing", (message,)), seen_at=T0)
    line = one_line_error(runner.invoke(cli, ["show", "-x3KqMrn0aQ"]), 2)
    assert "listarchive show -- -x3KqMrn0aQ" in line
    assert "listarchive export -- " in one_line_error(
        runner.invoke(cli, ["export", "-x3KqMrn0aQ"]), 2
    )
    assert "no finished sync run" in one_line_error(
        runner.invoke(cli, ["search", "after:last-sync"]), 12
    )
    result = runner.invoke(cli, ["show", "--", "-x3KqMrn0aQ"])
    assert result.exit_code == 0 and result.stdout.startswith("Dashing\n")
    result = runner.invoke(cli, ["export", "--format", "json", "--", "-x3KqMrn0aQ"])
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["subject"] == "Dashing"


def every_command(group=cli, path=()):
    import click

    for name, command in group.commands.items():
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from every_command(command, (*path, name))


@pytest.mark.parametrize("path", list(every_command()), ids=" ".join)
def test_dash_h_works_everywhere(runner, path):
    result = runner.invoke(cli, [*path, "-h"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: ") and "Example" in result.stdout


# --- 9. empty results stay valid ---------------------------------------------------------


def test_empty_results_stay_valid(synced):
    runner = synced[0]
    result = runner.invoke(cli, ["export", "--query", "zebra", "--format", "json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == []
    assert "No threads match" in result.stderr
    result = runner.invoke(cli, ["feed", "--query", "zebra"])
    assert result.exit_code == 0 and result.stdout.startswith("<?xml")
    assert "no entries" in result.stderr
    result = runner.invoke(cli, ["feed", "--out", "a/b.xml"])
    assert result.exit_code == 0, result.output
    assert Path("a/b.xml").read_text().startswith("<?xml")


# --- 3. what did this run add? --------------------------------------------------------------


def test_sync_json_lists_what_each_group_added_and_changed(runner, world):
    state, topics, sim = world
    first = json.loads(sync(runner, sim, "-q", "--json", "demo-announce", DEV).stdout)
    [announce, dev] = first["groups"]
    assert len(announce["added"]) == announce["new_messages"] == 3
    assert announce["changed"] == []
    entry = next(a for a in announce["added"] if a["author"] == "Bruno Díaz")
    assert set(entry) == {"id", "url", "subject", "author", "masked_address", "posted_at"}
    assert entry["url"] == topics["reply"].url and entry["posted_at"] == "2024-01-08T12:00:00Z"
    shown = runner.invoke(cli, ["show", entry["url"]])
    assert shown.exit_code == 0 and "◀ this message" in shown.stdout

    # Stored times have whole seconds: the next run starts in a later one, as a
    # scheduled run does.
    time.sleep(1.05 - datetime.now(UTC).microsecond / 1e6)
    draft = topics["draft"]
    state.edit_message(draft.messages[0], "<div>The final release notes.</div>")
    new = state.add_message(draft, "Ann Author", "ann.author@example.com",
                            "<div>Published.</div>", T0 + timedelta(days=4))  # fmt: skip
    second = json.loads(sync(runner, sim, "-q", "--json", "demo-announce", DEV).stdout)
    [announce, dev] = second["groups"]
    assert [(a["url"], a["subject"]) for a in announce["added"]] == [
        (new.url, "Re: Release notes draft")
    ]
    assert [c["subject"] for c in announce["changed"]] == ["Release notes draft"]
    assert dev["added"] == dev["changed"] == []
    since = json.loads(runner.invoke(cli, ["search", "after:last-sync", "--json"]).stdout)
    assert [hit["url"] for hit in since] == [new.url]
    time.sleep(1.05 - datetime.now(UTC).microsecond / 1e6)
    nothing = json.loads(sync(runner, sim, "-q", "--json", "demo-announce").stdout)
    assert nothing["groups"][0]["added"] == []
    assert runner.invoke(cli, ["search", "after:last-sync", "--json"]).stdout == "[]\n"


# --- 8. read-only archives -------------------------------------------------------------------


def as_another_user(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """The CLI run by a user who cannot write ``cwd`` (root ignores permissions, so
    root runs it as nobody)."""
    command = [sys.executable, "-c", "from archive.cli import cli; cli()", *args]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot test as another user")
        command = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    env = {"PATH": os.environ.get("PATH", "/usr/bin"), "HOME": str(cwd), "LC_ALL": "C.UTF-8",
           "PYTHONPATH": str(REPO), "XDG_CONFIG_HOME": str(cwd)}  # fmt: skip
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def shared_folder():
    """A world-readable folder outside pytest's private tmp, removed afterwards."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="listarchive-shared-"))
    folder.chmod(0o755)
    yield folder
    for path in (folder, *folder.rglob("*")):
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(folder)


def test_a_read_only_archive_is_read_without_writing(synced, shared_folder):
    runner, state, topics, sim = synced
    probe = as_another_user(["--version"], shared_folder)
    if probe.returncode != 0:
        said = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"the checkout is not readable by another user ({said})")
    readonly = shared_folder / "lists"
    readonly.mkdir()
    shutil.copy("listarchive.db", readonly / "listarchive.db")
    (readonly / "listarchive.db").chmod(0o444)
    readonly.chmod(0o555)
    db = ["--db", "lists/listarchive.db"]
    for args in (["search", "happy"], ["show", topics["release"].id], ["groups"], ["runs"],
                 ["stats"], ["feed", "--group", "dev"]):  # fmt: skip
        result = as_another_user([*args, *db], shared_folder)
        assert result.returncode == 0, (args, result.stderr)
        assert result.stderr in ("", "No messages match.\n"), result.stderr
    assert "Demo v1.30.2" in as_another_user(["search", "happy", *db], shared_folder).stdout
    assert sorted(p.name for p in readonly.iterdir()) == ["listarchive.db"]  # no -wal, -shm

    refused = as_another_user(["sync", "dev", "--base-url", "http://127.0.0.1:9", *db],
                              shared_folder)  # fmt: skip
    assert refused.returncode == 11, refused.stderr
    assert refused.stderr.startswith("Error: ") and refused.stderr.count("\n") == 1
    assert "Permission denied" in refused.stderr or "not writable" in refused.stderr

    readonly.chmod(0o755)
    (readonly / "listarchive.db").chmod(0o000)
    unreadable = as_another_user(["search", "happy", *db], shared_folder)
    assert unreadable.returncode == 11
    assert unreadable.stderr == "Error: cannot read lists/listarchive.db: permission denied\n"


# --- 12. stats, groups remove, DNS failures ---------------------------------------------------


def test_stats(synced):
    runner = synced[0]
    result = runner.invoke(cli, ["stats"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("4 messages in 4 threads, 2024-01-08 to 2024-01-11\n")
    assert "demo-announce@googlegroups.com        2         3  2024-01-08  2024-01-10" in text
    assert "  2024-01       3  " in text
    assert "Ann Author           1  2024-01-08  2024-01-08" in text
    data = json.loads(runner.invoke(cli, ["stats", "--json", "--top", "1"]).stdout)
    assert data["messages"] == 4 and len(data["top_posters"]) == 1
    assert {g["group"]: g["months"] for g in data["groups"]} == {
        ANN: {"2024-01": 3}, DEV: {"2024-01": 2}
    }


def test_groups_remove_keeps_what_other_groups_share(synced):
    runner, state, topics, sim = synced
    elsewhere = runner.invoke(cli, ["groups", "--db", "other.db", "remove", "demo-announce"])
    assert "no archive at other.db" in one_line_error(elsewhere, 11)  # the group's --db counts
    assert not list(Path().glob("other.db*"))
    result = runner.invoke(cli, ["groups", "remove", "demo-announce"])
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"Removed {ANN}: 2 threads, 3 postings, 2 messages no other group has "
        "(1 kept for other groups)\n"
    )
    groups = json.loads(runner.invoke(cli, ["groups", "--json"]).stdout)
    assert [g["key"] for g in groups] == [DEV]
    assert runner.invoke(cli, ["search", "draft", "--json"]).stdout == "[]\n"
    hits = json.loads(runner.invoke(cli, ["search", "happy", "--json"]).stdout)
    assert [h["groups"] for h in hits] == [[DEV]]
    with Archive("listarchive.db") as archive:
        conn = archive.db.conn
        conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')")
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    again = sync(runner, sim, "-q", "--json", "demo-announce")
    assert again.exit_code == 0
    assert json.loads(again.stdout)["groups"][0]["new_messages"] == 2  # the shared one stayed


def test_the_sync_lock_follows_symlinks(synced):
    from archive.sync import archive_lock

    runner, state, topics, sim = synced
    Path("link.db").symlink_to(Path("listarchive.db").absolute())
    with archive_lock("listarchive.db"):
        result = sync(runner, sim, "--db", "link.db", "dev")
    assert result.exit_code == 10, result.output
    assert "another listarchive sync is running" in result.stderr


def run_without_network(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """The CLI in a network namespace of its own (nothing but a down loopback): a name
    lookup fails there for real, and nothing leaves the machine. Retries wait 1 ms."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare is not installed")
    flags = ["-n"] if os.geteuid() == 0 else ["-rn"]
    code = ("import scraper.http as h; h.BACKOFF_INITIAL = 0.001; "
            "from archive.cli import cli; cli()")  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_CONFIG_HOME": str(cwd)}
    env.pop("LISTARCHIVE_CONFIG", None)
    env.pop("LISTARCHIVE_BASE_URL", None)
    result = subprocess.run([unshare, *flags, sys.executable, "-c", code, *args], cwd=cwd,
                            env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    if "unshare failed" in result.stderr or "unshare:" in result.stderr:
        pytest.skip(f"cannot make a network namespace here: {result.stderr.strip()}")
    return result


def test_dns_failures_name_the_host(tmp_path):
    result = run_without_network(["sync", "--delay", "0", "golang-announce"], tmp_path)
    assert result.returncode == 5, result.stderr
    assert "cannot resolve groups.google.com: check the network or proxy" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_without_network(
        ["sync", "--delay", "0", "--base-url", "http://mirror.example.invalid:8080",
         "golang-announce"], tmp_path)  # fmt: skip
    assert result.returncode == 5, result.stderr
    assert "cannot resolve mirror.example.invalid: check the network or proxy" in result.stderr


def test_shell_completion_completes_commands(tmp_path):
    listarchive = Path(sys.executable).parent / "listarchive"
    if not listarchive.exists():
        pytest.skip("the listarchive script is not installed beside this Python")
    env = {**os.environ, "_LISTARCHIVE_COMPLETE": "bash_complete",
           "COMP_WORDS": "listarchive gr", "COMP_CWORD": "1"}  # fmt: skip
    result = subprocess.run([listarchive], env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["plain,groups"], result
    env["COMP_WORDS"], env["COMP_CWORD"] = "listarchive groups r", "2"
    result = subprocess.run([listarchive], env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["plain,remove"], result
    env["_LISTARCHIVE_COMPLETE"] = "bash_source"
    script = subprocess.run([listarchive], env=env, capture_output=True, text=True, timeout=60)
    assert "_LISTARCHIVE_COMPLETE=bash_complete" in script.stdout


# --- 11. progress and runs -------------------------------------------------------------------


def start_sync(db: Path, sim, *args: str, **popen) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTARCHIVE_")}
    return subprocess.Popen(
        [sys.executable, "-c", "from archive.cli import cli; cli()", "sync", "--db", str(db),
         "--base-url", sim.base_url, "--delay", "0", *args],
        cwd=db.parent, env={**env, "PYTHONPATH": str(REPO)}, text=True, **popen,
    )  # fmt: skip


def slow_world(topics: int):
    state = GroupsState(seed=5)
    group = state.add_group("slow", None, "Slow group")
    for i in range(topics):
        topic = state.add_topic(group, f"slow topic {i}", "Ann Author", "ann@example.com",
                                f"<div>opening {i}</div>")  # fmt: skip
        state.add_message(topic, "Bob", "bob@example.net", f"<div>reply {i}</div>")
    return state


def stored(db: Path, sql: str) -> int:
    import sqlite3

    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_a_killed_run_shows_what_it_saved(runner, tmp_path):
    import signal

    with Simulator(slow_world(30)) as sim:
        sim.fault("latency", seconds=0.1)
        db = tmp_path / "work" / "listarchive.db"
        process = start_sync(db, sim, "slow", stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 60
        while stored(db, "SELECT count(*) FROM threads") < 3:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        messages = stored(db, "SELECT count(*) FROM messages")
        threads = stored(db, "SELECT count(*) FROM threads")
        [run] = json.loads(runner.invoke(cli, ["runs", "--json"]).stdout)
        assert run["status"] == "interrupted"
        assert (run["messages_new"], run["threads_fetched"]) == (messages, threads)
        assert 6 <= messages < 60
        assert "the process ended before recording its result" in run["errors"]
        table = runner.invoke(cli, ["runs"]).stdout
        assert "interrupted" in table and str(messages) in table

        sim.clear_faults()
        time.sleep(1.05 - datetime.now(UTC).microsecond / 1e6)
        assert sync(runner, sim, "-q", "slow").exit_code == 0
        latest, killed = json.loads(runner.invoke(cli, ["runs", "--json"]).stdout)
        assert killed["status"] == "interrupted" and killed["messages_new"] == messages
        assert latest["status"] == "ok" and latest["messages_new"] == 60 - messages


def test_the_progress_bar_shows_messages_and_their_rate(tmp_path):
    import pty

    def on_a_terminal(*args: str) -> str:
        main, secondary = pty.openpty()
        process = start_sync(tmp_path / "lists.db", sim, *args, stdout=subprocess.DEVNULL,
                             stderr=secondary)  # fmt: skip
        os.close(secondary)
        output = b""
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            output += chunk
        os.close(main)
        assert process.wait(timeout=60) == 0
        return output.decode("utf-8", "replace")

    state = slow_world(12)
    with Simulator(state) as sim:
        sim.fault("latency", seconds=0.05)
        text = on_a_terminal("slow")
        assert "slow@googlegroups.com" in text
        assert "24 messages, " in text and "/s" in text
        assert "12/12" in text
        # Two threads changed: the other ten, already archived, shorten the bar instead
        # of filling it, so what is left (and the time left) is the two fetches.
        group = state.group("slow")
        for topic in group.topics[3:5]:
            state.add_message(topic, "Cy", "cy@example.org", "<div>more</div>")
        text = on_a_terminal("--full", "slow")
        assert "2/2" in text and "6 messages, " in text
        assert "12/12" not in text


def test_the_readme_cron_example_mails_what_sync_added(runner, world):
    """The README's cron line pipes ``sync --json`` through jq: run that filter, in jq,
    on a real run's output."""
    import re
    import shlex

    jq = shutil.which("jq")
    if jq is None:
        pytest.skip("jq is not installed (.ci/run installs it)")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    [line] = [x for x in readme.splitlines() if "sync --quiet --json | jq" in x and "mail" in x]
    words = shlex.split(line.split("sync --quiet --json", 1)[1])
    assert words[:3] == ["|", "jq", "-r"] and words[4] == "|"
    words = words[1:4]
    state, topics, sim = world
    result = sync(runner, sim, "--quiet", "--json", "demo-announce")
    mailed = subprocess.run([jq, "-r", words[2]], input=result.stdout, capture_output=True,
                            text=True, check=True, timeout=60).stdout  # fmt: skip
    assert re.search(r"^2024-01-08T09:00:00Z  \[ANNOUNCE\] Demo v1\.30\.2 released$", mailed,
                     re.M)  # fmt: skip
    assert f"  Bruno Díaz  {topics['reply'].url}" in mailed
    nothing = sync(runner, sim, "--quiet", "--json", "demo-announce")
    assert subprocess.run([jq, "-r", words[2]], input=nothing.stdout, capture_output=True,
                          text=True, timeout=60).stdout == ""  # fmt: skip
