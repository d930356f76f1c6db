"""Plain, frozen records that flow from the scraper to the archive.

Every datetime here is timezone-aware UTC. Nothing in this module does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

CANONICAL_ORIGIN = "https://groups.google.com"


@dataclass(frozen=True)
class GroupRef:
    """A group as named in a URL: ``/g/<name>`` or ``/a/<domain>/g/<name>``.

    ``domain`` is None for consumer groups (``<name>@googlegroups.com``).
    """

    name: str
    domain: str | None = None

    @property
    def path(self) -> str:
        if self.domain:
            return f"/a/{self.domain}/g/{self.name}"
        return f"/g/{self.name}"

    @property
    def url(self) -> str:
        """The canonical URL, whatever origin actually served the pages."""
        return CANONICAL_ORIGIN + self.path

    @property
    def email(self) -> str:
        """The usual address of the group; the page's own ``data[0][1]`` wins over this."""
        return f"{self.name}@{self.domain or 'googlegroups.com'}"

    @property
    def key(self) -> str:
        """A short, stable identifier used in the archive: ``dev@kubernetes.io``."""
        return self.email

    def thread(self, topic_id: str, message_id: str | None = None) -> ThreadRef:
        return ThreadRef(self, topic_id, message_id)


@dataclass(frozen=True)
class ThreadRef:
    """A topic (thread) in a group, optionally pointing at one of its messages."""

    group: GroupRef
    topic_id: str
    message_id: str | None = None

    @property
    def path(self) -> str:
        path = f"{self.group.path}/c/{self.topic_id}"
        if self.message_id:
            path += f"/m/{self.message_id}"
        return path

    @property
    def url(self) -> str:
        return CANONICAL_ORIGIN + self.path

    @property
    def thread_url(self) -> str:
        """The URL of the whole thread, without the message part."""
        return f"{CANONICAL_ORIGIN}{self.group.path}/c/{self.topic_id}"


@dataclass(frozen=True)
class Attachment:
    url: str
    filename: str
    mime_type: str | None = None


@dataclass(frozen=True)
class Group:
    """What a group page says about its group."""

    ref: GroupRef
    id: str | None
    email: str
    title: str | None = None
    total_topics: int | None = None

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def domain(self) -> str | None:
        return self.ref.domain


@dataclass(frozen=True)
class Topic:
    """One row of a group's topic list."""

    id: str
    subject: str
    snippet: str = ""
    created_at: datetime | None = None
    last_activity_at: datetime | None = None
    message_count: int | None = None
    authors: tuple[str, ...] = ()


@dataclass(frozen=True)
class RejectedTopic:
    """A topic-list row whose data is odd (a topic id not shaped like Google's, a time
    or count out of range): skipped, and named to the user, never stored.

    ``id`` is printable (odd characters escaped); ``fingerprint`` identifies the row as
    served, so a row that stays the same is not reported as new every run.
    """

    id: str
    reason: str
    fingerprint: str


@dataclass(frozen=True)
class PageTokens:
    """Tokens from ``WIZ_global_data``; optional for anonymous reads of public groups."""

    at: str | None = None  # SNlM0e, the XSRF token
    f_sid: str | None = None  # FdrFJe
    bl: str | None = None  # cfb2h, the server build label


@dataclass(frozen=True)
class TopicPage:
    """One page of a group's topic list: the GET page or a batchexecute reply.

    ``source`` says which layer produced the topics: ``"json"`` or ``"dom"``.
    """

    group: Group
    topics: tuple[Topic, ...]
    next_token: str | None
    source: str = "json"
    tokens: PageTokens = field(default_factory=PageTokens)
    rejected: tuple[RejectedTopic, ...] = ()
    # The reply as received (a scraper.http.Page), for a bug report about a rejected row.
    raw: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Message:
    id: str  # Google's message id, e.g. "jISyG3VpBAAJ"
    topic_id: str
    author: str
    posted_at: datetime
    subject: str
    body_html: str
    masked_address: str | None = None  # "yuan...@gmail.com", never unmasked
    attachments: tuple[Attachment, ...] = ()
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Thread:
    """A parsed thread page.

    ``expected_count`` is how many messages Google says the topic has, when known;
    like the topic list's count it leaves deleted messages out. A thread whose page
    carried fewer (long threads) is ``complete == False``: callers must not treat the
    missing messages as deleted. ``deleted_ids`` are messages the thread still lists
    with an empty author and no body: deleted upstream, never in ``messages``.
    """

    group: Group
    topic_id: str
    subject: str
    messages: tuple[Message, ...]
    expected_count: int | None = None
    source: str = "json"
    deleted_ids: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return self.expected_count is None or len(self.messages) >= self.expected_count

    @property
    def ref(self) -> ThreadRef:
        return ThreadRef(self.group.ref, self.topic_id)
