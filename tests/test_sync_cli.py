"""`listarchive sync`, `groups` and `runs` from the command line, and real processes
killed, interrupted or racing each other mid-run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive.cli import cli
from archive.db import Archive
from tests.helpers.sync import (
    add_small_group,
    assert_archived_exactly_once,
    assert_every_thread_whole,
    integrity_ok,
    make_fetcher,
    run,
)
from tests.simulator import GroupsState, Simulator

SMALL = "https://groups.google.com/g/small"


@pytest.fixture
def runner(monkeypatch, tmp_path):
    """A CLI runner in an empty folder, with no configuration from the environment."""
    for name in ("LISTARCHIVE_DB", "LISTARCHIVE_CONFIG", "LISTARCHIVE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return CliRunner()


@pytest.fixture
def two_groups():
    state = GroupsState()
    good = add_small_group(state, "good", 4)
    add_small_group(state, "secret", 2, private=True)
    with Simulator(state) as sim:
        yield state, good, sim


def sync(runner, sim, *args):
    return runner.invoke(cli, ["sync", "--base-url", sim.base_url, "--delay", "0", *args])


def test_a_config_file_run_needs_no_arguments(runner, two_groups, tmp_path):
    state, good, sim = two_groups
    (tmp_path / "listarchive.toml").write_text(f"""
db = "data/lists.db"
delay = 0
base_url = "{sim.base_url}"
groups = ["https://groups.google.com/g/good"]
""")
    (tmp_path / "data").mkdir()
    result = runner.invoke(cli, ["sync"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("good@googlegroups.com: 4 new threads, 8 new messages")
    assert_archived_exactly_once(tmp_path / "data" / "lists.db", good)
    assert not (tmp_path / "listarchive.db").exists()


def test_command_line_options_beat_the_config(runner, two_groups, tmp_path, monkeypatch):
    state, good, sim = two_groups
    config = tmp_path / "elsewhere.toml"
    config.write_text(f'db = "cfg.db"\nbase_url = "{sim.base_url}"\ngroups = ["secret"]\n')
    monkeypatch.setenv("LISTARCHIVE_CONFIG", str(config))
    result = runner.invoke(cli, ["sync", "--db", "cli.db", "--delay", "0", "good"])
    assert result.exit_code == 0, result.output  # the URL replaced the config's groups
    assert (tmp_path / "cli.db").exists() and not (tmp_path / "cfg.db").exists()
    monkeypatch.setenv("LISTARCHIVE_DB", str(tmp_path / "env.db"))
    result = runner.invoke(cli, ["sync", "--delay", "0", "good"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "env.db").exists() and not (tmp_path / "cfg.db").exists()


def test_json_summary_on_stdout(runner, two_groups, tmp_path):
    state, good, sim = two_groups
    result = sync(runner, sim, "--json", "good")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["status"], summary["exit_code"], summary["new_messages"]) == ("ok", 0, 8)
    [group] = summary["groups"]
    assert group["group"] == "good@googlegroups.com"
    assert (group["mode"], group["new_threads"], group["requests"]) == ("backfill", 4, 5)
    # Written as it is read from the archive, yet the same document json.dumps writes.
    assert result.stdout == json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
    added = group["added"]
    assert len(added) == 8 and len({m["id"] for m in added}) == 8
    assert all(m["url"].startswith("https://groups.google.com/g/good/c/") for m in added)
    assert all(m["subject"] and m["posted_at"] for m in added)
    again = json.loads(sync(runner, sim, "--json", "good").stdout)
    assert again["groups"][0]["mode"] == "incremental" and again["requests"] == 1


def test_exit_codes_and_one_line_errors(runner, two_groups, tmp_path):
    state, good, sim = two_groups
    private = sync(runner, sim, "secret")
    assert private.exit_code == 6
    assert "secret@googlegroups.com:" in private.stderr and "FAILED: access denied" in (
        private.stderr)
    partial = sync(runner, sim, "--quiet", "secret", "good")
    assert partial.exit_code == 3
    # --quiet: only the failed group's line
    assert partial.stderr.count("\n") == 1 and partial.stderr.startswith("secret@")
    assert_archived_exactly_once(tmp_path / "listarchive.db", good)

    bad_url = sync(runner, sim, "https://example.com/g/x")
    assert bad_url.exit_code == 4 and bad_url.stderr.startswith("Error: not a Google Groups URL")
    nothing = sync(runner, sim)
    assert nothing.exit_code == 2 and "no URL given" in nothing.stderr
    (tmp_path / "listarchive.toml").write_text("groups = [")
    bad_config = sync(runner, sim)
    assert bad_config.exit_code == 2 and "is not valid TOML" in bad_config.stderr
    assert sync(runner, sim, "--delay", "-1", "good").exit_code == 2


def test_groups_and_runs(runner, two_groups, tmp_path):
    state, good, sim = two_groups
    missing = runner.invoke(cli, ["groups"])
    assert missing.exit_code == 11 and "no archive" in missing.stderr
    sync(runner, sim, "good")
    sync(runner, sim, "secret", "good")

    groups = runner.invoke(cli, ["groups"])
    assert groups.exit_code == 0
    header, rule, row = groups.stdout.splitlines()
    assert header.split() == ["group", "title", "threads", "messages", "last", "synced"]
    assert row.split()[:5] == ["good@googlegroups.com", "Group", "good", "4", "8"]
    [data] = json.loads(runner.invoke(cli, ["groups", "--json"]).stdout)
    assert (data["key"], data["threads"], data["messages"]) == ("good@googlegroups.com", 4, 8)

    runs = runner.invoke(cli, ["runs"])
    assert runs.exit_code == 0
    lines = runs.stdout.splitlines()
    assert lines[2].split()[:3] == ["2", lines[2].split()[1], "partial"]
    assert lines[3].split()[2] == "ok"
    latest, first = json.loads(runner.invoke(cli, ["runs", "--json", "-n", "5"]).stdout)
    assert (first["status"], first["messages_new"], first["threads_fetched"]) == ("ok", 8, 4)
    assert latest["status"] == "partial" and "access denied" in latest["errors"][0]
    assert json.loads(runner.invoke(cli, ["runs", "--json", "-n", "1"]).stdout)[0]["id"] == 2


# --- real processes ---------------------------------------------------------------------------


def start_sync(db: Path, sim: Simulator, *urls: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTARCHIVE_")}
    return subprocess.Popen(
        [sys.executable, "-c", "from archive.cli import cli; cli()", "sync", "--db", str(db),
         "--base-url", sim.base_url, "--delay", "0", *urls],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=db.parent,
        env=env,
        text=True,
    )


def count(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def wait_for(condition, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"sync ended early: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("timed out waiting for the sync to make progress")
        time.sleep(0.02)


@pytest.fixture
def slow_group():
    """A 40-topic group whose every reply takes a tenth of a second."""
    state = GroupsState(seed=11)
    group = add_small_group(state, "small", 40)
    with Simulator(state) as sim:
        sim.fault("latency", seconds=0.1)
        yield state, group, sim


def threads_saved(db: Path) -> int:
    return count(db, "SELECT count(*) FROM threads")


def test_a_killed_sync_loses_nothing_and_the_next_run_completes(slow_group, tmp_path):
    state, group, sim = slow_group
    db = tmp_path / "archive.db"
    process = start_sync(db, sim, SMALL)
    wait_for(lambda: threads_saved(db) >= 3, process)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert integrity_ok(db)
    saved = assert_every_thread_whole(db, group)
    assert 3 <= saved < 40

    sim.clear_faults()
    with make_fetcher(sim) as fetcher:
        summary = run(db, [SMALL], fetcher)
    assert summary.exit_code == 0
    assert summary.groups[0].threads_fetched == 40 - saved
    assert_archived_exactly_once(db, group)
    assert integrity_ok(db)
    with Archive(db) as archive:
        killed, last = archive.list_runs()[::-1]
    assert killed["status"] == "interrupted" and last["status"] == "ok"


def test_ctrl_c_finishes_the_thread_and_records_the_run_as_interrupted(slow_group, tmp_path):
    state, group, sim = slow_group
    db = tmp_path / "archive.db"
    process = start_sync(db, sim, SMALL)
    wait_for(lambda: threads_saved(db) >= 2, process)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "Stopping after the current thread" in stderr
    assert "small@googlegroups.com:" in stderr and "interrupted" in stderr
    assert "Traceback" not in stderr
    saved = assert_every_thread_whole(db, group)
    assert 2 <= saved < 40
    with Archive(db) as archive:
        [record] = archive.list_runs()
        assert archive.sync_mark(group.email) is None
    assert record["status"] == "interrupted" and record["threads_fetched"] == saved


def test_sigterm_stops_like_ctrl_c(slow_group, tmp_path):
    state, group, sim = slow_group
    db = tmp_path / "archive.db"
    process = start_sync(db, sim, SMALL)
    wait_for(lambda: threads_saved(db) >= 1, process)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)
    assert process.returncode == 130
    assert count(db, "SELECT count(*) FROM runs WHERE status = 'interrupted'") == 1


def test_a_second_sync_exits_at_once_while_the_first_runs(slow_group, tmp_path):
    state, group, sim = slow_group
    db = tmp_path / "archive.db"
    first = start_sync(db, sim, SMALL)
    wait_for(lambda: threads_saved(db) >= 1, first)
    second = start_sync(db, sim, SMALL)
    stdout, stderr = second.communicate(timeout=30)
    assert second.returncode == 10
    assert stderr.strip().splitlines() == [
        f"Error: another listarchive sync is running on {db}; try again when it has finished"]
    assert first.poll() is None  # the second did not wait for the first
    with Archive(db, create=False) as archive:  # reading while a sync runs is fine
        assert archive.list_runs()[0]["status"] == "running"
    stdout, stderr = first.communicate(timeout=60)
    assert first.returncode == 0, stderr
    assert_archived_exactly_once(db, group)
    assert count(db, "SELECT count(*) FROM runs") == 1


def test_a_second_ctrl_c_stops_at_once_and_still_loses_nothing(slow_group, tmp_path):
    state, group, sim = slow_group
    db = tmp_path / "archive.db"
    process = start_sync(db, sim, SMALL)
    wait_for(lambda: threads_saved(db) >= 2, process)
    process.send_signal(signal.SIGINT)
    time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert integrity_ok(db)
    assert 2 <= assert_every_thread_whole(db, group) < 40
    assert count(db, "SELECT count(*) FROM runs WHERE status = 'interrupted'") == 1


def test_timeout_gives_up_on_a_dripping_thread_and_comes_from_the_flag_or_the_file(
    runner, two_groups, tmp_path
):
    state, good, sim = two_groups
    dripping = good.visible_topics()[1].id
    # One byte every 50 ms: the page would take minutes; the 0.5 s timeout ends it.
    sim.fault("drip", path=f"/c/{dripping}$", interval=0.05)
    started = time.monotonic()
    result = sync(runner, sim, "--timeout", "0.5", "good")
    assert time.monotonic() - started < 20
    assert result.exit_code == 5, result.output
    assert "more than 0.5 s" in result.stderr
    with Archive(tmp_path / "listarchive.db") as archive:
        archived = {t["id"] for t in archive.list_threads("good@googlegroups.com")}
    assert dripping not in archived and len(archived) == len(good.visible_topics()) - 1

    (tmp_path / "listarchive.toml").write_text("timeout = 0.25\n")
    from_file = sync(runner, sim, "--db", "other.db", "good")
    assert from_file.exit_code == 5 and "more than 0.25 s" in from_file.stderr
    assert "Traceback" not in from_file.output

    for bad in ("0", "-1", "nan", "soon"):
        refused = sync(runner, sim, "--timeout", bad, "good")
        assert refused.exit_code == 2 and "--timeout" in refused.stderr
