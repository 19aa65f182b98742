"""All SQL the sidecar runs, in one place. Every query names its tenant.

Functions take the request's open connection (one transaction per request,
tenant already set) and return rows; the endpoint modules turn rows into
JSON. Search and availability read masters only (series_id IS NULL): an
override row belongs to its series and is never an answer of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection, Row

from backside_caldav.db import store
from backside_caldav.db.engines import statement as _q

# The same expression as the GIN index events_search_fts (migration 0003):
# PostgreSQL uses the index only when the query repeats it exactly.
SEARCH_VECTOR = (
    "(setweight(to_tsvector('simple'::regconfig, coalesce(e.title, '')), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, coalesce(e.location, '')), 'B') || "
    "setweight(to_tsvector('simple'::regconfig, coalesce(e.description, '')), 'C'))"
)

# Columns store._event_record reads, plus what the API shows.
EVENT_COLS = (
    "e.id::text AS id, e.series_id::text AS series_id, e.calendar_id::text AS calendar_id, "
    "e.title, e.description, e.location, e.start_time, e.end_time, e.timezone, e.is_all_day, "
    "e.event_type, e.rrule, e.rdates, e.exdates, e.status, e.transparency, e.organizer, "
    "e.sequence, e.recurrence_id, e.duration_days, e.rdate_periods"
)


# --- API keys ----------------------------------------------------------------

def insert_api_key(conn: Connection, tenant: str, key_hash: str, read_only: bool) -> str:
    return conn.execute(_q(
        "INSERT INTO api_keys (tenant_id, key_hash, read_only) VALUES (:t, :h, :r) "
        "RETURNING id::text"), {"t": tenant, "h": key_hash, "r": read_only}).scalar_one()


def list_api_keys(conn: Connection, tenant: str) -> list[Row]:
    return list(conn.execute(_q(
        "SELECT id::text, read_only, created_at, last_used_at FROM api_keys "
        "WHERE tenant_id = :t ORDER BY created_at, id"), {"t": tenant}))


def delete_api_key(conn: Connection, tenant: str, key_id: str) -> bool:
    return conn.execute(_q("DELETE FROM api_keys WHERE tenant_id = :t AND id = :i"),
                        {"t": tenant, "i": key_id}).rowcount > 0


def enter_tenant_of_key(conn: Connection, key_hash: str) -> Row | None:
    """Find the key and set its tenant for this transaction (one round trip).

    last_used_at is refreshed at most once a minute and never waits for a
    concurrent request holding the row (SKIP LOCKED), so it costs nothing on
    the hot path.
    """
    row = conn.execute(_q(
        "SELECT tenant_id::text AS tenant_id, id::text AS id, read_only, "
        "last_used_at IS NULL OR last_used_at < now() - interval '1 minute' AS stale, "
        "set_config('backside.tenant_id', tenant_id::text, true) "
        "FROM api_keys WHERE key_hash = :h"), {"h": key_hash}).first()
    if row is not None and row.stale:
        conn.execute(_q(
            "UPDATE api_keys SET last_used_at = now() WHERE tenant_id = :t AND id IN ("
            "SELECT id FROM api_keys WHERE tenant_id = :t AND id = :i FOR UPDATE SKIP LOCKED)"),
            {"t": row.tenant_id, "i": row.id})
    return row


# --- calendars -----------------------------------------------------------------

def list_calendars(conn: Connection, tenant: str) -> list[Row]:
    return list(conn.execute(_q(
        "SELECT id::text AS id, name, href, timezone, color, description, components "
        "FROM calendars WHERE tenant_id = :t ORDER BY calendar_order NULLS LAST, name, href"),
        {"t": tenant}))


def missing_calendars(conn: Connection, tenant: str, calendar_ids: list[str]) -> list[str]:
    """Those of the ids that are not calendars of this tenant."""
    found = set(conn.execute(_q(
        "SELECT id::text FROM calendars WHERE tenant_id = :t AND id = ANY(CAST(:ids AS uuid[]))"),
        {"t": tenant, "ids": calendar_ids}).scalars())
    return [c for c in calendar_ids if c not in found]


# --- search --------------------------------------------------------------------

@dataclass(frozen=True)
class SearchQuery:
    tenant: str
    text: str  # the trimmed query
    tsquery: str | None  # 'word:* & word:*', None when q has no words
    pattern: str | None  # '%q%' (LIKE-escaped), None when substring matching is off
    prefix: str  # 'q%' (LIKE-escaped)
    calendar_id: str | None
    window: tuple[datetime, datetime] | None
    after: tuple[str, str] | None  # (score, id) of the last hit of the previous page
    limit: int


def search(conn: Connection, q: SearchQuery) -> list[Row]:
    """Masters matching the words (prefixes) or containing the text, best first."""
    built = search_sql(q)
    if built is None:
        return []
    return list(conn.execute(_q(built[0]), built[1]))


def search_sql(q: SearchQuery) -> tuple[str, dict[str, Any]] | None:
    """The search statement and its parameters (None: nothing can match).

    The SQL text is assembled from fixed pieces only (values are bound), so a
    query without words or without substring matching plans without the
    branch it does not need.
    """
    params: dict[str, Any] = {"t": q.tenant, "q": q.text, "prefix": q.prefix, "n": q.limit}
    matches = []
    rank = "0"
    if q.tsquery is not None:
        params["tsq"] = q.tsquery
        matches.append(f"{SEARCH_VECTOR} @@ to_tsquery('simple'::regconfig, :tsq)")
        rank = f"ts_rank({SEARCH_VECTOR}, to_tsquery('simple'::regconfig, :tsq))"
    if q.pattern is not None:
        params["pat"] = q.pattern
        matches.append("e.title ILIKE :pat OR e.location ILIKE :pat OR e.description ILIKE :pat")
        bonus = ("CASE WHEN lower(coalesce(e.title, '')) = lower(:q) THEN 1.0 "
                 "WHEN e.title ILIKE :prefix THEN 0.6 WHEN e.title ILIKE :pat THEN 0.4 ELSE 0 END"
                 " + CASE WHEN e.location ILIKE :pat THEN 0.2 ELSE 0 END"
                 " + CASE WHEN e.description ILIKE :pat THEN 0.1 ELSE 0 END")
    else:
        bonus = ("CASE WHEN lower(coalesce(e.title, '')) = lower(:q) THEN 1.0 "
                 "WHEN e.title ILIKE :prefix THEN 0.6 ELSE 0 END")
    if not matches:
        return None
    filters = ""
    if q.calendar_id is not None:
        params["c"] = q.calendar_id
        filters += " AND e.calendar_id = :c"
    if q.window is not None:
        params["ws"], params["we"] = q.window
        filters += (" AND e.id IN (SELECT coalesce(w.series_id, w.id) FROM events w "
                    "WHERE w.tenant_id = :t AND w.deleted_at IS NULL "
                    "AND w.range_start < :we AND w.range_end > :ws)")
    page = ""
    if q.after is not None:
        params["as"], params["ai"] = q.after
        page = ("WHERE m.score < CAST(:as AS numeric) OR (m.score = CAST(:as AS numeric) "
                "AND m.id > CAST(:ai AS uuid))")
    sql = (
        "SELECT m.id::text AS id, m.calendar_id::text AS calendar_id, m.title, m.description, "
        "m.location, m.start_time, m.end_time, m.timezone, m.is_all_day, m.rrule, m.rdates, "
        "m.status, m.score FROM ("
        "  SELECT e.id, e.calendar_id, e.title, e.description, e.location, e.start_time, "
        "  e.end_time, e.timezone, e.is_all_day, e.rrule, e.rdates, e.status, "
        f"  round(CAST({rank} + {bonus} AS numeric), 6) AS score "
        "  FROM events e WHERE e.tenant_id = :t AND e.deleted_at IS NULL "
        f"  AND e.series_id IS NULL AND ({' OR '.join(matches)}){filters}"
        f") m {page} ORDER BY m.score DESC, m.id LIMIT :n")
    return sql, params


# --- events and their instances -------------------------------------------------

def master_exists(conn: Connection, tenant: str, event_id: str, lock: bool = False) -> bool:
    """A live (not trashed) series or single event with this id.

    lock takes the row until commit, which serialises writers of its links
    (the link triggers bump the same row's revision anyway).
    """
    return conn.execute(_q(
        "SELECT 1 FROM events WHERE tenant_id = :t AND id = :i AND series_id IS NULL "
        "AND deleted_at IS NULL" + (" FOR NO KEY UPDATE" if lock else "")),
        {"t": tenant, "i": event_id}).first() is not None


def unindexed_masters(conn: Connection, tenant: str, start: datetime, end: datetime,
                      calendar_ids: list[str] | None) -> list[Row]:
    """Masters the instance index cannot answer for in [start, end) (a day wider
    each side, for all-day events); the caller expands them."""
    ids = store.unindexed_series(conn, tenant, calendar_ids, start - timedelta(days=1),
                                 end + timedelta(days=1))
    if not ids:
        return []
    return list(conn.execute(_q(
        f"SELECT {EVENT_COLS}, c.timezone AS calendar_timezone FROM events e "
        "JOIN calendars c ON c.tenant_id = e.tenant_id AND c.id = e.calendar_id "
        "WHERE e.tenant_id = :t AND e.id = ANY(CAST(:ids AS uuid[]))"),
        {"t": tenant, "ids": ids}))


def indexed_busy(conn: Connection, tenant: str, start: datetime, end: datetime,
                 calendar_ids: list[str] | None) -> list[Row]:
    """Blocking occurrences straight from the instance index (series it can answer
    for only), with the row that governs each: the override's, else the master's."""
    cal = "" if calendar_ids is None else "AND i.calendar_id = ANY(CAST(:cals AS uuid[])) "
    return list(conn.execute(_q(
        "SELECT i.event_id::text AS event_id, i.calendar_id::text AS calendar_id, "
        "i.recurrence_id, i.start_time, i.end_time, "
        "(m.rrule IS NOT NULL OR m.rdates IS NOT NULL) AS recurring, "
        "coalesce(o.id, m.id)::text AS row_id, "
        "CASE WHEN o.id IS NULL THEN m.title ELSE o.title END AS title, "
        "coalesce(o.event_type, m.event_type) AS event_type, "
        "coalesce(o.is_all_day, m.is_all_day) AS is_all_day, "
        "coalesce(o.timezone, m.timezone, c.timezone) AS day_zone "
        f"FROM event_instances i {store.INDEXED_SERIES_JOIN}"
        "JOIN calendars c ON c.tenant_id = m.tenant_id AND c.id = m.calendar_id "
        "LEFT JOIN events o ON o.tenant_id = i.tenant_id AND o.series_id = i.event_id "
        "  AND o.recurrence_id = i.recurrence_id "
        f"WHERE i.tenant_id = :t {cal}AND i.busy <> 'FREE' AND {store.INSTANCE_OVERLAPS} "
        "ORDER BY i.start_time"),
        {"t": tenant, "cals": calendar_ids, **store.overlap_params(start, end)}))


def masters_by_id(conn: Connection, tenant: str, ids: list[str]) -> list[Row]:
    return list(conn.execute(_q(
        f"SELECT {EVENT_COLS}, c.timezone AS calendar_timezone FROM events e "
        "JOIN calendars c ON c.tenant_id = e.tenant_id AND c.id = e.calendar_id "
        "WHERE e.tenant_id = :t AND e.id = ANY(CAST(:ids AS uuid[]))"),
        {"t": tenant, "ids": ids}))


def overrides_of(conn: Connection, tenant: str, series_ids: list[str]) -> list[Row]:
    if not series_ids:
        return []
    return list(conn.execute(_q(
        f"SELECT {EVENT_COLS} FROM events e WHERE e.tenant_id = :t "
        "AND e.series_id = ANY(CAST(:ids AS uuid[])) AND e.deleted_at IS NULL "
        "ORDER BY e.recurrence_id"), {"t": tenant, "ids": series_ids}))


def declined_by(conn: Connection, tenant: str, event_ids: list[str], email: str) -> set[str]:
    """Which of these event rows the attendee with this email has declined."""
    if not event_ids:
        return set()
    return set(conn.execute(_q(
        "SELECT DISTINCT event_id::text FROM event_attendees WHERE tenant_id = :t "
        "AND lower(email) = lower(:m) AND rsvp_status = 'declined' "
        "AND event_id = ANY(CAST(:ids AS uuid[]))"),
        {"t": tenant, "m": email, "ids": event_ids}).scalars())


# --- links ---------------------------------------------------------------------

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
                      after: tuple[datetime, str] | None, limit: int) -> list[Row]:
    """Live masters linked to the entity, or (contacts) with it as an attendee.

    A link or attendee row on an override counts for its series. Ordered by
    start time for keyset pagination.
    """
    params: dict[str, Any] = {"t": tenant, "et": entity_type, "ei": entity_id, "n": limit}
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
        f"AND e.id IN ({' UNION '.join(sources)}){page} "
        "ORDER BY e.start_time, e.id LIMIT :n"), params))


# --- RSVP ------------------------------------------------------------------------

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
