"""listarchive.toml: finding it, reading it, and refusing a bad one with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive.config import ConfigError, find_config, load_config
from scraper.errors import EXIT_USAGE, BadURL
from scraper.models import GroupRef, ThreadRef


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_full_config(tmp_path):
    config = load_config(write(tmp_path / "listarchive.toml", """
db = "archives/lists.db"
delay = 2
timeout = 90
cookies = "/etc/listarchive/cookies.txt"
base_url = "http://127.0.0.1:8765"
groups = [
    "golang-announce",
    { url = "https://groups.google.com/a/kubernetes.io/g/dev", full = true, delay = 5.5 },
    "https://groups.google.com/g/golang-announce/c/KWekwiRSa2I",
]
"""))
    assert config.db == str(tmp_path / "archives" / "lists.db")  # relative to the file
    assert config.cookies == "/etc/listarchive/cookies.txt"
    assert (config.delay, config.base_url) == (2.0, "http://127.0.0.1:8765")
    assert config.timeout == 90.0
    first, second, third = config.groups
    assert (first.ref, first.full, first.delay) == (GroupRef("golang-announce"), False, None)
    assert (second.ref, second.full, second.delay) == (GroupRef("dev", "kubernetes.io"), True, 5.5)
    assert third.ref == ThreadRef(GroupRef("golang-announce"), "KWekwiRSa2I")


def test_groups_as_tables_and_defaults(tmp_path):
    config = load_config(write(tmp_path / "c.toml", """
[[groups]]
url = "dev@kubernetes.io"

[[groups]]
url = "golang-announce"
full = false
"""))
    assert [t.ref for t in config.groups] == [GroupRef("dev", "kubernetes.io"),
                                              GroupRef("golang-announce")]
    assert config.db is None and config.delay is None and config.base_url is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('dbpath = "x.db"', "unknown option dbpath"),
        ("groups = [", "not valid TOML"),
        ('delay = "fast"', "delay must be a number of seconds"),
        ("delay = -1", "delay must be a number of seconds"),
        ('groups = "golang-announce"', "groups must be a list"),
        ("groups = [42]", "group 1: expected a URL or a table"),
        ('[[groups]]\nfull = true', "group 1: url is missing"),
        ('[[groups]]\nurl = "x"\nful = true', "group 1: unknown option ful"),
        ('[[groups]]\nurl = "x"\nfull = "yes"', "group 1: full must be true or false"),
        ("db = 3", "db must be a string"),
        ("timeout = 0", "timeout must be a number of seconds above 0"),
        ('timeout = "slow"', "timeout must be a number of seconds"),
    ],
)
def test_a_bad_file_gets_a_one_line_error(tmp_path, text, message):
    path = write(tmp_path / "listarchive.toml", text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)
    assert info.value.exit_code == EXIT_USAGE


def test_a_bad_url_names_its_entry(tmp_path):
    path = write(tmp_path / "c.toml", 'groups = ["golang-announce", "https://example.com/x"]')
    with pytest.raises(BadURL, match="group 2: not a Google Groups URL"):
        load_config(path)


def test_which_file_is_used(tmp_path, monkeypatch):
    here = write(tmp_path / "listarchive.toml", "")
    other = write(tmp_path / "other.toml", "")
    assert find_config(None, cwd=tmp_path, environ={}) == here
    assert find_config(None, cwd=tmp_path / "nowhere", environ={}) is None
    assert find_config(None, cwd=tmp_path, environ={"LISTARCHIVE_CONFIG": str(other)}) == other
    assert find_config(str(other), cwd=tmp_path, environ={}) == other
    monkeypatch.setenv("HOME", str(tmp_path))
    assert find_config("~/other.toml", cwd=tmp_path, environ={}) == other
    with pytest.raises(ConfigError, match=r"missing.toml \(from --config\) does not exist"):
        find_config(str(tmp_path / "missing.toml"), cwd=tmp_path, environ={})
    with pytest.raises(ConfigError, match=r"from \$LISTARCHIVE_CONFIG"):
        find_config(None, cwd=tmp_path, environ={"LISTARCHIVE_CONFIG": "/nonexistent.toml"})

