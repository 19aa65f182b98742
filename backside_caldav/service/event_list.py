"""Listing events: occurrences in a window from the instance index, or one
row per event without a window; filters, sort and an opaque keyset cursor.
Also the overview (today, tomorrow, the rest of the week).

Series the index cannot answer for (changed by plain SQL since indexing, or
asked about past their indexed horizon) are expanded here and merged into
the page in the same order, so the answer never depends on the index's state.
"""

from __future__ import annotations

import binascii
import hashlib
import json
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from backside_caldav.db import calendars as calendar_rows
from backside_caldav.db import event_queries as q
from backside_caldav.db import occurrences, search_queries
from backside_caldav.db.event_reads import event_record
from backside_caldav.domain.records import EVENT_TYPES, STATUSES
from backside_caldav.domain.recurrence import SLACK, TooManyInstances, expand
from backside_caldav.domain.zones import UTC, zone
from backside_caldav.service import access, cursors, event_view, validate
from backside_caldav.service import event_input as inp
from backside_caldav.service import params as p
from backside_caldav.service.events import Caller, now
from backside_caldav.service.problems import invalid

PARAMS = ("start", "end", "date", "time_zone", "start_after", "start_before", "end_after",
          "end_before", "calendar_id", "calendar_name", "event_type", "status", "rsvp_status",
          "attendee_email", "q", "include_deleted", "only_deleted", "sort", "order", "limit",
          "cursor", "format")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
SORTS = ("start", "created", "updated", "title")
EXPAND_LIMIT = 5_000


def _choice(params: dict[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    """One of allowed, or default when the parameter is absent (given empty is a 400)."""
    value = p.one(params, name)
    return default if value is None else inp.choice(name, value, allowed)


def tenant_zone(caller: Caller, params: dict[str, Any]) -> str:
    name = p.one(params, "time_zone")
    if name is not None:
        return inp.zone_name("time_zone", name)
    default = calendar_rows.default_calendar(caller.conn, caller.tenant)
    return (default.timezone if default is not None and default.timezone else "UTC")


def day_window(word: str, zone: str, at: datetime) -> tuple[datetime, datetime]:
    """today, tomorrow, this_week (Monday to Monday), this_month or a date, in zone."""
    tz = ZoneInfo(zone) if zone != "UTC" else UTC
    today = at.astimezone(tz).date()
    if word == "today":
        first, last = today, today + timedelta(days=1)
    elif word == "tomorrow":
        first, last = today + timedelta(days=1), today + timedelta(days=2)
    elif word == "this_week":
        first = today - timedelta(days=today.weekday())
        last = first + timedelta(days=7)
    elif word == "this_month":
        first = today.replace(day=1)
        last = (first + timedelta(days=32)).replace(day=1)
    else:
        first = inp.a_date("date", word)
        last = first + timedelta(days=1)
    return _midnight(first, tz), _midnight(last, tz)


def _midnight(day: date, tz: Any) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def _window(caller: Caller, params: dict[str, Any]) -> tuple[datetime, datetime] | None:
    start, end, word = p.one(params, "start"), p.one(params, "end"), p.one(params, "date")
    if word is not None:
        if start is not None or end is not None:
            raise invalid("date", "give either date or start and end, not both")
        return day_window(word, tenant_zone(caller, params), now())
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise invalid("start" if start is None else "end", "give both start and end")
    return validate.time_range(validate.date_time("start", start), validate.date_time("end", end))


def _calendar_ids(caller: Caller, params: dict[str, Any]) -> list[str] | None:
    raw = params.get("calendar_id") or []
    raw = [raw] if isinstance(raw, str) else raw
    name = p.one(params, "calendar_name")
    if raw and name is not None:
        raise invalid("calendar_name", "give calendar_id or calendar_name, not both")
    if name is not None:
        found = [c.id for c in calendar_rows.calendars_by_name(
            caller.conn, caller.tenant, validate.text("calendar_name", name, 200))]
        found = [c for c in found if caller.key.sees_calendar(c)]
        if not found:
            raise invalid("calendar_name", f"no calendar named {name!r} in this tenant")
        return found
    if not raw:
        return access.calendars_for(caller.key, None)
    ids = list(dict.fromkeys(validate.uuid_value("calendar_id", v) for v in raw))
    missing = calendar_rows.missing_calendars(caller.conn, caller.tenant, ids)
    if missing:
        raise invalid("calendar_id", f"no calendar {missing[0]} in this tenant "
                                     "(GET /api/v1/calendars lists them)")
    return access.calendars_for(caller.key, ids)


def _filters(caller: Caller, params: dict[str, Any]) -> q.Filters:
    f = q.Filters(calendar_ids=_calendar_ids(caller, params))
    if (value := p.one(params, "event_type")) is not None:
        f.event_type = inp.choice("event_type", value, EVENT_TYPES)
    if (value := p.one(params, "status")) is not None:
        f.status = inp.choice("status", value, STATUSES)
    if (value := p.one(params, "rsvp_status")) is not None:
        status = inp.choice("rsvp_status", value, inp.RSVP)
        email = p.one(params, "attendee_email")
        email = validate.email("attendee_email", email) if email is not None \
            else caller.key.owner_email
        if email is None:
            raise invalid("attendee_email", "is required with rsvp_status (this API key has "
                                            "no owner email)")
        f.rsvp = (status, email)
    elif p.one(params, "attendee_email") is not None:
        raise invalid("attendee_email", "is used only with rsvp_status")
    if (value := p.one(params, "q")) is not None:
        f.search = search_queries.match_sql(validate.text("q", value, 200).strip(), "m")
    include, only = p.flag(params, "include_deleted"), p.flag(params, "only_deleted")
    f.deleted = "only" if only else "include" if include else "live"
    for name in ("start_after", "start_before", "end_after", "end_before"):
        if (value := p.one(params, name)) is not None:
            setattr(f, name, validate.date_time(name, value))
    return f


def _fingerprint(params: dict[str, Any]) -> str:
    kept = {k: v for k, v in sorted(params.items()) if k not in ("cursor", "limit", "format")}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _decode(cursor: str, fingerprint: str, sort: str) -> tuple[Any, str, datetime]:
    problem = invalid("cursor", "is not a cursor of this listing; repeat the request "
                                "without cursor")
    try:
        doc = json.loads(cursors.unpack(cursor, 300))
        if doc["f"] != fingerprint:
            raise ValueError
        key = doc["k"] if sort == "title" else datetime.fromisoformat(doc["k"])
        return key, validate.uuid_value("cursor", doc["i"]), datetime.fromisoformat(doc["r"])
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise problem from None
    except Exception:  # noqa: BLE001 - a Problem from uuid_value: still a foreign cursor
        raise problem from None


def _encode(row: Any, fingerprint: str, sort: str) -> str:
    key = row.sort_key if sort == "title" else row.sort_key.isoformat()
    rid = (row.recurrence_id or row.occ_start).isoformat()
    return cursors.pack(json.dumps({"f": fingerprint, "k": key, "i": row.event_id, "r": rid},
                                   separators=(",", ":")))


def list_events(caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    """GET /events: the envelope {data, next_cursor}."""
    for name in params:
        if name not in PARAMS:
            raise invalid(name[:60], f"unknown query parameter (this endpoint takes: "
                                     f"{', '.join(PARAMS)})")
    window = _window(caller, params)
    filters = _filters(caller, params)
    sort = _choice(params, "sort", SORTS, "start")
    order = _choice(params, "order", ("asc", "desc"), "asc")
    fmt = _choice(params, "format", ("full", "compact"), "full")
    limit_text = p.one(params, "limit")
    limit = validate.integer("limit", limit_text, 1, MAX_LIMIT) if limit_text is not None \
        else DEFAULT_LIMIT
    fingerprint = _fingerprint(params)
    cursor = p.one(params, "cursor")
    page = q.Page(sort=sort, descending=order == "desc", limit=limit + 1,
                  after=_decode(cursor, fingerprint, sort) if cursor else None)
    at = now()
    if window is not None:
        clipped = access.clip(caller.key, window[0], window[1], at)
        if clipped is None:
            return _with_owner(caller, {"data": [], "next_cursor": None})
        day_zone = tenant_zone(caller, params)
        rows = q.occurrences(caller.conn, caller.tenant, clipped, filters, page, day_zone)
        rows = _merge(rows, _unindexed(caller, clipped, filters, page, day_zone), page)
    else:
        filters.span = caller.key.window(at)
        rows = q.series(caller.conn, caller.tenant, filters, page)
    more = len(rows) > limit
    rows = rows[:limit]
    body = {"data": [event_view.list_item(r, fmt == "compact") for r in rows],
            "next_cursor": _encode(rows[-1], fingerprint, sort) if more else None}
    return _with_owner(caller, body)


def _with_owner(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    if caller.key.owner_email:
        body["currentUserCalendarEmail"] = caller.key.owner_email
    return body


class _Occ:
    """An occurrence expanded here, shaped like a listing row."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


def _on_days(start: datetime, end: datetime, event_zone: str | None, day_zone: str,
             window: tuple[datetime, datetime]) -> bool:
    """An all-day occurrence's dates, read in day_zone, overlap the window."""
    tz = ZoneInfo(day_zone) if day_zone != "UTC" else UTC
    first = _midnight(start.astimezone(zone(event_zone)).date(), tz)
    last = _midnight(end.astimezone(zone(event_zone)).date(), tz)
    return first < window[1] and last > window[0]


def _unindexed(caller: Caller, window: tuple[datetime, datetime], f: q.Filters,
               page: q.Page, day_zone: str) -> list[_Occ]:
    if f.deleted == "only":
        return []
    ids = occurrences.unindexed_series(caller.conn, caller.tenant, f.calendar_ids,
                                       window[0] - SLACK, window[1] + SLACK)
    if not ids:
        return []
    rows = q.candidate_rows(caller.conn, caller.tenant, ids, f)
    found: list[_Occ] = []
    for master in [r for r in rows if r.series_id is None]:
        kids = [r for r in rows if r.series_id == master.id]
        try:
            instances = expand([event_record(r) for r in [master, *kids]],
                               window[0] - SLACK, window[1] + SLACK, limit=EXPAND_LIMIT)
        except TooManyInstances:
            continue
        by_rid = {k.recurrence_id: k for k in kids}
        for i in instances:
            if master.is_all_day:
                if not _on_days(i.start, i.end, master.timezone, day_zone, window):
                    continue
            elif not (i.start < window[1] and (i.end > window[0] or
                                               i.start == i.end >= window[0])):
                continue
            kid = by_rid.get(i.recurrence_id)
            source = kid or master
            occ = _Occ(event_id=master.id, calendar_id=master.calendar_id, title=source.title,
                       location=source.location, status=source.status,
                       event_type=source.event_type, is_all_day=master.is_all_day,
                       timezone=master.timezone, recurring=bool(master.rrule or master.rdates),
                       created_at=master.created_at, updated_at=master.updated_at,
                       deleted_at=master.deleted_at, revision=master.revision,
                       recurrence_id=i.recurrence_id, occ_start=i.start, occ_end=i.end,
                       overridden=kid is not None)
            if _passes(occ, f, page):
                found.append(occ)
    return found


def _passes(o: _Occ, f: q.Filters, page: q.Page) -> bool:
    if f.event_type is not None and o.event_type != f.event_type:
        return False
    if f.status is not None and (o.status or "confirmed") != f.status:
        return False
    for name, value, op in (("start_after", o.occ_start, 1), ("start_before", o.occ_start, -1),
                            ("end_after", o.occ_end, 1), ("end_before", o.occ_end, -1)):
        bound = getattr(f, name)
        if bound is not None and not (value > bound if op == 1 else value < bound):
            return False
    o.sort_key = {"start": o.occ_start, "created": o.created_at, "updated": o.updated_at,
                  "title": (o.title or "").lower()}[page.sort]
    if page.after is not None:
        mine = (o.sort_key, o.event_id, o.recurrence_id)
        return mine < page.after if page.descending else mine > page.after
    return True


def _merge(rows: list[Any], extra: list[_Occ], page: q.Page) -> list[Any]:
    if not extra:
        return rows
    merged = sorted([*rows, *extra], key=lambda r: (r.sort_key, r.event_id, r.recurrence_id),
                    reverse=page.descending)
    return merged[:page.limit]


def overview(caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    """Upcoming occurrences not declined by the key's owner: today, tomorrow, rest of week."""
    for name in params:
        if name != "time_zone":
            raise invalid(name[:60], "unknown query parameter (this endpoint takes: time_zone)")
    zone = tenant_zone(caller, params)
    at = now()
    today_end = day_window("today", zone, at)[1]
    tomorrow_end = day_window("tomorrow", zone, at)[1]
    week_end = max(day_window("this_week", zone, at)[1], tomorrow_end)
    bounds = [at, today_end, tomorrow_end, week_end]
    window = caller.key.window(at)
    if window is not None:
        bounds = [min(max(b, window[0]), window[1]) for b in bounds]
    counts = q.overview_counts(caller.conn, caller.tenant, bounds,
                               access.calendars_for(caller.key, None), caller.key.owner_email)
    return _with_owner(caller, {"time_zone": zone, "now": validate.iso(at), "today": counts[0],
                                "tomorrow": counts[1], "rest_of_week": counts[2]})
