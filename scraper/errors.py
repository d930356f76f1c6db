"""Every failure a user can meet, each with a one-line message and its own exit code.

The exit codes live here, next to the exceptions, so the CLI maps an error to a
code without a table of its own, and scripts can tell failures apart.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3  # some groups synced, some failed
EXIT_BAD_URL = 4
EXIT_NETWORK = 5
EXIT_ACCESS = 6  # private group, sign-in required, consent page
EXIT_NOT_FOUND = 7
EXIT_LAYOUT_CHANGED = 8
EXIT_RATE_LIMITED = 9
EXIT_LOCKED = 10  # another run holds the archive
EXIT_DATABASE = 11  # corrupt or unreadable archive
EXIT_BAD_QUERY = 12
EXIT_DISK_FULL = 13  # no space left on the disk (or quota) holding the archive
EXIT_INTERRUPTED = 130


class ListarchiveError(Exception):
    """Base class: ``str(err)`` is a complete one-line message for the user."""

    exit_code = EXIT_ERROR


class BadURL(ListarchiveError, ValueError):
    exit_code = EXIT_BAD_URL


class FetchError(ListarchiveError):
    """Something went wrong between us and the server. ``url`` is what was asked for."""

    exit_code = EXIT_NETWORK

    def __init__(self, message: str, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class NetworkError(FetchError):
    """The host could not be reached, or kept failing past the retry budget."""


class AccessDenied(FetchError):
    """The group is private (redirect to /access-error, or the permission text)."""

    exit_code = EXIT_ACCESS


class SignInRequired(AccessDenied):
    """Redirected to accounts.google.com: the group needs a member's login (or it expired)."""


class ConsentRequired(AccessDenied):
    """Google served its cookie-consent page instead of the content."""


class RedirectedAway(FetchError):
    """A page redirected to a host that is not Google Groups; ``target`` is where."""

    def __init__(self, message: str, url: str | None = None, target: str = "") -> None:
        super().__init__(message, url)
        self.target = target


class ResponseTooLarge(FetchError):
    """The reply was bigger than the fetcher's limit once decompressed (a gzip bomb)."""


class DeadlineExceeded(NetworkError):
    """The reply took longer than the fetcher's overall limit per request to arrive."""


class NotFound(FetchError):
    exit_code = EXIT_NOT_FOUND


class ThreadGone(NotFound):
    """A thread's URL redirected away from the thread (to the group page, or elsewhere):
    the thread was deleted upstream. One gone thread, not a changed layout."""


class RpcError(FetchError):
    """A batchexecute call came back with an error entry instead of its payload."""


class RateLimited(FetchError):
    """Still answered 429 after the whole retry budget was spent."""

    exit_code = EXIT_RATE_LIMITED


class LayoutChanged(ListarchiveError):
    """Neither the embedded JSON nor the DOM yielded the data: Google changed its pages.

    ``saved_to`` is where the offending page was written, for a bug report.
    """

    exit_code = EXIT_LAYOUT_CHANGED

    def __init__(self, message: str, url: str | None = None, saved_to: str | None = None):
        super().__init__(message)
        self.url = url
        self.saved_to = saved_to


class ParserBug(LayoutChanged):
    """Our own reading of a page failed (an IndexError, a KeyError... in listarchive's
    code), so it is a bug to report, whatever Google did or did not change.

    Sync treats it as a layout change of one page (the page is saved, the thread is
    skipped); alone it exits 1, the code of a bug, not 8.
    """

    exit_code = EXIT_ERROR


class ArchiveLocked(ListarchiveError):
    exit_code = EXIT_LOCKED


class ArchiveError(ListarchiveError):
    """The archive file is corrupt, not an archive, or from a newer listarchive."""

    exit_code = EXIT_DATABASE


class DiskFull(ArchiveError):
    """The disk (or the user's quota) is full: nothing more could be written."""

    exit_code = EXIT_DISK_FULL

    @classmethod
    def writing(cls, path: object) -> DiskFull:
        """The one-line error for a full disk while writing ``path``."""
        return cls(
            f"no space left to write {path}: the disk (or your quota) is full; free some "
            f"space and run again (everything saved before now is kept)"
        )


class ConfigError(ListarchiveError):
    """The configuration file is missing, unreadable or not what listarchive expects."""

    exit_code = EXIT_USAGE


class Interrupted(ListarchiveError):
    """The run was asked to stop (Ctrl-C, SIGTERM) and stopped between threads."""

    exit_code = EXIT_INTERRUPTED


class BadQuery(ListarchiveError, ValueError):
    """The user's query text is wrong; only the query parser (and the options it reads)
    says so, each time with what is wrong."""

    exit_code = EXIT_BAD_QUERY


class SearchBug(ListarchiveError):
    """listarchive's own SQL failed while searching: a bug to report, never the user's
    bad query (whatever the user types compiles to valid SQL, or is a BadQuery)."""

    exit_code = EXIT_ERROR

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"{detail} (a bug in listarchive, not in your query: please report it, "
            "with the query)"
        )


class BadOption(BadQuery):
    """An option's value is wrong (``--since 2024-13-01``): a usage error, as click's are."""

    exit_code = EXIT_USAGE


class UnknownGroup(BadQuery):
    """No archived group matches what was named, in a query, ``--group`` or a THREAD."""

    exit_code = EXIT_NOT_FOUND
