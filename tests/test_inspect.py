"""``listarchive inspect`` against the simulator: the plain function, CliRunner, a real process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive.cli import cli
from archive.render import format_inspection
from scraper.inspect import inspect_url

ANNOUNCE_URL = "https://groups.google.com/g/demo-announce"


def test_inspect_group_page(simulator, sim_state):
    result = inspect_url(ANNOUNCE_URL, base_url=simulator.base_url, delay=0)
    assert result["kind"] == "group"
    assert result["source"] == "json"
    assert result["url"] == ANNOUNCE_URL
    assert result["group"]["email"] == "demo-announce@googlegroups.com"
    assert result["group"]["total_topics"] == 75
    assert result["topic_count"] == len(result["topics"]) == 30
    assert result["has_more"] is True
    assert result["requests"] == 1
    topic_ids = {t.id for t in sim_state.find_group("demo-announce").topics}
    assert {t["id"] for t in result["topics"]} <= topic_ids
    first = result["topics"][0]
    assert first["url"] == f"{ANNOUNCE_URL}/c/{first['id']}"
    assert first["last_activity_at"].tzinfo is not None
    # first page only: no batchexecute call
    assert [r.method for r in simulator.requests] == ["GET"]


def test_inspect_long_thread_from_a_message_link(simulator, sim_state):
    topic = sim_state.demo.long_thread
    url = f"{topic.url}/m/{topic.messages[3].id}"
    whole = inspect_url(url, base_url=simulator.base_url, delay=0)
    assert (whole["message_count"], whole["expected_count"], whole["complete"]) == (120, 120, True)
    # When H08Fi will not read past the page's 100 messages, the thread is incomplete.
    simulator.fault("rpc_error")
    result = inspect_url(url, base_url=simulator.base_url, delay=0)
    assert result["kind"] == "thread"
    assert result["source"] == "json"
    assert result["subject"] == topic.subject
    assert result["message_count"] == 100
    assert result["expected_count"] == 120
    assert result["complete"] is False
    assert result["message_id"] == topic.messages[3].id
    assert [m["id"] for m in result["messages"]] == [m.id for m in topic.messages[:100]]
    text = format_inspection(result)
    assert "100 of 120 (incomplete" in text
    assert "*   4. " in text  # the linked message is marked


def test_inspect_reports_the_dom_layer(simulator):
    simulator.fault("no_json")
    result = inspect_url(ANNOUNCE_URL, base_url=simulator.base_url, delay=0)
    assert result["source"] == "dom"
    assert "DOM fallback" in format_inspection(result)


@pytest.fixture
def runner():
    return CliRunner()


def test_cli_inspect_text(runner, simulator, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(
        cli, ["inspect", ANNOUNCE_URL, "--base-url", simulator.base_url, "--delay", "0"]
    )
    assert os.listdir(tmp_path) == []  # nothing stored
    assert result.exit_code == 0, result.output
    assert "Group      demo-announce@googlegroups.com  (Demo announcements)" in result.stdout
    assert "Parsed by  embedded JSON" in result.stdout
    assert "30 on the first page of 75; more pages: yes" in result.stdout


def test_cli_inspect_json_with_base_url_from_environment(runner, simulator):
    result = runner.invoke(
        cli,
        ["inspect", "--json", "groups.google.com/a/example.org/g/dev/"],
        env={"LISTARCHIVE_BASE_URL": simulator.base_url},
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["kind"] == "group"
    assert document["group"]["email"] == "dev@example.org"
    # Times as every JSON output writes them (archive/times.py), not Python's +00:00.
    times = [t["last_activity_at"] for t in document["topics"]]
    assert times and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t) for t in times)
    assert document["topic_count"] == 10
    assert document["has_more"] is False


def test_cli_inspect_bad_url(runner):
    result = runner.invoke(cli, ["inspect", "https://example.com/g/x"])
    assert result.exit_code == 4
    assert result.stdout == ""
    assert result.stderr.startswith("Error: not a Google Groups URL")
    assert result.stderr.count("\n") == 1


def test_cli_inspect_private_group(runner, simulator):
    simulator.fault("private")
    result = runner.invoke(
        cli, ["inspect", ANNOUNCE_URL, "--base-url", simulator.base_url, "--delay", "0"]
    )
    assert result.exit_code == 6
    assert result.stderr == (
        f"Error: access denied: {ANNOUNCE_URL} is private or restricted "
        "(redirected to /access-error)\n"
    )


def test_cli_inspect_unreadable_cookies(runner, tmp_path):
    missing = tmp_path / "missing.txt"
    result = runner.invoke(cli, ["inspect", ANNOUNCE_URL, "--cookies", str(missing)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: cannot read cookies file {missing}")


def _listarchive_command() -> list[str]:
    script = Path(sys.executable).with_name("listarchive")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from archive.cli import cli; cli()"]


def run_listarchive(*args: str, base_url: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, LISTARCHIVE_BASE_URL=base_url)
    return subprocess.run(
        _listarchive_command() + list(args),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_inspect_as_a_real_process(simulator, sim_state):
    topic = sim_state.demo.long_thread
    simulator.fault("rpc_error", path="batchexecute", times=1)
    text = run_listarchive("inspect", topic.url, "--delay", "0", base_url=simulator.base_url)
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith(f"Thread     {topic.subject}\n")
    assert "Messages   100 of 120 (incomplete" in text.stdout
    assert "100 of 120 messages" in text.stderr  # the warning goes to stderr

    as_json = run_listarchive(
        "inspect", "--json", ANNOUNCE_URL, "--delay", "0", base_url=simulator.base_url
    )
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert document["kind"] == "group"
    assert document["source"] == "json"
    assert len(document["topics"]) == 30
