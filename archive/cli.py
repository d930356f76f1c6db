"""Command-line wiring only: options, help text, and turning errors into exit codes.

The work itself is done by plain functions in the other ``archive`` modules,
which tests call directly.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable

import click

from archive import __version__
from archive.config import check_delay, check_timeout, describe_archive, settings
from scraper.errors import EXIT_ERROR, ListarchiveError

# Options take at most this many items or seconds' worth: beyond it is a typo, and
# SQLite cannot take an integer past 2**63 at all.
MAX_COUNT = 10**9


class ListarchiveGroup(click.Group):
    """Turns any :class:`ListarchiveError` into a one-line message and its exit code.

    Anything else that escapes a command is a bug: one line too, exit 1, and the
    traceback only with ``LISTARCHIVE_DEBUG=1``.
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ListarchiveError as err:
            from archive.render import inert

            # Errors quote what the user or a server wrote: one inert line.
            click.echo(f"Error: {inert(str(err))}", err=True)
            sys.exit(err.exit_code)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as err:
            if os.environ.get("LISTARCHIVE_DEBUG"):
                raise
            text = " ".join(str(err).split())[:300]
            click.echo(
                f"Error: unexpected {type(err).__name__}: {text} (a bug in listarchive; "
                "run again with LISTARCHIVE_DEBUG=1 for the details to report)",
                err=True,
            )
            sys.exit(EXIT_ERROR)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        if ctx.parent is None:
            # Written unwrapped: a path cut at a hyphen cannot be copied.
            formatter.write_paragraph()
            formatter.write(f"Archive: {describe_archive()}\n")


class ArgumentCommand(click.Command):
    """A command whose argument may start with ``-``: an unknown option says how to pass it."""

    def __init__(self, *args, dash_hint: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.dash_hint = dash_hint

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)  # parsing consumes the list
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as err:
            # "-draft" reaches click as the short option "-d": name the whole word.
            word = next(
                (a for a in given if a.startswith(err.option_name) and not a.startswith("--")),
                err.option_name,
            )
            words = " ".join(a for a in given if not a.startswith("--"))
            hint = self.dash_hint.format(option=word, words=shlex.quote(words))
            raise click.UsageError(f"No such option: {word}. {hint}", ctx) from None


class Seconds(click.ParamType):
    """A number of seconds, checked by ``check`` (``archive.config``'s ``check_delay`` or
    ``check_timeout``: ``inf`` or ``nan`` is a typo)."""

    name = "seconds"

    def __init__(self, check: Callable[[float], float]) -> None:
        self.check = check

    def convert(self, value, param, ctx):
        try:
            return self.check(float(value))
        except ValueError as err:
            self.fail(f"{value!r}: {err}" if "must be" in str(err) else f"{value!r} is not a "
                      "number of seconds", param, ctx)


class FileName(click.Path):
    """A file name: no NUL (the system cannot take one), else as click.Path, whose
    permission checks are left to the command, which names the real cause."""

    def __init__(self, **kwargs) -> None:
        super().__init__(readable=False, **kwargs)

    def convert(self, value, param, ctx):
        if isinstance(value, str) and "\0" in value:
            self.fail("a file name cannot contain a NUL character", param, ctx)
        return super().convert(value, param, ctx)


COUNT = click.IntRange(min=0, max=MAX_COUNT)


def db_option(fn):
    """``--db PATH`` and ``--config FILE``: the command gets ``db_path`` and ``config_file``.

    Both are None when not given; :func:`archive.config.resolve_settings` decides.
    """
    fn = click.option(
        "--config",
        "config_file",
        type=FileName(dir_okay=False),
        metavar="FILE",
        help="Settings file [default: $LISTARCHIVE_CONFIG, else ./listarchive.toml, else "
        "~/.config/listarchive/listarchive.toml, if one exists].",
    )(fn)
    return click.option(
        "--db",
        "db_path",
        type=FileName(dir_okay=False),
        default=None,
        metavar="PATH",
        help="The archive file [default: $LISTARCHIVE_DB, else the config file's db, "
        "else ./listarchive.db].",
    )(fn)


# ``--group GROUP``, repeatable: the command gets ``groups``, a tuple.
groups_option = click.option(
    "--group",
    "groups",
    multiple=True,
    metavar="GROUP",
    help="Only messages posted to GROUP (address, name or URL); repeat for any of several.",
)


def fetch_options(fn):
    """``--base-url``, ``--delay``, ``--timeout`` and ``--cookies``: how to reach Google
    Groups.

    The command receives ``base_url``, ``delay``, ``timeout`` and ``cookies_file``, None
    when not given.
    """
    fn = click.option(
        "--timeout",
        type=Seconds(check_timeout),
        default=None,
        help="Give up on a request that takes more than this many seconds from start to "
        "last byte, however the server paces it [default: the config file's timeout, "
        "else 60].",
    )(fn)
    fn = click.option(
        "--cookies",
        "cookies_file",
        type=FileName(dir_okay=False),
        default=None,
        help="A Netscape cookies.txt (for groups that need a member's login).",
    )(fn)
    fn = click.option(
        "--delay",
        type=Seconds(check_delay),
        default=None,
        help="Minimum seconds between requests [default: the config file's delay, else 1].",
    )(fn)
    fn = click.option(
        "--base-url",
        default=None,
        metavar="URL",
        help="Where to fetch pages from (a stand-in server for tests) [default: "
        "$LISTARCHIVE_BASE_URL, else the config file's base_url, else "
        "https://groups.google.com].",
    )(fn)
    return fn


@click.group(cls=ListarchiveGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="listarchive")
def cli() -> None:
    """Keep a local, searchable, exportable archive of public Google Groups.

    Every command reads the same settings: its options, else $LISTARCHIVE_DB and
    $LISTARCHIVE_BASE_URL, else the configuration file (--config,
    $LISTARCHIVE_CONFIG, ./listarchive.toml, ~/.config/listarchive/listarchive.toml),
    else the defaults. The archive in use from here is shown below.

    \b
    Example:
        listarchive sync https://groups.google.com/a/kubernetes.io/g/dev
        listarchive search 'freeze from:jeremy after:30d'
    """


@cli.command("sync")
@click.argument("urls", nargs=-1, metavar="[URL]...")
@db_option
@click.option("--full", is_flag=True, help="Walk every topic page (backfill); still skips "
              "threads that have not changed.")
@fetch_options
@click.option("--quiet", "-q", is_flag=True, help="No progress bar, and no summary line for "
              "groups that synced fine; errors are still reported.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's summary as JSON on "
              "stdout, with the messages each group added and changed.")
@click.pass_context
def sync_command(
    ctx: click.Context,
    urls: tuple[str, ...],
    db_path: str | None,
    config_file: str | None,
    full: bool,
    base_url: str | None,
    delay: float | None,
    timeout: float | None,
    cookies_file: str | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Archive groups, fetching only what changed since the last run.

    URL is a group (any form Google has used, a name or an address) or a
    thread, which syncs just that thread. Without URLs the groups come from the
    configuration file (listarchive.toml), so a scheduled run needs no arguments.

    Topics are read newest activity first; a run stops after 10 unchanged topics
    in a row once a group has been walked to its end, so a run with nothing new
    costs one request per group. Each thread is saved in its own transaction:
    Ctrl-C (or SIGTERM) finishes the current thread and exits 130, and the next
    run carries on. A second sync on the same archive exits 10 at once.

    Exit codes: 0 all synced; 3 some groups failed (the others synced); a single
    failed group gives its error's code (5 network, 6 private, 8 layout changed,
    9 rate limited); 2 usage error.

    \b
    Example:
        listarchive sync https://groups.google.com/g/golang-announce
        listarchive sync dev@kubernetes.io --db k8s.db --delay 2
        listarchive sync --config ~/listarchive.toml --quiet --json
    """
    import logging
    import signal
    import threading

    from archive.progress import TerminalProgress
    from archive.render import write_chunks
    from archive.report import changes_json_chunks
    from archive.sync import (
        SyncTarget,
        interruptible_sleep,
        sync_groups,
        targets_from_urls,
    )
    from scraper.http import Fetcher

    chosen = settings(
        config_file, db_path, base_url=base_url, delay=delay, timeout=timeout,
        cookies=cookies_file,
    )
    config = chosen.config
    if urls:
        targets = targets_from_urls(urls)
    elif config is not None and config.groups:
        targets = [SyncTarget(g.ref, full=g.full, delay=g.delay) for g in config.groups]
    elif config is not None:
        raise click.UsageError(f"no URL given and no groups listed in {config.path}")
    else:
        raise click.UsageError(
            "no URL given and no listarchive.toml found: name a group, e.g. "
            "listarchive sync https://groups.google.com/g/golang-announce"
        )

    # Warnings (retries, truncated threads) reach stderr through logging's last-resort
    # handler; --quiet keeps them back for the length of the run.
    logger = logging.getLogger("listarchive")
    level_before = logger.level
    if quiet:
        logger.setLevel(logging.ERROR)

    stop = threading.Event()

    def request_stop(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        click.echo(
            "\nStopping after the current thread (press Ctrl-C again to stop at once)...",
            err=True,
        )

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    progress = TerminalProgress(bar=not quiet and sys.stderr.isatty(), summaries=not quiet)
    try:
        with Fetcher(
            base_url=chosen.base_url,
            delay=chosen.delay,
            cookies_file=chosen.cookies,
            deadline=chosen.timeout,
            sleep=interruptible_sleep(stop),
        ) as fetcher:
            summary = sync_groups(
                chosen.db, targets, fetcher=fetcher, full=full, progress=progress,
                stop_event=stop,
            )  # fmt: skip
    except KeyboardInterrupt:
        click.echo("Interrupted: every thread saved before now is kept.", err=True)
        ctx.exit(130)
    finally:
        logger.setLevel(level_before)
        for sig, handler_before in previous.items():
            signal.signal(sig, handler_before)
    if as_json:
        write_chunks(sys.stdout, changes_json_chunks(chosen.db, summary.to_dict()))
    if summary.interrupted:
        click.echo("Interrupted: every thread saved before now is kept; run sync again to "
                   "carry on.", err=True)
    ctx.exit(summary.exit_code)


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...", type=click.Path())
@db_option
@click.option(
    "--group",
    metavar="ADDRESS",
    help="The list (e.g. linux-i2c@vger.kernel.org) for messages whose headers name none "
    "(no List-Post, List-Id or Mailing-list).",
)
def import_command(
    paths: tuple[str, ...], db_path: str | None, config_file: str | None, group: str | None
) -> None:
    """Import mail: mbox (mboxo or mboxrd, also .gz, .xz or .bz2), Maildir, a Google
    Takeout Groups export, or Mailman pipermail monthly .txt(.gz) archives.

    A directory is walked. Each message joins the list its headers name; a message
    already archived (same Message-ID) is left as it is, so importing again changes
    nothing. A message that cannot be read is named and skipped. Exits 3 when some
    were skipped, 2 when some named no list and --group was not given.

    \b
    Example:
        listarchive import linux-i2c.mbox.xz
        listarchive import takeout-20240101/Takeout/Groups
        listarchive import 2024-March.txt.gz --group mylist@lists.example.org
    """
    import time

    from archive.db import MAIL_PAGE_SIZE, Archive
    from archive.mail_import import MissingGroup, import_mail
    from scraper.errors import EXIT_PARTIAL

    started = time.monotonic()

    def rejected(where: str, reason: str) -> None:
        click.echo(f"skipped {_printable(where)}: {_printable(reason)}", err=True)

    def progress(summary) -> None:
        rate = summary.read / max(time.monotonic() - started, 1e-9)
        click.echo(f"read {summary.read:,} messages ({rate:,.0f}/s)", err=True)

    with Archive(settings(config_file, db_path).db, page_size=MAIL_PAGE_SIZE) as archive:
        summary = import_mail(
            archive, paths, group=group, on_reject=rejected, on_progress=progress
        )
    click.echo(summary.line())
    if summary.no_group and group is None:
        raise MissingGroup(
            f"{summary.no_group:,} messages name no list (no List-Post, List-Id or "
            "Mailing-list header): give --group ADDRESS to import them"
        )
    if summary.rejected:
        sys.exit(EXIT_PARTIAL)


def _printable(text: str) -> str:
    # File names and reasons come from the mail: the one rule for text on a terminal.
    from archive.render import inert

    return inert(text)


@cli.group("groups", cls=ListarchiveGroup, invoke_without_command=True)
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@click.pass_context
def groups_command(
    ctx: click.Context, db_path: str | None, config_file: str | None, as_json: bool
) -> None:
    """List the archived groups: threads, messages, and when each was last synced.

    \b
    Example:
        listarchive groups
        listarchive groups --json | jq '.[].key'
        listarchive groups remove golang-nuts
    """
    import json

    from archive.db import Archive
    from archive.report import format_groups

    if ctx.invoked_subcommand is not None:
        ctx.obj = (db_path, config_file)
        return
    with Archive(settings(config_file, db_path).db, create=False, readonly=True) as archive:
        rows = archive.list_groups()
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        click.echo(format_groups(rows))


@groups_command.command("remove")
@click.argument("group")
@db_option
@click.pass_context
def groups_remove_command(
    ctx: click.Context, group: str, db_path: str | None, config_file: str | None
) -> None:
    """Forget GROUP: its threads, its postings, and the messages no other group has.

    A message cross-posted to another archived group stays, with that group's
    posting. Runs stay in the history. Refused (exit 10) while a sync runs.

    \b
    Example:
        listarchive groups remove golang-nuts
        listarchive groups remove https://groups.google.com/g/golang-nuts --db lists.db
    """
    from archive.report import remove_group

    outer_db, outer_config = ctx.obj or (None, None)
    chosen = settings(config_file or outer_config, db_path or outer_db)
    removed = remove_group(chosen.db, group)
    click.echo(
        f"Removed {removed.group}: {removed.threads} threads, {removed.postings} postings, "
        f"{removed.messages} messages no other group has "
        f"({removed.postings - removed.messages} kept for other groups)",
        err=True,
    )


@cli.command("runs")
@db_option
@click.option("--limit", "-n", type=click.IntRange(min=1, max=MAX_COUNT), default=20,
              show_default=True, help="How many runs to show, most recent first.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
def runs_command(db_path: str | None, config_file: str | None, limit: int, as_json: bool) -> None:
    """List recent sync runs: when, how they ended, what they fetched and stored.

    Status is ok, partial (some groups failed), failed, interrupted, or running.
    A run that was killed shows as interrupted, with the messages it saved.

    \b
    Example:
        listarchive runs
        listarchive runs -n 5 --json | jq '.[0].errors'
    """
    import json

    from archive.report import format_runs, list_runs

    rows = list_runs(settings(config_file, db_path).db, limit)
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        click.echo(format_runs(rows))


@cli.command("stats")
@db_option
@click.option("--top", type=click.IntRange(min=1, max=MAX_COUNT), default=10,
              show_default=True, help="How many top posters to list.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object instead of tables.")
def stats_command(db_path: str | None, config_file: str | None, top: int, as_json: bool) -> None:
    """Summarise the archive: messages per group and month, top posters, first and
    last dates.

    \b
    Example:
        listarchive stats
        listarchive stats --json | jq '.groups[] | {group, messages, first, last}'
    """
    import json

    from archive.db import Archive
    from archive.report import format_stats

    with Archive(settings(config_file, db_path).db, create=False, readonly=True) as archive:
        stats = archive.stats(top=top)
    if as_json:
        click.echo(json.dumps(stats, indent=2, ensure_ascii=False))
    else:
        click.echo(format_stats(stats), nl=False)


@cli.command(
    "search",
    cls=ArgumentCommand,
    dash_hint="To exclude a word, quote the whole query: listarchive search {words} "
    "(or put -- before a query that starts with -).",
)
@click.argument("query", nargs=-1)
@db_option
@groups_option
@click.option(
    "--from",
    "authors",
    multiple=True,
    metavar="AUTHOR",
    help="Only messages by AUTHOR (name or masked address); repeat for any of several.",
)
@click.option("--since", metavar="DATE", help="On or after DATE: 2024-03-01, or 7d, 2w, 3m, 1y.")
@click.option("--until", metavar="DATE", help="Up to and including DATE, or up to 7d, 2w... ago.")
@click.option(
    "--sort",
    type=click.Choice(["rank", "date"]),
    default="rank",
    show_default=True,
    help="Best matches first, or newest first.",
)
@click.option("--reverse", is_flag=True, help="With --sort date: oldest first.")
@click.option("--limit", type=COUNT, default=20, show_default=True, help="0 for no limit.")
@click.option("--offset", type=COUNT, default=0, help="Skip this many results.")
@click.option(
    "--exact-rank",
    is_flag=True,
    help="Rank every match. Without it, words found in more than 25,000 messages rank "
    "only the 25,000 most recent matches, to answer quickly.",
)
@click.option("--threads", is_flag=True, help="One line per thread, with its number of hits.")
@click.option("--json", "output", flag_value="json", help="A JSON array.")
@click.option("--nl", "output", flag_value="nl", help="One JSON object per line.")
@click.option("--csv", "output", flag_value="csv", help="CSV with a header row.")
def search_command(
    query: tuple[str, ...],
    db_path: str | None,
    config_file: str | None,
    groups: tuple[str, ...],
    authors: tuple[str, ...],
    since: str | None,
    until: str | None,
    sort: str,
    reverse: bool,
    limit: int,
    offset: int,
    exact_rank: bool,
    threads: bool,
    output: str | None,
) -> None:
    """Search the archive.

    QUERY words must all match; also "exact phrases", OR, -word or NOT word,
    prefix*, (grouping), from:NAME, subject:WORD, group:NAME, and after:, before:,
    on: with a date (2024-03-01) or a span ago (7d, 2w, 3m, 1y); after:last-sync
    is what the last sync run added. Identifiers such
    as CVE-2024-3177 or v1.30.2 match only exactly. Quote the whole query for the
    shell; put -- before a query that starts with -.

    \b
    Example:
        listarchive search 'CVE-2024-3177'
        listarchive search '"code freeze" from:jeremy after:30d' --sort date
        listarchive search 'group:dev after:2024-01-01' --sort date --reverse
        listarchive search release --group dev@kubernetes.io --json | jq '.[].url'
    """
    from archive.render import print_results

    if reverse and sort != "date":
        raise click.UsageError("--reverse lists oldest first: use it with --sort date")
    print_results(
        " ".join(query),
        db_path=settings(config_file, db_path).db,
        groups=groups,
        authors=authors,
        since=since,
        until=until,
        sort=sort,
        reverse=reverse,
        limit=limit or None,
        offset=offset,
        threads=threads,
        output=output,
        exact=exact_rank,
    )


@cli.command("inspect")
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document instead of text.")
@fetch_options
@click.option("--config", "config_file", type=FileName(dir_okay=False), metavar="FILE",
              help="Settings file (its base_url, delay and cookies), as for sync.")
def inspect_command(
    url: str,
    as_json: bool,
    base_url: str | None,
    delay: float | None,
    timeout: float | None,
    cookies_file: str | None,
    config_file: str | None,
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
    from archive.render import format_inspection, inspection_json
    from scraper.inspect import inspect_url

    chosen = settings(config_file, base_url=base_url, delay=delay, timeout=timeout,
                      cookies=cookies_file)
    result = inspect_url(
        url, base_url=chosen.base_url, delay=chosen.delay, cookies_file=chosen.cookies,
        timeout=chosen.timeout,
    )
    if as_json:
        click.echo(inspection_json(result))
    else:
        click.echo(format_inspection(result))


@cli.command("feed")
@db_option
@groups_option
@click.option("--query", metavar="QUERY", help="Only messages matching QUERY (as in search).")
@click.option("--since", metavar="DATE", help="Posted on or after DATE: 2024-03-01, or 7d, 2w ago.")
@click.option("--limit", type=COUNT, default=50, show_default=True, help="0 for no limit.")
@click.option("--threads", is_flag=True, help="One entry per thread instead of per message.")
@click.option(
    "--out",
    type=FileName(dir_okay=False),
    help="Write the feed to FILE (replaced atomically; its folder is created) instead of "
    "stdout.",
)
@click.option(
    "--base-link",
    metavar="URL",
    help="Link entries to the Markdown export on a static site: URL + <name>.html, "
    "or put {stem} in URL (e.g. https://example.org/threads/{stem}/).",
)
@click.option(
    "--timezone",
    "site_zone",
    metavar="ZONE",
    help="The site's time zone (Jekyll's `timezone`, e.g. Asia/Tokyo): {year}, {month} "
    "and {day} in --base-link are the thread's start there, as Jekyll dates its URLs.",
)
@click.option("--title", help="The feed's title (default: the groups' titles and the query).")
@click.option("--self-link", metavar="URL", help="Where the feed itself will be published.")
def feed_command(
    db_path: str | None,
    config_file: str | None,
    groups: tuple[str, ...],
    query: str | None,
    since: str | None,
    limit: int,
    threads: bool,
    out: str | None,
    base_link: str | None,
    site_zone: str | None,
    title: str | None,
    self_link: str | None,
) -> None:
    """Write an Atom feed of the archive, newest first.

    One entry per message (or per thread with --threads), with stable ids: a
    reader shows each message once, however often the feed is rebuilt.

    \b
    Example:
        listarchive feed --group golang-announce --out golang-announce.xml
        listarchive feed --group golang-announce --query 'subject:"[security]"'
    """
    from archive.feed import publish_feed, site_timezone

    try:
        timezone = site_timezone(site_zone) if site_zone is not None else None
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--timezone") from None
    written = publish_feed(
        settings(config_file, db_path).db,
        out=out,
        stdout=None if out else sys.stdout.buffer,
        groups=groups,
        query=query,
        since=since,
        limit=limit,
        threads=threads,
        base_link=base_link,
        timezone=timezone,
        title=title,
        self_link=self_link,
    )
    if not written:
        click.echo("The feed has no entries: nothing in the archive matches.", err=True)
    if out:
        click.echo(f"Wrote {written} entries to {out}", err=True)


@cli.command(
    "show",
    cls=ArgumentCommand,
    dash_hint="A topic id that starts with - goes after --: listarchive show -- {option}",
)
@click.argument("thread")
@db_option
@click.option(
    "--group", metavar="GROUP", help="The group, when a topic id is archived in several."
)
@click.option("--quotes/--no-quotes", default=True, show_default=True,
              help="Show the lines a message quotes from earlier ones.")
@click.option("--json", "as_json", is_flag=True, help="The thread as JSON (as export writes).")
def show_command(
    thread: str,
    db_path: str | None,
    config_file: str | None,
    group: str | None,
    quotes: bool,
    as_json: bool,
) -> None:
    """Print an archived thread as text: its subject, then each message.

    On a terminal, long lines wrap at its width and a long thread opens in a pager
    ($PAGER, else less).

    THREAD is whatever search, --json and feed print: a topic id, a URL of the
    thread or of one of its messages (that message is marked), an id from
    search --json (message:N, thread:N) or a feed entry id. Put -- before a topic
    id that starts with -.

    \b
    Example:
        listarchive show https://groups.google.com/g/golang-announce/c/KWekwiRSa2I
        listarchive show KWekwiRSa2I --no-quotes
        listarchive show -- -x3KqMrn0aQ
        listarchive show KWekwiRSa2I --json | jq '.messages[].author'
    """
    import shutil

    from archive.db import Archive
    from archive.export import resolve_target
    from archive.render import show_json, show_text

    with Archive(settings(config_file, db_path).db, create=False, readonly=True) as archive:
        group_key, topic_id, marked = resolve_target(archive, thread, group=group)
        found = archive.get_thread(group_key, topic_id)
    if as_json:
        click.echo(show_json(found, quotes=quotes), nl=False)
        return
    terminal = sys.stdout.isatty()
    width = shutil.get_terminal_size().columns if terminal else None
    text = show_text(found, marked=marked, quotes=quotes, width=width)
    if terminal and text.count("\n") >= shutil.get_terminal_size().lines:
        click.echo_via_pager(text)
    else:
        click.echo(text, nl=False)


@cli.command(
    "export",
    cls=ArgumentCommand,
    dash_hint="A topic id that starts with - goes after --: listarchive export -- {option}",
)
@click.argument("threads", nargs=-1, metavar="[THREAD]...")
@db_option
@click.option(
    "--out",
    "out_dir",
    type=FileName(file_okay=False),
    metavar="DIR",
    help="Write one file per thread into DIR (created if missing), named "
    "YYYY-MM-DD-<slug>.md; exporting again rewrites only files that changed.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "json", "mbox"]),
    default="markdown",
    show_default=True,
    help="Markdown with front matter for Jekyll or Hugo, JSON with every field, or one "
    "mboxrd of every message for mail clients (stdout, or DIR/messages.mbox).",
)
@click.option("--first-only", is_flag=True, help="Only the opening message: the announcement.")
@click.option("--quotes", "keep_quotes", is_flag=True, help="Keep quoted earlier messages.")
@click.option("--group", metavar="GROUP", help="Threads of GROUP (address, name or URL).")
@click.option("--since", metavar="DATE", help="Threads started on or after DATE (or 7d, 2w ago).")
@click.option("--until", metavar="DATE", help="Threads started up to and including DATE.")
@click.option("--query", metavar="QUERY", help="Threads with a message matching QUERY.")
def export_command(
    threads: tuple[str, ...],
    db_path: str | None,
    config_file: str | None,
    out_dir: str | None,
    fmt: str,
    first_only: bool,
    keep_quotes: bool,
    group: str | None,
    since: str | None,
    until: str | None,
    query: str | None,
) -> None:
    """Export threads as Markdown (Jekyll/Hugo posts) or JSON.

    THREAD is as for show: a topic id, a thread or message URL, an id from
    search --json or a feed entry id (-- before one that starts with -). Without
    THREAD, --group, --since, --until and --query select threads from the archive;
    with THREAD they narrow the list. One thread goes to stdout unless --out is
    given; several need --out (or --format json, which writes one JSON array).

    \b
    Example:
        listarchive export https://groups.google.com/g/golang-announce/c/KWekwiRSa2I
        listarchive export --group golang-announce --since 30d --first-only --out _posts
        listarchive export --query 'subject:"[security]"' --format json > security.json
        listarchive export --group linux-i2c@vger.kernel.org --format mbox > i2c.mbox
    """
    from archive.db import Archive
    from archive.export import export_threads, select_threads

    if not threads and not any(v is not None for v in (group, since, until, query)):
        raise click.UsageError(
            "give THREAD ids or URLs, or select with --group, --since, --until or --query"
        )
    with Archive(settings(config_file, db_path).db, create=False, readonly=True) as archive:
        selection = select_threads(
            archive, threads, group=group, since=since, until=until, query=query
        )
        if not selection:
            click.echo("No threads match.", err=True)
            if fmt == "json" and out_dir is None:
                click.echo("[]")  # still a JSON document for whatever reads it
            return
        if fmt == "mbox":
            from archive.mbox import export_mbox

            count, path = export_mbox(archive, selection, out_dir)
            click.echo(f"Exported {count} messages" + (f" to {path}" if path else ""), err=True)
            return
        if out_dir is None and fmt == "markdown" and len(selection) > 1:
            raise click.UsageError(
                f"{len(selection)} threads match: give --out DIR for one file each "
                "(or --format json for one JSON array on stdout)"
            )
        written = export_threads(
            archive,
            selection,
            out_dir,
            fmt,
            first_only=first_only,
            keep_quotes=keep_quotes,
            log=lambda line: click.echo(line, err=True),
        )
    for path in written:
        click.echo(str(path))


@cli.command("serve")
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8001, show_default=True, help="Port."
)
def serve_command(db_path: str | None, config_file: str | None, host: str, port: int) -> None:
    """Browse the archive in Datasette, read-only: search, facets, threads, bodies.

    Needs the web extra: pip install 'listarchive[web]'.

    \b
    Example:
        listarchive serve --db listarchive.db --port 8001
        # then open http://127.0.0.1:8001/listarchive/posts
    """

    try:
        from archive.serve import serve
    except ImportError as err:
        raise ListarchiveError(
            f"serve needs Datasette ({err.name} is missing): pip install 'listarchive[web]'"
        ) from None
    serve(settings(config_file, db_path).db, host=host, port=port)
