"""SQL of the event API: one event by id, its people, the trash, and listings.

Writes of an event's content go through event_writes.put_item like a CalDAV
PUT; only the trash (deleted_at) and a permanent delete are written here,
and the triggers log them for syncing clients as they do for CalDAV.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Row

from backside_caldav.db.engines import statement as _q
from backside_caldav.db.event_reads import (
    EVENT_COLS,
    ITEM_FIELDS,
    RECORD_FIELDS,
    StoredItem,
    columns,
    load_events,
    spans_into,
)
from backside_caldav.db.occurrences import INSTANCE_OVERLAPS, overlap_params
from backside_caldav.domain.recurrence import SLACK, shift

# An event's overrides, people and links as JSON, so an answer is one round trip.
DETAIL_COLS = (
    "(SELECT coalesce(json_agg(json_build_object('id', o.id::text, 'recurrence_id', "
    "o.recurrence_id, 'start_time', o.start_time, 'end_time', o.end_time, 'title', o.title, "
    "'status', o.status, 'location', o.location) ORDER BY o.recurrence_id), '[]') "
    "FROM events o WHERE o.tenant_id = events.tenant_id AND o.series_id = events.id) "
    "AS overrides_json, "
    "(SELECT coalesce(json_agg(json_build_object('id', a.id::text, 'email', a.email, "
    "'contact_id', a.contact_id::text, 'name', a.name, 'role', a.role, 'rsvp_status', "
    "a.rsvp_status) ORDER BY a.created_at, lower(a.email), a.contact_id, a.id), '[]') "
    "FROM event_attendees a "
    "WHERE a.tenant_id = events.tenant_id AND a.event_id = events.id) AS attendees_json, "
    "(SELECT coalesce(json_agg(json_build_object('id', l.id::text, 'entity_type', "
    "l.entity_type, 'entity_id', l.entity_id) ORDER BY l.created_at, l.id), '[]') "
    "FROM event_links l WHERE l.tenant_id = events.tenant_id AND l.event_id = events.id) "
    "AS links_json")

MASTER_COLS = (f"{EVENT_COLS}, {DETAIL_COLS}, deleted_at, created_at, next_occurrence, "
               "(SELECT c.name FROM calendars c WHERE c.tenant_id = events.tenant_id "
               "AND c.id = events.calendar_id) AS calendar_name, "
               "(SELECT c.timezone FROM calendars c WHERE c.tenant_id = events.tenant_id "
               "AND c.id = events.calendar_id) AS calendar_timezone")


def get_master(conn: Connection, tenant: str, event_id: str, lock: bool = False) -> Row | None:
    """The series (or single event) row with this id, trashed or not; None for an
    override's id, which is answered through its series."""
    return conn.execute(_q(
        f"SELECT {MASTER_COLS} FROM events WHERE tenant_id = :t AND id = :i "
        f"AND series_id IS NULL{' FOR UPDATE' if lock else ''}"),
        {"t": tenant, "i": event_id}).first()


def current_text(conn: Connection, tenant: str, master: Row) -> StoredItem:
    """The resource as a client would GET it (rendered if another writer changed it)."""
    return load_events(conn, tenant, [master])[0]


def trash(conn: Connection, tenant: str, event_id: str) -> None:
    conn.execute(_q("UPDATE events SET deleted_at = now() WHERE tenant_id = :t AND id = :i "
                    "AND deleted_at IS NULL"), {"t": tenant, "i": event_id})


def live_conflict(conn: Connection, tenant: str, master: Row) -> bool:
    """A live resource now holds the trashed event's href or UID in its calendar."""
    return conn.execute(_q(
        "SELECT EXISTS (SELECT 1 FROM events WHERE tenant_id = :t AND calendar_id = :c "
        "AND series_id IS NULL AND deleted_at IS NULL AND id <> :i AND (href = :h OR uid = :u)) "
        "OR EXISTS (SELECT 1 FROM calendar_objects WHERE tenant_id = :t AND calendar_id = :c "
        "AND (href = :h OR uid = :u))"),
        {"t": tenant, "c": master.calendar_id, "i": master.id, "h": master.href,
         "u": master.uid}).scalar_one()


def restore(conn: Connection, tenant: str, event_id: str) -> None:
    conn.execute(_q("UPDATE events SET deleted_at = NULL WHERE tenant_id = :t AND id = :i"),
                 {"t": tenant, "i": event_id})


def purge(conn: Connection, tenant: str, event_id: str) -> None:
    """Remove the series and everything under it (overrides, people, links, index)."""
    conn.execute(_q("DELETE FROM events WHERE tenant_id = :t AND id = :i"),
                 {"t": tenant, "i": event_id})


def attendee_by_key(conn: Connection, tenant: str, event_id: str, email: str | None,
                    contact_id: str | None) -> Row | None:
    return conn.execute(_q(
        "SELECT id::text, event_id::text, email, contact_id::text, name, role, rsvp_status "
        "FROM event_attendees WHERE tenant_id = :t AND event_id = :e AND "
        "(lower(email) = lower(:m) OR contact_id = CAST(:c AS uuid)) LIMIT 1"),
        {"t": tenant, "e": event_id, "m": email, "c": contact_id}).first()


def attendee_by_id(conn: Connection, tenant: str, event_id: str, attendee_id: str) -> Row | None:
    return conn.execute(_q(
        "SELECT id::text, event_id::text, email, contact_id::text, name, role, rsvp_status "
        "FROM event_attendees WHERE tenant_id = :t AND event_id = :e AND id = :a"),
        {"t": tenant, "e": event_id, "a": attendee_id}).first()


def in_window(conn: Connection, tenant: str, event_id: str, start: datetime,
              end: datetime) -> bool:
    """Some row of the series spans into [start, end) (its conservative span)."""
    return conn.execute(_q(f"SELECT {spans_into('CAST(:i AS uuid)')}"),
                        {"t": tenant, "i": event_id, "ws": start, "we": end}).scalar_one()


@dataclass
class Filters:
    """What narrows a listing; each is SQL over m (the series) and o (the override)."""

    calendar_ids: list[str] | None = None
    event_type: str | None = None
    status: str | None = None
    rsvp: tuple[str, str] | None = None  # (rsvp_status, attendee email)
    search: tuple[str, dict[str, Any]] | None = None  # SQL over alias m, and its params
    deleted: str = "live"  # live | include | only
    start_after: datetime | None = None
    start_before: datetime | None = None
    end_after: datetime | None = None
    end_before: datetime | None = None
    span: tuple[datetime, datetime] | None = None  # series listing: the key's window
    params: dict[str, Any] = field(default_factory=dict)

    def sql(self, start: str, end: str, overrides: bool) -> str:
        """The WHERE conditions; start/end name the occurrence's (or event's) times."""
        p = self.params
        o = (lambda col: f"coalesce(o.{col}, m.{col})") if overrides else (lambda col: f"m.{col}")
        parts = {"live": ["m.deleted_at IS NULL"], "only": ["m.deleted_at IS NOT NULL"],
                 "include": []}[self.deleted]
        if self.calendar_ids is not None:
            p["cals"] = self.calendar_ids
            parts.append("m.calendar_id = ANY(CAST(:cals AS uuid[]))")
        if self.event_type is not None:
            p["et"] = self.event_type
            parts.append(f"{o('event_type')} = :et")
        if self.status is not None:
            p["st"] = self.status
            parts.append(f"coalesce({o('status')}, 'confirmed') = :st")
        if self.rsvp is not None:
            p["rs"], p["ae"] = self.rsvp
            who = "coalesce(o.id, m.id)" if overrides else "m.id"
            parts.append("EXISTS (SELECT 1 FROM event_attendees a WHERE a.tenant_id = :t "
                         f"AND a.event_id = {who} AND lower(a.email) = lower(:ae) "
                         "AND a.rsvp_status = :rs)")
        if self.search is not None:
            parts.append(f"({self.search[0]})")
            p.update(self.search[1])
        for name, column, op in (("start_after", start, ">"), ("start_before", start, "<"),
                                 ("end_after", end, ">"), ("end_before", end, "<")):
            if getattr(self, name) is not None:
                p[name] = getattr(self, name)
                parts.append(f"{column} {op} :{name}")
        if self.span is not None:
            p["ws"], p["we"] = self.span
            parts.append(spans_into("m.id"))
        return " AND ".join(parts) or "true"


ITEM_SELECT = (
    "m.id::text AS event_id, m.calendar_id::text AS calendar_id, "
    "{title} AS title, {location} AS location, {status} AS status, "
    "{event_type} AS event_type, m.is_all_day, m.timezone, "
    "(m.rrule IS NOT NULL OR m.rdates IS NOT NULL) AS recurring, m.created_at, m.updated_at, "
    "m.deleted_at, m.revision")

SORT_KEYS = {"start": "{start}", "created": "m.created_at", "updated": "m.updated_at",
             "title": "lower(coalesce({title}, ''))"}


@dataclass
class Page:
    sort: str = "start"
    descending: bool = False
    after: tuple[Any, str, datetime] | None = None  # (sort key, event id, recurrence id)
    limit: int = 50


def _page_sql(page: Page, key: str, rid: str, params: dict[str, Any]) -> tuple[str, str]:
    op, order = ("<", "DESC") if page.descending else (">", "ASC")
    where = ""
    if page.after is not None:
        params["ak"], params["ai"], params["ar"] = page.after
        cast = "timestamptz" if page.sort != "title" else "text"
        where = (f" AND ({key}, m.id, {rid}) {op} (CAST(:ak AS {cast}), CAST(:ai AS uuid), "
                 "CAST(:ar AS timestamptz))")
    return where, f" ORDER BY {key} {order}, m.id {order}, {rid} {order} LIMIT :n"


def _day_start(column: str) -> str:
    """An all-day occurrence's date (indexed as a midnight in the event's zone), as
    the instant that date starts in the asked zone :qz."""
    return (f"((({column} AT TIME ZONE coalesce(m.timezone, 'UTC'))::date)::timestamp "
            "AT TIME ZONE :qz)")


# In [:ps, :pe): a timed occurrence by its instants, an all-day one by its dates
# in the asked zone (RFC 4791 9.9: dates are compared as floating times).
PRECISE_OVERLAP = (
    f"(CASE WHEN m.is_all_day THEN {_day_start('i.start_time')} < :pe "
    f"AND {_day_start('i.end_time')} > :ps ELSE i.start_time < :pe AND (i.end_time > :ps "
    "OR (i.end_time = i.start_time AND i.start_time >= :ps)) END)")


def occurrences(conn: Connection, tenant: str, window: tuple[datetime, datetime],
                filters: Filters, page: Page, day_zone: str = "UTC") -> list[Row]:
    """Occurrences in the window from the instance index, series whose index
    answers for it only (see unindexed_series for the others). All-day ones
    are on their dates in `day_zone`, so the index is asked SLACK wider."""
    cond = filters.sql("i.start_time", "i.end_time", True)
    params: dict[str, Any] = {"t": tenant, **filters.params, "n": page.limit,
                              "ps": window[0], "pe": window[1], "qz": day_zone}
    params.update(overlap_params(shift(window[0], -SLACK), shift(window[1], SLACK)))
    cols = {c: f"coalesce(o.{c}, m.{c})" for c in ("title", "location", "status", "event_type")}
    key = SORT_KEYS[page.sort].format(start="i.start_time", title=cols["title"])
    where, order = _page_sql(page, key, "i.recurrence_id", params)
    sql = (
        f"SELECT {ITEM_SELECT.format(**cols)}, i.recurrence_id, i.start_time AS occ_start, "
        f"i.end_time AS occ_end, {key} AS sort_key, o.id IS NOT NULL AS overridden "
        # Each occurrence's series and override looked up by key (OFFSET 0 keeps
        # the planner from turning them into joins): it over-estimates the week's
        # occurrences twentyfold and would hash a scan of every events row.
        "FROM event_instances i CROSS JOIN LATERAL (SELECT * FROM events m "
        "WHERE m.tenant_id = i.tenant_id AND m.id = i.event_id AND NOT m.occurrence_stale "
        "AND m.instances_until >= :e OFFSET 0) m "
        "LEFT JOIN LATERAL (SELECT * FROM events o WHERE o.tenant_id = i.tenant_id "
        "AND o.series_id = i.event_id AND o.recurrence_id = i.recurrence_id OFFSET 0) o "
        "ON true "
        f"WHERE i.tenant_id = :t AND {INSTANCE_OVERLAPS} AND {PRECISE_OVERLAP} "
        f"AND {cond}{where}{order}")
    if filters.calendar_ids is not None:
        sql = sql.replace("WHERE i.tenant_id = :t AND",
                          "WHERE i.tenant_id = :t AND i.calendar_id = ANY(CAST(:cals AS uuid[])) "
                          "AND", 1)
    return list(conn.execute(_q(sql), params))


def series(conn: Connection, tenant: str, filters: Filters, page: Page) -> list[Row]:
    """One row per event (no window: series are not expanded)."""
    cond = filters.sql("m.start_time", "m.end_time", False)
    params: dict[str, Any] = {"t": tenant, **filters.params, "n": page.limit}
    cols = {c: f"m.{c}" for c in ("title", "location", "status", "event_type")}
    key = SORT_KEYS[page.sort].format(start="m.start_time", title="m.title")
    where, order = _page_sql(page, key, "m.start_time", params)
    sql = (f"SELECT {ITEM_SELECT.format(**cols)}, NULL::timestamptz AS recurrence_id, "
           "m.start_time AS occ_start, m.end_time AS occ_end, "
           f"{key} AS sort_key, false AS overridden "
           "FROM events m WHERE m.tenant_id = :t AND m.series_id IS NULL "
           f"AND {cond}{where}{order}")
    return list(conn.execute(_q(sql), params))


def candidate_rows(conn: Connection, tenant: str, ids: list[str], filters: Filters) -> list[Row]:
    """Masters and overrides of unindexed series that pass the series-level filters."""
    params: dict[str, Any] = {"t": tenant, **filters.params, "ids": ids}
    plain = Filters(calendar_ids=filters.calendar_ids, rsvp=filters.rsvp,
                    search=filters.search, deleted=filters.deleted, params=params)
    return list(conn.execute(_q(
        f"SELECT {columns(RECORD_FIELDS + ITEM_FIELDS, 'x.')}, x.created_at, "
        "x.deleted_at FROM events x JOIN events m ON m.tenant_id = x.tenant_id "
        "AND m.id = coalesce(x.series_id, x.id) "
        "WHERE x.tenant_id = :t AND m.id = ANY(CAST(:ids AS uuid[])) "
        f"AND {plain.sql('m.start_time', 'm.end_time', False)}"), params))


def overview_counts(conn: Connection, tenant: str, bounds: list[datetime],
                    calendar_ids: list[str] | None, owner_email: str | None) -> list[int]:
    """Occurrences not cancelled nor declined by the owner in each [bounds[k], bounds[k+1])."""
    params: dict[str, Any] = {"t": tenant, "me": owner_email, "cals": calendar_ids,
                              **overlap_params(bounds[0], bounds[-1])}
    buckets = []
    for k in range(len(bounds) - 1):
        params[f"b{k}"], params[f"b{k + 1}"] = bounds[k], bounds[k + 1]
        buckets.append(f"count(*) FILTER (WHERE i.start_time >= :b{k} "
                       f"AND i.start_time < :b{k + 1})")
    cal = "" if calendar_ids is None else "AND i.calendar_id = ANY(CAST(:cals AS uuid[])) "
    row = conn.execute(_q(
        f"SELECT {', '.join(buckets)} FROM event_instances i JOIN events m "
        "ON m.tenant_id = i.tenant_id AND m.id = i.event_id AND m.deleted_at IS NULL "
        "LEFT JOIN events o ON o.tenant_id = i.tenant_id AND o.series_id = i.event_id "
        "AND o.recurrence_id = i.recurrence_id "
        f"WHERE i.tenant_id = :t {cal}AND i.start_time >= :s AND i.start_time < :e "
        "AND coalesce(o.status, m.status, 'confirmed') <> 'cancelled' "
        "AND NOT EXISTS (SELECT 1 FROM event_attendees a WHERE a.tenant_id = :t "
        "AND a.event_id = coalesce(o.id, m.id) AND lower(a.email) = lower(:me) "
        "AND a.rsvp_status = 'declined')"), params).one()
    return [int(v) for v in row]
