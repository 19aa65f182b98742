"""An event as the API and the MCP tools show it: the mapped columns, the
people, links, reminders, custom fields, recurrence and overrides, and the
ETag CalDAV clients see. Reminders and custom fields live only in the text,
so they are read from the current text (the client's bytes or a rendering).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection, Row

from backside_caldav.db import event_queries, link_queries
from backside_caldav.domain import event_edit
from backside_caldav.domain.ical_parse import parse_calendar
from backside_caldav.domain.zones import zone
from backside_caldav.service.validate import iso


def day_of(value: datetime, zone_name: str | None) -> str:
    return value.astimezone(zone(zone_name)).date().isoformat()


def times(start: datetime, end: datetime | None, all_day: bool, zone_name: str | None
          ) -> tuple[str | None, str | None]:
    """All-day events as dates (the end exclusive, as in iCalendar), others as UTC."""
    if all_day:
        end_day = end if end is not None and end > start else start + timedelta(days=1)
        return day_of(start, zone_name), day_of(end_day, zone_name)
    return iso(start), iso(end)


def attendee(row: Row) -> dict[str, Any]:
    return {"id": row.id, "email": row.email, "contact_id": row.contact_id, "name": row.name,
            "role": row.role, "rsvp_status": row.rsvp_status}


def etag(revision: int) -> str:
    return f'"{revision}"'


def event(conn: Connection, tenant: str, master: Row, owner_email: str | None = None
          ) -> dict[str, Any]:
    """The whole event for GET /events/{id} and for every write's answer."""
    item = event_queries.current_text(conn, tenant, master)
    reminders: list[dict[str, Any]] = []
    custom: dict[str, str] = {}
    try:
        # Read-only here, so the thread's last parse serves: after a write it is
        # the store's parse of this very text (a third of a write's CPU was parsing).
        cal = parse_calendar(item.text, reuse=True)
        comp = event_edit.master_of(cal)
    except ValueError:
        comp = None
    if comp is not None:
        reminders = [r.as_dict() for r in event_edit.reminders_of(comp)]
        custom = event_edit.custom_fields_of(comp)
    start, end = times(master.start_time, master.end_time, master.is_all_day, master.timezone)
    overrides = event_queries.override_rows(conn, tenant, master.id)
    people = event_queries.attendees_of(conn, tenant, [master.id])
    body: dict[str, Any] = {
        "id": master.id, "calendar_id": master.calendar_id,
        "calendar_name": master.calendar_name, "uid": master.uid,
        "title": master.title, "description": master.description,
        "location": master.location, "start_time": start, "end_time": end,
        "timezone": master.timezone, "is_all_day": master.is_all_day,
        "event_type": master.event_type, "status": master.status or "confirmed",
        "transparency": master.transparency or "opaque", "organizer": master.organizer,
        "sequence": master.sequence, "rrule": master.rrule,
        "recurrence": event_edit.recurrence_object(master.rrule),
        "exdates": [_when(v, master) for v in master.exdates or []],
        "rdates": [_when(v, master) for v in master.rdates or []],
        "next_occurrence": iso(master.next_occurrence),
        "attendees": [attendee(a) for a in people],
        "links": [{"id": r.id, "entity_type": r.entity_type, "entity_id": r.entity_id}
                  for r in link_queries.links_of(conn, tenant, master.id)],
        "reminders": reminders, "custom_fields": custom,
        "overrides": [_override(o, master) for o in overrides],
        "created_at": iso(master.created_at), "updated_at": iso(master.updated_at),
        "deleted_at": iso(master.deleted_at), "etag": etag(item.revision),
    }
    if owner_email:
        body["currentUserCalendarEmail"] = owner_email
    return body


def _when(value: datetime, master: Row) -> str | None:
    return day_of(value, master.timezone) if master.is_all_day else iso(value)


def _override(row: Row, master: Row) -> dict[str, Any]:
    start, end = times(row.start_time, row.end_time, master.is_all_day, master.timezone)
    return {"id": row.id, "recurrence_id": _when(row.recurrence_id, master),
            "start_time": start, "end_time": end, "title": row.title,
            "location": row.location, "status": row.status or "confirmed",
            "cancelled": row.status == "cancelled"}


def list_item(row: Row, compact: bool) -> dict[str, Any]:
    """One occurrence (or one event, when the listing is not expanded)."""
    all_day = row.is_all_day
    start, end = times(row.occ_start, row.occ_end, all_day, row.timezone)
    rid = None
    if row.recurring and row.recurrence_id is not None:
        rid = day_of(row.recurrence_id, row.timezone) if all_day else iso(row.recurrence_id)
    if compact:
        return {"id": row.event_id, "title": row.title, "start": start, "end": end,
                "status": row.status or "confirmed", "recurrence_id": rid}
    return {
        "event_id": row.event_id, "id": row.event_id, "calendar_id": row.calendar_id,
        "title": row.title, "location": row.location,
        "occurrence_start": start, "occurrence_end": end, "recurrence_id": rid,
        "is_all_day": all_day, "timezone": row.timezone, "recurring": row.recurring,
        "status": row.status or "confirmed", "event_type": row.event_type,
        "created_at": iso(row.created_at), "updated_at": iso(row.updated_at),
        "deleted_at": iso(row.deleted_at), "etag": etag(row.revision),
    }


def date_text(value: date | datetime) -> str:
    return value.isoformat() if not isinstance(value, datetime) else str(iso(value))
