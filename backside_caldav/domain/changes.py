"""One entry of the change feed, what a key may see of it, and its JSON shape.

Pure: the rows come from db/change_feed.py (written by the triggers of
migration 0009); the JSON API, the stream and the webhooks all show a change
through `present`, so the three agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from backside_caldav.domain.api_keys import ApiKey

EVENT_KINDS = ("event.created", "event.updated", "event.deleted", "event.restored")
CALENDAR_KINDS = ("calendar.created", "calendar.updated", "calendar.deleted")
KINDS = EVENT_KINDS + CALENDAR_KINDS
SOURCES = ("caldav", "api", "import", "sql")


@dataclass(frozen=True)
class Change:
    seq: int
    kind: str
    event_id: str | None
    calendar_id: str
    prev_calendar_id: str | None
    revision: int | None
    source: str
    changed_at: datetime
    range_start: datetime | None
    range_end: datetime | None

    @property
    def cursor(self) -> str:
        return str(self.seq)


def visible(change: Change, key: ApiKey, now: datetime) -> bool:
    """The same rule as db/change_feed.after's SQL, for changes already in memory."""
    if key.calendar_ids is not None and change.calendar_id not in key.calendar_ids and (
            change.prev_calendar_id is None or change.prev_calendar_id not in key.calendar_ids):
        return False
    window = key.window(now)
    if window is None or change.event_id is None:
        return True
    start = change.range_start or datetime.min.replace(tzinfo=timezone.utc)
    end = change.range_end or datetime.max.replace(tzinfo=timezone.utc)
    return start < window[1] and end >= window[0]


def present(change: Change, key: ApiKey | None = None) -> dict[str, Any]:
    """The change as services see it. An event moved out of the calendars a key may
    see is, for that key, deleted from the calendar it left."""
    kind, calendar_id = change.kind, change.calendar_id
    if key is not None and change.event_id is not None and not key.sees_calendar(calendar_id):
        kind, calendar_id = "event.deleted", change.prev_calendar_id or calendar_id
    elif (key is not None and change.prev_calendar_id is not None and kind == "event.updated"
          and not key.sees_calendar(change.prev_calendar_id)):
        kind = "event.created"  # moved into the key's calendars: new to it
    return {
        "cursor": change.cursor,
        "type": kind,
        "event_id": change.event_id,
        "calendar_id": calendar_id,
        "etag": f'"{change.revision}"' if change.revision is not None else None,
        "at": change.changed_at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
        "source": change.source,
    }


def parse_cursor(text: str) -> int | None:
    """A cursor's number; None when it is not one of ours (a decimal of at most 18 digits)."""
    if not text.isdigit() or len(text) > 18 or not text.isascii():
        return None
    return int(text)
