"""Generated archives for the search and size benchmarks, built through ``save_thread``.

The simulator's generated groups repeat twenty sentences, so every word in them is
common: fine for sync and parsing, useless for search. This corpus draws its words
from a Zipf-Mandelbrot distribution over a 60,000-word vocabulary (real list-mail
words first, then made-up ones), so document frequencies range from most messages
down to a handful, as in a real list. It also plants identifiers (``CVE-2024-3177``
and near misses such as ``CVE-2024-31770``), stock phrases at known rates, a few
thousand authors of very unequal activity, and ten years of dates.

Archives are cached in ``bench/out/archives`` under a key made of the generator
version, the archive schema and the source of the save path (``archive/db.py``,
``archive/text.py``), so a change to the save path rebuilds them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import OUT, REPO, remove_archive

GENERATOR_VERSION = 4
VOCABULARY_SIZE = 60_000
GROUPS = ("dev", "announce", "users", "security")
DOMAIN = "bench.example.org"
NEWEST = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SPAN = timedelta(days=3650)

COMMON = (
    "the to and of a in is for that it this on be with we have not are as i if you can "
    "will but at or from an by so was release please would should there all new one "
    "more thanks just about also some any like use what when which do has they our "
    "need think been their other only test change version support issue time could "
    "then work fix make see build update into now out because does than these may "
    "add still get code problem question using first well same way running default "
    "patch review team next user before after way might two release project api "
    "configuration cluster node server client error failure upgrade docs example"
).split()
PHRASES = {  # phrase -> share of messages written with it (replies may quote it again)
    "release candidate": 0.02,
    "code freeze": 0.01,
    "pull request": 0.005,
    "breaking change": 0.002,
    "garbage collector pause": 0.001,
}
IDENTIFIER = "CVE-2024-3177"
NEAR_MISSES = ("CVE-2024-31770", "CVE-2023-3177", "CVE-2024-3178")
FIRST = (
    "Ada Bruno Chen Dana Emeka Fatima Gunter Hana Ivan Jia Kofi Lena Mateo Nadia Oskar "
    "Priya Quinn Rosa Sven Tomas Uma Viktor Wen Yara Aiko Bilal Carmen Dmitri Elif Farid "
    "Grace Hugo Ines Jonas Kira Luis Mira Nils Olga Pavel Rania Sami Tara Ugo Vera Wade"
).split()
LAST = (
    "Abara Berg Costa Dubois Eriksen Fischer Garcia Hoang Ito Jensen Kowalski Lindqvist "
    "Moreau Novak Okafor Petrov Quist Rossi Sato Tanaka Ueda Varga Weber Xu Yilmaz Zhou "
    "Almeida Brandt Cohen Dahl Ekberg Ferreira Gallo Haas Iqbal Janssen Keller Lund Meyer "
    "Nagy Olsen Park Reyes Schmidt Torres Vogel Wang Young Ziegler Kim Lopez Murphy Singh"
).split()
SYLLABLES = (
    "ka lo mi ne ru sa te vo zi ba de fu go hi ja ku la mo nu pa qui re si to un "
    "vel wex yo zan tor gri bel cas dor fen"
).split()


def _made_up_word(i: int) -> str:
    syllables = []
    n = i
    for _ in range(2 + i % 3):
        syllables.append(SYLLABLES[n % len(SYLLABLES)])
        n //= len(SYLLABLES)
    return "".join(syllables) + ("" if n == 0 else str(n))


def vocabulary() -> list[str]:
    words = list(dict.fromkeys(COMMON))
    seen = set(words)
    i = 0
    while len(words) < VOCABULARY_SIZE:
        word = _made_up_word(i)
        i += 1
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def _cumulative_zipf(n: int, s: float = 1.07, q: float = 2.7) -> list[float]:
    total, out = 0.0, []
    for rank in range(n):
        total += 1.0 / (rank + 1 + q) ** s
        out.append(total)
    return out


@dataclass(frozen=True)
class Author:
    name: str
    address: str

    @property
    def masked(self) -> str:
        local, _, domain = self.address.partition("@")
        keep = min(8, max(1, (len(local) + 1) // 2))
        return f"{local[:keep]}...@{domain}"


def authors(count: int = 3000) -> list[Author]:
    out = []
    for i in range(count):
        first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST) + i) % len(LAST)]
        suffix = "" if i < len(FIRST) * len(LAST) else str(i)
        address = f"{first.lower()}.{last.lower()}{suffix}@example.{('com', 'org')[i % 2]}"
        out.append(Author(f"{first} {last}{suffix}", address))
    return out


def _id(*parts: object, size: int = 9) -> str:
    raw = hashlib.blake2b(repr(parts).encode(), digest_size=size).digest()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class Corpus:
    """Deterministic threads (as scraper models) adding up to ``messages`` messages."""

    def __init__(self, messages: int, seed: int = 0) -> None:
        self.total = messages
        self.seed = seed
        self.words = vocabulary()
        self.cumulative = _cumulative_zipf(len(self.words))
        self.authors = authors()
        self.author_cumulative = _cumulative_zipf(len(self.authors), s=1.0, q=5)
        # One planted identifier per ~20,000 messages (at least 3), and its near misses.
        self.identifier_every = max(1, min(messages // 3, 20_000))

    def _words(self, rng: random.Random, k: int) -> list[str]:
        return rng.choices(self.words, cum_weights=self.cumulative, k=k)

    def _paragraph(self, rng: random.Random, words: int, phrases: bool = False) -> str:
        tokens = self._words(rng, words)
        if phrases:
            for phrase, share in PHRASES.items():
                if rng.random() < share:
                    tokens.insert(rng.randrange(len(tokens) + 1), phrase)
        tokens[0] = tokens[0].capitalize()
        return " ".join(tokens) + "."

    def _body(self, rng: random.Random, index: int, author: Author, group: str,
              quoted: str | None) -> tuple[str, str]:
        paragraphs = [self._paragraph(rng, rng.randint(12, 45), phrases=i == 0)
                      for i in range(rng.randint(1, 5))]
        if index % self.identifier_every == self.identifier_every // 2:
            paragraphs.insert(1, f"This fixes {IDENTIFIER}; please upgrade.")
        elif index % self.identifier_every == self.identifier_every // 3:
            near = NEAR_MISSES[(index // self.identifier_every) % len(NEAR_MISSES)]
            paragraphs.insert(1, f"This is about {near}, not the other one.")
        elif rng.random() < 0.02:
            # Numbers from 4000 up never collide with the planted identifier.
            cve = f"CVE-20{rng.randint(15, 25)}-{rng.randint(4000, 49999)}"
            version = f"v1.{rng.randint(0, 40)}.{rng.randint(0, 12)}"
            paragraphs.insert(1, f"Tracked as {cve} and fixed in {version}.")
        html = ['<div dir="ltr">']
        html += [f"<div>{p}</div><div><br></div>" for p in paragraphs]
        if rng.random() < 0.2:
            items = "".join(f"<li>{self._paragraph(rng, rng.randint(4, 12))}</li>"
                            for _ in range(rng.randint(2, 5)))
            html.append(f"<ul>{items}</ul>")
        if rng.random() < 0.3:
            url = f"https://example.org/{self.words[rng.randrange(2000)]}/{rng.randint(1, 99999)}"
            html.append(f'<div>See <a href="{url}" target="_blank" rel="nofollow">{url}</a></div>')
        html.append(f"<div>{author.name.split()[0]}</div>")
        if quoted:
            html.append(
                '<br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">On a day, '
                'someone wrote:<br></div><blockquote class="gmail_quote" style="margin:0px '
                f'0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">'
                f"<div>{quoted}</div></blockquote></div>"
            )
        html.append("</div>")
        html.append(
            "<p></p>-- <br />You received this message because you are subscribed to the "
            f"Google Groups &quot;{group}&quot; group.<br />To unsubscribe from this group and "
            f"stop receiving emails from it, send an email to <a href data-email-masked "
            f'rel="nofollow">{group}+u...@{DOMAIN}</a>.<br />'
        )
        return "".join(html), paragraphs[0]

    def threads(self) -> Iterator[tuple[Any, Any]]:
        """``(Thread, Topic)`` pairs, oldest thread first, until ``messages`` are made."""
        from scraper.models import Group, GroupRef, Message, Thread, Topic

        rng = random.Random(self.seed)
        groups = [Group(GroupRef(name, DOMAIN), id=None, email=f"{name}@{DOMAIN}",
                        title=f"Bench {name}") for name in GROUPS]
        sizes: list[int] = []
        planned = 0
        while planned < self.total:
            sizes.append(min(self.total - planned, 40, max(1, int(rng.paretovariate(1.3)))))
            planned += sizes[-1]
        # Threads are spread evenly over the span, oldest first.
        step = SPAN / len(sizes)
        made = 0
        for t, size in enumerate(sizes):
            group = groups[t % 7 % len(groups)]
            topic_id = _id("topic", self.seed, t, size=8)[:11]
            subject = self._paragraph(rng, rng.randint(3, 8)).rstrip(".")
            start = NEWEST - SPAN + step * t
            posted = start
            messages = []
            quoted = None
            for j in range(size):
                author = rng.choices(self.authors, cum_weights=self.author_cumulative)[0]
                body, first_paragraph = self._body(rng, made + j, author, group.ref.name, quoted)
                quoted = first_paragraph
                messages.append(Message(
                    id=_id("message", self.seed, t, j)[:12],
                    topic_id=topic_id,
                    author=author.name,
                    posted_at=posted,
                    subject=subject if j == 0 else f"Re: {subject}",
                    body_html=body,
                    masked_address=author.masked,
                ))
                posted += timedelta(minutes=rng.randint(5, 2000))
            topic = Topic(id=topic_id, subject=subject, created_at=messages[0].posted_at,
                          last_activity_at=messages[-1].posted_at, message_count=size)
            yield Thread(group, topic_id, subject, tuple(messages), size), topic
            made += size


# --- building and caching -------------------------------------------------------------------


def cache_key() -> str:
    from archive.db import SCHEMA_VERSION

    digest = hashlib.sha256(f"{GENERATOR_VERSION}:{SCHEMA_VERSION}".encode())
    for source in ("archive/db.py", "archive/text.py"):
        digest.update((REPO / source).read_bytes())
    return digest.hexdigest()[:12]


def build(path: Path, messages: int, *, seed: int = 0, progress=None) -> dict[str, Any]:
    """Save a generated corpus into a new archive at ``path``, one ``save_thread`` per thread."""
    from archive.db import Archive

    remove_archive(path)
    corpus = Corpus(messages, seed)
    seen_at = NEWEST + timedelta(days=1)
    saved = html_bytes = 0
    started = time.perf_counter()
    with Archive(path) as archive:
        for thread, topic in corpus.threads():
            archive.save_thread(thread, topic, seen_at=seen_at)
            saved += len(thread.messages)
            html_bytes += sum(len(m.body_html.encode()) for m in thread.messages)
            if progress and saved % 50_000 < len(thread.messages):
                progress(f"  built {saved:,} of {messages:,} messages")
        # What a sync does once it has stored messages (archive.sync.sync_groups).
        archive.merge_search_index()
    seconds = time.perf_counter() - started
    return {"messages": saved, "seconds": seconds, "messages_per_s": saved / seconds,
            "body_html_bytes": html_bytes}


def cached_archive(
    messages: int, *, folder: Path = OUT / "archives", seed: int = 0, progress=None
) -> tuple[Path, dict[str, Any]]:
    """The archive of ``messages`` generated messages, built now or taken from the cache.

    The returned facts include the build's own rate when it was built in this run
    (``built_now``), and the queries the search benchmark uses, chosen from the
    archive's real document frequencies.
    """
    folder.mkdir(parents=True, exist_ok=True)
    key = cache_key()
    path = folder / f"corpus-{messages}-s{seed}-{key}.db"
    facts_path = path.with_suffix(".json")
    if path.exists() and facts_path.exists():
        facts = json.loads(facts_path.read_text())
        facts["built_now"] = False
        return path, facts
    for stale in folder.glob(f"corpus-{messages}-s{seed}-*"):
        stale.unlink()
    partial = path.with_suffix(".partial")
    facts = build(partial, messages, seed=seed, progress=progress)
    # Fold the WAL in, as a finished sync leaves it, before the file is measured and moved.
    conn = sqlite3.connect(partial)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    Path(f"{partial}-wal").unlink(missing_ok=True)
    Path(f"{partial}-shm").unlink(missing_ok=True)
    partial.rename(path)
    facts["queries"] = choose_queries(path)
    facts_path.write_text(json.dumps(facts, indent=2))
    facts["built_now"] = True
    return path, facts


def _document_frequencies(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    conn.execute("CREATE VIRTUAL TABLE temp.bench_vocab USING fts5vocab(main, messages_fts, row)")
    try:
        return conn.execute("SELECT term, doc FROM temp.bench_vocab").fetchall()
    finally:
        conn.execute("DROP TABLE temp.bench_vocab")


def choose_queries(path: Path, per_class: int = 8) -> dict[str, list[str]]:
    """Queries of each class, picked from what the archive really holds.

    rare: words in 1 to max(3, 0.02%) of messages; common: words in 10-50%;
    from: authors of high, middle and low activity; dates: one-month windows.
    """
    conn = sqlite3.connect(path)
    try:
        total = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
        frequencies = _document_frequencies(conn)
        letters = [(t, d) for t, d in frequencies if t.isalpha() and len(t) > 3]
        rare_limit = max(3, total * 0.0002)
        rare = sorted((t for t, d in letters if 1 <= d <= rare_limit),
                      key=lambda t: hashlib.md5(t.encode()).hexdigest())[:per_class]
        common = sorted((t for t, d in letters if 0.10 * total < d <= 0.5 * total),
                        key=lambda t: hashlib.md5(t.encode()).hexdigest())[:per_class]
        middling = sorted((t for t, d in letters if 0.01 * total < d <= 0.05 * total),
                          key=lambda t: hashlib.md5(t.encode()).hexdigest())[:per_class]
        by_author = conn.execute(
            "SELECT author, count(*) AS n FROM messages GROUP BY author ORDER BY n DESC"
        ).fetchall()
        picks = [by_author[0], by_author[len(by_author) // 10], by_author[len(by_author) // 2],
                 by_author[-1]]
        authors_ = [name.split()[-1] if i % 2 else name for i, (name, _) in enumerate(picks)]
        first, last = conn.execute("SELECT min(posted_at), max(posted_at) FROM messages").fetchone()
    finally:
        conn.close()
    start = datetime.fromisoformat(first)
    end = datetime.fromisoformat(last)
    months = []
    for i in range(per_class):
        day = start + (end - start) * (i + 0.5) / per_class
        months.append((day.date().replace(day=1), (day + timedelta(days=31)).date().replace(day=1)))
    phrases = [f'"{p}"' for p in PHRASES]
    return {
        "rare word": rare,
        "phrase": phrases,
        "from:": [f'from:"{a}"' if " " in a else f"from:{a}" for a in authors_],
        "date range": [f"after:{a} before:{b}" for a, b in months],
        "word + date range": [f"{w} after:{a.year}-01-01 before:{a.year + 1}-01-01"
                              for w, (a, _) in zip(middling, months, strict=False)],
        "identifier": [IDENTIFIER, *NEAR_MISSES[:1]],
        "common word": common,
    }
