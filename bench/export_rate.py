"""``export`` (and ``feed``) of a whole generated archive, for two checkouts, alternately.

    git worktree add ../before <old commit>
    python bench/export_rate.py --before ../before [--size 10000] [--reps 3]

Each repetition runs the command once with the old checkout's code and once with this
one's, on the same archive (``bench/out/archives``, built if missing), so a loaded
machine slows both alike. Printed: the median CPU time (user + sys, from ``wait4``), wall
time and peak RSS of each, and messages per CPU-second and per wall-second. Both sides
run under this interpreter, so only the listarchive code differs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import corpus  # noqa: E402
from bench.common import OUT, median, run_child  # noqa: E402


def _env(tree: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTARCHIVE_")}
    env["PYTHONPATH"] = f"{tree}{os.pathsep}{REPO}"  # bench.peak_rss comes from here
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(OUT / "pycache")
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the old checkout")
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--commands", default="export,feed")
    args = parser.parse_args()
    path, _ = corpus.cached_archive(args.size)
    trees = {"before": args.before.resolve(), "after": REPO}
    runs: dict[tuple[str, str], list] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for rep in range(args.reps):
            for command in args.commands.split(","):
                for side, tree in trees.items():
                    out = Path(scratch) / f"{side}-{command}-{rep}"
                    argv = [sys.executable, "-m", "bench.peak_rss", command, "--db", str(path)]
                    if command == "export":
                        argv += ["--since", "1990-01-01", "--out", str(out)]
                    else:
                        argv += ["--limit", "0", "--out", str(out) + ".xml"]
                    run = run_child(argv, cwd=tree, env=_env(tree)).check()
                    runs.setdefault((command, side), []).append(run)
                    print(f"{command} {side} rep {rep + 1}: cpu {run.cpu:.2f} s, wall "
                          f"{run.wall:.2f} s, peak {run.max_rss_mb:.1f} MB", file=sys.stderr)
    messages = corpus_messages(path)
    print(f"{messages:,} messages; medians of {args.reps} runs, alternating\n")
    print("| command | code | CPU | wall | peak RSS | msg per CPU-second | msg per wall-second |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for (command, side), done in runs.items():
        cpu = median([r.cpu for r in done])
        wall = median([r.wall for r in done])
        rss = max(r.max_rss_mb for r in done)
        print(f"| `{command}` | {side} | {cpu:.2f} s | {wall:.2f} s | {rss:.1f} MB | "
              f"{messages / cpu:,.0f} | {messages / wall:,.0f} |")


def corpus_messages(path: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    finally:
        conn.close()


if __name__ == "__main__":
    main()
