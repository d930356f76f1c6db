"""Pages in the shape of a real group's (systems-neuroscience), for parser and sync tests."""

from __future__ import annotations

import json
from datetime import datetime
from html import escape

from scraper.models import GroupRef
from tests.helpers.shared import fixture

NEURO_EMAIL = "systems-neuroscience@googlegroups.com"


NEURO = GroupRef("systems-neuroscience")


def neuro_topics() -> list[dict]:
    return json.loads(fixture("new-ui-derived", "systems-neuro-scrape_messages-2025-04.json"))[
        "topics"
    ]


def iso_epoch(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def page_with(data, rpc: str, key: str, title: str) -> str:
    """A page in the served shape: Google escapes "<" inside its script JSON."""
    blob = json.dumps(data).replace("<", "\\u003c")
    return (
        f"<!doctype html><html><head><title>{escape(title)}</title></head><body>"
        "<h2>systems-neuroscience</h2>"
        f"<script>AF_initDataCallback({{key: '{key}', hash: '1', data:{blob}, "
        "sideChannel: {}});</script>"
        f"<script>var AF_dataServiceRequests = {{'{key}' : {{id:'{rpc}',request:[]}}}};</script>"
        "</body></html>"
    )


def neuro_thread_page(topic_id: str, subject: str, count: int, messages: list[dict]) -> str:
    elements = [
        [
            [
                [
                    "1",
                    m["id"],
                    [[m["author"], None, None, m["author_id"]]],
                    0,
                    None,
                    m["title"],
                    m["body_text"][:100],
                    [iso_epoch(m["updated"]), 0],
                    [m["created_ts"], 0],
                ],
                [2, [[1, [None, m["body_html"]]]]],
            ]
        ]
        for m in messages
    ]
    data = [["1", NEURO_EMAIL], ["1", topic_id, subject, None, None, None, count], elements]
    return page_with(data, "H08Fi", "ds:5", subject)
