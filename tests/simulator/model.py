"""The simulator's data model: groups, topics and messages as Google holds them.

Everything here is plain Python objects guarded by one lock (``GroupsState.lock``);
the server takes the same lock while it renders, so tests may change the state while
the server runs. Identifiers are derived from a seed and a counter, so a test that
builds the same state twice gets the same ids twice.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import threading
import uuid
from bisect import insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from tests.simulator.generate import GeneratedTopics

CANONICAL_ORIGIN = "https://groups.google.com"
# Where the clock starts when a test adds something without saying when it was posted.
DEFAULT_START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def digest(*parts: object) -> bytes:
    """A stable 16-byte digest of ``parts`` (Python's ``hash()`` changes per process)."""
    text = "\x1f".join(str(part) for part in parts)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def topic_id_from_bytes(raw: bytes) -> str:
    """Eight bytes -> an 11-character base64url topic id, as Google's (``-nTNtBBHL2Y``)."""
    return base64.urlsafe_b64encode(raw[:8]).decode("ascii").rstrip("=")


def message_id_from_bytes(raw: bytes) -> str:
    """A 12-character base64url message id shaped like Google's (``jISyG3VpBAAJ``).

    Real ids end in a small byte, a zero byte and 0x09 (``...AwAJ``, ``...CAAJ``).
    """
    shaped = raw[:6] + bytes([raw[6] & 0x1F, 0, 9])
    return base64.urlsafe_b64encode(shaped).decode("ascii")


def numeric_id(*parts: object, digits: int = 21) -> str:
    """A decimal id such as Google's author ids (``100447897620032284499``)."""
    value = int.from_bytes(digest(*parts)[:12], "big")
    low = 10 ** (digits - 1)
    return str(low + value % (9 * low))


def mask_address(address: str | None) -> str | None:
    """Google's anonymous view: ``ann.author@example.com`` -> ``ann.a...@example.com``.

    The local part keeps about half its length, between 1 and 8 characters.
    """
    if not address:
        return None
    local, _, domain = address.rpartition("@")
    keep = min(8, max(1, (len(local) + 1) // 2))
    return f"{local[:keep]}...@{domain}"


_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
_QUOTE_START = re.compile(r'<div[^>]*class="gmail_quote')


def text_snippet(body_html: str, limit: int = 100) -> str:
    """The plain text Google shows as a snippet: the body without its quote, cut at a word."""
    match = _QUOTE_START.search(body_html)
    if match:
        body_html = body_html[: match.start()]
    # The first few hundred characters of text are all a snippet needs: strip only a prefix.
    window = 40 * limit
    if len(body_html) > window:
        body_html = body_html[:window]
        if body_html.rfind("<") > body_html.rfind(">"):
            body_html = body_html[: body_html.rfind("<")]
    text = _SPACE.sub(" ", html.unescape(_TAG.sub(" ", body_html))).strip()
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit]


def to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: give a timezone (datetime.UTC)")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class SimAttachment:
    filename: str
    mime_type: str
    content: bytes
    key: str  # the hex part of the attachment URL, unique in the state

    def url(self, group: SimGroup, part: int) -> str:
        """The canonical URL, in the form Google uses for attachments inside bodies."""
        return (
            f"{CANONICAL_ORIGIN}{group.legacy_path}/attach/{self.key}/"
            f"{quote(self.filename)}?part=0.{part}&view=1"
        )


@dataclass(frozen=True)
class TopicRow:
    """What the topic list says about one topic (one row, DOM and JSON).

    As the live service does (google-groups-evidence-2026.md, section 1, from the
    systems-neuro-scrape data and aposd-illustrated's groups_scan.py): ``last_activity_at``
    (field [4]) is the newest message's *updated* time, ``last_posted_at`` (field [5]) is
    the newest message's *post* time, not the topic's creation, and ``message_count``
    (field [6]) leaves deleted messages out.
    """

    id: str
    subject: str
    snippet: str
    last_posted_at: datetime
    last_activity_at: datetime
    message_count: int
    authors: tuple[tuple[str, str], ...]  # (display name, author id), the latest poster last
    author_count: int


@dataclass(eq=False)
class SimMessage:
    """One posting of a message in one topic of one group."""

    id: str
    topic: SimTopic
    author: str
    address: str | None
    body_html: str  # as the sender wrote it; the group footer is added when served
    posted_at: datetime
    subject: str
    attachments: tuple[SimAttachment, ...] = ()
    updated_at: datetime | None = None
    rfc822_id: str = ""  # the Message-ID header; shared by cross-posted copies
    cross_post_of: SimMessage | None = None
    seq: int = 0
    _snippet: tuple[str, str] | None = field(default=None, repr=False)
    # Raw JSON text served in place of meta[n] of this message (thread page and H08Fi),
    # for odd data that Python values cannot express (lone surrogates, 1e30, deep nesting).
    raw_meta: dict[int, str] = field(default_factory=dict, repr=False)

    @property
    def group(self) -> SimGroup:
        return self.topic.group

    @property
    def masked_address(self) -> str | None:
        return mask_address(self.address)

    @property
    def author_id(self) -> str:
        return numeric_id("author", self.address or self.author)

    @property
    def snippet(self) -> str:
        cached = self._snippet
        if cached is None or cached[0] is not self.body_html:
            cached = self._snippet = (self.body_html, text_snippet(self.body_html))
        return cached[1]

    @property
    def served_html(self) -> str:
        """The body exactly as the page serves it (JSON and DOM): body plus group footer."""
        return self.body_html + self.group.footer_html(self.rfc822_id)

    @property
    def path(self) -> str:
        return f"{self.topic.path}/m/{self.id}"

    @property
    def url(self) -> str:
        return CANONICAL_ORIGIN + self.path

    def __repr__(self) -> str:
        return f"<SimMessage {self.id} {self.author!r} {self.posted_at:%Y-%m-%d %H:%M}>"


@dataclass(eq=False)
class SimTopic:
    id: str
    group: SimGroup
    subject: str
    messages: list[SimMessage] = field(default_factory=list)  # visible ones, oldest first
    views: int = 0
    seq: int = 0
    # Deleted messages stay in the thread's message list with an empty author and no
    # body, but leave the topic's count (evidence section 3, aposd's groups_fetch.py).
    deleted: list[SimMessage] = field(default_factory=list)
    # Raw JSON text served in place of field n of this topic's list row (see raw_meta).
    raw_row: dict[int, str] = field(default_factory=dict, repr=False)
    # The row a topic list still shows after the thread went (a list lagging behind).
    stale_row: TopicRow | None = field(default=None, repr=False)
    gone_to: str | None = field(default=None, repr=False)  # where its URL redirects once gone

    def served_messages(self) -> list[SimMessage]:
        """The thread's message list as served: live and deleted ones, by post time."""
        if not self.deleted:
            return self.messages
        return sorted([*self.messages, *self.deleted], key=lambda m: (m.posted_at, m.seq))

    @property
    def created_at(self) -> datetime:
        return self.messages[0].posted_at

    @property
    def last_activity_at(self) -> datetime:
        if not self.messages and self.stale_row is not None:
            return self.stale_row.last_posted_at
        return max(message.posted_at for message in self.messages)

    @property
    def path(self) -> str:
        return f"{self.group.path}/c/{self.id}"

    @property
    def url(self) -> str:
        return CANONICAL_ORIGIN + self.path

    def row(self) -> TopicRow:
        if not self.messages and self.stale_row is not None:
            return self.stale_row
        latest: dict[str, tuple[datetime, int, str]] = {}
        for message in self.messages:
            latest[message.author] = (message.posted_at, message.seq, message.author_id)
        ordered = sorted(latest.items(), key=lambda item: item[1][:2])
        newest = max(self.messages, key=lambda m: (m.posted_at, m.seq))
        return TopicRow(
            id=self.id,
            subject=self.subject,
            snippet=self.messages[0].snippet,
            last_posted_at=newest.posted_at,
            last_activity_at=newest.updated_at or newest.posted_at,
            message_count=len(self.messages),
            authors=tuple((name, info[2]) for name, info in ordered[-3:]),
            author_count=len(ordered),
        )

    def __repr__(self) -> str:
        return f"<SimTopic {self.id} {self.subject!r} ({len(self.messages)} messages)>"


@dataclass(eq=False)
class SimGroup:
    name: str
    domain: str | None
    title: str
    gid: str
    private: bool = False
    footer: bool = True
    topics: list[SimTopic] = field(default_factory=list)  # ordinary (not generated) topics
    # The evidence (section 2) says the last topic page's rows "may be empty or null":
    # with this set, the page that completes the list ends its rows with a null row and
    # still hands out a token, and that token leads to a page whose rows are null and
    # which has no token.
    null_last_page: bool = False
    generated: GeneratedTopics | None = None

    @property
    def email(self) -> str:
        return f"{self.name}@{self.domain or 'googlegroups.com'}"

    @property
    def path(self) -> str:
        return f"/a/{self.domain}/g/{self.name}" if self.domain else f"/g/{self.name}"

    @property
    def legacy_path(self) -> str:
        """The ``/group/`` form Google still uses for attachment and old links."""
        return f"/a/{self.domain}/group/{self.name}" if self.domain else f"/group/{self.name}"

    @property
    def url(self) -> str:
        return CANONICAL_ORIGIN + self.path

    def footer_html(self, rfc822_id: str) -> str:
        """The footer Google appends to every message, with addresses masked as on the page."""
        if not self.footer:
            return ""
        domain_part = f"/a/{self.domain}" if self.domain else ""
        msgid = quote(rfc822_id, safe="")
        msgid_url = f"{CANONICAL_ORIGIN}{domain_part}/d/msgid/{self.name}/{msgid}"
        unsubscribe = mask_address(f"{self.name}+unsubscribe@{self.domain or 'googlegroups.com'}")
        return (
            "<p></p>-- <br />You received this message because you are subscribed to the "
            f"Google Groups &quot;{html.escape(self.title)}&quot; group.<br />"
            "To unsubscribe from this group and stop receiving emails from it, send an email to "
            f'<a href data-email-masked rel="nofollow">{unsubscribe}</a>.<br />'
            f'To view this discussion visit <a href="{msgid_url}?utm_medium=email&amp;'
            f'utm_source=footer" target="_blank" rel="nofollow">{msgid_url}</a>.<br />'
        )

    def visible_topics(self) -> list[SimTopic]:
        """Ordinary topics, newest activity first (the order of the topic list)."""
        live = [topic for topic in self.topics if topic.messages]
        live.sort(key=lambda topic: (topic.last_activity_at, topic.seq), reverse=True)
        return live

    def listed_topics(self) -> list[SimTopic]:
        """What the topic list shows: the visible topics, and gone ones still listed."""
        listed = [t for t in self.topics if t.messages or t.stale_row is not None]
        listed.sort(key=lambda topic: (topic.last_activity_at, topic.seq), reverse=True)
        return listed

    def topic_count(self) -> int:
        count = sum(1 for topic in self.topics if topic.messages or topic.stale_row is not None)
        if self.generated is not None:
            count += self.generated.live_count()
        return count

    def listing(self, offset: int, size: int) -> tuple[int, list[TopicRow]]:
        """``(total, rows)`` for one page of the topic list, computed from the current state."""
        ordinary = self.listed_topics()
        if self.generated is None:
            return len(ordinary), [topic.row() for topic in ordinary[offset : offset + size]]
        return self.generated.merged_listing(ordinary, offset, size)

    def find_topic(self, subject_part: str) -> SimTopic:
        """The newest ordinary topic whose subject contains ``subject_part``."""
        for topic in self.visible_topics():
            if subject_part in topic.subject:
                return topic
        raise KeyError(f"no topic in {self.email} with {subject_part!r} in its subject")

    def __repr__(self) -> str:
        return f"<SimGroup {self.email} {self.title!r}>"


class GroupsState:
    """Every simulated group, topic and message; thread-safe through ``lock``."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.lock = threading.RLock()
        self.groups: list[SimGroup] = []
        self.demo: Any = None  # set by demo.populate: handles on the demo's notable topics
        self._counter = 0
        self._used_ids: set[str] = set()
        self._topics: dict[tuple[int, str], SimTopic] = {}
        self._attachments: dict[str, tuple[SimMessage, int]] = {}
        self._latest = DEFAULT_START - timedelta(hours=1)

    # -- lookups -------------------------------------------------------------------------

    def find_group(self, name: str, domain: str | None = None) -> SimGroup | None:
        with self.lock:
            for group in self.groups:
                if group.name == name and group.domain == domain:
                    return group
        return None

    def group(self, name: str, domain: str | None = None) -> SimGroup:
        found = self.find_group(name, domain)
        if found is None:
            raise KeyError(f"no simulated group {name!r} (domain {domain!r})")
        return found

    def group_by_email(self, email: str) -> SimGroup | None:
        with self.lock:
            for group in self.groups:
                if group.email == email.lower():
                    return group
        return None

    def topic(self, group: SimGroup, topic_id: str) -> SimTopic | None:
        """The topic with this id; a generated topic becomes an ordinary, editable one."""
        with self.lock:
            found = self._topics.get((id(group), topic_id))
            if found is not None:
                return found if found.messages else None
            if group.generated is not None:
                topic = group.generated.materialize(topic_id)
                if topic is not None:
                    self._adopt(topic)
                return topic
        return None

    def peek_topic(self, group: SimGroup, topic_id: str) -> SimTopic | None:
        """Like :meth:`topic`, but a generated topic is built for reading only."""
        with self.lock:
            found = self._topics.get((id(group), topic_id))
            if found is not None:
                return found if found.messages else None
            if group.generated is not None:
                return group.generated.build(topic_id)
        return None

    def attachment(self, key: str) -> tuple[SimMessage, int] | None:
        with self.lock:
            found = self._attachments.get(key)
            if found and found[0] in found[0].topic.messages:
                return found
        return None

    # -- changes ---------------------------------------------------------------------------

    def add_group(
        self,
        name: str,
        domain: str | None = None,
        title: str | None = None,
        *,
        private: bool = False,
        footer: bool = True,
    ) -> SimGroup:
        """A consumer group (``domain=None``) or a Workspace group on ``domain``.

        ``private`` groups redirect every page to ``/access-error``; ``footer=False``
        serves bodies exactly as given, without Google's subscription footer.
        """
        with self.lock:
            if self.find_group(name, domain) is not None:
                raise ValueError(f"group {name!r} on {domain!r} exists already")
            group = SimGroup(
                name=name,
                domain=domain.lower() if domain else None,
                title=title or name,
                gid=numeric_id("group", self.seed, name, domain, digits=12),
                private=private,
                footer=footer,
            )
            self.groups.append(group)
            return group

    def add_generated_group(
        self,
        name: str,
        topics: int = 2000,
        messages_per_topic: int = 50,
        seed: int = 0,
        domain: str | None = None,
        title: str | None = None,
    ) -> SimGroup:
        """A large deterministic group whose topics and messages are built per request.

        Ordinary topics may be added to it later with :meth:`add_topic`; a generated
        topic becomes editable (replies, edits, deletes) once fetched with :meth:`topic`.
        """
        from tests.simulator.generate import GeneratedTopics

        with self.lock:
            group = self.add_group(name, domain, title or f"Generated group {name}")
            group.generated = GeneratedTopics(group, topics, messages_per_topic, seed)
            if topics:
                self._latest = max(self._latest, group.generated.newest)
            return group

    def add_topic(
        self,
        group: SimGroup,
        subject: str,
        author: str,
        address: str | None = None,
        body_html: str = "",
        posted_at: datetime | None = None,
        attachments: Iterable[Sequence[Any]] = (),
        *,
        views: int | None = None,
    ) -> SimTopic:
        """A new topic with its first message.

        ``attachments`` holds ``(filename, mime_type)`` or ``(filename, mime_type, bytes)``.
        """
        with self.lock:
            topic_id = self._new_id("topic", group.email, make=topic_id_from_bytes)
            self._counter += 1
            topic = SimTopic(
                id=topic_id,
                group=group,
                subject=subject,
                views=views if views is not None else 20 + digest(topic_id)[0] * 9,
                seq=self._counter,
            )
            group.topics.append(topic)
            self._topics[(id(group), topic_id)] = topic
            self._post(topic, author, address, body_html, posted_at, attachments, subject)
            return topic

    def add_message(
        self,
        topic: SimTopic,
        author: str,
        address: str | None = None,
        body_html: str = "",
        posted_at: datetime | None = None,
        attachments: Iterable[Sequence[Any]] = (),
        *,
        subject: str | None = None,
    ) -> SimMessage:
        """A reply in ``topic``; its subject defaults to ``"Re: <topic subject>"``."""
        with self.lock:
            return self._post(
                topic,
                author,
                address,
                body_html,
                posted_at,
                attachments,
                subject if subject is not None else f"Re: {topic.subject}",
            )

    def cross_post(
        self,
        item: SimTopic | SimMessage,
        other_group: SimGroup,
        *,
        delay: timedelta = timedelta(minutes=3),
        subject: str | None = None,
    ) -> SimTopic | SimMessage:
        """The same e-mail delivered to ``other_group`` too: same author, body and
        Message-ID, posted ``delay`` later, with its own Google ids and footer.

        A topic (or a topic's first message) starts a new topic there; a reply joins
        the topic that already carries its thread there, if any. The list tag at the
        start of the subject (``[demo-announce] ...``) becomes the other group's.
        Returns what was given, in its new group: a SimTopic or a SimMessage.
        """
        with self.lock:
            message = item.messages[0] if isinstance(item, SimTopic) else item
            source = message.topic
            if subject is None:
                subject = _retag(message.subject, source.group.name, other_group.name)
            target = None
            if message is not source.messages[0]:
                target = next(
                    (
                        topic
                        for topic in other_group.topics
                        if topic.messages and topic.messages[0].cross_post_of is source.messages[0]
                    ),
                    None,
                )
            attachments = [(a.filename, a.mime_type, a.content) for a in message.attachments]
            when = message.posted_at + delay
            if target is None:
                topic_subject = _retag(source.subject, source.group.name, other_group.name)
                if message is not source.messages[0]:
                    topic_subject = subject
                target = self.add_topic(
                    other_group, topic_subject, message.author, message.address,
                    message.body_html, when, attachments,
                )
                copy = target.messages[0]
                copy.subject = subject
            else:
                copy = self.add_message(
                    target, message.author, message.address, message.body_html, when,
                    attachments, subject=subject,
                )
            copy.rfc822_id = message.rfc822_id
            copy.cross_post_of = message
            return target if isinstance(item, SimTopic) else copy

    def edit_message(
        self,
        message: SimMessage,
        body_html: str | None = None,
        *,
        subject: str | None = None,
        edited_at: datetime | None = None,
    ) -> SimMessage:
        """An upstream edit: new body (and/or subject) and a new "updated" timestamp.

        As on Google, an edit does not move the topic in the topic list.
        """
        with self.lock:
            if body_html is not None:
                message.body_html = body_html
            if subject is not None:
                message.subject = subject
            message.updated_at = to_utc(edited_at) if edited_at else self._tick()
            return message

    def delete_message(self, message: SimMessage) -> None:
        """The message is deleted upstream: it stays in the thread's list with an empty
        author and no body and leaves the topic's count. A topic left without a live
        message is gone, as :meth:`delete_topic` leaves it."""
        with self.lock:
            topic = message.topic
            if message in topic.messages:
                topic.messages.remove(message)
                topic.deleted.append(message)
            if not topic.messages:
                topic.deleted.clear()

    def delete_topic(
        self, topic: SimTopic, *, still_listed: bool = False, redirect_to: str | None = None
    ) -> None:
        """The thread is gone: its URL redirects to the group page (or to
        ``redirect_to``, any URL), and it leaves the list, unless ``still_listed`` keeps
        its last row there (a list lagging behind)."""
        with self.lock:
            topic.gone_to = redirect_to
            if still_listed and topic.messages:
                topic.stale_row = topic.row()
            topic.messages.clear()
            topic.deleted.clear()

    def gone_location(self, group: SimGroup, topic_id: str) -> str | None:
        """Where a deleted topic's URL redirects, if it was sent somewhere special."""
        with self.lock:
            found = self._topics.get((id(group), topic_id))
            return found.gone_to if found is not None else None

    def is_gone(self, group: SimGroup, topic_id: str) -> bool:
        """Whether ``topic_id`` named a topic of ``group`` that was deleted."""
        with self.lock:
            found = self._topics.get((id(group), topic_id))
            return found is not None and not found.messages

    # -- internals -------------------------------------------------------------------------

    def _tick(self) -> datetime:
        self._latest += timedelta(hours=1)
        return self._latest

    def _new_id(self, kind: str, scope: str, make) -> str:
        while True:
            self._counter += 1
            candidate = make(digest(kind, self.seed, scope, self._counter))
            if candidate not in self._used_ids:
                self._used_ids.add(candidate)
                return candidate

    def _adopt(self, topic: SimTopic) -> None:
        """Registers a materialized generated topic as an ordinary one."""
        self._counter += 1
        topic.seq = self._counter
        topic.group.topics.append(topic)
        self._topics[(id(topic.group), topic.id)] = topic
        for message in topic.messages:
            self._used_ids.add(message.id)
        self._used_ids.add(topic.id)

    def _post(
        self,
        topic: SimTopic,
        author: str,
        address: str | None,
        body_html: str,
        posted_at: datetime | None,
        attachments: Iterable[Sequence[Any]],
        subject: str,
    ) -> SimMessage:
        when = to_utc(posted_at) if posted_at is not None else self._tick()
        self._latest = max(self._latest, when)
        message_id = self._new_id("message", topic.group.email, make=message_id_from_bytes)
        self._counter += 1
        message = SimMessage(
            id=message_id,
            topic=topic,
            author=author,
            address=address,
            body_html=body_html,
            posted_at=when,
            subject=subject,
            rfc822_id=rfc822_id(message_id),
            seq=self._counter,
        )
        message.attachments = tuple(
            self._attachment(message, n, spec) for n, spec in enumerate(attachments, start=1)
        )
        insort(topic.messages, message, key=lambda m: (m.posted_at, m.seq))
        return message

    def _attachment(self, message: SimMessage, part: int, spec: Sequence[Any]) -> SimAttachment:
        filename, mime_type = spec[0], spec[1]
        content = spec[2] if len(spec) > 2 else default_attachment_content(filename, mime_type)
        key = digest("attachment", message.id, part).hex()[:13]
        self._attachments[key] = (message, part)
        return SimAttachment(filename, mime_type, content, key)


def rfc822_id(message_id: str) -> str:
    """A Message-ID header value like those of messages posted on the web."""
    return f"{uuid.UUID(bytes=digest('rfc822', message_id))}@googlegroups.com"


def default_attachment_content(filename: str, mime_type: str) -> bytes:
    """Small deterministic bytes that look like the declared type."""
    if mime_type.startswith("text/"):
        return (f"{filename}\n\n" + "Line of attached notes.\n" * 20).encode("utf-8")
    if mime_type == "application/pdf":
        return b"%PDF-1.4\n% simulated attachment " + filename.encode() + b"\n%%EOF\n"
    if mime_type == "image/png":
        return bytes.fromhex("89504e470d0a1a0a") + digest("png", filename) * 8
    return digest("bytes", filename) * 16


def _retag(subject: str, old: str, new: str) -> str:
    prefix = f"[{old}]"
    if subject.startswith(prefix):
        return f"[{new}]" + subject[len(prefix) :]
    return subject
