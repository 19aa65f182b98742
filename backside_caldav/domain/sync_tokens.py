"""Sync tokens (RFC 6578): a calendar's id and its change counter.

Pure: the counter lives in the calendars row, kept by triggers whoever
writes (migration 0001), so a token moves with every change.
"""

from __future__ import annotations

from backside_caldav.domain.records import CalendarRow

SYNC_TOKEN_PREFIX = "http://backside-caldav.invalid/sync/"


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
