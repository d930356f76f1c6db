"""Incremental sync: bring the archive up to date with a list of groups (or threads).

A run walks each group's topic list newest activity first and fetches only the
threads whose last activity or message count differ from the archive. Each thread
is saved in its own transaction, so a run stopped at any point (Ctrl-C, a kill, a
dropped network) leaves every saved thread whole, and the next run carries on.

When to stop walking: once a group has been walked completely at least once, the
archive records its *sync mark*, the newest last-activity time that complete walk
covered. Every topic whose activity is at or before the mark was up to date then,
and a topic that gains a message gets a newer activity time. So an incremental walk
stops after :data:`UNCHANGED_LIMIT` unchanged topics in a row at or before the
mark. A group without a mark (never walked to its end, or only interrupted walks)
is walked to the end: an interrupted first run backfills on the next one, and an
interrupted incremental run does not hide the topics it had not reached yet.
``full=True`` always walks to the end, still skipping unchanged threads.

Only one sync runs on an archive at a time: :func:`sync_groups` holds
``<db>.lock`` (an OS lock, released even when the process is killed) and a
second run raises :class:`~scraper.errors.ArchiveLocked` at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archive import __version__
from archive.db import Archive, ThreadState
from archive.lock import archive_lock
from archive.times import utc_iso
from scraper.crawl import Crawler
from scraper.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    AccessDenied,
    ArchiveError,
    FetchError,
    Interrupted,
    LayoutChanged,
    ListarchiveError,
    NotFound,
    RateLimited,
    ThreadGone,
)
from scraper.http import Fetcher
from scraper.models import Group, GroupRef, RejectedTopic, Thread, ThreadRef, Topic, TopicPage
from scraper.urls import parse_url

__all__ = [
    "GroupResult",
    "Interrupted",
    "RunSummary",
    "SyncProgress",
    "SyncTarget",
    "UNCHANGED_LIMIT",
    "MAX_FAILED_THREADS_IN_A_ROW",
    "archive_lock",
    "interruptible_sleep",
    "sync_groups",
    "targets_from_urls",
    "topic_unchanged",
]

log = logging.getLogger("listarchive")

UNCHANGED_LIMIT = 10
# Threads that failed after the fetcher's own retries, one after another: the host is
# probably gone, and each further try would cost the whole retry budget again.
MAX_FAILED_THREADS_IN_A_ROW = 3


def utc_now() -> datetime:
    return datetime.now(UTC)


class _GroupStopped(Exception):
    """Ends one group's walk; ``error`` is what the group is reported as failing with."""

    def __init__(self, error: ListarchiveError) -> None:
        super().__init__(str(error))
        self.error = error


# --- what to sync -----------------------------------------------------------------


@dataclass(frozen=True)
class SyncTarget:
    """A group to sync, or a single thread (``ref`` is a ThreadRef), with its options.

    ``full`` walks the whole topic list; ``delay`` overrides the run's minimum
    interval between requests for this group.
    """

    ref: GroupRef | ThreadRef
    full: bool = False
    delay: float | None = None

    @property
    def group_ref(self) -> GroupRef:
        return self.ref.group if isinstance(self.ref, ThreadRef) else self.ref

    @property
    def is_thread(self) -> bool:
        return isinstance(self.ref, ThreadRef)

    @property
    def key(self) -> str:
        return self.group_ref.key

    @property
    def url(self) -> str:
        if isinstance(self.ref, ThreadRef):
            return self.ref.thread_url
        return self.ref.url


def targets_from_urls(urls: Iterable[str], *, full: bool = False) -> list[SyncTarget]:
    """Parse group or thread URLs (any form) into targets; :class:`BadURL` on junk."""
    return [SyncTarget(parse_url(url), full=full) for url in urls]


def _dedupe(targets: Iterable[SyncTarget]) -> list[SyncTarget]:
    """Each group once (the first options win, ``full`` if any asked); each thread once.

    A thread whose group is synced in the same run is left to the group's walk.
    """
    groups: dict[str, SyncTarget] = {}
    threads: dict[tuple[str, str], SyncTarget] = {}
    order: list[tuple[str, Any]] = []
    for target in targets:
        if isinstance(target.ref, ThreadRef):
            key = (target.key, target.ref.topic_id)
            if key not in threads:
                threads[key] = SyncTarget(ThreadRef(target.ref.group, target.ref.topic_id),
                                          target.full, target.delay)
                order.append(("thread", key))
        elif target.key in groups:
            if target.full and not groups[target.key].full:
                groups[target.key] = dataclasses.replace(groups[target.key], full=True)
        else:
            groups[target.key] = target
            order.append(("group", target.key))
    result = []
    for kind, key in order:
        if kind == "group":
            result.append(groups[key])
        elif key[0] not in groups:
            result.append(threads[key])
    return result


# --- results ------------------------------------------------------------------------


@dataclass
class GroupResult:
    """What one run did for one target (a group or a single thread).

    ``status`` is ``ok``, ``failed`` or ``interrupted``; ``mode`` is ``incremental``,
    ``backfill`` (no complete walk recorded yet), ``full`` or ``thread``.
    """

    group: str
    url: str
    mode: str
    status: str = "ok"
    title: str | None = None
    topics_seen: int = 0
    threads_fetched: int = 0
    threads_unchanged: int = 0
    new_threads: int = 0
    new_messages: int = 0
    changed_messages: int = 0
    new_postings: int = 0
    missing_messages: int = 0
    requests: int = 0
    walked_to_end: bool = False
    added: list[int] = field(default_factory=list)  # message ids, for sync --json
    changed: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    exit_code: int = EXIT_OK
    # Topics found gone upstream this run (their URL redirects away), by topic id.
    gone_threads: list[str] = field(default_factory=list)
    # Threads newly skipped for odd data, one line each naming the thread and the
    # saved reply; known ones (row unchanged) are only counted in skipped_threads.
    problems: list[str] = field(default_factory=list)
    skipped_threads: int = 0
    # Threads saved with fewer messages than their count, as "topic_id (n of m)".
    incomplete_threads: list[str] = field(default_factory=list)

    @property
    def cross_posts(self) -> int:
        """Postings in this group of messages already archived from another group."""
        return self.new_postings - self.new_messages

    def fail(self, error: ListarchiveError) -> None:
        if self.status == "ok":
            self.status = "failed"
            self.exit_code = error.exit_code
        self.errors.append(str(error))

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["cross_posts"] = self.cross_posts
        return data

    def summary_line(self) -> str:
        """One line for a human: what changed, what it cost, what went wrong."""
        parts = [
            _plural(self.new_threads, "new thread"),
            _plural(self.new_messages, "new message"),
            f"{self.changed_messages} changed",
        ]
        if self.cross_posts:
            parts.append(f"{self.cross_posts} already archived from another group")
        if self.missing_messages:
            parts.append(f"{self.missing_messages} gone upstream")
        if self.gone_threads:
            parts.append(f"{_plural(len(self.gone_threads), 'thread')} gone upstream")
        if self.incomplete_threads:
            parts.append(f"{len(self.incomplete_threads)} incomplete")
        if self.problems or self.skipped_threads:
            parts.append(f"{self.skipped_threads} skipped for odd data")
        parts.append(_plural(len(self.errors), "error"))
        cost = (
            f"{_plural(self.topics_seen, 'topic')} checked, {self.threads_fetched} fetched, "
            f"{_plural(self.requests, 'request')}"
        )
        if self.mode == "thread":
            cost = f"thread {self.url}, {_plural(self.requests, 'request')}"
        line = f"{self.group}: {', '.join(parts)} ({cost})"
        if self.status == "failed":
            line += f"; FAILED: {self.errors[0]}"
        elif self.status == "interrupted":
            line += "; interrupted"
        for problem in self.problems:
            line += f"; skipped: {problem}"
        for thread in self.incomplete_threads:
            line += f"; incomplete: {thread}"
        for warning in self.warnings:
            line += f"; warning: {warning}"
        return line


@dataclass
class RunSummary:
    """A whole run: one :class:`GroupResult` per target, and the run's record id."""

    run_id: int
    started_at: datetime
    finished_at: datetime
    groups: list[GroupResult]
    interrupted: bool = False
    requests: int = 0

    @property
    def status(self) -> str:
        if self.interrupted:
            return "interrupted"
        failed = [g for g in self.groups if g.status != "ok"]
        if not failed:
            return "ok"
        return "failed" if len(failed) == len(self.groups) else "partial"

    @property
    def exit_code(self) -> int:
        """0 when every group synced; one failed group gives its own error's code;
        several groups with a failure give EXIT_PARTIAL, unless all of them failed the
        same way (the network is down: exit 5, not "partial"). Threads newly skipped for
        odd data while everything else synced also give EXIT_PARTIAL; a gone thread, or
        one skipped again with its row unchanged, does not."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        failed = [g for g in self.groups if g.status != "ok"]
        if not failed:
            # Threads newly skipped for odd data: everything else synced.
            return EXIT_PARTIAL if any(g.problems for g in self.groups) else EXIT_OK
        if len(self.groups) == 1:
            return failed[0].exit_code
        codes = {g.exit_code for g in failed}
        if len(failed) == len(self.groups) and len(codes) == 1:
            return codes.pop()
        return EXIT_PARTIAL

    def total(self, name: str) -> int:
        return sum(getattr(g, name) for g in self.groups)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "exit_code": self.exit_code,
            "started_at": utc_iso(self.started_at),
            "finished_at": utc_iso(self.finished_at),
            "requests": self.requests,
            "new_threads": self.total("new_threads"),
            "new_messages": self.total("new_messages"),
            "changed_messages": self.total("changed_messages"),
            "groups": [g.to_dict() for g in self.groups],
        }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# --- progress -------------------------------------------------------------------------


class SyncProgress:
    """Receives a run's events; this base class ignores them all."""

    def group_started(self, target: SyncTarget, group: Group | None) -> None:
        """A group's first topic page arrived (``group`` is None for a thread target)."""

    def topic_checked(self, topic: Topic, fetched: bool) -> None:
        """One topic of the list was compared with the archive (and fetched if changed)."""

    def group_finished(self, result: GroupResult) -> None:
        """A target is done, in whatever state."""

    def index_merging(self) -> None:
        """The run stored enough to merge the search index, and is about to (seconds, on
        a large archive)."""


# --- locking and interruption ------------------------------------------------------------


def interruptible_sleep(stop_event: threading.Event) -> Callable[[float], None]:
    """A ``sleep`` for :class:`Fetcher` that gives up (raising :class:`Interrupted`) as
    soon as ``stop_event`` is set, so Ctrl-C never waits out a long Retry-After."""

    def sleep(seconds: float) -> None:
        if stop_event.wait(max(seconds, 0.0)):
            raise Interrupted("interrupted while waiting to retry")

    return sleep


# --- deciding what changed ----------------------------------------------------------------


def topic_unchanged(topic: Topic, state: ThreadState | None, *, exact_times: bool = True) -> bool:
    """Whether a topic-list row says nothing happened since the archived copy.

    Unchanged means: same message count and same last-activity time. Rows read
    from the HTML fallback carry only day-precision dates (in an unknown timezone);
    for those (``exact_times=False``), and rows whose time was unusable, the message
    count alone decides.
    """
    if state is None or topic.message_count is None:
        return False
    if topic.message_count != state.message_count:
        return False
    if not exact_times or topic.last_activity_at is None:
        # A row without a usable time (the HTML fallback's day dates, or a time out of
        # range): the count alone decides, or the thread would be fetched every run.
        return True
    if state.last_activity_at is None:
        return False
    # The archive keeps whole seconds; the page JSON may carry nanoseconds too.
    return _whole_seconds(topic.last_activity_at) == _whole_seconds(state.last_activity_at)


def _whole_seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


# --- the run ------------------------------------------------------------------------------


def sync_groups(
    archive_path: str | Path,
    targets: Iterable[SyncTarget],
    *,
    fetcher: Fetcher,
    full: bool = False,
    progress: SyncProgress | None = None,
    stop_event: threading.Event | None = None,
    now: Callable[[], datetime] = utc_now,
    unchanged_limit: int = UNCHANGED_LIMIT,
    report_dir: str | Path | None = None,
    rpc_threads: bool = False,
) -> RunSummary:
    """Sync every target into the archive at ``archive_path``; one run, one ``runs`` row.

    Holds the archive's lock for the whole run (:class:`ArchiveLocked` if another run
    has it). A group that fails is recorded and the run goes on with the next one;
    the returned summary says what happened and which exit code fits. Setting
    ``stop_event`` ends the run after the thread being fetched (status
    ``interrupted``). A KeyboardInterrupt is recorded the same way and re-raised.
    ``rpc_threads`` reads threads through the ``H08Fi`` RPC first (see :class:`Crawler`).
    """
    targets = _dedupe(targets)
    if not targets:
        raise ValueError("nothing to sync: no targets given")
    progress = progress or SyncProgress()
    stop_event = stop_event or threading.Event()
    crawler = Crawler(fetcher, report_dir=report_dir, rpc_threads=rpc_threads)
    with archive_lock(archive_path), Archive(archive_path) as archive:
        _close_abandoned_runs(archive, now)
        started_at = now()
        run_id = archive.start_run([t.url for t in targets], started_at)
        requests_before = fetcher.requests_made
        results: list[GroupResult] = []
        interrupted = False
        try:
            for target in targets:
                if stop_event.is_set():
                    interrupted = True
                    break
                result = _new_result(archive, target, full=full or target.full)
                results.append(result)
                _sync_target(
                    archive, crawler, target, result, full=full or target.full,
                    progress=progress, stop_event=stop_event, now=now,
                    unchanged_limit=unchanged_limit,
                )
                progress.group_finished(result)
                if result.status == "interrupted":
                    interrupted = True
                    break
            # Each saved thread was its own commit, so its own index segment; a run that
            # wrote enough merges them, and searches look each word up once again.
            wrote = any(r.new_messages or r.changed_messages for r in results)
            if not interrupted and wrote and archive.search_index_merge_due():
                progress.index_merging()
                archive.merge_search_index()
        except BaseException as err:
            if isinstance(err, KeyboardInterrupt) and results:
                results[-1].status = "interrupted"
            status = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
            if not isinstance(err, KeyboardInterrupt):
                results.append(_crash_result(err))
            # Keep the original error: recording the run is second to reporting it.
            with contextlib.suppress(Exception):
                _record_run(archive, run_id, status, results, now(),
                            fetcher.requests_made - requests_before)
            raise
        summary = RunSummary(
            run_id=run_id,
            started_at=started_at,
            finished_at=now(),
            groups=results,
            interrupted=interrupted,
            requests=fetcher.requests_made - requests_before,
        )
        _record_run(archive, run_id, summary.status, results, summary.finished_at,
                    summary.requests)
    return summary


def _new_result(archive: Archive, target: SyncTarget, *, full: bool) -> GroupResult:
    if target.is_thread:
        return GroupResult(group=target.key, url=target.url, mode="thread")
    mode = "full" if full else "incremental"
    if archive.sync_mark(target.key) is None:
        mode = "backfill"
    return GroupResult(group=target.key, url=target.url, mode=mode)


def _crash_result(err: BaseException) -> GroupResult:
    """A pseudo-result carrying an error that ended the whole run, for the run record."""
    result = GroupResult(group="run", url="", mode="")
    result.errors.append(str(err) or type(err).__name__)
    result.status = "failed"
    return result


def _record_run(
    archive: Archive,
    run_id: int,
    status: str,
    results: list[GroupResult],
    finished_at: datetime,
    requests: int,
) -> None:
    errors = [f"{r.group}: {e}" for r in results for e in r.errors]
    errors += [f"{r.group}: skipped: {p}" for r in results for p in r.problems]
    archive.finish_run(
        run_id,
        status=status,
        finished_at=finished_at,
        topics_seen=sum(r.topics_seen for r in results),
        threads_fetched=sum(r.threads_fetched for r in results),
        messages_new=sum(r.new_messages for r in results),
        messages_changed=sum(r.changed_messages for r in results),
        requests=requests,
        errors=errors,
    )


def _close_abandoned_runs(archive: Archive, now: Callable[[], datetime]) -> None:
    """Runs still marked running belong to processes that died (we hold the lock now)."""
    later: str | None = None  # the next run's start ends what a dead run can have saved
    for run in archive.list_runs(limit=100):
        if run["status"] == "running":
            archive.finish_run(
                run["id"],
                status="interrupted",
                finished_at=now(),
                errors=[*run["errors"], "the process ended before recording its result"],
                **archive.saved_since(run["started_at"], later),
            )
        later = run["started_at"]


def _sync_target(
    archive: Archive,
    crawler: Crawler,
    target: SyncTarget,
    result: GroupResult,
    *,
    full: bool,
    progress: SyncProgress,
    stop_event: threading.Event,
    now: Callable[[], datetime],
    unchanged_limit: int,
) -> None:
    fetcher = crawler.fetcher
    saved_delay = fetcher.delay
    if target.delay is not None:
        fetcher.delay = target.delay
    requests_before = fetcher.requests_made
    try:
        if isinstance(target.ref, ThreadRef):
            progress.group_started(target, None)
            _sync_one_thread(archive, crawler, target.ref, result, now)
        else:
            _walk_group(
                archive, crawler, target, result,
                mark=None if full else archive.sync_mark(target.key), full=full,
                progress=progress, stop_event=stop_event, now=now,
                unchanged_limit=unchanged_limit,
            )
    except Interrupted:
        result.status = "interrupted"
    except _GroupStopped as stop:
        result.fail(stop.error)
    except (FetchError, LayoutChanged) as err:
        result.fail(err)
    finally:
        fetcher.delay = saved_delay
        result.requests = fetcher.requests_made - requests_before


def _sync_one_thread(
    archive: Archive,
    crawler: Crawler,
    ref: ThreadRef,
    result: GroupResult,
    now: Callable[[], datetime],
) -> None:
    try:
        thread = crawler.fetch_thread(ref)
    except ThreadGone as err:
        # Kept if archived; asking for a deleted thread is not an error.
        archive.record_topic_problem(
            ref.group.key, ref.topic_id, kind="gone", row_fingerprint="", seen_at=now(),
            detail=str(err),
        )
        result.gone_threads.append(ref.topic_id)
        return
    result.title = thread.group.title
    result.threads_fetched = 1
    _save(archive, thread, None, result, now)


def _walk_group(
    archive: Archive,
    crawler: Crawler,
    target: SyncTarget,
    result: GroupResult,
    *,
    mark: datetime | None,
    full: bool,
    progress: SyncProgress,
    stop_event: threading.Event,
    now: Callable[[], datetime],
    unchanged_limit: int,
) -> None:
    ref = target.group_ref
    started = now()
    group: Group | None = None
    seen: set[str] = set()
    newest: datetime | None = None
    unchanged_in_a_row = 0
    failed_in_a_row = 0
    layout_failures_in_a_row: list[str] = []
    stopped_early = False
    incomplete_listing = False
    last_page = None
    # The topic-list RPC carries no group title: a group archived before is listed through
    # it alone (one request when nothing changed), and a --full run, which walks every
    # page anyway, reads the group page first and so refreshes a renamed group's title.
    rpc_first = archive.group_title(ref.key) is not None and not full
    for page in crawler.iter_topic_pages(ref, rpc_first=rpc_first):
        if group is None:
            group = page.group
            result.title = group.title
            progress.group_started(target, group)
        _note_rejected_rows(archive, crawler, ref, page, result, now, seen)
        exact = page.source == "json"
        for topic in page.topics:
            # Before any skip: a list that repeats itself must not outlast Ctrl-C.
            if stop_event.is_set():
                raise Interrupted("interrupted")
            activity = topic.last_activity_at if exact else None
            if activity is not None:
                activity = _whole_seconds(activity)
                newest = max(newest or activity, activity)
            if topic.id in seen:
                # Pushed down onto this page while we paged, or listed again by the RPC
                # after an HTML-only group page (then this row has the exact time).
                continue
            seen.add(topic.id)
            result.topics_seen += 1
            state = archive.thread_state(ref.key, topic.id)
            known = archive.topic_problem(ref.key, topic.id)
            skip = known is not None and known["row_fingerprint"] == (
                _odd_key(row_fingerprint(topic)) if known["kind"] == "odd"
                else row_fingerprint(topic)
            )
            if topic_unchanged(topic, state, exact_times=exact) or skip:
                # A gone thread, or one with odd data, whose row is as it was then, is
                # not fetched again: it would only redirect or fail again.
                if skip and known["kind"] == "odd":
                    result.skipped_threads += 1
                else:
                    result.threads_unchanged += 1
                progress.topic_checked(topic, fetched=False)
                covered = mark is not None and activity is not None and activity <= mark
                unchanged_in_a_row = unchanged_in_a_row + 1 if covered else 0
                if unchanged_in_a_row >= unchanged_limit:
                    stopped_early = True
                    break
                continue
            unchanged_in_a_row = 0
            try:
                thread = crawler.fetch_thread(ref.thread(topic.id), topic.message_count)
            except NotFound as err:
                # Deleted upstream (its URL redirects away, or it vanished between the
                # listing and now): kept if archived, and not asked for again while the
                # list shows the same row. A moderator removing spam is not an error.
                archive.record_topic_problem(
                    ref.key, topic.id, kind="gone", row_fingerprint=row_fingerprint(topic),
                    seen_at=now(), detail=str(err),
                )
                result.gone_threads.append(topic.id)
                progress.topic_checked(topic, fetched=False)
                continue
            except LayoutChanged as err:
                # One thread whose reply could not be read (odd data, or a shape the
                # parser does not know): its reply is saved, the others go on. Several
                # in a row mean the thread pages changed for all: the group stops.
                layout_failures_in_a_row.append(topic.id)
                if len(layout_failures_in_a_row) >= MAX_FAILED_THREADS_IN_A_ROW:
                    # The threads just before it were no odd ones either: they are
                    # fetched again on the next run, not skipped until their rows change.
                    for earlier in layout_failures_in_a_row[:-1]:
                        archive.clear_topic_problem(ref.key, earlier)
                    result.skipped_threads -= len(layout_failures_in_a_row) - 1
                    del result.problems[1 - len(layout_failures_in_a_row):]
                    raise _GroupStopped(err) from err
                _skip_odd_thread(archive, ref.key, topic.id, row_fingerprint(topic),
                                 f"thread {ref.thread(topic.id).url}: {err}", err.saved_to,
                                 result, now)
                progress.topic_checked(topic, fetched=False)
                continue
            except (AccessDenied, RateLimited) as err:
                # Every other thread would fail the same way (or make the throttling worse).
                raise _GroupStopped(err) from err
            except FetchError as err:
                result.fail(err)
                failed_in_a_row += 1
                progress.topic_checked(topic, fetched=False)
                if failed_in_a_row >= MAX_FAILED_THREADS_IN_A_ROW:
                    raise _GroupStopped(
                        FetchError(
                            f"gave up on {ref.url} after {failed_in_a_row} threads in a row "
                            f"failed",
                            url=ref.url,
                        )
                    ) from err
                continue
            failed_in_a_row = 0
            layout_failures_in_a_row.clear()
            result.threads_fetched += 1
            # HTML-fallback rows have day-precision dates: let the thread's own exact
            # times be stored instead.
            stored_topic = topic if exact else dataclasses.replace(
                topic, created_at=None, last_activity_at=None
            )
            try:
                _save(archive, thread, stored_topic, result, now)
            except ArchiveError:
                raise
            except (ValueError, OverflowError, UnicodeError) as err:
                # Data the parser let through but SQLite refuses: this thread only.
                _skip_odd_thread(archive, ref.key, topic.id, row_fingerprint(topic),
                                 f"thread {topic.id} could not be stored ({err})", None,
                                 result, now)
                progress.topic_checked(topic, fetched=False)
                continue
            if known is not None:
                archive.clear_topic_problem(ref.key, topic.id)
            progress.topic_checked(topic, fetched=True)
        if stopped_early:
            break
        last_page = page
    if group is None or last_page is None:  # the crawler yields a first page or raises
        return
    total = group.total_topics
    if not stopped_early and last_page.source != "json" and total and len(seen) < total:
        # An HTML-only page has no continuation token: the walk did not reach the end.
        incomplete_listing = True
        result.warnings.append(
            f"only {len(seen)} of {total} topics could be listed (the topic list came "
            f"without its data); older topics were not checked"
        )
    result.walked_to_end = not stopped_early and not incomplete_listing
    if result.status != "ok":
        return
    archive.save_group(group, synced_at=started)
    if stopped_early or result.walked_to_end:
        archive.set_sync_mark(ref.key, _later(mark, newest))


def row_fingerprint(topic: Topic) -> str:
    """A topic-list row as far as deciding to fetch goes: its count and activity time."""
    activity = topic.last_activity_at
    return f"{topic.message_count}|{utc_iso(_whole_seconds(activity)) if activity else ''}"


def _odd_key(fingerprint: str) -> str:
    """What an odd thread's record is kept under: its row, and this listarchive's
    version, so a release that reads such data tries every skipped thread again."""
    return f"{__version__}|{fingerprint}"


def _note_rejected_rows(
    archive: Archive,
    crawler: Crawler,
    ref: GroupRef,
    page: TopicPage,
    result: GroupResult,
    now: Callable[[], datetime],
    seen: set[str],
) -> None:
    """Rows the parser refused (odd data): skipped, and named once while they stay so."""
    saved_to: str | None = None
    for row in page.rejected:
        if row.id in seen:
            continue
        seen.add(row.id)
        result.topics_seen += 1
        known = archive.topic_problem(ref.key, row.id)
        if known is not None and known["row_fingerprint"] == _odd_key(row.fingerprint):
            result.skipped_threads += 1
            continue
        message = _rejected_message(ref, row)
        if saved_to is None and page.raw is not None:
            saved_to = crawler.save_report(page.raw, message).saved_to or ""
        _skip_odd_thread(archive, ref.key, row.id, row.fingerprint, message,
                         saved_to or None, result, now)


def _rejected_message(ref: GroupRef, row: RejectedTopic) -> str:
    return f"topic {row.id} of {ref.url}: {row.reason}"


def _skip_odd_thread(
    archive: Archive,
    group_key: str,
    topic_id: str,
    fingerprint: str,
    message: str,
    saved_to: str | None,
    result: GroupResult,
    now: Callable[[], datetime],
) -> None:
    line = " ".join(message.split())
    if saved_to and saved_to not in line:
        line += f"; reply saved to {saved_to}"
    archive.record_topic_problem(
        group_key, topic_id, kind="odd", row_fingerprint=_odd_key(fingerprint),
        seen_at=now(), detail=line, saved_to=saved_to,
    )
    result.problems.append(line)
    result.skipped_threads += 1


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def _save(
    archive: Archive,
    thread: Thread,
    topic: Topic | None,
    result: GroupResult,
    now: Callable[[], datetime],
) -> None:
    saved = archive.save_thread(thread, topic, seen_at=now())
    if not thread.complete:
        result.incomplete_threads.append(
            f"{thread.topic_id} ({len(thread.messages)} of {thread.expected_count} messages)"
        )
    result.new_threads += int(saved.new_thread)
    result.new_messages += saved.new_messages
    result.changed_messages += saved.changed_messages
    result.new_postings += saved.new_postings
    result.missing_messages += saved.marked_missing
    result.added += saved.new_message_ids
    result.changed += saved.changed_message_ids

