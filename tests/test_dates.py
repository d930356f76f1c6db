"""Visible dates and JSON epochs (scraper.pages.dates)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from scraper.pages import parse_visible_date
from scraper.pages.dates import epoch_to_datetime

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "google-groups"
NOW = datetime(2024, 3, 5, 10, 0, tzinfo=UTC)

# The thread header as the live new UI renders it: long date, U+202F before PM, then the
# separate short-date element glued on by text extraction.
CAPTURE_DATE = re.compile(
    r"^(?P<text>[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}:\d{2}\u202f[AP]M"
    r"(?P<month>\d{1,2})/(?P<day>\d{1,2})/(?P<year>\d{2}))$",
    re.M,
)


def capture(name: str) -> str:
    path = FIXTURES / "new-ui-derived" / name
    if not path.is_file():
        pytest.skip(f"fixture {name} not available")
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Jan 27, 2019, 3:43:08 PM", datetime(2019, 1, 27, 15, 43, 8, tzinfo=UTC)),
        ("Jan 27, 2019, 3:43:08\u202fPM1/27/19", datetime(2019, 1, 27, 15, 43, 8, tzinfo=UTC)),
        ("Jul 13, 2023, 7:31:18\u202fPM", datetime(2023, 7, 13, 19, 31, 18, tzinfo=UTC)),
        # Midnight and noon are where %I/%p mistakes show.
        ("Jan 25, 2023, 12:27:18 AM1/25/23", datetime(2023, 1, 25, 0, 27, 18, tzinfo=UTC)),
        ("Nov 18, 2021, 12:38:23 PM", datetime(2021, 11, 18, 12, 38, 23, tzinfo=UTC)),
        (
            "Oct 8, 2024, 5:10:58\u00a0AM\u00a0(2 days ago)",
            datetime(2024, 10, 8, 5, 10, 58, tzinfo=UTC),
        ),
        ("  Jan  27, 2019,  3:43:08 PM  ", datetime(2019, 1, 27, 15, 43, 8, tzinfo=UTC)),
        ("27 Jan 2019, 15:43:08", datetime(2019, 1, 27, 15, 43, 8, tzinfo=UTC)),
        ("2019-01-27T15:43:08+01:00", datetime(2019, 1, 27, 14, 43, 8, tzinfo=UTC)),
        # In the current year the glued-on short date is "Jan 12", not "1/12/26".
        ("Jan 12, 2026, 8:37:38 AMJan 12", datetime(2026, 1, 12, 8, 37, 38, tzinfo=UTC)),
        ("Jan 12, 2026, 8:37:38\u202fAMJan 12", datetime(2026, 1, 12, 8, 37, 38, tzinfo=UTC)),
        ("Sep 7, 2021, 8:47:06 PM9/7/21", datetime(2021, 9, 7, 20, 47, 6, tzinfo=UTC)),
        # en-GB Workspace pages: "Sept", which strptime's %b refuses, and full month names.
        ("12 Sept 2025, 16:07:31", datetime(2025, 9, 12, 16, 7, 31, tzinfo=UTC)),
        ("12 Sept 2025, 16:07", datetime(2025, 9, 12, 16, 7, tzinfo=UTC)),
        ("3 June 2025, 09:05:01", datetime(2025, 6, 3, 9, 5, 1, tzinfo=UTC)),
        ("3 Jun 2025, 09:05:01", datetime(2025, 6, 3, 9, 5, 1, tzinfo=UTC)),
    ],
)
def test_full_dates(text, expected):
    assert parse_visible_date(text, NOW) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("5:29 AM (1 hour ago)", datetime(2024, 3, 5, 5, 29, tzinfo=UTC)),
        ("9:50\u202fAM\u00a0(10 minutes ago)", datetime(2024, 3, 5, 9, 50, tzinfo=UTC)),
        # Later than now: it was yesterday's.
        ("11:50 PM", datetime(2024, 3, 4, 23, 50, tzinfo=UTC)),
        ("11:50 PM (10 hours ago)", datetime(2024, 3, 4, 23, 50, tzinfo=UTC)),
    ],
)
def test_time_alone_is_dated_from_now(text, expected):
    assert parse_visible_date(text, NOW) == expected


def test_relative_hint_picks_the_day_whatever_the_viewer_timezone():
    # 10:30 shown to a viewer at UTC+1, posted 5 minutes ago: still today, not yesterday.
    now = datetime(2024, 3, 5, 9, 35, tzinfo=UTC)
    assert parse_visible_date("10:30 AM (5 minutes ago)", now) == datetime(
        2024, 3, 5, 10, 30, tzinfo=UTC
    )
    assert parse_visible_date("10:30 AM", now) == datetime(2024, 3, 5, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Jan 1", datetime(2024, 1, 1, tzinfo=UTC)),
        # Not yet this year: last year's.
        ("Dec 31", datetime(2023, 12, 31, tzinfo=UTC)),
        ("Feb 29", datetime(2024, 2, 29, tzinfo=UTC)),
        ("1/27/19", datetime(2019, 1, 27, tzinfo=UTC)),
        ("28/02/1998", datetime(1998, 2, 28, tzinfo=UTC)),  # it-IT list date
        ("30/03/16", datetime(2016, 3, 30, tzinfo=UTC)),  # old UI, pt-BR
        ("19/01/16 14:46", datetime(2016, 1, 19, 14, 46, tzinfo=UTC)),  # old UI, pt-BR
        ("9.12.13", datetime(2013, 12, 9, tzinfo=UTC)),  # old UI, cs
        ("1/27/19, 3:43 PM", datetime(2019, 1, 27, 15, 43, tzinfo=UTC)),
        ("12 Sept", datetime(2023, 9, 12, tzinfo=UTC)),  # en-GB list date
        ("Sept 12", datetime(2023, 9, 12, tzinfo=UTC)),
    ],
)
def test_short_list_dates(text, expected):
    assert parse_visible_date(text, NOW) == expected


def test_short_date_year_follows_now():
    assert parse_visible_date("Jul 21", datetime(2030, 8, 1, tzinfo=UTC)) == datetime(
        2030, 7, 21, tzinfo=UTC
    )
    assert parse_visible_date("Aug 2", datetime(2030, 8, 1, tzinfo=UTC)) == datetime(
        2029, 8, 2, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "text",
    ["", "3", "147 views", "Alice Example", "unread,", "20190127", "Feb 30", "13/13/13", "to"],
)
def test_not_dates(text):
    assert parse_visible_date(text, NOW) is None


@pytest.mark.parametrize(
    "text",
    [
        "9999-12-31T23:00:00-05:00",  # past year 9999 once in UTC
        "0001-01-01T00:00:00+05:00",  # before year 1 once in UTC
        "5:29 AM (99999999999999999999 days ago)",
        "Jan 12, 2026, 8:37:38 AM" + "Jan 12" * 1000,
        "12 Septt 2025, 16:07:31",
        "99/99/9999, 99:99 PM",
    ],
)
def test_hostile_visible_dates_give_no_date_or_a_date_never_an_error(text):
    moment = parse_visible_date(text, NOW)
    assert moment is None or moment.tzinfo is UTC


def test_results_are_aware_utc_even_with_naive_or_foreign_now():
    naive = parse_visible_date("5:29 AM", datetime(2024, 3, 5, 10, 0))
    assert naive == datetime(2024, 3, 5, 5, 29, tzinfo=UTC)
    tokyo = timezone(timedelta(hours=9))
    moment = parse_visible_date("5:29 AM", datetime(2024, 3, 5, 19, 0, tzinfo=tokyo))
    assert moment == datetime(2024, 3, 5, 5, 29, tzinfo=UTC)
    assert moment.tzinfo is UTC


def test_default_now_is_the_clock():
    moment = parse_visible_date("Jan 1")
    assert moment is not None and moment <= datetime.now(UTC) + timedelta(days=1)


@pytest.mark.parametrize(
    "name, count",
    [
        ("codyhxyz_2026-04-16_google-group_content-scripts-matches-review.md", 10),
        ("codyhxyz_2026-04-16_google-group_auto-update-sw-race-condition.md", 59),
    ],
)
def test_every_header_date_of_the_live_captures(name, count):
    """One date per message; each agrees with the short date Google printed beside it."""
    matches = list(CAPTURE_DATE.finditer(capture(name)))
    assert len(matches) == count
    for match in matches:
        moment = parse_visible_date(match["text"], NOW)
        assert moment is not None, match["text"]
        assert moment.tzinfo is UTC
        assert (moment.month, moment.day, moment.year % 100) == (
            int(match["month"]),
            int(match["day"]),
            int(match["year"]),
        )
        clock = re.search(r"(\d{1,2}):(\d{2}):(\d{2})\u202f([AP])M", match["text"])
        hour = int(clock[1]) % 12 + (12 if clock[4] == "P" else 0)
        assert (moment.hour, moment.minute, moment.second) == (
            hour,
            int(clock[2]),
            int(clock[3]),
        )


def test_first_and_last_capture_dates_exactly():
    text = capture("codyhxyz_2026-04-16_google-group_auto-update-sw-race-condition.md")
    dates = [parse_visible_date(m["text"], NOW) for m in CAPTURE_DATE.finditer(text)]
    assert dates[0] == datetime(2021, 6, 23, 10, 55, 30, tzinfo=UTC)
    assert dates[-1] == datetime(2025, 8, 26, 0, 10, 25, tzinfo=UTC)
    assert dates == sorted(dates)  # a thread reads oldest first


@pytest.mark.parametrize(
    "value, expected",
    [
        ([1548632588, 0], datetime(2019, 1, 27, 23, 43, 8, tzinfo=UTC)),
        ([1704067200, 123000000], datetime(2024, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)),
        ([1704067200], datetime(2024, 1, 1, tzinfo=UTC)),
        ([1704067200, None, "extra"], datetime(2024, 1, 1, tzinfo=UTC)),
        (1743475706, datetime(2025, 4, 1, 2, 48, 26, tzinfo=UTC)),
        ("1743475706", datetime(2025, 4, 1, 2, 48, 26, tzinfo=UTC)),
        (None, None),
        ([], None),
        (["soon"], None),
        ([True, 0], None),
        ([10**20, 0], None),
        # Hostile values are "no date", never an exception out of the parser.
        (1e30, None),
        ([1e30, 0], None),
        (-1e30, None),
        ([-1, 0], None),
        (float("nan"), None),
        (float("inf"), None),
        (-float("inf"), None),
        (10**30, None),
        (-(10**30), None),
        ("9" * 5000, None),  # int() itself refuses this many digits
        ("\u0661\u0662\u0663", None),  # digits, but not ASCII ones
        ("-5", None),
        ([1704067200, 10**30], datetime(2024, 1, 1, tzinfo=UTC)),  # bad nanos ignored
        ([1704067200, -1], datetime(2024, 1, 1, tzinfo=UTC)),
        ([1704067200, 1e30], datetime(2024, 1, 1, tzinfo=UTC)),
        # The last second a stored four-digit year holds, and the one after it.
        ([253402300799, 999999999], datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
        (253402300800, None),
    ],
)
def test_epochs(value, expected):
    assert epoch_to_datetime(value) == expected
