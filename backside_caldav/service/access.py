"""What an API key may see and change: its calendars, its time window, its scope.

A key limited to calendars or to a window sees nothing outside them: a list
answers with what lies inside, a read of something outside is a 404 (as if
it did not exist), and a write outside is a 403 that says which limit it hit.
Every endpoint asks here, so the rule is written once.
"""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy.engine import Connection, Engine

from backside_caldav.db import event_queries, key_limits
from backside_caldav.domain.api_keys import ApiKey, rate_text
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


def event_outside(conn: Connection, key: ApiKey, event_id: str, calendar_id: str,
                  now: datetime) -> str | None:
    """Why the series lies outside what the key may see (None: it is inside).

    Inside the window means some row of the series spans into it (the
    conservative span the search and the event reads use).
    """
    if not key.sees_calendar(calendar_id):
        allowed = ", ".join(key.calendar_names or key.calendar_ids or ()) or "none"
        return (f"event {event_id} is in a calendar this API key may not use (it is limited "
                f"to the calendars {allowed})")
    window = key.window(now)
    if window is not None and not event_queries.in_window(conn, key.tenant_id, event_id,
                                                          *window):
        past, future = key.window_days or (0, 0)
        return (f"event {event_id} lies outside this API key's time window (the last {past} "
                f"days to the next {future} days)")
    return None


def require_event_write(conn: Connection, key: ApiKey, event_id: str, calendar_id: str,
                        now: datetime) -> None:
    """403 with the reason for a change to an event outside the key's calendars or window."""
    require_write(key)
    reason = event_outside(conn, key, event_id, calendar_id, now)
    if reason is not None:
        raise forbidden(reason + "; writes outside its limits are not allowed")


def rate_limit(engine: Engine, key: ApiKey) -> None:
    """429 with Retry-After when this request is over one of the key's rate limits.

    The hit is counted in its own short transaction, not the request's:
    counting in the request's transaction would hold the counter row's lock
    until the request commits, so two requests of one key could never run at
    once (in any worker), and a request that fails and rolls back would not
    count, so a client sending nothing but bad requests would never be
    limited. The price is a second pooled connection for one statement, and
    only for keys that have a rate limit: the others cost nothing here.
    """
    if not key.rate_limits:
        return
    counts = key_limits.hit(engine, key.tenant_id, key.id, [s for _, s in key.rate_limits])
    over = [(math.ceil(max(counts[s][1], 0.0)) or 1, n, s) for n, s in key.rate_limits
            if s in counts and counts[s][0] > n]
    if over:
        wait, requests, seconds = max(over)
        raise Problem(429, "rate-limited", "Too many requests",
                      f"this API key's rate limit of {rate_text(requests, seconds)} "
                      f"requests is used up; try again in {wait} s", headers=[("Retry-After", str(wait))])
