"""Deterministic demo content: two small groups that look like real announcement lists.

``populate(state)`` adds, and returns handles on (also kept in ``state.demo``):

* ``demo-announce`` (consumer group, ``demo-announce@googlegroups.com``, title
  "Demo announcements"): **75 topics**, so the topic list has 3 pages (30/30/15).
  Posted 2024-01-08 .. 2025-06, all times whole seconds, UTC. Among them:

  - "Discussion: long-term support policy": **120 messages** (the thread page carries
    only the first 100; its JSON count says 120);
  - two cross-posted announcements, "[demo-announce] Demo v1.30.2 released" and
    "[demo-announce] Security advisory: CVE-2024-3177", each also in ``dev`` as
    "[dev] ..." two and four minutes later (same author, body and Message-ID; each
    group's own footer, topic id and message ids);
  - "Weekly reminder: community meeting on Thursday", twice, exactly 7 days apart,
    with identical bodies (two different messages);
  - Unicode subjects "Überprüfung der Sicherheitsrichtlinien", "版本发布 v2.0" and
    "🎉 Demo 2.0 is out"; identifiers CVE-2024-3177, v1.30.2, go1.22.1 and
    kubernetes/kubernetes#12345 in bodies;
  - attachments: "Release 1.2" (notes.txt, text/plain) and "Release notes and
    screenshots for v1.29.0" (release-notes.pdf, dashboard.png);
  - single-message topics, topics with 5+ messages ("Deprecation of the v1beta1 API"
    has 7), replies hours or days apart quoting the previous message Gmail-style, and
    one author without an address ("Hiro Tanaka").

* ``dev`` on ``example.org`` (Workspace group, ``dev@example.org``, title "Example
  developers"): **10 topics**: the two cross-posts and 8 of its own.

Every body is Gmail-style HTML (``<div dir="ltr">``, links, lists with ``<b>`` lead
words, ``gmail_quote`` blocks); the group footer is added when a page is served.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tests.simulator.model import GroupsState, SimGroup, SimMessage, SimTopic, mask_address

BASE = datetime(2024, 1, 8, 9, 0, tzinfo=UTC)

ANN = ("Ann Author", "ann.author@example.com")
BRUNO = ("Bruno Díaz", "bruno.diaz@example.net")
CHEN = ("Chen Wei", "chenwei@example.cn")
DANA = ("Dana O'Brien", "dana.obrien@example.org")
EMEKA = ("Emeka Okafor", "emeka.okafor@example.com")
FATIMA = ("Fatima Zahra", "fz@example.org")
GUNTER = ("Günter Groß", "guenter.gross@example.de")
BOT = ("Release Bot", "release-bot@demo.example")
HIRO = ("Hiro Tanaka", None)  # posted without an address Google would show
PEOPLE = [ANN, BRUNO, CHEN, DANA, EMEKA, FATIMA, GUNTER]

LONG_THREAD_SUBJECT = "Discussion: long-term support policy"
WEEKLY_SUBJECT = "Weekly reminder: community meeting on Thursday"
CROSS_POST_SUBJECTS = (
    "[demo-announce] Demo v1.30.2 released",
    "[demo-announce] Security advisory: CVE-2024-3177",
)


@dataclass
class Demo:
    announce: SimGroup
    dev: SimGroup
    long_thread: SimTopic
    cross_posts: list[tuple[SimTopic, SimTopic]] = field(default_factory=list)
    weekly: tuple[SimTopic, ...] = ()
    with_attachments: list[SimTopic] = field(default_factory=list)
    unicode_subjects: list[SimTopic] = field(default_factory=list)


# -- Gmail-style HTML ---------------------------------------------------------------------


def link(url: str, text: str | None = None) -> str:
    redirect = f"https://www.google.com/url?hl=en&amp;q={url}&amp;source=gmail"
    return (
        f'<a href="{url}" target="_blank" rel="nofollow" '
        f'data-saferedirecturl="{redirect}">{text or url}</a>'
    )


def bullets(items: list[tuple[str, str]], ordered: bool = False) -> str:
    tag = "ol" if ordered else "ul"
    inner = "".join(f"<li><b>{lead}</b> {text}</li>" for lead, text in items)
    return f"<{tag}>{inner}</{tag}>"


def body(*blocks: str) -> str:
    """Blocks separated the way Gmail does: ``<div>`` lines and ``<div><br></div>``."""
    return '<div dir="ltr">' + "<div><br></div>".join(
        block if block.startswith("<") else f"<div>{block}</div>" for block in blocks
    ) + "</div>"


def own_part(message: SimMessage) -> str:
    """A message's body without its own quote, as the next reply quotes it."""
    at = message.body_html.find('<div class="gmail_quote"')
    text = message.body_html if at < 0 else message.body_html[:at] + "</div>"
    return text


def attribution(message: SimMessage) -> str:
    when = message.posted_at
    hour = when.hour % 12 or 12
    half = "AM" if when.hour < 12 else "PM"
    address = mask_address(message.address)
    who = message.author
    if address:
        who += f' &lt;<a href data-email-masked rel="nofollow">{address}</a>&gt;'
    return f"On {when:%a, %b} {when.day}, {when.year} at {hour}:{when:%M} {half} {who} wrote:<br>"


def reply_body(text_blocks: list[str], quoted: SimMessage | None) -> str:
    html = body(*text_blocks)
    if quoted is None:
        return html
    quote = (
        '<br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
        f"{attribution(quoted)}</div>"
        '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px '
        f'solid rgb(204,204,204);padding-left:1ex">{own_part(quoted)}</blockquote></div>'
    )
    return html[: -len("</div>")] + quote + "</div>"


# -- content --------------------------------------------------------------------------------

REPLY_TEXTS = [
    ["Thanks for the heads-up!"],
    ["Upgraded our staging cluster this morning; no problems so far."],
    ["Could you clarify whether this also applies to the 1.28 LTS branch?"],
    ["+1. We have been waiting for this fix.", "Cheers,<br>Dana"],
    ["Confirmed fixed on arm64 after upgrading to v1.30.2."],
    ["Is there a migration guide? The link in the release notes gives a 404 for me."],
    ["Good catch, I have opened kubernetes/kubernetes#12345 to track it."],
    ["Works for us too. Thanks to everyone who tested the release candidates."],
]

RELEASE_ITEMS = [
    ("Fixed:", "a race in the sync loop that could drop updates under load."),
    ("Added:", "the <code>--since</code> flag to the export command."),
    ("Changed:", "the default timeout is now 30 seconds."),
    ("Security:", "dependencies updated for CVE-2024-24786 (protobuf)."),
    ("Performance:", "startup is about 40% faster on large archives."),
    ("Deprecated:", "the <code>legacy-auth</code> option; it will be removed in v2.0."),
    ("Docs:", "a new page on running behind a proxy."),
]


def _people(i: int) -> tuple[str, str | None]:
    return PEOPLE[i % len(PEOPLE)]


def _add_replies(
    state: GroupsState, topic: SimTopic, count: int, seed: int, gaps_hours: list[float]
) -> None:
    for n in range(count):
        name, address = _people(seed + n + 1)
        previous = topic.messages[-1]
        gap = timedelta(hours=gaps_hours[(seed + n) % len(gaps_hours)])
        state.add_message(
            topic,
            author=name,
            address=address,
            body_html=reply_body(REPLY_TEXTS[(seed + n) % len(REPLY_TEXTS)], previous),
            posted_at=previous.posted_at + gap,
        )


def _release_body(version: str, seed: int) -> str:
    items = [RELEASE_ITEMS[(seed + k) % len(RELEASE_ITEMS)] for k in range(3 + seed % 3)]
    return body(
        "Hi all,",
        f"We are happy to announce Demo {version}. Highlights:",
        bullets(items),
        "Binaries and checksums: "
        + link(f"https://example.org/releases/{version}", f"example.org/releases/{version}"),
        "Thanks to all contributors!<br>The release team",
    )


def populate(state: GroupsState) -> Demo:
    """Adds the demo groups to ``state`` (see the module docstring) and returns handles."""
    with state.lock:
        return _populate(state)


def _populate(state: GroupsState) -> Demo:
    announce = state.add_group("demo-announce", None, "Demo announcements")
    dev = state.add_group("dev", "example.org", "Example developers")
    slot = iter([BASE + timedelta(days=6 * i, hours=(i * 7) % 10) for i in range(80)])
    gaps = [3, 26, 5.5, 49, 1.25, 8]

    # 1. Release 1.2, with an attachment.
    release12 = state.add_topic(
        announce,
        "Release 1.2",
        *ANN,
        body_html=body(
            "Hi everyone,",
            "Demo 1.2 is out. The full notes are attached; the short version:",
            bullets([("Fixed:", "exports of threads with attachments."),
                     ("Added:", "search by author with <code>from:</code>.")]),
            "Ann",
        ),
        posted_at=next(slot),
        attachments=[("notes.txt", "text/plain")],
    )
    _add_replies(state, release12, 2, 0, gaps)

    # 2. German subject and body.
    gunter = state.add_topic(
        announce,
        "Überprüfung der Sicherheitsrichtlinien",
        *GUNTER,
        body_html=body(
            "Hallo zusammen,",
            "wir überprüfen die Sicherheitsrichtlinien für das nächste Release. Bitte "
            "schaut euch den Entwurf an und gebt bis Freitag Rückmeldung:",
            bullets([("Schlüssel:", "Rotation alle 90 Tage."),
                     ("Abhängigkeiten:", "wöchentliche Prüfung auf CVEs.")], ordered=True),
            "Viele Grüße,<br>Günter",
        ),
        posted_at=next(slot),
    )
    _add_replies(state, gunter, 3, 1, gaps)

    # 3. Chinese subject.
    chen = state.add_topic(
        announce,
        "版本发布 v2.0",
        *CHEN,
        body_html=body(
            "大家好，",
            "Demo v2.0 已经发布。主要变化：",
            bullets([("新功能：", "全文搜索支持中文分词。"), ("修复：", "导出时的编码问题。")]),
            "下载地址：" + link("https://example.org/releases/v2.0"),
        ),
        posted_at=next(slot),
    )
    _add_replies(state, chen, 1, 2, gaps)

    # 4. Emoji subject.
    emoji = state.add_topic(
        announce,
        "🎉 Demo 2.0 is out",
        *ANN,
        body_html=body("Hi all,", "Demo 2.0 is out 🎉 — thank you all!", "Ann"),
        posted_at=next(slot),
    )
    _add_replies(state, emoji, 5, 3, gaps)

    # 5. The long thread: 120 messages, hours apart.
    long_start = next(slot)
    long_thread = state.add_topic(
        announce,
        LONG_THREAD_SUBJECT,
        *DANA,
        body_html=body(
            "Hi all,",
            "We would like to settle how long each minor release gets patches. Proposal:",
            bullets([("Patch support:", "the last three minor releases."),
                     ("Security fixes:", "the last four minor releases."),
                     ("LTS:", "one release a year, supported for 24 months.")], ordered=True),
            "Please discuss here before the steering meeting.",
            "Dana",
        ),
        posted_at=long_start,
    )
    for n in range(119):
        name, address = _people(n + 4)
        previous = long_thread.messages[-1]
        texts = [
            f"Point {n + 1}: {REPLY_TEXTS[n % len(REPLY_TEXTS)][0]}",
            "I would keep LTS to 18 months." if n % 4 == 0 else "Agreed with the above.",
        ]
        state.add_message(
            long_thread,
            author=name,
            address=address,
            body_html=reply_body(texts, previous if n % 3 == 0 else None),
            posted_at=previous.posted_at + timedelta(hours=5, minutes=n % 50),
        )

    # 6. Toolchain bump, identifiers in text.
    go = state.add_topic(
        announce,
        "Go toolchain bump to go1.22.1",
        *EMEKA,
        body_html=body(
            "Hi,",
            "Starting with v1.30.2 we build with go1.22.1. If you build from source, "
            "please update your toolchain. Context in kubernetes/kubernetes#12345.",
            "Emeka",
        ),
        posted_at=next(slot),
    )
    _add_replies(state, go, 2, 4, gaps)

    # 7. Attachments of several types.
    shots = state.add_topic(
        announce,
        "Release notes and screenshots for v1.29.0",
        *BRUNO,
        body_html=body(
            "Hola a todos,",
            "Attached are the release notes as a PDF and a screenshot of the new dashboard.",
            "Bruno",
        ),
        posted_at=next(slot),
        attachments=[("release-notes.pdf", "application/pdf"), ("dashboard.png", "image/png")],
    )

    # 8. Call for reviewers.
    state.add_topic(
        announce,
        "Call for reviewers: kubernetes/kubernetes#12345",
        *FATIMA,
        body_html=body(
            "Hi,",
            "The fix for the sync race needs two more reviewers: "
            + link("https://github.com/kubernetes/kubernetes/pull/12345",
                   "kubernetes/kubernetes#12345"),
            "Thanks,<br>Fatima",
        ),
        posted_at=next(slot),
    )

    # 9. A topic with many replies.
    deprecation = state.add_topic(
        announce,
        "Deprecation of the v1beta1 API",
        *BRUNO,
        body_html=body(
            "Hi all,",
            "The v1beta1 API will be removed in v1.32. Timeline:",
            bullets([("v1.30:", "warnings on every v1beta1 call."),
                     ("v1.31:", "v1beta1 off by default."),
                     ("v1.32:", "removed.")], ordered=True),
            "Bruno",
        ),
        posted_at=next(slot),
    )
    _add_replies(state, deprecation, 6, 5, gaps)

    # 10. A message from a sender without a visible address.
    state.add_topic(
        announce,
        "Mirror in Tokyo is back online",
        *HIRO,
        body_html=body("The Tokyo mirror is back after maintenance.", "Hiro"),
        posted_at=next(slot),
    )

    # 11-12. The cross-posted announcements.
    cross_posts = []
    for (subject, html, delay), author in zip(
        [
            (CROSS_POST_SUBJECTS[0], _release_body("v1.30.2", 1), timedelta(minutes=2)),
            (
                CROSS_POST_SUBJECTS[1],
                body(
                    "Hi all,",
                    "A vulnerability, CVE-2024-3177, affects Demo v1.28.0 to v1.30.1 when "
                    "the admission plugin is enabled. It is fixed in v1.30.2.",
                    bullets([("Severity:", "medium (CVSS 6.5)."),
                             ("Action:", "upgrade to v1.30.2, or disable the plugin."),
                             ("Credit:", "reported by Fatima Zahra.")]),
                    "Advisory: " + link("https://example.org/security/CVE-2024-3177"),
                ),
                timedelta(minutes=4),
            ),
        ],
        [BOT, ANN],
        strict=True,
    ):
        original = state.add_topic(announce, subject, *author, body_html=html,
                                   posted_at=next(slot))
        copy = state.cross_post(original, dev, delay=delay)
        assert isinstance(copy, SimTopic)
        cross_posts.append((original, copy))
    _add_replies(state, cross_posts[1][0], 2, 6, gaps)

    # 13. The weekly reminder, posted twice with the same text.
    reminder_html = body(
        "Hi all,",
        "Reminder: the community meeting is on Thursday at 16:00 UTC.",
        "Agenda and notes: " + link("https://example.org/community/meeting-notes"),
        "Everyone is welcome.",
    )
    first_reminder_at = next(slot)
    weekly = tuple(
        state.add_topic(announce, WEEKLY_SUBJECT, *BOT, body_html=reminder_html,
                        posted_at=first_reminder_at + timedelta(days=7 * week))
        for week in range(2)
    )

    # Fill up to 75 topics with releases, meeting notes and questions.
    count = len([t for t in announce.topics if t.messages])
    n = 0
    while count < 75:
        when = next(slot)
        kind = n % 4
        if kind in (0, 1):
            version = f"v1.{20 + n // 3}.{n % 3}"
            topic = state.add_topic(announce, f"Demo {version} released", *BOT,
                                    body_html=_release_body(version, n), posted_at=when)
            replies = (0, 1, 2, 0)[n % 4]
        elif kind == 2:
            day = when.date().isoformat()
            name, address = _people(n)
            topic = state.add_topic(
                announce,
                f"Community meeting notes {day}",
                name,
                address,
                body_html=body(
                    f"Notes from the community meeting on {day}:",
                    bullets([("Releases:", "next patch release planned for next week."),
                              ("CI:", "arm64 runners are now required."),
                              ("Docs:", "volunteers wanted for the upgrade guide.")],
                             ordered=True),
                    "Recording: " + link(f"https://example.org/community/{day}"),
                ),
                posted_at=when,
            )
            replies = 1 if n % 3 == 0 else 0
        else:
            name, address = _people(n + 2)
            topic = state.add_topic(
                announce,
                f"Question: upgrading from v1.{18 + n // 4} with custom plugins",
                name,
                address,
                body_html=body(
                    "Hello,",
                    "We run a few custom plugins. Is there anything to watch out for when "
                    "upgrading? The upgrade guide does not mention plugins.",
                    "Thanks!",
                ),
                posted_at=when,
            )
            replies = 2 + n % 4
        _add_replies(state, topic, replies, n, gaps)
        count += 1
        n += 1

    _populate_dev(state, dev, gaps)
    demo = Demo(
        announce=announce,
        dev=dev,
        long_thread=long_thread,
        cross_posts=cross_posts,
        weekly=weekly,
        with_attachments=[release12, shots],
        unicode_subjects=[gunter, chen, emoji],
    )
    state.demo = demo
    return demo


def _populate_dev(state: GroupsState, dev: SimGroup, gaps: list[float]) -> None:
    start = BASE + timedelta(days=30, hours=2)
    topics = [
        ("Build broken on main after dependency bump", EMEKA, 3,
         body("The build on main fails since the grpc bump:",
              "<pre>undefined: grpc.WithBlock</pre>", "Anyone looking at it?")),
        ("RFC: new plugin API", DANA, 5,
         body("Draft RFC for the new plugin API: " + link("https://example.org/rfc/0042"),
              bullets([("Goal:", "plugins run out of process."),
                       ("Non-goal:", "binary compatibility with v1 plugins.")]),
              "Comments welcome until the end of the month.")),
        ("Office hours moved to Wednesdays", FATIMA, 0,
         body("From next week office hours are on Wednesdays, 15:00 UTC.")),
        ("Flaky test TestSyncLoop", CHEN, 2,
         body("TestSyncLoop fails about 1 in 50 runs on arm64 since go1.22.1.",
              "Tracking in kubernetes/kubernetes#12345.")),
        ("Welcome new maintainers", ANN, 1,
         body("Please welcome Bruno and Fatima as maintainers of the storage package!")),
        ("Code freeze for v1.31", BOT, 0,
         body("Code freeze for v1.31 starts on Thursday at 17:00 UTC.",
              bullets([("Cherry-picks:", "need approval from a release lead."),
                       ("Docs:", "may still be merged.")]))),
        ("Question about the go1.22.1 toolchain", BRUNO, 2,
         body("Do we need go1.22.1 for building the docs site too, or only the binaries?")),
        ("Proposal: switch CI to arm64 runners", GUNTER, 4,
         body("Proposal: run all CI jobs on arm64 runners. They are cheaper and faster.",
              "Günter")),
    ]
    for i, (subject, (name, address), replies, html) in enumerate(topics):
        topic = state.add_topic(dev, subject, name, address, body_html=html,
                                posted_at=start + timedelta(days=17 * i, hours=i))
        _add_replies(state, topic, replies, i + 10, gaps)
