"""Input checks shared by the endpoints: each bad value becomes a 400 that names it.

Values are checked before any SQL runs, so the database never sees a value
it would reject (NUL characters, out-of-range dates, malformed UUIDs): bad
input is always a 4xx, never a 5xx.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from backside_caldav.service.problems import invalid

UTC = timezone.utc
# Dates far outside any calendar's use would overflow recurrence arithmetic.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
MAX_RANGE = timedelta(days=366)

_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")


def text(name: str, value: object, max_length: int, allow_empty: bool = False) -> str:
    """A string without control characters (PostgreSQL refuses NUL) and within length."""
    if not isinstance(value, str):
        raise invalid(name, "must be a string")
    if _CONTROL_RE.search(value):
        raise invalid(name, "must not contain control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(name, "must be valid Unicode (no lone surrogates)") from None
    if not allow_empty and not value.strip():
        raise invalid(name, "must not be empty")
    if len(value) > max_length:
        raise invalid(name, f"must be at most {max_length} characters (got {len(value)})")
    return value


def uuid_value(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise invalid(name, "must be a UUID string")
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise invalid(name, f"must be a UUID such as 123e4567-e89b-12d3-a456-426614174000, "
                            f"got {value[:60]!r}") from None
    # uuid.UUID also accepts braces and urn: forms; the API speaks the plain form.
    if str(parsed) != value.lower():
        raise invalid(name, f"must be a UUID in the 8-4-4-4-12 form, got {value[:60]!r}")
    return str(parsed)


def email(name: str, value: object) -> str:
    value = text(name, value, 320)
    if not _EMAIL_RE.match(value):
        raise invalid(name, f"must be an email address such as ann@example.com, "
                            f"got {value[:60]!r}")
    return value


def date_time(name: str, value: object) -> datetime:
    """An RFC 3339 date-time with a UTC offset, returned in UTC."""
    if not isinstance(value, str):
        raise invalid(name, "must be an RFC 3339 date-time string such as 2026-05-04T09:00:00Z")
    match = _DATETIME_RE.match(value)
    if not match:
        hint = (" (add a UTC offset such as Z or +02:00)"
                if re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$", value)
                else "")
        raise invalid(name, f"must be an RFC 3339 date-time such as 2026-05-04T09:00:00Z, "
                            f"got {value[:60]!r}{hint}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        micro = int((fraction or ".0")[1:].ljust(6, "0")[:6])
        if offset in ("Z", "z"):
            tz = UTC
        else:
            sign = 1 if offset[0] == "+" else -1
            hours, minutes = int(offset[1:3]), int(offset[4:6])
            if hours > 23 or minutes > 59:
                raise ValueError("UTC offset out of range")
            tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                         micro, tzinfo=tz)
    except ValueError as exc:
        raise invalid(name, f"is not a real date and time ({exc}): {value[:60]!r}") from None
    try:
        parsed = local.astimezone(UTC)
    except OverflowError:
        parsed = EARLIEST - timedelta(days=1)  # outside the range either way
    if not EARLIEST <= parsed < LATEST:
        raise invalid(name, "must lie between 1900-01-01 and 2200-01-01")
    return parsed


def time_range(start: datetime, end: datetime, max_range: timedelta | None = MAX_RANGE,
               ) -> tuple[datetime, datetime]:
    if end <= start:
        raise invalid("end", "must be after start")
    if max_range is not None and end - start > max_range:
        raise invalid("end", f"the range may span at most {max_range.days} days "
                             f"(asked for {(end - start).days}); split it into several requests")
    return start, end


def integer(name: str, value: str, minimum: int, maximum: int) -> int:
    if not re.fullmatch(r"[0-9]{1,6}", value):
        raise invalid(name, f"must be a whole number from {minimum} to {maximum}")
    number = int(value)
    if not minimum <= number <= maximum:
        raise invalid(name, f"must be from {minimum} to {maximum} (got {number})")
    return number


def iso(value: datetime | None) -> str | None:
    """UTC date-time as RFC 3339 with Z, the one form the API answers in."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def body_fields(doc: dict[str, Any], required: tuple[str, ...], optional: tuple[str, ...]
                ) -> None:
    """Refuse unknown fields and name missing ones."""
    for name in doc:
        if name not in required and name not in optional:
            raise invalid(name, "unknown field (allowed: "
                                f"{', '.join(required + optional)})")
    for name in required:
        if name not in doc or doc[name] is None:
            raise invalid(name, "is required")
