"""RFC 7529 RSCALE and SKIP on recurrence rules, beside python-dateutil.

dateutil knows neither part and refuses the rule. No maintained Python library
expands RFC 7529 (libical does, through ICU, but only as a C library with
GObject bindings): this module reads the two parts and hands dateutil what it
can do, so recurrence.py keeps one expansion path.

- No RSCALE: the rule goes to dateutil as it is.
- RSCALE=GREGORIAN with SKIP=OMIT (the default): RFC 5545's own behaviour, an
  invalid date is left out; dateutil does that once RSCALE/SKIP are removed.
  A leap month (BYMONTH=5L) never exists in the Gregorian calendar: with OMIT
  it is dropped, with BACKWARD it is that month, with FORWARD the next one.
- GREGORIAN with SKIP=BACKWARD or FORWARD, where the rule's days of the month
  are generated (FREQ=MONTHLY or YEARLY without BYDAY, BYYEARDAY, BYWEEKNO):
  a 31st in a 30-day month, or February 29 in a common year, moves to the
  month's last day (BACKWARD) or the next month's first day (FORWARD), RFC
  7529 section 3.2; COUNT counts the moved instances. Where BYMONTHDAY only
  limits days another part generated, every generated date exists and there
  is nothing to skip.
- Another calendar of CLDR (HEBREW, CHINESE, ISLAMIC-CIVIL...): accepted and
  stored, but not expanded (Unexpandable); callers index the first instance
  and treat the series as open-ended.
- A name that is no CLDR calendar: UnsupportedRscale (C:supported-rscale).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta, timezone

from dateutil.rrule import rrulestr

from backside_caldav.domain.errors import InvalidCalendarData, UnsupportedRscale

# CLDR calendar types (their long names, as RFC 7529 uses them): the values
# of RSCALE this server accepts and lists in supported-rscale-set.
CLDR_CALENDARS = ("BUDDHIST", "CHINESE", "COPTIC", "DANGI", "ETHIOPIC", "ETHIOPIC-AMETE-ALEM",
                  "GREGORIAN", "HEBREW", "INDIAN", "ISLAMIC", "ISLAMIC-CIVIL", "ISLAMIC-RGSA",
                  "ISLAMIC-TBLA", "ISLAMIC-UMALQURA", "ISO8601", "JAPANESE", "PERSIAN", "ROC")
EXPANDED = frozenset({"GREGORIAN"})
SKIPS = ("OMIT", "BACKWARD", "FORWARD")
UTC = timezone.utc
MAX_EMPTY_PERIODS = 4800  # 400 years of months: a rule silent that long never fires


class Unexpandable(ValueError):
    """A known calendar scale this server stores but cannot expand."""


def _parts(rule_text: str) -> list[tuple[str, str]]:
    parts = []
    for part in rule_text.strip().split(";"):
        name, _, value = part.partition("=")
        parts.append((name.strip().upper(), value.strip()))
    return parts


def scale_of(rule_text: str | None) -> str | None:
    """The RSCALE of a rule, upper-cased, or None without one."""
    if not rule_text or "RSCALE" not in rule_text.upper():
        return None
    return next((v.upper() for k, v in _parts(rule_text) if k == "RSCALE"), None)


def expandable(rule_text: str | None) -> bool:
    """Whether this server expands the rule (no RSCALE, or GREGORIAN)."""
    scale = scale_of(rule_text)
    return scale is None or scale in EXPANDED


def check(rule_text: str | None) -> None:
    """Refuse a rule whose RSCALE is no CLDR calendar (RFC 7529 section 5), or
    whose SKIP or leap month comes without an RSCALE (section 3)."""
    if not rule_text:
        return
    parts = dict(_parts(rule_text))
    scale = parts.get("RSCALE")
    if scale is not None and scale.upper() not in CLDR_CALENDARS:
        raise UnsupportedRscale(
            f"RSCALE={scale[:40]} is not a calendar this server knows (RFC 7529); "
            f"supported: {', '.join(CLDR_CALENDARS)}")
    if scale is None and "SKIP" in parts:
        raise InvalidCalendarData("SKIP may only be given with RSCALE (RFC 7529 section 3.2)")
    if scale is None and "L" in parts.get("BYMONTH", "").upper():
        raise InvalidCalendarData("a leap month (BYMONTH=nL) needs RSCALE (RFC 7529 section 3.3)")
    if parts.get("SKIP", "OMIT").upper() not in SKIPS:
        raise InvalidCalendarData(f"SKIP must be one of {', '.join(SKIPS)}")


def rule(rule_text: str, dtstart: datetime) -> Iterable[datetime]:
    """The occurrences of a rule from dtstart (wall times, as dateutil gives
    them); ValueError/TypeError for a rule dateutil cannot read, Unexpandable
    for a calendar scale other than Gregorian."""
    scale = scale_of(rule_text)
    if scale is None:
        return rrulestr(rule_text, dtstart=dtstart)
    if scale not in EXPANDED:
        raise Unexpandable(f"RSCALE={scale[:40]} is stored but not expanded")
    parts = [(k, v) for k, v in _parts(rule_text) if k not in ("RSCALE", "SKIP")]
    skip = dict(_parts(rule_text)).get("SKIP", "OMIT").upper()
    months = _months(dict(parts).get("BYMONTH"), skip)
    if months == []:
        return ()  # only leap months, omitted: the rule never fires
    if months is not None:
        parts = [(k, ",".join(str(m) for m, _ in months) if k == "BYMONTH" else v)
                 for k, v in parts]
    names = {k for k, _ in parts}
    freq = dict(parts).get("FREQ", "").upper()
    if skip == "OMIT" or freq not in ("MONTHLY", "YEARLY") or names & {
            "BYDAY", "BYYEARDAY", "BYWEEKNO"}:
        return rrulestr(";".join(f"{k}={v}" for k, v in parts), dtstart=dtstart)
    return _SkipRule(dict(parts), months, skip, dtstart)


def _months(value: str | None, skip: str) -> list[tuple[int, int]] | None:
    """BYMONTH as (month, years ahead), Gregorian: a leap month is dropped
    (OMIT), or becomes its month (BACKWARD) or the next (FORWARD; 12L is the
    next January). None without BYMONTH."""
    if value is None:
        return None
    months: set[tuple[int, int]] = set()
    for item in value.upper().split(","):
        if not item.endswith("L"):
            months.add((int(item), 0))
        elif skip == "BACKWARD":
            months.add((int(item[:-1]), 0))
        elif skip == "FORWARD":
            month = int(item[:-1]) + 1
            months.add((month, 0) if month <= 12 else (1, 1))
    return sorted(months)


def _ints(value: str | None, default: int) -> list[int]:
    return sorted({int(v) for v in value.split(",")}) if value else [default]


def _day(year: int, month: int, day: int, skip: str) -> date:
    """The date of day `day` (negative: from the end) of a month, moved by SKIP
    when that day does not exist."""
    length = calendar.monthrange(year, month)[1]
    position = day if day > 0 else length + day + 1
    if 1 <= position <= length:
        return date(year, month, position)
    first = date(year, month, 1)
    if position > length:
        return first + timedelta(days=length - 1) if skip == "BACKWARD" \
            else first + timedelta(days=length)
    return first - timedelta(days=1) if skip == "BACKWARD" else first


def _until(value: str | None, dtstart: datetime) -> datetime | date | None:
    if not value:
        return None
    value = value.upper()
    if len(value) == 8:
        return datetime.strptime(value, "%Y%m%d").date()
    if value.endswith("Z"):
        until = datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        return until if dtstart.tzinfo is not None else until.replace(tzinfo=None)
    until = datetime.strptime(value, "%Y%m%dT%H%M%S")
    return until.replace(tzinfo=dtstart.tzinfo)


class _SkipRule:
    """A MONTHLY or YEARLY rule whose days of the month are generated, with
    SKIP=BACKWARD or FORWARD. Iterable like a dateutil rrule."""

    def __init__(self, parts: dict[str, str], months: list[tuple[int, int]] | None,
                 skip: str, dtstart: datetime) -> None:
        for name in parts:
            if name not in ("FREQ", "INTERVAL", "COUNT", "UNTIL", "WKST", "BYMONTH",
                            "BYMONTHDAY", "BYHOUR", "BYMINUTE", "BYSECOND", "BYSETPOS") \
                    and not name.startswith("X-"):
                raise ValueError(f"unknown parameter name {name}")
        self.yearly = parts["FREQ"].upper() == "YEARLY"
        self.interval = int(parts.get("INTERVAL", 1))
        self.count = int(parts["COUNT"]) if "COUNT" in parts else None
        self.until = _until(parts.get("UNTIL"), dtstart)
        self.months = months
        self.days = _ints(parts.get("BYMONTHDAY"), dtstart.day)
        self.times = [(h, m, s) for h in _ints(parts.get("BYHOUR"), dtstart.hour)
                      for m in _ints(parts.get("BYMINUTE"), dtstart.minute)
                      for s in _ints(parts.get("BYSECOND"), dtstart.second)]
        self.setpos = _ints(parts.get("BYSETPOS"), 0) if parts.get("BYSETPOS") else []
        self.skip = skip
        self.dtstart = dtstart

    def _period_months(self, index: int) -> list[tuple[int, int]]:
        """(year, month) pairs of the index-th period."""
        start = self.dtstart
        if self.yearly:
            year = start.year + index * self.interval
            months = self.months or [(start.month, 0)]
            return [(year + ahead, month) for month, ahead in months]
        serial = start.year * 12 + start.month - 1 + index * self.interval
        year, month = divmod(serial, 12)
        if self.months is not None and (month + 1) not in {m for m, _ in self.months}:
            return []
        return [(year, month + 1)]

    def _period(self, index: int) -> list[datetime]:
        found: set[datetime] = set()
        for year, month in self._period_months(index):
            if not 1 <= year <= 9999:
                continue
            for day in self.days:
                try:
                    when = _day(year, month, day, self.skip)
                except (ValueError, OverflowError):
                    continue
                for h, m, s in self.times:
                    found.add(datetime(when.year, when.month, when.day, h, m, s,
                                       tzinfo=self.dtstart.tzinfo))
        ordered = sorted(found)
        if self.setpos:
            picked = {p - 1 if p > 0 else p for p in self.setpos}
            ordered = sorted({ordered[p] for p in picked if -len(ordered) <= p < len(ordered)})
        return ordered

    def _is_after_until(self, instance: datetime) -> bool:
        if self.until is None:
            return False
        if isinstance(self.until, datetime):
            return instance > self.until
        return instance.date() > self.until

    def __iter__(self) -> Iterator[datetime]:
        produced = 0
        previous = None
        empty = 0
        index = 0
        while empty < MAX_EMPTY_PERIODS:
            first_year = self.dtstart.year + (index * self.interval if self.yearly
                                              else index * self.interval // 12)
            if first_year > 9999:
                return
            instances = self._period(index)
            index += 1
            empty = 0 if instances else empty + 1
            for instance in instances:
                if instance < self.dtstart:
                    continue
                if self._is_after_until(instance):
                    return
                if instance == previous:
                    continue  # FORWARD onto a day the rule gives anyway
                previous = instance
                yield instance
                produced += 1
                if self.count is not None and produced >= self.count:
                    return
