"""A Google Groups simulator: a real HTTP server on 127.0.0.1 for tests and benchmarks.

    from tests.simulator import Simulator, GroupsState

    state = GroupsState()
    group = state.add_group("demo-announce", title="Demo announcements")
    topic = state.add_topic(group, subject="Release 1.2", author="Ann Author",
                            address="ann.author@example.com", body_html="<div dir=ltr>Hi</div>",
                            posted_at=datetime(2025, 1, 6, 9, tzinfo=UTC))
    with Simulator(state) as sim:
        httpx.get(sim.base_url + "/g/demo-announce")

Modules: ``model`` (the state), ``render`` (page shapes), ``site`` (routing),
``server`` (HTTP and faults), ``generate`` (large groups), ``demo`` (the demo content).
Run ``python -m tests.simulator --help`` to serve it by hand.
"""

from tests.simulator.model import (
    GroupsState,
    SimAttachment,
    SimGroup,
    SimMessage,
    SimTopic,
    TopicRow,
    mask_address,
)
from tests.simulator.server import Fault, RequestRecord, Simulator
from tests.simulator.site import Response, Site

__all__ = [
    "Fault",
    "GroupsState",
    "RequestRecord",
    "Response",
    "SimAttachment",
    "SimGroup",
    "SimMessage",
    "SimTopic",
    "Simulator",
    "Site",
    "TopicRow",
    "mask_address",
]
