"""The one free-busy policy: which occurrences block time, for how long, and how firmly.

A CalDAV free-busy-query REPORT and the JSON API's /freebusy and
/availability/check both read candidate occurrences (db/busy_queries.py)
and decide them here, so a client and an agent asking the same question get
the same answer.

The people asked about are the calendar's owners (the tenant's logins that
are email addresses) and, for the API, the `attendee_email` named in the
request; emails match case-insensitively. Their answers are read on the
governing row of an occurrence: the override's for an overridden instance,
else the series'.

An occurrence does not block when
- its STATUS is CANCELLED or its TRANSP is TRANSPARENT;
- it is a `working_location` event (a marker of where one works, not a meeting);
- every attendee row of the people on the governing row is DECLINED (at
  least one row; an event none of them attends keeps blocking);
- it is zero-length (after the all-day widening below).
It blocks as BUSY-TENTATIVE when its STATUS is TENTATIVE, or when every
attendee row of the people answered DECLINED or TENTATIVE (not all declined);
else as BUSY.

An all-day occurrence blocks whole local days, midnight to midnight in the
event's zone, else the calendar's, else UTC: from the local date it starts
on, as many days as its governing row lasts on the local wall clock, rounded
up (at least one). So rows written with a time of day still cover whole
days, and a 25-hour day at a DST change is one day.

Pure functions over plain values: no SQL, no HTTP. SQL may use the constants
below to leave out early what these rules would drop anyway (fewer rows), but
every candidate it returns is decided by `block`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

from backside_caldav.domain.zones import zone

UTC = timezone.utc
FREE, BUSY, TENTATIVE = "FREE", "BUSY", "BUSY-TENTATIVE"
NON_BLOCKING_TYPES = ("working_location",)
# rsvp_status values (event_attendees): all rows of the people within the
# first set free the time; within the second, the time is only tentatively busy.
FREEING_ANSWERS = ("declined",)
TENTATIVE_ANSWERS = ("declined", "tentative")
DAY = timedelta(days=1)


@dataclass(slots=True)
class Occurrence:
    """A candidate occurrence as read from the rows, before the policy decides."""

    start: datetime  # UTC, as stored or expanded
    end: datetime
    fbtype: str  # from STATUS and TRANSP alone (status_fbtype; event_instances.busy)
    event_type: str | None
    all_day: bool
    event_zone: str | None  # the governing row's zone, else the series'
    calendar_zone: str | None  # all-day only, like the two below
    row_start: datetime | None  # the governing row's own start and end: how many
    row_end: datetime | None  # days each of its occurrences covers
    answers: Sequence[str] | None  # rsvp_status of the people's rows on the governing row
    event_id: str  # the series (master) id
    calendar_id: str
    title: str | None
    recurrence_id: datetime | None  # set for instances of a recurring series


@dataclass(slots=True)
class Block:
    """Time an occurrence blocks (not clipped to the question's range)."""

    start: datetime
    end: datetime
    fbtype: str  # BUSY or BUSY-TENTATIVE
    occurrence: Occurrence

    @property
    def tentative(self) -> bool:
        return self.fbtype == TENTATIVE


def people(owners: Iterable[str], attendee: str | None = None) -> list[str]:
    """Whose answers count: the owners, plus the named attendee (lower case, once each)."""
    found = [o.lower() for o in owners]
    if attendee:
        found.append(attendee.lower())
    return list(dict.fromkeys(found))


def status_fbtype(status: str | None, transparency: str | None) -> str:
    """FBTYPE from the event's own STATUS and TRANSP (what the instance index keeps)."""
    if transparency == "transparent" or status == "cancelled":
        return FREE
    if status == "tentative":
        return TENTATIVE
    return BUSY


def answered_fbtype(fbtype: str, answers: Sequence[str] | None) -> str:
    """FBTYPE once the people's answers are known: all declined frees the time,
    all declined or tentative makes it tentative (RFC 5545 FBTYPE)."""
    if fbtype == FREE or not answers:
        return fbtype
    if all(a in FREEING_ANSWERS for a in answers):
        return FREE
    if all(a in TENTATIVE_ANSWERS for a in answers):
        return TENTATIVE
    return fbtype


def whole_days(start: datetime, end: datetime | None, zone_name: str | None) -> int:
    """How many days an all-day row covers: its length on the local wall clock
    (so a 23- or 25-hour day is one day), rounded up, at least one."""
    tz = zone(zone_name)
    local_start, local_end = start.astimezone(tz), (end or start).astimezone(tz)
    wall = local_end.replace(tzinfo=None) - local_start.replace(tzinfo=None)
    return max(1, -(-wall // DAY))


def day_span(start: datetime, days: int, zone_name: str | None) -> tuple[datetime, datetime]:
    """Midnight of the start's local date to midnight `days` local days later, in UTC."""
    tz = zone(zone_name)
    first_day = start.astimezone(tz).date()
    first = datetime.combine(first_day, time(0), tzinfo=tz)
    last = datetime.combine(first_day + timedelta(days=days), time(0), tzinfo=tz)
    return first.astimezone(UTC), last.astimezone(UTC)


def block(occurrence: Occurrence, start: datetime, end: datetime) -> Block | None:
    """The time this occurrence blocks within [start, end), or None when it blocks none."""
    fbtype = occurrence.fbtype
    if occurrence.answers:
        fbtype = answered_fbtype(fbtype, occurrence.answers)
    if fbtype == FREE or occurrence.event_type in NON_BLOCKING_TYPES:
        return None
    occ_start, occ_end = occurrence.start, occurrence.end
    if occurrence.all_day:
        zone_name = occurrence.event_zone or occurrence.calendar_zone
        if occurrence.row_start is None:
            days = whole_days(occ_start, occ_end, zone_name)
        else:
            days = whole_days(occurrence.row_start, occurrence.row_end, zone_name)
        occ_start, occ_end = day_span(occ_start, days, zone_name)
    if occ_end <= occ_start or occ_start >= end or occ_end <= start:
        return None
    return Block(occ_start, occ_end, fbtype, occurrence)


def blocks(occurrences: Iterable[Occurrence], start: datetime, end: datetime) -> list[Block]:
    """Every blocking occurrence overlapping [start, end), sorted by time."""
    found = [b for b in (block(o, start, end) for o in occurrences) if b is not None]
    found.sort(key=lambda b: (b.start, b.end, b.occurrence.event_id))
    return found
