"""What a message's content is, as every output sees it: one rule each, no I/O.

Plain text (:mod:`archive.text`), Markdown (:mod:`archive.markdown`), the Atom feed
(:mod:`archive.feed`), exports and the terminal all ask this module the same questions,
so that no output keeps what another drops:

* where Google's footer starts (:data:`FOOTER_IN_TEXT`, :data:`FOOTER_IN_HTML`);
* which list tags and reply markers open a subject (:func:`split_subject`);
* which elements of a body go with everything inside them (:data:`DROPPED_WITH_CONTENT`);
* what names a message's author (:func:`author_label`).

Subject normalisation, used for the deduplication fingerprint:

* list tags such as ``[dev]`` or ``[demo-announce]`` are removed wherever they sit in
  the leading run of tags and reply markers, because each group adds its own;
* reply and forward markers are kept, but folded: ``Re:``, ``RE:``, ``Re[2]:``,
  ``AW:``, ``SV:``, ``Antw:`` and repeats like ``Re: Re:`` all become one ``re:``;
  ``Fwd:`` and ``Fw:`` become one ``fwd:``. A reply is never the same message as the
  post it answers, so the marker stays in the fingerprint; only its spelling and
  position relative to the list tag (``[dev] Re: x`` vs ``Re: [dev] x``) are ignored.

Only :mod:`re` and :mod:`unicodedata` are imported: every command may load this.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import NamedTuple

__all__ = [
    "DROPPED_VOID",
    "DROPPED_WITH_CONTENT",
    "FOOTER_IN_HTML",
    "FOOTER_IN_TEXT",
    "FOOTER_SEPARATOR",
    "GROUP_FOOTER_END",
    "GROUP_FOOTER_MAX_LINES",
    "FOOTER_WORDS",
    "UNKNOWN_AUTHOR",
    "SubjectParts",
    "author_label",
    "bare_subject",
    "normalize_subject",
    "split_subject",
    "strip_list_tags",
    "subject_tags",
]

# --- Google's footer ------------------------------------------------------------------

# The opening sentence of every footer variant Google Groups has appended since about
# 2010: "... subscribed to the Google Groups ..." and, for a message received because its
# topic was followed, "... subscribed to a topic in the Google Groups ...". The later
# sentences ("To unsubscribe ...", "To post to this group ...", "Visit this group at ...",
# "For more options ...", "To view this discussion ...") always follow it, so cutting
# from here removes them all.
_FOOTER_SENTENCE = (
    "You received this (?:message|topic) because you are subscribed to (?:a topic in )?"
    "the Google Groups?"
)
FOOTER_WORDS = "You received this "  # in every match of either form below
# A dash of a separator line, in plain text or as Markdown escapes it ("\\--").
_DASH = r"\\?-"
# In plain text (or Markdown) the sentence starts a line, after an optional "--" or "---".
FOOTER_IN_TEXT = re.compile(
    rf"^[ \t]*(?:(?:{_DASH}){{2,3}}[ \t]*)?" + _FOOTER_SENTENCE + " ", re.MULTILINE
)
# The "-- " line above the footer (a signature's separator too).
FOOTER_SEPARATOR = re.compile(rf"^[ \t]*(?:{_DASH}){{2}}[ \t]*$")
# A group with a footer of its own gets "-- / <group footer> / --- / <Google footer>":
# the group's lines name the group too, so they go with Google's.
GROUP_FOOTER_END = re.compile(rf"^[ \t]*(?:{_DASH}){{3}}[ \t]*$")
GROUP_FOOTER_MAX_LINES = 15
# In HTML any white space (a line break in the source, a no-break space) parts the words.
FOOTER_IN_HTML = re.compile(_FOOTER_SENTENCE.replace(" ", r"\s+") + r"\s")

# --- what a body drops ----------------------------------------------------------------

# Elements that go with everything inside them, in every output: active content, frames,
# forms and their controls, media whose text is only a fallback, page furniture. Each
# output keeps the text of every other element (or, for HTML, an allowlisted copy).
DROPPED_WITH_CONTENT = frozenset(
    {"script", "style", "iframe", "frame", "frameset", "object", "applet",
     "noscript", "noembed", "template", "head", "title", "form", "button", "select",
     "textarea", "option", "svg", "math", "canvas", "audio", "video", "map", "dialog"}
)  # fmt: skip
# Void elements that go too; they hold no text. A parser that predates HTML5 (libxml2)
# may put what follows an <embed> inside it, so these are removed as tags, never with
# "their content".
DROPPED_VOID = frozenset({"meta", "link", "base", "input", "embed", "source", "track", "area"})

# --- subjects -------------------------------------------------------------------------

_REPLY_MARKERS = frozenset({"re", "aw", "sv", "antw"})
_FORWARD_MARKERS = frozenset({"fwd", "fw"})
_LEADING_TOKEN = re.compile(
    r"""\s*(?:
        (?P<marker>[A-Za-z]{2,4})\s*(?:\[\d+\]|\(\d+\))?\s*:   # Re:  RE[2]:  Fwd:
      | \[(?P<tag>[^\[\]]{1,64})\]                             # [dev]  [Demo Announce]
    )""",
    re.VERBOSE,
)


class SubjectParts(NamedTuple):
    markers: list[str]  # reply and forward markers as written ("Re:", "AW:", "Fwd:")
    kinds: list[str]  # each marker's kind: "re" or "fwd"
    tags: list[str]  # list tags as written, without brackets
    rest: str  # the subject after them


def split_subject(subject: str) -> SubjectParts:
    """Split the leading run of reply markers and list tags from the rest of a subject.

    An ordinary word followed by a colon ("Note: ...") ends the run.
    """
    written: list[str] = []
    kinds: list[str] = []
    tags: list[str] = []
    pos = 0
    while match := _LEADING_TOKEN.match(subject, pos):
        marker = match.group("marker")
        if marker is not None:
            lowered = marker.lower()
            if lowered in _REPLY_MARKERS:
                kinds.append("re")
            elif lowered in _FORWARD_MARKERS:
                kinds.append("fwd")
            else:
                break
            written.append(match.group(0).strip())
        else:
            tags.append(match.group("tag"))
        pos = match.end()
    return SubjectParts(written, kinds, tags, subject[pos:].strip())


def strip_list_tags(subject: str) -> str:
    """Remove list tags from the front of a subject, keeping reply markers as written.

    >>> strip_list_tags("Re: [dev] [ANN] v1.2 released [draft]")
    'Re: v1.2 released [draft]'
    """
    parts = split_subject(subject)
    return " ".join([*parts.markers, parts.rest]).strip() if parts.markers else parts.rest


def normalize_subject(subject: str) -> str:
    """The subject as the fingerprint sees it: tags gone, markers folded, case folded.

    >>> normalize_subject("[dev] RE: Re:  Release  Freeze")
    're: release freeze'
    """
    parts = split_subject(unicodedata.normalize("NFC", subject))
    prefix = ("re: " if "re" in parts.kinds else "") + ("fwd: " if "fwd" in parts.kinds else "")
    return prefix + " ".join(parts.rest.split()).casefold()


def bare_subject(subject: str) -> str:
    """The subject without its leading reply markers and list tags, case folded: two
    messages whose bare subjects differ are about different things."""
    return " ".join(split_subject(subject).rest.split()).casefold()


def subject_tags(subject: str) -> list[str]:
    """List tags from the front of a subject, lower case, each once.

    >>> subject_tags("Re: [security] [ANN] x")
    ['security', 'ann']
    """
    tags: list[str] = []
    for written in split_subject(subject or "").tags:
        tag = " ".join(written.split()).lower()
        if tag and tag not in tags:
            tags.append(tag)
    return tags


# --- authors --------------------------------------------------------------------------

UNKNOWN_AUTHOR = "(unknown)"


def author_label(
    author: str | None, masked_address: str | None, clean: Callable[[str], str] = str
) -> str:
    """Who wrote a message, as every output names them: the author's name, else the masked
    address Google shows ("yuan...@gmail.com"), else ``(unknown)``. ``clean`` makes each
    candidate safe for the output; one that cleans to nothing does not count."""
    return clean(author or "") or clean(masked_address or "") or UNKNOWN_AUTHOR
