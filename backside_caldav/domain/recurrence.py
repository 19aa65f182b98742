"""Instances of a series, with python-dateutil, in the event's own timezone.

Expansion happens in local wall time so daylight-saving changes keep the
meeting at 09:00 local; results are returned in UTC.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

from backside_caldav.domain import rscale
from backside_caldav.domain.records import EventRecord
from backside_caldav.domain.rule_walk import InvalidRule, walk
from backside_caldav.domain.zones import add_duration, nominal_rest, zone

UTC = timezone.utc
INFINITY = datetime.max.replace(tzinfo=UTC)
SLACK = timedelta(hours=14)  # widest UTC offset: dates and floating times
MAX_SPAN_INSTANCES = 50_000


def shift(value: datetime, delta: timedelta) -> datetime:
    """value + delta, saturating at the ends of the calendar instead of overflowing."""
    try:
        return value + delta
    except OverflowError:
        return INFINITY if delta > timedelta(0) else datetime.min.replace(tzinfo=UTC)


def _local(value: datetime, event: EventRecord) -> datetime:
    local = _local_or_none(value, event)
    if local is None:  # an instant whose wall time in the zone is outside the years 1-9999
        return (datetime.max if value.year > 5000 else datetime.min).replace(
            tzinfo=zone(event.timezone))
    return local


def _local_or_none(value: datetime, event: EventRecord) -> datetime | None:
    if event.timezone is None or event.is_floating:
        return value.astimezone(UTC).replace(tzinfo=None)
    try:
        return value.astimezone(zone(event.timezone))
    except OverflowError:
        return None


def _to_utc(value: datetime, event: EventRecord) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # a wall time near the year 1 or 9999, past it in UTC
        return INFINITY if value.year > 5000 else datetime.min.replace(tzinfo=UTC)


def until_in_utc(rule_text: str, tz: tzinfo) -> str:
    """The rule with its UNTIL in UTC, as dateutil needs with a zoned DTSTART.

    RFC 5545 asks for a UTC UNTIL there, but exporters often write a floating
    one (no Z): it is read as wall time in DTSTART's zone, as the recurrence
    libraries of the field do. A date UNTIL counts to the end of that day (UTC).
    The client's text keeps what it sent; only the expansion reads it so.
    """
    parts = []
    for part in rule_text.split(";"):
        name, _, value = part.partition("=")
        if name.upper() == "UNTIL" and not value.upper().endswith("Z"):
            if len(value) == 8:
                part = f"UNTIL={value}T235959Z"
            else:
                try:
                    local = datetime.strptime(value.upper(), "%Y%m%dT%H%M%S")
                    part = "UNTIL=" + local.replace(tzinfo=tz).astimezone(UTC).strftime(
                        "%Y%m%dT%H%M%SZ")
                except (ValueError, OverflowError):
                    pass  # dateutil refuses it with its own reason
        parts.append(part)
    return ";".join(parts)


def last_start(event: EventRecord, max_instances: int = MAX_SPAN_INSTANCES) -> datetime | None:
    """The start of the series' last instance, or None when it is endless or too long."""
    if not event.rrule:
        starts = [event.start_time, *event.rdates]
        return max(starts)
    rule_text = event.rrule
    upper = rule_text.upper()
    if "COUNT=" not in upper and "UNTIL=" not in upper:
        return None
    start = _local(event.start_time, event)
    if "UNTIL=" in upper and start.tzinfo is not None:
        rule_text = until_in_utc(rule_text, start.tzinfo)
    try:
        rule = rscale.rule(rule_text, start)
    except Exception:  # noqa: BLE001 - rscale.Unexpandable, dateutil's refusals: open-ended
        return None
    excluded = {_to_utc(e, event) for e in event.exdates}
    last = None
    try:
        for count, instance in enumerate(walk(rule)):
            if count >= max_instances:
                return None
            utc = _to_utc(instance, event)
            if utc not in excluded:
                last = utc
    except InvalidRule:
        return None  # unknown: endless, for the span
    candidates = [c for c in (last, *event.rdates) if c is not None]
    return max(candidates) if candidates else event.start_time


DST_SLACK = timedelta(hours=3)  # the most a nominal day can differ from 24 h, with margin


def longest(event: EventRecord) -> timedelta:
    """An upper bound of any instance's length: nominal days may grow by a DST
    change, and RDATE periods have lengths of their own."""
    duration = (event.end_time or event.start_time) - event.start_time
    if event.is_all_day and duration <= timedelta(0):
        duration = timedelta(days=1)
    if event.duration_days or event.is_all_day:
        duration += DST_SLACK
    return max([duration, *(end - start for start, end in event.rdate_periods)])


def instance_end(master: EventRecord, start: datetime, duration: timedelta,
                 periods: dict[datetime, datetime]) -> datetime:
    """Where the instance of `master` starting at `start` (UTC) ends.

    An RDATE period ends at its own end (RFC 5545 3.8.5.2). A DURATION in
    whole days keeps the wall-clock end (3.3.6); its rest, like a DTEND
    (3.8.5.3), is an exact length. Rows written by others carry no nominal
    days, or ones that no longer fit their times: those are read as exact.
    """
    if start in periods:
        return periods[start]
    if master.is_all_day and master.timezone:
        # A day is a day in local time, whatever the DST offset.
        local = _local(start, master)
        end = shift(local, duration)
        return end if end >= INFINITY else _to_utc(end, master)
    try:
        rest = nominal_rest(master.start_time, master.end_time, master.duration_days,
                            master.timezone)
        if rest is not None:
            return add_duration(start, timedelta(days=master.duration_days),
                                master.timezone) + rest
    except OverflowError:
        return INFINITY
    return shift(start, duration)


def span(event: EventRecord) -> tuple[datetime, datetime]:
    """A time span that contains every instance of the row (for range pre-filtering)."""
    duration = longest(event)
    slack = SLACK if event.is_all_day or event.timezone is None or event.is_floating \
        else timedelta(0)
    last = last_start(event)
    end = INFINITY if last is None else shift(last, duration + slack)
    return shift(event.start_time, -slack), end


class TooManyInstances(ValueError):
    """A request would expand more instances than one request may cost."""


@dataclass(frozen=True)
class Instance:
    """One occurrence: its original start (RECURRENCE-ID) and where it really is."""

    recurrence_id: datetime  # UTC; the series' own start for a single event
    start: datetime  # UTC
    end: datetime  # UTC
    event: EventRecord  # the master, or the override that replaces this occurrence

    @property
    def cancelled(self) -> bool:
        return self.event.status == "cancelled"


MAX_ITERATIONS = 1_000_000  # occurrences walked before a window, at most


def _series_starts(master: EventRecord, since: datetime, until: datetime,
                   limit: int) -> list[datetime]:
    """Original starts (UTC) of the master's occurrences in [since, until), at most `limit`.

    Occurrences before `since` are walked but not counted, so an old daily
    series asked about today is not refused; the walk itself is bounded.
    """
    if not master.rrule and not master.rdates:
        return [master.start_time]
    local_start = _local(master.start_time, master)
    occurrences: Iterable[datetime] = [local_start]
    if master.rrule:
        rule_text = master.rrule
        if local_start.tzinfo is not None:
            rule_text = until_in_utc(rule_text, local_start.tzinfo)
        try:
            occurrences = walk(rscale.rule(rule_text, local_start))
        except rscale.Unexpandable:
            pass  # another calendar scale: its first instance only
        except Exception as exc:  # noqa: BLE001 - dateutil fails with IndexError too
            raise InvalidRule(f"the recurrence rule {master.rrule[:80]!r} cannot be read "
                              f"({exc})") from None
    rdates = sorted(r for r in (_local_or_none(d, master) for d in master.rdates)
                    if r is not None)
    excluded = {_to_utc(_local(e, master), master) for e in master.exdates}
    starts: list[datetime] = []
    previous = None
    # Occurrences in order; a repeated wall time is dropped by the loop below.
    for walked, local in enumerate(heapq.merge(occurrences, rdates)):
        utc = _to_utc(local, master)
        if utc >= until:
            break
        if utc == previous or utc in excluded or utc < since:
            # Wall times in a DST gap collapse onto one instant: RFC 5545
            # ignores duplicate instances.
            previous = utc
            if walked > MAX_ITERATIONS:
                raise TooManyInstances(f"more than {MAX_ITERATIONS} occurrences before the range")
            continue
        previous = utc
        starts.append(utc)
        if len(starts) > limit:
            raise TooManyInstances(f"more than {limit} occurrences")
    return starts


def is_occurrence(master: EventRecord, when: datetime) -> bool:
    """Whether the master's rule, RDATEs and EXDATEs make an occurrence that
    starts at `when` (UTC): only such a RECURRENCE-ID names an instance."""
    try:
        return when in _series_starts(master, when, when + timedelta(seconds=1), 1)
    except (InvalidRule, TooManyInstances):
        return False


def expand(events: list[EventRecord], start: datetime, end: datetime,
           limit: int = 10_000, strict: bool = False) -> list[Instance]:
    """Occurrences of one resource (master first, then overrides) that overlap [start, end).

    Overlap follows RFC 4791 9.9: a zero-length occurrence matches when it
    starts inside the range. Cancelled overrides are returned (and marked).
    A rule nobody can read (written by plain SQL) repeats nothing: the master
    is its one occurrence; strict raises InvalidRule instead (a client's PUT).
    """
    master = next((e for e in events if e.recurrence_id is None), None)
    overrides = {e.recurrence_id: e for e in events if e.recurrence_id is not None}
    found: list[Instance] = []
    if master is not None:
        duration = (master.end_time or master.start_time) - master.start_time
        if master.is_all_day and duration <= timedelta(0):
            duration = timedelta(days=1)
        # Overrides can move an occurrence in from far away: expand to the end
        # plus the longest move, bounded by the limit.
        moved = max([abs(o.start_time - o.recurrence_id) for o in overrides.values()]
                    + [timedelta(0)])
        periods = dict(master.rdate_periods)
        since = shift(start, -(abs(longest(master)) + moved + timedelta(days=1)))
        try:
            originals = _series_starts(master, since, shift(end, moved), limit)
        except InvalidRule:
            if strict:
                raise
            originals = [master.start_time]
        for original in originals:
            override = overrides.pop(original, None)
            if override is not None:
                found.append(Instance(original, override.start_time,
                                      override.end_time or override.start_time, override))
            else:
                found.append(Instance(original, original,
                                      instance_end(master, original, duration, periods), master))
    for original, override in overrides.items():  # overrides of no generated occurrence
        found.append(Instance(original, override.start_time,
                              override.end_time or override.start_time, override))
    return sorted((i for i in found if overlaps(i.start, i.end, start, end)),
                  key=lambda i: (i.start, i.recurrence_id))


def overlaps(occ_start: datetime, occ_end: datetime, start: datetime, end: datetime) -> bool:
    if occ_end <= occ_start:
        return start <= occ_start < end
    return occ_start < end and occ_end > start
