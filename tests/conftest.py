"""Shared pytest fixtures.

``sim_state`` is a fresh :class:`tests.simulator.GroupsState` holding the demo groups
(see ``tests/simulator/demo.py`` for what is in them; ``sim_state.demo`` has handles on
the notable topics). ``simulator`` is a running :class:`tests.simulator.Simulator` over
that state on 127.0.0.1, stopped after the test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.simulator import GroupsState, Simulator
from tests.simulator.demo import populate

# Processes the tests start (`python -c "from archive.cli import cli; cli()"`, the
# Datasette plugin) import the checkout under test, not whatever copy is installed.
_CHECKOUT = str(Path(__file__).resolve().parent.parent)
os.environ["PYTHONPATH"] = os.pathsep.join(
    [_CHECKOUT, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
)


@pytest.fixture
def sim_state() -> GroupsState:
    state = GroupsState()
    populate(state)
    return state


@pytest.fixture
def simulator(sim_state: GroupsState) -> Iterator[Simulator]:
    with Simulator(sim_state) as sim:
        yield sim
