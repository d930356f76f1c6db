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


@click.group(cls=ListarchiveGroup)
@click.version_option(__version__, prog_name="listarchive")
def cli() -> None:
    """Keep a local, searchable, exportable archive of public Google Groups.

    \b
    Example:
        listarchive sync https://groups.google.com/a/kubernetes.io/g/dev
        listarchive search 'freeze from:jeremy after:30d'
    """
