"""The change feed as services read it: a page of changes after a cursor.

GET /api/v1/changes, the stream (service/change_stream.py) and the webhooks
all read pages here, so a key's limits, the cursor rules and the 410 for a
pruned cursor are written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backside_caldav.db import change_feed
from backside_caldav.domain.changes import Change, parse_cursor, present
from backside_caldav.service import params as p
from backside_caldav.service.events import Caller, now, read
from backside_caldav.service.problems import Problem, invalid

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def gone(detail: str) -> Problem:
    return Problem(410, "cursor-expired", "Cursor no longer valid", detail)


@dataclass(frozen=True)
class Page:
    changes: list[Change]
    next_cursor: int
    has_more: bool


def start_of(caller: Caller, since: str | None, name: str = "since") -> int:
    """The number a read starts after: `since` as given, 'now' for the newest, and
    without one the oldest change still kept. 410 below what was pruned."""
    floor, last = change_feed.bounds(caller.conn, caller.tenant)
    if since is None:
        return floor
    if since == "now":
        return last
    value = parse_cursor(since)
    if value is None:
        raise invalid(name, "is not a cursor of this feed (give a `cursor` or `next_cursor` "
                            "from an earlier answer, or 'now')")
    if value < floor:
        raise gone(f"changes up to cursor {floor} were pruned (the log keeps 60 days by "
                   "default); read the events again (GET /api/v1/events) and continue from "
                   "since=now")
    if value > last:
        raise gone(f"cursor {value} is ahead of this feed (its newest change is {last}); "
                   "was the database restored from a backup? Read the events again and "
                   "continue from since=now")
    return value


def page(caller: Caller, since: int, limit: int) -> Page:
    """Up to limit changes the key may see after `since`. When fewer come back the
    cursor moves to the newest change of the snapshot, so a reader never rescans
    changes its key filtered out."""
    key = caller.key
    _, last = change_feed.bounds(caller.conn, caller.tenant)  # first: rows up to it are in
    found = change_feed.after(caller.conn, caller.tenant, since, last, limit + 1,
                              list(key.calendar_ids) if key.calendar_ids is not None else None,
                              key.window(now()))
    floor, _ = change_feed.bounds(caller.conn, caller.tenant)  # after: a prune meanwhile
    if since < floor:
        raise gone(f"changes up to cursor {floor} were pruned while this page was read; "
                   "read the events again and continue from since=now")
    if len(found) > limit:
        found = found[:limit]
        return Page(found, found[-1].seq, True)
    return Page(found, max(last, since), False)


def shown(caller: Caller, change: Change, include_event: bool) -> dict[str, Any]:
    item = present(change, caller.key)
    if include_event and item["event_id"] is not None:
        item["event"] = _event_now(caller, change) if item["type"] != "event.deleted" else None
    return item


def _event_now(caller: Caller, change: Change) -> dict[str, Any] | None:
    """The event as GET /events/{id} reads it now; None when it has gone since or lies
    outside the key's limits."""
    try:
        return read(caller, change.event_id or "")
    except Problem:
        return None


def include_event(params: p.Params) -> bool:
    """include=event: each change carries the event as the event API reads it."""
    include = p.one(params, "include")
    if include not in (None, "event"):
        raise invalid("include", "the only value is 'event' (the event as GET "
                                 "/api/v1/events/{id} reads it, null once it is gone)")
    return include == "event"


def feed(caller: Caller, params: p.Params) -> dict[str, Any]:
    """GET /api/v1/changes."""
    p.only(params, "since", "limit", "include")
    limit = p.limit(params, DEFAULT_LIMIT, MAX_LIMIT)
    with_event = include_event(params)
    since = p.one(params, "since")
    start = start_of(caller, since if since is None else str(since))
    found = page(caller, start, limit)
    return {"changes": [shown(caller, c, with_event) for c in found.changes],
            "next_cursor": str(found.next_cursor), "has_more": found.has_more}
