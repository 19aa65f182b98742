"""SQL of event_links and of an attendee's answer (RSVP), for the JSON API.

A link or attendee row on an override counts for its series.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Row

from backside_caldav.db.engines import statement as _q
from backside_caldav.db.event_reads import key_limits


def master_calendar(conn: Connection, tenant: str, event_id: str,
                    lock: bool = False) -> str | None:
    """The calendar of the live (not trashed) series or single event with this id.

    lock takes the row until commit, which serialises writers of its links
    (the link triggers bump the same row's revision anyway).
    """
    return conn.execute(_q(
        "SELECT calendar_id::text FROM events WHERE tenant_id = :t AND id = :i "
        "AND series_id IS NULL AND deleted_at IS NULL" + (" FOR NO KEY UPDATE" if lock else "")),
        {"t": tenant, "i": event_id}).scalar()


LINK_COLS = ("id::text AS id, event_id::text AS event_id, entity_type, entity_id, "
             "created_at")


def links_of(conn: Connection, tenant: str, event_id: str) -> list[Row]:
    return list(conn.execute(_q(
        f"SELECT {LINK_COLS} FROM event_links WHERE tenant_id = :t AND event_id = :e "
        "ORDER BY created_at, id"), {"t": tenant, "e": event_id}))


def find_link(conn: Connection, tenant: str, event_id: str, entity_type: str,
              entity_id: str) -> Row | None:
    return conn.execute(_q(
        f"SELECT {LINK_COLS} FROM event_links WHERE tenant_id = :t AND event_id = :e "
        "AND entity_type = :et AND entity_id = :ei ORDER BY created_at, id LIMIT 1"),
        {"t": tenant, "e": event_id, "et": entity_type, "ei": entity_id}).first()


def insert_link(conn: Connection, tenant: str, event_id: str, entity_type: str,
                entity_id: str) -> Row:
    return conn.execute(_q(
        "INSERT INTO event_links (tenant_id, event_id, entity_type, entity_id) "
        f"VALUES (:t, :e, :et, :ei) RETURNING {LINK_COLS}"),
        {"t": tenant, "e": event_id, "et": entity_type, "ei": entity_id}).one()


def delete_link(conn: Connection, tenant: str, event_id: str, link_id: str) -> bool:
    return conn.execute(_q(
        "DELETE FROM event_links WHERE tenant_id = :t AND event_id = :e AND id = :l"),
        {"t": tenant, "e": event_id, "l": link_id}).rowcount > 0


def events_for_entity(conn: Connection, tenant: str, entity_type: str, entity_id: str,
                      contact_uuid: str | None, contact_email: str | None,
                      after: tuple[datetime, str] | None, limit: int,
                      calendar_ids: list[str] | None = None,
                      window: tuple[datetime, datetime] | None = None) -> list[Row]:
    """Live masters linked to the entity, or (contacts) with it as an attendee.

    A link or attendee row on an override counts for its series. Ordered by
    start time for keyset pagination. calendar_ids and window (an API key's
    limits) keep only the series in those calendars and with some row
    spanning into the window (the conservative span the event reads use).
    """
    params: dict[str, Any] = {"t": tenant, "et": entity_type, "ei": entity_id, "n": limit}
    limits = key_limits("e", calendar_ids, window, params)
    sources = [
        "SELECT coalesce(x.series_id, x.id) FROM event_links l JOIN events x "
        "ON x.tenant_id = l.tenant_id AND x.id = l.event_id "
        "WHERE l.tenant_id = :t AND l.entity_type = :et AND l.entity_id = :ei"]
    attendee_match = "false"
    if contact_uuid is not None:
        params["cid"] = contact_uuid
        attendee_match = "a.contact_id = CAST(:cid AS uuid)"
    elif contact_email is not None:
        params["cm"] = contact_email
        attendee_match = "lower(a.email) = lower(:cm)"
    if attendee_match != "false":
        sources.append(
            "SELECT coalesce(x.series_id, x.id) FROM event_attendees a JOIN events x "
            "ON x.tenant_id = a.tenant_id AND x.id = a.event_id "
            f"WHERE a.tenant_id = :t AND {attendee_match}")
    page = ""
    if after is not None:
        params["as"], params["ai"] = after
        page = " AND (e.start_time, e.id) > (:as, CAST(:ai AS uuid))"
    return list(conn.execute(_q(
        "SELECT e.id::text AS id, e.calendar_id::text AS calendar_id, e.title, e.location, "
        "e.start_time, e.end_time, e.timezone, e.is_all_day, e.rrule, e.rdates, e.status, "
        "ARRAY(SELECT l.id::text FROM event_links l JOIN events x "
        "      ON x.tenant_id = l.tenant_id AND x.id = l.event_id "
        "      WHERE l.tenant_id = :t AND (x.id = e.id OR x.series_id = e.id) "
        "      AND l.entity_type = :et AND l.entity_id = :ei ORDER BY l.created_at, l.id"
        ") AS link_ids, "
        "(SELECT json_build_object('email', a.email, 'contact_id', a.contact_id, "
        "        'name', a.name, 'rsvp_status', a.rsvp_status) "
        "   FROM event_attendees a JOIN events x "
        "     ON x.tenant_id = a.tenant_id AND x.id = a.event_id "
        f"  WHERE a.tenant_id = :t AND (x.id = e.id OR x.series_id = e.id) AND {attendee_match} "
        "  ORDER BY x.series_id NULLS FIRST, x.recurrence_id, a.created_at LIMIT 1) AS attendee "
        "FROM events e WHERE e.tenant_id = :t AND e.series_id IS NULL AND e.deleted_at IS NULL "
        f"AND e.id IN ({' UNION '.join(sources)}){limits}{page} "
        "ORDER BY e.start_time, e.id LIMIT :n"), params))


def set_rsvp(conn: Connection, tenant: str, event_id: str, status: str,
             email: str | None, contact_id: str | None) -> tuple[int, int]:
    """Set the attendee's status on the series and its live overrides.

    Returns (attendee rows found, rows changed). Rows already at the status
    are left alone, so nothing changes the event's ETag needlessly.
    """
    if email is not None:
        who, params = "lower(a.email) = lower(:m)", {"m": email}
    else:
        who, params = "a.contact_id = CAST(:cid AS uuid)", {"cid": contact_id}
    params.update({"t": tenant, "i": event_id, "s": status})
    found = conn.execute(_q(
        "SELECT a.id, a.rsvp_status FROM event_attendees a JOIN events x "
        "ON x.tenant_id = a.tenant_id AND x.id = a.event_id "
        "WHERE a.tenant_id = :t AND x.deleted_at IS NULL AND (x.id = :i OR x.series_id = :i) "
        f"AND {who} FOR UPDATE OF a"), params).all()
    changed = [r.id for r in found if r.rsvp_status != status]
    if changed:
        conn.execute(_q(
            "UPDATE event_attendees SET rsvp_status = :s, updated_at = now() "
            "WHERE tenant_id = :t AND id = ANY(CAST(:ids AS uuid[]))"),
            {"t": tenant, "s": status, "ids": [str(i) for i in changed]})
    return len(found), len(changed)


def attendee_of(conn: Connection, tenant: str, event_id: str, email: str | None,
                contact_id: str | None) -> Row | None:
    if email is not None:
        who, params = "lower(email) = lower(:m)", {"m": email}
    else:
        who, params = "contact_id = CAST(:cid AS uuid)", {"cid": contact_id}
    params.update({"t": tenant, "i": event_id})
    return conn.execute(_q(
        "SELECT email, contact_id::text AS contact_id, name, rsvp_status FROM event_attendees "
        f"WHERE tenant_id = :t AND event_id = :i AND {who} ORDER BY created_at LIMIT 1"),
        params).first()
