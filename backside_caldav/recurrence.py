"""Instances of a series, with python-dateutil, in the event's own timezone.

Expansion happens in local wall time so daylight-saving changes keep the
meeting at 09:00 local; results are returned in UTC.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from dateutil.rrule import rrulestr

from .ical_parse import zone
from .records import EventRecord

UTC = timezone.utc
INFINITY = datetime.max.replace(tzinfo=UTC)
SLACK = timedelta(hours=14)  # widest UTC offset: dates and floating times
MAX_SPAN_INSTANCES = 50_000


def _local(value: datetime, event: EventRecord) -> datetime:
    if event.timezone is None or event.is_floating:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value.astimezone(zone(event.timezone))


def _to_utc(value: datetime, event: EventRecord) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


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
        # RFC 5545: with a zoned DTSTART, UNTIL is in UTC; dateutil wants it aware.
        parts = []
        for part in rule_text.split(";"):
            if part.upper().startswith("UNTIL=") and len(part) == 14:
                part += "T235959Z"
            parts.append(part)
        rule_text = ";".join(parts)
    try:
        rule = rrulestr(rule_text, dtstart=start)
    except (ValueError, TypeError):
        return None
    excluded = {_to_utc(e, event) for e in event.exdates}
    last = None
    for count, instance in enumerate(rule):
        if count >= max_instances:
            return None
        utc = _to_utc(instance, event)
        if utc not in excluded:
            last = utc
    candidates = [c for c in (last, *event.rdates) if c is not None]
    return max(candidates) if candidates else event.start_time


def span(event: EventRecord) -> tuple[datetime, datetime]:
    """A time span that contains every instance of the row (for range pre-filtering)."""
    duration = (event.end_time or event.start_time) - event.start_time
    if event.is_all_day and duration <= timedelta(0):
        duration = timedelta(days=1)
    slack = SLACK if event.is_all_day or event.timezone is None or event.is_floating \
        else timedelta(0)
    last = last_start(event)
    end = INFINITY if last is None else last + duration + slack
    return event.start_time - slack, end
