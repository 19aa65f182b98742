"""What the instance index holds for one series: its occurrences up to a horizon.

Endless rules are indexed one year ahead (Apple CalendarServer's approach) and
re-indexed by the maintenance pass as time moves on; queries beyond a
series' horizon fall back to its conservative span.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from backside_caldav.domain import busy, rscale
from backside_caldav.domain.records import EventRecord
from backside_caldav.domain.recurrence import (
    INFINITY,
    Instance,
    TooManyInstances,
    expand,
    last_start,
    shift,
)

UTC = timezone.utc
HORIZON = timedelta(days=365)
MAX_INDEXED = 20_000  # beyond this a series is answered from its span alone
LONG = timedelta(days=7)
BEGINNING = datetime(1, 1, 2, tzinfo=UTC)
# instances_until of a series the index does not hold: one in a calendar scale
# this server does not expand (RFC 7529 RSCALE=HEBREW...; its first instance is
# indexed), or one of more than MAX_INDEXED occurrences (none indexed). Every
# window finds it by its span, and it is never re-indexed for a horizon.
OPEN_ENDED = datetime(1, 1, 1, tzinfo=UTC)


@dataclass
class IndexedSeries:
    rows: list[tuple[datetime, datetime, datetime, bool, bool, str]]
    instances_until: datetime  # INFINITY when every occurrence is in rows
    next_occurrence: datetime | None


def busy_of(event: EventRecord) -> str:
    """FBTYPE kept in the index: STATUS and TRANSP only (busy.status_fbtype). The
    people's answers and the event type are applied when free-busy is asked
    (busy.block): other writers change event_attendees and accounts directly."""
    return busy.status_fbtype(event.status, event.transparency)


def is_exact(event: EventRecord) -> bool:
    """A fixed instant: its range match is the same in every client's timezone."""
    return not event.is_all_day and not event.is_floating and event.timezone is not None


def _row(instance: Instance) -> tuple[datetime, datetime, datetime, bool, bool, str]:
    return (instance.recurrence_id, instance.start, instance.end, is_exact(instance.event),
            instance.end - instance.start > LONG, busy_of(instance.event))


def _dense(events: list[EventRecord], master: EventRecord | None) -> bool:
    """More than MAX_INDEXED occurrences within one year of the series' start
    (FREQ=SECONDLY, MINUTELY): a rule no calendar means, refused at PUT."""
    if master is None:
        return True
    try:
        expand(events, master.start_time, shift(master.start_time, HORIZON),
               limit=MAX_INDEXED)
    except TooManyInstances:
        return True
    return False


def _next_from(events: list[EventRecord], now: datetime) -> datetime | None:
    """The first occurrence from now on, within the horizon, or None."""
    try:
        ahead = expand(events, now, shift(now, HORIZON), limit=MAX_INDEXED)
    except TooManyInstances:
        return None
    return next((i.start for i in ahead if i.start >= now and not i.cancelled), None)


def build(events: list[EventRecord], now: datetime, strict: bool = False) -> IndexedSeries:
    """Index a series; strict raises TooManyInstances for a dense rule instead of
    giving up quietly (a client's PUT is refused; a row written by SQL, or a
    long-running series, is answered from its span)."""
    master = next((e for e in events if e.recurrence_id is None), None)
    # A year past now, or past the series' start when it lies in the future.
    horizon = shift(max(now, master.start_time) if master is not None else now, HORIZON)
    complete = master is None or not (master.rrule or master.rdates)
    if master is not None and not complete:
        last = last_start(master)
        complete = last is not None and last <= horizon
    try:
        instances = expand(events, BEGINNING, INFINITY if complete else horizon,
                           limit=MAX_INDEXED, strict=strict)
    except TooManyInstances:
        if strict and _dense(events, master):
            raise
        # Many occurrences because the series is old (daily since 1970), not
        # because it is dense: answered from its span, as rows other writers
        # leave unindexed are.
        return IndexedSeries([], OPEN_ENDED, _next_from(events, now))
    upcoming = [i.start for i in instances if i.start >= now and not i.cancelled]
    next_occurrence = min(upcoming) if upcoming else None
    if next_occurrence is None and not complete:
        try:
            later = expand(events, horizon, shift(horizon, timedelta(days=3650)),
                           limit=MAX_INDEXED)
        except TooManyInstances:
            later = []
        next_occurrence = next((i.start for i in later if not i.cancelled), None)
    until = INFINITY if complete else horizon
    if master is not None and not rscale.expandable(master.rrule):
        until = OPEN_ENDED
    return IndexedSeries([_row(i) for i in instances], until, next_occurrence)
