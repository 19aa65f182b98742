"""A TZID with no VTIMEZONE that names no zone we know, read in the calendar's zone.

Outlook writes `TZID="Western/Central Europe"` and the like without a
VTIMEZONE; such a name is neither IANA nor one of the Windows names that
zones.iana_zone translates. RFC 5545 wants a VTIMEZONE, but refusing the file
loses the event. The parser (icalendar) gives such a value as a naive wall
time; it is read as floating time in the calendar's zone (calendar-timezone),
as all-day dates are, so the series keeps its wall clock there. The client's
bytes are kept as sent. Without a calendar zone it stays floating (read as
UTC, like any floating time). Each unknown name is logged once per process.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from datetime import date, datetime, timedelta, timezone
from typing import Any

from backside_caldav.domain.records import EventRecord
from backside_caldav.domain.zones import add_duration, iana_zone, to_utc, zone

log = logging.getLogger("backside_caldav.zones")
MAX_LOGGED = 1000  # names remembered; a flood of made-up names is logged this many times
_logged: set[str] = set()
_lock = threading.Lock()
_TZID_PARAM = re.compile(r';TZID=("[^"]*"|[^;:]*)', re.IGNORECASE)
_TZID_LINE = re.compile(r"^TZID:([^\r\n]*)", re.IGNORECASE | re.MULTILINE)


def unresolved(text: str | None) -> bool:
    """Whether a resource uses a TZID that has no VTIMEZONE and names no zone
    (Radicale's own matcher reads such times as floating, not in the calendar's zone)."""
    if not text or ";TZID=" not in text.upper():
        return False
    defined = {t.strip().strip('"') for t in _TZID_LINE.findall(text)}
    return any(t not in defined and iana_zone(t) is None
               for t in {p.strip('"') for p in _TZID_PARAM.findall(text)})


def _warn_once(name: str) -> None:
    with _lock:
        if name in _logged or len(_logged) >= MAX_LOGGED:
            return
        _logged.add(name)
    log.warning("TZID %r has no VTIMEZONE and is no known time zone: its times are read "
                "in the calendar's zone (logged once per name)", name[:100])


def floating_zone(comp: Any, default_zone: str | None) -> str | None:
    """The zone to read the component's times in when its DTSTART carries a
    TZID nobody can resolve (icalendar left it naive), else None."""
    prop = comp.get("DTSTART")
    tzid = (getattr(prop, "params", None) or {}).get("TZID")
    value = getattr(prop, "dt", None)
    if not tzid or not isinstance(value, datetime) or value.tzinfo is not None:
        return None
    if iana_zone(tzid) is not None:
        return None
    _warn_once(str(tzid))
    return iana_zone(default_zone) if default_zone else None


def _placed(value: date | datetime, zone_name: str) -> datetime:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=zone(zone_name)).astimezone(timezone.utc)
    return to_utc(value, zone_name)


def _dates(comp: Any, name: str, zone_name: str) -> list[datetime]:
    props = comp.get(name)
    values: set[datetime] = set()
    for prop in props if isinstance(props, list) else [props] if props is not None else []:
        for item in getattr(prop, "dts", []):
            dt = item.dt[0] if isinstance(item.dt, tuple) else item.dt
            if isinstance(dt, (date, datetime)):
                values.add(_placed(dt, zone_name))
    return sorted(values)


def placed(event: EventRecord, comp: Any, zone_name: str | None) -> EventRecord:
    """The event with its naive times read in zone_name (see floating_zone)."""
    if zone_name is None:
        return event
    start = _placed(comp["DTSTART"].dt, zone_name)
    end_prop = comp.get("DTEND")
    if end_prop is not None:
        end = _placed(end_prop.dt, zone_name)
    else:
        length = (event.end_time or event.start_time) - event.start_time
        end = add_duration(start, length, zone_name) if length >= timedelta(0) else start
    recurrence = comp.get("RECURRENCE-ID")
    return dataclasses.replace(
        event, start_time=start, end_time=end, timezone=zone_name, is_floating=False,
        rdates=_dates(comp, "RDATE", zone_name), exdates=_dates(comp, "EXDATE", zone_name),
        recurrence_id=_placed(recurrence.dt, zone_name) if recurrence is not None
        else event.recurrence_id)


_UNFOLD = re.compile(r"\r?\n[ \t]")
_WALL = re.compile(r"^\d{8}T\d{6}$")


def utc_view(text: str, zone_name: str | None) -> str:
    """The text with every time of an unresolved TZID (see unresolved) written
    in UTC, read in zone_name: what Radicale's own matcher (vobject) should
    see, since it would read those times as floating. Never stored or served."""
    defined = {t.strip().strip('"') for t in _TZID_LINE.findall(text)}
    out = []
    for line in _UNFOLD.sub("", text).splitlines():
        match = _TZID_PARAM.search(line.split(":", 1)[0]) if ";" in line else None
        name = match.group(1).strip('"') if match else None
        if name is None or name in defined or iana_zone(name) is not None:
            out.append(line)
            continue
        head, _, value = line.partition(":")
        head = head[:match.start()] + head[match.end():]
        values = []
        for item in value.split(","):
            ends = [_in_utc(end, zone_name) for end in item.split("/")]
            values.append("/".join(ends))
        out.append(f"{head}:{','.join(values)}")
    return "\r\n".join(out) + "\r\n"


def _in_utc(value: str, zone_name: str | None) -> str:
    value = value.strip()
    if not _WALL.match(value):
        return value  # a DATE, a duration, a UTC time: as it is
    wall = datetime.strptime(value, "%Y%m%dT%H%M%S")
    return _placed(wall, zone_name or "UTC").strftime("%Y%m%dT%H%M%SZ")
