"""SQL of the calendars table: the collections of a tenant."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.engine import Connection

from backside_caldav.db.engines import statement as _q
from backside_caldav.domain.records import CalendarRow

CAL_COLS = ("id::text, href, name, color, description, timezone, calendar_order, components, "
             "props, sync_counter, sync_floor, updated_at")


def list_calendars(conn: Connection, tenant: str) -> list[CalendarRow]:
    rows = conn.execute(_q(f"SELECT {CAL_COLS} FROM calendars WHERE tenant_id = :t "
                           "ORDER BY calendar_order NULLS LAST, name, href"), {"t": tenant})
    return [CalendarRow(*r) for r in rows]


def get_calendar(conn: Connection, tenant: str, href: str) -> CalendarRow | None:
    row = conn.execute(_q(f"SELECT {CAL_COLS} FROM calendars WHERE tenant_id = :t AND href = :h"),
                       {"t": tenant, "h": href}).first()
    return CalendarRow(*row) if row else None


def create_calendar(conn: Connection, tenant: str, href: str, values: dict[str, Any]) -> CalendarRow:
    values = dict(values)
    values.setdefault("name", href)
    cols = ", ".join(values)
    binds = ", ".join(f"CAST(:{k} AS jsonb)" if k == "props" else f":{k}" for k in values)
    row = conn.execute(_q(f"INSERT INTO calendars (tenant_id, href, {cols}) "
                          f"VALUES (:t, :href, {binds}) RETURNING {CAL_COLS}"),
                       {"t": tenant, "href": href, **_jsonify(values)}).one()
    return CalendarRow(*row)


def update_calendar(conn: Connection, tenant: str, calendar_id: str, values: dict[str, Any]) -> None:
    if not values:
        return
    sets = ", ".join(f"{k} = CAST(:{k} AS jsonb)" if k == "props" else f"{k} = :{k}"
                     for k in values)
    conn.execute(_q(f"UPDATE calendars SET {sets} WHERE tenant_id = :t AND id = :c"),
                 {"t": tenant, "c": calendar_id, **_jsonify(values)})


def delete_calendar(conn: Connection, tenant: str, calendar_id: str) -> None:
    conn.execute(_q("DELETE FROM calendars WHERE tenant_id = :t AND id = :c"),
                 {"t": tenant, "c": calendar_id})


def _jsonify(values: dict[str, Any]) -> dict[str, Any]:
    return {k: json.dumps(v) if k == "props" else v for k, v in values.items()}


def missing_calendars(conn: Connection, tenant: str, calendar_ids: list[str]) -> list[str]:
    """Those of the ids that are not calendars of this tenant."""
    found = set(conn.execute(_q(
        "SELECT id::text FROM calendars WHERE tenant_id = :t AND id = ANY(CAST(:ids AS uuid[]))"),
        {"t": tenant, "ids": calendar_ids}).scalars())
    return [c for c in calendar_ids if c not in found]


def default_calendar(conn: Connection, tenant: str) -> CalendarRow | None:
    """Where an event goes when its creator names no calendar: the first calendar
    that takes events, in the order clients list them (calendar_order, then age)."""
    row = conn.execute(_q(
        f"SELECT {CAL_COLS} FROM calendars WHERE tenant_id = :t AND 'VEVENT' = ANY(components) "
        "ORDER BY calendar_order NULLS LAST, created_at, id LIMIT 1"), {"t": tenant}).first()
    return CalendarRow(*row) if row else None


def calendar_by_id(conn: Connection, tenant: str, calendar_id: str) -> CalendarRow | None:
    row = conn.execute(_q(f"SELECT {CAL_COLS} FROM calendars WHERE tenant_id = :t AND id = :c"),
                       {"t": tenant, "c": calendar_id}).first()
    return CalendarRow(*row) if row else None


def calendars_by_name(conn: Connection, tenant: str, name: str) -> list[CalendarRow]:
    """Calendars whose display name is `name`, ignoring case (names need not be unique)."""
    rows = conn.execute(_q(f"SELECT {CAL_COLS} FROM calendars WHERE tenant_id = :t "
                           "AND lower(name) = lower(:n) ORDER BY created_at, id"),
                        {"t": tenant, "n": name})
    return [CalendarRow(*r) for r in rows]


def calendar_contents(conn: Connection, tenant: str, calendar_id: str) -> tuple[int, int]:
    """(events, tasks and journals) a calendar holds: live series and single events
    (not overrides, not the trash), and its VTODO/VJOURNAL resources."""
    row = conn.execute(_q(
        "SELECT (SELECT count(*) FROM events WHERE tenant_id = :t AND calendar_id = :c "
        "AND series_id IS NULL AND deleted_at IS NULL), "
        "(SELECT count(*) FROM calendar_objects WHERE tenant_id = :t AND calendar_id = :c)"),
        {"t": tenant, "c": calendar_id}).one()
    return int(row[0]), int(row[1])
