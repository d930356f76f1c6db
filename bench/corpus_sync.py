"""A first sync of real mail served as a Google Group: linux-i2c through the simulator.

    python -m bench.corpus_sync                          # ../shared/corpora/linux-i2c.mbox.xz
    python -m bench.corpus_sync --messages 5000 --probe  # a sample, with stage timers
    python -m bench.corpus_sync --corpus other.mbox.xz

A child process reads the mbox into the simulator (one topic per thread, from each
message's References or In-Reply-To; each body as a Google Groups page shows mail:
its HTML part, else its text with a ``<br>`` a line, plus the group's footer) and
serves it on 127.0.0.1. Then ``listarchive sync --delay 0`` runs as a whole process
against it, waited for with ``wait4``: messages per second, the client's CPU and peak
RSS, and the simulator's CPU meanwhile. With ``--probe`` the same sync runs again
through :mod:`bench.sync_probe`, whose stage timers say where the client's time goes.
Prints JSON on stdout. When the corpus is absent it says so and exits 0: nothing was
measured.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from bench.common import (
    REPO,
    SimulatorProcess,
    measured_listarchive_command,
    python_env,
    run_child,
)

DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "linux-i2c.mbox.xz"
GROUP = "linux-i2c"


def load_group(state: Any, corpus: Path, count: int | None) -> int:
    """Add the corpus to ``state`` as the group ``linux-i2c``; returns how many messages."""
    from bench.save_probe import page_html, read_mail

    group = state.add_group(GROUP, title="linux-i2c")
    topics: dict[str, Any] = {}  # thread root's Message-ID -> topic
    added = 0
    for mail in read_mail(corpus, count):
        root = (mail.references[0] if mail.references else mail.in_reply_to) or mail.message_id
        topic = topics.get(root)
        if topic is None:
            topic = state.add_topic(group, mail.subject or "(no subject)", mail.author,
                                    mail.address, page_html(mail), mail.posted_at)  # fmt: skip
            topics[root] = topics[mail.message_id] = topic
        else:
            state.add_message(topic, mail.author, mail.address, page_html(mail), mail.posted_at,
                              subject=mail.subject)  # fmt: skip
            topics.setdefault(mail.message_id, topic)
        added += 1
    return added


def serve(corpus: Path, count: int | None) -> int:
    """The simulator with the corpus loaded, until SIGINT or SIGTERM."""
    from tests.simulator import GroupsState, Simulator

    state = GroupsState()
    added = load_group(state, corpus, count)
    with Simulator(state) as sim:
        topics = state.groups[0].topic_count()
        # The line SimulatorProcess waits for.
        print(f"Google Groups simulator on {sim.base_url} ({added} messages, {topics} topics)",
              file=sys.stderr, flush=True)  # fmt: skip
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


class CorpusSimulator(SimulatorProcess):
    def __init__(self, corpus: Path, count: int | None) -> None:
        super().__init__([])
        self.args = [sys.executable, "-m", "bench.corpus_sync", "--serve", "--corpus",
                     str(corpus)]  # fmt: skip
        if count is not None:
            self.args += ["--messages", str(count)]

    def __enter__(self) -> CorpusSimulator:
        import time

        # Reading the corpus takes a while before the server says it listens.
        started = time.monotonic()
        super().__enter__()
        self.load_seconds = time.monotonic() - started
        return self


def measure(corpus: Path, count: int | None, probe: bool) -> dict[str, Any]:
    url = f"https://groups.google.com/g/{GROUP}"
    with tempfile.TemporaryDirectory() as tmp, CorpusSimulator(corpus, count) as sim:
        served = sim._lines[-1].strip()
        db = Path(tmp) / "sync.db"
        sim_cpu = sim.cpu_seconds()
        run = run_child(
            [*measured_listarchive_command(), "sync", "--db", str(db), "--base-url",
             sim.base_url, "--delay", "0", "--quiet", "--json", url],
            env=python_env(),
        ).check()  # fmt: skip
        summary = json.loads(run.stdout)
        result: dict[str, Any] = {
            "served": served,
            "load_seconds": sim.load_seconds,
            "messages": summary["new_messages"],
            "requests": summary["requests"],
            "status": summary["status"],
            "wall": run.wall,
            "messages_per_s": summary["new_messages"] / run.wall,
            "client_cpu": run.cpu,
            "messages_per_client_cpu_s": summary["new_messages"] / run.cpu,
            "client_peak_rss_mb": run.max_rss_mb,
            "simulator_cpu": sim.cpu_seconds() - sim_cpu,
            "archive_mb": sum(p.stat().st_size for p in db.parent.glob("sync.db*")) / 1e6,
        }
        if probe:
            db.unlink()
            for extra in db.parent.glob("sync.db-*"):
                extra.unlink()
            sim_cpu = sim.cpu_seconds()
            run = run_child(
                [sys.executable, "-m", "bench.sync_probe", "--db", str(db), "--base-url",
                 sim.base_url, "--delay", "0", url],
                env=python_env(),
            ).check()  # fmt: skip
            stages = json.loads(run.stdout)
            stages["client_cpu"] = run.cpu
            stages["simulator_cpu"] = sim.cpu_seconds() - sim_cpu
            result["probe"] = stages
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.corpus_sync")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--messages", type=int, default=None,
                        help="only the first N messages (default: all)")
    parser.add_argument("--probe", action="store_true",
                        help="sync again with stage timers (bench.sync_probe)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.corpus.is_file():
        print(f"skipped: no corpus at {args.corpus} (see ../shared/corpora/README.md)",
              file=sys.stderr)  # fmt: skip
        return 0
    if args.serve:
        return serve(args.corpus, args.messages)
    print(json.dumps(measure(args.corpus, args.messages, args.probe), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
