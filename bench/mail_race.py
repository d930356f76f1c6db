"""The mail race: `listarchive import` against notmuch, mu and mbox-to-sqlite, one run.

    python bench/mail_race.py                       # ../shared/corpora/linux-i2c.mbox.xz
    python bench/mail_race.py --corpus list.mbox.xz # any mbox (public-inbox: see README)
    python bench/mail_race.py --readme              # also put the table into bench/README.md

Each tool indexes the same messages from scratch, one after the other, as a child
process whose wall time and peak RSS (from wait4) are taken; its disk is what it left
(the archive file, the notmuch database, the mu database). notmuch and mu read a
Maildir, so one is made from the mbox first (not timed); listarchive and
mbox-to-sqlite read the mbox (listarchive also straight from the .xz, which is how a
user runs it). A tool that cannot be had is skipped and said so. listarchive is run on
a quarter of the corpus too, to show its memory does not grow with the corpus.
Nothing here asserts anything: this is not a test.
"""

from __future__ import annotations

import argparse
import json
import lzma
import mailbox
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    OUT,
    REPO,
    archive_bytes,
    code_version,
    listarchive_command,
    python_env,
    remove_archive,
    run_child,
)

DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "linux-i2c.mbox.xz"
WORK = OUT / "mail-race"
README = REPO / "bench" / "README.md"
START, END = "<!-- mail-race:start -->", "<!-- mail-race:end -->"


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def tree_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def prepare(corpus: Path, quarter: bool) -> tuple[Path, Path, int]:
    """The corpus as a plain mbox and as a Maildir; and its message count."""
    from archive.mail import split_mbox

    name = "quarter" if quarter else "full"
    plain = WORK / f"{name}.mbox"
    maildir = WORK / f"{name}-maildir"
    marker = WORK / f"{name}.count"
    if marker.exists() and plain.exists() and maildir.exists():
        return plain, maildir, int(marker.read_text())
    say(f"preparing {plain.name} and its Maildir from {corpus.name} ...")
    shutil.rmtree(maildir, ignore_errors=True)
    box = mailbox.Maildir(maildir, create=True)
    count = 0
    opener = lzma.open if corpus.suffix == ".xz" else open
    with opener(corpus, "rb") as source, open(plain, "wb") as out:
        limit = None
        if quarter:
            limit = int(WORK.joinpath("full.count").read_text()) // 4
        for _, data in split_mbox(source):
            if limit is not None and count >= limit:
                break
            count += 1
            out.write(b"From mboxrd@z Thu Jan  1 00:00:00 1970\n")
            quoted = re.sub(rb"(?m)^(>*From )", rb">\1", data)
            out.write(quoted + (b"\n" if data.endswith(b"\n") else b"\n\n"))
            box.add(data)
    marker.write_text(str(count))
    return plain, maildir, count


def race_entry(
    tool: str,
    command: str,
    args: list[str],
    messages: int,
    disk_of: Path,
    source_bytes: int,
    env: dict[str, str] | None = None,
) -> dict:
    say(f"  {tool}: {command}")
    run = run_child(args, env=env, timeout=3600)
    if run.returncode != 0:
        say(f"    failed ({run.returncode}): {run.stderr.strip()[-300:]}")
    disk = tree_bytes(disk_of) if disk_of.exists() else 0
    return {
        "tool": tool,
        "command": command,
        "ok": run.returncode == 0,
        "seconds": round(run.wall, 2),
        "cpu_seconds": round(run.user + run.system, 2),
        "messages": messages,
        "per_second": round(messages / run.wall) if run.wall else None,
        "peak_rss_mib": round(run.max_rss_kb / 1024, 1),
        "disk_bytes": disk,
        "disk_mb": round(disk / 1e6, 1),
        "disk_ratio": round(disk / source_bytes, 2) if source_bytes else None,
    }


def listarchive_runs(
    corpus: Path | None, plain: Path, count: int, source_bytes: int, label: str
) -> list[dict]:
    results = []
    env = python_env()
    for source in (corpus, plain):
        if source is None:
            continue
        how = source.name
        kind = "xz" if source.suffix == ".xz" else "mbox"
        db = WORK / f"listarchive-{label.replace(' ', '-')}-{kind}.db"
        remove_archive(db)
        results.append(race_entry(
            f"listarchive import ({label}, {kind})",
            f"listarchive import {how} --db {db.name}",
            [*listarchive_command(), "import", str(source), "--db", str(db)],
            count, db, source_bytes, env=env,
        ))  # fmt: skip
        results[-1]["disk_bytes"] = archive_bytes(db)
        results[-1]["disk_mb"] = round(archive_bytes(db) / 1e6, 1)
        results[-1]["disk_ratio"] = round(archive_bytes(db) / source_bytes, 2)
    return results


def notmuch_run(maildir: Path, count: int, source_bytes: int) -> dict | None:
    if shutil.which("notmuch") is None:
        say("  notmuch: not installed (apt-get install notmuch), skipped")
        return None
    shutil.rmtree(maildir / ".notmuch", ignore_errors=True)
    config = WORK / "notmuch-config"
    config.write_text(
        f"[database]\npath={maildir}\n[user]\nname=Bench\nprimary_email=bench@example.org\n"
        "[new]\ntags=\n[search]\nexclude_tags=\n"
    )
    env = {**os.environ, "NOTMUCH_CONFIG": str(config)}
    return race_entry("notmuch new", "notmuch new", ["notmuch", "new", "--quiet"], count,
                      maildir / ".notmuch", source_bytes, env=env)  # fmt: skip


def mu_run(maildir: Path, count: int, source_bytes: int) -> dict | None:
    if shutil.which("mu") is None:
        say("  mu: not installed (apt-get install maildir-utils), skipped")
        return None
    home = WORK / "mu-home"
    shutil.rmtree(home, ignore_errors=True)
    env = {**os.environ, "HOME": str(WORK)}
    subprocess.run(["mu", "init", f"--muhome={home}", f"--maildir={maildir}", "--quiet"],
                   env=env, check=True, capture_output=True)  # fmt: skip
    return race_entry("mu index", "mu init --maildir=DIR && mu index",
                      ["mu", "index", f"--muhome={home}", "--quiet"], count, home,
                      source_bytes, env=env)  # fmt: skip


def mbox_to_sqlite_run(plain: Path, count: int, source_bytes: int, install: bool) -> dict | None:
    tool = shutil.which("mbox-to-sqlite") or str(Path(sys.executable).parent / "mbox-to-sqlite")
    if not Path(tool).exists() and not install:
        say("  mbox-to-sqlite: not installed (pip install mbox-to-sqlite), skipped")
        return None
    if not Path(tool).exists():
        say("  mbox-to-sqlite: installing from PyPI ...")
        installed = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "mbox-to-sqlite"],
            capture_output=True, text=True,
        )  # fmt: skip
        if installed.returncode != 0 or not Path(tool).exists():
            say(f"  mbox-to-sqlite: cannot be installed, skipped ({installed.stderr[-200:]})")
            return None
    db = WORK / "mbox-to-sqlite.db"
    remove_archive(db)
    return race_entry(
        "mbox-to-sqlite",
        f"mbox-to-sqlite mbox out.db {plain.name}",
        [tool, "mbox", str(db), str(plain)],
        count,
        db,
        source_bytes,
    )


# One query per class, in each tool's own syntax: (class, listarchive, notmuch, mu).
QUERIES = (
    ("rare word", "regmap", "regmap", "regmap"),
    ("common word", "driver", "driver", "driver"),
    ("phrase", '"clock stretching"', '"clock stretching"', '"clock stretching"'),
    ("from:", "from:wsa@kernel.org", "from:wsa@kernel.org", "from:wsa@kernel.org"),
    ("date range", "after:2023-01-01 before:2024-01-01",
     "date:2023-01-01..2023-12-31", "date:20230101..20231231"),
)  # fmt: skip


def _timed(args: list[str], env: dict[str, str] | None, reps: int = 5) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(reps):
        started = time.perf_counter()
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
        times.append(time.perf_counter() - started)
        out = done.stdout
    return sorted(times)[len(times) // 2] * 1000, out


def search_table(db: Path, maildir: Path) -> str:
    """Hits per query class in each tool, and whole-process top-20 search time."""
    env = python_env()
    listarchive = listarchive_command()
    notmuch_env = {**os.environ, "NOTMUCH_CONFIG": str(WORK / "notmuch-config")}
    mu_home = WORK / "mu-home"
    has_notmuch = shutil.which("notmuch") is not None and (maildir / ".notmuch").exists()
    has_mu = shutil.which("mu") is not None and mu_home.exists()
    lines = [
        "| query class | listarchive hits | notmuch hits | mu hits "
        "| listarchive ms | notmuch ms | mu ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, ours, notmuch_query, mu_query in QUERIES:
        say(f"  search: {name}")
        every = subprocess.run(
            [*listarchive, "search", ours, "--db", str(db), "--limit", "0", "--nl"],
            env=env, capture_output=True, text=True,
        ).stdout  # fmt: skip
        row = [name, str(len(every.splitlines()))]
        timings = [_timed([*listarchive, "search", ours, "--db", str(db)], env)[0]]
        if has_notmuch:
            count = subprocess.run(["notmuch", "count", notmuch_query], env=notmuch_env,
                                   capture_output=True, text=True).stdout.strip()  # fmt: skip
            row.append(count)
            timings.append(_timed(["notmuch", "search", "--limit=20", notmuch_query],
                                  notmuch_env)[0])  # fmt: skip
        else:
            row.append("-")
            timings.append(float("nan"))
        if has_mu:
            found = subprocess.run(["mu", "find", f"--muhome={mu_home}", "--fields=i",
                                    mu_query], capture_output=True, text=True).stdout  # fmt: skip
            row.append(str(len(found.splitlines())))
            timings.append(_timed(["mu", "find", f"--muhome={mu_home}", "--maxnum=20",
                                   mu_query], None)[0])  # fmt: skip
        else:
            row.append("-")
            timings.append(float("nan"))
        row += [f"{t:.0f}" for t in timings]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def table(results: list[dict], corpus: Path, count: int, plain_bytes: int) -> str:
    lines = [
        f"Corpus: `{corpus.name}`, {count:,} messages, {plain_bytes / 1e6:,.0f} MB as mbox.",
        "",
        "| tool | command | seconds | msgs/s | CPU s | peak RSS MiB | disk MB | disk / mbox |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rate = f"{r['per_second']:,}" if r["ok"] else "failed"
        lines.append(
            f"| {r['tool']} | `{r['command']}` | {r['seconds']} | {rate} | {r['cpu_seconds']}"
            f" | {r['peak_rss_mib']} | {r['disk_mb']} | {r['disk_ratio']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--readme", action="store_true", help="write the table to the README")
    parser.add_argument(
        "--no-install", action="store_true", help="do not pip install mbox-to-sqlite if missing"
    )
    parser.add_argument("--no-search", action="store_true", help="skip the search comparison")
    args = parser.parse_args(argv)
    corpus: Path = args.corpus
    if not corpus.exists():
        say(f"no corpus at {corpus}: nothing to race (give --corpus an mbox or mbox.xz)")
        return []
    WORK.mkdir(parents=True, exist_ok=True)
    plain, maildir, count = prepare(corpus, quarter=False)
    quarter_plain, _, quarter_count = prepare(corpus, quarter=True)
    plain_bytes = plain.stat().st_size
    say(f"racing on {count:,} messages ({plain_bytes / 1e6:,.0f} MB) ...")
    results: list[dict] = []
    results += listarchive_runs(corpus, plain, count, plain_bytes, "all")
    for peer in (
        notmuch_run(maildir, count, plain_bytes),
        mu_run(maildir, count, plain_bytes),
        mbox_to_sqlite_run(plain, count, plain_bytes, install=not args.no_install),
    ):
        if peer is not None:
            results.append(peer)
    quarter = listarchive_runs(
        None, quarter_plain, quarter_count, quarter_plain.stat().st_size, "a quarter"
    )
    results += quarter
    text = table(results, corpus, count, plain_bytes)
    searched = WORK / "listarchive-all-mbox.db"
    if searched.exists() and not args.no_search:
        say("searching the imported corpus with each tool ...")
        text += "\n\n" + search_table(searched, maildir)
    print(text)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (OUT / f"mail-race-{stamp}.json").write_text(json.dumps(
        {"code": code_version(), "corpus": str(corpus.name), "results": results}, indent=2
    ))  # fmt: skip
    if args.readme:
        readme = README.read_text(encoding="utf-8")
        block = (
            f"{START}\nMeasured at {code_version()}, {time.strftime('%Y-%m-%d')}.\n\n{text}\n{END}"
        )
        if START in readme:
            before, rest = readme.split(START, 1)
            readme = before + block + rest.split(END, 1)[1]
        else:
            readme += "\n" + block + "\n"
        README.write_text(readme, encoding="utf-8")
    return results


if __name__ == "__main__":
    main()
