"""Ranked full-text search over title, location, description (GET
/api/v1/events/search and the MCP tools).

Two ways to match, both indexed (migration 0003):
- every word of q as a word prefix ("meet" finds "Meeting"), with PostgreSQL
  full-text search in the 'simple' configuration (no stemming, so names,
  codes and any language behave the same);
- q as a substring of a field ("ondon" finds "London"), with ILIKE, which the
  pg_trgm GIN indexes answer when the extension is installed (without it the
  same query scans the tenant's rows). Only for q of 3 characters or more:
  shorter substrings match nearly everything and trigrams cannot index them.
A key limited to calendars searches only those; one limited in time finds
only events with an occurrence in its window (the asked window cut to it).
Rank: ts_rank (title weighs most, then location, then description) plus
bonuses for a title equal to, starting with or containing q. Pages are
keyset-paginated on (score, id) with an opaque cursor.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import re
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from backside_caldav.db import event_reads, search_queries
from backside_caldav.db.event_reads import event_record
from backside_caldav.db.search_queries import like_escape as _like_escape
from backside_caldav.db.search_queries import tsquery_of
from backside_caldav.domain.recurrence import TooManyInstances, expand
from backside_caldav.service import access, cursors, validate
from backside_caldav.service import params as p
from backside_caldav.service.calendars import require_known
from backside_caldav.service.events import Caller
from backside_caldav.service.problems import invalid

MAX_Q = 200
MAX_WORDS = 16
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MIN_SUBSTRING = 3
MAX_BATCHES = 5  # bounded work per page when the window check drops candidates
EXPAND_LIMIT = 2000  # a denser series is kept as a hit (conservatively)

PARAMS = ("q", "calendar_id", "start", "end", "limit", "cursor")


def _fingerprint(q: str, calendar_id: str | None, start: datetime | None,
                 end: datetime | None) -> str:
    key = json.dumps([q, calendar_id, validate.iso(start), validate.iso(end)])
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def encode_cursor(score: str, event_id: str, fingerprint: str) -> str:
    return cursors.pack(json.dumps({"s": score, "i": event_id, "f": fingerprint},
                                   separators=(",", ":")))


def decode_cursor(cursor: str, fingerprint: str) -> tuple[str, str]:
    problem = invalid("cursor", "is not a cursor from this search; repeat the search "
                                "without cursor to start from the first page")
    try:
        doc = json.loads(cursors.unpack(cursor, 400))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise problem from None
    if not isinstance(doc, dict) or not isinstance(doc.get("s"), str) \
            or not re.fullmatch(r"-?\d{1,6}(\.\d{1,6})?", doc["s"]) \
            or not isinstance(doc.get("i"), str):
        raise problem
    if doc.get("f") != fingerprint:
        raise invalid("cursor", "belongs to a search with other parameters; repeat the "
                                "search without cursor")
    try:
        event_id = validate.uuid_value("cursor", doc["i"])
    except Exception:  # noqa: BLE001 - any defect means a foreign cursor
        raise problem from None
    return doc["s"], event_id


def search(caller: Caller, params: p.Params) -> dict[str, Any]:
    """{hits, next_cursor}; params as a parsed query string or plain values (limit may
    be an int)."""
    p.only(params, *PARAMS)
    raw_q = p.one(params, "q")
    if raw_q is None:
        raise invalid("q", "is required: the text to search for")
    q = validate.text("q", raw_q, MAX_Q).strip()
    calendar_id = p.one(params, "calendar_id")
    if calendar_id is not None:
        calendar_id = validate.uuid_value("calendar_id", calendar_id)
    start_text, end_text = p.one(params, "start"), p.one(params, "end")
    start = validate.date_time("start", start_text) if start_text is not None else None
    end = validate.date_time("end", end_text) if end_text is not None else None
    if start is not None and end is not None:
        validate.time_range(start, end, max_range=None)
    limit = p.limit(params, DEFAULT_LIMIT, MAX_LIMIT)
    fingerprint = _fingerprint(q, calendar_id, start, end)
    cursor = p.one(params, "cursor")
    after = decode_cursor(cursor, fingerprint) if cursor is not None else None
    if calendar_id is not None:
        require_known(caller.conn, caller.tenant, "calendar_id", [calendar_id])
    # A key limited to calendars searches only those (another id is unknown to it).
    key_calendars = access.calendars_for(caller.key, [calendar_id] if calendar_id else None)

    window = None
    if start is not None or end is not None:
        window = (start or validate.EARLIEST, end or validate.LATEST)
    exact = start is not None and end is not None
    # A key limited in time sees only events with an occurrence in its window.
    limited = caller.key.window(datetime.now(timezone.utc)) is not None
    if limited:
        window = access.clip(caller.key, *(window or (validate.EARLIEST, validate.LATEST)),
                             datetime.now(timezone.utc))
        if window is None:
            return {"hits": [], "next_cursor": None}
    checked = exact or limited  # each candidate's occurrences are worked out in the window
    query = search_queries.SearchQuery(
        tenant=caller.tenant, text=q, tsquery=tsquery_of(q),
        pattern=f"%{_like_escape(q)}%" if len(q) >= MIN_SUBSTRING else None,
        prefix=f"{_like_escape(q)}%", calendar_id=calendar_id, window=window, after=after,
        limit=max(2 * (limit + 1), 50) if checked else limit + 1,
        calendar_ids=None if calendar_id else key_calendars)

    hits: list[dict] = []
    keys: list[tuple[str, str]] = []
    next_after: tuple[str, str] | None = None
    for _ in range(MAX_BATCHES):
        rows = search_queries.search(caller.conn, query)
        occurrences = _occurrences(caller, rows, window) if checked else {}
        for row in rows:
            key = (str(row.score), row.id)
            query = replace(query, after=key)
            if checked and row.id not in occurrences:
                continue
            hits.append(_hit(row, occurrences.get(row.id) if exact else None, exact))
            keys.append(key)
            if len(hits) > limit:
                break
        if len(hits) > limit:
            hits, next_after = hits[:limit], keys[limit - 1]
            break
        if len(rows) < query.limit:
            break  # no more candidates
    else:
        next_after = query.after  # work bound reached: continue after the last row looked at
    return {
        "hits": hits,
        "next_cursor": encode_cursor(*next_after, fingerprint) if next_after else None,
    }


def _occurrences(caller: Caller, rows: list, window: tuple[datetime, datetime] | None
                 ) -> dict[str, dict | None]:
    """For each candidate with an occurrence in the window: its first one (None if unknown)."""
    assert window is not None
    if not rows:
        return {}
    ids = [r.id for r in rows]
    masters = {r.id: r for r in event_reads.masters_by_id(caller.conn, caller.tenant, ids)}
    overrides: dict[str, list] = {}
    for r in event_reads.overrides_of(caller.conn, caller.tenant, ids):
        overrides.setdefault(r.series_id, []).append(event_record(r))
    found: dict[str, dict | None] = {}
    for event_id, row in masters.items():
        records = [event_record(row), *overrides.get(event_id, [])]
        try:
            instances = expand(records, window[0], window[1], limit=EXPAND_LIMIT)
        except TooManyInstances:
            found[event_id] = None
            continue
        live = [i for i in instances if not i.cancelled]
        if live:
            first = live[0]
            found[event_id] = {
                "start": validate.iso(first.start), "end": validate.iso(first.end),
                "recurrence_id": validate.iso(first.recurrence_id)
                if (row.rrule or row.rdates) else None,
            }
    return found


def _hit(row, occurrence: dict | None, exact: bool) -> dict:
    hit = {
        "id": row.id,
        "calendar_id": row.calendar_id,
        "title": row.title,
        "description": row.description,
        "location": row.location,
        "start": validate.iso(row.start_time),
        "end": validate.iso(row.end_time),
        "all_day": row.is_all_day,
        "timezone": row.timezone,
        "recurring": bool(row.rrule or row.rdates),
        "status": row.status,
        "score": float(row.score),
    }
    if exact:
        hit["occurrence"] = occurrence
    return hit
