"""Free-busy and availability (the JSON API and the MCP tools): the one policy of
domain/busy.py, asked about the calendar owners plus `attendee_email`.

The candidates come from db/busy_queries.py (the instance index, and series
it cannot answer for expanded there), the same as a CalDAV free-busy REPORT
reads; only the answer's shape is the API's own: merged intervals (and the
tentative part of them) for /freebusy, the blocking instances for
/availability/check. A key limited to calendars or to a time window is told
only about those: the range is cut to its window (busy time outside it is not
revealed) and other calendars are left out.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from backside_caldav.db import busy_queries
from backside_caldav.domain import busy
from backside_caldav.service import access, validate
from backside_caldav.service import params as p
from backside_caldav.service.calendars import require_known
from backside_caldav.service.events import Caller
from backside_caldav.service.problems import Problem, invalid

EXPAND_LIMIT = 100_000  # occurrences from a series' start up to the range end
MAX_CONFLICTS = 200
MAX_CALENDARS = 100


def busy_instances(caller: Caller, start: datetime, end: datetime, calendar_ids: list[str] | None,
                   attendee_email: str | None) -> list[busy.Block]:
    """Blocking instances overlapping [start, end), sorted by start."""
    try:
        found = busy_queries.candidates(caller.conn, caller.tenant, calendar_ids, start, end,
                                        attendee_email, expand_limit=EXPAND_LIMIT)
    except busy_queries.SeriesTooLong as exc:
        raise Problem(422, "series-too-long", "Series too long to expand",
                      f"event {exc.event_id} ({exc.title!r}) has more than {exc.limit} "
                      "occurrences before the end of the range; shorten its rule or "
                      "leave its calendar out with calendar_ids") from None
    return busy.blocks(found, start, end)


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


def minus(intervals: list[tuple[datetime, datetime]],
          taken: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """The parts of merged `intervals` that no interval of merged `taken` covers."""
    left: list[tuple[datetime, datetime]] = []
    first = 0
    for s, e in intervals:
        while first < len(taken) and taken[first][1] <= s:
            first += 1
        k = first
        while k < len(taken) and taken[k][0] < e:
            if taken[k][0] > s:
                left.append((s, taken[k][0]))
            s = max(s, taken[k][1])
            k += 1
        if s < e:
            left.append((s, e))
    return left


def _calendar_ids(caller: Caller, values: list[str], name: str) -> list[str] | None:
    """The calendars asked about: those named (each known, and the key's), else the
    key's (None: every calendar of the tenant)."""
    if not values:
        return access.calendars_for(caller.key, None, name)
    if len(values) > MAX_CALENDARS:
        raise invalid(name, f"at most {MAX_CALENDARS} calendars per request")
    ids = list(dict.fromkeys(validate.uuid_value(name, v) for v in values))
    require_known(caller.conn, caller.tenant, name, ids)
    return access.calendars_for(caller.key, ids, name)


def _visible(caller: Caller, start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    """The part of [start, end) inside the key's time window (None: nothing is)."""
    return access.clip(caller.key, start, end, datetime.now(timezone.utc))


def freebusy(caller: Caller, params: p.Params) -> dict[str, Any]:
    """GET /api/v1/freebusy: merged busy intervals, clipped to the range, and
    the parts of them only tentative occurrences hold. params as a parsed query
    string or plain values (calendar_id: one id or a list)."""
    p.only(params, "start", "end", "calendar_id", "attendee_email")
    start_text, end_text = p.one(params, "start"), p.one(params, "end")
    if start_text is None:
        raise invalid("start", "is required (an RFC 3339 date-time such as 2026-05-04T00:00:00Z)")
    if end_text is None:
        raise invalid("end", "is required (an RFC 3339 date-time such as 2026-05-11T00:00:00Z)")
    start, end = validate.time_range(validate.date_time("start", start_text),
                                     validate.date_time("end", end_text))
    email_text = p.one(params, "attendee_email")
    attendee = validate.email("attendee_email", email_text) if email_text is not None else None
    calendars = _calendar_ids(caller, p.many(params, "calendar_id"), "calendar_id")
    seen = _visible(caller, start, end)  # busy time outside the key's window is not told
    blocks = busy_instances(caller, *seen, calendars, attendee) if seen else []
    lo, hi = seen or (start, end)
    clipped = [(max(b.start, lo), min(b.end, hi), b.tentative) for b in blocks]
    intervals = merge([(s, e) for s, e, _ in clipped])
    # Tentative: held only by tentative occurrences (FBTYPE=BUSY-TENTATIVE in CalDAV).
    tentative = minus(merge([(s, e) for s, e, t in clipped if t]),
                      merge([(s, e) for s, e, t in clipped if not t]))
    return {
        "start": validate.iso(start), "end": validate.iso(end),
        "busy": [{"start": validate.iso(s), "end": validate.iso(e)} for s, e in intervals],
        "tentative": [{"start": validate.iso(s), "end": validate.iso(e)} for s, e in tentative],
    }


def check(caller: Caller, doc: dict[str, Any]) -> dict[str, Any]:
    """POST /api/v1/availability/check: is [start, end) free, and if not, what clashes."""
    validate.body_fields(doc, ("start", "end"), ("calendar_ids", "attendee_email"))
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
    calendars = _calendar_ids(caller, raw_ids or [], "calendar_ids")
    seen = _visible(caller, start, end)  # only the part inside the key's window is checked
    blocks = busy_instances(caller, *seen, calendars, attendee) if seen else []
    return {
        "available": not blocks,
        "conflict_count": len(blocks),
        "conflicts": [_conflict(b) for b in blocks[:MAX_CONFLICTS]],
    }


def _conflict(b: busy.Block) -> dict[str, object]:
    o = b.occurrence
    found: dict[str, object] = {
        "event_id": o.event_id, "calendar_id": o.calendar_id, "title": o.title,
        "start": validate.iso(b.start), "end": validate.iso(b.end), "all_day": o.all_day,
        "recurrence_id": validate.iso(o.recurrence_id)}
    if b.tentative:  # additive: present only on tentative instances
        found["tentative"] = True
    return found
