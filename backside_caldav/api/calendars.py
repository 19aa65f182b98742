"""The calendar endpoints: list, read, create, merge-patch and delete.

Clients need calendar ids for the calendar_id filters of search and
availability; this is where they find them. The writes are HTTP around
service/calendars.py, where the rules live.
"""

from __future__ import annotations

from backside_caldav.api.http import Call, Reply
from backside_caldav.db import calendars as calendar_rows
from backside_caldav.service import calendars as calendar_service
from backside_caldav.service.problems import invalid


def list_calendars(call: Call) -> Reply:
    """The tenant's calendars (those the key may see), so clients can find ids for
    calendar_id filters."""
    call.request.only()
    default = calendar_service.default_id(call.conn, call.tenant)
    return Reply(200, {"calendars": [
        calendar_service.view(r, default, call.key.owner_email)
        for r in calendar_rows.list_calendars(call.conn, call.tenant)
        if call.key.sees_calendar(r.id)]})


def read(call: Call) -> Reply:
    """GET /api/v1/calendars/{calendar_id}."""
    call.request.only()
    row = calendar_service.find(call.conn, call.key, call.path["calendar_id"])
    return Reply(200, calendar_service.show(call.conn, call.key, row))


def create(call: Call) -> Reply:
    """POST /api/v1/calendars: 201 with the calendar and its Location."""
    call.request.only()
    row = calendar_service.create(call.conn, call.key, call.request.json())
    return Reply(201, calendar_service.show(call.conn, call.key, row),
                 [("Location", f"/api/v1/calendars/{row.id}")])


def patch(call: Call) -> Reply:
    """PATCH /api/v1/calendars/{calendar_id} (application/json or merge-patch+json)."""
    call.request.only()
    row = calendar_service.patch(call.conn, call.key, call.path["calendar_id"],
                                 call.request.json())
    return Reply(200, calendar_service.show(call.conn, call.key, row))


def delete(call: Call) -> Reply:
    """DELETE /api/v1/calendars/{calendar_id}[?force=true]: 204."""
    call.request.only("force")
    calendar_service.delete(call.conn, call.key, call.path["calendar_id"], _force(call))
    return Reply(204)


def _force(call: Call) -> bool:
    value = call.request.param("force")
    if value is None:
        return False
    if value not in ("true", "false"):
        raise invalid("force", f"must be true or false, got {value[:20]!r}")
    return value == "true"


def require_known(call: Call, name: str, calendar_ids: list[str]) -> None:
    """400 naming the first of these ids that is not a calendar of the caller's tenant."""
    calendar_service.require_known(call.conn, call.tenant, name, calendar_ids)
