"""Large deterministic groups, built on demand for each request.

``GroupsState.add_generated_group(name, topics=2000, messages_per_topic=50, seed=0)``
creates a group whose topic ``k`` (0 = newest activity) and its messages are computed
from the seed and the indices whenever a page needs them: nothing but the group's
parameters is kept in memory. Bodies are Gmail-style HTML of about 1.5-3 KB with
paragraphs, a ``<ul>`` with ``<b>`` lead words, links, a quote of the previous
message in replies, and the group footer.

Timeline: topic ``k`` last changed ``k * 3`` hours before 2025-06-01 12:00 UTC; its
messages are 41 minutes apart, the last one at that time. Generated messages carry no
attachments.

Topic ids encode ``k`` (an invertible mix with a per-group salt), so a thread page
finds its topic without a table. Fetching a generated topic through
``GroupsState.topic`` turns it into an ordinary topic that can take replies, edits
and deletes; ``add_topic`` adds ordinary topics beside the generated ones.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import unicodedata
import uuid
from datetime import UTC, datetime, timedelta
from itertools import islice

from tests.simulator.model import (
    SimGroup,
    SimMessage,
    SimTopic,
    TopicRow,
    digest,
    mask_address,
    message_id_from_bytes,
    numeric_id,
    topic_id_from_bytes,
)

MASK = (1 << 64) - 1
MULTIPLIER = 0x9E3779B97F4A7C15  # odd, so multiplication mod 2**64 is invertible
INVERSE = pow(MULTIPLIER, -1, 1 << 64)
NEWEST = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
TOPIC_STEP = timedelta(hours=3)
MESSAGE_GAP = timedelta(minutes=41)


def mix(*values: int) -> int:
    """splitmix64 over several integers: fast, deterministic, well spread."""
    h = 0x2545F4914F6CDD1D
    for value in values:
        h = (h ^ value) + 0x9E3779B97F4A7C15 & MASK
        h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9 & MASK
        h = (h ^ (h >> 27)) * 0x94D049BB133111EB & MASK
        h ^= h >> 31
    return h


FIRST_NAMES = [
    "Ada", "Bruno", "Chen", "Dana", "Emeka", "Fatima", "Günter", "Hana", "Ivan", "Jia",
    "Kofi", "Lena", "Mateo", "Nadia", "Oskar", "Priya", "Quinn", "Rosa", "Sven", "Tomás",
    "Uma", "Viktor", "Wen", "Yara",
]
LAST_NAMES = [
    "Abara", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Hoang", "Ito",
    "Jensen", "Kowalski", "Lindqvist", "Moreau", "Novak", "Okafor", "Petrov",
]


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


# 48 distinct (name, address) pairs: 24 and 16 names cycle with a period of 48.
AUTHORS = [
    (
        f"{FIRST_NAMES[(i * 7) % 24]} {LAST_NAMES[(i * 5) % 16]}",
        f"{_ascii(FIRST_NAMES[(i * 7) % 24]).lower()}.{_ascii(LAST_NAMES[(i * 5) % 16]).lower()}"
        f"@example.{('com', 'org', 'net')[i % 3]}",
    )
    for i in range(48)
]

SUBJECTS = [
    "Release v1.{a}.{b} is out",
    "Proposal: deprecate the legacy {thing} API",
    "Security advisory CVE-2024-{n:04d}",
    "Meeting notes {d}: {thing} working group",
    "Flaky test in {thing} after go1.22.{b}",
    "Question about {thing} configuration",
    "Call for reviewers: kubernetes/kubernetes#{n}",
    "Überprüfung: {thing} v{a}.{b}",
    "版本发布 v{a}.{b}.{n}",
    "🚀 {thing} {a}.{b} beta",
]
THINGS = [
    "scheduler", "storage", "networking", "auth", "CLI", "metrics", "ingest", "exporter",
    "search", "sync", "release tooling", "docs site",
]
SENTENCES = [
    "We have tagged v1.30.2 and the binaries are on the download page.",
    "This fixes CVE-2024-3177, which affected clusters with the admission plugin enabled.",
    "Please upgrade your runners to go1.22.1 before the next freeze.",
    "The change is tracked in kubernetes/kubernetes#12345 and needs one more approver.",
    "Benchmarks show a 12% drop in p99 latency on the ingest path.",
    "The old flag keeps working for two more releases and then prints a warning.",
    "If you maintain a downstream fork, please rebase onto the release branch this week.",
    "Nothing changes for users who run the default configuration.",
    "The migration runs automatically on first start and can be rolled back.",
    "We still need volunteers for the release shadow programme.",
    "Docs for the new option are at the usual place; feedback welcome.",
    "The meeting recording and the slides are linked from the agenda document.",
    "Thanks to everyone who tested the release candidates over the holidays.",
    "Windows builds are delayed by a day while we fix the signing step.",
    "Dependency bumps: golang.org/x/net v0.23.0, grpc v1.62.1, protobuf v1.33.0.",
    "A regression in the retry logic was found in v1.29.0 and is fixed here.",
    "The API is marked beta and may still change in incompatible ways.",
    "Please report problems on the issue tracker rather than replying to this list.",
    "The freeze starts on Thursday at 17:00 UTC; cherry-picks need a release lead's approval.",
    "Logs are now structured JSON by default; set --log-format=text for the old output.",
]
LEADS = ["Fixed", "Added", "Changed", "Deprecated", "Security", "Docs", "Performance", "Removed"]
REPLIES = [
    "Thanks for the heads-up!",
    "+1, this matches what we see in production.",
    "Could you clarify whether this also applies to the LTS branch?",
    "I tested the release candidate on arm64 and it works for us.",
    "We hit the same problem; the workaround in the issue helped.",
    "Sounds good to me. Ship it.",
    "Is there a timeline for removing the deprecated flag?",
    "Confirmed fixed on our side after upgrading.",
]
LINKS = [
    "https://example.org/releases",
    "https://example.org/docs/upgrade",
    "https://github.com/example/project/issues/4821",
    "https://example.org/security/advisories",
]


def _link(url: str) -> str:
    redirect = f"https://www.google.com/url?hl=en&amp;q={url}&amp;source=gmail"
    return (
        f'<a href="{url}" target="_blank" rel="nofollow" '
        f'data-saferedirecturl="{redirect}">{url}</a>'
    )


def _cut(text: str, limit: int) -> str:
    """Cut at a word boundary, as ``model.text_snippet`` does."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit]


class GeneratedTopics:
    """Topic ``k`` of a generated group and its messages, computed on demand."""

    def __init__(self, group: SimGroup, count: int, per_topic: int, seed: int) -> None:
        if count < 0 or per_topic < 1:
            raise ValueError("a generated group needs topics >= 0 and messages_per_topic >= 1")
        self.group = group
        self.count = count
        self.per_topic = per_topic
        self.seed = seed
        self.salt = int.from_bytes(digest("generated", seed, group.email)[:8], "big")
        self.materialized: set[int] = set()
        self.newest = NEWEST

    # -- identities and times ------------------------------------------------------------

    def topic_id(self, k: int) -> str:
        value = ((k + 1) * MULTIPLIER + self.salt) & MASK
        return topic_id_from_bytes(value.to_bytes(8, "big"))

    def index_of(self, topic_id: str) -> int | None:
        try:
            raw = base64.urlsafe_b64decode(topic_id + "=")
        except (binascii.Error, ValueError):
            return None
        if len(raw) != 8 or topic_id_from_bytes(raw) != topic_id:
            return None
        k = (((int.from_bytes(raw, "big") - self.salt) * INVERSE) & MASK) - 1
        if 0 <= k < self.count and k not in self.materialized:
            return k
        return None

    def message_id(self, k: int, j: int) -> str:
        return message_id_from_bytes(mix(self.salt, k, j, 7).to_bytes(8, "big") + b"\0")

    def last_activity(self, k: int) -> datetime:
        return NEWEST - k * TOPIC_STEP

    def posted_at(self, k: int, j: int) -> datetime:
        return self.last_activity(k) - (self.per_topic - 1 - j) * MESSAGE_GAP

    def author(self, k: int, j: int) -> tuple[str, str]:
        return AUTHORS[mix(self.salt, k, j, 3) % len(AUTHORS)]

    def subject(self, k: int) -> str:
        h = mix(self.salt, k, 11)
        template = SUBJECTS[h % len(SUBJECTS)]
        return template.format(
            a=(h >> 8) % 40,
            b=(h >> 16) % 12,
            n=(h >> 24) % 9000 + 1000,
            d=(NEWEST - k * TOPIC_STEP).date().isoformat(),
            thing=THINGS[(h >> 32) % len(THINGS)],
        )

    def live_count(self) -> int:
        return self.count - len(self.materialized)

    # -- rows and topics -----------------------------------------------------------------

    def row(self, k: int) -> TopicRow:
        latest: dict[str, int] = {}
        for j in range(self.per_topic):
            latest[self.author(k, j)[0]] = j
        ordered = sorted(latest.items(), key=lambda item: item[1])
        return TopicRow(
            id=self.topic_id(k),
            subject=self.subject(k),
            snippet=_cut(f"Hi all, {self._paragraph_text(k, 0)}", 100),
            last_posted_at=self.last_activity(k),
            last_activity_at=self.last_activity(k),
            message_count=self.per_topic,
            authors=tuple(
                (name, numeric_id("author", self.author(k, j)[1])) for name, j in ordered[-3:]
            ),
            author_count=len(ordered),
        )

    def merged_listing(
        self, ordinary: list[SimTopic], offset: int, size: int
    ) -> tuple[int, list[TopicRow]]:
        total = self.live_count() + len(ordinary)
        if not ordinary and not self.materialized:
            end = min(self.count, offset + size)
            return total, [self.row(k) for k in range(max(0, offset), end)]
        generated = (
            (self.last_activity(k), 0, k) for k in range(self.count) if k not in self.materialized
        )
        added = ((topic.last_activity_at, 1, topic) for topic in ordinary)
        merged = heapq.merge(generated, added, key=lambda entry: entry[0], reverse=True)
        rows = [
            self.row(entry[2]) if entry[1] == 0 else entry[2].row()
            for entry in islice(merged, offset, offset + size)
        ]
        return total, rows

    def build(self, topic_id: str) -> SimTopic | None:
        """A transient topic with all its messages (nothing is kept)."""
        k = self.index_of(topic_id)
        if k is None:
            return None
        topic = SimTopic(
            id=topic_id,
            group=self.group,
            subject=self.subject(k),
            views=20 + mix(self.salt, k, 5) % 3000,
        )
        topic.messages = [self._message(topic, k, j) for j in range(self.per_topic)]
        return topic

    def materialize(self, topic_id: str) -> SimTopic | None:
        topic = self.build(topic_id)
        if topic is not None:
            self.materialized.add(self.index_of(topic_id))
        return topic

    # -- bodies ------------------------------------------------------------------------------

    def _message(self, topic: SimTopic, k: int, j: int) -> SimMessage:
        name, address = self.author(k, j)
        message_id = self.message_id(k, j)
        body = self.body(k, j)
        return SimMessage(
            id=message_id,
            topic=topic,
            author=name,
            address=address,
            body_html=body,
            posted_at=self.posted_at(k, j),
            subject=topic.subject if j == 0 else f"Re: {topic.subject}",
            rfc822_id=f"{uuid.UUID(int=mix(self.salt, k, j, 9) << 64 | mix(k, j))}@example.com",
            seq=j,
            _snippet=(body, _cut(f"Hi all, {self._paragraph_text(k, j)}", 100)),
        )

    def _paragraph_text(self, k: int, j: int) -> str:
        h = mix(self.salt, k, j, 17)
        picks = [SENTENCES[(h >> (5 * i)) % len(SENTENCES)] for i in range(3 + h % 3)]
        if j:
            picks.insert(0, REPLIES[h % len(REPLIES)])
        return " ".join(picks)

    def body(self, k: int, j: int) -> str:
        h = mix(self.salt, k, j, 23)
        first = AUTHORS[mix(self.salt, k, j, 3) % len(AUTHORS)][0].split()[0]
        items = "".join(
            f"<li><b>{LEADS[(h >> (3 * i)) % len(LEADS)]}</b>: "
            f"{SENTENCES[(h >> (4 * i + 7)) % len(SENTENCES)]}</li>"
            for i in range(3 + (h >> 40) % 3)
        )
        parts = [
            '<div dir="ltr"><div>Hi all,</div><div><br></div>',
            f"<div>{self._paragraph_text(k, j)}</div><div><br></div>",
            f"<ul>{items}</ul>",
            f"<div>More details: {_link(LINKS[(h >> 50) % len(LINKS)])}</div><div><br></div>",
            f"<div>Thanks,<br>{first}</div>",
        ]
        if j:
            name, address = self.author(k, j - 1)
            when = self.posted_at(k, j - 1)
            parts.append(
                '<br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
                f"On {when:%a, %b} {when.day}, {when.year} at {when:%H:%M} {name} &lt;"
                f'<a href data-email-masked rel="nofollow">{mask_address(address)}</a>&gt; '
                'wrote:<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px '
                '0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">'
                f"<div>{self._paragraph_text(k, j - 1)}</div></blockquote></div>"
            )
        parts.append("</div>")
        return "".join(parts)
