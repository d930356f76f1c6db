"""``Archive.save_thread`` alone on real mail bodies: the save path of a sync, no HTTP.

    python -m bench.save_probe ../shared/corpora/linux-i2c.mbox.xz --messages 5000

Reads the first ``--messages`` messages of an mbox (any format ``listarchive import``
reads), turns each into the message a Google Groups page would give (its text as
HTML, one line a ``<br>``), cuts them into threads of consecutive messages, and
times ``save_thread`` on a fresh archive, printing messages per second (wall and
CPU). Nothing is asserted: this is a measurement.
"""

from __future__ import annotations

import argparse
import html
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archive.db import Archive  # noqa: E402
from archive.mail import MailMessage, iter_mail, mail_sources, parse_message  # noqa: E402
from scraper.models import Group, GroupRef, Message, Thread  # noqa: E402


def page_html(mail: MailMessage) -> str:
    """The body a Google Groups page would show for a mail: its HTML part, else its text
    as HTML, one line a ``<br>``."""
    return mail.body_html or html.escape(mail.body_text).replace("\n", "<br>\n")


def read_mail(path: Path, count: int | None = None) -> Iterator[MailMessage]:
    """The first ``count`` readable messages of an mbox (every one with ``None``)."""
    read = 0
    for source in mail_sources([path]):
        for raw in iter_mail(source):  # type: ignore[arg-type]
            if count is not None and read >= count:
                return
            try:
                mail = parse_message(raw.data, pipermail=raw.pipermail)
            except ValueError:
                continue
            read += 1
            yield mail


def threads(path: Path, count: int, per_thread: int) -> list[Thread]:
    group = Group(GroupRef("probe"), None, "probe@googlegroups.com")
    messages: list[Message] = []
    for mail in read_mail(path, count):
        topic = f"t{len(messages) // per_thread:06d}"
        messages.append(
            Message(f"m{len(messages):07d}", topic, mail.author, mail.posted_at,
                    mail.subject, page_html(mail), mail.address)
        )  # fmt: skip
    return [
        Thread(group, messages[i].topic_id, messages[i].subject,
               tuple(messages[i : i + per_thread]))  # fmt: skip
        for i in range(0, len(messages), per_thread)
    ]


def probe(path: Path, count: int = 5000, per_thread: int = 10) -> dict[str, float]:
    """Save the first ``count`` messages of ``path`` through ``save_thread``, timed."""
    work = threads(path, count, per_thread)
    seen = datetime(2026, 1, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp, Archive(Path(tmp) / "probe.db") as archive:
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        saved = sum(archive.save_thread(thread, seen_at=seen).new_postings for thread in work)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
    used = after.ru_utime - cpu.ru_utime + after.ru_stime - cpu.ru_stime
    return {"messages": saved, "seconds": wall, "cpu_seconds": used}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.save_probe")
    parser.add_argument("mbox", type=Path)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--per-thread", type=int, default=10)
    args = parser.parse_args(argv)
    got = probe(args.mbox, args.messages, args.per_thread)
    total, wall, used = got["messages"], got["seconds"], got["cpu_seconds"]
    print(f"save_thread: {total:,} messages in {wall:.2f} s wall ({total / wall:,.0f}/s),"
          f" {used:.2f} s CPU ({total / used:,.0f} per CPU-second)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
