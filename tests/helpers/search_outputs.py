"""Every search output format on the simulator's demo groups, to pin them byte for byte.

``tests/golden/search-outputs.json`` holds a digest of each output :func:`outputs` gave
when the file was last written on purpose (the outputs themselves come to megabytes);
``tests/test_search_outputs.py`` checks that the code still gives exactly those bytes.
To see what changed, write every output to a folder, before and after the change, and
compare the folders; after a change meant to alter outputs, rewrite the digests:

    python -m tests.helpers.search_outputs --dump FOLDER
    python -m tests.helpers.search_outputs --write
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tempfile
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "search-outputs.json"

# One query of every kind the language has, each of which finds something in the demo
# groups (absolute dates only: a relative one would move with the clock).
QUERIES = (
    "",
    "release",
    "release OR upgrade",
    '"release notes"',
    "CVE-2024-3177",
    "v1.30.2",
    "from:ann",
    "subject:release",
    "group:demo-announce",
    "thanks -agreed",
    "arm* OR upgrad*",
    "(release OR fix) NOT subject:demo",
    "after:2024-06-01 before:2024-09-01",
    "thanks after:2024-06-01 before:2025-01-01",
    "on:2024-02-18",
    "中文",
    "Grüße",
    "after:last-sync",
    "zzzyzzx",
)
# (sort, reverse, limit, offset): the default page, a later one, newest first past a
# page (whole results are pinned by tests/test_streaming.py), and oldest first.
ORDERS = (
    ("rank", False, 20, 0),
    ("rank", False, 5, 3),
    ("date", False, 30, 0),
    ("date", True, 10, 0),
)
FORMATS = (None, "json", "nl", "csv")  # None: the table


def case_name(query: str, order: tuple, threads: bool, output: str | None) -> str:
    sort, reverse, limit, offset = order
    return (
        f"{query!r} sort={sort}{' reverse' if reverse else ''} limit={limit} offset={offset}"
        f"{' threads' if threads else ''} {output or 'table'}"
    )


def outputs(db: Path) -> dict[str, str]:
    """``{case: what search wrote to stdout, then "--- stderr ---" and stderr}``."""
    from archive.render import print_results

    found = {}
    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # the table's width, as a terminal of 100 columns
    try:
        for query in QUERIES:
            for order in ORDERS:
                sort, reverse, limit, offset = order
                for threads in (False, True):
                    for output in FORMATS:
                        stdout, stderr = io.StringIO(), io.StringIO()
                        print_results(
                            query, db_path=db, sort=sort, reverse=reverse, limit=limit,
                            offset=offset, threads=threads, output=output, stdout=stdout,
                            stderr=stderr,
                        )  # fmt: skip
                        text = stdout.getvalue()
                        if stderr.getvalue():
                            text += "--- stderr ---\n" + stderr.getvalue()
                        found[case_name(query, order, threads, output)] = text
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns
    return found


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def file_name(case: str) -> str:
    """A file name for ``case`` in a dump: readable, and unique by its digest."""
    readable = "".join(c if c.isalnum() or c in "=-" else "_" for c in case)
    return f"{readable[:80]}-{digest(case)[:8]}.txt"


def demo_archive(folder: Path) -> Path:
    """The demo groups synced from the simulator into ``folder``/archive.db."""
    from tests.helpers.sync import sync_demo
    from tests.simulator import GroupsState
    from tests.simulator.demo import populate

    state = GroupsState()
    populate(state)
    return sync_demo(state, folder / "archive.db")


def main(argv: list[str]) -> int:
    if not (argv == ["--write"] or (len(argv) == 2 and argv[0] == "--dump")):
        print("usage: python -m tests.helpers.search_outputs --write | --dump FOLDER",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        found = outputs(demo_archive(Path(folder)))
    if argv[0] == "--dump":
        out = Path(argv[1])
        out.mkdir(parents=True, exist_ok=True)
        for case, text in found.items():
            (out / file_name(case)).write_text(case + "\n\n" + text, encoding="utf-8")
        print(f"wrote {len(found)} outputs to {out}", file=sys.stderr)
        return 0
    digests = {case: digest(text) for case, text in found.items()}
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(digests, indent=1, ensure_ascii=False) + "\n",
                      encoding="utf-8")
    print(f"wrote the digests of {len(found)} outputs to {GOLDEN}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
