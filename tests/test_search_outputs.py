"""Every search output format, byte for byte, on the simulator's demo groups.

The digests in ``tests/golden/search-outputs.json`` were written from the code as it
was (``python -m tests.helpers.search_outputs --write``): a change inside search (its
compiler, planner or runner) must leave every table, JSON, JSON-lines and CSV output the
same, for messages and threads, ranked and by date.
"""

from __future__ import annotations

import json

from tests.helpers.search_outputs import GOLDEN, digest, outputs


def test_every_search_output_is_the_one_pinned(tmp_path):
    from tests.helpers.search_outputs import demo_archive

    pinned = json.loads(GOLDEN.read_text(encoding="utf-8"))
    texts = outputs(demo_archive(tmp_path))
    found = {case: digest(text) for case, text in texts.items()}
    assert found.keys() == pinned.keys()
    changed = [case for case in pinned if found[case] != pinned[case]]
    assert not changed, (
        f"{len(changed)} of {len(pinned)} outputs changed, the first: {changed[:5]}; "
        "see tests/helpers/search_outputs.py to compare them"
    )
    # The cases are not all empty: most find something, and some nothing.
    assert sum(text.strip() not in ("", "[]") for text in texts.values()) > len(texts) // 2
