"""GET /api/v1/calendars: the tenant's calendars.

Clients need calendar ids for the calendar_id filters of search and
availability; this is where they find them.
"""

from __future__ import annotations

from backside_caldav.api.http import Call, Reply
from backside_caldav.db import calendars as calendar_rows
from backside_caldav.service.problems import invalid


def list_calendars(call: Call) -> Reply:
    """The tenant's calendars (those the key may see), so clients can find ids for
    calendar_id filters."""
    call.request.only()
    return Reply(200, {"calendars": [
        {"id": r.id, "name": r.name, "href": r.href, "timezone": r.timezone, "color": r.color,
         "description": r.description, "components": list(r.components)}
        for r in calendar_rows.list_calendars(call.conn, call.tenant)
        if call.key.sees_calendar(r.id)]})


def require_known(call: Call, name: str, calendar_ids: list[str]) -> None:
    """400 naming the first of these ids that is not a calendar of the caller's tenant."""
    missing = calendar_rows.missing_calendars(call.conn, call.tenant, calendar_ids)
    if missing:
        raise invalid(name, f"no calendar {missing[0]} in this tenant "
                            "(GET /api/v1/calendars lists them)")
