"""The rows under a series: the master's columns, overrides, attendees and
links, diffed so that rows keep their ids across a client's edits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg.types.range import Range
from sqlalchemy.engine import Connection

from backside_caldav.db.engines import statement as _q
from backside_caldav.domain.records import AttendeeRecord, EventRecord, ResourceRecord
from backside_caldav.domain.recurrence import span

_WRITE_COLS = ("title", "description", "location", "start_time", "end_time", "timezone",
               "is_all_day", "event_type", "rrule", "rdates", "exdates", "status",
               "transparency", "organizer", "sequence", "recurrence_id", "duration_days")


def row_values(event: EventRecord) -> dict[str, Any]:
    values = {k: getattr(event, k) for k in _WRITE_COLS}
    values["rdates"] = event.rdates or None
    values["exdates"] = event.exdates or None
    values["rdate_periods"] = [Range(s, e, "[]") for s, e in event.rdate_periods] or None
    values["range_start"], values["range_end"] = span(event)
    return values


def _write_event(conn: Connection, tenant: str, event_id: str | None,
                 values: dict[str, Any]) -> str:
    """Insert a new events row (event_id None) or update one; returns its id."""
    if event_id is None:
        cols = ", ".join(values)
        binds = ", ".join(f":{k}" for k in values)
        return conn.execute(_q(f"INSERT INTO events (tenant_id, {cols}) VALUES (:t, {binds}) "
                               "RETURNING id::text"), {"t": tenant, **values}).scalar_one()
    sets = ", ".join(f"{k} = :{k}" for k in values)
    conn.execute(_q(f"UPDATE events SET {sets} WHERE tenant_id = :t AND id = :id"),
                 {"t": tenant, "id": event_id, **values})
    return event_id


def put_event(conn: Connection, tenant: str, calendar_id: str, href: str, text: str,
               resource: ResourceRecord, new: bool = False, existing_id: str | None = None
               ) -> str:
    """new: the caller knows (in this transaction) that nothing is at href;
    existing_id: it knows (and holds locked) the series now at href."""
    primary, *overrides = resource.events
    existing = existing_id if existing_id or new else conn.execute(_q(
        "SELECT id::text FROM events WHERE tenant_id = :t AND calendar_id = :c AND href = :h "
        "AND series_id IS NULL AND deleted_at IS NULL FOR UPDATE"),
        {"t": tenant, "c": calendar_id, "h": href}).scalar()
    identity = {"calendar_id": calendar_id, "uid": resource.uid, "href": href, "ical_source": text}
    values = {**identity, **row_values(primary)}
    if existing is None:
        event_id = _write_event(conn, tenant, None, values)
        _sync_attendees(conn, tenant, event_id, primary.attendees, new=True)
        _sync_links(conn, tenant, event_id, primary.links, new=True)
        _sync_overrides(conn, tenant, calendar_id, event_id, resource.uid, overrides, new=True)
        return event_id
    current = _update_reading_children(conn, tenant, existing, values)
    _sync_attendees(conn, tenant, existing, primary.attendees,
                    rows=current.attendees.get(existing, []))
    _sync_links(conn, tenant, existing, primary.links, rows=current.links.get(existing, []))
    _sync_overrides(conn, tenant, calendar_id, existing, resource.uid, overrides,
                    current=current)
    return existing


@dataclass
class _Children:
    """The rows under a series before a write: overrides by RECURRENCE-ID,
    attendees and links by the id of the row they belong to."""

    overrides: dict[Any, str] = field(default_factory=dict)
    attendees: dict[str, list[Any]] = field(default_factory=dict)
    links: dict[str, list[Any]] = field(default_factory=dict)


_CHILDREN = (
    "s AS (SELECT CAST(:id AS uuid) AS id UNION ALL SELECT id FROM events "
    "WHERE tenant_id = :t AND series_id = :id) "
    "SELECT 'o' AS kind, e.id::text, NULL AS owner, e.recurrence_id, NULL AS email, "
    "NULL AS name, NULL AS rsvp_status, NULL AS role, NULL AS contact_id, "
    "NULL AS entity_type, NULL AS entity_id FROM events e "
    "WHERE e.tenant_id = :t AND e.series_id = :id "
    "UNION ALL SELECT 'a', a.id::text, a.event_id::text, NULL, a.email, a.name, "
    "a.rsvp_status, a.role, a.contact_id::text, NULL, NULL FROM event_attendees a "
    "WHERE a.tenant_id = :t AND a.event_id IN (SELECT id FROM s) "
    "UNION ALL SELECT 'l', l.id::text, l.event_id::text, NULL, NULL, NULL, NULL, NULL, NULL, "
    "l.entity_type, l.entity_id FROM event_links l "
    "WHERE l.tenant_id = :t AND l.event_id IN (SELECT id FROM s)")


def _update_reading_children(conn: Connection, tenant: str, event_id: str,
                             values: dict[str, Any]) -> _Children:
    """Update the master row and read the rows under the series as they were
    before, in one statement (its snapshot precedes the update)."""
    sets = ", ".join(f"{k} = :{k}" for k in values)
    rows = conn.execute(_q(
        f"WITH w AS (UPDATE events SET {sets} WHERE tenant_id = :t AND id = :id), {_CHILDREN}"),
        {"t": tenant, "id": event_id, **values})
    found = _Children()
    for r in rows:
        if r.kind == "o":
            found.overrides[r.recurrence_id] = r.id
        elif r.kind == "a":
            found.attendees.setdefault(r.owner, []).append(r)
        else:
            found.links.setdefault(r.owner, []).append(r)
    return found


def _sync_overrides(conn: Connection, tenant: str, calendar_id: str, series_id: str, uid: str,
                    overrides: list[EventRecord], new: bool = False,
                    current: _Children | None = None) -> None:
    """new: the series was just inserted; else `current` holds its rows before the write."""
    children = current or _Children()
    existing = dict(children.overrides)
    for event in overrides:
        identity = {"calendar_id": calendar_id, "uid": uid, "series_id": series_id}
        old_id = existing.pop(event.recurrence_id, None)
        event_id = _write_event(conn, tenant, old_id, {**identity, **row_values(event)})
        _sync_attendees(conn, tenant, event_id, event.attendees, new=old_id is None,
                        rows=children.attendees.get(event_id, []))
        _sync_links(conn, tenant, event_id, event.links, new=old_id is None,
                    rows=children.links.get(event_id, []))
    current_ids = existing
    if current_ids:
        conn.execute(_q("DELETE FROM events WHERE tenant_id = :t "
                        "AND id = ANY(CAST(:ids AS uuid[]))"),
                     {"t": tenant, "ids": list(current_ids.values())})


def _sync_attendees(conn: Connection, tenant: str, event_id: str,
                    attendees: list[AttendeeRecord], new: bool = False,
                    rows: list[Any] | None = None) -> None:
    """Diff by identity so rows keep their ids and contact_id across client edits.
    new: the event has no attendee rows; else `rows` are its rows (None: read them)."""
    existing: dict[str, Any] = {}
    duplicates: list[str] = []
    if new and not attendees:
        return
    if new:  # all inserts: one statement instead of one per attendee
        conn.execute(_q(
            "INSERT INTO event_attendees (tenant_id, event_id, email, name, rsvp_status, role, "
            "contact_id) SELECT :t, :e, * FROM unnest(CAST(:emails AS text[]), "
            "CAST(:names AS text[]), CAST(:rsvps AS text[]), CAST(:roles AS text[]), "
            "CAST(:contacts AS uuid[]))"),
            {"t": tenant, "e": event_id, "emails": [a.email for a in attendees],
             "names": [a.name for a in attendees], "rsvps": [a.rsvp_status for a in attendees],
             "roles": [a.role for a in attendees],
             "contacts": [a.contact_id for a in attendees]})
        return
    if rows is None:
        rows = list(conn.execute(_q(
            "SELECT id::text, email, name, rsvp_status, role, contact_id::text "
            "FROM event_attendees WHERE tenant_id = :t AND event_id = :e"),
            {"t": tenant, "e": event_id}))
    for r in rows:
        key = AttendeeRecord(email=r.email, contact_id=r.contact_id).key()
        if key in existing:
            duplicates.append(r.id)
        else:
            existing[key] = r
    to_delete = duplicates
    for attendee in attendees:
        row = existing.pop(attendee.key(), None)
        if row is None:
            conn.execute(_q(
                "INSERT INTO event_attendees (tenant_id, event_id, email, name, rsvp_status, "
                "role, contact_id) VALUES (:t, :e, :email, :name, :rsvp, :role, :contact)"),
                {"t": tenant, "e": event_id, "email": attendee.email, "name": attendee.name,
                 "rsvp": attendee.rsvp_status, "role": attendee.role,
                 "contact": attendee.contact_id})
        elif (row.name, row.rsvp_status, row.role) != (attendee.name, attendee.rsvp_status,
                                                       attendee.role):
            conn.execute(_q(
                "UPDATE event_attendees SET name = :name, rsvp_status = :rsvp, role = :role, "
                "updated_at = now() WHERE tenant_id = :t AND id = :id"),
                {"t": tenant, "id": row.id, "name": attendee.name,
                 "rsvp": attendee.rsvp_status, "role": attendee.role})
    to_delete += [r.id for r in existing.values()]
    if to_delete:
        conn.execute(_q("DELETE FROM event_attendees WHERE tenant_id = :t "
                        "AND id = ANY(CAST(:ids AS uuid[]))"), {"t": tenant, "ids": to_delete})


def _sync_links(conn: Connection, tenant: str, event_id: str, links: list[tuple[str, str]],
                new: bool = False, rows: list[Any] | None = None) -> None:
    """Make event_links match the client's LINKs, keeping the ids of rows that stay.
    new: the event has no link rows; else `rows` are its rows (None: read them)."""
    if new and not links:
        return
    if new:
        rows = []
    elif rows is None:
        rows = list(conn.execute(_q(
            "SELECT id::text, entity_type, entity_id FROM event_links WHERE tenant_id = :t "
            "AND event_id = :e"), {"t": tenant, "e": event_id}))
    existing = {(r.entity_type, r.entity_id): r.id for r in rows}
    for entity_type, entity_id in links:
        if existing.pop((entity_type, entity_id), None) is None:
            conn.execute(_q("INSERT INTO event_links (tenant_id, event_id, entity_type, entity_id) "
                            "VALUES (:t, :e, :ty, :id)"),
                         {"t": tenant, "e": event_id, "ty": entity_type, "id": entity_id})
    if existing:
        conn.execute(_q("DELETE FROM event_links WHERE tenant_id = :t "
                        "AND id = ANY(CAST(:ids AS uuid[]))"),
                     {"t": tenant, "ids": list(existing.values())})
