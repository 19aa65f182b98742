"""Bounds on an iCalendar body, checked in one pass before any parser runs.

vobject (Radicale) and icalendar (the mapping) both build a full object tree
and recurse over nested components; a body that is only within the byte
limit can still hold thousands of nested VALARMs, a 5 MB SUMMARY or tens of
thousands of ATTENDEEs, each of which becomes rows and index work. The
limits are far above what calendar clients produce.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from backside_caldav.domain.errors import (
    AttendeeLimit,
    ExceedsLimit,
    InstanceLimit,
    InvalidCalendarData,
    UnsupportedRscale,
)

MAX_COMPONENT_DEPTH = 6  # VCALENDAR > VEVENT > VALARM is 3; VTIMEZONE > STANDARD is 3
MAX_COMPONENTS = 5000  # a long series with many overridden instances fits
MAX_ATTENDEES = 1000  # per component; more is a mailing list, not a meeting
MAX_PROPERTY = 1024 * 1024  # one unfolded property; ATTACH (inline files) excepted
MAX_PROPERTIES = 10_000  # per component

# RFC 5545 3.6: properties that MUST NOT occur more than once (vobject refuses to
# serialize a second one, and Radicale then answers a bare "Bad Request").
_ONCE_EVENT = {"UID", "DTSTAMP", "DTSTART", "CLASS", "CREATED", "GEO", "LAST-MODIFIED",
               "ORGANIZER", "PRIORITY", "SEQUENCE", "STATUS", "SUMMARY", "URL",
               "RECURRENCE-ID"}
ONCE = {"VCALENDAR": {"VERSION", "PRODID", "CALSCALE", "METHOD"},
        "VEVENT": _ONCE_EVENT | {"DTEND", "DURATION", "DESCRIPTION", "LOCATION", "TRANSP"},
        "VTODO": _ONCE_EVENT | {"DUE", "DURATION", "COMPLETED", "PERCENT-COMPLETE",
                                "DESCRIPTION", "LOCATION"},
        "VJOURNAL": _ONCE_EVENT}

# RFC 5545 3.3.10: the parts of a RRULE and the ranges of their values.
FREQS = {"SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY"}
WEEKDAYS = {"SU", "MO", "TU", "WE", "TH", "FR", "SA"}
RANGES = {"BYSECOND": (0, 60, False), "BYMINUTE": (0, 59, False), "BYHOUR": (0, 23, False),
          "BYMONTHDAY": (1, 31, True), "BYYEARDAY": (1, 366, True), "BYWEEKNO": (1, 53, True),
          "BYMONTH": (1, 12, False), "BYSETPOS": (1, 366, True)}
MAX_LIST = 366  # values in one BYxxx part
# Radicale's default [storage] max_vevent_rrule_occurrence; over it Radicale
# answers a bare "Bad Request", so the limit is checked here with a reason.
MAX_COUNT = 10_000
_BYDAY = re.compile(r"^([+-]?)(\d{1,2})?(SU|MO|TU|WE|TH|FR|SA)$")
_UNTIL = re.compile(r"^\d{8}(T\d{6}Z?)?$")
_RSCALE = re.compile(r"^[A-Z0-9-]{1,40}$")


def check_ical_body(text: str) -> str | None:
    """Why this iCalendar text exceeds a limit, or None."""
    problem = find_problem(text)
    return None if problem is None else str(problem)


def find_problem(text: str, whole: bool = False) -> InvalidCalendarData | None:
    """What is wrong with this iCalendar text, as the refusal to raise (its class
    names the CalDAV precondition: invalid data, or which bound), or None.
    whole: a whole calendar (many resources), not bound by MAX_COMPONENTS."""
    stack: list[str] = []
    components = 0
    attendees: list[int] = []
    properties: list[int] = []
    seen: list[set[str]] = []
    for line in _unfolded(text):
        name = line.split(":", 1)[0].split(";", 1)[0].strip().upper()
        if name == "BEGIN":
            kind = line.split(":", 1)[-1].strip().upper()
            stack.append(kind)
            attendees.append(0)
            properties.append(0)
            seen.append(set())
            components += 1
            if len(stack) > MAX_COMPONENT_DEPTH:
                return ExceedsLimit(f"components nested more than {MAX_COMPONENT_DEPTH} deep")
            if components > MAX_COMPONENTS and not whole:
                return ExceedsLimit(f"more than {MAX_COMPONENTS} components in one calendar object")
            continue
        if name == "END":
            kind = line.split(":", 1)[-1].strip().upper()
            if not stack or stack[-1] != kind:
                return InvalidCalendarData(f"END:{kind[:40]} does not close the open component")
            stack.pop()
            attendees.pop()
            properties.pop()
            seen.pop()
            continue
        if not stack:
            continue
        properties[-1] += 1
        if name in ONCE.get(stack[-1], ()):
            if name in seen[-1]:
                return InvalidCalendarData(
                    f"{name[:40]} appears more than once in a {stack[-1]}")
            seen[-1].add(name)
        if properties[-1] > MAX_PROPERTIES:
            return ExceedsLimit(f"more than {MAX_PROPERTIES} properties in one {stack[-1]}")
        if name == "ATTENDEE":
            attendees[-1] += 1
            if attendees[-1] > MAX_ATTENDEES:
                return AttendeeLimit(f"more than {MAX_ATTENDEES} ATTENDEEs in one {stack[-1]}")
        if len(line) > MAX_PROPERTY and name != "ATTACH":
            return ExceedsLimit(
                f"the {name[:40]} property is longer than {MAX_PROPERTY} characters")
        if name in ("RRULE", "EXRULE"):
            value = line.split(":", 1)[-1]
            problem = check_rrule(value)
            if problem:
                scale = _unsupported_rscale(value)
                if scale is not None:
                    return UnsupportedRscale(
                        f"{name} {value[:80]!r}: RSCALE={scale[:40]} is not supported here")
                kind = InstanceLimit if _count_over(value) else InvalidCalendarData
                return kind(f"{name} {value[:80]!r}: {problem}")
    if stack:
        return InvalidCalendarData(f"BEGIN:{stack[-1]} is never closed")
    # A TZID without its VTIMEZONE is not refused (RFC 5545 3.2.19 wants one):
    # IANA and Windows names are known, globally unique ones ("/Europe/Stockholm")
    # mapped, and others read in the calendar's zone (domain/unknown_tzid).
    return None


def _unsupported_rscale(value: str) -> str | None:
    """The RSCALE of a rule that check_rrule refuses only for its RFC 7529 parts
    (RSCALE, SKIP): a calendar scale this server does not take, not bad data."""
    parts = [p for p in value.split(";") if p.partition("=")[0].strip().upper()
             not in ("RSCALE", "SKIP")]
    scales = [p.partition("=")[2].strip() for p in value.split(";")
              if p.partition("=")[0].strip().upper() == "RSCALE"]
    if not scales or check_rrule(";".join(parts)) is not None:
        return None
    return scales[0] or "(empty)"


def _count_over(value: str) -> bool:
    """A rule whose COUNT is a number over MAX_COUNT: a bound (max-instances),
    not invalid data."""
    for part in value.split(";"):
        key, _, val = part.partition("=")
        if key.strip().upper() == "COUNT" and val.strip().isascii() and val.strip().isdigit():
            return int(val.strip()) > MAX_COUNT
    return False


def _unfolded(text: str) -> Iterator[str]:
    """Content lines with RFC 5545 folding undone, without copying the text twice."""
    current: list[str] = []
    for raw in text.splitlines():
        if raw[:1] in (" ", "\t") and current:
            current.append(raw[1:])
            continue
        if current:
            yield "".join(current)
        current = [raw]
    if current:
        yield "".join(current)


def check_rrule(value: str) -> str | None:
    """What is wrong with a recurrence rule's value, or None (RFC 5545 3.3.10).

    Parsers differ in what they accept (dateutil takes INTERVAL=0 and loops);
    a rule is checked against the grammar before any of them sees it.
    """
    parts: dict[str, str] = {}
    for part in value.strip().split(";"):
        key, sep, val = part.partition("=")
        key = key.strip().upper()
        if not sep or not key or not val:
            return f"{part[:40]!r} is not NAME=VALUE"
        if key in parts:
            return f"{key} appears twice"
        parts[key] = val.strip().upper()
    if parts.get("FREQ") not in FREQS:
        return f"FREQ must be one of {', '.join(sorted(FREQS))}"
    if "COUNT" in parts and "UNTIL" in parts:
        return "COUNT and UNTIL cannot both be given"
    for key, val in parts.items():
        if key in ("COUNT", "INTERVAL"):
            if not (val.isascii() and val.isdigit()) or not 1 <= int(val) <= 2**31 - 1:
                return f"{key} must be a positive integer"
            if key == "COUNT" and int(val) > MAX_COUNT:
                return f"COUNT={val} is over the {MAX_COUNT} occurrences a rule may have"
        elif key == "UNTIL":
            if not _UNTIL.match(val):
                return "UNTIL must be a date or a date-time"
        elif key == "WKST":
            if val not in WEEKDAYS:
                return "WKST must be a weekday (MO, TU, ...)"
        elif key == "BYDAY":
            items = val.split(",")
            if len(items) > MAX_LIST or any(not _BYDAY.match(i) for i in items):
                return "BYDAY must list weekdays such as MO or -1FR"
            if any(m.group(2) and not 1 <= int(m.group(2)) <= 53
                   for m in map(_BYDAY.match, items) if m):
                return "a BYDAY ordinal must be 1-53"
        elif key == "RSCALE":  # RFC 7529: a CLDR calendar name, checked by domain/rscale
            if not _RSCALE.match(val):
                return "RSCALE must be a calendar name such as GREGORIAN"
        elif key == "SKIP":
            if val not in ("OMIT", "BACKWARD", "FORWARD"):
                return "SKIP must be OMIT, BACKWARD or FORWARD"
        elif key in RANGES:
            low, high, signed = RANGES[key]
            items = val.split(",")
            if key == "BYMONTH" and "RSCALE" in parts:  # RFC 7529 leap months: 5L
                items = [i.removesuffix("L") for i in items]
            if len(items) > MAX_LIST:
                return f"{key} lists more than {MAX_LIST} values"
            for item in items:
                number = item[1:] if signed and item[:1] in "+-" else item
                if not (number.isascii() and number.isdigit()) or not low <= int(number) <= high:
                    sign = "+/-" if signed else ""
                    return f"{key} values must be {sign}{low}-{high}"
        elif key != "FREQ" and not key.startswith("X-"):
            return f"unknown part {key[:40]}"
    return None
