"""The Fetcher against real local HTTP servers on 127.0.0.1.

A small scripted server (below) gives exact control of status codes, headers and
broken connections; the project's Google Groups simulator is used for its fault
switches. Sleeps and the clock are fakes, so nothing here waits for real except
the read-timeout test (a fraction of a second).
"""

from __future__ import annotations

import logging
import socket
import time
from email.utils import formatdate

import pytest

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
from scraper.http import Fetcher, Page
from tests.helpers.http import FakeTime, Reply, ScriptedServer


@pytest.fixture
def server():
    srv = ScriptedServer()
    yield srv
    srv.close()


@pytest.fixture
def fake_time():
    return FakeTime()


@pytest.fixture
def fetcher(server, fake_time):
    with Fetcher(
        base_url=server.base_url,
        delay=0,
        timeout=5,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
    ) as f:
        yield f


# -- plain fetching ----------------------------------------------------------


def test_get_returns_page_with_canonical_url_and_sends_polite_headers(server, fetcher):
    server.route("/g/demo", Reply(200, "<html>caf\u00e9</html>",
                                  {"Content-Type": "text/html; charset=utf-8"}))
    page = fetcher.get("/g/demo", params={"hl": "en"})
    assert isinstance(page, Page)
    assert page.status == 200
    assert page.url == "https://groups.google.com/g/demo?hl=en"
    assert page.text == "<html>caf\u00e9</html>"
    assert page.headers["content-type"].startswith("text/html")
    request = server.requests[0]
    assert request["query"] == {"hl": ["en"]}
    assert request["headers"]["User-Agent"].startswith("listarchive/")
    assert "+https://github.com/listarchive/listarchive" in request["headers"]["User-Agent"]
    assert request["headers"]["Accept-Language"] == "en"
    assert "SOCS=CAI" in request["headers"]["Cookie"]
    assert fetcher.requests_made == 1


def test_canonical_urls_are_fetched_from_the_configured_origin(server, fetcher):
    server.route("/a/example.org/g/dev/c/T1", Reply(200, "thread"))
    page = fetcher.get("https://groups.google.com/a/example.org/g/dev/c/T1")
    assert page.content == b"thread"
    assert page.url == "https://groups.google.com/a/example.org/g/dev/c/T1"
    assert server.requests[0]["path"] == "/a/example.org/g/dev/c/T1"


def test_urls_of_other_hosts_are_refused(fetcher, server):
    with pytest.raises(FetchError, match="not a Google Groups URL"):
        fetcher.get("https://evil.example/g/x")
    assert server.requests == []


def test_base_url_comes_from_the_environment(server, monkeypatch):
    server.route("/g/env", Reply(200, "from env"))
    monkeypatch.setenv("LISTARCHIVE_BASE_URL", server.base_url + "/")
    with Fetcher(delay=0) as fetcher:
        assert fetcher.get("/g/env").content == b"from env"


def test_connection_pool_is_reused(server, fetcher):
    server.route("/g/demo", Reply(200, "x"))
    for _ in range(3):
        fetcher.get("/g/demo")
    client_ports = {r["client"] for r in server.requests}
    assert fetcher.requests_made == 3
    assert len(client_ports) == 1


def test_post_form_sends_form_and_params(server, fetcher):
    server.route("/_/GroupsFrontendUi/data/batchexecute", Reply(200, ")]}'\n[]"))
    page = fetcher.post_form(
        "/_/GroupsFrontendUi/data/batchexecute",
        params={"rpcids": "Dq0xse", "source-path": "/g/demo"},
        data={"f.req": '[["x"]]', "at": "tok"},
    )
    assert page.content.startswith(b")]}'")
    request = server.requests[0]
    assert request["method"] == "POST"
    assert request["query"] == {"rpcids": ["Dq0xse"], "source-path": ["/g/demo"]}
    assert request["form"] == {"f.req": ['[["x"]]'], "at": ["tok"]}
    assert request["headers"]["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert page.url == (
        "https://groups.google.com/_/GroupsFrontendUi/data/batchexecute"
        "?rpcids=Dq0xse&source-path=%2Fg%2Fdemo"
    )


# -- cookies -----------------------------------------------------------------


def test_cookies_file_is_sent_to_the_origin(server, fake_time, tmp_path):
    cookies = tmp_path / "cookies.txt"
    cookies.write_text(
        "# Netscape HTTP Cookie File\n"
        ".google.com\tTRUE\t/\tTRUE\t4102444800\tSID\tsecret-sid\n"
        "groups.google.com\tFALSE\t/\tTRUE\t4102444800\tOSID\tosid-value\n"
        ".example.com\tTRUE\t/\tFALSE\t4102444800\tOTHER\tnot-for-google\n"
    )
    server.route("/g/private", Reply(200, "members only"))
    with Fetcher(base_url=server.base_url, delay=0, cookies_file=str(cookies),
                 sleep=fake_time.sleep, clock=fake_time.clock) as fetcher:
        fetcher.get("/g/private")
    cookie_header = server.requests[0]["headers"]["Cookie"]
    sent = dict(part.split("=", 1) for part in cookie_header.split("; "))
    assert sent["SID"] == "secret-sid"
    assert sent["OSID"] == "osid-value"
    assert sent["SOCS"] == "CAI"
    assert "OTHER" not in sent


@pytest.mark.parametrize("content", [None, "this is not a cookies file\n"])
def test_unreadable_cookies_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "cookies.txt"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ListarchiveError) as info:
        Fetcher(base_url="http://127.0.0.1:9", cookies_file=str(path))
    message = str(info.value)
    assert message.startswith(f"cannot read cookies file {path}")
    assert "\n" not in message


# -- retries -----------------------------------------------------------------


def test_429_honours_retry_after_seconds(server, fetcher, fake_time):
    server.route("/g/demo", Reply(429, "slow down", {"Retry-After": "7"}), Reply(200, "ok"))
    assert fetcher.get("/g/demo").content == b"ok"
    assert fake_time.sleeps == [7.0]
    assert fetcher.requests_made == 2


def test_429_honours_retry_after_http_date(server, fetcher, fake_time):
    # Measured against the server's own Date header, so the wait is exact.
    now = time.time()
    server.route(
        "/g/demo",
        Reply(429, "slow down", {"Date": formatdate(now, usegmt=True),
                                 "Retry-After": formatdate(now + 30, usegmt=True)}),
        Reply(200, "ok"),
    )
    assert fetcher.get("/g/demo").content == b"ok"
    assert fake_time.sleeps == [30.0]


def test_retry_after_is_capped(server, fake_time):
    server.route("/g/demo", Reply(503, "busy", {"Retry-After": "3600"}), Reply(200, "ok"))
    with Fetcher(base_url=server.base_url, delay=0, max_retry_after=45,
                 sleep=fake_time.sleep, clock=fake_time.clock) as fetcher:
        fetcher.get("/g/demo")
    assert fake_time.sleeps == [45]


def test_429_past_the_budget_is_rate_limited(server, fake_time, caplog):
    server.route("/g/demo", Reply(429, "no", {"Retry-After": "2"}))
    with Fetcher(base_url=server.base_url, delay=0, max_attempts=4,
                 sleep=fake_time.sleep, clock=fake_time.clock) as fetcher:
        with caplog.at_level(logging.WARNING, logger="listarchive"):
            with pytest.raises(RateLimited) as info:
                fetcher.get("/g/demo")
        assert fetcher.requests_made == 4
    assert fake_time.sleeps == [2.0, 2.0, 2.0]
    assert info.value.exit_code == 9
    assert "https://groups.google.com/g/demo" in str(info.value)
    assert "\n" not in str(info.value)
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 3
    assert "HTTP 429" in retries[0].getMessage()


def test_5xx_backs_off_exponentially_then_fails(server, fake_time, capsys):
    server.route("/g/demo", Reply(503, "unavailable"))
    with Fetcher(base_url=server.base_url, delay=0, max_attempts=5,
                 sleep=fake_time.sleep, clock=fake_time.clock) as fetcher:
        with pytest.raises(NetworkError) as info:
            fetcher.get("/g/demo")
        assert fetcher.requests_made == 5
    assert len(fake_time.sleeps) == 4
    for attempt, wait in enumerate(fake_time.sleeps):
        base = 2.0**attempt
        assert base <= wait <= base * 1.5
    assert "HTTP 503" in str(info.value)
    assert info.value.exit_code == 5
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_recovers(server, fetcher, fake_time, status):
    server.route("/g/demo", Reply(status, "oops"), Reply(200, "fine"))
    assert fetcher.get("/g/demo").content == b"fine"
    assert len(fake_time.sleeps) == 1


def test_connection_reset_is_retried(server, fetcher):
    server.route("/g/demo", Reply(action="reset"), Reply(200, "after reset"))
    assert fetcher.get("/g/demo").content == b"after reset"
    assert fetcher.requests_made == 2


def test_truncated_body_is_retried(server, fetcher):
    server.route("/g/demo", Reply(200, "<html><body>half", action="truncate"),
                 Reply(200, "<html>whole</html>"))
    assert fetcher.get("/g/demo").content == b"<html>whole</html>"
    assert fetcher.requests_made == 2


def test_read_timeout_is_retried(server, fake_time):
    server.route("/g/demo", Reply(200, "late", delay=0.5), Reply(200, "on time"))
    with Fetcher(base_url=server.base_url, delay=0, timeout=0.1,
                 sleep=fake_time.sleep, clock=fake_time.clock) as fetcher:
        assert fetcher.get("/g/demo").content == b"on time"
        assert fetcher.requests_made == 2


def test_unreachable_host_is_a_network_error(fake_time):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port now: connections are refused.
    with Fetcher(base_url=f"http://127.0.0.1:{port}", delay=0, max_attempts=3,
                 sleep=fake_time.sleep, clock=fake_time.clock) as fetcher:
        with pytest.raises(NetworkError) as info:
            fetcher.get("/g/demo")
        assert fetcher.requests_made == 3
    message = str(info.value)
    assert message.startswith("network error fetching https://groups.google.com/g/demo")
    assert "ConnectError" in message
    assert "\n" not in message


# -- throttle ----------------------------------------------------------------


def test_throttle_spaces_request_starts(server, fake_time):
    server.route("/g/demo", Reply(200, "x"))
    with Fetcher(base_url=server.base_url, delay=2.0,
                 sleep=fake_time.sleep, clock=fake_time.clock) as fetcher:
        fetcher.get("/g/demo")
        assert fake_time.sleeps == []  # the first request never waits
        fetcher.get("/g/demo")
        fetcher.get("/g/demo")
        assert fake_time.sleeps == [2.0, 2.0]
        fake_time.now += 1.5  # the caller spent 1.5 s parsing
        fetcher.get("/g/demo")
        assert fake_time.sleeps == [2.0, 2.0, 0.5]
        fake_time.now += 10
        fetcher.get("/g/demo")
        assert fake_time.sleeps == [2.0, 2.0, 0.5]


def test_throttle_also_spaces_retries(server, fake_time):
    server.route("/g/demo", Reply(500, "x", {"Retry-After": "0"}), Reply(200, "y"))
    with Fetcher(base_url=server.base_url, delay=3.0,
                 sleep=fake_time.sleep, clock=fake_time.clock) as fetcher:
        fetcher.get("/g/demo")
    # Retry-After 0 asks for no wait, but the throttle still keeps 3 s between starts.
    assert fake_time.sleeps == [0.0, 3.0]


# -- classification ----------------------------------------------------------


def one_line(err: BaseException, url: str) -> str:
    message = str(err)
    assert "\n" not in message
    assert url in message
    return message


def test_access_error_redirect_is_access_denied(server, fetcher):
    server.route("/g/secret", Reply(302, "", {"Location": "/access-error?continue=x"}))
    with pytest.raises(AccessDenied) as info:
        fetcher.get("/g/secret")
    assert type(info.value) is AccessDenied
    assert info.value.exit_code == 6
    one_line(info.value, "https://groups.google.com/g/secret")
    assert [r["path"] for r in server.requests] == ["/g/secret"]


def test_permission_text_is_access_denied(server, fetcher):
    server.route("/g/secret", Reply(200, "<p>You don&#39;t have permission to access this "
                                         "content</p>"))
    with pytest.raises(AccessDenied) as info:
        fetcher.get("/g/secret")
    one_line(info.value, "https://groups.google.com/g/secret")


def test_sign_in_redirect(server, fetcher):
    server.route("/g/members", Reply(302, "", {
        "Location": "https://accounts.google.com/ServiceLogin?continue=https://groups.google.com/g/members"}))
    with pytest.raises(SignInRequired) as info:
        fetcher.get("/g/members")
    one_line(info.value, "https://groups.google.com/g/members")


def test_consent_redirect(server, fetcher):
    server.route("/g/demo", Reply(303, "", {"Location": "https://consent.google.com/ml?continue=x"}))
    with pytest.raises(ConsentRequired) as info:
        fetcher.get("/g/demo")
    assert info.value.exit_code == 6
    one_line(info.value, "https://groups.google.com/g/demo")


def test_consent_interstitial_page(server, fetcher):
    server.route("/g/demo", Reply(200, "<title>Before you continue to Google</title>"
                                       '<form action="https://consent.google.com/save">'))
    with pytest.raises(ConsentRequired):
        fetcher.get("/g/demo")


def test_404_is_not_found(server, fetcher, fake_time):
    with pytest.raises(NotFound) as info:
        fetcher.get("/g/nope/c/T1")
    assert info.value.exit_code == 7
    assert fake_time.sleeps == []  # not retried
    one_line(info.value, "https://groups.google.com/g/nope/c/T1")


def test_same_site_redirects_are_followed(server, fetcher):
    server.route("/d/topic/demo/T1", Reply(301, "", {"Location": "/g/demo/c/T1"}))
    server.route("/g/demo/c/T1", Reply(302, "", {
        "Location": "https://groups.google.com/g/demo/c/T1/?hl=en"}))
    server.route("/g/demo/c/T1/", Reply(200, "the thread"))
    page = fetcher.get("/d/topic/demo/T1")
    assert page.content == b"the thread"
    assert page.url == "https://groups.google.com/g/demo/c/T1/?hl=en"
    assert [r["path"] for r in server.requests] == [
        "/d/topic/demo/T1", "/g/demo/c/T1", "/g/demo/c/T1/"]
    assert fetcher.requests_made == 3


def test_redirect_loop_is_bounded(server, fetcher):
    server.route("/g/a", Reply(302, "", {"Location": "/g/b"}))
    server.route("/g/b", Reply(302, "", {"Location": "/g/a"}))
    with pytest.raises(FetchError, match="too many redirects"):
        fetcher.get("/g/a")
    assert len(server.requests) <= 7


def test_redirect_to_a_foreign_host_is_not_followed(server, fetcher):
    server.route("/g/a", Reply(302, "", {"Location": "https://elsewhere.example/x"}))
    with pytest.raises(FetchError, match="unexpected redirect"):
        fetcher.get("/g/a")
    assert len(server.requests) == 1


# -- the simulator's fault switches --------------------------------------------


@pytest.fixture
def sim_fetcher(simulator, fake_time):
    with Fetcher(base_url=simulator.base_url, delay=0, timeout=5, max_attempts=4,
                 sleep=fake_time.sleep, clock=fake_time.clock) as f:
        yield f


GROUP = "/g/demo-announce"


def test_simulator_serves_group_page_with_canonical_url(simulator, sim_fetcher):
    page = sim_fetcher.get("https://groups.google.com/g/demo-announce")
    assert page.url == "https://groups.google.com/g/demo-announce"
    assert b"AF_initDataCallback" in page.content
    request = simulator.requests[0]
    assert request.path == GROUP
    assert request.headers["Accept-Language"] == "en"


@pytest.mark.parametrize("kind", ["429", "500", "502", "503"])
def test_simulator_status_faults_are_retried_with_retry_after(
    simulator, sim_fetcher, fake_time, kind
):
    simulator.fault(kind, times=2, retry_after="2")
    page = sim_fetcher.get(GROUP)
    assert page.status == 200
    assert fake_time.sleeps == [2.0, 2.0]
    assert [r.status for r in simulator.requests] == [int(kind), int(kind), 200]


def test_simulator_429_with_http_date(simulator, sim_fetcher, fake_time):
    simulator.fault("429", times=1, retry_after=formatdate(time.time() + 5, usegmt=True))
    sim_fetcher.get(GROUP)
    # The wait is measured against the server's Date header (whole seconds).
    assert len(fake_time.sleeps) == 1
    assert 3.0 <= fake_time.sleeps[0] <= 6.0


def test_simulator_429_past_the_budget(simulator, sim_fetcher, fake_time):
    simulator.fault("429", retry_after="1000")
    with pytest.raises(RateLimited):
        sim_fetcher.get(GROUP)
    assert fake_time.sleeps == [120.0, 120.0, 120.0]  # capped at max_retry_after
    assert len(simulator.requests) == 4


@pytest.mark.parametrize("kind", ["500", "502", "503", "reset", "truncate"])
def test_simulator_persistent_faults_fail_after_the_budget(simulator, sim_fetcher, kind):
    simulator.fault(kind)
    with pytest.raises(NetworkError) as info:
        sim_fetcher.get(GROUP)
    assert len(simulator.requests) == 4
    assert "https://groups.google.com/g/demo-announce" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kind", ["reset", "truncate"])
def test_simulator_transport_faults_recover(simulator, sim_fetcher, kind):
    simulator.fault(kind, times=1)
    page = sim_fetcher.get(GROUP)
    assert page.content.rstrip().endswith(b"</html>")
    assert sim_fetcher.requests_made == 2


def test_simulator_slow_reply_times_out_and_is_retried(simulator, fake_time):
    simulator.fault("slow", times=1, seconds=0.4)
    with Fetcher(base_url=simulator.base_url, delay=0, timeout=0.1,
                 sleep=fake_time.sleep, clock=fake_time.clock) as fetcher:
        page = fetcher.get(GROUP)
        assert fetcher.requests_made == 2
    assert page.status == 200


def test_simulator_latency_is_not_an_error(simulator, sim_fetcher):
    simulator.fault("latency", seconds=0.02)
    assert sim_fetcher.get(GROUP).status == 200
    assert sim_fetcher.requests_made == 1


def test_simulator_private_group(simulator, sim_fetcher, sim_state):
    simulator.fault("private", path=GROUP)
    with pytest.raises(AccessDenied) as info:
        sim_fetcher.get(GROUP)
    assert str(info.value).startswith(
        "access denied: https://groups.google.com/g/demo-announce is private")
    assert len(simulator.requests) == 1


def test_simulator_sign_in(simulator, sim_fetcher):
    simulator.fault("signin")
    with pytest.raises(SignInRequired, match="accounts.google.com"):
        sim_fetcher.get(GROUP)


@pytest.mark.parametrize("kind", ["consent", "consent_page"])
def test_simulator_consent_wall_is_avoided_by_the_socs_cookie(simulator, sim_fetcher, kind):
    fault = simulator.fault(kind)
    assert sim_fetcher.get(GROUP).status == 200
    assert fault.hits == 0
    assert "SOCS=CAI" in simulator.requests[0].headers["Cookie"]


@pytest.mark.parametrize("kind", ["consent", "consent_page"])
def test_simulator_consent_wall_is_reported(simulator, sim_fetcher, kind):
    simulator.fault(kind, respect_socs=False)
    with pytest.raises(ConsentRequired) as info:
        sim_fetcher.get(GROUP)
    assert "https://groups.google.com/g/demo-announce" in str(info.value)


def test_simulator_unknown_group_is_not_found(simulator, sim_fetcher):
    with pytest.raises(NotFound):
        sim_fetcher.get("/g/no-such-group")


def test_simulator_receives_the_cookies_file(simulator, fake_time, tmp_path):
    cookies = tmp_path / "cookies.txt"
    cookies.write_text(
        "# Netscape HTTP Cookie File\n"
        ".google.com\tTRUE\t/\tTRUE\t4102444800\tSID\tmember-session\n"
    )
    with Fetcher(base_url=simulator.base_url, delay=0, cookies_file=str(cookies),
                 sleep=fake_time.sleep, clock=fake_time.clock) as fetcher:
        fetcher.get(GROUP)
    assert "SID=member-session" in simulator.requests[0].headers["Cookie"]
