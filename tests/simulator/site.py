"""Routing: one request in, one response out, computed from the current state.

No sockets here: :class:`Site` is what the HTTP server calls, and what tests and
benchmarks may call directly to render pages without a network.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import quote, unquote

from tests.simulator import render
from tests.simulator.model import CANONICAL_ORIGIN, GroupsState, SimGroup, digest
from tests.simulator.render import DEFAULT, PAGE_SIZE, RpcResult, Variant

GROUP_PATH = re.compile(
    r"^(?:/u/\d+)?(?:/a/(?P<domain>[^/]+))?/g/(?P<name>[^/]+)"
    r"(?:/c/(?P<topic>[^/]+)(?:/m/(?P<message>[^/]+))?)?/?$"
)
BATCH_PATH = re.compile(r"^(?:/u/\d+)?/_/GroupsFrontendUi/data/batchexecute$")
ATTACH_PATH = re.compile(
    r"^(?:/a/(?P<domain>[^/]+))?/group/(?P<name>[^/]+)/attach/(?P<key>[0-9a-f]+)/[^/]+$"
)
ACCESS_ERROR_PATH = re.compile(r"(?:^|/)access-error$")

# google.rpc.Code values used in error replies
INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, UNIMPLEMENTED = 3, 5, 7, 12


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


def html_response(status: int, text: str, *headers: tuple[str, str]) -> Response:
    return Response(status, text.encode("utf-8"), headers=headers)


def redirect(location: str) -> Response:
    body = f'<HTML><BODY>Moved <A HREF="{render.esc(location)}">here</A>.</BODY></HTML>\n'
    return html_response(302, body, ("Location", location))


def make_token(group: SimGroup, offset: int, scope: str | None = None) -> str:
    """An opaque continuation token (standard base64, like Google's); ``scope`` is what
    it walks (the group's list by default, or ``<email>/<topic id>``)."""
    scope = scope or group.email
    raw = f"{scope}\0{offset}\0".encode() + digest("token", scope, offset)[:6]
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def read_token(token: str) -> tuple[str, int] | None:
    """``(group email, offset)``, or None for a token this simulator did not issue."""
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
        email, offset_text, check = raw.split(b"\0", 2)
        email_str, offset = email.decode(), int(offset_text)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if offset < 0 or check != digest("token", email_str, offset)[:6]:
        return None
    return email_str, offset


def access_error_location(path: str) -> str:
    return "/access-error?continue=" + quote(CANONICAL_ORIGIN + path, safe="")


class Site:
    """Google Groups' public pages for the groups in ``state``."""

    def __init__(
        self,
        state: GroupsState,
        *,
        today: Callable[[], date] | None = None,
        base_url: str = "",
    ) -> None:
        self.state = state
        self.today = today or (lambda: datetime.now(UTC).date())
        self.base_url = base_url

    def respond(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
        *,
        variant: Variant = DEFAULT,
        rpc_error: int | None = None,
    ) -> Response:
        path = unquote(path)
        with self.state.lock:
            if BATCH_PATH.match(path):
                if method != "POST":
                    return html_response(405, render.error_page(405, "Method Not Allowed"))
                return self.batchexecute(form or {}, rpc_error=rpc_error)
            if method != "GET":
                return html_response(405, render.error_page(405, "Method Not Allowed"))
            if path == "/":
                return html_response(200, render.index_page(self.state.groups, self.base_url))
            if ACCESS_ERROR_PATH.search(path):
                return html_response(200, render.access_error_page())
            match = GROUP_PATH.match(path)
            if match:
                return self.group_or_thread(path, match, variant)
            match = ATTACH_PATH.match(path)
            if match:
                return self.attachment(match)
        return self.not_found()

    @staticmethod
    def not_found() -> Response:
        return html_response(404, render.error_page(404, "Not Found"))

    def group_or_thread(self, path: str, match: re.Match[str], variant: Variant) -> Response:
        group = self.state.find_group(match["name"], match["domain"])
        if group is None:
            return self.not_found()
        if group.private:
            return redirect(access_error_location(path))
        if match["topic"] is None:
            total, rows = group.listing(0, PAGE_SIZE)
            token = self._next_token(group, 0, PAGE_SIZE, total)
            page = render.group_page(
                group, total, rows, token, today=self.today(), variant=variant,
                raw_rows=self._raw_rows(group),
            )
            return html_response(200, page)
        if self.state.is_gone(group, match["topic"]):
            # A deleted thread answers with a redirect (evidence section 3: spm1001/passe
            # notes a 302); to the group page here, unless a test sends it elsewhere.
            elsewhere = self.state.gone_location(group, match["topic"])
            return redirect(elsewhere or self.base_url + group.path)
        topic = self.state.peek_topic(group, match["topic"])
        if topic is None:
            return self.not_found()
        return html_response(200, render.thread_page(group, topic, variant=variant))

    @staticmethod
    def _next_token(group: SimGroup, offset: int, size: int, total: int) -> str | None:
        end = offset + size
        if end < total or (group.null_last_page and offset < total <= end):
            return make_token(group, end)
        return None

    @staticmethod
    def _raw_rows(group: SimGroup) -> dict[str, dict[int, str]]:
        return {topic.id: topic.raw_row for topic in group.topics if topic.raw_row}

    def attachment(self, match: re.Match[str]) -> Response:
        found = self.state.attachment(match["key"])
        if found is None:
            return self.not_found()
        message, part = found
        group = message.group
        if group.name != match["name"] or group.domain != match["domain"] or group.private:
            return self.not_found()
        item = message.attachments[part - 1]
        disposition = f"attachment; filename*=UTF-8''{quote(item.filename)}"
        return Response(200, item.content, item.mime_type, (("Content-Disposition", disposition),))

    def batchexecute(self, form: Mapping[str, str], *, rpc_error: int | None = None) -> Response:
        try:
            calls = json.loads(form["f.req"])[0]
            parsed = [(call[0], call[1], call[3] if len(call) > 3 else "generic") for call in calls]
        except (KeyError, ValueError, TypeError, IndexError):
            body = (
                ")]}'\n\n"
                '[["er",null,null,null,null,400,null,null,null,3],["di",27],'
                '["af.httprm",26,"-6032457013413186581",4]]\n'
            )
            return Response(400, body.encode(), "application/json; charset=utf-8")
        results = []
        for rpc_id, arguments, tag in parsed:
            if rpc_error is not None:
                results.append(RpcResult(rpc_id, str(tag), error=rpc_error))
            elif rpc_id == render.LIST_RPC:
                results.append(self.list_topics(arguments, str(tag)))
            elif rpc_id == render.THREAD_RPC:
                results.append(self.thread_messages(arguments, str(tag)))
            else:
                results.append(RpcResult(rpc_id, str(tag), error=UNIMPLEMENTED))
        body = render.batchexecute_reply(results)
        return Response(200, body.encode("utf-8"), "application/json; charset=utf-8")

    def list_topics(self, arguments: object, tag: str) -> RpcResult:
        """``Dq0xse``: ``[email, page_size, token|null, [], n]`` -> one page of topics."""
        try:
            email, size, token = json.loads(arguments)[:3]  # type: ignore[arg-type]
        except (ValueError, TypeError):
            return RpcResult(render.LIST_RPC, tag, error=INVALID_ARGUMENT)
        group = self.state.group_by_email(email) if isinstance(email, str) else None
        if group is None:
            return RpcResult(render.LIST_RPC, tag, error=NOT_FOUND)
        if group.private:
            return RpcResult(render.LIST_RPC, tag, error=PERMISSION_DENIED)
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 100:
            size = PAGE_SIZE
        offset = 0
        if token:
            decoded = read_token(token) if isinstance(token, str) else None
            if decoded is None or decoded[0] != group.email:
                return RpcResult(render.LIST_RPC, tag, error=INVALID_ARGUMENT)
            offset = decoded[1]
        total, rows = group.listing(offset, size)
        next_token = self._next_token(group, offset, size, total)
        # Past the end (the null_last_page switch): rows are null, and no token follows;
        # the page before it ends with a null row.
        listed: list | None = rows
        if group.null_last_page:
            listed = None if not rows else [*rows, None] if offset + size >= total else rows
        payload = render.topic_list_data(group, total, listed, next_token, self._raw_rows(group))
        return RpcResult(render.LIST_RPC, tag, payload=payload)

    def thread_messages(self, arguments: object, tag: str) -> RpcResult:
        """``H08Fi``: ``[email, topic_id, page_size, token|null, null, 2]`` -> the thread.

        The payload is the thread page's JSON (``[2]`` the message list, evidence section
        2). The page size and the continuation are this project's ASSUMPTION, not seen
        on the live service: at most 100 messages per reply, and when more follow, a
        token at ``[3]`` of the payload that goes back as the fourth argument, as
        ``Dq0xse`` does with its own token. A gone or unknown topic answers NOT_FOUND.
        """
        try:
            email, topic_id, size, token = json.loads(arguments)[:4]  # type: ignore[arg-type]
        except (ValueError, TypeError):
            return RpcResult(render.THREAD_RPC, tag, error=INVALID_ARGUMENT)
        group = self.state.group_by_email(email) if isinstance(email, str) else None
        if group is None or not isinstance(topic_id, str):
            return RpcResult(render.THREAD_RPC, tag, error=NOT_FOUND)
        if group.private:
            return RpcResult(render.THREAD_RPC, tag, error=PERMISSION_DENIED)
        topic = self.state.peek_topic(group, topic_id)
        if topic is None:
            return RpcResult(render.THREAD_RPC, tag, error=NOT_FOUND)
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 100:
            size = render.THREAD_PAGE_LIMIT
        offset = 0
        if token:
            decoded = read_token(token) if isinstance(token, str) else None
            if decoded is None or decoded[0] != f"{group.email}/{topic.id}":
                return RpcResult(render.THREAD_RPC, tag, error=INVALID_ARGUMENT)
            offset = decoded[1]
        listed = topic.served_messages()
        messages = listed[offset : offset + size]
        served = [m.served_html if m in topic.messages else "" for m in messages]
        next_token = None
        if offset + size < len(listed):
            next_token = make_token(group, offset + size, scope=f"{group.email}/{topic.id}")
        payload = render.thread_data(group, topic, messages, served, next_token)
        return RpcResult(render.THREAD_RPC, tag, payload=payload)
