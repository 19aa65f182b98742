"""Create, change and delete calendars: the operations the JSON API and the MCP
tools share.

A calendar made here is the row a CalDAV MKCALENDAR makes (dav/storage.py):
a new UUID as its href (and its id), components VEVENT and VTODO (what
clients offer for a calendar of events and tasks), and the name, colour,
description and time zone in the columns that domain/collection_meta.py
turns into displayname, calendar-color, calendar-description and
calendar-timezone. The calendars trigger moves the collection's sync counter
(its CTag) on every visible change, so a client sees the change at its next
sync whoever made it. Writes take the tenant's write lock, the lock CalDAV
writers take, so a DELETE's "is it empty?" and the delete are one step.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy.engine import Connection

from backside_caldav.db import calendars as calendar_rows
from backside_caldav.db import tenancy
from backside_caldav.domain.api_keys import ApiKey
from backside_caldav.domain.records import CalendarRow
from backside_caldav.service import access, validate
from backside_caldav.service import event_input as inp
from backside_caldav.service.problems import Problem, invalid, not_found

FIELDS = ("name", "color", "timezone", "description")
MAX_NAME = 200
MAX_DESCRIPTION = 20_000
COMPONENTS = ["VEVENT", "VTODO"]
# The client's own VTIMEZONE text, kept as sent (collection_meta.columns_from_props).
TIMEZONE_PROP = "C:calendar-timezone"
_COLOR_RE = re.compile(r"#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?")


def view(row: CalendarRow, default_id: str | None, owner_email: str | None) -> dict[str, Any]:
    """A calendar as the API shows it."""
    return {"id": row.id, "name": row.name, "href": row.href, "timezone": row.timezone,
            "color": row.color, "description": row.description,
            "components": list(row.components), "is_default": row.id == default_id,
            "owner_email": owner_email}


def default_id(conn: Connection, tenant: str) -> str | None:
    """The id of the calendar events go to when their creator names none."""
    row = calendar_rows.default_calendar(conn, tenant)
    return row.id if row else None


def show(conn: Connection, key: ApiKey, row: CalendarRow) -> dict[str, Any]:
    return view(row, default_id(conn, key.tenant_id), key.owner_email)


def find(conn: Connection, key: ApiKey, calendar_id: str) -> CalendarRow:
    """The calendar if the key may see it; 404 otherwise, whatever the reason."""
    calendar_id = validate.uuid_value("calendar_id", calendar_id)
    row = calendar_rows.calendar_by_id(conn, key.tenant_id, calendar_id)
    if row is None or not key.sees_calendar(row.id):
        raise not_found(f"no calendar {calendar_id} in this tenant "
                        "(GET /api/v1/calendars lists them)")
    return row


def color(name: str, value: object) -> str:
    if not isinstance(value, str) or not _COLOR_RE.fullmatch(value):
        raise invalid(name, "must be a colour #RRGGBB or #RRGGBBAA such as #1E90FF, "
                            f"got {str(value)[:40]!r}")
    return value


def _values(doc: dict[str, Any], creating: bool) -> dict[str, Any]:
    """Column values for the fields present in doc (merge patch: null clears)."""
    inp.fields_of(doc, FIELDS)
    values: dict[str, Any] = {}
    if creating or "name" in doc:
        if doc.get("name") is None:
            raise invalid("name", "is required" if creating else
                          "cannot be cleared (null); send a new name")
        values["name"] = validate.text("name", doc["name"], MAX_NAME)
    if "color" in doc:
        values["color"] = None if doc["color"] is None else color("color", doc["color"])
    if "timezone" in doc:
        values["timezone"] = (None if doc["timezone"] is None
                              else inp.zone_name("timezone", doc["timezone"]))
    if "description" in doc:
        values["description"] = inp.optional_text("description", doc["description"],
                                                  MAX_DESCRIPTION)
    return values


def create(conn: Connection, key: ApiKey, doc: dict[str, Any]) -> CalendarRow:
    access.require_write(key)
    if key.calendar_ids is not None:
        names = ", ".join(key.calendar_names or key.calendar_ids) or "none"
        raise access.forbidden(f"this API key is limited to the calendars {names} and cannot "
                               "create calendars; use a key without --calendar")
    values = _values(doc, creating=True)
    tenancy.lock_tenant(conn, key.tenant_id, "api")
    new_id = str(uuid.uuid4())
    return calendar_rows.create_calendar(conn, key.tenant_id, new_id,
                                         {"id": new_id, **values, "components": COMPONENTS})


def patch(conn: Connection, key: ApiKey, calendar_id: str, doc: dict[str, Any]) -> CalendarRow:
    """JSON Merge Patch (RFC 7396) of name, color, timezone, description."""
    access.require_write(key)
    tenancy.lock_tenant(conn, key.tenant_id, "api")
    row = find(conn, key, calendar_id)
    values = _values(doc, creating=False)
    if "timezone" in values and values["timezone"] != row.timezone and TIMEZONE_PROP in row.props:
        # The client's VTIMEZONE text would outlive the new zone: drop it, and
        # collection_meta renders the new zone's (or none).
        values["props"] = {k: v for k, v in row.props.items() if k != TIMEZONE_PROP}
    values = {k: v for k, v in values.items() if getattr(row, k) != v}
    calendar_rows.update_calendar(conn, key.tenant_id, row.id, values)
    changed = calendar_rows.calendar_by_id(conn, key.tenant_id, row.id)
    assert changed is not None
    return changed


def delete(conn: Connection, key: ApiKey, calendar_id: str, force: bool) -> None:
    """Delete a calendar; 409 while it holds events or tasks unless force."""
    access.require_write(key)
    tenancy.lock_tenant(conn, key.tenant_id, "api")
    row = find(conn, key, calendar_id)
    events, tasks = calendar_rows.calendar_contents(conn, key.tenant_id, row.id)
    if (events or tasks) and not force:
        raise Problem(409, "calendar-not-empty", "Calendar not empty",
                      f"the calendar {row.name!r} holds {_count(events, 'event')} and "
                      f"{_count(tasks, 'task or journal entry', 'tasks or journal entries')}; "
                      "delete or move them first, or send ?force=true to delete them with it",
                      events=events, tasks=tasks)
    calendar_rows.delete_calendar(conn, key.tenant_id, row.id)


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def require_known(conn: Connection, tenant: str, name: str, calendar_ids: list[str]) -> None:
    """400 naming the first of these ids that is not a calendar of the tenant."""
    missing = calendar_rows.missing_calendars(conn, tenant, calendar_ids)
    if missing:
        raise invalid(name, f"no calendar {missing[0]} in this tenant "
                            "(GET /api/v1/calendars lists them)")
