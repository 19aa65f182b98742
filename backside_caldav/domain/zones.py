"""Time zones and time arithmetic the mapping and the recurrence share.

A DATE is midnight in the event's zone, a floating time is read as UTC, and a
DURATION's whole days are nominal (RFC 5545 3.3.6): they keep the wall-clock
time across daylight-saving changes.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

UTC = timezone.utc


def iana_zone(name: str | None) -> str | None:
    """The IANA name for a TZID, or None when it names no zone we know."""
    if not name:
        return None
    name = str(name).strip()
    if name in WINDOWS_TO_OLSON:
        return WINDOWS_TO_OLSON[name]
    # Some clients send "/mozilla.org/20050126_1/Europe/Berlin" style ids, and
    # RFC 5545 3.2.19 globally unique ones: "/Europe/Stockholm".
    candidates = [name]
    if "/" in name:
        parts = name.strip("/").split("/")
        candidates += ["/".join(parts[i:]) for i in range(0, len(parts) - 1)]
        if name.startswith("/") and len(parts) == 1:
            candidates.append(parts[0])
    for candidate in candidates:
        try:
            ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a path
            continue
        return candidate
    return None


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a path
        return ZoneInfo("UTC")


def to_utc(value: date | datetime, day_zone: str | None) -> datetime:
    """A DATE is midnight in the event's zone; a floating time is read as UTC."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    return datetime.combine(value, time(0), tzinfo=zone(day_zone)).astimezone(UTC)


def add_duration(start: datetime, duration: timedelta, tz_name: str | None) -> datetime:
    """start + duration with its whole days nominal (RFC 5545 3.3.6): a day
    keeps the wall-clock time in the zone, whatever DST does in between; the
    rest is exact. UTC and floating times (tz_name None or "UTC") are exact.

    icalendar hands a DURATION over as a timedelta, which folds PT24H into
    one day: such a value is read as a nominal day too.
    """
    if duration.days <= 0 or not tz_name or tz_name == "UTC":
        return start + duration
    rest = duration - timedelta(days=duration.days)
    local = start.astimezone(zone(tz_name))
    try:
        wall = (local.replace(tzinfo=None) + timedelta(days=duration.days)).replace(
            tzinfo=local.tzinfo)
    except OverflowError:
        return start + duration
    return wall.astimezone(UTC) + rest


def nominal_rest(start: datetime, end: datetime | None, days: int,
                 tz_name: str | None) -> timedelta | None:
    """The exact part of a DURATION of `days` nominal days plus a rest that
    spans start..end, or None when no such DURATION fits (no days, no zone, or
    another writer moved the times so that the rest is negative or a day or more)."""
    if days <= 0 or end is None or not tz_name or tz_name == "UTC":
        return None
    rest = end - add_duration(start, timedelta(days=days), tz_name)
    return rest if timedelta(0) <= rest < timedelta(days=1) else None
