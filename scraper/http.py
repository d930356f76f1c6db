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
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from urllib.parse import urlencode, urljoin, urlsplit

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from scraper.errors import (
    AccessDenied,
    ConsentRequired,
    FetchError,
    ListarchiveError,
    NetworkError,
    NotFound,
    RateLimited,
    SignInRequired,
)
from scraper.models import CANONICAL_ORIGIN

__all__ = ["Fetcher", "Page", "USER_AGENT", "DEFAULT_BASE_URL"]

log = logging.getLogger("listarchive")

DEFAULT_BASE_URL = CANONICAL_ORIGIN
USER_AGENT = "listarchive/{version} (+https://github.com/listarchive/listarchive)"

MAX_REDIRECTS = 5
BACKOFF_INITIAL = 1.0  # seconds before the first retry when the server gave no Retry-After
BACKOFF_MAX = 60.0

_CANONICAL_HOST = urlsplit(CANONICAL_ORIGIN).hostname
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
    ) -> None:
        if delay < 0:
            raise ValueError("delay must be >= 0")
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
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
            },
            cookies=cookies,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
        )

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
            response = self._send_with_retries(method, path, params, data, canonical)
            if not response.is_redirect:
                return self._classify(response, canonical)
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
    ) -> httpx.Response:
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
            raise NetworkError(
                f"network error fetching {canonical} after {self.max_attempts} attempt(s): "
                f"{_describe(err)}",
                url=canonical,
            ) from None

    def _send_once(
        self, method: str, path: str, params: dict | None, data: dict | None, canonical: str
    ) -> httpx.Response:
        self._throttle()
        self.requests_made += 1
        headers = {}
        if data is not None:
            headers = {
                "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8",
                "X-Same-Domain": "1",
            }
        response = self._client.request(
            method,
            self.base_url + path,
            params=params,
            data=data,
            headers=headers,
        )
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(response.status_code, canonical, _retry_after(response))
        return response

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
            raise FetchError(
                f"unexpected redirect from {canonical} to {target or 'nowhere'}", url=canonical
            )
        log.debug("following redirect from %s to %s", canonical, target)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def _classify(self, response: httpx.Response, canonical: str) -> Page:
        status = response.status_code
        content = response.content
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


def _is_retryable(err: BaseException) -> bool:
    if isinstance(err, _Retryable):
        return True
    # A bad scheme or proxy setting will not fix itself on a second try.
    return isinstance(err, httpx.TransportError) and not isinstance(
        err, httpx.UnsupportedProtocol | httpx.ProxyError
    )


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
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
