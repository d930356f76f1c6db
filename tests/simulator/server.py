"""A real HTTP server on 127.0.0.1 serving the simulated groups, with fault switches.

``Simulator(state)`` binds a free port, serves from a background thread and stops on
``__exit__``. Each request is recorded in ``sim.requests``. Faults
(``sim.fault(kind, path=None, times=None, **params)``) change what matching requests
get. ``path`` is a regex searched in the request path (None: every request); ``times``
is how many requests it changes before it switches itself off (None: forever).

=================  ===========================================================
``"429"``          429 "Sorry..." page; ``retry_after=`` seconds or HTTP-date
``"500"``, ``"502"``, ``"503"``  that status; optional ``retry_after=``
``"reset"``        no reply: the connection is closed with a TCP RST
``"slow"``         wait ``seconds=`` (default 1) before the normal reply
``"latency"``      the same, meant to stay on for benchmarks (default 0.05 s)
``"truncate"``     200 with the full Content-Length, half the body, then close
``"private"``      302 to ``/access-error?continue=<canonical URL>`` (a 200 page
                   saying "You don't have permission to access this content")
``"signin"``       302 to ``https://accounts.google.com/ServiceLogin?continue=...``
``"consent"``      302 to ``https://consent.google.com/ml?continue=...``
``"consent_page"`` 200 "Before you continue to Google" page (form to
                   consent.google.com/save); both consent kinds skip requests
                   carrying a ``SOCS`` cookie unless ``respect_socs=False``
``"no_json"``      group/thread pages without their ``AF_initDataCallback``
                   blocks (the ``AF_dataServiceRequests`` mapping stays)
``"renamed"``      group/thread pages with other ds numbers (ds:3 data, ds:11
                   other) and every Google class name replaced; ARIA, data-*
                   and jsname attributes unchanged
``"rpc_error"``    batchexecute answers ``["wrb.fr", rpc, null, null, null,
                   [code], tag]`` (``code=`` default 3)
``"gzip_bomb"``    200 ``Content-Encoding: gzip`` whose body inflates to ``size=``
                   bytes (default 1 GiB) of an HTML page padded with spaces
``"drip"``         the normal reply, its body sent one byte every ``interval=``
                   seconds (default 2); with ``headers=True`` the status line and
                   headers too
``"endless_tokens"`` every topic-list (``Dq0xse``) reply carries a next token, so
                   the list never ends: a fresh one each time, or with
                   ``repeat=True`` always the same one; such a token asks for the
                   first page again
=================  ===========================================================

How faults combine: the first matching *terminal* fault (a status, reset, redirect or
consent page) decides the reply; otherwise every matching modifier applies together
(``no_json`` + ``renamed`` gives a renamed page without JSON). Delays (``slow``,
``latency``) add up and come before anything else. A fault counts a hit (and uses up
one of its ``times``) only when it changed the reply. The ``/access-error`` page is
never faulted, so a client can always follow the private-group redirect.
"""

from __future__ import annotations

import functools
import json
import re
import selectors
import socket
import struct
import sys
import threading
import traceback
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from tests.simulator import render
from tests.simulator.model import CANONICAL_ORIGIN, GroupsState
from tests.simulator.site import (
    ACCESS_ERROR_PATH,
    BATCH_PATH,
    GROUP_PATH,
    INVALID_ARGUMENT,
    Response,
    Site,
    access_error_location,
    html_response,
    redirect,
)

# kind -> the keyword parameters it accepts
FAULT_PARAMS: dict[str, frozenset[str]] = {
    "429": frozenset({"retry_after"}),
    "500": frozenset({"retry_after"}),
    "502": frozenset({"retry_after"}),
    "503": frozenset({"retry_after"}),
    "reset": frozenset(),
    "slow": frozenset({"seconds"}),
    "latency": frozenset({"seconds"}),
    "truncate": frozenset(),
    "private": frozenset(),
    "signin": frozenset(),
    "consent": frozenset({"respect_socs"}),
    "consent_page": frozenset({"respect_socs"}),
    "no_json": frozenset(),
    "renamed": frozenset(),
    "rpc_error": frozenset({"code"}),
    "gzip_bomb": frozenset({"size"}),
    "drip": frozenset({"interval", "headers"}),
    "endless_tokens": frozenset({"repeat"}),
}
DELAYS = {"slow", "latency"}
MODIFIERS = {"no_json", "renamed", "truncate", "rpc_error", "drip", "endless_tokens"}
ENDLESS_TOKEN_PREFIX = "endless-"
REASONS = {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable"}


@dataclass
class RequestRecord:
    """One request as the server received it; ``status`` is None for a reset."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    status: int | None = None
    fault: str | None = None  # the kind of the terminal fault that answered, if any


@dataclass(eq=False)
class Fault:
    """A fault switch. ``hits`` counts the requests it changed."""

    kind: str
    path: str | None = None
    times: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    hits: int = 0

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path) if self.path is not None else None

    @property
    def active(self) -> bool:
        return self.times is None or self.hits < self.times

    @property
    def remaining(self) -> int | None:
        return None if self.times is None else max(0, self.times - self.hits)

    def matches(self, path: str) -> bool:
        return self.active and (self._pattern is None or self._pattern.search(path) is not None)

    def applies(self, method: str, path: str, cookies: SimpleCookie) -> bool:
        """Whether this fault would change the reply to this request."""
        if self.kind in ("consent", "consent_page"):
            return not (self.params.get("respect_socs", True) and "SOCS" in cookies)
        if self.kind in ("no_json", "renamed"):
            return method == "GET" and GROUP_PATH.match(path) is not None
        if self.kind in ("rpc_error", "endless_tokens"):
            return method == "POST" and BATCH_PATH.match(path) is not None
        return True


@dataclass
class _Plan:
    delays: list[float] = field(default_factory=list)
    terminal: Fault | None = None
    modifiers: set[str] = field(default_factory=set)
    rpc_error: int | None = None
    drip_interval: float | None = None
    drip_headers: bool = False
    endless_repeat: bool = False


class Simulator:
    """The simulated Google Groups, served over real HTTP on 127.0.0.1."""

    def __init__(
        self,
        state: GroupsState | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        today: Callable[[], date] | None = None,
        verbose: bool = False,
    ) -> None:
        self.state = state if state is not None else GroupsState()
        self.site = Site(self.state, today=today)
        self.verbose = verbose
        self.errors: list[BaseException] = []  # exceptions raised while rendering
        self._host, self._port = host, port
        self._lock = threading.Lock()
        self._requests: list[RequestRecord] = []
        self._faults: list[Fault] = []
        self._endless_tokens_given = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Simulator:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self._host, self._port), _Handler)
        self._server.simulator = self
        self.site.base_url = self.base_url
        self._wake_recv, self._wake_send = socket.socketpair()
        self._thread = threading.Thread(
            target=self._serve, name=f"simulator:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        self._wake_send.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        for connection in list(server.connections):
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        self._wake_recv.close()
        self._wake_send.close()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _serve(self) -> None:
        server = self._server
        assert server is not None
        with selectors.DefaultSelector() as selector:
            selector.register(server, selectors.EVENT_READ)
            selector.register(self._wake_recv, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _events in selector.select():
                    if key.fileobj is server and not self._stopping.is_set():
                        server._handle_request_noblock()

    # -- addresses -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def url(self, path: str = "/") -> str:
        """``path`` on the simulator; a canonical https://groups.google.com URL works too."""
        if path.startswith(CANONICAL_ORIGIN):
            path = path[len(CANONICAL_ORIGIN) :]
        return self.base_url + path

    # -- requests and faults ---------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def fault(self, kind: str, path: str | None = None, times: int | None = None, **params: Any
              ) -> Fault:
        """Switch a fault on for requests whose path matches ``path`` (``re.search``)."""
        if kind not in FAULT_PARAMS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_PARAMS)}")
        unexpected = set(params) - FAULT_PARAMS[kind]
        if unexpected:
            raise TypeError(f"fault {kind!r} takes no parameter {', '.join(sorted(unexpected))}")
        if kind in DELAYS:
            params.setdefault("seconds", 1.0 if kind == "slow" else 0.05)
        if times is not None and times < 0:
            raise ValueError("times must be >= 0 or None")
        fault = Fault(kind, path, times, dict(params))
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    def _plan(self, method: str, path: str, cookies: SimpleCookie) -> _Plan:
        plan = _Plan()
        if ACCESS_ERROR_PATH.search(path):
            return plan
        with self._lock:
            matching = [fault for fault in self._faults if fault.matches(path)]
            for fault in matching:
                if fault.kind in DELAYS:
                    plan.delays.append(float(fault.params["seconds"]))
                    fault.hits += 1
            for fault in matching:
                if fault.kind not in DELAYS | MODIFIERS and fault.applies(method, path, cookies):
                    plan.terminal = fault
                    fault.hits += 1
                    return plan
            for fault in matching:
                if fault.kind in MODIFIERS and fault.applies(method, path, cookies):
                    plan.modifiers.add(fault.kind)
                    if fault.kind == "rpc_error":
                        plan.rpc_error = int(fault.params.get("code", INVALID_ARGUMENT))
                    if fault.kind == "drip":
                        plan.drip_interval = float(fault.params.get("interval", 2.0))
                        plan.drip_headers = bool(fault.params.get("headers", False))
                    if fault.kind == "endless_tokens":
                        plan.endless_repeat = bool(fault.params.get("repeat", False))
                    fault.hits += 1
        return plan

    def _terminal_response(self, fault: Fault, path: str, full_url: str) -> Response | None:
        """The reply a terminal fault gives; None means: reset the connection."""
        kind = fault.kind
        if kind == "reset":
            return None
        if kind.isdigit():
            status = int(kind)
            page = render.rate_limited_page() if status == 429 else render.error_page(
                status, REASONS[status]
            )
            headers = []
            if fault.params.get("retry_after") is not None:
                headers.append(("Retry-After", str(fault.params["retry_after"])))
            return html_response(status, page, *headers)
        if kind == "private":
            return redirect(access_error_location(path))
        if kind == "signin":
            return redirect(
                "https://accounts.google.com/ServiceLogin?continue="
                + quote(full_url, safe="") + "&hl=en&passive=true"
            )
        if kind == "consent":
            return redirect(
                "https://consent.google.com/ml?continue=" + quote(full_url, safe="")
                + "&gl=DE&m=0&pc=ggr&cm=2&hl=en&src=1"
            )
        if kind == "consent_page":
            return html_response(200, render.consent_page(full_url))
        if kind == "gzip_bomb":
            body = gzip_bomb(int(fault.params.get("size", 2**30)))
            return Response(200, body, headers=(("Content-Encoding", "gzip"),))
        raise AssertionError(kind)

    def _endless_token(self, repeat: bool) -> str:
        with self._lock:
            self._endless_tokens_given += 1
            return ENDLESS_TOKEN_PREFIX + ("again" if repeat else str(self._endless_tokens_given))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    simulator: Simulator

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.connections: set[socket.socket] = set()
        super().__init__(*args, **kwargs)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ESF"
    sys_version = ""
    timeout = 60  # idle keep-alive connections end eventually
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm
    # and the client's delayed ACK add ~40 ms to every reply.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)

    def finish(self) -> None:
        self.server.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        if self.server.simulator.verbose:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def do_GET(self) -> None:  # noqa: N802 (stdlib naming)
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def _serve(self, method: str) -> None:
        sim = self.server.simulator
        url = urlsplit(self.path)
        form: dict[str, str] = {}
        if method == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        try:
            cookies = SimpleCookie(self.headers.get("Cookie", ""))
        except CookieError:
            cookies = SimpleCookie()
        record = RequestRecord(
            method, url.path, dict(parse_qsl(url.query, keep_blank_values=True)), form,
            dict(self.headers.items()),
        )
        sim._record(record)
        if sim._stopping.is_set():
            self.close_connection = True
            return
        plan = sim._plan(method, url.path, cookies)
        for seconds in plan.delays:
            if sim._stopping.wait(seconds):
                self.close_connection = True
                return
        full_url = CANONICAL_ORIGIN + self.path
        if plan.terminal is not None:
            record.fault = plan.terminal.kind
            response = sim._terminal_response(plan.terminal, url.path, full_url)
            if response is None:
                self._reset()
                return
        else:
            if "endless_tokens" in plan.modifiers:
                form = _first_page_for_endless_token(form)
            try:
                response = sim.site.respond(
                    method,
                    url.path,
                    record.query,
                    form,
                    variant=render.Variant(
                        json="no_json" not in plan.modifiers, renamed="renamed" in plan.modifiers
                    ),
                    rpc_error=plan.rpc_error,
                )
            except Exception as err:  # a simulator bug: answer, and keep it for the test
                sim.errors.append(err)
                traceback.print_exc()
                response = html_response(500, render.error_page(500, "Internal Server Error"))
            if "endless_tokens" in plan.modifiers:
                response = _with_next_token(response, sim._endless_token(plan.endless_repeat))
        record.status = response.status
        if plan.drip_interval is not None and plan.drip_headers:
            self._drip(self._raw_head(response) + response.body, plan.drip_interval)
            return
        self._send(response, truncate="truncate" in plan.modifiers, drip=plan.drip_interval)

    def _raw_head(self, response: Response) -> bytes:
        """The status line and headers, as bytes (what ``_send`` writes through the stdlib)."""
        lines = [
            f"HTTP/1.1 {response.status} {self.responses.get(response.status, ('',))[0]}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
            *(f"{name}: {value}" for name, value in response.headers),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _drip(self, data: bytes, interval: float) -> None:
        self.close_connection = True
        for index in range(len(data)):
            self.wfile.write(data[index : index + 1])
            self.wfile.flush()
            if self.server.simulator._stopping.wait(interval):
                return

    def _send(self, response: Response, *, truncate: bool, drip: float | None = None) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if truncate:
            self.wfile.write(response.body[: len(response.body) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif drip is not None:
            self._drip(response.body, drip)
        else:
            self.wfile.write(response.body)

    def _reset(self) -> None:
        """Close with a TCP RST and no reply, as a dropped connection looks to a client."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.connection.close()


@functools.lru_cache(maxsize=4)
def gzip_bomb(size: int) -> bytes:
    """A gzip stream of a small HTML page padded with spaces to ``size`` bytes (about
    ``size / 1000`` bytes compressed)."""
    head = b"<!DOCTYPE html><html><head><title>bomb</title></head><body>"
    tail = b"</body></html>\n"
    pad = max(size - len(head) - len(tail), 0)
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [squeeze.compress(head)]
    block = b" " * (1 << 20)
    for _ in range(pad >> 20):
        parts.append(squeeze.compress(block))
    parts.append(squeeze.compress(b" " * (pad & ((1 << 20) - 1)) + tail))
    parts.append(squeeze.flush())
    return b"".join(parts)


def _first_page_for_endless_token(form: dict[str, str]) -> dict[str, str]:
    """A topic-list request carrying a token made up by ``endless_tokens``, as a request
    for the first page (anything else unchanged)."""
    try:
        calls = json.loads(form["f.req"])
        arguments = json.loads(calls[0][0][1])
        token = arguments[2]
    except (KeyError, ValueError, TypeError, IndexError):
        return form
    if not (isinstance(token, str) and token.startswith(ENDLESS_TOKEN_PREFIX)):
        return form
    arguments[2] = None
    calls[0][0][1] = json.dumps(arguments)
    return {**form, "f.req": json.dumps(calls)}


def _with_next_token(response: Response, token: str) -> Response:
    """A topic-list reply whose payload's next token (``[3]``) is ``token``."""
    text = response.body.decode("utf-8")
    if response.status != 200 or not text.startswith(")]}'"):
        return response
    entries = json.loads(text[len(")]}'") :])
    for entry in entries:
        if entry[:2] == ["wrb.fr", render.LIST_RPC] and isinstance(entry[2], str):
            payload = json.loads(entry[2])
            payload[3:4] = [token]
            entry[2] = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    body = ")]}'\n\n" + json.dumps(entries, ensure_ascii=False, separators=(",", ":")) + "\n"
    return Response(response.status, body.encode("utf-8"), response.content_type,
                    response.headers)
