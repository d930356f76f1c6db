"""Fetch every thread page of a generated group with a bare httpx client; print JSON.

    python -m bench.fetch_only BASE_URL NAME TOPICS MESSAGES_PER_TOPIC [SEED]

The baseline for the first-sync rate: how fast the simulator (in its own process) and
one keep-alive HTTP connection can deliver the same thread pages, with no parsing and
no saving. The topic ids come from a local copy of the same deterministic group.
"""

from __future__ import annotations

import json
import sys
import time


def main(argv: list[str] | None = None) -> int:
    base_url, name, topics, per_topic, *rest = argv if argv is not None else sys.argv[1:]
    seed = int(rest[0]) if rest else 0
    import httpx

    from tests.simulator import GroupsState

    state = GroupsState()
    group = state.add_generated_group(name, topics=int(topics),
                                      messages_per_topic=int(per_topic), seed=seed)
    _, rows = group.listing(0, int(topics))
    received = 0
    started = time.perf_counter()
    with httpx.Client(base_url=base_url, cookies={"SOCS": "CAI"}) as client:
        for row in rows:
            response = client.get(f"{group.path}/c/{row.id}")
            response.raise_for_status()
            received += len(response.content)
    seconds = time.perf_counter() - started
    print(json.dumps({"requests": len(rows), "bytes": received, "seconds": seconds,
                      "messages": len(rows) * int(per_topic)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
