"""What stemming would change: matches, index size and ranked-search time.

Builds two contentless FTS5 indexes of the same subjects and bodies in a scratch copy of
an archive, one with the archive's tokenizer and one with the Porter stemmer in front of
it, then counts the matches of each query in both and times a ranked top 20:

    python bench/stemming.py --db linux-i2c.db driver drivers probing "clock stretching"

The archive is only read; the copy is deleted afterwards.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

TOKENIZERS = {
    "unicode61": "unicode61 remove_diacritics 2",
    "porter": "porter unicode61 remove_diacritics 2",
}
DEFAULT_QUERIES = ["driver", "drivers", "timeouts", "probing", "regression", "interrupt", "fix"]


def _ranked_ms(conn: sqlite3.Connection, table: str, query: str, repeat: int = 5) -> float:
    sql = f"SELECT rowid FROM {table} WHERE {table} MATCH ? ORDER BY rank LIMIT 20"
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        conn.execute(sql, (query,)).fetchall()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, type=Path, help="an archive to read")
    parser.add_argument("queries", nargs="*", default=DEFAULT_QUERIES)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "copy.db"
        shutil.copy(args.db, copy)
        conn = sqlite3.connect(copy)
        sizes = {}
        for name, tokenizer in TOKENIZERS.items():
            started = time.perf_counter()
            conn.execute(
                f"CREATE VIRTUAL TABLE {name} USING fts5(subject, body_text, content='',"
                f" tokenize='{tokenizer}')"
            )
            conn.execute(
                f"INSERT INTO {name} (rowid, subject, body_text)"
                " SELECT id, subject, body_text FROM messages"
            )
            conn.execute(f"INSERT INTO {name} ({name}) VALUES ('optimize')")
            conn.commit()
            built = time.perf_counter() - started
            sizes[name] = conn.execute(f"SELECT sum(length(block)) FROM {name}_data").fetchone()[0]
            print(f"{name}: index {sizes[name] / 1e6:.1f} MB, built in {built:.1f} s")
        print(f"\n| query | matches, {' | matches, '.join(TOKENIZERS)} | ranked top 20 "
              f"(ms), {' | ranked top 20 (ms), '.join(TOKENIZERS)} |")
        print("|---|" + "---:|" * (2 * len(TOKENIZERS)))
        for query in args.queries:
            quoted = '"' + query.replace('"', '""') + '"'
            counts = [
                conn.execute(f"SELECT count(*) FROM {name} WHERE {name} MATCH ?", (quoted,))
                .fetchone()[0]
                for name in TOKENIZERS
            ]
            times = [_ranked_ms(conn, name, quoted) for name in TOKENIZERS]
            cells = [f"{c:,}" for c in counts] + [f"{t:.1f}" for t in times]
            print(f"| `{query}` | " + " | ".join(cells) + " |")
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
