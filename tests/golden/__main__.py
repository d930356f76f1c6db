"""``python -m tests.golden [--update] [SET...]``: compare the code with the golden
files, or rewrite them (see :mod:`tests.golden`)."""

from __future__ import annotations

import argparse
import sys

from tests.golden import SETS, SharedMissing, compute, differences, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.golden")
    parser.add_argument("--update", action="store_true", help="rewrite the golden files")
    parser.add_argument("sets", nargs="*", choices=[[], *SETS], metavar="SET",
                        help=f"only these sets (default: all): {', '.join(SETS)}")
    args = parser.parse_args(argv)
    status = 0
    for name in args.sets or SETS:
        golden = SETS[name]
        try:
            if args.update:
                cases = compute(golden)
                write(golden, cases)
                print(f"{name}: {len(cases)} cases written to {golden.path.name}", file=sys.stderr)
                continue
            found = differences(golden)
        except SharedMissing as missing:
            print(f"{name}: skipped: {missing}", file=sys.stderr)
            continue
        for line in found:
            print(line)
        print(f"{name}: {'differs' if found else 'same'}", file=sys.stderr)
        status = status or (1 if found else 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
