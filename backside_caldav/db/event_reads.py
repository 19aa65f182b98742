"""Reading calendar object resources: one VEVENT series or one task or journal.

A series is served from the client's stored text while no other writer
changed its rows (ical_revision = revision); otherwise it is rendered from
the rows. Everything is loaded before the transaction ends: Radicale
renders a REPORT after it has released the storage lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Row

from backside_caldav.db.engines import statement as _q
from backside_caldav.domain.expand_render import Expansion
from backside_caldav.domain.ical_render import render_resource
from backside_caldav.domain.records import AttendeeRecord, EventRecord


@dataclass
class StoredItem:
    """A resource fully loaded: REPORT renders after the transaction ends."""

    href: str
    uid: str
    component: str
    revision: int
    text: str
    updated_at: datetime
    # Occurrences in the queried window, from the index (expand REPORTs only).
    expansion: Expansion | None = None
    # The occurrences' starts in the queried window and the series' zone, for
    # the view Radicale's own filter reads of a text it would misread (matcher_view).
    window: tuple[list[datetime], str | None] | None = None

    @property
    def etag(self) -> str:
        return f'"{self.revision}"'


@dataclass
class ItemHead:
    """A resource without its text, for listings that ask etags only."""

    href: str
    uid: str
    component: str
    revision: int
    updated_at: datetime

    @property
    def etag(self) -> str:
        return f'"{self.revision}"'


# The columns event_record reads, and those a stored resource adds to them.
RECORD_FIELDS = (
    "id::text", "series_id::text", "calendar_id::text", "title", "description", "location",
    "start_time", "end_time", "timezone", "is_all_day", "event_type", "rrule", "rdates",
    "exdates", "status", "duration_days", "rdate_periods", "transparency", "organizer",
    "sequence", "recurrence_id")
ITEM_FIELDS = ("uid", "href", "revision", "ical_source", "ical_revision", "updated_at")


def columns(fields: tuple[str, ...], alias: str = "") -> str:
    """A select list of events columns, each prefixed with a table alias."""
    return ", ".join(alias + f for f in fields)


RECORD_COLS = columns(RECORD_FIELDS, "e.")
EVENT_COLS = columns(RECORD_FIELDS + ITEM_FIELDS)


def event_record(r: Any) -> EventRecord:
    return EventRecord(
        id=r.id, title=r.title, description=r.description, location=r.location,
        start_time=r.start_time, end_time=r.end_time, timezone=r.timezone,
        is_all_day=r.is_all_day, is_floating=False, event_type=r.event_type, rrule=r.rrule,
        rdates=sorted(r.rdates or []), exdates=sorted(r.exdates or []), status=r.status,
        duration_days=r.duration_days or 0, rdate_periods=periods_of(r.rdate_periods),
        transparency=r.transparency, organizer=r.organizer, sequence=r.sequence,
        recurrence_id=r.recurrence_id,
    )


def periods_of(ranges: list[Any] | None) -> list[tuple[datetime, datetime]]:
    """tstzrange values as (start, end); unbounded or empty ones mean nothing."""
    return sorted((p.lower, p.upper) for p in ranges or []
                  if p.lower is not None and p.upper is not None)


def load_events(conn: Connection, tenant: str, masters: list[Any]) -> list[StoredItem]:
    """Turn master rows into items, rendering only those another writer changed."""
    items: list[StoredItem] = []
    stale = [m for m in masters if not m.ical_source or m.ical_revision != m.revision]
    children: dict[str, list[Any]] = {}
    attendees: dict[str, list[AttendeeRecord]] = {}
    links: dict[str, list[tuple[str, str]]] = {}
    if stale:
        ids = [m.id for m in stale]
        for r in conn.execute(_q(f"SELECT {EVENT_COLS} FROM events WHERE tenant_id = :t "
                                 "AND series_id = ANY(CAST(:ids AS uuid[])) "
                                 "ORDER BY recurrence_id"), {"t": tenant, "ids": ids}):
            children.setdefault(r.series_id, []).append(r)
        all_ids = ids + [c.id for rows in children.values() for c in rows]
        for a in conn.execute(_q(
                "SELECT event_id::text, email, name, rsvp_status, role, contact_id::text "
                "FROM event_attendees WHERE tenant_id = :t "
                "AND event_id = ANY(CAST(:ids AS uuid[])) ORDER BY created_at, id"),
                {"t": tenant, "ids": all_ids}):
            attendees.setdefault(a.event_id, []).append(AttendeeRecord(
                email=a.email, name=a.name, rsvp_status=a.rsvp_status, role=a.role,
                contact_id=a.contact_id))
        for link in conn.execute(_q(
                "SELECT event_id::text, entity_type, entity_id FROM event_links "
                "WHERE tenant_id = :t AND event_id = ANY(CAST(:ids AS uuid[])) "
                "ORDER BY created_at, id"), {"t": tenant, "ids": all_ids}):
            links.setdefault(link.event_id, []).append((link.entity_type, link.entity_id))
    for m in masters:
        if m.ical_source and m.ical_revision == m.revision:
            text = m.ical_source
        else:
            records = []
            for r in [m, *children.get(m.id, [])]:
                record = event_record(r)
                record.attendees = attendees.get(r.id, [])
                record.links = links.get(r.id, [])
                records.append(record)
            text = render_resource(m.uid, records, m.ical_source, m.updated_at)
        items.append(StoredItem(m.href, m.uid, "VEVENT", m.revision, text, m.updated_at))
    return items


def get_items(conn: Connection, tenant: str, calendar_id: str,
              hrefs: list[str] | None = None, for_update: bool = False) -> list[StoredItem]:
    """Resources by href (None: all). for_update locks the rows until commit."""
    params: dict[str, Any] = {"t": tenant, "c": calendar_id}
    where = ""
    if hrefs is not None:
        where = "AND href = ANY(:hrefs)"
        params["hrefs"] = list(hrefs)
    lock = " FOR UPDATE" if for_update else ""
    masters = conn.execute(_q(
        f"SELECT {EVENT_COLS} FROM events WHERE tenant_id = :t AND calendar_id = :c "
        f"AND series_id IS NULL AND deleted_at IS NULL {where}{lock}"), params).all()
    items = load_events(conn, tenant, masters)
    for r in conn.execute(_q(
            "SELECT href, uid, component, revision, ical_source, updated_at FROM calendar_objects "
            f"WHERE tenant_id = :t AND calendar_id = :c {where}{lock}"), params):
        items.append(StoredItem(r.href, r.uid, r.component, r.revision, r.ical_source,
                                r.updated_at))
    return items


# A calendar found by href, joined to the wanted members: one round trip
# where get_calendar and get_items take three. `fresh` is load_events's test
# for a text that can be served as stored.
_CALENDAR_MEMBERS = _q(
    "SELECT c.id::text, x.href, x.uid, x.component, x.revision, x.ical_source, x.updated_at, "
    "x.fresh FROM calendars c LEFT JOIN LATERAL ("
    "SELECT href, uid, 'VEVENT' AS component, revision, ical_source, updated_at, "
    "COALESCE(ical_source <> '' AND ical_revision = revision, false) AS fresh "
    "FROM events e WHERE e.tenant_id = :t AND e.calendar_id = c.id "
    "AND e.series_id IS NULL AND e.deleted_at IS NULL AND e.href = ANY(:hrefs) "
    "UNION ALL SELECT href, uid, component, revision, ical_source, updated_at, true "
    "FROM calendar_objects o WHERE o.tenant_id = :t AND o.calendar_id = c.id "
    "AND o.href = ANY(:hrefs)) x ON true WHERE c.tenant_id = :t AND c.href = :h")


def get_members(conn: Connection, tenant: str, calendar_href: str,
                hrefs: list[str]) -> list[StoredItem] | None:
    """get_items of the calendar at calendar_href, None when there is no such
    calendar. A calendar-multiget asks for exactly this, once per 10 members
    in a DAVx5 first sync, so the common case is one round trip; only texts
    another writer changed are rendered (with get_items's extra queries)."""
    rows = conn.execute(_CALENDAR_MEMBERS, {"t": tenant, "h": calendar_href,
                                            "hrefs": hrefs}).all()
    if not rows:
        return None
    items = [StoredItem(r.href, r.uid, r.component, r.revision, r.ical_source, r.updated_at)
             for r in rows if r.href is not None and r.fresh]
    stale = [r.href for r in rows if r.href is not None and not r.fresh]
    if stale:
        items += get_items(conn, tenant, rows[0].id, stale)
    return items


_ITEM_HEADS = _q(
    "SELECT href, uid, 'VEVENT', revision, updated_at FROM events WHERE tenant_id = :t "
    "AND calendar_id = :c AND series_id IS NULL AND deleted_at IS NULL "
    "UNION ALL SELECT href, uid, component, revision, updated_at FROM calendar_objects "
    "WHERE tenant_id = :t AND calendar_id = :c")


# The members' hrefs, components and revisions, in _ITEM_HEADS's order: all, or
# those of the component :comp.
_ITEM_HEADS_ALL = _q(
    "SELECT href, 'VEVENT' AS component, revision FROM events WHERE tenant_id = :t "
    "AND calendar_id = :c AND series_id IS NULL AND deleted_at IS NULL "
    "UNION ALL SELECT href, component, revision FROM calendar_objects "
    "WHERE tenant_id = :t AND calendar_id = :c")
_ITEM_HEADS_OF = _q(
    "SELECT href, 'VEVENT' AS component, revision FROM events WHERE :comp = 'VEVENT' "
    "AND tenant_id = :t AND calendar_id = :c AND series_id IS NULL AND deleted_at IS NULL "
    "UNION ALL SELECT href, component, revision FROM calendar_objects "
    "WHERE tenant_id = :t AND calendar_id = :c AND component = :comp")


def list_item_heads(conn: Connection, tenant: str, calendar_id: str) -> list[ItemHead]:
    """Every resource of a calendar without rendering or transferring its text."""
    return [ItemHead(*r) for r in conn.execute(_ITEM_HEADS, {"t": tenant, "c": calendar_id})]


def stream_heads(conn: Connection, tenant: str, calendar_id: str, component: str | None,
                 batch: int = 1000) -> Iterator[list[tuple[str, str, int]]]:
    """Every member's (href, component, revision), of one component type or all, in
    batches from a server-side cursor, so a listing of any size holds one batch.

    Plain tuples of three columns: a 10,000-member listing spent half its time
    building ItemHeads and converting a timestamp per row it never wrote.
    """
    members = _ITEM_HEADS_OF if component is not None else _ITEM_HEADS_ALL
    result = conn.execution_options(yield_per=batch).execute(
        members, {"t": tenant, "c": calendar_id, "comp": component})
    for rows in result.partitions():
        yield [tuple(r) for r in rows]  # type: ignore[misc]


def _component_members(events: bool) -> Any:
    """The members of one component type with their texts, as get_items orders
    them (the series first, then the other objects), each with whether its text
    can be served as stored (load_events's test)."""
    series = ("SELECT href, uid, 'VEVENT', revision, updated_at, ical_source, "
              "COALESCE(ical_source <> '' AND ical_revision = revision, false) FROM events "
              "WHERE tenant_id = :t AND calendar_id = :c AND series_id IS NULL "
              "AND deleted_at IS NULL UNION ALL ") if events else ""
    return _q(series + "SELECT href, uid, component, revision, updated_at, ical_source, true "
              "FROM calendar_objects WHERE tenant_id = :t AND calendar_id = :c "
              "AND component = :comp")


_MEMBER_QUERIES = {events: _component_members(events) for events in (False, True)}


def stream_component(conn: Connection, tenant: str, calendar_id: str, component: str,
                     batch: int = 500) -> Iterator[list[StoredItem]]:
    """Every resource of one component type, with its text, in batches from a
    server-side cursor, rendering those another writer changed."""
    result = conn.execution_options(yield_per=batch).execute(
        _MEMBER_QUERIES[component == "VEVENT"], {"t": tenant, "c": calendar_id,
                                                 "comp": component})
    for rows in result.partitions():
        stale = [r[0] for r in rows if not r[6]]
        rendered = {i.href: i for i in get_items(conn, tenant, calendar_id, stale)} \
            if stale else {}
        yield [StoredItem(*r[:4], r[5], r[4]) if r[6] else rendered[r[0]] for r in rows
               if r[6] or r[0] in rendered]


def count_vevents(conn: Connection, tenant: str, calendar_id: str) -> int:
    """How many VEVENT components the calendar's texts hold: a series' master
    and each of its overrides, and the VEVENTs of other objects."""
    return int(conn.execute(_q(
        "SELECT (SELECT count(*) FROM events WHERE tenant_id = :t AND calendar_id = :c "
        "AND deleted_at IS NULL) + (SELECT count(*) FROM calendar_objects "
        "WHERE tenant_id = :t AND calendar_id = :c AND component = 'VEVENT')"),
        {"t": tenant, "c": calendar_id}).scalar_one())


def all_hrefs(conn: Connection, tenant: str, calendar_id: str) -> list[str]:
    return list(conn.execute(_q(
        "SELECT href FROM events WHERE tenant_id = :t AND calendar_id = :c "
        "AND series_id IS NULL AND deleted_at IS NULL "
        "UNION ALL SELECT href FROM calendar_objects WHERE tenant_id = :t AND calendar_id = :c"),
        {"t": tenant, "c": calendar_id}).scalars())


def changed_hrefs(conn: Connection, tenant: str, calendar_id: str, since: int) -> list[str]:
    return list(conn.execute(_q(
        "SELECT DISTINCT href FROM calendar_changes WHERE tenant_id = :t AND calendar_id = :c "
        "AND counter > :n"), {"t": tenant, "c": calendar_id, "n": since}).scalars())


def spans_into(series: str) -> str:
    """SQL: some row of the series `series` (an id expression) spans into [:ws, :we),
    by its conservative span: how an API key's time window is applied."""
    return ("EXISTS (SELECT 1 FROM events w WHERE w.tenant_id = :t "
            f"AND (w.id = {series} OR w.series_id = {series}) "
            "AND w.range_start < :we AND w.range_end > :ws)")


def key_limits(alias: str, calendar_ids: list[str] | None,
               window: tuple[datetime, datetime] | None, params: dict[str, Any]) -> str:
    """SQL conditions (each starting with AND) keeping the series rows `alias` to an
    API key's calendars and time window; their values go into params."""
    limits = ""
    if calendar_ids is not None:
        params["cals"] = calendar_ids
        limits += f" AND {alias}.calendar_id = ANY(CAST(:cals AS uuid[]))"
    if window is not None:
        params["ws"], params["we"] = window
        limits += f" AND {spans_into(alias + '.id')}"
    return limits


def uid_in_use(calendar: str) -> str:
    """SQL: some resource of `calendar` (an expression) has the UID :u."""
    return (f"(EXISTS (SELECT 1 FROM events WHERE tenant_id = :t AND calendar_id = {calendar} "
            "AND uid = :u AND series_id IS NULL AND deleted_at IS NULL) "
            "OR EXISTS (SELECT 1 FROM calendar_objects WHERE tenant_id = :t "
            f"AND calendar_id = {calendar} AND uid = :u))")


def href_of_uid(conn: Connection, tenant: str, calendar_id: str, uid: str) -> str | None:
    """The href of the calendar's resource with this UID (CALDAV:no-uid-conflict names it)."""
    return conn.execute(_q(
        "SELECT href FROM events WHERE tenant_id = :t AND calendar_id = :c AND uid = :u "
        "AND series_id IS NULL AND deleted_at IS NULL UNION ALL SELECT href FROM "
        "calendar_objects WHERE tenant_id = :t AND calendar_id = :c AND uid = :u LIMIT 1"),
        {"t": tenant, "c": calendar_id, "u": uid}).scalar()


def masters_by_id(conn: Connection, tenant: str, ids: list[str]) -> list[Row]:
    return list(conn.execute(_q(
        f"SELECT {RECORD_COLS}, c.timezone AS calendar_timezone FROM events e "
        "JOIN calendars c ON c.tenant_id = e.tenant_id AND c.id = e.calendar_id "
        "WHERE e.tenant_id = :t AND e.id = ANY(CAST(:ids AS uuid[]))"),
        {"t": tenant, "ids": ids}))


def overrides_of(conn: Connection, tenant: str, series_ids: list[str]) -> list[Row]:
    if not series_ids:
        return []
    return list(conn.execute(_q(
        f"SELECT {RECORD_COLS} FROM events e WHERE e.tenant_id = :t "
        "AND e.series_id = ANY(CAST(:ids AS uuid[])) AND e.deleted_at IS NULL "
        "ORDER BY e.recurrence_id"), {"t": tenant, "ids": series_ids}))
