"""A sync's progress on the terminal: a bar per group and a line per group, on stderr.

The engine (:mod:`archive.sync`) only reports events to a :class:`SyncProgress`; this is
the one that draws them, for ``listarchive sync``.
"""

from __future__ import annotations

import sys
from typing import Any

from archive.render import inert
from archive.sync import GroupResult, SyncProgress, SyncTarget
from scraper.models import Group, Topic

__all__ = ["TerminalProgress"]


class TerminalProgress(SyncProgress):
    """A progress bar per group and a summary line per group, both on stderr.

    The bar is drawn only when ``bar`` is true (stderr is a terminal and not --quiet);
    ``summaries=False`` prints only the lines of groups that did not sync (--quiet).
    """

    def __init__(self, *, bar: bool, summaries: bool = True, file: Any = None) -> None:
        self.show_bar = bar
        self.summaries = summaries
        self.file = file
        self._bar: Any = None
        self._messages = 0
        self._started = 0.0

    def _rate(self, _item: Any = None) -> str:
        import time

        elapsed = max(time.monotonic() - self._started, 1e-3)
        return f"{self._messages} messages, {self._messages / elapsed:.1f}/s"

    def group_started(self, target: SyncTarget, group: Group | None) -> None:
        import time

        import click

        self._close_bar()
        if group is None:
            return
        self._messages, self._started = 0, time.monotonic()
        self._bar = click.progressbar(
            length=group.total_topics or 0,
            label=target.key,
            file=self.file or sys.stderr,
            hidden=not self.show_bar,
            show_pos=True,
            item_show_func=self._rate,
        )
        self._bar.__enter__()

    def topic_checked(self, topic: Topic, fetched: bool) -> None:
        if self._bar is None:
            return
        if not fetched and self._bar.length and self._bar.length - 1 >= max(self._bar.pos, 1):
            # A topic already archived is work that needs no doing: it shortens the bar
            # rather than advancing it, so a resumed run's ETA counts fetches only.
            self._bar.length -= 1
            self._bar.render_progress()
            return
        self._messages += (topic.message_count or 0) if fetched else 0
        if self._bar.length and self._bar.pos >= self._bar.length:
            self._bar.length += 1  # topics added upstream during the walk
        self._bar.update(1)

    def group_finished(self, result: GroupResult) -> None:
        import click

        self._close_bar()
        if self.summaries or result.status != "ok" or result.problems:
            # Errors and warnings quote what the server sent.
            click.echo(inert(result.summary_line()), file=self.file or sys.stderr)

    def index_merging(self) -> None:
        import click

        if self.summaries:
            click.echo("Merging the search index...", file=self.file or sys.stderr)

    def _close_bar(self) -> None:
        bar, self._bar = self._bar, None
        if bar is not None:
            bar.__exit__(None, None, None)
