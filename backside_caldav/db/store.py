"""All SQL the CalDAV side runs, in one place. Every query names its tenant.

Functions take an open connection (one transaction per request, opened by
the caller with the tenant set) and return plain records.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from psycopg.types.range import Range
from sqlalchemy.engine import Connection

from backside_caldav.db.engines import statement as _q
from backside_caldav.domain import instance_index
from backside_caldav.domain.errors import InvalidCalendarData
from backside_caldav.domain.expand_render import Expansion
from backside_caldav.domain.ical_parse import parse_resource
from backside_caldav.domain.ical_render import render_resource
from backside_caldav.domain.instance_index import BEGINNING, LONG
from backside_caldav.domain.records import AttendeeRecord, EventRecord, ResourceRecord
from backside_caldav.domain.recurrence import (
    INFINITY,
    SLACK,
    TooManyInstances,
    expand,
    shift,
    span,
)

UTC = timezone.utc
SYNC_TOKEN_PREFIX = "http://backside-caldav.invalid/sync/"


@dataclass
class CalendarRow:
    id: str
    href: str
    name: str | None
    color: str | None
    description: str | None
    timezone: str | None
    calendar_order: int | None
    components: list[str]
    props: dict[str, str]
    sync_counter: int
    sync_floor: int
    updated_at: datetime


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

    @property
    def etag(self) -> str:
        return f'"{self.revision}"'


# --- accounts and tenants -------------------------------------------------

def enter_tenant_of(conn: Connection, username: str, write: bool = False) -> str | None:
    """Look up the login's tenant and set it for this transaction; a writer also
    takes the tenant's advisory lock (all in one round trip)."""
    lock = ", pg_advisory_xact_lock(hashtext(tenant_id::text))" if write else ""
    row = conn.execute(_q(
        "SELECT tenant_id::text, set_config('backside.tenant_id', tenant_id::text, true)"
        f"{lock} FROM accounts WHERE username = :u"), {"u": username}).first()
    return row[0] if row else None


def login_of(conn: Connection, username: str, lock: bool = False) -> tuple[str, str] | None:
    """(tenant id, password hash) of a login, setting the tenant for this
    transaction in the same round trip; None when there is no such login.
    lock also takes the tenant's write lock (see lock_tenant) in that trip."""
    also = ", pg_advisory_xact_lock(hashtext(tenant_id::text))" if lock else ""
    row = conn.execute(_q(
        "SELECT tenant_id::text, password_hash, "
        f"set_config('backside.tenant_id', tenant_id::text, true){also} "
        "FROM accounts WHERE username = :u"), {"u": username}).first()
    return (row[0], row[1]) if row else None


def lock_tenant(conn: Connection, tenant: str) -> None:
    """The tenant's write lock until the transaction ends (see enter_tenant_of)."""
    conn.execute(_q("SELECT pg_advisory_xact_lock(hashtext(:t))"), {"t": tenant})


# --- calendars -------------------------------------------------------------

_CAL_COLS = ("id::text, href, name, color, description, timezone, calendar_order, components, "
             "props, sync_counter, sync_floor, updated_at")


def list_calendars(conn: Connection, tenant: str) -> list[CalendarRow]:
    rows = conn.execute(_q(f"SELECT {_CAL_COLS} FROM calendars WHERE tenant_id = :t "
                           "ORDER BY calendar_order NULLS LAST, name, href"), {"t": tenant})
    return [CalendarRow(*r) for r in rows]


def get_calendar(conn: Connection, tenant: str, href: str) -> CalendarRow | None:
    row = conn.execute(_q(f"SELECT {_CAL_COLS} FROM calendars WHERE tenant_id = :t AND href = :h"),
                       {"t": tenant, "h": href}).first()
    return CalendarRow(*row) if row else None


def create_calendar(conn: Connection, tenant: str, href: str, values: dict[str, Any]) -> CalendarRow:
    values = dict(values)
    values.setdefault("name", href)
    cols = ", ".join(values)
    binds = ", ".join(f"CAST(:{k} AS jsonb)" if k == "props" else f":{k}" for k in values)
    row = conn.execute(_q(f"INSERT INTO calendars (tenant_id, href, {cols}) "
                          f"VALUES (:t, :href, {binds}) RETURNING {_CAL_COLS}"),
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
    import json
    return {k: json.dumps(v) if k == "props" else v for k, v in values.items()}


# --- reading resources -----------------------------------------------------

_EVENT_COLS = ("id::text, series_id::text, uid, href, title, description, location, start_time, "
               "end_time, timezone, is_all_day, event_type, rrule, rdates, exdates, status, "
               "duration_days, rdate_periods, transparency, organizer, sequence, recurrence_id, revision, ical_source, "
               "ical_revision, updated_at")


def _event_record(r: Any) -> EventRecord:
    return EventRecord(
        id=r.id, title=r.title, description=r.description, location=r.location,
        start_time=r.start_time, end_time=r.end_time, timezone=r.timezone,
        is_all_day=r.is_all_day, is_floating=False, event_type=r.event_type, rrule=r.rrule,
        rdates=sorted(r.rdates or []), exdates=sorted(r.exdates or []), status=r.status,
        duration_days=r.duration_days or 0, rdate_periods=_periods_of(r.rdate_periods),
        transparency=r.transparency, organizer=r.organizer, sequence=r.sequence,
        recurrence_id=r.recurrence_id,
    )


def _periods_of(ranges: list[Any] | None) -> list[tuple[datetime, datetime]]:
    """tstzrange values as (start, end); unbounded or empty ones mean nothing."""
    return sorted((p.lower, p.upper) for p in ranges or []
                  if p.lower is not None and p.upper is not None)


def _load_events(conn: Connection, tenant: str, masters: list[Any]) -> list[StoredItem]:
    """Turn master rows into items, rendering only those another writer changed."""
    items: list[StoredItem] = []
    stale = [m for m in masters if not m.ical_source or m.ical_revision != m.revision]
    children: dict[str, list[Any]] = {}
    attendees: dict[str, list[AttendeeRecord]] = {}
    links: dict[str, list[tuple[str, str]]] = {}
    if stale:
        ids = [m.id for m in stale]
        for r in conn.execute(_q(f"SELECT {_EVENT_COLS} FROM events WHERE tenant_id = :t "
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
                record = _event_record(r)
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
        f"SELECT {_EVENT_COLS} FROM events WHERE tenant_id = :t AND calendar_id = :c "
        f"AND series_id IS NULL AND deleted_at IS NULL {where}{lock}"), params).all()
    items = _load_events(conn, tenant, masters)
    for r in conn.execute(_q(
            "SELECT href, uid, component, revision, ical_source, updated_at FROM calendar_objects "
            f"WHERE tenant_id = :t AND calendar_id = :c {where}{lock}"), params):
        items.append(StoredItem(r.href, r.uid, r.component, r.revision, r.ical_source,
                                r.updated_at))
    return items


# A calendar found by href, joined to the wanted members: one round trip
# where get_calendar and get_items take three. `fresh` is _load_events's test
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


_ITEM_HEADS = _q(
    "SELECT href, uid, 'VEVENT', revision, updated_at FROM events WHERE tenant_id = :t "
    "AND calendar_id = :c AND series_id IS NULL AND deleted_at IS NULL "
    "UNION ALL SELECT href, uid, component, revision, updated_at FROM calendar_objects "
    "WHERE tenant_id = :t AND calendar_id = :c")


def list_item_heads(conn: Connection, tenant: str, calendar_id: str) -> list[ItemHead]:
    """Every resource of a calendar without rendering or transferring its text."""
    return [ItemHead(*r) for r in conn.execute(_ITEM_HEADS, {"t": tenant, "c": calendar_id})]


def stream_item_heads(conn: Connection, tenant: str, calendar_id: str,
                      batch: int = 500) -> Iterator[list[ItemHead]]:
    """list_item_heads in batches from a server-side cursor, so a listing of any
    size holds one batch in memory (the transaction must stay open meanwhile)."""
    result = conn.execution_options(yield_per=batch).execute(
        _ITEM_HEADS, {"t": tenant, "c": calendar_id})
    for rows in result.partitions():
        yield [ItemHead(*r) for r in rows]


# Occurrences i of series m that the index answers for (not changed by another
# writer since indexing, indexed past :e) and that overlap [:s, :e); :ls is
# :s - LONG, so only long occurrences are looked for further back.
INDEXED_SERIES_JOIN = (
    "JOIN events m ON m.tenant_id = i.tenant_id AND m.id = i.event_id "
    "AND m.deleted_at IS NULL AND NOT m.occurrence_stale AND m.instances_until >= :e ")
INSTANCE_OVERLAPS = "i.start_time < :e AND i.end_time > :s AND (i.start_time >= :ls OR i.is_long)"


def overlap_params(start: datetime, end: datetime) -> dict[str, datetime]:
    return {"s": start, "e": end, "ls": _shift(start, -LONG)}


def get_filtered(conn: Connection, tenant: str, calendar_id: str, component: str | None,
                 start: datetime, end: datetime, expand: bool = False
                 ) -> list[tuple[StoredItem, bool]]:
    """Resources that may have an occurrence in [start, end), with a flag that
    says the match is certain.

    For a series whose index answers for the window the match is exact (RFC
    4791 9.9 overlap of its indexed occurrences, which were computed with the
    calendar's timezone for dates, as 9.9 asks), so Radicale need not parse it
    again; with `expand` the item also carries those occurrences. Series
    changed by other writers since they were indexed, or asked about beyond
    their indexed horizon, are found by their conservative span and left for
    Radicale to check.
    """
    params = {"t": tenant, "c": calendar_id, "s": start, "e": end,
              "ls": _shift(start, -LONG)}
    results: list[tuple[StoredItem, bool]] = []
    if start <= BEGINNING and end >= INFINITY:  # no time-range: every resource of the type
        return [(i, True) for i in get_items(conn, tenant, calendar_id)
                if component is None or i.component == component]
    if component in (None, "VEVENT"):
        # The instances first (an index range scan), their series by id after:
        # a join lets the planner pick a scan of every event of the tenant.
        instances: dict[str, list[tuple[datetime, datetime, datetime]]] = {}
        for r in conn.execute(_q(
                "SELECT i.event_id::text, i.recurrence_id, i.start_time, i.end_time "
                "FROM event_instances i WHERE i.tenant_id = :t AND i.calendar_id = :c "
                "AND i.start_time < :e AND (i.start_time >= :ls OR i.is_long) "
                "AND (i.end_time > :s OR (i.end_time = i.start_time AND i.start_time >= :s))"),
                params):
            instances.setdefault(r[0], []).append((r[1], r[2], r[3]))
        wide = (_shift(start, -SLACK), _shift(end, SLACK))
        unindexed = set(unindexed_series(conn, tenant, [calendar_id], *wide))
        wanted = unindexed | set(instances)
        if wanted:
            masters = conn.execute(_q(
                f"SELECT {_EVENT_COLS}, "
                "coalesce(NOT occurrence_stale AND instances_until >= :e, false) AS answers "
                "FROM events "
                "WHERE tenant_id = :t AND id = ANY(CAST(:ids AS uuid[])) "
                "AND deleted_at IS NULL AND series_id IS NULL"),
                {"t": tenant, "ids": list(wanted), "e": end}).all()
            # Indexed and answering for the whole window: the index is the truth.
            certain = {m.id: m.answers and m.id in instances and m.id not in unindexed
                       for m in masters}
            masters = [m for m in masters if m.id in unindexed or certain[m.id]]
            overrides: dict[str, set[datetime]] = {}
            if expand and masters:
                for series_id, rid in conn.execute(_q(
                        "SELECT series_id::text, recurrence_id FROM events WHERE tenant_id = :t "
                        "AND series_id = ANY(CAST(:ids AS uuid[]))"),
                        {"t": tenant, "ids": [m.id for m in masters if certain[m.id]]}):
                    overrides.setdefault(series_id, set()).add(rid)
            for item, master in zip(_load_events(conn, tenant, masters), masters, strict=True):
                if expand and certain[master.id] and master.recurrence_id is None:
                    ids = frozenset(overrides.get(master.id, ()))
                    item.expansion = Expansion(
                        recurring=bool(master.rrule or master.rdates or ids),
                        all_day=master.is_all_day, day_zone=master.timezone,
                        override_ids=ids, instances=instances[master.id])
                results.append((item, certain[master.id]))
    if component != "VEVENT":
        comp_filter = "" if component is None else "AND component = :comp"
        for r in conn.execute(_q(
                "SELECT href, uid, component, revision, ical_source, updated_at "
                f"FROM calendar_objects WHERE tenant_id = :t AND calendar_id = :c {comp_filter} "
                "AND (range_start IS NULL OR (range_start < :e AND range_end > :s))"),
                {**params, "comp": component}):
            results.append((StoredItem(r.href, r.uid, r.component, r.revision, r.ical_source,
                                       r.updated_at), False))
    return results


def unindexed_series(conn: Connection, tenant: str, calendar_ids: list[str] | None,
                     start: datetime, end: datetime) -> list[str]:
    """Series whose instance index cannot answer for [start, end): changed by
    another writer since indexing, or indexed only up to a horizon before
    `end`; found by their conservative span.

    Both kinds are read through partial indexes (events_unindexed,
    events_horizon), so the query costs nothing when, as usual, there are none.
    """
    cal = "" if calendar_ids is None else "AND calendar_id = ANY(CAST(:cals AS uuid[])) "
    return list(conn.execute(_q(
        "WITH candidates AS ("
        "  SELECT id FROM events WHERE tenant_id = :t AND series_id IS NULL "
        f"  AND deleted_at IS NULL {cal}AND (occurrence_stale OR instances_until IS NULL) "
        "  UNION SELECT id FROM events WHERE tenant_id = :t AND series_id IS NULL "
        f"  AND deleted_at IS NULL {cal}AND instances_until < 'infinity' "
        "  AND instances_until < :e) "
        "SELECT c.id::text FROM candidates c WHERE EXISTS (SELECT 1 FROM events x "
        "  WHERE x.tenant_id = :t AND (x.id = c.id OR x.series_id = c.id) "
        "  AND x.range_start < :e AND x.range_end > :s)"),
        {"t": tenant, "s": start, "e": end, "cals": calendar_ids}).scalars())


def owner_addresses(conn: Connection, tenant: str) -> list[str]:
    """The calendar owner's addresses (lower case): the tenant's logins that are
    email addresses. Calendars belong to the tenant, and accounts carry no
    other address; an ATTENDEE row with one of these emails is the owner."""
    return list(conn.execute(_q(
        "SELECT DISTINCT lower(username) FROM accounts WHERE tenant_id = :t "
        "AND username LIKE '_%@_%'"), {"t": tenant}).scalars())


# The owner's answer on an event row: 'declined' when every owner ATTENDEE of
# the row declined, 'tentative' when none accepted or is yet to answer.
OWNER_ANSWER = (
    "SELECT CASE WHEN bool_and(a.rsvp_status = 'declined') THEN 'declined' "
    "  WHEN bool_and(a.rsvp_status IN ('declined', 'tentative')) THEN 'tentative' END "
    "  AS answer FROM event_attendees a WHERE a.tenant_id = :t AND a.event_id = {row} "
    "  AND lower(a.email) = ANY(CAST(:owners AS text[]))")


def owner_answers(conn: Connection, tenant: str, row_ids: list[str],
                  owners: list[str]) -> dict[str, str]:
    """The owner's answer (see OWNER_ANSWER) on each of these event rows that has one."""
    if not row_ids or not owners:
        return {}
    return dict(conn.execute(_q(
        "SELECT e.id::text, (" + OWNER_ANSWER.format(row="e.id") + ") FROM events e "
        "WHERE e.tenant_id = :t AND e.id = ANY(CAST(:ids AS uuid[]))"),
        {"t": tenant, "ids": row_ids, "owners": owners}).tuples().all())


def busy_periods(conn: Connection, tenant: str, calendar_id: str, start: datetime,
                 end: datetime, limit: int) -> list[tuple[datetime, datetime, str]]:
    """Free-busy periods (start, end, FBTYPE) clipped to [start, end): indexed
    occurrences straight from event_instances, the rest expanded here.
    Transparent and cancelled occurrences do not block; TENTATIVE is
    BUSY-TENTATIVE; so is one the owner answered TENTATIVE, and one the owner
    declined does not block (the owner's row: the override's, else the master's)."""
    owners = owner_addresses(conn, tenant)
    answered = "SELECT NULL::text AS answer"
    if owners:
        answered = OWNER_ANSWER.format(row="coalesce(o.id, i.event_id)")
    rows = conn.execute(_q(
        "SELECT i.start_time, i.end_time, i.busy, ans.answer "
        f"FROM event_instances i {INDEXED_SERIES_JOIN}"
        "LEFT JOIN events o ON o.tenant_id = i.tenant_id AND o.series_id = i.event_id "
        "  AND o.recurrence_id = i.recurrence_id "
        f"CROSS JOIN LATERAL ({answered}) ans "
        "WHERE i.tenant_id = :t AND i.calendar_id = :c AND i.busy <> 'FREE' "
        f"AND {INSTANCE_OVERLAPS} AND ans.answer IS DISTINCT FROM 'declined' LIMIT :n"),
        {"t": tenant, "c": calendar_id, "n": limit + 1, "owners": owners,
         **overlap_params(start, end)}).all()
    periods = [(max(r.start_time, start), min(r.end_time, end),
                instance_index.owner_answered(r.busy, r.answer)) for r in rows]
    others = unindexed_series(conn, tenant, [calendar_id], start, end)
    if others:
        series: dict[str, list[EventRecord]] = {}
        for r in conn.execute(_q(
                f"SELECT {_EVENT_COLS} FROM events WHERE tenant_id = :t "
                "AND (id = ANY(CAST(:ids AS uuid[])) OR series_id = ANY(CAST(:ids AS uuid[])))"),
                {"t": tenant, "ids": others}):
            series.setdefault(r.series_id or r.id, []).append(_event_record(r))
        instances = [i for records in series.values()
                     for i in expand(records, start, end, limit=limit)]
        answers = owner_answers(conn, tenant, list({i.event.id for i in instances
                                                    if i.event.id}), owners)
        for instance in instances:
            busy = instance_index.owner_answered(instance_index.busy_of(instance.event),
                                                 answers.get(instance.event.id or ""))
            periods.append((max(instance.start, start), min(instance.end, end), busy))
    periods = [p for p in periods if p[2] != "FREE"]
    if len(periods) > limit:
        raise TooManyInstances(f"more than {limit} busy occurrences in the range")
    return [p for p in periods if p[1] > p[0]]


def _shift(value: datetime, delta: timedelta) -> datetime:
    """recurrence.shift, kept inside the index's own range of dates."""
    return max(shift(value, delta), BEGINNING)


def reindex_series(conn: Connection, tenant: str, series_id: str, at: datetime) -> None:
    """Recompute a series' occurrences, next_occurrence and horizon from its rows."""
    rows = conn.execute(_q(
        f"SELECT {_EVENT_COLS}, calendar_id::text AS calendar_id FROM events "
        "WHERE tenant_id = :t AND (id = :s OR series_id = :s)"), {"t": tenant, "s": series_id}).all()
    master = next((r for r in rows if r.id == series_id), None)
    if master is None:
        return
    built = instance_index.build([_event_record(r) for r in rows], at)
    _write_index(conn, tenant, master.calendar_id, series_id, built)


def _instance_arrays(built: instance_index.IndexedSeries) -> dict[str, list[Any]]:
    """A series' occurrence rows as one array per column (see _insert_instances)."""
    columns = (list(c) for c in zip(*built.rows, strict=True))
    return dict(zip(("rid", "st", "en", "ex", "lo", "bu"), columns, strict=True))


def _insert_instances(series: str, source: str) -> str:
    """SQL: insert the occurrences of _instance_arrays for `series` (an
    expression), reading it from `source` when that is a CTE."""
    return ("INSERT INTO event_instances (tenant_id, calendar_id, event_id, recurrence_id, "
            f"start_time, end_time, exact, is_long, busy) SELECT :t, :c, {series}, u.* "
            f"FROM {source + ', ' if source else ''}unnest(CAST(:rid AS timestamptz[]), "
            "CAST(:st AS timestamptz[]), CAST(:en AS timestamptz[]), CAST(:ex AS boolean[]), "
            "CAST(:lo AS boolean[]), CAST(:bu AS text[])) AS u ON CONFLICT DO NOTHING")


def _write_index(conn: Connection, tenant: str, calendar_id: str, series_id: str,
                 built: instance_index.IndexedSeries, client_text: bool = False,
                 new: bool = False) -> tuple[int, datetime]:
    """Replace a series' occurrences and bookkeeping; with client_text, also mark
    the stored text as matching the rows (new: the series was just inserted, it
    has no occurrences yet). Returns the master's revision and updated_at."""
    # Two statements: a DELETE and an INSERT of the same keys in one statement
    # would see each other's rows as conflicts.
    if not new:
        conn.execute(_q("DELETE FROM event_instances WHERE tenant_id = :t AND event_id = :s"),
                     {"t": tenant, "s": series_id})
    if built.rows:
        conn.execute(_q(_insert_instances(":s", "")),
                     {"t": tenant, "c": calendar_id, "s": series_id, **_instance_arrays(built)})
    until = None if built.instances_until >= INFINITY else built.instances_until
    ical = ", ical_revision = CASE WHEN id = :s THEN revision ELSE ical_revision END" \
        if client_text else ""
    rows = conn.execute(_q(
        "UPDATE events SET occurrence_stale = false, "
        "next_occurrence = CASE WHEN id = :s THEN CAST(:n AS timestamptz) END, "
        f"instances_until = coalesce(CAST(:u AS timestamptz), 'infinity'){ical} "
        "WHERE tenant_id = :t AND (id = :s OR series_id = :s) "
        "RETURNING id::text, revision, updated_at"),
        {"t": tenant, "s": series_id, "n": built.next_occurrence, "u": until}).all()
    master = next(r for r in rows if r.id == series_id)
    return master.revision, master.updated_at


def series_needing_index(conn: Connection, tenant: str, at: datetime, limit: int) -> list[str]:
    """Series that other writers changed, whose next occurrence has passed, or
    whose indexed horizon is getting near; locked so workers share the load."""
    return list(conn.execute(_q(
        "SELECT id::text FROM events WHERE tenant_id = :t AND series_id IS NULL "
        "AND deleted_at IS NULL AND (occurrence_stale OR next_occurrence < :now "
        "OR instances_until < :soon) LIMIT :n FOR UPDATE SKIP LOCKED"),
        {"t": tenant, "now": at, "soon": at + instance_index.HORIZON - timedelta(days=30),
         "n": limit}).scalars())


def _uid_in_use(calendar: str) -> str:
    """SQL: some resource of `calendar` (an expression) has the UID :u."""
    return (f"(EXISTS (SELECT 1 FROM events WHERE tenant_id = :t AND calendar_id = {calendar} "
            "AND uid = :u AND series_id IS NULL AND deleted_at IS NULL) "
            "OR EXISTS (SELECT 1 FROM calendar_objects WHERE tenant_id = :t "
            f"AND calendar_id = {calendar} AND uid = :u))")


def has_uid(conn: Connection, tenant: str, calendar_id: str, uid: str) -> bool:
    return conn.execute(_q(f"SELECT {_uid_in_use(':c')}"),
                        {"t": tenant, "c": calendar_id, "u": uid}).scalar_one()


@dataclass
class PutTarget:
    """What a PUT of one resource needs to know, read in one round trip."""

    calendar: CalendarRow | None
    existing: ItemHead | None  # the resource at href, locked until commit
    uid_taken: bool  # some resource of the calendar has the body's UID


def put_target(conn: Connection, tenant: str, calendar_href: str, href: str,
               uid: str) -> PutTarget:
    """The calendar, the resource now at href (FOR UPDATE) and whether the UID
    is in use: what Radicale's PUT asks in three to five statements."""
    row = conn.execute(_q(
        f"WITH c AS (SELECT {_CAL_COLS} FROM calendars WHERE tenant_id = :t AND href = :ch), "
        "e AS (SELECT href, uid, 'VEVENT' AS component, revision, updated_at FROM events "
        "WHERE tenant_id = :t AND calendar_id = (SELECT CAST(id AS uuid) FROM c) "
        "AND href = :h AND series_id IS NULL AND deleted_at IS NULL FOR UPDATE), "
        "o AS (SELECT href, uid, component, revision, updated_at FROM calendar_objects "
        "WHERE tenant_id = :t AND calendar_id = (SELECT CAST(id AS uuid) FROM c) "
        "AND href = :h FOR UPDATE) "
        "SELECT c.*, x.href AS x_href, x.uid AS x_uid, x.component AS x_component, "
        "x.revision AS x_revision, x.updated_at AS x_updated_at, "
        f"{_uid_in_use('CAST(c.id AS uuid)')} AS uid_taken "
        "FROM c LEFT JOIN (SELECT * FROM e UNION ALL SELECT * FROM o) x ON true"),
        {"t": tenant, "ch": calendar_href, "h": href, "u": uid}).first()
    if row is None:
        return PutTarget(None, None, False)
    calendar = CalendarRow(*row[:len(CalendarRow.__dataclass_fields__)])
    existing = None if row.x_href is None else ItemHead(
        row.x_href, row.x_uid, row.x_component, row.x_revision, row.x_updated_at)
    return PutTarget(calendar, existing, row.uid_taken)


# --- writing resources -----------------------------------------------------

_WRITE_COLS = ("title", "description", "location", "start_time", "end_time", "timezone",
               "is_all_day", "event_type", "rrule", "rdates", "exdates", "status",
               "transparency", "organizer", "sequence", "recurrence_id", "duration_days")


def _row_values(event: EventRecord) -> dict[str, Any]:
    values = {k: getattr(event, k) for k in _WRITE_COLS}
    values["rdates"] = event.rdates or None
    values["exdates"] = event.exdates or None
    values["rdate_periods"] = [Range(s, e, "[]") for s, e in event.rdate_periods] or None
    values["range_start"], values["range_end"] = span(event)
    return values


def put_item(conn: Connection, tenant: str, calendar: CalendarRow, href: str, text: str,
             replaces: str | None = "?") -> StoredItem:
    """Store one resource at href (create or replace) from the client's text.

    `replaces` is the component of the resource now at href when the caller
    already knows it (None: nothing there), "?" when it does not: then a
    resource of the other kind at href is removed whatever it is.
    """
    resource = parse_resource(text, calendar.timezone)
    if resource.component not in calendar.components:
        raise InvalidCalendarData(
            f"this calendar accepts {', '.join(calendar.components)}, not {resource.component}")
    if resource.component == "VEVENT":
        if replaces not in (None, "VEVENT"):
            conn.execute(_q("DELETE FROM calendar_objects WHERE tenant_id = :t "
                            "AND calendar_id = :c AND href = :h"),
                         {"t": tenant, "c": calendar.id, "h": href})
        built = _occurrences(resource)
        if replaces is None and len(resource.events) <= MAX_WHOLE_OVERRIDES + 1:
            written = _create_series(conn, tenant, calendar.id, href, text, resource, built)
            assert written is not None
            revision, updated_at = written
        else:
            event_id = _put_event(conn, tenant, calendar.id, href, text, resource,
                                  new=replaces is None)
            revision, updated_at = _write_index(conn, tenant, calendar.id, event_id, built,
                                                client_text=True, new=replaces is None)
        return StoredItem(href, resource.uid, "VEVENT", revision, text, updated_at)
    if replaces not in (None, "VTODO", "VJOURNAL"):
        _soft_delete_event(conn, tenant, calendar.id, href)
    return _put_object(conn, tenant, calendar.id, href, text, resource)


# A new series with more overrides than this is written statement by statement.
MAX_WHOLE_OVERRIDES = 50


def _occurrences(resource: ResourceRecord) -> instance_index.IndexedSeries:
    try:
        return instance_index.build(resource.events, now(), strict=True)
    except TooManyInstances as exc:
        raise InvalidCalendarData(
            f"the recurrence rule makes too many occurrences ({exc}); at most "
            f"{instance_index.MAX_INDEXED} are allowed from its start to a year ahead"
        ) from exc


def create_if_new(conn: Connection, tenant: str, calendar: CalendarRow, href: str,
                  text: str) -> StoredItem | None:
    """Store a new event at href in one round trip, or do nothing and return None.

    For a create, put_target and put_item cost two statements, and the first
    only says that nothing is in the way. This one statement writes only if
    the calendar still has `calendar`'s id, href, zone and accepts VEVENT,
    nothing is at href and the UID is free; on None the caller takes the
    ordinary path, which gives the same answers as before (409, 412, 400 ...).
    """
    try:
        resource = parse_resource(text, calendar.timezone)
        if resource.component != "VEVENT" or len(resource.events) > MAX_WHOLE_OVERRIDES + 1:
            return None
        built = _occurrences(resource)
    except InvalidCalendarData:
        return None  # refused by the ordinary path, after the checks it makes first
    guard = ("SELECT 1 FROM calendars WHERE tenant_id = :t AND id = CAST(:c AS uuid) "
             "AND href = :ch AND timezone IS NOT DISTINCT FROM CAST(:tz AS text) "
             "AND 'VEVENT' = ANY(components) AND NOT EXISTS (SELECT 1 FROM events "
             "WHERE tenant_id = :t AND calendar_id = CAST(:c AS uuid) AND href = :href "
             "AND series_id IS NULL AND deleted_at IS NULL) AND NOT EXISTS (SELECT 1 FROM "
             "calendar_objects WHERE tenant_id = :t AND calendar_id = CAST(:c AS uuid) "
             f"AND href = :href) AND NOT {_uid_in_use('CAST(:c AS uuid)')}")
    written = _create_series(conn, tenant, calendar.id, href, text, resource, built, guard,
                             {"ch": calendar.href, "tz": calendar.timezone, "u": resource.uid})
    if written is None:
        return None
    return StoredItem(href, resource.uid, "VEVENT", written[0], text, written[1])


def _create_series(conn: Connection, tenant: str, calendar_id: str, href: str, text: str,
                   resource: ResourceRecord, built: instance_index.IndexedSeries,
                   guard: str | None = None, guard_params: dict[str, Any] | None = None
                   ) -> tuple[int, datetime] | None:
    """Insert a new series, its overrides, attendees, links and occurrences in
    one statement; returns the master's revision and updated_at, or None when
    the `guard` query (if given) found no row and nothing was written.

    `backside.whole_series` names the series for the triggers (migration 0007):
    its rows are indexed and its text current, and children written with it do
    not bump its revision again, so the revision returned here is final.
    """
    series_id = str(uuid.uuid4())
    until = None if built.instances_until >= INFINITY else built.instances_until
    params: dict[str, Any] = {"t": tenant, "c": calendar_id, "sid": series_id, "until": until,
                              "next": built.next_occurrence, **(guard_params or {})}
    ctes = ["flag AS MATERIALIZED (SELECT set_config('backside.whole_series', :sid, true))"]
    if guard is not None:
        ctes = [f"ok AS MATERIALIZED ({guard})",
                "flag AS MATERIALIZED (SELECT set_config('backside.whole_series', :sid, true) "
                "FROM ok)"]
    primary, *overrides = resource.events
    common = "calendar_id, uid, instances_until"
    common_values = ":c, :uid, coalesce(CAST(:until AS timestamptz), 'infinity')"
    params["uid"] = resource.uid
    for n, event in enumerate([primary, *overrides]):
        name = f"e{n}"
        values = _row_values(event)
        params.update({f"{name}_{k}": v for k, v in values.items()})
        cols = ", ".join(values)
        binds = ", ".join(f":{name}_{k}" for k in values)
        if n == 0:
            params["href"], params["src"] = href, text
            ctes.append(
                f"{name} AS (INSERT INTO events (tenant_id, id, href, ical_source, "
                f"next_occurrence, {common}, {cols}) SELECT :t, CAST(:sid AS uuid), :href, :src, "
                f"CAST(:next AS timestamptz), {common_values}, {binds} FROM flag "
                "RETURNING id, revision, updated_at)")
        else:
            ctes.append(
                f"{name} AS (INSERT INTO events (tenant_id, series_id, {common}, {cols}) "
                f"SELECT :t, e0.id, {common_values}, {binds} FROM e0 RETURNING id)")
        if event.attendees:
            a = event.attendees
            params.update({f"{name}_emails": [x.email for x in a],
                           f"{name}_names": [x.name for x in a],
                           f"{name}_rsvps": [x.rsvp_status for x in a],
                           f"{name}_roles": [x.role for x in a],
                           f"{name}_contacts": [x.contact_id for x in a]})
            ctes.append(
                f"{name}a AS (INSERT INTO event_attendees (tenant_id, event_id, email, name, "
                f"rsvp_status, role, contact_id) SELECT :t, {name}.id, u.email, u.name, u.rsvp, "
                f"u.role, u.contact FROM {name}, "
                f"unnest(CAST(:{name}_emails AS text[]), CAST(:{name}_names AS text[]), "
                f"CAST(:{name}_rsvps AS text[]), CAST(:{name}_roles AS text[]), "
                f"CAST(:{name}_contacts AS uuid[])) WITH ORDINALITY AS u(email, name, rsvp, "
                "role, contact, n) ORDER BY u.n)")
        if event.links:
            params[f"{name}_types"] = [t for t, _ in event.links]
            params[f"{name}_ids"] = [i for _, i in event.links]
            ctes.append(
                f"{name}l AS (INSERT INTO event_links (tenant_id, event_id, entity_type, "
                f"entity_id) SELECT :t, {name}.id, u.ty, u.id FROM {name}, "
                f"unnest(CAST(:{name}_types AS text[]), CAST(:{name}_ids AS text[])) "
                "WITH ORDINALITY AS u(ty, id, n) ORDER BY u.n)")
    if built.rows:
        params.update(_instance_arrays(built))
        ctes.append(f"i AS ({_insert_instances('e0.id', 'e0')})")
    row = conn.execute(_q(f"WITH {', '.join(ctes)} SELECT revision, updated_at FROM e0"),
                       params).first()
    if row is None:
        assert guard is not None, "an unguarded insert returns its row"
        return None
    return row.revision, row.updated_at


def _put_object(conn: Connection, tenant: str, calendar_id: str, href: str, text: str,
                resource: ResourceRecord) -> StoredItem:
    row = conn.execute(_q(
        "INSERT INTO calendar_objects (tenant_id, calendar_id, component, uid, href, ical_source) "
        "VALUES (:t, :c, :comp, :u, :h, :src) "
        "ON CONFLICT (tenant_id, calendar_id, href) DO UPDATE SET component = EXCLUDED.component, "
        "uid = EXCLUDED.uid, ical_source = EXCLUDED.ical_source RETURNING revision, updated_at"),
        {"t": tenant, "c": calendar_id, "comp": resource.component, "u": resource.uid,
         "h": href, "src": text}).one()
    return StoredItem(href, resource.uid, resource.component, row.revision, text, row.updated_at)


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


def _put_event(conn: Connection, tenant: str, calendar_id: str, href: str, text: str,
               resource: ResourceRecord, new: bool = False) -> str:
    """new: the caller knows (in this transaction) that nothing is at href."""
    primary, *overrides = resource.events
    existing = None if new else conn.execute(_q(
        "SELECT id::text FROM events WHERE tenant_id = :t AND calendar_id = :c AND href = :h "
        "AND series_id IS NULL AND deleted_at IS NULL FOR UPDATE"),
        {"t": tenant, "c": calendar_id, "h": href}).scalar()
    identity = {"calendar_id": calendar_id, "uid": resource.uid, "href": href, "ical_source": text}
    event_id = _write_event(conn, tenant, existing, {**identity, **_row_values(primary)})
    _sync_attendees(conn, tenant, event_id, primary.attendees, new=existing is None)
    _sync_links(conn, tenant, event_id, primary.links, new=existing is None)
    _sync_overrides(conn, tenant, calendar_id, event_id, resource.uid, overrides,
                    new=existing is None)
    return event_id


def _sync_overrides(conn: Connection, tenant: str, calendar_id: str, series_id: str, uid: str,
                    overrides: list[EventRecord], new: bool = False) -> None:
    current = {} if new else {r.recurrence_id: r.id for r in conn.execute(_q(
        "SELECT id::text, recurrence_id FROM events WHERE tenant_id = :t AND series_id = :s"),
        {"t": tenant, "s": series_id})}
    for event in overrides:
        identity = {"calendar_id": calendar_id, "uid": uid, "series_id": series_id}
        event_id = _write_event(conn, tenant, current.pop(event.recurrence_id, None),
                                {**identity, **_row_values(event)})
        _sync_attendees(conn, tenant, event_id, event.attendees, new=new)
        _sync_links(conn, tenant, event_id, event.links, new=new)
    if current:
        conn.execute(_q("DELETE FROM events WHERE tenant_id = :t "
                        "AND id = ANY(CAST(:ids AS uuid[]))"),
                     {"t": tenant, "ids": list(current.values())})


def _sync_attendees(conn: Connection, tenant: str, event_id: str,
                    attendees: list[AttendeeRecord], new: bool = False) -> None:
    """Diff by identity so rows keep their ids and contact_id across client edits."""
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
    rows = [] if new else conn.execute(_q(
            "SELECT id::text, email, name, rsvp_status, role, contact_id::text "
            "FROM event_attendees WHERE tenant_id = :t AND event_id = :e"),
            {"t": tenant, "e": event_id})
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
                new: bool = False) -> None:
    """Make event_links match the client's LINKs, keeping the ids of rows that stay."""
    if new and not links:
        return
    existing = {} if new else {(r.entity_type, r.entity_id): r.id for r in conn.execute(_q(
        "SELECT id::text, entity_type, entity_id FROM event_links WHERE tenant_id = :t "
        "AND event_id = :e"), {"t": tenant, "e": event_id})}
    for entity_type, entity_id in links:
        if existing.pop((entity_type, entity_id), None) is None:
            conn.execute(_q("INSERT INTO event_links (tenant_id, event_id, entity_type, entity_id) "
                            "VALUES (:t, :e, :ty, :id)"),
                         {"t": tenant, "e": event_id, "ty": entity_type, "id": entity_id})
    if existing:
        conn.execute(_q("DELETE FROM event_links WHERE tenant_id = :t "
                        "AND id = ANY(CAST(:ids AS uuid[]))"),
                     {"t": tenant, "ids": list(existing.values())})


def _soft_delete_event(conn: Connection, tenant: str, calendar_id: str, href: str) -> int:
    return conn.execute(_q(
        "UPDATE events SET deleted_at = now() WHERE tenant_id = :t AND calendar_id = :c "
        "AND href = :h AND series_id IS NULL AND deleted_at IS NULL"),
        {"t": tenant, "c": calendar_id, "h": href}).rowcount


def delete_item(conn: Connection, tenant: str, calendar_id: str, href: str) -> bool:
    """Events go to the trash (deleted_at); tasks and journals are removed."""
    deleted = _soft_delete_event(conn, tenant, calendar_id, href)
    deleted += conn.execute(_q(
        "DELETE FROM calendar_objects WHERE tenant_id = :t AND calendar_id = :c AND href = :h"),
        {"t": tenant, "c": calendar_id, "h": href}).rowcount
    return deleted > 0


def move_item(conn: Connection, tenant: str, from_calendar: str, href: str, to_calendar: str,
              to_href: str) -> None:
    if (from_calendar, href) != (to_calendar, to_href):
        delete_item(conn, tenant, to_calendar, to_href)
    params = {"t": tenant, "fc": from_calendar, "h": href, "tc": to_calendar, "th": to_href}
    master = conn.execute(_q(
        "UPDATE events SET calendar_id = :tc, href = :th WHERE tenant_id = :t "
        "AND calendar_id = :fc AND href = :h AND series_id IS NULL AND deleted_at IS NULL "
        "RETURNING id::text"), params).scalar()
    if master is not None:
        conn.execute(_q("UPDATE events SET calendar_id = :tc WHERE tenant_id = :t "
                        "AND series_id = :s"), {"t": tenant, "tc": to_calendar, "s": master})
    conn.execute(_q("UPDATE calendar_objects SET calendar_id = :tc, href = :th "
                    "WHERE tenant_id = :t AND calendar_id = :fc AND href = :h"), params)


# --- sync ------------------------------------------------------------------

def sync_token(calendar: CalendarRow) -> str:
    return f"{SYNC_TOKEN_PREFIX}{calendar.id}/{calendar.sync_counter}"


def parse_sync_token(calendar: CalendarRow, token: str) -> int:
    """The counter in a token of this calendar; ValueError for anything else."""
    if not token.startswith(SYNC_TOKEN_PREFIX):
        raise ValueError("sync token of another server")
    calendar_id, _, counter = token[len(SYNC_TOKEN_PREFIX):].partition("/")
    if calendar_id != calendar.id or not counter.isdigit():
        raise ValueError("sync token of another collection")
    value = int(counter)
    if value > calendar.sync_counter or value < calendar.sync_floor:
        raise ValueError("sync token is no longer valid")
    return value


def changed_hrefs(conn: Connection, tenant: str, calendar_id: str, since: int) -> list[str]:
    return list(conn.execute(_q(
        "SELECT DISTINCT href FROM calendar_changes WHERE tenant_id = :t AND calendar_id = :c "
        "AND counter > :n"), {"t": tenant, "c": calendar_id, "n": since}).scalars())


def all_hrefs(conn: Connection, tenant: str, calendar_id: str) -> list[str]:
    return list(conn.execute(_q(
        "SELECT href FROM events WHERE tenant_id = :t AND calendar_id = :c "
        "AND series_id IS NULL AND deleted_at IS NULL "
        "UNION ALL SELECT href FROM calendar_objects WHERE tenant_id = :t AND calendar_id = :c"),
        {"t": tenant, "c": calendar_id}).scalars())


def now() -> datetime:
    return datetime.now(UTC)
