"""Sync tokens (RFC 6578): a calendar's id and its change counter, or a
position inside a paged sync.

Pure: the counter lives in the calendars row, kept by triggers whoever
writes (migration 0001), so a token moves with every change.

Paging (RFC 6578 3.6/3.7, a DAV:limit). A sync reports hrefs in the order
of a key (counter, href), and a page ends at a Position:

- an incremental sync, from a token N: every href changed after N, keyed by
  its last change (the counter of its newest calendar_changes entry);
- a first sync (empty token) that started when the counter was S: first the
  collection as it was, every resource not changed since S, keyed (S, href);
  then every href changed since S, keyed by its last change.

A client holding Position(c, h) has the current state of every href whose
key sorts at or before (c, h). A change gives an href a key above any
position handed out before it, so it is reported after the position again:
never skipped, never repeated while unchanged. Position(c) (href None) is
the plain token c: every change up to c. `hidden` is S: a removal at or
before S happened before the client asked for anything, and RFC 6578 3.4
forbids reporting it; a removal after S is reported (404) even when the
href was never sent, as 3.5.2 asks of a member added and removed between
two syncs.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

from backside_caldav.domain.records import CalendarRow

SYNC_TOKEN_PREFIX = "http://backside-caldav.invalid/sync/"
NO_HIDDEN = -1


@dataclass(frozen=True)
class Position:
    """Where a client's sync stands; see the module docstring."""

    counter: int
    href: str | None = None
    hidden: int = NO_HIDDEN

    @property
    def plain(self) -> bool:
        """A whole counter, as a token without paging says it."""
        return self.href is None and self.hidden == NO_HIDDEN


def sync_token(calendar: CalendarRow) -> str:
    return f"{SYNC_TOKEN_PREFIX}{calendar.id}/{calendar.sync_counter}"


def first_sync(calendar: CalendarRow) -> Position:
    """An empty token: nothing known yet; removals until now are not reported."""
    return Position(NO_HIDDEN, None, calendar.sync_counter)


def page_token(calendar: CalendarRow, position: Position) -> str:
    """The token of a page that ended at `position` (a plain one if it is plain)."""
    if position.plain:
        return f"{SYNC_TOKEN_PREFIX}{calendar.id}/{position.counter}"
    return (f"{SYNC_TOKEN_PREFIX}{calendar.id}/{position.counter}/{position.hidden}/"
            f"{quote(position.href or '', safe='')}")


def parse_position(calendar: CalendarRow, token: str) -> Position:
    """The position a token of this calendar stands for; ValueError for anything else.

    A position before the sync floor is no longer valid: the log entries it
    would be compared with are gone (403 valid-sync-token, the client resyncs).
    """
    if not token.startswith(SYNC_TOKEN_PREFIX):
        raise ValueError("sync token of another server")
    calendar_id, _, rest = token[len(SYNC_TOKEN_PREFIX):].partition("/")
    if calendar_id != calendar.id:
        raise ValueError("sync token of another collection")
    counter, paged, rest = rest.partition("/")
    hidden, _, href = rest.partition("/")
    if not _is_count(counter) or (paged and not (href and _is_count(hidden.removeprefix("-")))):
        raise ValueError("sync token of another collection")
    position = Position(int(counter), unquote(href) if paged else None,
                        int(hidden) if paged else NO_HIDDEN)
    if not calendar.sync_floor <= position.counter <= calendar.sync_counter \
            or not NO_HIDDEN <= position.hidden <= calendar.sync_counter:
        raise ValueError("sync token is no longer valid")
    return position


def parse_sync_token(calendar: CalendarRow, token: str) -> int:
    """The counter in a plain token of this calendar; ValueError for anything else."""
    position = parse_position(calendar, token)
    if not position.plain:
        raise ValueError("a paged sync token is not a plain one")
    return position.counter


def _is_count(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 18
