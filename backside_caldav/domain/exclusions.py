"""EXDATE values as the instants they exclude, whatever form the client wrote.

RFC 5545 wants EXDATE in DTSTART's value type, but Apple, Google and Outlook
exporters write `EXDATE;VALUE=DATE:20260203` on timed series, meaning "not
on that day". Read as midnight it excluded nothing. A DATE exclusion on a
timed series removes that day's occurrences in the series' own zone: the
one at DTSTART's wall time, and for rules with several occurrences a day
(hourly, BYHOUR...) every occurrence and RDATE on that day. The reverse, a
DATE-TIME exclusion on an all-day series, removes the day it falls on; a
floating DATE-TIME under a zoned DTSTART is read in DTSTART's zone (as a
floating UNTIL is, see recurrence.until_in_utc). The client's text is kept
as sent; only the stored instants follow this reading.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from backside_caldav.domain.recurrence import until_in_utc
from backside_caldav.domain.rule_walk import InvalidRule, parse, walk

MAX_WALKED = 20_000  # occurrences walked to find a day's several ones, at most
_SUBDAILY = ("FREQ=HOURLY", "FREQ=MINUTELY", "FREQ=SECONDLY", "BYHOUR=", "BYMINUTE=",
             "BYSECOND=")


def excluded(values: list[date | datetime], start: date | datetime, rule: str | None,
             rdates: list[date | datetime], to_utc: Callable[[date | datetime], datetime]
             ) -> list[datetime]:
    """The UTC instants the EXDATE values remove from the series starting at
    `start` (DTSTART's value); to_utc reads a value as the series does."""
    timed = isinstance(start, datetime)
    found: set[datetime] = set()
    days: set[date] = set()
    for value in values:
        if timed and not isinstance(value, datetime):
            days.add(value)
        elif not timed and isinstance(value, datetime):
            found.add(to_utc(value.date()))
        elif timed and value.tzinfo is None and start.tzinfo is not None:
            found.add(to_utc(value.replace(tzinfo=start.tzinfo)))
        else:
            found.add(to_utc(value))
    if days:
        assert isinstance(start, datetime)
        for day in days:
            found.add(to_utc(datetime.combine(day, start.time(), tzinfo=start.tzinfo)))
        for extra in rdates:
            if isinstance(extra, datetime) and _day(extra, start) in days:
                found.add(to_utc(extra))
        if rule and any(part in rule.upper() for part in _SUBDAILY):
            found.update(to_utc(v) for v in _on_days(rule, start, days))
    return sorted(found)


def _day(value: datetime, start: datetime) -> date:
    """The day of `value` in the series' zone."""
    if value.tzinfo is not None and start.tzinfo is not None:
        return value.astimezone(start.tzinfo).date()
    return value.date()


def _on_days(rule: str, start: datetime, days: set[date]) -> list[datetime]:
    """The rule's occurrences on those days (wall time), walking at most MAX_WALKED."""
    last = datetime.combine(max(days) + timedelta(days=1), time(0), tzinfo=start.tzinfo)
    found: list[datetime] = []
    if start.tzinfo is not None and "UNTIL=" in rule.upper():
        rule = until_in_utc(rule, start.tzinfo)
    try:
        for walked, value in enumerate(walk(parse(rule, start))):
            if value >= last or walked > MAX_WALKED:
                break
            if value.date() in days:
                found.append(value)
    except (InvalidRule, OverflowError):
        pass  # the index refuses such a rule with its reason, or answers from the span
    return found
