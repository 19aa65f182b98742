"""SQL of the meeting brief (service/meetings.py): the other events that share
people with one event.

People are an attendee's email (compared case-insensitively) and a linked
contact's id (event_links, entity_type 'contact'); an email and a contact id
never match each other. A row on an override counts for its series, as in
db/link_queries.py; the indexes used are event_attendees_email and
event_links_entity.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Row

from backside_caldav.db.engines import statement as _q
from backside_caldav.db.event_reads import key_limits

_PEOPLE_OF_EVENT = (
    "SELECT 'email' AS kind, lower(a.email) AS k FROM event_attendees a JOIN events x "
    "  ON x.tenant_id = a.tenant_id AND x.id = a.event_id "
    "  WHERE a.tenant_id = :t AND (x.id = CAST(:i AS uuid) OR x.series_id = CAST(:i AS uuid)) "
    "  AND a.email IS NOT NULL AND a.email <> '' "
    "UNION "
    "SELECT 'contact', l.entity_id FROM event_links l JOIN events x "
    "  ON x.tenant_id = l.tenant_id AND x.id = l.event_id "
    "  WHERE l.tenant_id = :t AND (x.id = CAST(:i AS uuid) OR x.series_id = CAST(:i AS uuid)) "
    "  AND l.entity_type = 'contact'")

_SHARING = (
    "SELECT coalesce(x.series_id, x.id) AS sid, lower(a.email) AS k FROM event_attendees a "
    "  JOIN events x ON x.tenant_id = a.tenant_id AND x.id = a.event_id "
    "  WHERE a.tenant_id = :t "
    "  AND lower(a.email) IN (SELECT k FROM mine WHERE kind = 'email') "
    "UNION "
    "SELECT coalesce(x.series_id, x.id), l.entity_id FROM event_links l "
    "  JOIN events x ON x.tenant_id = l.tenant_id AND x.id = l.event_id "
    "  WHERE l.tenant_id = :t AND l.entity_type = 'contact' "
    "  AND l.entity_id IN (SELECT k FROM mine WHERE kind = 'contact')")


def related_events(conn: Connection, tenant: str, event_id: str, since: datetime,
                   until: datetime, limit: int, calendar_ids: list[str] | None = None,
                   window: tuple[datetime, datetime] | None = None) -> list[Row]:
    """Live series other than event_id, with some row spanning into [since, until),
    that share an attendee email or a linked contact id with it: (id, title,
    start_time, calendar_id, shared), newest start first. calendar_ids and window
    (an API key's limits) keep only the series in those calendars and with some
    row spanning into the window, as db/link_queries.events_for_entity does."""
    params: dict[str, Any] = {"t": tenant, "i": event_id, "s": since, "u": until, "n": limit}
    limits = key_limits("e", calendar_ids, window, params)
    return list(conn.execute(_q(
        f"WITH mine AS ({_PEOPLE_OF_EVENT}), sharing AS ({_SHARING}) "
        "SELECT e.id::text AS id, e.title, e.start_time, e.calendar_id::text AS calendar_id, "
        "array_agg(DISTINCT s.k ORDER BY s.k) AS shared "
        "FROM sharing s JOIN events e ON e.tenant_id = :t AND e.id = s.sid "
        "WHERE e.series_id IS NULL AND e.deleted_at IS NULL AND e.id <> CAST(:i AS uuid) "
        "AND EXISTS (SELECT 1 FROM events r WHERE r.tenant_id = :t "
        "AND (r.id = e.id OR r.series_id = e.id) AND r.range_start < :u AND r.range_end > :s)"
        f"{limits} "
        "GROUP BY e.id, e.title, e.start_time, e.calendar_id "
        "ORDER BY e.start_time DESC, e.id DESC LIMIT :n"), params))
