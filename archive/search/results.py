"""What a search returns: one record per matching message, or per thread with hits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archive.times import utc_iso

__all__ = ["SearchHit", "ThreadHit"]


@dataclass(frozen=True)
class SearchHit:
    """One distinct message that matched, with where it was posted.

    ``url``, ``group_key``, ``topic_id`` and ``thread_id`` are those of the message's
    first posting (its canonical place); ``groups`` lists every group it was posted
    to, that one first. ``score`` is the relevance (bm25, negated so that higher is
    better), or None when results are sorted by date.
    """

    id: int
    subject: str
    author: str
    masked_address: str | None
    posted_at: datetime
    groups: tuple[str, ...]
    url: str
    group_key: str
    topic_id: str
    thread_id: int | None
    snippet: str
    score: float | None = None

    @property
    def thread(self) -> tuple[str, str]:
        return (self.group_key, self.topic_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "author": self.author,
            "masked_address": self.masked_address,
            "posted_at": utc_iso(self.posted_at),
            "groups": list(self.groups),
            "url": self.url,
            "group_key": self.group_key,
            "topic_id": self.topic_id,
            "thread_id": self.thread_id,
            "snippet": self.snippet,
            "score": self.score,
        }


@dataclass(frozen=True)
class ThreadHit:
    """A thread with at least one matching message; ``hits`` counts them."""

    thread_id: int
    group_key: str
    topic_id: str
    subject: str
    url: str
    hits: int
    message_count: int | None
    latest_hit_at: datetime
    last_activity_at: datetime | None
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "thread_id": self.thread_id,
            "group_key": self.group_key,
            "topic_id": self.topic_id,
            "subject": self.subject,
            "url": self.url,
            "hits": self.hits,
            "message_count": self.message_count,
            "latest_hit_at": utc_iso(self.latest_hit_at),
            "last_activity_at": utc_iso(self.last_activity_at) if self.last_activity_at else None,
            "score": self.score,
        }
