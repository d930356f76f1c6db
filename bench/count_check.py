"""Search counts against an independent count of the corpus text, one query class each.

    python bench/count_check.py                        # ../shared/corpora/linux-i2c.mbox.xz
    python bench/count_check.py --corpus list.mbox     # any mbox (.xz/.gz/.bz2 too)
    python bench/count_check.py --db archive.db        # an archive already imported from it

The corpus is read here with Python's own ``mailbox`` and ``email`` packages, not with
listarchive's mail parser, and each query of the mail race (bench/mail_race.py) is
decided by a rule written from SQLite's documentation of FTS5's unicode61 tokenizer:
a token is a run of letters and digits (``_``, ``-``, ``.``, ``@`` and every other
character separate), folded to lower case without diacritics; a word matches a message
when one of its indexed fields has that token; a phrase when one field has the tokens
one after the other. The fields are those listarchive indexes: the subject, the From
header (name and address), and the body's text, which is the first text/plain part
that is not an attachment, else the first such text/html part with its tags dropped.
``from:`` is decided by the From address, the date range by the Date header in UTC.
A Message-ID seen twice is one message (the first one read).

Then ``listarchive search QUERY --limit 0 --nl`` runs on an archive imported from the
same corpus (into a temporary file unless ``--db`` is given) and a table compares the
two counts, with example Message-IDs for every difference. Two more columns count the
same words as Xapian (notmuch, mu) splits text, where ``_`` joins a word instead of
ending it, without and with the English plural notmuch's stemmer folds into the word:
the cheap explanation of why their single-word counts differ from ours.
Nothing here asserts anything: this is not a test (tests/test_bench_smoke.py runs it on
a tiny mbox).
"""

from __future__ import annotations

import argparse
import bz2
import email
import email.header
import email.message
import email.utils
import gzip
import html
import json
import lzma
import mailbox
import re
import shutil
import subprocess
import sys
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import REPO, listarchive_command, python_env  # noqa: E402

DEFAULT_CORPUS = REPO.parent / "shared" / "corpora" / "linux-i2c.mbox.xz"
YEAR_START = datetime(2023, 1, 1, tzinfo=UTC)
YEAR_END = datetime(2024, 1, 1, tzinfo=UTC)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ the message text


@dataclass
class Mail:
    message_id: str
    subject: str
    sender: str  # the whole From header, decoded: display name and address
    address: str  # the From address, lower case
    body: str
    date: datetime | None
    body_from: str  # "plain", "html" or "none": where the body's text came from
    recipients: str = ""  # To and Cc, decoded: notmuch indexes them too
    text_parts: list[str] = field(default_factory=list)  # every text/* part, for Xapian


def header_text(value: object) -> str:
    if value is None:
        return ""
    try:
        return str(email.header.make_header(email.header.decode_header(str(value))))
    except Exception:
        return str(value)


def payload_text(part: email.message.Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "us-ascii"
    try:
        return payload.decode(charset)
    except (LookupError, UnicodeDecodeError):
        return payload.decode("utf-8", "replace")


_DROPPED = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def html_words(markup: str) -> str:
    return html.unescape(_TAG.sub(" ", _DROPPED.sub(" ", markup)))


def body_of(message: email.message.Message) -> tuple[str, str, list[str]]:
    """(text, where it came from, every text part): the body text as listarchive
    chooses it, and what an indexer that reads every text part sees."""
    plain = markup = None
    every: list[str] = []
    if not message.is_multipart():
        ctype = message.get_content_type()
        text = payload_text(message) if ctype.startswith("text/") else ""
        every.append(text)
        if ctype == "text/html":
            return html_words(text), "html", every
        return (text, "plain", every) if ctype.startswith("text/") else ("", "none", every)
    for part in message.walk():
        if part.is_multipart() or not part.get_content_type().startswith("text/"):
            continue
        text = payload_text(part)
        every.append(text)
        if part.get_content_disposition() == "attachment":
            continue
        if part.get_content_type() == "text/plain" and plain is None:
            plain = text
        elif part.get_content_type() == "text/html" and markup is None:
            markup = text
    if plain:
        return plain, "plain", every
    if markup:
        return html_words(markup), "html", every
    return "", "none", every


def read_corpus(path: Path) -> Iterator[bytes]:
    """Each message's bytes, by ``mailbox.mbox`` (which wants a plain file)."""
    openers: dict[str, Callable[..., object]] = {".xz": lzma.open, ".gz": gzip.open,
                                                 ".bz2": bz2.open}  # fmt: skip
    opener = openers.get(path.suffix)
    with tempfile.TemporaryDirectory() as scratch:
        plain = path
        if opener is not None:
            plain = Path(scratch) / "corpus.mbox"
            with opener(path, "rb") as source, open(plain, "wb") as out:  # type: ignore[attr-defined]
                shutil.copyfileobj(source, out, 1 << 20)
        box = mailbox.mbox(plain, create=False)
        try:
            for key in box.iterkeys():
                yield box.get_bytes(key)
        finally:
            box.close()


def parse(raw: bytes) -> Mail:
    message = email.message_from_bytes(raw)
    name, address = email.utils.parseaddr(header_text(message.get("From")))
    try:
        date = email.utils.parsedate_to_datetime(header_text(message.get("Date")).strip())
        if date.tzinfo is None:
            date = date.replace(tzinfo=UTC)
        date = date.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        date = None
    ids = re.findall(r"<([^<>]+)>", header_text(message.get("Message-ID")))
    body, body_from, every = body_of(message)
    return Mail(
        message_id=ids[0] if ids else "",
        subject=header_text(message.get("Subject")),
        sender=header_text(message.get("From")),
        address=address.strip().lower(),
        body=body,
        date=date,
        body_from=body_from,
        recipients=" ".join(
            header_text(v) for k in ("To", "Cc") for v in message.get_all(k) or ()
        ),  # fmt: skip
        text_parts=every,
    )


# ------------------------------------------------------------------ the matching rules


def fold(text: str) -> str:
    text = text.lower()
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


def token_phrase(words: list[str]) -> re.Pattern[str]:
    """FTS5 unicode61: the words as whole tokens, with only separators between them
    (``[^\\W_]`` is a letter or digit: ``_`` separates)."""
    inner = r"[\W_]+".join(re.escape(w) for w in words)
    return re.compile(rf"(?<![^\W_]){inner}(?![^\W_])")


def xapian_word(words: list[str]) -> re.Pattern[str]:
    """A word as Xapian's term generator splits text: ``_`` is part of a word."""
    return re.compile(rf"(?<!\w)(?:{'|'.join(re.escape(w) for w in words)})(?!\w)")


@dataclass
class Check:
    name: str
    query: str  # as listarchive reads it
    matches: Callable[[Mail], bool]
    why: Callable[[Mail], str] = lambda mail: ""  # a hint for a message only we count


def fields(mail: Mail) -> tuple[str, ...]:
    return tuple(fold(f) for f in (mail.subject, mail.sender, mail.body))


def text_check(name: str, query: str, words: list[str]) -> Check:
    pattern = token_phrase(words)
    return Check(name, query, lambda mail: any(pattern.search(f) for f in fields(mail)))


CHECKS = (
    text_check("rare word", "regmap", ["regmap"]),
    text_check("common word", "driver", ["driver"]),
    text_check("phrase", '"clock stretching"', ["clock", "stretching"]),
    Check("from:", "from:wsa@kernel.org", lambda mail: mail.address == "wsa@kernel.org"),
    Check("date range", "after:2023-01-01 before:2024-01-01",
          lambda mail: mail.date is not None and YEAR_START <= mail.date < YEAR_END),
)  # fmt: skip

# Xapian's view of the two single words: (name, word forms without, with stemming).
XAPIAN = {
    "rare word": (["regmap"], ["regmap", "regmaps", "regmap's"]),
    "common word": (["driver"], ["driver", "drivers", "driver's"]),
}


# ------------------------------------------------------------------ the run


@dataclass
class Tally:
    ids: set[str] = field(default_factory=set)
    xapian: int = 0
    xapian_stemmed: int = 0
    xapian_every_part: int = 0
    xapian_stemmed_every_part: int = 0
    only_in_identifiers: int = 0  # FTS5 token present, but only inside a_b identifiers


def count(corpus: Path) -> tuple[dict[str, Tally], dict[str, Mail], dict[str, int]]:
    tallies = {c.name: Tally() for c in CHECKS}
    seen: dict[str, Mail] = {}
    stats = {"read": 0, "duplicates": 0, "no message-id": 0, "no date": 0, "html body": 0}
    xapian = {name: (xapian_word(plain), xapian_word(stemmed))
              for name, (plain, stemmed) in XAPIAN.items()}  # fmt: skip
    for raw in read_corpus(corpus):
        stats["read"] += 1
        if stats["read"] % 5000 == 0:
            say(f"  read {stats['read']:,} messages")
        mail = parse(raw)
        if not mail.message_id:
            stats["no message-id"] += 1
            mail.message_id = f"(no id {stats['read']})"
        if mail.message_id in seen:
            stats["duplicates"] += 1
            continue
        seen[mail.message_id] = mail
        stats["no date"] += mail.date is None
        stats["html body"] += mail.body_from == "html"
        folded = fields(mail)
        for check in CHECKS:
            tally = tallies[check.name]
            hit = check.matches(mail)
            if hit:
                tally.ids.add(mail.message_id)
            if check.name in xapian:
                plain, stemmed = xapian[check.name]
                by_xapian = any(plain.search(f) for f in folded)
                tally.xapian += by_xapian
                tally.xapian_stemmed += any(stemmed.search(f) for f in folded)
                everything = (*folded[:2], fold(mail.recipients),
                              *(fold(t) for t in mail.text_parts))  # fmt: skip
                tally.xapian_every_part += any(plain.search(f) for f in everything)
                tally.xapian_stemmed_every_part += any(stemmed.search(f) for f in everything)
                tally.only_in_identifiers += hit and not by_xapian
        mail.text_parts, mail.recipients = [], ""  # not needed for the examples: free them
    return tallies, seen, stats


def listarchive_ids(db: Path, query: str) -> set[str]:
    out = subprocess.run(
        [*listarchive_command(), "search", query, "--db", str(db), "--limit", "0", "--nl"],
        env=python_env(), capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    ids = set()
    for line in out.splitlines():
        url = json.loads(line)["url"]
        ids.add(unquote(url.removeprefix("mid:")))
    return ids


def explain(mail: Mail | None, check: Check) -> str:
    if mail is None:
        return "not in the corpus as read here"
    hints = []
    if mail.body_from != "plain":
        hints.append(f"body from {mail.body_from}")
    if check.name == "date range":
        hints.append(f"Date {mail.date.isoformat() if mail.date else 'unreadable'}")
    if check.name == "from:":
        hints.append(f"From {mail.sender!r}")
    return "; ".join(hints)


def run(corpus: Path, db: Path | None, examples: int = 3) -> list[dict[str, object]]:
    say(f"counting {corpus.name} with the standard library ...")
    tallies, seen, stats = count(corpus)
    say("  " + ", ".join(f"{k} {v:,}" for k, v in stats.items()))
    with tempfile.TemporaryDirectory() as scratch:
        if db is None:
            db = Path(scratch) / "archive.db"
            say(f"importing {corpus.name} into a scratch archive ...")
            subprocess.run([*listarchive_command(), "import", str(corpus), "--db", str(db)],
                           env=python_env(), check=True, stdout=sys.stderr)  # fmt: skip
        rows = []
        for check in CHECKS:
            ours = listarchive_ids(db, check.query)
            tally = tallies[check.name]
            only_here = sorted(tally.ids - ours)
            only_there = sorted(ours - tally.ids)
            row: dict[str, object] = {
                "query": check.query,
                "independent": len(tally.ids),
                "listarchive": len(ours),
                "only_independent": [
                    (i, explain(seen.get(i), check)) for i in only_here[:examples]
                ],  # fmt: skip
                "only_listarchive": [
                    (i, explain(seen.get(i), check)) for i in only_there[:examples]
                ],  # fmt: skip
                "only_independent_count": len(only_here),
                "only_listarchive_count": len(only_there),
            }
            if check.name in XAPIAN:
                row["xapian"] = tally.xapian
                row["xapian_stemmed"] = tally.xapian_stemmed
                row["xapian_every_part"] = tally.xapian_every_part
                row["xapian_stemmed_every_part"] = tally.xapian_stemmed_every_part
                row["only_in_identifiers"] = tally.only_in_identifiers
            rows.append(row)
    return rows


def table(rows: list[dict[str, object]]) -> str:
    lines = [
        "| query | independent count | listarchive | Xapian words (with To, Cc and every"
        " text part) | the same, stemmed | FTS5 hits only inside `a_b` identifiers |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        xapian = (f"{row['xapian']:,} ({row['xapian_every_part']:,})"
                  if "xapian" in row else "")  # fmt: skip
        stemmed = (f"{row['xapian_stemmed']:,} ({row['xapian_stemmed_every_part']:,})"
                   if "xapian" in row else "")  # fmt: skip
        inside = f"{row['only_in_identifiers']:,}" if "xapian" in row else ""
        lines.append(f"| `{row['query']}` | {row['independent']:,} | {row['listarchive']:,}"
                     f" | {xapian} | {stemmed} | {inside} |")  # fmt: skip
    for row in rows:
        for side, label in (("only_independent", "counted here only"),
                            ("only_listarchive", "found by listarchive only")):  # fmt: skip
            total = row[f"{side}_count"]
            if total:
                lines.append(f"\n`{row['query']}`: {total} {label}, e.g.")
                for message_id, why in row[side]:  # type: ignore[attr-defined]
                    lines.append(f"  <{message_id}> {why}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--db", type=Path, help="an archive already imported from the corpus")
    parser.add_argument("--json", action="store_true", help="the rows as JSON")
    args = parser.parse_args(argv)
    if not args.corpus.exists():
        say(f"skipped: no corpus at {args.corpus} (give one with --corpus)")
        return 0
    rows = run(args.corpus, args.db)
    print(json.dumps(rows, indent=1) if args.json else table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
