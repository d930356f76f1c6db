"""Serve the simulator by hand: ``python -m tests.simulator --port 8765``.

    python -m tests.simulator --port 8765                      # the demo groups
    python -m tests.simulator --generate big:2000:50 --latency 0.05
    python -m tests.simulator --demo --generate big:200:20     # both

Prints the base URL and each group's URLs to stderr, then serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from tests.simulator.demo import populate
from tests.simulator.model import GroupsState
from tests.simulator.server import Simulator


def parse_generate(spec: str) -> tuple[str, int, int]:
    try:
        name, topics, messages = spec.split(":")
        return name, int(topics), int(messages)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected NAME:TOPICS:MESSAGES, e.g. big:2000:50, not {spec!r}"
        ) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.simulator",
        description="Serve simulated public Google Groups on 127.0.0.1.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--demo", action="store_true",
                        help="load the demo groups (the default when nothing else is asked)")
    parser.add_argument("--generate", action="append", default=[], type=parse_generate,
                        metavar="NAME:TOPICS:MSGS", help="add a generated group (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="seed for generated groups")
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds added to every reply")
    parser.add_argument("--verbose", "-v", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    state = GroupsState()
    if args.demo or not args.generate:
        populate(state)
    for name, topics, messages in args.generate:
        state.add_generated_group(name, topics=topics, messages_per_topic=messages,
                                  seed=args.seed)

    sim = Simulator(state, host=args.host, port=args.port, verbose=args.verbose)
    try:
        sim.start()
    except OSError as err:
        print(f"Error: cannot listen on {args.host}:{args.port}: {err}", file=sys.stderr)
        return 1
    if args.latency > 0:
        sim.fault("latency", seconds=args.latency)
    print(f"Google Groups simulator on {sim.base_url}", file=sys.stderr)
    for group in state.groups:
        print(f"  {group.url}  ->  {sim.base_url}{group.path}  "
              f"({group.topic_count()} topics)", file=sys.stderr)
    print("Ctrl-C to stop.", file=sys.stderr)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):  # a timed wait, so Ctrl-C is noticed
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
