"""The archive's one time format, and reading it back. Standard library only.

Every stored time is UTC to the second, written ``2024-01-02T03:04:05Z`` (four-digit
years too), so that comparing the text orders the times.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["parse_utc", "parse_utc_or_none", "utc_iso"]


def utc_iso(dt: datetime) -> str:
    """``2024-01-02T03:04:05Z``: the one format every stored time uses (seconds, UTC)."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt.isoformat()}: the archive stores UTC times only")
    dt = dt.astimezone(UTC)
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}Z"
    )


def parse_utc(value: str) -> datetime:
    """Read a stored time back as an aware UTC datetime (also accepts other ISO-8601 forms;
    a time without an offset is taken as UTC)."""
    try:
        dt = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"not an ISO-8601 time: {value!r}") from None
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def parse_utc_or_none(value: str | None) -> datetime | None:
    """:func:`parse_utc`, with ``None`` for a missing (NULL or empty) time."""
    return parse_utc(value) if value else None
