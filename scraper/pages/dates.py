"""Timestamps from Google Groups pages.

The embedded JSON carries epoch seconds (plus nanoseconds): exact, and the only source worth
trusting. Visible dates are the last resort. They are rendered in the *viewer's* timezone,
which a plain HTTP client cannot know, so :func:`parse_visible_date` reads them as UTC: a
DOM-only parse can be off by the viewer's offset (up to a day), never more.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

# Google puts U+202F before AM/PM and U+00A0 around "(… ago)".
_SPACES = str.maketrans({"\u202f": " ", "\u00a0": " ", "\u2009": " ", "\u2007": " "})
_RUNS_OF_SPACE = re.compile(r"\s+")
_TRAILING_PARENS = re.compile(r"\s*\([^()]*\)$")
# "Jan 27, 2019, 3:43:08 PM1/27/19": the short date is a separate element glued on; in
# the current year it reads "Jan 12" instead ("Jan 12, 2026, 8:37:38 AMJan 12").
_TRAILING_SHORT_DATE = re.compile(
    r"(?<=[AaPp][Mm])\s*(?:\d{1,2}/\d{1,2}/\d{2,4}|[A-Za-z]{3,9}\.? \d{1,2})$"
)
# en-GB writes September "Sept", which %b does not accept.
_SEPT = re.compile(r"\bSept\b\.?", re.I)
_NUMERIC_DATE = re.compile(
    r"(?P<a>\d{1,2})(?P<sep>[/.])(?P<b>\d{1,2})(?P=sep)(?P<year>\d{4}|\d{2})"
    r"(?:,?\s+(?P<time>\d{1,2}:\d{2}(?::\d{2})?(?:\s*[AaPp][Mm])?))?"
)
_AM_PM = re.compile(r"\s*([AaPp][Mm])$")
_RELATIVE = re.compile(
    r"\(\s*(?:about\s+)?(?P<count>\d{1,4}|an?|one)\s+(?P<unit>second|minute|hour|day|week)s?\s+ago\s*\)",
    re.I,
)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONTH_DAY = re.compile(r"[A-Za-z]{3,9} \d{1,2}|\d{1,2} [A-Za-z]{3,9}")

_DATETIME_FORMATS = (
    "%b %d, %Y, %I:%M:%S %p",  # Jan 27, 2019, 3:43:08 PM (en-US, the usual one)
    "%b %d, %Y, %I:%M %p",
    "%b %d, %Y %I:%M:%S %p",
    "%B %d, %Y, %I:%M:%S %p",
    "%B %d, %Y at %I:%M:%S %p",
    "%d %b %Y, %H:%M:%S",  # 27 Jan 2019, 15:43:08 (en-GB)
    "%d %b %Y, %H:%M",
    "%d %B %Y, %H:%M:%S",  # 12 June 2025, 16:07:31 (en-GB spells out short months)
    "%d %B %Y, %H:%M",
    "%b %d, %Y",
    "%B %d, %Y",
    "%d %b %Y",
)
_TIME_FORMATS = ("%I:%M:%S %p", "%I:%M %p", "%H:%M:%S", "%H:%M")
_MONTH_DAY_FORMATS = ("%b %d %Y", "%B %d %Y", "%d %b %Y")

# A date shown as "today" in the viewer's zone may be tomorrow in UTC (zones reach +14h).
_TIMEZONE_SLACK = timedelta(hours=14)
_CLOCK_SKEW = timedelta(hours=1)

# 9999-12-31T23:59:59Z, the last second a four-digit year holds.
MAX_EPOCH_SECONDS = 253_402_300_799
_EPOCH_TEXT = re.compile(r"[0-9]{1,12}")


def epoch_to_datetime(value: object) -> datetime | None:
    """``[seconds, nanos]`` (or bare seconds) from the page JSON -> aware UTC datetime.

    Anything that is not a plausible time gives ``None`` ("no date"), never an exception:
    the page is anyone's input, and ``1e30``, ``-5``, ``NaN`` or a 5,000-digit string must
    not end a run. Plausible means from 1970 up to the end of year 9999 (what a stored
    ``YYYY-MM-DDTHH:MM:SSZ`` can hold); nanoseconds outside ``0..999999999`` are ignored.
    """
    nanos: object = 0
    if isinstance(value, list):
        if not value:
            return None
        seconds = value[0]
        if len(value) > 1 and value[1] is not None:
            nanos = value[1]
    else:
        seconds = value
    if isinstance(seconds, str) and _EPOCH_TEXT.fullmatch(seconds):
        seconds = int(seconds)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    # NaN fails both comparisons, so it is refused here too.
    if not 0 <= seconds <= MAX_EPOCH_SECONDS:
        return None
    if isinstance(nanos, bool) or not isinstance(nanos, int) or not 0 <= nanos < 10**9:
        nanos = 0
    try:
        moment = datetime.fromtimestamp(seconds, UTC)
        return moment + timedelta(microseconds=nanos // 1000)
    except (OverflowError, OSError, ValueError):
        return None


def parse_visible_date(text: str, now: datetime | None = None) -> datetime | None:
    """Read a date as Google Groups shows it; ``None`` if it is not one.

    Handles the thread header (``Jan 27, 2019, 3:43:08 PM``, with U+202F, a glued-on
    ``1/27/19`` or a ``(2 days ago)`` suffix), a time alone for today (``5:29 AM (1 hour
    ago)``, dated from ``now``), and the topic list's short forms (``Jan 1`` in the current
    year, ``1/27/19``, ``28/02/1998``, ``9.12.13``). The result is in UTC by assumption: see
    the module docstring. Ambiguous numeric dates are read month first, as en-US shows them.
    """
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    else:
        now = now.astimezone(UTC)

    text = _RUNS_OF_SPACE.sub(" ", text.translate(_SPACES)).strip()
    age = _relative_age(text)
    text = _TRAILING_PARENS.sub("", text)
    text = _TRAILING_SHORT_DATE.sub("", text).strip().rstrip(",")
    text = _SEPT.sub("Sep", text)
    if not text or not any(ch.isdigit() for ch in text):
        return None

    return (
        _full(text)
        or _time_only(text, now, age)
        or _month_day(text, now)
        or _numeric(text)
        or _iso(text)
    )


def _relative_age(text: str) -> timedelta | None:
    """``(1 hour ago)`` -> 1 hour; the suffix Google adds to recent messages."""
    match = _RELATIVE.search(text)
    if not match:
        return None
    count = 1 if match["count"].isalpha() else int(match["count"])
    return timedelta(**{match["unit"].lower() + "s": count})


def _strptime(text: str, formats: tuple[str, ...]) -> datetime | None:
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _full(text: str) -> datetime | None:
    moment = _strptime(text, _DATETIME_FORMATS)
    return moment.replace(tzinfo=UTC) if moment else None


def _time_only(text: str, now: datetime, age: timedelta | None) -> datetime | None:
    """A time alone is today's or, if that is ahead of ``now``, yesterday's.

    With a ``(1 hour ago)`` hint the day closest to ``now - age`` wins, whatever the
    viewer's timezone was.
    """
    moment = _strptime(text, _TIME_FORMATS)
    if moment is None:
        return None
    today = now.replace(hour=moment.hour, minute=moment.minute, second=moment.second, microsecond=0)
    yesterday = today - timedelta(days=1)
    if age is not None:
        estimate = now - age
        return min((today, yesterday), key=lambda candidate: abs(candidate - estimate))
    return yesterday if today - now > _CLOCK_SKEW else today


def _month_day(text: str, now: datetime) -> datetime | None:
    """``Jan 1``: this year's, unless that is still in the future, then last year's."""
    if not _MONTH_DAY.fullmatch(text):
        return None
    for year in range(now.year, now.year - 5, -1):
        moment = _strptime(f"{text} {year}", _MONTH_DAY_FORMATS)
        if moment is None:
            continue  # Feb 29 in a non-leap year: try an earlier one
        moment = moment.replace(tzinfo=UTC)
        if moment - now <= _TIMEZONE_SLACK:
            return moment
    return None


def _numeric(text: str) -> datetime | None:
    match = _NUMERIC_DATE.fullmatch(text)
    if not match:
        return None
    a, b = int(match["a"]), int(match["b"])
    if match["sep"] == "." or a > 12:
        day, month = a, b  # 9.12.13 (cs), 28/02/1998 (it)
    else:
        month, day = a, b  # 1/27/19 (en-US)
    year = int(match["year"])
    if year < 100:
        year += 2000 if year < 69 else 1900  # as strptime's %y
    try:
        moment = datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None
    if match["time"]:
        clock = _strptime(_AM_PM.sub(r" \1", match["time"]), _TIME_FORMATS)
        if clock is None:
            return None
        moment = moment.replace(hour=clock.hour, minute=clock.minute, second=clock.second)
    return moment


def _iso(text: str) -> datetime | None:
    if not _ISO_DATE.match(text):
        return None
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):  # 9999-12-31T23:00-05:00 is past year 9999 in UTC
        return None
