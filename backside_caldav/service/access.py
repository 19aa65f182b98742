"""What an API key may see and change: its calendars, its time window, its scope.

A key limited to calendars or to a window sees nothing outside them: a list
answers with what lies inside, a read of something outside is a 404 (as if
it did not exist), and a write outside is a 403 that says which limit it hit.
Every endpoint asks here, so the rule is written once.
"""

from __future__ import annotations

from datetime import datetime

from backside_caldav.domain.api_keys import ApiKey
from backside_caldav.service.problems import Problem, invalid


def forbidden(detail: str) -> Problem:
    return Problem(403, "forbidden", "Not allowed with this API key", detail)


def calendars_for(key: ApiKey, requested: list[str] | None,
                  name: str = "calendar_id") -> list[str] | None:
    """The calendar ids a read covers (None: every calendar of the tenant).

    An id outside the key's calendars is refused like an unknown one, so the
    key learns nothing about calendars it may not see.
    """
    if key.calendar_ids is None:
        return requested
    if requested is None:
        return list(key.calendar_ids)
    for calendar_id in requested:
        if calendar_id not in key.calendar_ids:
            raise invalid(name, f"no calendar {calendar_id} in this tenant "
                                "(GET /api/v1/calendars lists them)")
    return requested


def clip(key: ApiKey, start: datetime, end: datetime, now: datetime
         ) -> tuple[datetime, datetime] | None:
    """[start, end) cut to the key's window; None when nothing of it is inside."""
    window = key.window(now)
    if window is None:
        return start, end
    lo, hi = max(start, window[0]), min(end, window[1])
    return (lo, hi) if lo < hi else None


def require_write(key: ApiKey) -> None:
    if not key.can_write:
        raise forbidden("this API key is read-only; writes need a key with scope write or "
                        "admin (`backside-caldav apikey add --tenant NAME --scope write`)")


def require_admin(key: ApiKey, what: str) -> None:
    if not key.is_admin:
        raise forbidden(f"{what} needs an API key with scope admin "
                        "(`backside-caldav apikey add --tenant NAME --scope admin`)")


def require_calendar_write(key: ApiKey, calendar_id: str, calendar_name: str | None) -> None:
    """403 for a write into a calendar outside the key's calendars."""
    require_write(key)
    if not key.sees_calendar(calendar_id):
        allowed = ", ".join(key.calendar_names or key.calendar_ids or ())
        raise forbidden(f"this API key may write only to the calendars {allowed}, "
                        f"not to {calendar_name or calendar_id}")


def require_window_write(key: ApiKey, start: datetime, end: datetime, now: datetime) -> None:
    """403 for a write of an event (or a change) that lies outside the key's window."""
    window = key.window(now)
    if window is None:
        return
    if start < window[0] or end > window[1]:
        past, future = key.window_days or (0, 0)
        raise forbidden(f"this API key may write only events within its time window (the "
                        f"last {past} days to the next {future} days: "
                        f"{window[0].isoformat(timespec='minutes')} to "
                        f"{window[1].isoformat(timespec='minutes')})")
