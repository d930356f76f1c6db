"""Turn whatever a user pastes into a :class:`GroupRef` or :class:`ThreadRef`.

Google has used many URL shapes for the same group or thread since 2004, and
links in old e-mails and web pages still carry them. The ``#!`` forms never reach
a server (the fragment stays in the browser), so they can only be normalised
here, locally. Everything is pure string work: no request is made.
"""

from __future__ import annotations

import os
import re
from urllib.parse import unquote, urlsplit

from scraper.errors import BadURL
from scraper.models import CANONICAL_ORIGIN, GroupRef, ThreadRef

__all__ = ["parse_url", "parse_group_url", "parse_thread_url"]

GOOGLE_GROUPS_HOST = "groups.google.com"

_EXPECTED = (
    "expected a Google Groups URL such as https://groups.google.com/g/<group>, "
    ".../a/<domain>/g/<group>, .../g/<group>/c/<topic>, a group name or address"
)

# Group names are letters, digits and . _ - (Usenet groups such as comp.lang.python
# live under /g/ too). Ids are base64url.
_GROUP_RE = re.compile(r"[a-z0-9_][a-z0-9._-]*\Z", re.IGNORECASE)
_ID_RE = re.compile(r"[A-Za-z0-9_-]+\Z")
_DOMAIN_RE = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+\Z")


def parse_url(text: str) -> GroupRef | ThreadRef:
    """Parse a group or thread URL (any form Google has used) or a bare group name.

    Group names and domains are lower-cased, as Google treats them
    case-insensitively; topic and message ids are kept as given.
    Raises :class:`BadURL` for anything else.
    """
    original = text
    text = (text or "").strip()
    if not text:
        raise BadURL(f"empty URL: {_EXPECTED}")
    if _looks_like_bare_name(text):
        return _bare_name_or_email(text, original)

    url = text if "://" in text else "https://" + text.lstrip("/")
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError as err:
        raise BadURL(f"not a URL: {original!r} ({err}); {_EXPECTED}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise BadURL(f"not a web URL: {original!r}; {_EXPECTED}")
    if host not in _accepted_hosts():
        raise BadURL(f"not a Google Groups URL (host {host or 'missing'!r}): {original!r}; "
                     f"{_EXPECTED}")

    segments = [unquote(s) for s in parts.path.split("/") if s]
    fragment = unquote(parts.fragment)
    ref = _parse_segments(segments, fragment, original)
    if ref is None:
        raise BadURL(f"no group in URL {original!r}; {_EXPECTED}")
    return ref


def parse_group_url(text: str) -> GroupRef:
    """Like :func:`parse_url`, but always a group: a thread URL gives its group."""
    ref = parse_url(text)
    return ref.group if isinstance(ref, ThreadRef) else ref


def parse_thread_url(text: str) -> ThreadRef:
    """Like :func:`parse_url`, but the URL must name a thread (``.../c/<topic>``)."""
    ref = parse_url(text)
    if not isinstance(ref, ThreadRef):
        raise BadURL(f"not a thread URL: {text.strip()!r}; expected "
                     f"{CANONICAL_ORIGIN}/g/<group>/c/<topic>")
    return ref


def _accepted_hosts() -> set[str]:
    """groups.google.com, plus the host of a stand-in server named by $LISTARCHIVE_BASE_URL."""
    hosts = {GOOGLE_GROUPS_HOST}
    base = os.environ.get("LISTARCHIVE_BASE_URL")
    if base:
        try:
            extra = urlsplit(base).hostname
        except ValueError:
            extra = None
        if extra:
            hosts.add(extra.lower())
    return hosts


def _looks_like_bare_name(text: str) -> bool:
    # "golang-announce" or "comp.lang.python", but not "groups.google.com/g/x"
    # nor the host on its own.
    return (
        "/" not in text
        and ":" not in text
        and "#" not in text
        and "?" not in text
        and text.lower() != GOOGLE_GROUPS_HOST
    )


def _bare_name_or_email(text: str, original: str) -> GroupRef:
    # A group's address is as good as its name: dev@kubernetes.io is /a/kubernetes.io/g/dev.
    name, at, domain = text.partition("@")
    if not at:
        return GroupRef(_group_name(name, original))
    domain = _domain(domain, original)
    if domain == "googlegroups.com":
        return GroupRef(_group_name(name, original))
    return GroupRef(_group_name(name, original), domain)


def _parse_segments(
    segments: list[str], fragment: str, original: str
) -> GroupRef | ThreadRef | None:
    # /u/<n>/ is the multi-login prefix of signed-in users: it names a browser
    # session, not a group.
    if len(segments) >= 2 and segments[0] == "u" and segments[1].isdigit():
        segments = segments[2:]

    domain = None
    if len(segments) >= 2 and segments[0] == "a":
        domain = _domain(segments[1], original)
        segments = segments[2:]

    if not segments:
        return None
    head, rest = segments[0], segments[1:]

    if head == "g":
        return _modern(rest, domain, original)
    if head == "d":
        return _legacy_short(rest, domain, original)
    if head == "forum" and not rest:
        return _hashbang(fragment, domain, original)
    return None


def _modern(rest: list[str], domain: str | None, original: str) -> GroupRef | ThreadRef | None:
    # /g/<group>, /g/<group>/about, /g/<group>/c/<topic>[/m/<message>]
    if not rest:
        return None
    group = GroupRef(_group_name(rest[0], original), domain)
    tail = rest[1:]
    if not tail or tail == ["about"]:
        return group
    if tail[0] == "c" and len(tail) == 2:
        return group.thread(_id(tail[1], "topic", original))
    if tail[0] == "c" and len(tail) == 4 and tail[2] == "m":
        return group.thread(_id(tail[1], "topic", original), _id(tail[3], "message", original))
    raise BadURL(f"unrecognised Google Groups page {original!r}; {_EXPECTED}")


def _legacy_short(
    rest: list[str], domain: str | None, original: str
) -> GroupRef | ThreadRef | None:
    # /d/forum/<g>, /d/topic/<g>/<t>, /d/msg/<g>/<t>/<m>: the 2013-2020 permalinks.
    kind, args = (rest[0], rest[1:]) if rest else ("", [])
    expected_args = {"forum": 1, "topic": 2, "msg": 3}
    if kind == "msgid":
        raise BadURL(f"/d/msgid/ links name an e-mail Message-ID, not a topic: {original!r}; "
                     "expected a /g/<group>/c/<topic> URL: open the link in a browser and paste "
                     "the URL it lands on")
    if kind not in expected_args or len(args) != expected_args[kind]:
        raise BadURL(f"unrecognised legacy Google Groups link {original!r}; {_EXPECTED}")
    return _from_legacy_parts(kind, args, domain, original)


def _hashbang(fragment: str, domain: str | None, original: str) -> GroupRef | ThreadRef | None:
    # /forum/#!forum/<g>, #!topic/<g>/<t>, #!msg/<g>/<t>/<m> (2010-2020 UI).
    if not fragment.startswith("!"):
        return None
    parts = [p for p in fragment[1:].split("/") if p]
    if not parts:
        return None
    kind, args = parts[0], parts[1:]
    if kind == "categories":
        kind = "forum"
    expected_args = {"forum": 1, "topic": 2, "msg": 3}
    if kind not in expected_args or len(args) != expected_args[kind]:
        raise BadURL(f"unrecognised legacy Google Groups link {original!r}; {_EXPECTED}")
    return _from_legacy_parts(kind, args, domain, original)


def _from_legacy_parts(
    kind: str, args: list[str], domain: str | None, original: str
) -> GroupRef | ThreadRef:
    group = GroupRef(_group_name(args[0], original), domain)
    if kind == "forum":
        return group
    topic = _id(args[1], "topic", original)
    if kind == "topic":
        return group.thread(topic)
    return group.thread(topic, _id(args[2], "message", original))


def _group_name(name: str, original: str) -> str:
    if not _GROUP_RE.match(name):
        raise BadURL(f"not a valid group name {name!r} in {original!r}; {_EXPECTED}")
    return name.lower()


def _domain(domain: str, original: str) -> str:
    domain = domain.lower()
    if not _DOMAIN_RE.match(domain):
        raise BadURL(f"not a valid domain {domain!r} in {original!r}; {_EXPECTED}")
    return domain


def _id(value: str, what: str, original: str) -> str:
    if not _ID_RE.match(value):
        raise BadURL(f"not a valid {what} id {value!r} in {original!r}; {_EXPECTED}")
    return value
