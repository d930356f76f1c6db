"""Judge one ``listarchive inspect --json`` or ``sync --json`` output for drift.

Used by ``.github/workflows/drift.yml`` against the live Google Groups:

    python .github/drift_check.py group|thread|sync FILE

Exits 0 when the output looks like what the parsers produce from pages they know, and 1
with one line per problem otherwise. A reply that parsed only through the HTML fallback
(``"source": "dom"``) counts as drift: the fallback loses exact times and more. So does
a time outside the years Google Groups can hold (an epoch field read in the wrong unit
lands in 1970), or one not written in the archive's format (``2024-01-02T03:04:05Z``,
as every JSON output of listarchive writes times).
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

KINDS = ("group", "thread", "sync")
# The archive's one time format (archive/times.py): UTC, to the second, with a Z.
TIME_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
# Google Groups keeps Usenet posts from 1981 on; a later time than tomorrow is no post's.
EARLIEST = datetime(1981, 1, 1, tzinfo=UTC)


def problems(kind: str, doc: Any) -> list[str]:
    """What is wrong with ``doc`` (the decoded JSON output) for a ``kind`` check."""
    if kind not in KINDS:
        raise ValueError(f"unknown check {kind!r}; one of {', '.join(KINDS)}")
    if not isinstance(doc, dict):
        return [f"expected a JSON object, got {type(doc).__name__}"]
    if kind == "sync":
        return _sync_problems(doc)
    found = []
    if doc.get("kind") != kind:
        found.append(f"expected a {kind}, got {doc.get('kind')!r}")
    if doc.get("source") == "dom":
        found.append("parsed only through the HTML fallback: the embedded data has drifted")
    found += _group_problems(doc) if kind == "group" else _thread_problems(doc)
    return found


def _group_problems(doc: dict[str, Any]) -> list[str]:
    found = []
    topics = doc.get("topics") or []
    total = (doc.get("group") or {}).get("total_topics")
    if not topics:
        found.append("no topics on the group page")
    if not isinstance(total, int) or total < len(topics):
        found.append(f"the group's topic count is {total!r} for {len(topics)} topics listed")
    elif total > len(topics) and not doc.get("has_more"):
        found.append(f"{total} topics but no continuation token after {len(topics)}")
    for topic in topics:
        where = f"topic {topic.get('id')!r}"
        found += _missing(
            topic, "topic", {"subject": "subject", "last_activity_at": "last-activity time"}
        )
        found += _bad_times(topic, "topic", ("created_at", "last_activity_at"))
        if not isinstance(topic.get("message_count"), int) or topic["message_count"] < 1:
            found.append(f"{where} has message count {topic.get('message_count')!r}")
    return found


def _thread_problems(doc: dict[str, Any]) -> list[str]:
    found = []
    messages = doc.get("messages") or []
    if not messages:
        found.append("no messages in the thread")
    if not doc.get("subject"):
        found.append("the thread has no subject")
    if doc.get("complete") is False:
        found.append(
            f"{len(messages)} of {doc.get('expected_count')} messages: the thread came incomplete"
        )
    for message in messages:
        found += _missing(
            message, "message", {"posted_at": "post time", "author": "author", "body_html": "body"}
        )
        found += _bad_times(message, "message", ("posted_at", "updated_at"))
    return found


def _missing(record: dict[str, Any], kind: str, fields: dict[str, str]) -> list[str]:
    """What ``record`` lacks: its id, or any of ``fields`` (key: what to call it)."""
    found = [] if record.get("id") else [f"a {kind} without an id"]
    where = f"{kind} {record.get('id')!r}"
    return found + [f"{where} has no {name}" for key, name in fields.items() if not record.get(key)]


def _bad_times(record: dict[str, Any], kind: str, keys: tuple[str, ...]) -> list[str]:
    """The times of ``record`` not in the archive's format, or not a plausible post time."""
    found = []
    latest = datetime.now(UTC) + timedelta(days=1)
    for key in keys:
        value = record.get(key)
        if value is None:
            continue
        where = f"{kind} {record.get('id')!r}: {key} {value!r}"
        if not isinstance(value, str) or not TIME_FORMAT.fullmatch(value):
            found.append(f"{where} is not a time like 2024-01-02T03:04:05Z")
            continue
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            found.append(f"{where} is not a date on the calendar")
            continue
        if not EARLIEST <= moment <= latest:
            found.append(f"{where} is outside {EARLIEST:%Y} to tomorrow: misread?")
    return found


def _sync_problems(doc: dict[str, Any]) -> list[str]:
    found = []
    if doc.get("status") != "ok" or doc.get("exit_code") != 0:
        found.append(f"the sync ended {doc.get('status')!r} (exit {doc.get('exit_code')!r})")
    for group in doc.get("groups") or []:
        found += [f"{group.get('group')}: {error}" for error in group.get("errors") or []]
    if not doc.get("new_messages"):
        found.append("a sync into a fresh archive stored no message")
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in KINDS:
        print(f"usage: drift_check.py {'|'.join(KINDS)} FILE", file=sys.stderr)
        return 2
    kind, path = argv
    try:
        with open(path, encoding="utf-8") as handle:
            doc = json.load(handle)
    except (OSError, ValueError) as err:
        print(f"drift: cannot read {path}: {err}", file=sys.stderr)
        return 1
    found = problems(kind, doc)
    for problem in found:
        print(f"drift: {path}: {problem}", file=sys.stderr)
    if not found:
        print(f"{path}: the {kind} parsed as expected")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
