"""Links between events and the tenant's other records, and RSVP answers.

event_links rows tie a series (or single event) to a contact, task, note or
deal by the other record's id, which this service does not interpret beyond
a contact id that is a UUID or an email address (the reverse lookup). Writes bump
the event's revision through the database triggers, so CalDAV clients see
the change at their next sync. A key limited to calendars or to a time window
sees only the events inside them: another is a 404 to read and a 403 (with
the reason) to change, and the reverse lookup leaves it out.
"""

from __future__ import annotations

import binascii
import re
import uuid
from datetime import datetime, timezone
from typing import Any

from backside_caldav.db import accounts, event_queries, link_queries, tenancy
from backside_caldav.scheduling import implicit
from backside_caldav.service import access, cursors, validate
from backside_caldav.service import params as p
from backside_caldav.service.events import Caller
from backside_caldav.service.problems import Problem, invalid, not_found

ENTITY_TYPES = ("contact", "task", "note", "deal")
MAX_ENTITY_ID = 200
RSVP_STATUSES = ("pending", "accepted", "declined", "tentative")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _link(row) -> dict:
    return {"id": row.id, "event_id": row.event_id, "entity_type": row.entity_type,
            "entity_id": row.entity_id, "created_at": validate.iso(row.created_at)}


def _uuid(value: object) -> str | None:
    """The id in its plain form, None when it is not a UUID (such an id names nothing)."""
    try:
        return str(uuid.UUID(value)) if isinstance(value, str) else None
    except ValueError:
        return None


def _event(caller: Caller, event_id: str, write: bool = False) -> str:
    """The event: 404 when there is none, or (reads) when it lies outside the key's
    calendars or window; a write there is a 403 that says why."""
    missing = not_found(f"no event {event_id} (it does not exist, is in the trash, or is an "
                        "override of a series: use the series id)")
    if _uuid(event_id) is None:
        raise missing
    if write:
        tenancy.name_writer(caller.conn, "api")
    calendar_id = link_queries.master_calendar(caller.conn, caller.tenant, event_id, lock=write)
    if calendar_id is None:
        raise missing
    now = datetime.now(timezone.utc)
    if write:
        access.require_event_write(caller.conn, caller.key, event_id, calendar_id, now)
    elif access.event_outside(caller.conn, caller.key, event_id, calendar_id, now) is not None:
        raise missing
    return event_id


def _entity_type(value: object, name: str = "entity_type") -> str:
    if value not in ENTITY_TYPES:
        raise invalid(name, f"must be one of {', '.join(ENTITY_TYPES)}")
    assert isinstance(value, str)
    return value


def list_links(caller: Caller, event_id: str) -> dict[str, Any]:
    """GET /api/v1/events/{event_id}/links: {links}."""
    event_id = _event(caller, event_id)
    return {"links": [_link(r) for r in
                      link_queries.links_of(caller.conn, caller.tenant, event_id)]}


def add_link(caller: Caller, event_id: str, doc: dict[str, Any]
             ) -> tuple[int, dict[str, Any]]:
    """POST /api/v1/events/{event_id}/links: 201 with the new link, 200 if it existed."""
    validate.body_fields(doc, ("entity_type", "entity_id"), ())
    entity_type = _entity_type(doc["entity_type"])
    entity_id = validate.text("entity_id", doc["entity_id"], MAX_ENTITY_ID)
    event_id = _event(caller, event_id, write=True)
    existing = link_queries.find_link(caller.conn, caller.tenant, event_id, entity_type,
                                      entity_id)
    if existing is not None:
        return 200, _link(existing)
    row = link_queries.insert_link(caller.conn, caller.tenant, event_id, entity_type, entity_id)
    return 201, _link(row)


def delete_link(caller: Caller, event_id: str, link_id: str) -> None:
    """DELETE /api/v1/events/{event_id}/links/{link_id}."""
    event_id = _event(caller, event_id, write=True)
    if _uuid(link_id) is None or not link_queries.delete_link(caller.conn, caller.tenant,
                                                              event_id, link_id):
        raise not_found(f"event {event_id} has no link {link_id}")


def reverse(caller: Caller, params: p.Params) -> dict[str, Any]:
    """GET /api/v1/links?entity_type=&entity_id=: the events tied to one record,
    {events, next_cursor}; params as a parsed query string or plain values."""
    p.only(params, "entity_type", "entity_id", "limit", "cursor")
    raw_type = p.one(params, "entity_type")
    if raw_type is None:
        raise invalid("entity_type", f"is required: one of {', '.join(ENTITY_TYPES)}")
    entity_type = _entity_type(raw_type)
    raw_id = p.one(params, "entity_id")
    if raw_id is None:
        raise invalid("entity_id", "is required")
    entity_id = validate.text("entity_id", raw_id, MAX_ENTITY_ID)
    limit = p.limit(params, DEFAULT_LIMIT, MAX_LIMIT)
    after = None
    cursor = p.one(params, "cursor")
    if cursor is not None:
        after = _decode_cursor(cursor)
    contact_uuid = contact_email = None
    if entity_type == "contact":
        if _UUID_RE.match(entity_id):
            contact_uuid = entity_id.lower()
        elif "@" in entity_id:
            contact_email = entity_id
    rows = link_queries.events_for_entity(
        caller.conn, caller.tenant, entity_type, entity_id, contact_uuid, contact_email, after,
        limit + 1, calendar_ids=access.calendars_for(caller.key, None),
        window=caller.key.window(datetime.now(timezone.utc)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = _encode_cursor(rows[-1].start_time, rows[-1].id)
    return {"events": [{
        "id": r.id, "calendar_id": r.calendar_id, "title": r.title, "location": r.location,
        "start": validate.iso(r.start_time), "end": validate.iso(r.end_time),
        "all_day": r.is_all_day, "timezone": r.timezone, "recurring": bool(r.rrule or r.rdates),
        "status": r.status, "link_ids": list(r.link_ids or []), "attendee": r.attendee,
    } for r in rows], "next_cursor": next_cursor}


def _encode_cursor(start: datetime, event_id: str) -> str:
    return cursors.pack(f"{validate.iso(start)}|{event_id}")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    problem = invalid("cursor", "is not a cursor from this endpoint; repeat the request "
                                "without cursor")
    try:
        raw = cursors.unpack(cursor, 200).decode()
        start_text, event_id = raw.split("|")
        return validate.date_time("cursor", start_text), validate.uuid_value("cursor", event_id)
    except (ValueError, binascii.Error, UnicodeDecodeError, Problem):
        raise problem from None


def _text(caller: Caller, event_id: str) -> str | None:
    master = event_queries.get_master(caller.conn, caller.tenant, event_id)
    return None if master is None else event_queries.current_text(
        caller.conn, caller.tenant, master).text


def _reply(caller: Caller, email: str, before: str | None, after: str | None) -> None:
    """An answer set for one of the tenant's own people is that person's reply
    to the organizer (RFC 6638 3.2.2): the same REPLY a CalDAV client's PUT
    sends. An answer recorded for someone outside sends nothing."""
    if after is None or email.lower() not in accounts.owner_addresses(caller.conn,
                                                                       caller.tenant):
        return
    implicit.on_put(caller.conn, implicit.writer_for_email(caller.tenant, email), before, after)


def respond(caller: Caller, event_id: str, doc: dict[str, Any]) -> dict[str, Any]:
    """POST /api/v1/events/{event_id}/respond: set one attendee's RSVP on the series."""
    validate.body_fields(doc, ("status",), ("email", "contact_id"))
    status = doc["status"]
    if status not in RSVP_STATUSES:
        raise invalid("status", f"must be one of {', '.join(RSVP_STATUSES)}")
    email = doc.get("email")
    contact_id = doc.get("contact_id")
    if (email is None) == (contact_id is None):
        raise invalid("email", "give exactly one of email or contact_id to name the attendee")
    if email is not None:
        email = validate.email("email", email)
    else:
        contact_id = validate.uuid_value("contact_id", contact_id)
    event_id = _event(caller, event_id, write=True)
    before = _text(caller, event_id)
    found, changed = link_queries.set_rsvp(caller.conn, caller.tenant, event_id, status, email,
                                      contact_id)
    if changed and email is not None:
        _reply(caller, email, before, _text(caller, event_id))
    if not found:
        who = f"email {email}" if email is not None else f"contact_id {contact_id}"
        raise not_found(f"event {event_id} has no attendee with {who}")
    attendee = link_queries.attendee_of(caller.conn, caller.tenant, event_id, email, contact_id)
    return {
        "event_id": event_id, "status": status, "changed": changed,
        "attendee": None if attendee is None else {
            "email": attendee.email, "contact_id": attendee.contact_id, "name": attendee.name,
            "rsvp_status": attendee.rsvp_status},
    }
