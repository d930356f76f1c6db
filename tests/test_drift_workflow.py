"""The drift workflow (.github/workflows/drift.yml) and its checker (.github/drift_check.py).

The workflow runs against the live Google Groups, so it cannot run here. What can be
checked: that it is scheduled and runnable by hand, that every ``listarchive ...`` line in
it is a real command with valid options (parsed by click's own parser, never run), that
it names a known thread of each group, and that it uploads the saved replies when it
fails. The checker it calls is run on real outputs of ``inspect --json`` and ``sync
--json`` against the simulator: what parses today passes, an HTML-fallback parse is
drift, and so is a time the checker cannot take for a post's.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import warnings
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from archive.cli import cli
from scraper.models import ThreadRef
from scraper.urls import parse_url
from tests.helpers.sync import add_small_group
from tests.simulator import GroupsState, Simulator

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "drift.yml"
CHECKER = ROOT / ".github" / "drift_check.py"
SHELL_OPERATORS = {">", ">>", "2>", "2>&1", "|", "||", "&&", ";", "<"}
VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def checker():
    spec = importlib.util.spec_from_file_location("drift_check", CHECKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def environment(workflow: dict) -> dict[str, str]:
    env = dict(workflow.get("env") or {})
    for job in workflow["jobs"].values():
        env.update(job.get("env") or {})
    return {key: str(value) for key, value in env.items()}


def listarchive_commands(workflow: dict) -> list[list[str]]:
    """Every ``listarchive`` command line of every step, variables expanded, cut at the
    first shell operator (redirections, pipes)."""
    env = environment(workflow)
    commands = []
    for step in steps(workflow):
        script = step.get("run") or ""
        for line in script.replace("\\\n", " ").splitlines():
            if not line.strip().startswith("listarchive"):
                continue
            words = shlex.split(VARIABLE.sub(lambda m: env.get(m[1], m[0]), line))
            for n, word in enumerate(words):
                if word in SHELL_OPERATORS or word.startswith((">", "2>")):
                    words = words[:n]
                    break
            commands.append(words[1:])
    return commands


def parse_command(args: list[str]) -> click.Context:
    """Parse ``listarchive ARGS`` with click's own parser, without running anything."""
    context = cli.make_context("listarchive", list(args), resilient_parsing=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        leading = list(getattr(context, "protected_args", []))
    name, command, rest = cli.resolve_command(context, [*leading, *context.args])
    assert command is not None, f"no such command: {args}"
    return command.make_context(name, rest, parent=context, resilient_parsing=False)


def test_the_workflow_runs_weekly_and_on_demand(workflow):
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert "workflow_dispatch" in triggers
    (schedule,) = triggers["schedule"]
    minute, hour, day, month, weekday = schedule["cron"].split()
    assert (day, month) == ("*", "*") and weekday.isdigit()  # once a week


def test_every_listarchive_command_in_it_is_real_with_valid_options(workflow):
    commands = listarchive_commands(workflow)
    names = [args[0] for args in commands]
    assert names.count("inspect") == 4 and names.count("sync") == 1
    for args in commands:
        context = parse_command(args)
        assert context.command.name == args[0]
        assert context.params.get("as_json") is True, f"not --json: {args}"


def test_the_checks_cover_each_group_page_and_a_known_thread_of_each(workflow):
    inspected = [parse_command(a).params["url"] for a in listarchive_commands(workflow)
                 if a[0] == "inspect"]
    refs = [parse_url(url) for url in inspected]
    groups = {ref.key for ref in refs if not isinstance(ref, ThreadRef)}
    threads = {ref.group.key: ref.topic_id for ref in refs if isinstance(ref, ThreadRef)}
    assert groups == {"golang-announce@googlegroups.com", "dev@kubernetes.io"}
    assert set(threads) == groups
    (synced,) = [parse_command(a) for a in listarchive_commands(workflow) if a[0] == "sync"]
    (url,) = synced.params["urls"]
    assert isinstance(parse_url(url), ThreadRef)  # a one-thread sync


def test_a_failure_uploads_the_saved_replies(workflow):
    env = environment(workflow)
    reports = env["LISTARCHIVE_REPORT_DIR"]
    (upload,) = [s for s in steps(workflow) if str(s.get("uses", "")).startswith(
        "actions/upload-artifact@")]
    assert upload["if"] == "failure()"
    uploaded = upload["with"]["path"].rstrip("/")
    assert reports.startswith(uploaded + "/")
    # Each check step judges what listarchive printed with the checker, and fails the job.
    checked = [s for s in steps(workflow) if "drift_check.py" in (s.get("run") or "")]
    assert len(checked) == 5 and not any("continue-on-error" in s for s in checked)


def inspected(sim: Simulator, url: str) -> dict:
    """What ``listarchive inspect --json URL`` prints, as the workflow saves it."""
    result = CliRunner().invoke(cli, ["inspect", "--json", "--delay", "0",
                                      "--base-url", sim.base_url, url])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def inspected_pair(*faults: str) -> tuple[dict, dict]:
    """``inspect --json`` of a 35-topic group's page and of its newest thread, with the
    simulator's ``faults`` switched on."""
    state = GroupsState()
    group = add_small_group(state, "watched", 35)
    topic = group.visible_topics()[0]
    with Simulator(state) as sim:
        for fault in faults:
            sim.fault(fault)
        return (inspected(sim, "https://groups.google.com/g/watched"),
                inspected(sim, f"https://groups.google.com/g/watched/c/{topic.id}"))


def test_the_checker_passes_what_parses_today(checker, tmp_path):
    state = GroupsState()
    group = add_small_group(state, "watched", 35)
    topic = group.visible_topics()[0]
    with Simulator(state) as sim:
        page = inspected(sim, "https://groups.google.com/g/watched")
        thread = inspected(sim, f"https://groups.google.com/g/watched/c/{topic.id}")
        result = CliRunner().invoke(cli, [
            "sync", "--json", "--quiet", "--db", str(tmp_path / "a.db"), "--delay", "0",
            "--base-url", sim.base_url, f"https://groups.google.com/g/watched/c/{topic.id}",
        ])
    assert result.exit_code == 0, result.output
    synced = json.loads(result.stdout)
    assert checker.problems("group", page) == []
    assert checker.problems("thread", thread) == []
    assert checker.problems("sync", synced) == []
    (tmp_path / "group.json").write_text(json.dumps(page), encoding="utf-8")
    assert checker.main(["group", str(tmp_path / "group.json")]) == 0


def test_the_checker_calls_an_html_fallback_or_an_empty_parse_drift(checker, tmp_path):
    page, thread = inspected_pair("no_json")
    assert any("HTML fallback" in p for p in checker.problems("group", page))
    assert any("HTML fallback" in p for p in checker.problems("thread", thread))
    assert checker.problems("group", {"kind": "group", "source": "json", "topics": []})
    assert checker.problems("thread", {**thread, "source": "json", "messages": []})
    assert checker.problems("sync", {"status": "failed", "exit_code": 8, "new_messages": 0})
    path = tmp_path / "thread.json"
    path.write_text(json.dumps(thread), encoding="utf-8")
    assert checker.main(["thread", str(path)]) == 1
    assert checker.main(["thread", str(tmp_path / "missing.json")]) == 1
    assert checker.main(["bogus", str(path)]) == 2


def test_the_checker_calls_a_time_it_cannot_take_for_a_posts_drift(checker):
    page, thread = inspected_pair()
    assert checker.problems("group", page) == checker.problems("thread", thread) == []
    first = thread["messages"][0]
    for bad, why in [
        (first["posted_at"].replace("Z", "+00:00"), "not a time like"),  # Python's own form
        ("2024-02-30T10:00:00Z", "not a date on the calendar"),
        ("1970-01-20T12:00:00Z", "outside 1981 to tomorrow"),  # seconds read as ms
        ("2999-01-01T00:00:00Z", "outside 1981 to tomorrow"),
    ]:
        broken = {**thread, "messages": [{**first, "posted_at": bad}, *thread["messages"][1:]]}
        assert [p for p in checker.problems("thread", broken) if why in p], bad
    topics = [{**page["topics"][0], "created_at": "yesterday"}, *page["topics"][1:]]
    assert any("created_at 'yesterday'" in p
               for p in checker.problems("group", {**page, "topics": topics}))
