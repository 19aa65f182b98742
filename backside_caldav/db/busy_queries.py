"""SQL of free-busy: the candidate occurrences that domain/busy.py decides, read
one way for both askers (the CalDAV free-busy REPORT and the JSON API).

Indexed series come straight from event_instances, each occurrence with its
governing row (the override's, else the master's) and the answers of the
people asked about on that row; series the index cannot answer for (changed
by another writer, or asked about past their horizon) are expanded here. The
window is read a day wider on each side for all-day occurrences only: their
whole-day widening can move them into the range.

The SQL leaves out early, with busy.py's own constants, what the policy
would drop anyway (STATUS/TRANSP free, working-location markers, all people
declined), so a calendar full of those does not reach Python or the limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.engine import Connection

from backside_caldav.db.accounts import owner_addresses
from backside_caldav.db.engines import statement as _q
from backside_caldav.db.event_reads import event_record, masters_by_id, overrides_of
from backside_caldav.db.occurrences import (
    INDEXED_SERIES_JOIN,
    INSTANCE_OVERLAPS,
    overlap_params,
    unindexed_series,
)
from backside_caldav.domain import busy
from backside_caldav.domain.recurrence import TooManyInstances, expand

WIDEN = timedelta(days=1)  # how far whole-day widening can move an all-day occurrence
EARLIEST = datetime(1, 1, 8, tzinfo=timezone.utc)
LATEST = datetime(9999, 12, 24, tzinfo=timezone.utc)

# The governing row's value: the override's when there is one. CASE and not
# coalesce(): under row-level security PostgreSQL only uses an index for a
# condition it knows cannot leak, and coalesce() is not one of those, so
# `a.event_id = coalesce(...)` read every attendee row of the tenant per
# occurrence (1.4 s for a week of 10,000 events) where CASE reads a few.
_GOVERNING = "CASE WHEN o.id IS NULL THEN m.{col} ELSE o.{col} END"
_ALL_DAY = _GOVERNING.format(col="is_all_day")
_EVENT_TYPE = _GOVERNING.format(col="event_type")
_ANSWERS = (
    "CROSS JOIN LATERAL (SELECT array_agg(a.rsvp_status) AS answers FROM event_attendees a "
    f"  WHERE a.tenant_id = :t AND a.event_id = {_GOVERNING.format(col='id')} "
    "  AND lower(a.email) = ANY(CAST(:people AS text[]))) ans ")


class SeriesTooLong(TooManyInstances):
    """One series has more occurrences up to the range's end than may be expanded."""

    def __init__(self, event_id: str, title: str | None, limit: int) -> None:
        super().__init__(f"more than {limit} occurrences")
        self.event_id, self.title, self.limit = event_id, title, limit


def candidates(conn: Connection, tenant: str, calendar_ids: list[str] | None,
               start: datetime, end: datetime, attendee: str | None = None,
               limit: int | None = None, expand_limit: int = 100_000
               ) -> list[busy.Occurrence]:
    """Occurrences that may block part of [start, end), for busy.blocks to decide.

    The people asked about are the calendar owners plus `attendee` (busy.people).
    With `limit`, more than that many candidates raise TooManyInstances (the
    index is read with LIMIT, so the work stays bounded); a series with more
    than `expand_limit` occurrences to expand raises SeriesTooLong.
    """
    # No JIT in this transaction: PostgreSQL guesses the window's rows about ten
    # times high (range conditions on two columns), and then spent 700 ms
    # compiling a 20 ms query for each of a connection's first executions.
    # Nothing is stored in year 1's first or year 9999's last week; widening
    # a range there by a day or two would leave the calendar (OverflowError).
    start, end = max(start, EARLIEST), min(end, LATEST)
    if end <= start:
        return []
    people = busy.people(owner_addresses(conn, tenant, no_jit=True), attendee)
    found = _indexed(conn, tenant, calendar_ids, start, end, people, limit)
    if limit is not None and len(found) > limit:
        raise TooManyInstances(f"more than {limit} busy occurrences in the range")
    found += _expanded(conn, tenant, calendar_ids, start, end, people, expand_limit)
    if limit is not None and len(found) > limit:
        raise TooManyInstances(f"more than {limit} busy occurrences in the range")
    return found


def _indexed(conn: Connection, tenant: str, calendar_ids: list[str] | None, start: datetime,
             end: datetime, people: list[str], limit: int | None) -> list[busy.Occurrence]:
    cal = "" if calendar_ids is None else "AND i.calendar_id = ANY(CAST(:cals AS uuid[])) "
    answers, answered, not_declined = "NULL::text[]", "", ""
    if people:  # no lateral read at all for a tenant whose logins are no email addresses
        answers, answered = "ans.answers", _ANSWERS
        not_declined = "AND NOT coalesce(ans.answers <@ CAST(:freeing AS text[]), false) "
    # The columns in busy.Occurrence's field order: rows become occurrences
    # without a lookup by name (a quarter of a week's free-busy time).
    rows = conn.execute(_q(
        "SELECT i.start_time, i.end_time, i.busy, "
        f"{_EVENT_TYPE}, {_ALL_DAY}, coalesce(o.timezone, m.timezone), "
        f"CASE WHEN {_ALL_DAY} THEN (SELECT c.timezone FROM calendars c "
        "  WHERE c.tenant_id = i.tenant_id AND c.id = i.calendar_id) END, "
        f"CASE WHEN {_ALL_DAY} THEN {_GOVERNING.format(col='start_time')} END, "
        f"CASE WHEN {_ALL_DAY} THEN {_GOVERNING.format(col='end_time')} END, "
        f"{answers}, i.event_id::text, i.calendar_id::text, {_GOVERNING.format(col='title')}, "
        "CASE WHEN m.rrule IS NOT NULL OR coalesce(cardinality(m.rdates), 0) > 0 "
        "  THEN i.recurrence_id END "
        f"FROM event_instances i {INDEXED_SERIES_JOIN}"
        "LEFT JOIN events o ON o.tenant_id = i.tenant_id AND o.series_id = i.event_id "
        f"  AND o.recurrence_id = i.recurrence_id {answered}"
        f"WHERE i.tenant_id = :t {cal}AND i.busy <> 'FREE' AND {INSTANCE_OVERLAPS} "
        "AND ((i.start_time < :ne AND i.end_time > :ns) OR (NOT i.exact AND "
        f"{_ALL_DAY})) AND {_EVENT_TYPE} <> ALL(CAST(:quiet AS text[])) {not_declined}"
        # No LIMIT when unbounded: a LIMIT parameter makes generic plans aim for few rows.
        + ("" if limit is None else "LIMIT :n")),
        {"t": tenant, "cals": calendar_ids, "people": people, "ns": start, "ne": end,
         "quiet": list(busy.NON_BLOCKING_TYPES), "freeing": list(busy.FREEING_ANSWERS),
         "n": None if limit is None else limit + 1,
         **overlap_params(start - WIDEN, end + WIDEN)}).tuples()
    return [busy.Occurrence(*r) for r in rows]


def _expanded(conn: Connection, tenant: str, calendar_ids: list[str] | None, start: datetime,
              end: datetime, people: list[str], limit: int) -> list[busy.Occurrence]:
    """Occurrences of the series the index cannot answer for, expanded from their rows."""
    wide_start, wide_end = start - WIDEN, end + WIDEN
    ids = unindexed_series(conn, tenant, calendar_ids, wide_start, wide_end)
    if not ids:
        return []
    masters = masters_by_id(conn, tenant, ids)
    overrides: dict[str, list[Any]] = {}
    for row in overrides_of(conn, tenant, [m.id for m in masters]):
        overrides.setdefault(row.series_id, []).append(row)
    answers = _answers(conn, tenant, [m.id for m in masters] + [
        o.id for rows in overrides.values() for o in rows], people)
    found: list[busy.Occurrence] = []
    for master in masters:
        records = [event_record(master), *(event_record(o) for o in overrides.get(master.id, []))]
        recurring = bool(master.rrule or master.rdates)
        try:
            instances = expand(records, wide_start, wide_end, limit=limit)
        except TooManyInstances:
            raise SeriesTooLong(master.id, master.title, limit) from None
        for instance in instances:
            event = instance.event
            fbtype = busy.status_fbtype(event.status, event.transparency)
            if fbtype == busy.FREE or not (event.is_all_day or (
                    instance.start < end and instance.end > start)):
                continue  # as the index query leaves them out
            found.append(busy.Occurrence(
                instance.start, instance.end, fbtype, event.event_type, event.is_all_day,
                event.timezone or master.timezone, master.calendar_timezone,
                event.start_time, event.end_time, answers.get(event.id or ""), master.id,
                master.calendar_id, event.title, instance.recurrence_id if recurring else None))
    return found


def _answers(conn: Connection, tenant: str, row_ids: list[str],
             people: list[str]) -> dict[str, Sequence[str]]:
    """The people's rsvp_status values on each of these event rows that has some."""
    if not row_ids or not people:
        return {}
    return dict(conn.execute(_q(
        "SELECT event_id::text, array_agg(rsvp_status) FROM event_attendees "
        "WHERE tenant_id = :t AND event_id = ANY(CAST(:ids AS uuid[])) "
        "AND lower(email) = ANY(CAST(:people AS text[])) GROUP BY event_id"),
        {"t": tenant, "ids": row_ids, "people": people}).tuples().all())
