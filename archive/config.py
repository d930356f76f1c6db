"""``listarchive.toml``: which groups to sync and how, so a scheduled run needs no arguments.

    db = "~/archives/lists.db"        # optional; default ./listarchive.db
    delay = 2.0                       # optional; seconds between requests
    cookies = "cookies.txt"           # optional; a Netscape cookies.txt
    base_url = "https://groups.google.com"   # optional

    groups = [                        # URLs, names or addresses, and/or inline tables
      "golang-announce",              # with per-group options
      { url = "https://groups.google.com/a/kubernetes.io/g/dev", full = true, delay = 5.0 },
    ]

An array of tables (``[[groups]]`` with ``url``, ``full``, ``delay``) does the same;
TOML does not allow both forms in one file.

Relative paths are relative to the file's folder. Which file is used:
``--config FILE``, else ``$LISTARCHIVE_CONFIG``, else ``./listarchive.toml`` if it exists.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archive.sync import SyncTarget
from scraper.errors import EXIT_USAGE, BadURL, ListarchiveError
from scraper.urls import parse_url

__all__ = ["Config", "ConfigError", "DEFAULT_CONFIG_NAME", "find_config", "load_config"]

DEFAULT_CONFIG_NAME = "listarchive.toml"
CONFIG_ENV = "LISTARCHIVE_CONFIG"

_TOP_KEYS = {"db", "delay", "cookies", "base_url", "groups"}
_GROUP_KEYS = {"url", "full", "delay"}


class ConfigError(ListarchiveError):
    """The configuration file is missing, unreadable or not what listarchive expects."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True)
class Config:
    """A loaded configuration; paths are absolute, unset options are None."""

    path: Path
    db: str | None = None
    delay: float | None = None
    cookies: str | None = None
    base_url: str | None = None
    groups: tuple[SyncTarget, ...] = ()


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
            path = Path(named).expanduser()
            if not path.is_file():
                raise ConfigError(f"configuration file {path} (from {source}) does not exist")
            return path
    implicit = Path(cwd or os.getcwd()) / DEFAULT_CONFIG_NAME
    return implicit if implicit.is_file() else None


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and check a ``listarchive.toml``; :class:`ConfigError` (or BadURL) when wrong."""
    path = Path(path).expanduser().absolute()
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror or err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from None

    _no_unknown_keys(data, _TOP_KEYS, str(path))
    folder = path.parent
    return Config(
        path=path,
        db=_path_option(data, "db", folder, str(path)),
        delay=_delay(data.get("delay"), f"{path}: delay"),
        cookies=_path_option(data, "cookies", folder, str(path)),
        base_url=_string(data.get("base_url"), f"{path}: base_url"),
        groups=tuple(_groups(data.get("groups", []), path)),
    )


def _groups(value: Any, path: Path) -> list[SyncTarget]:
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
        try:
            ref = parse_url(url)
        except BadURL as err:
            raise BadURL(f"{where}: {err}") from None
        targets.append(SyncTarget(ref, full=full, delay=_delay(entry.get("delay"),
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
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where} must be a number of seconds >= 0, not {value!r}")
    return float(value)


def _path_option(data: dict[str, Any], key: str, folder: Path, where: str) -> str | None:
    value = _string(data.get(key), f"{where}: {key}")
    if not value:
        return None
    return str(folder / Path(value).expanduser())
