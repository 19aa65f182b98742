"""The instance index (event_instances): occurrences of every series, and
the time-range questions answered from it.

See domain/instance_index.py for what is indexed; this module keeps the
rows in step with the events and reads them back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from backside_caldav.db.engines import statement as _q
from backside_caldav.db.event_reads import (
    EVENT_COLS,
    StoredItem,
    event_record,
    get_items,
    load_events,
)
from backside_caldav.domain import instance_index, rscale, task_times, unknown_tzid
from backside_caldav.domain.expand_render import Expansion
from backside_caldav.domain.instance_index import BEGINNING, LONG
from backside_caldav.domain.recurrence import (
    INFINITY,
    SLACK,
    TooManyInstances,
    expand,
    shift,
)

# Occurrences i of series m that the index answers for (not changed by another
# writer since indexing, indexed past :e) and that overlap [:s, :e); :ls is
# :s - LONG, so only long occurrences are looked for further back.
INDEXED_SERIES_JOIN = (
    "JOIN events m ON m.tenant_id = i.tenant_id AND m.id = i.event_id "
    "AND m.deleted_at IS NULL AND NOT m.occurrence_stale AND m.instances_until >= :e ")


INSTANCE_OVERLAPS = "i.start_time < :e AND i.end_time > :s AND (i.start_time >= :ls OR i.is_long)"


def overlap_params(start: datetime, end: datetime) -> dict[str, datetime]:
    return {"s": start, "e": end, "ls": _shift(start, -LONG)}


def _shift(value: datetime, delta: timedelta) -> datetime:
    """recurrence.shift, kept inside the index's own range of dates."""
    return max(shift(value, delta), BEGINNING)


def get_filtered(conn: Connection, tenant: str, calendar_id: str, component: str | None,
                 start: datetime, end: datetime, expand: bool = False,
                 day_zone: str | None = None) -> list[tuple[StoredItem, bool]]:
    """Resources that may have an occurrence in [start, end), with a flag that
    says the match is certain.

    For a series whose index answers for the window the match is exact (RFC
    4791 9.9 overlap of its indexed occurrences, which were computed with the
    calendar's timezone for dates, as 9.9 asks), so Radicale need not parse it
    again; with `expand` the item also carries those occurrences. Series
    changed by other writers since they were indexed, or asked about beyond
    their indexed horizon, are found by their conservative span and left for
    Radicale to check. Tasks are decided here too, from their text (see
    domain/task_times.py), with DATE values in `day_zone`, the calendar's zone.
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
                f"SELECT {EVENT_COLS}, "
                "coalesce(NOT occurrence_stale AND instances_until >= :e, false) AS answers "
                "FROM events "
                "WHERE tenant_id = :t AND id = ANY(CAST(:ids AS uuid[])) "
                "AND deleted_at IS NULL AND series_id IS NULL"),
                {"t": tenant, "ids": list(wanted), "e": end}).all()
            # Indexed and answering for the whole window: the index is the truth.
            certain = {m.id: m.answers and m.id in instances and m.id not in unindexed
                       for m in masters}
            # Series Radicale's matcher cannot read are decided here instead.
            own = own_matches(conn, tenant, [m for m in masters if m.id in unindexed and (
                rscale.scale_of(m.rrule) or unknown_tzid.unresolved(m.ical_source))],
                start, end)
            for series_id, found in own.items():
                certain[series_id] = found is None or bool(found)  # None: matches
                if found:
                    instances[series_id] = found
            masters = [m for m in masters if certain[m.id]
                       or (m.id in unindexed and m.id not in own)]
            overrides: dict[str, set[datetime]] = {}
            if expand and masters:
                for series_id, rid in conn.execute(_q(
                        "SELECT series_id::text, recurrence_id FROM events WHERE tenant_id = :t "
                        "AND series_id = ANY(CAST(:ids AS uuid[]))"),
                        {"t": tenant, "ids": [m.id for m in masters if certain[m.id]]}):
                    overrides.setdefault(series_id, set()).add(rid)
            for item, master in zip(load_events(conn, tenant, masters), masters, strict=True):
                if expand and certain[master.id] and master.recurrence_id is None:
                    ids = frozenset(overrides.get(master.id, ()))
                    item.expansion = Expansion(
                        recurring=bool(master.rrule or master.rdates or ids),
                        all_day=master.is_all_day, day_zone=master.timezone,
                        override_ids=ids, instances=instances.get(master.id, []),
                        as_stored=not rscale.expandable(master.rrule))
                # For Radicale's own filter, should it read the item (matcher_view):
                # original starts, so that overrides replace theirs by RECURRENCE-ID.
                starts = [max(start, master.start_time)] \
                    if master.id in own and own[master.id] is None \
                    else [i[0] for i in instances.get(master.id, [])]
                item.window = (starts, master.timezone)
                results.append((item, certain[master.id]))
    if component != "VEVENT":
        comp_filter = "" if component is None else "AND component = :comp"
        for r in conn.execute(_q(
                "SELECT href, uid, component, revision, ical_source, updated_at "
                f"FROM calendar_objects WHERE tenant_id = :t AND calendar_id = :c {comp_filter} "
                "AND (range_start IS NULL OR (range_start < :e AND range_end > :s))"),
                {**params, "comp": component}):
            item = StoredItem(r.href, r.uid, r.component, r.revision, r.ical_source, r.updated_at)
            if component == "VTODO":
                # RFC 4791 9.9's VTODO table, for every instance: the answer is exact.
                if task_times.text_matches(r.ical_source, day_zone, start, end):
                    results.append((item, True))
            else:
                results.append((item, False))
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


def reindex_series(conn: Connection, tenant: str, series_id: str, at: datetime) -> None:
    """Recompute a series' occurrences, next_occurrence and horizon from its rows."""
    rows = conn.execute(_q(
        f"SELECT {EVENT_COLS} FROM events "
        "WHERE tenant_id = :t AND (id = :s OR series_id = :s)"), {"t": tenant, "s": series_id}).all()
    master = next((r for r in rows if r.id == series_id), None)
    if master is None:
        return
    built = instance_index.build([event_record(r) for r in rows], at)
    write_index(conn, tenant, master.calendar_id, series_id, built)


def instance_arrays(built: instance_index.IndexedSeries) -> dict[str, list[Any]]:
    """A series' occurrence rows as one array per column (see insert_instances)."""
    columns = (list(c) for c in zip(*built.rows, strict=True))
    return dict(zip(("rid", "st", "en", "ex", "lo", "bu"), columns, strict=True))


def insert_instances(series: str, source: str) -> str:
    """SQL: insert the occurrences of instance_arrays for `series` (an
    expression), reading it from `source` when that is a CTE."""
    return ("INSERT INTO event_instances (tenant_id, calendar_id, event_id, recurrence_id, "
            f"start_time, end_time, exact, is_long, busy) SELECT :t, :c, {series}, u.* "
            f"FROM {source + ', ' if source else ''}unnest(CAST(:rid AS timestamptz[]), "
            "CAST(:st AS timestamptz[]), CAST(:en AS timestamptz[]), CAST(:ex AS boolean[]), "
            "CAST(:lo AS boolean[]), CAST(:bu AS text[])) AS u ON CONFLICT DO NOTHING")


def write_index(conn: Connection, tenant: str, calendar_id: str, series_id: str,
                 built: instance_index.IndexedSeries, client_text: bool = False,
                 new: bool = False) -> tuple[int, datetime]:
    """Replace a series' occurrences and bookkeeping; with client_text, also mark
    the stored text as matching the rows (new: the series was just inserted, it
    has no occurrences yet). Returns the master's revision and updated_at."""
    # One statement: the occurrences that are gone are deleted, the others
    # upserted, rewriting only rows whose values changed (a title change
    # touches none); the two parts have disjoint keys, so they do not see
    # each other's rows as conflicts. DISTINCT ON keeps the first of repeated
    # keys, as the plain INSERT ... DO NOTHING did.
    arrays = instance_arrays(built) if built.rows else dict.fromkeys(
        ("rid", "st", "en", "ex", "lo", "bu"), [])
    index = (
        "WITH u AS MATERIALIZED (SELECT DISTINCT ON (rid) rid, st, en, ex, lo, bu "
        "FROM unnest(CAST(:rid AS timestamptz[]), CAST(:st AS timestamptz[]), "
        "CAST(:en AS timestamptz[]), CAST(:ex AS boolean[]), CAST(:lo AS boolean[]), "
        "CAST(:bu AS text[])) WITH ORDINALITY AS x(rid, st, en, ex, lo, bu, n) "
        "ORDER BY rid, n), "
        "gone AS (DELETE FROM event_instances i WHERE i.tenant_id = :t AND i.event_id = :s "
        "AND NOT EXISTS (SELECT 1 FROM u WHERE u.rid = i.recurrence_id)), "
        "put AS (INSERT INTO event_instances AS i (tenant_id, calendar_id, event_id, "
        "recurrence_id, start_time, end_time, exact, is_long, busy) "
        "SELECT :t, :c, :s, u.rid, u.st, u.en, u.ex, u.lo, u.bu FROM u "
        "ON CONFLICT (tenant_id, event_id, recurrence_id) DO UPDATE SET "
        "calendar_id = EXCLUDED.calendar_id, start_time = EXCLUDED.start_time, "
        "end_time = EXCLUDED.end_time, exact = EXCLUDED.exact, is_long = EXCLUDED.is_long, "
        "busy = EXCLUDED.busy WHERE (i.calendar_id, i.start_time, i.end_time, i.exact, "
        "i.is_long, i.busy) IS DISTINCT FROM (EXCLUDED.calendar_id, EXCLUDED.start_time, "
        "EXCLUDED.end_time, EXCLUDED.exact, EXCLUDED.is_long, EXCLUDED.busy)) ")
    until = None if built.instances_until >= INFINITY else built.instances_until
    ical = ", ical_revision = CASE WHEN id = :s THEN revision ELSE ical_revision END" \
        if client_text else ""
    rows = conn.execute(_q(
        index + "UPDATE events SET occurrence_stale = false, "
        "next_occurrence = CASE WHEN id = :s THEN CAST(:n AS timestamptz) END, "
        f"instances_until = coalesce(CAST(:u AS timestamptz), 'infinity'){ical} "
        "WHERE tenant_id = :t AND (id = :s OR series_id = :s) "
        "RETURNING id::text, revision, updated_at"),
        {"t": tenant, "c": calendar_id, "s": series_id, "n": built.next_occurrence,
         "u": until, **arrays}).all()
    master = next(r for r in rows if r.id == series_id)
    return master.revision, master.updated_at


def series_needing_index(conn: Connection, tenant: str, at: datetime, limit: int) -> list[str]:
    """Series that other writers changed, whose next occurrence has passed, or
    whose indexed horizon is getting near; locked so workers share the load."""
    return list(conn.execute(_q(
        "SELECT id::text FROM events WHERE tenant_id = :t AND series_id IS NULL "
        "AND deleted_at IS NULL AND (occurrence_stale OR next_occurrence < :now "
        "OR (instances_until < :soon AND instances_until > :open)) "
        "LIMIT :n FOR UPDATE SKIP LOCKED"),
        {"t": tenant, "now": at, "soon": at + instance_index.HORIZON - timedelta(days=30),
         "n": limit, "open": instance_index.OPEN_ENDED}).scalars())


def own_matches(conn: Connection, tenant: str, masters: list[Any], start: datetime,
                end: datetime) -> dict[str, list[tuple[datetime, datetime, datetime]] | None]:
    """For series the index cannot answer for and Radicale's own matcher cannot
    read (an RFC 7529 RSCALE; a TZID that names no zone, which it reads as
    floating): their occurrences in [start, end) by our expansion ([] when
    none), or None for a calendar scale this server does not expand: such a
    series matches every window its open-ended span overlaps, as RFC 4791
    lets a server that cannot expand answer."""
    if not masters:
        return {}
    rows: dict[str, list[Any]] = {m.id: [m] for m in masters}
    for r in conn.execute(_q(
            f"SELECT {EVENT_COLS}, series_id::text AS of_series FROM events "
            "WHERE tenant_id = :t AND series_id = ANY(CAST(:ids AS uuid[]))"),
            {"t": tenant, "ids": list(rows)}):
        rows[r.of_series].append(r)
    found: dict[str, list[tuple[datetime, datetime, datetime]] | None] = {}
    for series_id, series in rows.items():
        if not rscale.expandable(series[0].rrule):
            found[series_id] = None
            continue
        try:
            occurrences = expand([event_record(r) for r in series], start, end)
        except TooManyInstances:
            found[series_id] = None
            continue
        found[series_id] = [(i.recurrence_id, i.start, i.end) for i in occurrences]
    return found
