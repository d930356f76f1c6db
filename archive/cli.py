"""Command-line wiring only: options, help text, and turning errors into exit codes.

The work itself is done by plain functions in the other ``archive`` modules,
which tests call directly.
"""

from __future__ import annotations

import os
import sys

import click

from archive import __version__
from scraper.errors import ListarchiveError


class ListarchiveGroup(click.Group):
    """Turns any :class:`ListarchiveError` into a one-line message and its exit code."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ListarchiveError as err:
            click.echo(f"Error: {err}", err=True)
            sys.exit(err.exit_code)


def db_option(fn):
    """``--db PATH``, defaulting to ``$LISTARCHIVE_DB`` or ``./listarchive.db``."""
    return click.option(
        "--db",
        "db_path",
        type=click.Path(dir_okay=False),
        default=lambda: os.environ.get("LISTARCHIVE_DB", "listarchive.db"),
        show_default="$LISTARCHIVE_DB or ./listarchive.db",
        help="The archive file.",
    )(fn)


def fetch_options(fn):
    """``--base-url``, ``--delay`` and ``--cookies``: how to reach Google Groups.

    The command receives ``base_url``, ``delay`` and ``cookies_file``.
    """
    fn = click.option(
        "--cookies",
        "cookies_file",
        type=click.Path(dir_okay=False),
        default=None,
        help="A Netscape cookies.txt (for groups that need a member's login).",
    )(fn)
    fn = click.option(
        "--delay",
        type=click.FloatRange(min=0),
        default=1.0,
        show_default=True,
        help="Minimum seconds between requests.",
    )(fn)
    fn = click.option(
        "--base-url",
        envvar="LISTARCHIVE_BASE_URL",
        default="https://groups.google.com",
        show_default=True,
        metavar="URL",
        help="Where to fetch pages from (a stand-in server for tests); "
        "env LISTARCHIVE_BASE_URL.",
    )(fn)
    return fn


@click.group(cls=ListarchiveGroup)
@click.version_option(__version__, prog_name="listarchive")
def cli() -> None:
    """Keep a local, searchable, exportable archive of public Google Groups.

    \b
    Example:
        listarchive sync https://groups.google.com/a/kubernetes.io/g/dev
        listarchive search 'freeze from:jeremy after:30d'
    """


@cli.command("inspect")
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document instead of text.")
@fetch_options
def inspect_command(
    url: str, as_json: bool, base_url: str, delay: float, cookies_file: str | None
) -> None:
    """Fetch one group page or thread, show what was parsed; store nothing.

    URL is a group (first page of topics only) or a thread, in any form Google
    has used. The report says which layer produced the data: the JSON embedded
    in the page, or the HTML (DOM) fallback.

    \b
    Example:
        listarchive inspect https://groups.google.com/g/golang-announce
        listarchive inspect --json https://groups.google.com/g/golang-announce/c/KWekwiRSa2I
    """
    import json

    from archive.inspect import format_inspection, inspect_url

    result = inspect_url(url, base_url=base_url, delay=delay, cookies_file=cookies_file)
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        click.echo(format_inspection(result))
