"""``listarchive.toml``: which groups to sync and how, so a scheduled run needs no arguments.

    db = "~/archives/lists.db"        # optional; default ./listarchive.db
    delay = 2.0                       # optional; seconds between requests
    timeout = 120                     # optional; seconds one request may take in all
    cookies = "cookies.txt"           # optional; a Netscape cookies.txt
    base_url = "https://groups.google.com"   # optional

    groups = [                        # URLs, names or addresses, and/or inline tables
      "golang-announce",              # with per-group options
      { url = "https://groups.google.com/a/kubernetes.io/g/dev", full = true, delay = 5.0 },
    ]

An array of tables (``[[groups]]`` with ``url``, ``full``, ``delay``) does the same;
TOML does not allow both forms in one file.

Relative paths are relative to the file's folder. Which file is used:
``--config FILE``, else ``$LISTARCHIVE_CONFIG``, else ``./listarchive.toml`` if it exists,
else ``$XDG_CONFIG_HOME/listarchive/listarchive.toml`` (``~/.config/...``) if it exists.

Every command settles its options here, once, with one precedence: the command-line
flag, else the environment (``$LISTARCHIVE_DB``, ``$LISTARCHIVE_BASE_URL``), else the
configuration file, else the built-in default (:func:`resolve_settings`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scraper.errors import BadURL, ConfigError, ListarchiveError

if TYPE_CHECKING:
    from scraper.models import GroupRef, ThreadRef

__all__ = [
    "Config",
    "ConfigError",
    "DEFAULT_CONFIG_NAME",
    "GroupSpec",
    "Settings",
    "check_base_url",
    "check_delay",
    "check_timeout",
    "check_path",
    "find_config",
    "load_config",
    "resolve_settings",
    "settings",
]

DEFAULT_CONFIG_NAME = "listarchive.toml"
CONFIG_ENV = "LISTARCHIVE_CONFIG"
DB_ENV = "LISTARCHIVE_DB"
BASE_URL_ENV = "LISTARCHIVE_BASE_URL"
DEFAULT_DB = "listarchive.db"
DEFAULT_BASE_URL = "https://groups.google.com"
DEFAULT_DELAY = 1.0
# A day between requests is already a run that never ends; more is a typo.
MAX_DELAY = 86400.0

_TOP_KEYS = {"db", "delay", "timeout", "cookies", "base_url", "groups"}
_GROUP_KEYS = {"url", "full", "delay"}


@dataclass(frozen=True)
class GroupSpec:
    """One entry of ``groups``: a group or a single thread, with its own options."""

    ref: GroupRef | ThreadRef
    full: bool = False
    delay: float | None = None


@dataclass(frozen=True)
class Config:
    """A loaded configuration; paths are absolute, unset options are None."""

    path: Path
    db: str | None = None
    delay: float | None = None
    cookies: str | None = None
    base_url: str | None = None
    groups: tuple[GroupSpec, ...] = ()
    timeout: float | None = None


def find_config(
    explicit: str | os.PathLike[str] | None = None,
    *,
    cwd: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path | None:
    """The configuration file to use, or None when there is none.

    A file named with ``--config`` or ``$LISTARCHIVE_CONFIG`` must exist; the
    implicit ``./listarchive.toml`` is used only when it does.
    """
    environ = os.environ if environ is None else environ
    for named, source in ((explicit, "--config"), (environ.get(CONFIG_ENV), f"${CONFIG_ENV}")):
        if named:
            path = Path(check_path(str(named), source)).expanduser()
            if not path.is_file():
                raise ConfigError(f"configuration file {path} (from {source}) does not exist")
            return path
    for implicit in (Path(cwd or os.getcwd()) / DEFAULT_CONFIG_NAME, user_config_path(environ)):
        if implicit.is_file():
            return implicit
    return None


def user_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/listarchive/listarchive.toml``: the per-user file, any folder."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CONFIG_HOME") or str(Path("~/.config").expanduser())
    return Path(base) / "listarchive" / DEFAULT_CONFIG_NAME


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and check a ``listarchive.toml``; :class:`ConfigError` (or BadURL) when wrong."""
    import tomllib  # only when there is a file: its parser is a tenth of search's start-up

    path = Path(path).expanduser().absolute()
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror or err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {err.start + 1}); save it as UTF-8"
        ) from None

    _no_unknown_keys(data, _TOP_KEYS, str(path))
    folder = path.parent
    return Config(
        path=path,
        db=_path_option(data, "db", folder, str(path)),
        delay=_delay(data.get("delay"), f"{path}: delay"),
        timeout=_timeout(data.get("timeout"), f"{path}: timeout"),
        cookies=_path_option(data, "cookies", folder, str(path)),
        base_url=_base_url(data.get("base_url"), f"{path}: base_url"),
        groups=tuple(_groups(data.get("groups", []), path)),
    )


def _groups(value: Any, path: Path) -> list[GroupSpec]:
    if not isinstance(value, list):
        raise ConfigError(f"{path}: groups must be a list of URLs or [[groups]] tables")
    targets = []
    for n, entry in enumerate(value, start=1):
        where = f"{path}: group {n}"
        if isinstance(entry, str):
            entry = {"url": entry}
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a URL or a table with url = \"...\"")
        _no_unknown_keys(entry, _GROUP_KEYS, where)
        url = _string(entry.get("url"), f"{where}: url")
        if not url:
            raise ConfigError(f"{where}: url is missing")
        full = entry.get("full", False)
        if not isinstance(full, bool):
            raise ConfigError(f"{where}: full must be true or false, not {full!r}")
        from scraper.urls import parse_url  # the data model: not for commands without groups

        try:
            ref = parse_url(url)
        except BadURL as err:
            raise BadURL(f"{where}: {err}") from None
        targets.append(GroupSpec(ref, full=full, delay=_delay(entry.get("delay"),
                                                                 f"{where}: delay")))
    return targets


def _no_unknown_keys(table: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown option {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )


def _string(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, not {value!r}")
    return value


def _delay(value: Any, where: str) -> float | None:
    return _seconds(value, where, check_delay)


def _timeout(value: Any, where: str) -> float | None:
    return _seconds(value, where, check_timeout)


def _seconds(value: Any, where: str, check: Callable[[float], float]) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where} must be a number of seconds, not {value!r}")
    try:
        return check(float(value))
    except ValueError as err:
        raise ConfigError(f"{where} {err}") from None


def _base_url(value: Any, where: str) -> str | None:
    text = _string(value, where)
    if text is None:
        return None
    try:
        return check_base_url(text)
    except BadURL as err:
        raise ConfigError(f"{where}: {err}") from None


def _path_option(data: dict[str, Any], key: str, folder: Path, where: str) -> str | None:
    value = _string(data.get(key), f"{where}: {key}")
    if not value:
        return None
    check_path(value, f"{where}: {key}")
    return str(folder / Path(value).expanduser())


# --- one check per kind of value, for the command line and the file alike -------------


def check_delay(seconds: float) -> float:
    """Seconds between requests: a finite number from 0 to a day. ValueError otherwise."""
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_DELAY:
        raise ValueError(
            f"must be a number of seconds from 0 to {MAX_DELAY:g}, not {seconds!r}"
        )
    return seconds


def check_timeout(seconds: float) -> float:
    """Seconds one request may take, start to last byte: finite, above 0, at most a day."""
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_DELAY:
        raise ValueError(
            f"must be a number of seconds above 0 and up to {MAX_DELAY:g}, not {seconds!r}"
        )
    return seconds


def check_base_url(url: str) -> str:
    """``http(s)://host[:port]``; :class:`BadURL` (one line) for anything else."""
    try:
        parts = urlsplit(url.strip())
        host, _ = parts.hostname, parts.port
    except ValueError as err:
        raise BadURL(f"base URL {url!r} is not a URL ({err})") from None
    if parts.scheme not in ("http", "https") or not host:
        raise BadURL(f"base URL must look like https://host[:port], not {url!r}")
    return url.strip().rstrip("/")


def check_path(value: str, where: str) -> str:
    """A file name the system can take: :class:`ConfigError` naming ``where`` for a NUL."""
    if "\0" in value:
        raise ConfigError(f"{where}: a file name cannot contain a NUL character")
    return value


# --- one precedence for every setting ---------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """What a command uses, each value with where it came from (for help and errors)."""

    config: Config | None
    db: str
    db_source: str
    base_url: str
    delay: float
    cookies: str | None
    # None: the fetcher's own default (scraper.http.DEFAULT_DEADLINE).
    timeout: float | None = None


def _first(*candidates: tuple[Any, str]) -> tuple[Any, str]:
    """The first candidate whose value is set: flag, env, config file, default, in order."""
    for value, source in candidates:
        if value is not None and value != "":
            return value, source
    return candidates[-1]


def resolve_settings(
    *,
    config_file: str | None = None,
    db: str | None = None,
    base_url: str | None = None,
    delay: float | None = None,
    cookies: str | None = None,
    timeout: float | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> Settings:
    """Every setting by one precedence: flag, else environment, else config, else default.

    Flags not given on the command line are passed as None. A configuration file is
    read only when found (see :func:`find_config`).
    """
    environ = os.environ if environ is None else environ
    path = find_config(config_file, cwd=cwd, environ=environ)
    config = load_config(path) if path is not None else None
    from_file = f"db in {config.path}" if config else ""
    db_value, db_source = _first(
        (db, "--db"),
        (environ.get(DB_ENV), f"${DB_ENV}"),
        (config.db if config else None, from_file),
        (DEFAULT_DB, "default"),
    )
    url, url_source = _first(
        (base_url, "--base-url"),
        (environ.get(BASE_URL_ENV), f"${BASE_URL_ENV}"),
        (config.base_url if config else None, "config"),
        (DEFAULT_BASE_URL, "default"),
    )
    try:
        url = check_base_url(url)
    except BadURL as err:
        raise BadURL(f"{url_source}: {err}") from None
    chosen_delay, _ = _first(
        (delay, "--delay"), (config.delay if config else None, "config"), (DEFAULT_DELAY, "")
    )
    chosen_cookies, _ = _first(
        (cookies, "--cookies"), (config.cookies if config else None, "config"), (None, "")
    )
    chosen_timeout, _ = _first(
        (timeout, "--timeout"), (config.timeout if config else None, "config"), (None, "")
    )
    check_path(db_value, db_source)
    return Settings(
        config=config,
        db=db_value,
        db_source=db_source,
        base_url=url,
        delay=float(chosen_delay),
        cookies=chosen_cookies,
        timeout=chosen_timeout,
    )


def settings(
    config_file: str | None,
    db_path: str | None = None,
    *,
    base_url: str | None = None,
    delay: float | None = None,
    timeout: float | None = None,
    cookies: str | None = None,
) -> Settings:
    """A command's settings from its own flags (``--config``, ``--db``, and for commands
    that fetch ``--base-url``, ``--delay``, ``--timeout``, ``--cookies``), each None when
    not given: :func:`resolve_settings` with the environment and the working folder of
    this process.
    """
    return resolve_settings(
        config_file=config_file, db=db_path, base_url=base_url, delay=delay,
        timeout=timeout, cookies=cookies,
    )


def describe_archive(environ: Mapping[str, str] | None = None) -> str:
    """Where the archive is from here, and why: for ``listarchive --help``."""
    try:
        settings = resolve_settings(environ=environ)
    except ListarchiveError as err:
        return f"cannot tell: {err}"
    where = Path(settings.db).expanduser().absolute()
    source = "the default" if settings.db_source == "default" else settings.db_source
    return f"{where} (from {source})"
