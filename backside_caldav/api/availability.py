"""Free-busy and availability: which instances block time in a range.

Occurrences come from the instance index (event_instances), which already
places moved and cancelled instances; series the index cannot answer for
yet are found by their conservative span and expanded with
backside_caldav.recurrence.expand, overrides included.

An instance does not block when it is cancelled, transparent (TRANSP), a
working-location marker, zero-length, or declined by `attendee_email`
(that attendee's rsvp_status on the instance's own row - the override's for
an overridden instance - is 'declined'). An all-day instance blocks whole
days: from midnight to midnight in the event's timezone, else the
calendar's, else UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any

from backside_caldav.api import validate
from backside_caldav.api.http import Call, Reply, body_fields
from backside_caldav.api.problems import Problem, invalid
from backside_caldav.db import busy_queries, calendars, event_reads
from backside_caldav.db.event_reads import event_record
from backside_caldav.domain.recurrence import TooManyInstances, expand
from backside_caldav.domain.zones import zone

UTC = timezone.utc
EXPAND_LIMIT = 100_000  # occurrences from a series' start up to the range end
MAX_CONFLICTS = 200
MAX_CALENDARS = 100
NON_BLOCKING_TYPES = ("working_location",)


@dataclass(frozen=True)
class Busy:
    start: datetime
    end: datetime
    event_id: str  # the series (master) id
    calendar_id: str
    title: str | None
    all_day: bool
    recurrence_id: datetime | None  # set for instances of a recurring series


def _whole_days(start: datetime, end: datetime, tz_name: str | None) -> tuple[datetime, datetime]:
    """Midnight of the start's local date to midnight after the last day it covers.

    The number of days is the duration rounded up (at least one), so rows
    written with a time of day still cover whole calendar days.
    """
    tz = zone(tz_name)
    first_day = start.astimezone(tz).date()
    days = max(1, -(-(end - start) // timedelta(days=1)))
    first = datetime.combine(first_day, time(0), tzinfo=tz)
    last = datetime.combine(first_day + timedelta(days=days), time(0), tzinfo=tz)
    return first.astimezone(UTC), last.astimezone(UTC)


def busy_instances(call: Call, start: datetime, end: datetime, calendar_ids: list[str] | None,
                   attendee_email: str | None) -> list[Busy]:
    """Blocking instances overlapping [start, end), sorted by start.

    Indexed series come straight from event_instances; only series the index
    cannot answer for (changed by another writer, or past their horizon) are
    expanded here.
    """
    wide_start, wide_end = start - timedelta(days=1), end + timedelta(days=1)
    indexed = busy_queries.indexed_busy(call.conn, call.tenant, wide_start, wide_end, calendar_ids)
    declined_rows: set[str] = set()
    if attendee_email is not None and indexed:
        declined_rows = busy_queries.declined_by(call.conn, call.tenant,
                                            list({r.row_id for r in indexed}), attendee_email)
    found: list[Busy] = []
    for row in indexed:
        if row.event_type in NON_BLOCKING_TYPES or row.row_id in declined_rows:
            continue
        occ_start, occ_end = row.start_time, row.end_time
        if row.is_all_day:
            occ_start, occ_end = _whole_days(occ_start, occ_end, row.day_zone)
        if occ_end <= occ_start or occ_start >= end or occ_end <= start:
            continue
        found.append(Busy(occ_start, occ_end, row.event_id, row.calendar_id, row.title,
                          row.is_all_day, row.recurrence_id if row.recurring else None))
    masters = busy_queries.unindexed_masters(call.conn, call.tenant, start, end, calendar_ids)
    recurring = [m.id for m in masters if m.rrule or m.rdates]
    overrides: dict[str, list[Any]] = {}
    for row in event_reads.overrides_of(call.conn, call.tenant, recurring):
        overrides.setdefault(row.series_id, []).append(row)
    declined: set[str] = set()
    if attendee_email is not None:
        row_ids = [m.id for m in masters] + [o.id for rows in overrides.values() for o in rows]
        declined = busy_queries.declined_by(call.conn, call.tenant, row_ids, attendee_email)
    for master in masters:
        records = [event_record(master), *(event_record(o) for o in overrides.get(master.id, []))]
        day_zone = master.timezone or master.calendar_timezone
        # All-day instances may begin up to a day before the range in UTC.
        try:
            instances = expand(records, start - timedelta(days=1), end + timedelta(days=1),
                               limit=EXPAND_LIMIT)
        except TooManyInstances:
            raise Problem(422, "series-too-long", "Series too long to expand",
                          f"event {master.id} ({master.title!r}) has more than {EXPAND_LIMIT} "
                          "occurrences before the end of the range; shorten its rule or "
                          "leave its calendar out with calendar_ids") from None
        for instance in instances:
            event = instance.event
            if (event.status == "cancelled" or event.transparency == "transparent"
                    or event.event_type in NON_BLOCKING_TYPES or event.id in declined):
                continue
            occ_start, occ_end = instance.start, instance.end
            if event.is_all_day:
                occ_start, occ_end = _whole_days(occ_start, occ_end, event.timezone or day_zone)
            if occ_end <= occ_start or occ_start >= end or occ_end <= start:
                continue
            found.append(Busy(
                occ_start, occ_end, master.id, master.calendar_id, event.title, event.is_all_day,
                instance.recurrence_id if (master.rrule or master.rdates) else None))
    found.sort(key=lambda b: (b.start, b.end, b.event_id))
    return found


def merge(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Sorted, overlapping or touching intervals joined."""
    merged: list[tuple[datetime, datetime]] = []
    for s, e in sorted(intervals):
        if merged and s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def _calendar_ids(call: Call, values: list[str], name: str) -> list[str] | None:
    if not values:
        return None
    if len(values) > MAX_CALENDARS:
        raise invalid(name, f"at most {MAX_CALENDARS} calendars per request")
    ids = list(dict.fromkeys(validate.uuid_value(name, v) for v in values))
    missing = calendars.missing_calendars(call.conn, call.tenant, ids)
    if missing:
        raise invalid(name, f"no calendar {missing[0]} in this tenant "
                            "(GET /api/v1/calendars lists them)")
    return ids


def freebusy(call: Call) -> Reply:
    """GET /api/v1/freebusy: merged busy intervals, clipped to the range."""
    req = call.request
    req.only("start", "end", "calendar_id", "attendee_email")
    start_text, end_text = req.param("start"), req.param("end")
    if start_text is None:
        raise invalid("start", "is required (an RFC 3339 date-time such as 2026-05-04T00:00:00Z)")
    if end_text is None:
        raise invalid("end", "is required (an RFC 3339 date-time such as 2026-05-11T00:00:00Z)")
    start, end = validate.time_range(validate.date_time("start", start_text),
                                     validate.date_time("end", end_text))
    email_text = req.param("attendee_email")
    attendee = validate.email("attendee_email", email_text) if email_text is not None else None
    calendars = _calendar_ids(call, req.params("calendar_id"), "calendar_id")
    busy = busy_instances(call, start, end, calendars, attendee)
    intervals = merge([(max(b.start, start), min(b.end, end)) for b in busy])
    return Reply(200, {
        "start": validate.iso(start), "end": validate.iso(end),
        "busy": [{"start": validate.iso(s), "end": validate.iso(e)} for s, e in intervals],
    })


def check(call: Call) -> Reply:
    """POST /api/v1/availability/check: is [start, end) free, and if not, what clashes."""
    doc = call.request.json()
    call.request.only()
    body_fields(doc, ("start", "end"), ("calendar_ids", "attendee_email"))
    start, end = validate.time_range(validate.date_time("start", doc["start"]),
                                     validate.date_time("end", doc["end"]))
    attendee = None
    if doc.get("attendee_email") is not None:
        attendee = validate.email("attendee_email", doc["attendee_email"])
    raw_ids = doc.get("calendar_ids")
    if raw_ids is not None and not isinstance(raw_ids, list):
        raise invalid("calendar_ids", "must be a list of calendar ids")
    if raw_ids is not None and not raw_ids:
        raise invalid("calendar_ids", "must name at least one calendar (leave it out for all)")
    calendars = _calendar_ids(call, raw_ids or [], "calendar_ids")
    busy = busy_instances(call, start, end, calendars, attendee)
    return Reply(200, {
        "available": not busy,
        "conflict_count": len(busy),
        "conflicts": [{
            "event_id": b.event_id, "calendar_id": b.calendar_id, "title": b.title,
            "start": validate.iso(b.start), "end": validate.iso(b.end), "all_day": b.all_day,
            "recurrence_id": validate.iso(b.recurrence_id),
        } for b in busy[:MAX_CONFLICTS]],
    })
