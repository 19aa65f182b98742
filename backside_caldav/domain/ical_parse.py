"""iCalendar -> records: what a client sent, as column values.

Parsing uses `icalendar` (not vobject) because it resolves non-IANA TZIDs from
the resource's own VTIMEZONE and keeps unknown properties untouched.
"""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from urllib.parse import quote, unquote

import icalendar

from backside_caldav.domain import rscale, timezone_blocks, unknown_tzid
from backside_caldav.domain.errors import (
    InvalidCalendarData,
    InvalidCalendarObject,
    UnsupportedComponent,
)
from backside_caldav.domain.exclusions import excluded
from backside_caldav.domain.records import (
    ENTITY_TYPES,
    EVENT_TYPES,
    RSVP_FROM_PARTSTAT,
    STATUSES,
    AttendeeRecord,
    EventRecord,
    ResourceRecord,
)
from backside_caldav.domain.sent_zones import Zones, as_sent, sent_zones
from backside_caldav.domain.zones import add_duration, iana_zone, to_utc

OBJECT_COMPONENTS = ("VEVENT", "VTODO", "VJOURNAL")
EVENT_TYPE_PROPERTY = "X-BACKSIDE-EVENT-TYPE"
MAX_SEQUENCE = 2**31 - 1


_last_parse = threading.local()


def forget_last_parse() -> None:
    """Make the next parse in this thread start from the text (see parse_calendar)."""
    _last_parse.entry = _last_parse.record = None


def parse_calendar(text: str, reuse: bool = False) -> icalendar.Calendar:
    """Parse one VCALENDAR. With reuse, the last text parsed with reuse in this
    thread is remembered: a PUT body is parsed by the middleware (to refuse bad
    input with a reason) and again by the store, and the second parse is then
    free. Only callers that never change the result may ask for reuse: such a
    parse also takes VTIMEZONEs seen before from a shared cache (see
    timezone_blocks), and puts them first among the calendar's components.
    """
    if "\x00" in text:
        raise InvalidCalendarData("iCalendar text must not contain NUL characters")
    if not reuse:
        return _parse_one(text)
    last = getattr(_last_parse, "entry", None)
    if last is not None and last[0] == text:
        return last[1]
    cut = timezone_blocks.split(text)
    if cut is None:
        calendar = _parse_one(text)
    else:
        calendar = _parse_one(cut[0])
        calendar.subcomponents[:0] = cut[1]
    _last_parse.entry = (text, calendar)
    return calendar


def _parse_one(text: str) -> icalendar.Calendar:
    try:
        calendars = icalendar.Calendar.from_ical(text, multiple=True)
    except Exception as exc:  # icalendar raises ValueError, KeyError, IndexError...
        raise InvalidCalendarData(f"not valid iCalendar: {exc}") from exc
    if len(calendars) > 1 and all(c.name == "VCALENDAR" for c in calendars):
        # Valid iCalendar (a stream may hold several), but not one resource (RFC 4791 4.1).
        raise InvalidCalendarObject(
            f"a calendar object must contain exactly one VCALENDAR, not {len(calendars)}")
    if len(calendars) != 1 or calendars[0].name != "VCALENDAR":
        raise InvalidCalendarData("a calendar object must contain exactly one VCALENDAR")
    return calendars[0]


def parse_resource(text: str, default_zone: str | None = None) -> ResourceRecord:
    """Parse one calendar object resource; default_zone places all-day dates.

    A PUT asks three times for the same text (the middleware's check, the PUT
    handler, the store): the last record of this thread is handed out again
    for the same text and zone. Callers must not change it.
    """
    last = getattr(_last_parse, "record", None)
    if last is not None and last[0] == text and last[1] == default_zone:
        return last[2]
    resource = _parse_resource(text, default_zone)
    _last_parse.record = (text, default_zone, resource)
    return resource


def _parse_resource(text: str, default_zone: str | None) -> ResourceRecord:
    cal = parse_calendar(text, reuse=True)
    objects = [c for c in cal.subcomponents if c.name in OBJECT_COMPONENTS]
    if not objects:
        others = sorted({c.name for c in cal.subcomponents if c.name != "VTIMEZONE"})
        if others:  # a VFREEBUSY, VAVAILABILITY...: no calendar here takes them
            raise UnsupportedComponent(
                f"no VEVENT, VTODO or VJOURNAL in the calendar object; {', '.join(others)} "
                "cannot be stored in a calendar")
        raise InvalidCalendarObject("no VEVENT, VTODO or VJOURNAL in the calendar object")
    for comp in objects:
        errors = getattr(comp, "errors", None)
        if errors:
            prop, message = errors[0] if isinstance(errors[0], tuple) else (None, errors[0])
            where = f"{prop}: " if prop else ""
            raise InvalidCalendarData(f"invalid {comp.name} property {where}{message}")
    kinds = {c.name for c in objects}
    if len(kinds) > 1:
        raise InvalidCalendarObject(
            f"one resource may hold one component type, got {sorted(kinds)}")
    uids = {str(c.get("UID", "")).strip() for c in objects}
    if "" in uids:  # RFC 5545 3.6.1: UID is required
        raise InvalidCalendarData("every component of a resource must carry the same UID; "
                                  "one has no UID")
    if len(uids) != 1:
        raise InvalidCalendarObject("every component of a resource must carry the same UID")
    component = kinds.pop()
    resource = ResourceRecord(component=component, uid=uids.pop())
    if component != "VEVENT":
        return resource
    zones = sent_zones(cal)
    try:
        events = [parse_event(c, default_zone, zones) for c in objects]
    except OverflowError as exc:
        raise InvalidCalendarData(
            "a date or time of the VEVENT lies outside the years 1 to 9999 once read in UTC "
            f"or in its time zone ({exc})") from exc
    masters = [e for e in events if e.recurrence_id is None]
    if len(masters) > 1:
        raise InvalidCalendarObject("more than one VEVENT without RECURRENCE-ID for the same UID")
    seen: set[datetime] = set()
    for event in events:
        if event.recurrence_id is not None:
            if event.recurrence_id in seen:
                raise InvalidCalendarObject("two overrides with the same RECURRENCE-ID")
            seen.add(event.recurrence_id)
    resource.events = masters + [e for e in events if e.recurrence_id is not None]
    return resource


def _text(component: icalendar.cal.Component, name: str) -> str | None:
    value = component.get(name)
    if value is None:
        return None
    if isinstance(value, list):
        value = value[0]
    return str(value)


def _when(component: icalendar.cal.Component, name: str) -> date | datetime | None:
    prop = component.get(name)
    if prop is None:
        return None
    if isinstance(prop, list):
        prop = prop[0]
    try:
        value = prop.dt
    except AttributeError as exc:
        raise InvalidCalendarData(f"{name} is not a date or date-time") from exc
    if isinstance(value, datetime) and str(prop.params.get("VALUE", "")).upper() == "DATE":
        return value.date()  # VALUE=DATE with a TZID: icalendar makes it local midnight
    return value


def _values(component: icalendar.cal.Component, name: str,
            zones: Zones | None = None) -> list[date | datetime]:
    """The dates and date-times of every RDATE or EXDATE line (a period's start)."""
    props = component.get(name)
    if props is None:
        return []
    if not isinstance(props, list):
        props = [props]
    values: list[date | datetime] = []
    for prop in props:
        for item in getattr(prop, "dts", []):
            dt = item.dt
            if isinstance(dt, tuple):  # RDATE;VALUE=PERIOD
                dt = dt[0]
            if isinstance(dt, (date, datetime)):
                values.append(as_sent(dt, zones))
    return values


def _date_list(component: icalendar.cal.Component, name: str, day_zone: str | None,
               zones: Zones | None = None) -> list[datetime]:
    return sorted({to_utc(v, day_zone) for v in _values(component, name, zones)})


def _periods(component: icalendar.cal.Component, day_zone: str | None,
             zones: Zones | None = None) -> list[tuple[datetime, datetime]]:
    """RDATE;VALUE=PERIOD values as (start, end) in UTC; a period given with a
    duration ends like a DURATION does (nominal days)."""
    props = component.get("RDATE")
    if props is None:
        return []
    periods: set[tuple[datetime, datetime]] = set()
    for prop in props if isinstance(props, list) else [props]:
        for item in getattr(prop, "dts", []):
            if not isinstance(item.dt, tuple):
                continue
            first, last = (as_sent(v, zones) for v in item.dt)
            if not isinstance(first, datetime):
                continue
            start = to_utc(first, day_zone)
            if isinstance(last, timedelta):
                zone_name = None if first.tzinfo is None else _zone_name(first) or day_zone
                end = add_duration(start, last, zone_name)
            elif isinstance(last, datetime):
                end = to_utc(last, day_zone)
            else:
                continue
            if end < start:
                raise InvalidCalendarData("an RDATE period ends before it starts")
            periods.add((start, end))
    return sorted(periods)


def _zone_name(value: datetime) -> str | None:
    key = getattr(value.tzinfo, "key", None)
    return iana_zone(key) if key else None


def _tzid(value: date | datetime, prop: object) -> str | None:
    params = getattr(prop, "params", {}) or {}
    tzid = params.get("TZID")
    if tzid:
        return iana_zone(tzid)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return "UTC"
    return None


def _email(address: object) -> str | None:
    value = str(address).strip()
    if value.lower().startswith("mailto:"):
        value = value[7:].strip()
        return value or None
    return None


def parse_attendee(prop: object) -> AttendeeRecord | None:
    value = str(prop).strip()
    params = getattr(prop, "params", {}) or {}
    email = _email(value)
    contact_id = None
    if email is None:
        if value.lower().startswith("urn:uuid:"):
            contact_id = value[9:]
        else:
            return None  # kept in the client's text, not as a row
    partstat = str(params.get("PARTSTAT", "NEEDS-ACTION")).upper()
    return AttendeeRecord(
        email=email,
        name=str(params["CN"]) if params.get("CN") else None,
        rsvp_status=RSVP_FROM_PARTSTAT.get(partstat, "pending"),
        role=str(params["ROLE"]).upper() if params.get("ROLE") else None,
        contact_id=contact_id,
    )


def parse_event(comp: icalendar.cal.Component, default_zone: str | None = None,
                zones: Zones | None = None) -> EventRecord:
    """One VEVENT as a record; zones: the resource's own VTIMEZONEs (sent_zones)."""
    start = as_sent(_when(comp, "DTSTART"), zones)
    if start is None:
        raise InvalidCalendarData("VEVENT without DTSTART")
    start_prop = comp["DTSTART"]
    is_all_day = not isinstance(start, datetime)
    is_floating = isinstance(start, datetime) and start.tzinfo is None
    tz_name = default_zone if is_all_day else _tzid(start, start_prop)
    start_utc = to_utc(start, tz_name)

    end = as_sent(_when(comp, "DTEND"), zones)
    duration_days = 0
    if end is not None:
        if isinstance(end, datetime) != isinstance(start, datetime):
            raise InvalidCalendarData("DTSTART and DTEND must both be dates or both date-times")
        end_utc = to_utc(end, tz_name)
    elif comp.get("DURATION") is not None:
        duration = comp["DURATION"].dt
        if not isinstance(duration, timedelta):
            raise InvalidCalendarData("DURATION is not a duration")
        end_utc = add_duration(start_utc, duration, tz_name)
        duration_days = duration.days if not is_all_day and tz_name not in (None, "UTC") else 0
    else:
        end_utc = start_utc + (timedelta(days=1) if is_all_day else timedelta(0))
    if end_utc < start_utc:
        raise InvalidCalendarData("DTEND is before DTSTART")

    rrule = comp.get("RRULE")
    if isinstance(rrule, list):
        rrule = rrule[0]
    rrule_text = rrule.to_ical().decode() if rrule is not None else None
    rscale.check(rrule_text)  # RFC 7529: an unknown RSCALE is refused

    recurrence = as_sent(_when(comp, "RECURRENCE-ID"), zones)
    status = (_text(comp, "STATUS") or "").lower()
    transp = (_text(comp, "TRANSP") or "").lower()
    organizer = comp.get("ORGANIZER")
    try:
        sequence = int(str(comp.get("SEQUENCE", 0)))
    except ValueError as exc:
        raise InvalidCalendarData("SEQUENCE is not an integer") from exc
    if not 0 <= sequence <= MAX_SEQUENCE:
        raise InvalidCalendarData("SEQUENCE is out of range")

    attendees_prop = comp.get("ATTENDEE", [])
    if not isinstance(attendees_prop, list):
        attendees_prop = [attendees_prop]
    attendees: list[AttendeeRecord] = []
    seen: set[str] = set()
    for prop in attendees_prop:
        attendee = parse_attendee(prop)
        if attendee is not None and attendee.key() not in seen:
            seen.add(attendee.key())
            attendees.append(attendee)

    return unknown_tzid.placed(EventRecord(
        links=parse_links(comp),
        title=_text(comp, "SUMMARY"),
        description=_text(comp, "DESCRIPTION"),
        location=_text(comp, "LOCATION"),
        start_time=start_utc,
        end_time=end_utc,
        timezone=tz_name,
        is_all_day=is_all_day,
        is_floating=is_floating,
        event_type=event_type_of(comp),
        rrule=rrule_text,
        rdates=_date_list(comp, "RDATE", tz_name, zones),
        exdates=excluded(_values(comp, "EXDATE", zones), start, rrule_text,
                         _values(comp, "RDATE", zones), lambda v: to_utc(v, tz_name)),
        rdate_periods=_periods(comp, tz_name, zones),
        duration_days=duration_days,
        status=status if status in STATUSES else None,
        transparency=transp if transp in ("opaque", "transparent") else None,
        organizer=_email(organizer) if organizer is not None else None,
        sequence=sequence,
        recurrence_id=to_utc(recurrence, tz_name) if recurrence is not None else None,
        attendees=attendees,
    ), comp, unknown_tzid.floating_zone(comp, default_zone))


LINK_PREFIX = "urn:backside:"


def link_value(entity_type: str, entity_id: str) -> str:
    """The LINK URI for an event_links row: urn:backside:<type>:<id, percent-encoded>."""
    return f"{LINK_PREFIX}{entity_type}:{quote(entity_id, safe='')}"


def parse_links(comp: icalendar.cal.Component) -> list[tuple[str, str]]:
    """Our own RFC 9253 LINK properties; other LINKs stay in the client's text only."""
    props = comp.get("LINK", [])
    if not isinstance(props, list):
        props = [props]
    links: list[tuple[str, str]] = []
    for prop in props:
        value = str(prop).strip()
        if not value.startswith(LINK_PREFIX):
            continue
        entity_type, _, entity_id = value[len(LINK_PREFIX):].partition(":")
        entity_id = unquote(entity_id)
        if entity_type in ENTITY_TYPES and entity_id and (entity_type, entity_id) not in links:
            links.append((entity_type, entity_id))
    return links


def event_type_of(comp: icalendar.cal.Component) -> str:
    """X-BACKSIDE-EVENT-TYPE carries the type; Outlook's OOF busy status implies one."""
    declared = (_text(comp, EVENT_TYPE_PROPERTY) or "").strip().lower()
    if declared in EVENT_TYPES:
        return declared
    busy = (_text(comp, "X-MICROSOFT-CDO-BUSYSTATUS") or "").strip().upper()
    if busy == "OOF":
        return "out_of_office"
    return "event"
