"""The body text and the masked-address scan give what the golden files say.

``tests/golden`` builds each set's inputs and says how to regenerate the files when a
change is meant to alter an output (``python -m tests.golden --update``, then review the
diff). Stored ``body_text`` and dedupe fingerprints come from this text, so any other
string for a body would split a message from its earlier copy.
"""

from __future__ import annotations

import pytest

from tests.golden import SETS, SharedMissing, differences, load


@pytest.mark.parametrize("name", SETS)
def test_outputs_match_the_golden_files(name):
    try:
        found = differences(SETS[name])
    except SharedMissing as missing:
        pytest.skip(str(missing))
    assert not found, "\n".join(found)


def test_the_sets_cover_what_they_are_for():
    """Enough of each outcome for the comparisons to mean something."""
    random_headers = [answer for _, (answer, _) in load(SETS["scan-random-headers"])]
    perturbed = [answer for _, (answer, _) in load(SETS["scan-perturbed"])]
    simulator = [answer for _, (answer, _) in load(SETS["scan-simulator"])]
    assert sum(answer is not None for answer in random_headers) > 80
    assert sum(answer is None for answer in perturbed) > 400
    assert sum(answer is not None for answer in perturbed) > 2000
    decided = [answer for answer in simulator if answer is not None]
    addresses = [address for answer in decided for address in answer.values()]
    assert len(decided) > 150
    assert sum(address is not None for address in addresses) > 500 and None in addresses
    demo = [output for _, output in load(SETS["text-demo"])]
    assert len(demo) > 300
    assert any("message_text" in output for output in demo)  # footers were cut
    assert any("\n> " in output["text"] for output in demo)  # quotes
    tricky = load(SETS["text-tricky"])
    assert len(tricky) == len({case[0] for case in tricky})
