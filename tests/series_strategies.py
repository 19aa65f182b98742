"""Hypothesis strategies for recurring series as iCalendar text, the way
exporters in the field write them (and the ways they get them wrong).

A series is a master VEVENT (sometimes missing) with overrides; its DTSTART,
DTEND, RDATE, EXDATE, UNTIL and RECURRENCE-ID values mix DATE and DATE-TIME
in UTC, floating and TZID forms (IANA names with and without a VTIMEZONE,
and a custom TZID with one), DURATION forms (weeks, negative, zero), years
from 1 to 9999, large COUNTs and BYxxx parts that yield nothing. Values are
drawn near the master's start so that exclusions and overrides hit real
occurrences often.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hypothesis import strategies as st

BERLIN_VTIMEZONE = (
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"
    "BEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\n"
    "DTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n"
    "BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\n"
    "DTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\n"
    "END:VTIMEZONE\r\n")
CUSTOM_VTIMEZONE = (
    "BEGIN:VTIMEZONE\r\nTZID:Custom Fixed Zone\r\n"
    "BEGIN:STANDARD\r\nTZOFFSETFROM:-0330\r\nTZOFFSETTO:-0330\r\nTZNAME:X\r\n"
    "DTSTART:16010101T000000\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n")

# How a date or date-time value is written: None is floating, "Z" is UTC,
# "DATE" a date, anything else a TZID.
FORMS = ["DATE", "Z", None, "Europe/Berlin", "America/New_York", "Pacific/Kiritimati",
         "Custom Fixed Zone"]
YEARS = st.one_of(
    st.sampled_from([1, 2, 1582, 1850, 1892, 1899, 1900, 1901, 1969, 1970, 2026, 2026, 2026,
                     2099, 2100, 2101, 2500, 9998, 9999]),
    st.integers(1, 9999))
FREQS = ["SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"]
DURATIONS = ["P1W", "P2W", "P1D", "P2D", "PT0S", "P0D", "PT1H", "PT25H", "P1DT2H", "-PT1H",
             "-P1D", "PT0H0M1S", "P15DT5H0M20S", "+PT30M", "P1000W"]


FIRST, LAST = datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59)


def _plus(value: datetime, delta: timedelta) -> datetime:
    """value + delta, kept inside the years 1-9999."""
    try:
        return value + delta
    except OverflowError:
        return LAST if delta > timedelta(0) else FIRST


def value_text(moment: datetime, form: str | None) -> str:
    """The value part (without the property name) of a date or date-time."""
    day = f"{moment.year:04d}{moment.month:02d}{moment.day:02d}"
    if form == "DATE":
        return f";VALUE=DATE:{day}"
    stamp = f"{day}T{moment.hour:02d}{moment.minute:02d}{moment.second:02d}"
    if form is None:
        return ":" + stamp
    if form == "Z":
        return ":" + stamp + "Z"
    quoted = f'"{form}"' if " " in form else form
    return f";TZID={quoted}:{stamp}"


@dataclass
class Series:
    text: str
    start: datetime  # the master's (or first override's) DTSTART, as wall time
    form: str | None  # how that DTSTART is written


@st.composite
def moments_near(draw: st.DrawFn, base: datetime) -> datetime:
    """A wall time near base: the same time some days off, or anywhere in hours."""
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return _plus(base, timedelta(days=draw(st.integers(-3, 40))))
    if kind == 1:
        return _plus(base, timedelta(hours=draw(st.integers(-48, 24 * 400))))
    if kind == 2:
        return _plus(base.replace(hour=0, minute=0, second=0),
                     timedelta(days=draw(st.integers(0, 10))))
    return _plus(base, timedelta(seconds=draw(st.integers(-10**9, 10**9))))


@st.composite
def rrule_text(draw: st.DrawFn, base: datetime) -> str:
    parts = [f"FREQ={draw(st.sampled_from(FREQS))}"]
    end = draw(st.integers(0, 3))
    if end == 1:
        parts.append(f"COUNT={draw(st.sampled_from([1, 2, 3, 10, 365, 1000, 10000, 10001]))}")
    elif end >= 2:
        until = draw(st.one_of(moments_near(base), st.just(_plus(base, timedelta(days=-1))),
                               st.just(datetime(9999, 12, 31, 23, 59, 59))))
        form = draw(st.sampled_from(["DATE", "Z", None]))
        parts.append("UNTIL=" + value_text(until, form).rsplit(":", 1)[-1])
    if draw(st.booleans()):
        parts.append(f"INTERVAL={draw(st.sampled_from([1, 2, 3, 7, 1000, 2**31 - 1]))}")
    for name, values in [
            ("BYMONTH", ["1", "2", "2,3", "12"]),
            ("BYMONTHDAY", ["1", "29", "30", "31", "-1", "15,-1"]),
            ("BYDAY", ["MO", "MO,WE,FR", "5FR", "-1SU", "53MO", "1MO,-1FR", "SA,SU"]),
            ("BYYEARDAY", ["1", "60", "366", "-1", "-366"]),
            ("BYWEEKNO", ["1", "20", "53", "-1"]),
            ("BYHOUR", ["0", "9", "9,17", "23"]),
            ("BYMINUTE", ["0", "30", "0,15,30,45"]),
            ("BYSECOND", ["0", "30", "60"]),
            ("BYSETPOS", ["1", "-1", "2,-2", "366"]),
            ("WKST", ["MO", "SU"])]:
        if draw(st.integers(0, 6)) == 0:
            parts.append(f"{name}={draw(st.sampled_from(values))}")
    order = draw(st.permutations(parts[1:]))
    return ";".join([parts[0], *order])


@st.composite
def date_list(draw: st.DrawFn, name: str, base: datetime) -> str:
    """An RDATE or EXDATE line: one or a few values of one form (or PERIODs)."""
    form = draw(st.sampled_from(FORMS))
    values = draw(st.lists(moments_near(base), min_size=1, max_size=3))
    if name == "RDATE" and form != "DATE" and draw(st.integers(0, 3)) == 0:
        texts = []
        for value in values:
            stamp = value_text(value, form).rsplit(":", 1)[-1]
            if draw(st.booleans()):
                texts.append(stamp + "/" + draw(st.sampled_from(DURATIONS)))
            else:
                other = _plus(value, timedelta(hours=draw(st.integers(-2, 30))))
                texts.append(stamp + "/" + value_text(other, form).rsplit(":", 1)[-1])
        head = value_text(values[0], form).rsplit(":", 1)[0]
        return f"{name};VALUE=PERIOD{head}:{','.join(texts)}"
    head = value_text(values[0], form).rsplit(":", 1)[0]
    return f"{name}{head}:" + ",".join(value_text(v, form).rsplit(":", 1)[-1] for v in values)


@st.composite
def series(draw: st.DrawFn) -> Series:
    """A calendar object resource holding one series, as iCalendar text."""
    uid = "series-" + draw(st.text("abcdef0123456789", min_size=8, max_size=8))
    form = draw(st.sampled_from(FORMS))
    year = draw(YEARS)
    base = datetime(year, draw(st.integers(1, 12)), draw(st.integers(1, 28)),
                    draw(st.integers(0, 23)), draw(st.sampled_from([0, 0, 30, 59])),
                    draw(st.sampled_from([0, 0, 1, 59])))
    if form == "DATE":
        base = base.replace(hour=0, minute=0, second=0)
    lines: list[str] = []
    master = draw(st.integers(0, 9)) > 0
    if master:
        lines += ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z",
                  "DTSTART" + value_text(base, form), "SUMMARY:Series"]
        end = draw(st.integers(0, 5))
        if end == 1:
            delta = timedelta(minutes=draw(st.sampled_from([0, 0, 30, 60, 24 * 60, -60])))
            if form == "DATE":
                delta = timedelta(days=draw(st.sampled_from([0, 1, 1, 2, -1])))
            lines.append("DTEND" + value_text(_plus(base, delta), form))
        elif end == 2:
            other = draw(st.sampled_from(FORMS))
            lines.append("DTEND" + value_text(_plus(base, timedelta(hours=1)), other))
        elif end >= 3:
            lines.append("DURATION:" + draw(st.sampled_from(DURATIONS)))
        for _ in range(draw(st.integers(0, 2)) if draw(st.integers(0, 9)) else 2):
            if draw(st.integers(0, 4)):
                lines.append("RRULE:" + draw(rrule_text(base)))
        for _ in range(draw(st.integers(0, 2))):
            lines.append(draw(date_list("RDATE", base)))
        for _ in range(draw(st.integers(0, 3))):
            lines.append(draw(date_list("EXDATE", base)))
        if draw(st.integers(0, 9)) == 0:
            lines.append("EXRULE:FREQ=WEEKLY;BYDAY=SA")
        lines.append("END:VEVENT")
    for _ in range(draw(st.integers(0, 2)) if master else draw(st.integers(1, 2))):
        rid_form = draw(st.sampled_from([form] * 3 + FORMS))
        rid = draw(st.one_of(st.just(_plus(base, timedelta(days=draw(st.integers(0, 5))))),
                             moments_near(base)))
        moved = _plus(rid, timedelta(hours=draw(st.integers(-30, 30))))
        start_form = draw(st.sampled_from([rid_form] * 2 + FORMS))
        range_param = ";RANGE=THISANDFUTURE" if draw(st.integers(0, 9)) == 0 else ""
        rid_line = "RECURRENCE-ID" + value_text(rid, rid_form)
        if range_param:
            head, _, value = rid_line.partition(":") if rid_form != "DATE" else \
                rid_line.rpartition(":")
            rid_line = f"{head}{range_param}:{value}"
        lines += ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z", rid_line,
                  "DTSTART" + value_text(moved, start_form), "SUMMARY:Moved"]
        if draw(st.booleans()):
            lines.append("STATUS:CANCELLED")
        if draw(st.booleans()):
            lines.append("DURATION:" + draw(st.sampled_from(DURATIONS)))
        lines.append("END:VEVENT")
    body = "\r\n".join(lines) + "\r\n"
    zones = ""
    if "Custom Fixed Zone" in body:
        zones += CUSTOM_VTIMEZONE
    if "Europe/Berlin" in body and draw(st.booleans()):
        zones += BERLIN_VTIMEZONE
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//series fuzz//EN\r\n" + zones + body
            + "END:VCALENDAR\r\n")
    return Series(text, base, form)
