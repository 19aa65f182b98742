"""SQL of free-busy: blocking occurrences from the instance index.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Connection, Row

from backside_caldav.db import occurrences
from backside_caldav.db.accounts import owner_addresses
from backside_caldav.db.engines import statement as _q
from backside_caldav.db.event_reads import EVENT_COLS, RECORD_COLS, event_record
from backside_caldav.db.occurrences import (
    INDEXED_SERIES_JOIN,
    INSTANCE_OVERLAPS,
    overlap_params,
    unindexed_series,
)
from backside_caldav.domain import instance_index
from backside_caldav.domain.records import EventRecord
from backside_caldav.domain.recurrence import TooManyInstances, expand

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
                f"SELECT {EVENT_COLS} FROM events WHERE tenant_id = :t "
                "AND (id = ANY(CAST(:ids AS uuid[])) OR series_id = ANY(CAST(:ids AS uuid[])))"),
                {"t": tenant, "ids": others}):
            series.setdefault(r.series_id or r.id, []).append(event_record(r))
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


def unindexed_masters(conn: Connection, tenant: str, start: datetime, end: datetime,
                      calendar_ids: list[str] | None) -> list[Row]:
    """Masters the instance index cannot answer for in [start, end) (a day wider
    each side, for all-day events); the caller expands them."""
    ids = occurrences.unindexed_series(conn, tenant, calendar_ids, start - timedelta(days=1),
                                 end + timedelta(days=1))
    if not ids:
        return []
    return list(conn.execute(_q(
        f"SELECT {RECORD_COLS}, c.timezone AS calendar_timezone FROM events e "
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
        f"FROM event_instances i {occurrences.INDEXED_SERIES_JOIN}"
        "JOIN calendars c ON c.tenant_id = m.tenant_id AND c.id = m.calendar_id "
        "LEFT JOIN events o ON o.tenant_id = i.tenant_id AND o.series_id = i.event_id "
        "  AND o.recurrence_id = i.recurrence_id "
        f"WHERE i.tenant_id = :t {cal}AND i.busy <> 'FREE' AND {occurrences.INSTANCE_OVERLAPS} "
        "ORDER BY i.start_time"),
        {"t": tenant, "cals": calendar_ids, **occurrences.overlap_params(start, end)}))


def declined_by(conn: Connection, tenant: str, event_ids: list[str], email: str) -> set[str]:
    """Which of these event rows the attendee with this email has declined."""
    if not event_ids:
        return set()
    return set(conn.execute(_q(
        "SELECT DISTINCT event_id::text FROM event_attendees WHERE tenant_id = :t "
        "AND lower(email) = lower(:m) AND rsvp_status = 'declined' "
        "AND event_id = ANY(CAST(:ids AS uuid[]))"),
        {"t": tenant, "m": email, "ids": event_ids}).scalars())
