"""Polite, fault-tolerant HTTP for Google Groups. The only module that imports httpx.

A :class:`Fetcher` owns one connection pool for a whole run. It throttles
(a minimum interval between request starts), retries what is worth retrying
(transport errors, 429 and 5xx, honouring ``Retry-After``), and classifies
what is not: a private group, a sign-in or consent wall, a missing page. Every
failure leaves as one of the exceptions in :mod:`scraper.errors`, with a one-line
message naming the canonical ``https://groups.google.com/...`` URL, whatever
origin actually served it (tests and demos use a local simulator).
"""

from __future__ import annotations

import http.cookiejar
import importlib.metadata
import logging
import math
import os
import random
import socket
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urlencode, urljoin, urlsplit

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from scraper.errors import (
    AccessDenied,
    ConsentRequired,
    DeadlineExceeded,
    FetchError,
    ListarchiveError,
    NetworkError,
    NotFound,
    RateLimited,
    RedirectedAway,
    ResponseTooLarge,
    SignInRequired,
)
from scraper.models import CANONICAL_ORIGIN

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_BODY_BYTES",
    "Fetcher",
    "Page",
    "USER_AGENT",
]

log = logging.getLogger("listarchive")

DEFAULT_BASE_URL = CANONICAL_ORIGIN
USER_AGENT = "listarchive/{version} (+https://github.com/listarchive/listarchive)"

MAX_REDIRECTS = 5
BACKOFF_INITIAL = 1.0  # seconds before the first retry when the server gave no Retry-After
BACKOFF_MAX = 60.0
# Limits on what one server reply may cost. A big group page is about 1 MB and a
# 100-message thread a few MB: 50 MB (after decompression) is far beyond any real page.
DEFAULT_MAX_BODY_BYTES = 50 * 1024 * 1024
# Seconds one request may take from its start to its last byte, however the server
# paces its bytes (the per-read timeout alone lets a byte every few seconds through).
DEFAULT_DEADLINE = 60.0
# Encodings we decompress ourselves, a bounded step at a time (see _Body).
_ACCEPT_ENCODING = "gzip, deflate"
_DECODE_STEP = 256 * 1024
_MIN_SOCKET_TIMEOUT = 0.001  # 0 would make a socket non-blocking, not "time is up"

_CANONICAL_HOST = urlsplit(CANONICAL_ORIGIN).netloc  # no port, no user
_PERMISSION_TEXT = b"You don't have permission to access this content"
_PERMISSION_TEXT_HTML = b"You don&#39;t have permission to access this content"
_CONSENT_TITLE = b"Before you continue to Google"
_CONSENT_HOST = b"consent.google.com"


@dataclass(frozen=True)
class Page:
    """One response, as the parsers need it. ``url`` is canonical (groups.google.com)."""

    url: str
    status: int
    content: bytes
    headers: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.content.decode(_charset(self.headers) or "utf-8", errors="replace")


class _Retryable(Exception):
    """An answer worth asking again: 429 or 5xx. ``retry_after`` is in seconds, if given."""

    def __init__(self, status: int, url: str, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status} from {url}")
        self.status = status
        self.url = url
        self.retry_after = retry_after


class Fetcher:
    """Fetch pages from Google Groups (or a stand-in origin) politely.

    ``get``/``post_form`` take a path (``/g/dev``) or a canonical URL
    (``https://groups.google.com/g/dev``); both are sent to ``base_url``.
    ``sleep`` and ``clock`` are injectable so tests never wait for real.
    """

    def __init__(
        self,
        base_url: str | None = None,
        delay: float = 1.0,
        timeout: float = 30.0,
        cookies_file: str | None = None,
        max_attempts: int = 5,
        max_retry_after: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        deadline: float | None = None,
    ) -> None:
        if delay < 0:
            raise ValueError("delay must be >= 0")
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if max_body_bytes < 1:
            raise ValueError("max_body_bytes must be >= 1")
        if deadline is None:
            deadline = DEFAULT_DEADLINE
        if not deadline > 0:
            raise ValueError("deadline must be > 0")
        self.base_url = (
            base_url or os.environ.get("LISTARCHIVE_BASE_URL") or DEFAULT_BASE_URL
        ).rstrip("/")
        origin = urlsplit(self.base_url)
        if origin.scheme not in ("http", "https") or not origin.hostname:
            raise ListarchiveError(
                f"base URL must look like https://host[:port], not {self.base_url!r}"
            )
        self._origin_host = origin.hostname.lower()
        self.delay = delay
        self.max_attempts = max_attempts
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._clock = clock
        self._last_start: float | None = None
        self._random = random.Random()
        self.requests_made = 0
        self.max_body_bytes = max_body_bytes
        self.deadline = deadline
        # When the request being sent must be done by (time.monotonic()); None between
        # requests. Socket reads and writes never wait past it (see _DeadlineBackend).
        self._deadline_at: float | None = None

        cookies = httpx.Cookies()
        # SOCS=CAI records a "reject all" consent choice, so EU-routed requests
        # get the page and not the consent interstitial.
        cookies.set("SOCS", "CAI")
        if cookies_file:
            for name, value in _load_cookies(cookies_file, self._origin_host):
                cookies.set(name, value)

        self._client = httpx.Client(
            headers={
                "User-Agent": USER_AGENT.format(version=_version()),
                "Accept-Language": "en",
                "Accept-Encoding": _ACCEPT_ENCODING,
            },
            cookies=cookies,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
        )
        _bound_by_deadline(self._client, lambda: self._deadline_at)

    # -- public API --------------------------------------------------------

    def get(self, path: str, params: dict | None = None) -> Page:
        """GET a page; ``path`` is ``/g/<group>...`` or a canonical URL."""
        return self._fetch("GET", path, params, None)

    def post_form(self, path: str, params: dict, data: dict) -> Page:
        """POST a form (batchexecute); the reply is returned as it came."""
        return self._fetch("POST", path, params, data)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def canonical_url(self, path: str, params: dict | None = None) -> str:
        """The ``https://groups.google.com`` form of ``path``, used in messages and Page.url."""
        path = self._path_of(path)
        return CANONICAL_ORIGIN + path + _query(params, path)

    # -- internals ---------------------------------------------------------

    def _path_of(self, path_or_url: str) -> str:
        """Reduce a canonical or origin URL to its path (+ query); reject other hosts."""
        if "://" not in path_or_url:
            return path_or_url if path_or_url.startswith("/") else "/" + path_or_url
        parts = urlsplit(path_or_url)
        host = (parts.hostname or "").lower()
        if host not in (_CANONICAL_HOST, self._origin_host):
            raise FetchError(f"refusing to fetch {path_or_url}: not a Google Groups URL",
                             url=path_or_url)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def _fetch(self, method: str, path: str, params: dict | None, data: dict | None) -> Page:
        path = self._path_of(path)
        redirects_left = MAX_REDIRECTS
        while True:
            canonical = CANONICAL_ORIGIN + path + _query(params, path)
            response, content = self._send_with_retries(method, path, params, data, canonical)
            if not response.is_redirect:
                return self._classify(response, content, canonical)
            path = self._follow(response, canonical)
            if redirects_left == 0:
                raise FetchError(f"too many redirects fetching {canonical}", url=canonical)
            redirects_left -= 1
            # The query of a redirect target lives in the Location itself.
            params = None
            if response.status_code in (301, 302, 303):
                method, data = "GET", None

    def _send_with_retries(
        self, method: str, path: str, params: dict | None, data: dict | None, canonical: str
    ) -> tuple[httpx.Response, bytes]:
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            retry=retry_if_exception(_is_retryable),
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(self._send_once, method, path, params, data, canonical)
        except _Retryable as err:
            attempts = self.max_attempts
            if err.status == 429:
                raise RateLimited(
                    f"rate limited: {canonical} still answered HTTP 429 after {attempts} "
                    f"attempt(s); wait a while and try again",
                    url=canonical,
                ) from None
            raise NetworkError(
                f"server error: {canonical} still answered HTTP {err.status} after "
                f"{attempts} attempt(s)",
                url=canonical,
            ) from None
        except httpx.TransportError as err:
            if _unresolved(err):
                raise NetworkError(
                    f"cannot resolve {self._origin_host}: check the network or proxy "
                    f"({self.max_attempts} attempt(s) fetching {canonical})",
                    url=canonical,
                ) from None
            raise NetworkError(
                f"network error fetching {canonical} after {self.max_attempts} attempt(s): "
                f"{_describe(err)}",
                url=canonical,
            ) from None

    def _send_once(
        self, method: str, path: str, params: dict | None, data: dict | None, canonical: str
    ) -> tuple[httpx.Response, bytes]:
        """One attempt: the response (its body read, within the limits) and its body."""
        self._throttle()
        self.requests_made += 1
        headers = {}
        if data is not None:
            headers = {
                "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8",
                "X-Same-Domain": "1",
            }
        request = self._client.build_request(
            method, self.base_url + path, params=params, data=data, headers=headers
        )
        self._deadline_at = time.monotonic() + self.deadline
        try:
            response = self._client.send(request, stream=True)
            try:
                if response.status_code == 429 or response.status_code >= 500:
                    raise _Retryable(response.status_code, canonical, _retry_after(response))
                return response, self._read_body(response, canonical)
            finally:
                response.close()
        except httpx.TimeoutException:
            if self._past_deadline():
                raise self._deadline_error(canonical) from None
            raise
        finally:
            self._deadline_at = None

    def _read_body(self, response: httpx.Response, canonical: str) -> bytes:
        """The decompressed body, refused once it passes ``max_body_bytes`` or the deadline."""
        limit = self.max_body_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large(canonical, f"it announced {int(declared):,} bytes")
        body = _Body(response.headers.get("content-encoding", ""), limit, canonical)
        for raw in response.iter_raw():
            body.feed(raw)
            if body.size > limit:
                raise self._too_large(canonical, "it was still sending")
            if self._past_deadline():
                raise self._deadline_error(canonical)
        body.finish()
        if body.size > limit:
            raise self._too_large(canonical, "it was still sending")
        return body.content()

    def _past_deadline(self) -> bool:
        return self._deadline_at is not None and time.monotonic() >= self._deadline_at

    def _deadline_error(self, canonical: str) -> DeadlineExceeded:
        return DeadlineExceeded(
            f"gave up on {canonical}: the server took more than {self.deadline:g} s to send "
            f"its reply (a stalled or deliberately slow server)",
            url=canonical,
        )

    def _too_large(self, canonical: str, how: str) -> ResponseTooLarge:
        return ResponseTooLarge(
            f"refused the reply from {canonical}: it is larger than "
            f"{_megabytes(self.max_body_bytes)} once decompressed ({how}); no Google Groups "
            f"page is that big",
            url=canonical,
        )

    def _throttle(self) -> None:
        if self._last_start is not None and self.delay > 0:
            wait = self._last_start + self.delay - self._clock()
            if wait > 0:
                self._sleep(wait)
        self._last_start = self._clock()

    def _wait(self, state: RetryCallState) -> float:
        err = state.outcome.exception() if state.outcome else None
        if isinstance(err, _Retryable) and err.retry_after is not None:
            return min(max(err.retry_after, 0.0), self.max_retry_after)
        base = min(BACKOFF_INITIAL * 2 ** (state.attempt_number - 1), BACKOFF_MAX)
        # Jitter spreads out clients that failed together; never below the base.
        return min(base + self._random.uniform(0, base / 2), self.max_retry_after)

    def _log_retry(self, state: RetryCallState) -> None:
        err = state.outcome.exception() if state.outcome else None
        what = str(err) if isinstance(err, _Retryable) else _describe(err)
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s; retrying in %.1fs (attempt %d of %d)",
            what,
            wait,
            state.attempt_number + 1,
            self.max_attempts,
        )

    def _follow(self, response: httpx.Response, canonical: str) -> str:
        """Classify a redirect; return the path to follow, or raise."""
        location = response.headers.get("location", "")
        target = urljoin(str(response.request.url), location)
        parts = urlsplit(target)
        host = (parts.hostname or "").lower()
        if "/access-error" in parts.path:
            raise AccessDenied(
                f"access denied: {canonical} is private or restricted "
                f"(redirected to /access-error)",
                url=canonical,
            )
        if host == "accounts.google.com" or host.endswith(".accounts.google.com"):
            raise SignInRequired(
                f"sign-in required: {canonical} redirected to accounts.google.com "
                f"(a members-only group, or the cookies have expired)",
                url=canonical,
            )
        if host == "consent.google.com":
            raise ConsentRequired(
                f"consent required: {canonical} redirected to Google's cookie-consent page",
                url=canonical,
            )
        if host not in (_CANONICAL_HOST, self._origin_host) or not location:
            raise RedirectedAway(
                f"unexpected redirect from {canonical} to {target or 'nowhere'}",
                url=canonical,
                target=target,
            )
        log.debug("following redirect from %s to %s", canonical, target)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def _classify(self, response: httpx.Response, content: bytes, canonical: str) -> Page:
        status = response.status_code
        if status == 404 or status == 410:
            raise NotFound(f"not found: {canonical} (HTTP {status})", url=canonical)
        if status == 403:
            raise AccessDenied(f"access denied: {canonical} (HTTP 403)", url=canonical)
        if status >= 400:
            raise FetchError(f"HTTP {status} fetching {canonical}", url=canonical)
        if status != 200:
            raise FetchError(f"unexpected HTTP {status} fetching {canonical}", url=canonical)
        if _PERMISSION_TEXT in content or _PERMISSION_TEXT_HTML in content:
            raise AccessDenied(
                f"access denied: {canonical} is private or restricted "
                f"(\"You don't have permission to access this content\")",
                url=canonical,
            )
        if _CONSENT_TITLE in content and _CONSENT_HOST in content:
            raise ConsentRequired(
                f"consent required: {canonical} served Google's cookie-consent page "
                f"instead of the content",
                url=canonical,
            )
        return Page(
            url=canonical,
            status=status,
            content=content,
            headers={k.lower(): v for k, v in response.headers.items()},
        )


class _Body:
    """A reply body decompressed a bounded step at a time, so a gzip bomb costs at most
    ``limit`` plus one step of memory before it is refused (``size`` passes ``limit``).

    httpx would decompress a whole network read at once, and a 64 KB read of zeros
    inflates to 64 MB; hence our own ``Accept-Encoding`` and this decoder.
    """

    def __init__(self, encoding: str, limit: int, canonical: str) -> None:
        codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise FetchError(
                f"the reply from {canonical} came with Content-Encoding {encoding!r}, which "
                f"was not asked for ({_ACCEPT_ENCODING})",
                url=canonical,
            )
        self._coding = codings[0] if codings else None
        self._limit = limit
        self._canonical = canonical
        self._decoder = self._new_decoder()
        self._first = True
        self._parts: list[bytes] = []
        self.size = 0

    def _new_decoder(self):
        if self._coding in ("gzip", "x-gzip"):
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self._coding == "deflate":
            return zlib.decompressobj()
        return None

    def feed(self, raw: bytes) -> None:
        if self._decoder is None:
            self._keep(raw)
            return
        try:
            for piece in self._inflate(raw):
                self._keep(piece)
                if self.size > self._limit:
                    return
        except zlib.error as err:
            raise FetchError(
                f"the reply from {self._canonical} could not be decompressed "
                f"({self._coding}: {err})",
                url=self._canonical,
            ) from None

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        try:
            yield self._decoder.decompress(data, _DECODE_STEP)
        except zlib.error:
            # "deflate" is meant to be zlib-wrapped; some servers send it raw.
            if not (self._coding == "deflate" and self._first):
                raise
            self._decoder = zlib.decompressobj(-zlib.MAX_WBITS)
            yield self._decoder.decompress(data, _DECODE_STEP)
        self._first = False
        while self._decoder.unconsumed_tail:
            yield self._decoder.decompress(self._decoder.unconsumed_tail, _DECODE_STEP)

    def finish(self) -> None:
        if self._decoder is not None:
            try:
                self._keep(self._decoder.flush(_DECODE_STEP))
            except zlib.error:
                pass  # a cut-off stream: what arrived is judged by the parsers

    def _keep(self, piece: bytes) -> None:
        if piece:
            self._parts.append(piece)
            self.size += len(piece)

    def content(self) -> bytes:
        return b"".join(self._parts)


def _bounded_timeout(timeout: float | None, deadline_at: float | None) -> float | None:
    """``timeout``, cut to what is left before ``deadline_at`` (time.monotonic())."""
    if deadline_at is None:
        return timeout
    remaining = max(deadline_at - time.monotonic(), _MIN_SOCKET_TIMEOUT)
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream:
    """A network stream whose reads and writes never wait past the request's deadline."""

    def __init__(self, inner, deadline_at: Callable[[], float | None]) -> None:
        self._inner = inner
        self._deadline_at = deadline_at

    def _bound(self, timeout: float | None) -> float | None:
        return _bounded_timeout(timeout, self._deadline_at())

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._bound(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._bound(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        inner = self._inner.start_tls(ssl_context, server_hostname, self._bound(timeout))
        return _DeadlineStream(inner, self._deadline_at)

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


class _DeadlineBackend:
    """Wraps httpx's network backend so every socket wait is cut at the deadline.

    A server that sends a byte just before each read timeout would otherwise hold a
    request for ever: timeouts bound each wait, not their sum.
    """

    def __init__(self, inner, deadline_at: Callable[[], float | None]) -> None:
        self._inner = inner
        self._deadline_at = deadline_at

    def _bound(self, timeout: float | None) -> float | None:
        return _bounded_timeout(timeout, self._deadline_at())

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        stream = self._inner.connect_tcp(
            host, port, self._bound(timeout), local_address, socket_options
        )
        return _DeadlineStream(stream, self._deadline_at)

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        stream = self._inner.connect_unix_socket(path, self._bound(timeout), socket_options)
        return _DeadlineStream(stream, self._deadline_at)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _bound_by_deadline(client: httpx.Client, deadline_at: Callable[[], float | None]) -> None:
    """Put :class:`_DeadlineBackend` under ``client``'s connection pool.

    httpx has no public hook for this. Should its internals move, only the precision of
    the deadline suffers: :meth:`Fetcher._read_body` still checks it between reads.
    """
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    inner = getattr(pool, "_network_backend", None)
    if pool is None or inner is None:
        log.debug("cannot bound socket waits by the request deadline with this httpx")
        return
    pool._network_backend = _DeadlineBackend(inner, deadline_at)


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:g} MB" if size >= 1024 * 1024 else f"{size:,} bytes"


def _is_retryable(err: BaseException) -> bool:
    if isinstance(err, _Retryable):
        return True
    # A bad scheme or proxy setting will not fix itself on a second try.
    return isinstance(err, httpx.TransportError) and not isinstance(
        err, httpx.UnsupportedProtocol | httpx.ProxyError
    )


def _unresolved(err: BaseException) -> bool:
    """Whether a transport error is a failed name lookup (the host, not the path)."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return True
        text = str(seen).lower()
        if "name or service not known" in text or "name resolution" in text or (
            "nodename nor servname" in text
        ) or "getaddrinfo failed" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None  # "nan", "inf"
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    # Measure against the server's own Date header when it sent one, so a skewed
    # local clock does not stretch or cut the wait.
    now = None
    if response.headers.get("date"):
        try:
            now = parsedate_to_datetime(response.headers["date"]).timestamp()
        except (TypeError, ValueError):
            now = None
    if now is None:
        now = time.time()
    return max(when.timestamp() - now, 0.0)


def _load_cookies(path: str, origin_host: str) -> list[tuple[str, str]]:
    """Read a Netscape cookies.txt; keep the cookies meant for Google Groups.

    The cookies are sent to whatever origin this Fetcher talks to, so that a
    stand-in server sees what groups.google.com would.
    """
    jar = http.cookiejar.MozillaCookieJar(path)
    try:
        jar.load(ignore_discard=True, ignore_expires=True)
    except UnicodeDecodeError:
        raise ListarchiveError(
            f"cannot read cookies file {path}: not UTF-8 text; export it again as cookies.txt"
        ) from None
    except (OSError, http.cookiejar.LoadError) as err:
        reason = getattr(err, "strerror", None) or str(err).splitlines()[0]
        raise ListarchiveError(f"cannot read cookies file {path}: {reason}") from None
    hosts = {_CANONICAL_HOST, origin_host}
    now = time.time()
    selected = []
    for cookie in jar:
        domain = cookie.domain.lower().lstrip(".")
        if not any(host == domain or host.endswith("." + domain) for host in hosts):
            continue
        if cookie.expires and cookie.expires < now:
            log.warning("cookie %s in %s has expired; sending it anyway", cookie.name, path)
        selected.append((cookie.name, cookie.value or ""))
    if not selected:
        log.warning("no cookies for %s in %s", _CANONICAL_HOST, path)
    return selected


def _query(params: dict | None, path: str = "") -> str:
    if not params:
        return ""
    return ("&" if "?" in path else "?") + urlencode(params)


def _version() -> str:
    try:
        return importlib.metadata.version("listarchive")
    except importlib.metadata.PackageNotFoundError:
        return "0"


def _charset(headers: dict) -> str | None:
    content_type = headers.get("content-type", "")
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip('"')
    return None


def _describe(err: BaseException | None) -> str:
    """A one-line description of a transport error (httpx messages can be empty)."""
    if err is None:
        return "unknown error"
    text = " ".join(str(err).split())
    name = type(err).__name__
    return f"{name}: {text}" if text else name
