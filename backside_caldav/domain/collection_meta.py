"""WebDAV collection properties (Radicale's meta keys) <-> calendars columns."""

from __future__ import annotations

import functools
from typing import Any

from backside_caldav.domain.errors import ExceedsLimit, InvalidCalendarData
from backside_caldav.domain.ical_parse import parse_calendar
from backside_caldav.domain.records import CalendarRow
from backside_caldav.domain.zones import iana_zone

TAG = "VCALENDAR"
TIMEZONE = "C:calendar-timezone"
COLUMN_OF = {
    "D:displayname": "name",
    "ICAL:calendar-color": "color",
    "C:calendar-description": "description",
    "ICAL:calendar-order": "calendar_order",
    "C:supported-calendar-component-set": "components",
    "C:calendar-timezone": "timezone",
}
ALL_COMPONENTS = ["VEVENT", "VTODO", "VJOURNAL"]
# Properties without a column (kept in calendars.props): bounded, since every
# PROPPATCH could otherwise add more and each PROPFIND returns them all.
MAX_DEAD_PROPS = 100
MAX_DEAD_BYTES = 256 * 1024


def meta_of(calendar: CalendarRow) -> dict[str, str]:
    """What Radicale's get_meta() returns for a calendar row."""
    meta: dict[str, str] = {k: v for k, v in calendar.props.items() if isinstance(v, str)}
    meta["tag"] = TAG
    if calendar.name is not None:
        meta["D:displayname"] = calendar.name
    if calendar.color:
        meta["ICAL:calendar-color"] = calendar.color
    if calendar.description:
        meta["C:calendar-description"] = calendar.description
    if calendar.calendar_order is not None:
        meta["ICAL:calendar-order"] = str(calendar.calendar_order)
    if calendar.components and sorted(calendar.components) != sorted(ALL_COMPONENTS):
        meta["C:supported-calendar-component-set"] = ",".join(calendar.components)
    if calendar.timezone and "C:calendar-timezone" not in meta:
        meta["C:calendar-timezone"] = timezone_calendar(calendar.timezone)
    return meta


@functools.lru_cache(maxsize=256)
def timezone_calendar(tzid: str) -> str:
    """A VCALENDAR holding the zone's VTIMEZONE (calendar-timezone); cached per zone."""
    import icalendar
    cal = icalendar.Calendar()
    cal.add("VERSION", "2.0")
    cal.add("PRODID", "-//backside-caldav//backside-caldav//EN")
    try:
        cal.add_component(icalendar.Timezone.from_tzid(tzid))
    except Exception:
        pass
    return cal.to_ical().decode()


def columns_from_props(props: dict[str, str], current: CalendarRow | None = None) -> dict[str, Any]:
    """Split Radicale props into column values and the rest (kept in `props`).

    Radicale's set_meta passes the complete new property set, so properties
    missing from it are cleared.
    """
    values: dict[str, Any] = {
        "name": None, "color": None, "description": None, "calendar_order": None,
        "components": list(ALL_COMPONENTS), "timezone": None,
    }
    rest: dict[str, str] = {}
    for key, value in props.items():
        if key == "tag":
            continue
        column = COLUMN_OF.get(key)
        if column == "calendar_order":
            try:
                values[column] = int(str(value).strip())
                continue
            except ValueError:
                rest[key] = value
                continue
        if column == "components":
            parts = [p.strip().upper() for p in str(value).split(",") if p.strip()]
            values[column] = [p for p in parts if p in ALL_COMPONENTS] or list(ALL_COMPONENTS)
            continue
        if column == "timezone":
            values[column] = _tzid_of(value)
            rest[key] = value  # keep the client's VTIMEZONE text as sent
            continue
        if column:
            values[column] = value
        else:
            rest[key] = value
    if len(rest) > MAX_DEAD_PROPS:
        raise ExceedsLimit(f"a calendar keeps at most {MAX_DEAD_PROPS} other properties; "
                                  "remove some before adding more")
    size = sum(len(k) + len(str(v)) for k, v in rest.items())
    if size > MAX_DEAD_BYTES:
        raise ExceedsLimit(f"a calendar's other properties may hold at most "
                                  f"{MAX_DEAD_BYTES} characters in all; these hold {size}")
    if values["name"] is None and current is not None:
        values["name"] = current.href
    values["props"] = rest
    return values


def check_timezone(text: str) -> None:
    """Refuse a calendar-timezone that is neither an iCalendar object holding one
    VTIMEZONE (RFC 4791 5.2.2, the CALDAV:valid-calendar-data precondition of
    MKCALENDAR) nor a zone name (some clients send one; taken as is)."""
    if not text.strip() or iana_zone(text.strip()) is not None:
        return
    try:
        zones = parse_calendar(text).walk("VTIMEZONE")
    except ValueError as exc:
        raise InvalidCalendarData(
            "calendar-timezone must be an iCalendar object holding one VTIMEZONE, or a "
            f"time zone name such as Europe/Berlin: {exc}") from exc
    if len(zones) != 1 or not str(zones[0].get("TZID", "")).strip():
        raise InvalidCalendarData(
            "calendar-timezone must hold exactly one VTIMEZONE with a TZID, "
            f"not {len(zones)}")


def _tzid_of(text: str) -> str | None:
    try:
        cal = parse_calendar(text)
    except ValueError:
        return iana_zone(text.strip())
    for comp in cal.walk("VTIMEZONE"):
        return iana_zone(str(comp.get("TZID", "")))
    return None
