"""What the CLI reports beyond search and export: a sync run's changes, the archive's
statistics, and removing a group. Plain functions over the archive; the CLI prints."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archive.db import Archive
from archive.render import inert, json_chunks, plain_table
from scraper.errors import ListarchiveError
from scraper.models import ThreadRef
from scraper.urls import parse_url

__all__ = [
    "Removed",
    "changes_json_chunks",
    "format_groups",
    "format_runs",
    "format_stats",
    "list_runs",
    "remove_group",
]


# Messages read from the archive at a time while the report is written: a first sync of a
# big group adds tens of thousands, which are never all held at once.
_SUMMARIES_AT_A_TIME = 500


def changes_json_chunks(db_path: str | Path, summary: dict[str, Any]) -> Iterator[str]:
    """``sync --json``: a run summary (``RunSummary.to_dict()``) with each group's
    ``added`` and ``changed`` message ids replaced by what a notification needs (id, URL,
    subject, author, date; the URL is the message's posting in that group), as indented
    JSON with a final newline, written as the messages are read from the archive."""
    groups = summary.get("groups", [])
    if not any(g.get("added") or g.get("changed") for g in groups):
        for group in groups:
            group["added"], group["changed"] = [], []
        yield from json_chunks(summary)
        yield "\n"
        return
    with Archive(db_path, create=False, readonly=True) as archive:
        for group in groups:
            for name in ("added", "changed"):
                group[name] = _described(archive, group["group"], group.get(name, []))
        yield from json_chunks(summary)
        yield "\n"


def _described(archive: Archive, group_key: str, ids: list[int]) -> Iterator[dict[str, Any]]:
    for start in range(0, len(ids), _SUMMARIES_AT_A_TIME):
        batch = ids[start:start + _SUMMARIES_AT_A_TIME]
        found = archive.message_summaries(sorted(set(batch)))
        yield from (_for_group(found[i], group_key) for i in batch if i in found)


def _for_group(message: dict[str, Any], group_key: str) -> dict[str, Any]:
    urls = message["urls"]
    fields = {key: value for key, value in message.items() if key != "urls"}
    return {**fields, "url": urls.get(group_key) or next(iter(urls.values()), None)}


def list_runs(db_path: str | Path, limit: int) -> list[dict[str, Any]]:
    """``listarchive runs``: the recorded runs, newest first. A run still marked running
    shows what the archive holds from it so far; if no sync holds the lock, its process
    died (``kill -9``, a power cut) and it shows as interrupted."""
    from archive.lock import lock_held

    with Archive(db_path, create=False, readonly=True) as archive:
        runs = archive.list_runs(limit)
        later: str | None = None
        for run in runs:
            if run["status"] == "running":
                run.update(archive.saved_since(run["started_at"], later))
                if lock_held(db_path) is False:
                    run["status"] = "interrupted"
                    run["errors"] = [*run["errors"], "the process ended before recording its "
                                     "result"]  # fmt: skip
            later = run["started_at"]
    return runs


# --- stats ------------------------------------------------------------------------


def format_stats(stats: dict[str, Any]) -> str:
    """Plain-text tables of :meth:`Archive.stats`: totals, groups, months, posters."""
    if not stats["groups"]:
        return "No groups archived yet. Try: listarchive sync <group URL>\n"
    lines = [
        f"{stats['messages']} messages in {stats['threads']} threads, "
        f"{_day(stats['first'])} to {_day(stats['last'])}",
        "",
    ]
    lines += plain_table(
        ["group", "threads", "messages", "first", "last"],
        [[g["group"], g["threads"], g["messages"], _day(g["first"]), _day(g["last"])]
         for g in stats["groups"]],
        numeric={1, 2},
    ).split("\n")  # fmt: skip
    for group in stats["groups"]:
        if not group["months"]:
            continue
        lines += ["", f"{inert(group['group'])}: messages per month"]
        peak = max(group["months"].values())
        for month, count in group["months"].items():
            bar = "#" * max(1, round(30 * count / peak))
            lines.append(f"  {month}  {count:>6}  {bar}")
    lines += ["", "top posters"]
    lines += plain_table(
        ["author", "messages", "first", "last"],
        [[p["author"], p["messages"], _day(p["first"]), _day(p["last"])]
         for p in stats["top_posters"]],
        numeric={1},
    ).split("\n")  # fmt: skip
    return "\n".join(lines) + "\n"


def _day(value: str | None) -> str:
    return value[:10] if value else "-"


# --- removing a group -------------------------------------------------------------


@dataclass(frozen=True)
class Removed:
    group: str
    threads: int
    postings: int
    messages: int


def remove_group(db_path: str | Path, spec: str) -> Removed:
    """``listarchive groups remove``: forget the group ``spec`` names (key, name or URL),
    holding the sync lock so no run writes it meanwhile."""
    from archive.lock import archive_lock
    from archive.search import resolve_group

    Archive(db_path, create=False, readonly=True).close()  # no lock file beside no archive
    with archive_lock(db_path), Archive(db_path, create=False) as archive:
        keys = resolve_group(archive.db.conn, spec)
        if len(keys) > 1:
            from scraper.errors import UnknownGroup

            raise UnknownGroup(f"{spec!r} names several groups ({', '.join(keys)}); give one")
        counts = archive.remove_group(keys[0])
    return Removed(group=keys[0], **counts)


# --- tables for `listarchive groups` and `listarchive runs` ---------------------------------


def format_groups(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of :meth:`Archive.list_groups` rows."""
    if not rows:
        return "No groups archived yet. Try: listarchive sync <group URL>"
    return plain_table(
        ["group", "title", "threads", "messages", "last synced"],
        [
            [r["key"], r.get("title") or "", r["threads"], r["messages"],
             r.get("last_synced_at") or "never"]
            for r in rows
        ],
        numeric={2, 3},
    )


def format_runs(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of :meth:`Archive.list_runs` rows."""
    if not rows:
        return "No runs recorded yet."
    return plain_table(
        ["id", "started", "status", "groups", "threads", "new", "changed", "requests",
         "errors"],
        [
            [
                r["id"],
                r["started_at"],
                r["status"],
                _short_groups(r["groups"]),
                r["threads_fetched"],
                r["messages_new"],
                r["messages_changed"],
                r["requests"],
                len(r["errors"]),
            ]
            for r in rows
        ],
        numeric={0, 4, 5, 6, 7, 8},
    )


def _short_groups(urls: list[str]) -> str:
    names = []
    for url in urls:
        try:
            ref = parse_url(url)
        except ListarchiveError:
            names.append(url)
            continue
        if isinstance(ref, ThreadRef):
            names.append(f"{ref.group.key} (thread {ref.topic_id})")
        else:
            names.append(ref.key)
    text = ", ".join(names)
    return text if len(text) <= 60 else text[:57] + "..."
