import pytest

from scraper.errors import BadURL
from scraper.models import GroupRef, ThreadRef
from scraper.urls import parse_group_url, parse_thread_url, parse_url

GOLANG = GroupRef("golang-announce")
K8S = GroupRef("dev", "kubernetes.io")

VALID = [
    # modern consumer groups
    ("https://groups.google.com/g/golang-announce", GOLANG),
    ("https://groups.google.com/g/golang-announce/", GOLANG),
    ("https://groups.google.com/g/golang-announce?hl=en", GOLANG),
    ("https://groups.google.com/g/golang-announce/?pli=1#top", GOLANG),
    ("http://groups.google.com/g/golang-announce", GOLANG),
    ("groups.google.com/g/golang-announce", GOLANG),
    ("  https://groups.google.com/g/golang-announce  \n", GOLANG),
    ("https://groups.google.com/g/Golang-Announce", GOLANG),
    ("HTTPS://GROUPS.GOOGLE.COM/g/golang-announce", GOLANG),
    ("https://groups.google.com/g/golang-announce/about", GOLANG),
    ("https://groups.google.com/u/1/g/golang-announce", GOLANG),
    ("https://groups.google.com/g/comp.lang.python", GroupRef("comp.lang.python")),
    # Workspace groups
    ("https://groups.google.com/a/kubernetes.io/g/dev", K8S),
    ("https://groups.google.com/a/Kubernetes.IO/g/Dev/", K8S),
    ("https://groups.google.com/u/3/a/kubernetes.io/g/dev?hl=en", K8S),
    ("groups.google.com/a/kubernetes.io/g/dev/about", K8S),
    # threads and messages: ids keep their case
    ("https://groups.google.com/g/golang-announce/c/KWekwiRSa2I", GOLANG.thread("KWekwiRSa2I")),
    ("https://groups.google.com/g/golang-announce/c/KWekwiRSa2I/", GOLANG.thread("KWekwiRSa2I")),
    (
        "https://groups.google.com/g/kubernetes-dev/c/-nTNtBBHL2Y/m/WfNzb_E1EAAJ",
        GroupRef("kubernetes-dev").thread("-nTNtBBHL2Y", "WfNzb_E1EAAJ"),
    ),
    (
        "https://groups.google.com/g/x/c/hobUx2KBTM4/m/--qH8PTvudwJ?pli=1",
        GroupRef("x").thread("hobUx2KBTM4", "--qH8PTvudwJ"),
    ),
    (
        "https://groups.google.com/u/0/a/chromium.org/g/chromium-extensions/c/S1_uqpDFVzY#x",
        GroupRef("chromium-extensions", "chromium.org").thread("S1_uqpDFVzY"),
    ),
    ("groups.google.com/a/kubernetes.io/g/dev/c/AbC_-123xyZ", K8S.thread("AbC_-123xyZ")),
    # legacy /d/ permalinks
    ("https://groups.google.com/d/forum/golang-announce", GOLANG),
    ("https://groups.google.com/d/forum/golang-announce/", GOLANG),
    ("https://groups.google.com/d/topic/golang-announce/KWekwiRSa2I", GOLANG.thread("KWekwiRSa2I")),
    (
        "https://groups.google.com/d/msg/golang-announce/KWekwiRSa2I/b62NyYWpAwAJ",
        GOLANG.thread("KWekwiRSa2I", "b62NyYWpAwAJ"),
    ),
    ("https://groups.google.com/a/kubernetes.io/d/forum/dev", K8S),
    ("https://groups.google.com/a/kubernetes.io/d/topic/dev/Tid", K8S.thread("Tid")),
    ("https://groups.google.com/a/kubernetes.io/d/msg/dev/Tid/Mid", K8S.thread("Tid", "Mid")),
    # legacy #! fragments, which never reach a server
    ("https://groups.google.com/forum/#!forum/golang-announce", GOLANG),
    ("https://groups.google.com/forum/#!forum/golang-announce/", GOLANG),
    ("https://groups.google.com/forum/?hl=en#!forum/golang-announce", GOLANG),
    ("https://groups.google.com/forum/#!categories/golang-announce", GOLANG),
    ("https://groups.google.com/forum/#!topic/golang-announce/KWekwiRSa2I",
     GOLANG.thread("KWekwiRSa2I")),
    (
        "https://groups.google.com/forum/#!msg/golang-announce/KWekwiRSa2I/b62NyYWpAwAJ",
        GOLANG.thread("KWekwiRSa2I", "b62NyYWpAwAJ"),
    ),
    ("https://groups.google.com/a/kubernetes.io/forum/#!forum/dev", K8S),
    ("https://groups.google.com/a/kubernetes.io/forum/#!topic/dev/Tid", K8S.thread("Tid")),
    # bare names and addresses
    ("golang-announce", GOLANG),
    ("Golang-Announce", GOLANG),
    ("comp.lang.python", GroupRef("comp.lang.python")),
    ("golang-announce@googlegroups.com", GOLANG),
    ("dev@kubernetes.io", K8S),
]


@pytest.mark.parametrize("text,expected", VALID)
def test_parse_url_accepts_every_form(text, expected):
    assert parse_url(text) == expected


BAD = [
    "",
    "   ",
    "https://groups.google.com",
    "https://groups.google.com/",
    "groups.google.com",
    "https://example.com/g/golang-announce",
    "https://groups.google.com.evil.example/g/x",
    "ftp://groups.google.com/g/x",
    "mailto:golang-announce@googlegroups.com",
    "https://groups.google.com/g/",
    "https://groups.google.com/g/x/c/",
    "https://groups.google.com/g/x/c/abc/m/",
    "https://groups.google.com/g/x/members",
    "https://groups.google.com/g/x/c/abc/extra",
    "https://groups.google.com/g/x/c/ab$c",
    "https://groups.google.com/g/bad%20name",
    "https://groups.google.com/a/not_a_domain/g/x",
    "https://groups.google.com/d/topic/golang-announce",
    "https://groups.google.com/d/msgid/golang-announce/abc@mail.example",
    "https://groups.google.com/d/unknown/x",
    "https://groups.google.com/forum/#!topic/golang-announce",
    "https://groups.google.com/forum/#!search/foo",
    "https://groups.google.com/forum/",
    "https://groups.google.com/group/golang-announce/browse_thread/thread/abc",
    "https://groups.google.com/u/1/",
    "two words",
    "dev@",
    "http://[::1",
]


@pytest.mark.parametrize("text", BAD)
def test_parse_url_rejects_with_one_line_message(text):
    with pytest.raises(BadURL) as info:
        parse_url(text)
    message = str(info.value)
    assert "\n" not in message
    assert "expected" in message


def test_bad_url_exit_code_is_distinct():
    with pytest.raises(BadURL) as info:
        parse_url("https://example.com/")
    assert info.value.exit_code == 4


def test_parse_group_url_takes_the_group_of_a_thread():
    ref = parse_group_url("https://groups.google.com/a/kubernetes.io/g/dev/c/Tid/m/Mid")
    assert ref == K8S
    assert ref.url == "https://groups.google.com/a/kubernetes.io/g/dev"


def test_parse_thread_url_requires_a_thread():
    ref = parse_thread_url("https://groups.google.com/forum/#!msg/golang-announce/T1/M1")
    assert isinstance(ref, ThreadRef)
    assert ref.url == "https://groups.google.com/g/golang-announce/c/T1/m/M1"
    assert ref.thread_url == "https://groups.google.com/g/golang-announce/c/T1"
    with pytest.raises(BadURL, match="not a thread URL"):
        parse_thread_url("https://groups.google.com/g/golang-announce")


def test_stand_in_origin_is_accepted_only_when_configured(monkeypatch):
    monkeypatch.delenv("LISTARCHIVE_BASE_URL", raising=False)
    with pytest.raises(BadURL):
        parse_url("http://127.0.0.1:8123/g/demo-announce")
    monkeypatch.setenv("LISTARCHIVE_BASE_URL", "http://127.0.0.1:8123")
    assert parse_url("http://127.0.0.1:8123/g/demo-announce/c/T1") == GroupRef(
        "demo-announce"
    ).thread("T1")
