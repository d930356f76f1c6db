"""Snippets: a short excerpt of a message around what matched, matches marked.

They are computed from the message text with one regular expression, never with
FTS5's ``snippet()``: that function re-tokenizes the whole document and slows down with
the square of the hits inside it (a pasted 680 KB log took 5 s, a 20 MB one minutes),
and it depends on how the index stores its content. Here the cost is one linear scan
to the first match, then work on a window of a few hundred characters, whatever the
message holds.

The expression follows the index's ``unicode61 remove_diacritics 2`` tokenizer: words
are runs of letters and digits, case and Latin diacritics do not count, a phrase's
words may be separated by any punctuation.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence

from archive.render import inert

__all__ = ["SNIPPET_TOKENS", "excerpt", "index_words", "scan_pattern", "word_pattern"]

SNIPPET_TOKENS = 24
# Words shown before the first match, and how far to look for them and the words after:
# a window in characters, so a line of punctuation in a log costs no more than words.
WORDS_BEFORE = 4
CHARS_BEFORE = 240
CHARS_AFTER = 720
# How far into a body to look for the first match: a longer message whose first match
# lies beyond shows its opening words instead. An ASCII body is scanned for each word
# as a string (about 1-3 ms a megabyte and word), any other with the full expression
# (which tries every position: about 30 ms a megabyte), so less far.
SCAN_CHARS = 1_000_000
SLOW_SCAN_CHARS = 200_000
# Text read for a snippet of opening words, when nothing in the body matched.
OPENING_CHARS = 2000
ELLIPSIS = "\u2026"

_WORD = re.compile(r"[^\W_]+")
_COMBINING = "[\u0300-\u036f]*"


@functools.cache
def _latin_folds() -> dict[str, str]:
    """Each accented Latin letter and the plain letter the index folds it into."""
    folds: dict[str, str] = {}
    for start, end in ((0x00C0, 0x0250), (0x1E00, 0x1F00)):
        for code in range(start, end):
            char = chr(code)
            decomposed = unicodedata.normalize("NFKD", char.lower())
            base = "".join(c for c in decomposed if not unicodedata.combining(c))
            if len(base) == 1 and base != char.lower() and base.isascii():
                folds[char] = base
    return folds


@functools.cache
def _latin_variants() -> dict[str, str]:
    """Each plain letter and the accented Latin letters the index folds into it."""
    variants: dict[str, str] = {}
    for char, base in _latin_folds().items():
        variants[base] = variants.get(base, "") + char
    return variants


def index_words(text: str) -> list[str]:
    """The words the index makes of ``text``: case and Latin diacritics folded."""
    folds = _latin_folds()
    folded = "".join(folds.get(c, c) for c in text.lower() if not unicodedata.combining(c))
    return _WORD.findall(folded)


def _letter(char: str) -> str:
    variants = _latin_variants().get(char, "")
    return f"[{re.escape(char)}{variants}]" if variants else re.escape(char)


def word_pattern(words: list[str], *, prefix: bool = False) -> str | None:
    """A regex for the index words ``words`` in a row (a phrase), as the index matches
    them: whole words, any separators between them; the last may be a ``prefix``."""
    if not words:
        return None
    parts = [_COMBINING.join(_letter(c) for c in word) + _COMBINING for word in words]
    # "Not inside a word" is checked after the first letter, not before it: a pattern
    # that starts with a lookbehind is tried at every position, one that starts with a
    # letter is searched for quickly (five times faster over a long log).
    first = parts[0]
    split = len(_letter(words[0][0]))
    parts[0] = first[:split] + r"(?<![^\W_].)" + first[split:]
    pattern = r"[\W_]+".join(parts)
    return pattern + (r"[^\W_]*" if prefix else r"(?![^\W_])")


def scan_pattern(words: list[str], *, prefix: bool = False) -> str | None:
    """A regex finding where :func:`word_pattern` may match in lower-cased ASCII text,
    fast: it starts with the whole first word, which the regex engine looks for as a
    string. None when a word is not ASCII (it cannot be in ASCII text)."""
    if not words or not all(word.isascii() for word in words):
        return None
    first = re.escape(words[0]) + rf"(?<![^\W_].{{{len(words[0])}}})"
    pattern = r"[\W_]+".join([first, *(re.escape(w) for w in words[1:])])
    return pattern + (r"[^\W_]*" if prefix else r"(?![^\W_])")


def excerpt(
    body: str,
    regex: re.Pattern[str] | None,
    marks: tuple[str, str],
    *,
    scans: Sequence[re.Pattern[str]] | None = None,
    words: int = SNIPPET_TOKENS,
    more: bool = False,
) -> str:
    """About ``words`` words of ``body`` around its first match of ``regex``, each match
    in them wrapped in ``marks``; the opening words when nothing matches.

    ``scans``, when given, find in lower-cased ASCII text every place ``regex`` may
    match (see :func:`scan_pattern`): an ASCII body is searched with them first, several
    times faster. ``more`` says ``body`` is the start of a longer text. The text is made
    inert (no control characters, one line): a snippet is for reading.
    """
    first = _first_match(body, regex, scans) if regex is not None else None
    if first is None or regex is None:
        return _opening(body, words, more)
    start, end = _window(body, first.start(), first.end(), words)
    pieces: list[str] = []
    at = start
    for match in regex.finditer(body, start, end):
        if match.end() == match.start():
            continue
        pieces += [inert(body[at : match.start()], strip=False), marks[0]]
        pieces += [inert(match.group()), marks[1]]
        at = match.end()
    pieces.append(inert(body[at:end], strip=False))
    text = " ".join("".join(pieces).split())
    return (ELLIPSIS if start else "") + text + (ELLIPSIS if end < len(body) or more else "")


def _first_match(
    body: str, regex: re.Pattern[str], scans: Sequence[re.Pattern[str]] | None
) -> re.Match[str] | None:
    if scans is not None and len(body) > SLOW_SCAN_CHARS:
        head = body[:SCAN_CHARS]
        if head.isascii():
            lowered = head.lower()  # the same length: ASCII
            places = [m.start() for scan in scans if (m := scan.search(lowered))]
            return regex.search(body, min(places), len(head)) if places else None
    return regex.search(body, 0, SLOW_SCAN_CHARS)


def _window(body: str, match_start: int, match_end: int, words: int) -> tuple[int, int]:
    """Where the excerpt starts and ends: at word edges, a few words before the match."""
    head_from = max(match_start - CHARS_BEFORE, 0)
    before = [m.start() for m in _WORD.finditer(body, head_from, match_start)]
    if head_from == 0 and len(before) <= WORDS_BEFORE:
        start = 0
    elif before:
        start = before[-min(WORDS_BEFORE, len(before))]
        if head_from and start == before[0]:
            start = before[1] if len(before) > 1 else match_start  # maybe cut in a word
    else:
        start = match_start
    matched = len(_WORD.findall(body, match_start, match_end)) or 1
    wanted = max(words - min(WORDS_BEFORE, len(before)) - matched, 0)
    tail_to = min(match_end + CHARS_AFTER, len(body))
    end = match_end
    for count, m in enumerate(_WORD.finditer(body, match_end, tail_to), 1):
        if count > wanted:
            break
        end = m.end()
    else:
        if tail_to == len(body):
            end = len(body)
    return start, end


def _opening(body: str, words: int, more: bool = False) -> str:
    head = inert(body[:OPENING_CHARS]).split(" ")
    text = " ".join(head[:words])
    longer = len(head) > words or len(body) > OPENING_CHARS or more
    return text + ELLIPSIS if longer and text else text
