"""The JSON Google embeds in its pages and returns from batchexecute, as plain Python values.

Pages carry ``AF_initDataCallback({key: 'ds:7', hash: '2', data: [...], sideChannel: {}})``
blocks; ``AF_dataServiceRequests`` says which ``ds:N`` answers which RPC (``Dq0xse``: topic
list, ``H08Fi``: thread messages). N changes between pages and releases, and the spacing and
quoting vary, so blocks are located by regex on their head and decoded with
``json.JSONDecoder.raw_decode`` from just after ``data:``, never by matching the tail.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from scraper.errors import LayoutChanged, RpcError
from scraper.models import PageTokens

RPC_TOPIC_LIST = "Dq0xse"
RPC_THREAD = "H08Fi"

# The head holds key/hash/isError, never a bracket; data may be wrapped in a function.
_CALLBACK_HEAD = re.compile(
    r"AF_initDataCallback\s*\(\s*\{(?P<head>[^\[\]{}]*?)[\"']?\bdata[\"']?\s*:\s*"
    r"(?:function\s*\(\s*\)\s*\{\s*return\s+)?"
)
_KEY = re.compile(r"""\bkey["']?\s*:\s*(["'])(?P<key>[^"']+)\1""")
_SERVICE = re.compile(
    r"""(["'])(?P<key>ds:\d+)\1\s*:\s*\{\s*["']?id["']?\s*:\s*(["'])(?P<rpc>[\w-]+)\3"""
)
_TAIL_WINDOW = 300  # how far past the data to look for a key written after it

_WIZ_TOKENS = {
    "at": re.compile(r'"SNlM0e"\s*:\s*"((?:[^"\\]|\\.)*)"'),
    "f_sid": re.compile(r'"FdrFJe"\s*:\s*"((?:[^"\\]|\\.)*)"'),
    "bl": re.compile(r'"cfb2h"\s*:\s*"((?:[^"\\]|\\.)*)"'),
}

XSSI_PREFIX = ")]}'"
_CHUNK_GAP = re.compile(r"\s*(?:\d+\s*)?")

# The largest integer SQLite stores (a signed 64-bit INTEGER).
SQLITE_MAX_INT = 2**63 - 1

_decoder = json.JSONDecoder()


@dataclass(frozen=True)
class InitData:
    """One ``AF_initDataCallback`` block: its ``ds:N`` key (if found), its data, and where
    the data's JSON text lies in the page (``html[start:end]``)."""

    key: str | None
    data: Any
    start: int = 0
    end: int = 0


def init_data_blocks(html: str) -> list[InitData]:
    """Every decodable ``AF_initDataCallback`` block of the page, in page order."""
    blocks = []
    match = _CALLBACK_HEAD.search(html)
    while match is not None:
        start = _skip_space(html, match.end())
        try:
            data, end = decode_json(html, start)
        except json.JSONDecodeError:
            # A JS-only value, or truncated: the other blocks may still do.
            match = _CALLBACK_HEAD.search(html, match.end())
            continue
        key_match = _KEY.search(match["head"])
        if key_match is None:
            tail = html[end : end + _TAIL_WINDOW].split("})", 1)[0]
            key_match = _KEY.search(tail)
        blocks.append(InitData(key_match["key"] if key_match else None, data, start, end))
        # Nothing inside decoded data is a block of its own, and skipping it halves the scan.
        match = _CALLBACK_HEAD.search(html, end)
    return blocks


def service_keys(html: str, blocks: Sequence[InitData] = ()) -> dict[str, str]:
    """``AF_dataServiceRequests`` as ``{"ds:7": "Dq0xse", ...}``.

    The data of ``blocks`` (already decoded from ``html``) is not searched: the mapping is
    never inside it, and a message quoting one there is not the page's.
    """
    keys: dict[str, str] = {}
    for first, last in outside_spans(((b.start, b.end) for b in blocks), len(html)):
        start = html.find("AF_dataServiceRequests", first, last)
        while start >= 0:  # scanning only the scripts that name it keeps big pages cheap
            end = html.find("</script", start, last)
            end = end if end >= 0 else last
            for match in _SERVICE.finditer(html, start, end):
                keys.setdefault(match["key"], match["rpc"])
            start = html.find("AF_dataServiceRequests", end, last)
    return keys


def outside_spans(spans: Iterable[tuple[int, int]], length: int) -> Iterator[tuple[int, int]]:
    """The ``(start, end)`` spans of ``range(length)`` that none of ``spans`` covers."""
    position = 0
    for start, end in sorted(spans):
        if start > position:
            yield position, start
        position = max(position, end)
    if position < length:
        yield position, length


def find_rpc_data(html: str, rpc_id: str, looks_right: Callable[[Any], bool]) -> Any | None:
    """The data of the block that answers ``rpc_id``, or ``None`` if no block does.

    The block named by ``AF_dataServiceRequests`` wins when its data has the expected shape;
    otherwise (mapping missing or renamed) the first block whose data has the shape.
    """
    return pick_rpc_data(html, init_data_blocks(html), rpc_id, looks_right)


def pick_rpc_data(
    html: str, blocks: Sequence[InitData], rpc_id: str, looks_right: Callable[[Any], bool]
) -> Any | None:
    """:func:`find_rpc_data` among blocks already read from ``html``."""
    mapped = {key for key, rpc in service_keys(html, blocks).items() if rpc == rpc_id}
    for block in blocks:
        if block.key in mapped and looks_right(block.data):
            return block.data
    for block in blocks:
        if looks_right(block.data):
            return block.data
    return None


def parse_page_tokens(html: str) -> PageTokens:
    """``WIZ_global_data`` tokens: ``SNlM0e`` (at), ``FdrFJe`` (f.sid), ``cfb2h`` (bl)."""
    found = {}
    for name, pattern in _WIZ_TOKENS.items():
        match = pattern.search(html)
        found[name] = json.loads(f'"{match[1]}"') if match else None
    return PageTokens(**found)


def rpc_payload(body: str, rpc_id: str, url: str | None = None) -> Any:
    """The decoded payload of ``rpc_id`` in a batchexecute reply (plain or ``rt=c`` chunks).

    Raises :class:`RpcError` when the call answered with an error entry, and
    :class:`LayoutChanged` when the reply is not a batchexecute reply at all.
    """
    where = f" from {url}" if url else ""
    text = body.lstrip("\ufeff \t\r\n")
    if text.startswith(XSSI_PREFIX):
        text = text[len(XSSI_PREFIX) :]
    values = []
    position = 0
    while True:
        gap = _CHUNK_GAP.match(text, position)  # it matches the empty string too
        position = gap.end() if gap else position
        if position >= len(text):
            break
        if text[position] != "[":
            found = text[position : position + 20]
            raise LayoutChanged(f"unreadable batchexecute reply{where}: {found!r}", url=url)
        try:
            value, position = decode_json(text, position, url=url)
        except json.JSONDecodeError as err:
            raise LayoutChanged(
                f"unreadable batchexecute reply{where}: {err.msg} at character {err.pos}",
                url=url,
            ) from None
        values.append(value)

    errors = []
    for entry in _entries(values):
        if entry[0] == "er":
            errors.append(entry)
            continue
        if len(entry) < 2 or entry[1] != rpc_id:
            continue
        payload = entry[2] if len(entry) > 2 else None
        if not isinstance(payload, str):
            code = _error_code(entry)
            raise RpcError(f"RPC {rpc_id} returned an error{code}{where}", url)
        try:
            return decode_json(payload, 0, url=url, whole=True)[0]
        except json.JSONDecodeError as err:
            raise LayoutChanged(
                f"unreadable {rpc_id} payload in the batchexecute reply{where}: {err.msg}", url=url
            ) from None
    if errors:
        raise RpcError(f"batchexecute returned an error instead of RPC {rpc_id}{where}", url)
    raise LayoutChanged(f"no answer to RPC {rpc_id} in the batchexecute reply{where}", url=url)


def decode_json(
    text: str, start: int = 0, *, url: str | None = None, whole: bool = False
) -> tuple[Any, int]:
    """Decode the JSON value at ``text[start:]``: ``(value, end)``, as ``raw_decode`` does.

    Nesting is bounded by Python's recursion limit (about 1,000 levels; Google's data
    nests about 15): deeper JSON, such as 200,000 ``[``, raises :class:`LayoutChanged`
    (one unreadable page) instead of a ``RecursionError`` that would end the whole run.
    ``whole`` also requires nothing but whitespace after the value, as ``json.loads``.
    Malformed JSON still raises ``json.JSONDecodeError`` for the caller to judge.
    """
    try:
        if whole:
            return json.loads(text), len(text)
        return _decoder.raw_decode(text, start)
    except RecursionError:
        where = f" in {url}" if url else ""
        raise LayoutChanged(
            f"JSON nested too deep to decode{where} (Python's limit is about "
            f"{sys.getrecursionlimit()} levels; Google's data nests about 15)",
            url=url,
        ) from None


def json_int(value: Any, *, minimum: int = 0, maximum: int = SQLITE_MAX_INT) -> int | None:
    """``value`` if it is a JSON integer in ``minimum..maximum``, else ``None``.

    For counts and sizes read from Google's JSON before they reach the archive: a bool is
    not a count, ``1e30`` decodes as a float, and an integer past ``2**63 - 1`` would fail
    in SQLite ("Python int too large to convert to SQLite INTEGER") mid-save.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if minimum <= value <= maximum else None


def build_batchexecute_request(group_email: str, token: str | None, page_size: int = 30) -> str:
    """The ``f.req`` form value asking for the topic-list page after ``token``."""
    arguments = json.dumps([group_email, page_size, token, [], 2], separators=(",", ":"))
    return json.dumps([[[RPC_TOPIC_LIST, arguments, None, "generic"]]], separators=(",", ":"))


def _entries(values: list[Any], depth: int = 0) -> Iterator[list[Any]]:
    """The ``["wrb.fr", ...]`` / ``["er", ...]`` entries, however deep the envelope nests them."""
    for value in values:
        if not isinstance(value, list) or not value:
            continue
        if value[0] in ("wrb.fr", "er"):
            yield value
        elif depth < 3:
            yield from _entries(value, depth + 1)


def _error_code(entry: list[Any]) -> str:
    for item in entry[3:]:
        if isinstance(item, list) and item and isinstance(item[0], int):
            return f" (code {item[0]})"
    return ""


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position
