"""Records -> iCalendar.

Two cases: a row born outside CalDAV is rendered from scratch; a row that
another writer changed after a client's PUT is rendered by editing the
client's own text, touching only the properties whose mapped value differs,
so alarms, X- properties and unknown parameters survive.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
from icalendar import Calendar, Event, vCalAddress, vRecur, vUri

from backside_caldav.domain.ical_parse import (
    EVENT_TYPE_PROPERTY,
    LINK_PREFIX,
    link_value,
    parse_calendar,
    parse_event,
)
from backside_caldav.domain.records import (
    PARTSTAT_FROM_RSVP,
    RSVP_FROM_PARTSTAT,
    AttendeeRecord,
    EventRecord,
)
from backside_caldav.domain.zones import UTC, nominal_rest, zone

PRODID = "-//backside-caldav//backside-caldav//EN"


def render_resource(uid: str, events: list[EventRecord], base_text: str | None,
                    stamp: datetime) -> str:
    """The resource for a series (master first, then overrides) as iCalendar text."""
    if base_text:
        try:
            cal = parse_calendar(base_text)
        except ValueError:
            cal = None
    else:
        cal = None
    if cal is None:
        cal = Calendar()
        cal.add("VERSION", "2.0")
        cal.add("PRODID", PRODID)
    rows = {e.recurrence_id: e for e in events}
    kept: list[icalendar.cal.Component] = []
    for comp in cal.subcomponents:
        if comp.name != "VEVENT":
            kept.append(comp)
            continue
        recurrence = comp.get("RECURRENCE-ID")
        row_zone = next((e.timezone for e in events if e.recurrence_id is None), None)
        try:
            old = parse_event(comp, row_zone)
        except ValueError:
            continue
        row = rows.pop(old.recurrence_id if recurrence is not None else None, None)
        if row is None:
            continue  # the row was deleted by another writer
        apply_changes(comp, old, row, uid)
        kept.append(comp)
    for row in sorted(rows.values(), key=lambda e: (e.recurrence_id is not None,
                                                    e.recurrence_id or e.start_time)):
        kept.append(new_event(uid, row, stamp, master=_master(events)))
    cal.subcomponents = with_timezones(kept, events)
    return cal.to_ical().decode()


def _master(events: list[EventRecord]) -> EventRecord | None:
    return next((e for e in events if e.recurrence_id is None), None)


def missing_zones(components: list, defined_elsewhere: frozenset[str] = frozenset()
                  ) -> dict[str, tuple[date, date]]:
    """The TZIDs the VEVENTs use that no VTIMEZONE defines, with the dates they span."""
    defined = {str(c.get("TZID")) for c in components if c.name == "VTIMEZONE"}
    defined |= defined_elsewhere
    used: dict[str, tuple[date, date]] = {}
    for comp in components:
        if comp.name != "VEVENT":
            continue
        for name in ("DTSTART", "DTEND", "RECURRENCE-ID"):
            prop = comp.get(name)
            tzid = getattr(prop, "params", {}).get("TZID") if prop is not None else None
            if tzid and tzid not in defined:
                day = prop.dt.date() if isinstance(prop.dt, datetime) else prop.dt
                lo, hi = used.get(tzid, (day, day))
                used[tzid] = (min(lo, day), max(hi, day))
    return used


@functools.lru_cache(maxsize=256)
def vtimezone(tzid: str, first_year: int, last_year: int) -> icalendar.Timezone | None:
    """A VTIMEZONE from the zone database covering the years, built once per process
    (tens of transitions: building one cost more than the rest of a render). Shared:
    callers must not change it."""
    try:
        return icalendar.Timezone.from_tzid(tzid, first_date=date(first_year, 1, 1),
                                            last_date=date(last_year, 12, 31))
    except Exception:  # noqa: BLE001 - an unknown or unusual zone: no VTIMEZONE
        return None


@functools.lru_cache(maxsize=256)
def vtimezone_text(tzid: str, first_year: int, last_year: int) -> str:
    """vtimezone() serialized, for writers that splice it into their text."""
    vtz = vtimezone(tzid, first_year, last_year)
    return vtz.to_ical().decode() if vtz is not None else ""


def zone_years(lo: date, hi: date) -> tuple[int, int]:
    """The years a VTIMEZONE covers for events from lo to hi: one before, three after."""
    return max(lo.year - 1, 1), min(max(hi, lo).year + 3, 9999)


def with_timezones(components: list, events: list[EventRecord]) -> list:
    """Add a VTIMEZONE for every IANA zone used that the text does not define."""
    added = [vtz for tzid, (lo, hi) in missing_zones(components).items()
             if (vtz := vtimezone(tzid, *zone_years(lo, hi))) is not None]
    timezones = [c for c in components if c.name == "VTIMEZONE"]
    others = [c for c in components if c.name != "VTIMEZONE"]
    return timezones + added + others


def dt_value(value: datetime, row: EventRecord, floating: bool) -> date | datetime:
    if row.is_all_day:
        return value.astimezone(zone(row.timezone)).date()
    if floating:
        return value.astimezone(UTC).replace(tzinfo=None)
    if row.timezone and row.timezone != "UTC":
        return value.astimezone(ZoneInfo(row.timezone))
    return value.astimezone(UTC)


def _set(comp: icalendar.cal.Component, name: str, value: object) -> None:
    comp.pop(name, None)
    if value is not None and value != "":
        comp.add(name, value)


def _set_times(comp: icalendar.cal.Component, row: EventRecord, floating: bool) -> None:
    comp.pop("DURATION", None)
    _set(comp, "DTSTART", dt_value(row.start_time, row, floating))
    end = row.end_time
    if row.is_all_day and (end is None or end <= row.start_time):
        end = row.start_time + timedelta(days=1)
    rest = None if row.is_all_day or floating else nominal_rest(
        row.start_time, end, row.duration_days, row.timezone)
    if rest is not None:  # nominal days: a DTEND would make every instance exact
        comp.pop("DTEND", None)
        _set(comp, "DURATION", timedelta(days=row.duration_days) + rest)
        return
    _set(comp, "DTEND", dt_value(end, row, floating) if end is not None else None)


def _set_dates(comp: icalendar.cal.Component, name: str, values: list[datetime],
               row: EventRecord, floating: bool) -> None:
    comp.pop(name, None)
    if values:
        comp.add(name, [dt_value(v, row, floating) for v in sorted(values)])


def attendee_prop(attendee: AttendeeRecord) -> vCalAddress:
    prop = vCalAddress(attendee.key() if attendee.email is None else "mailto:" + attendee.email)
    if attendee.name:
        prop.params["CN"] = attendee.name
    if attendee.role:
        prop.params["ROLE"] = attendee.role
    prop.params["PARTSTAT"] = PARTSTAT_FROM_RSVP[attendee.rsvp_status]
    return prop


def apply_attendees(comp: icalendar.cal.Component, old: list[AttendeeRecord],
                     new: list[AttendeeRecord]) -> None:
    wanted = {a.key(): a for a in new}
    if {a.key(): a for a in old} == wanted:
        return
    props = comp.get("ATTENDEE", [])
    if not isinstance(props, list):
        props = [props]
    result = []
    for prop in props:
        value = str(prop).strip()
        key = value.lower() if value.lower().startswith(("mailto:", "urn:uuid:")) else None
        if key and key.startswith("mailto:"):
            key = "mailto:" + value[7:].strip().lower()
        if key is None:
            result.append(prop)  # not a row (other URI scheme): keep as sent
            continue
        row = wanted.pop(key, None)
        if row is None:
            continue
        params = prop.params
        current = RSVP_FROM_PARTSTAT.get(str(params.get("PARTSTAT", "NEEDS-ACTION")).upper(),
                                         "pending")
        if current != row.rsvp_status:
            params["PARTSTAT"] = PARTSTAT_FROM_RSVP[row.rsvp_status]
        if (str(params["CN"]) if params.get("CN") else None) != row.name:
            if row.name:
                params["CN"] = row.name
            else:
                params.pop("CN", None)
        if (str(params["ROLE"]).upper() if params.get("ROLE") else None) != row.role:
            if row.role:
                params["ROLE"] = row.role
            else:
                params.pop("ROLE", None)
        result.append(prop)
    result.extend(attendee_prop(a) for a in wanted.values())
    comp.pop("ATTENDEE", None)
    for prop in result:
        comp.add("ATTENDEE", prop)


def apply_changes(comp: icalendar.cal.Component, old: EventRecord, row: EventRecord,
                  uid: str) -> None:
    """Edit one VEVENT so that it maps to `row`, leaving everything else as it was."""
    floating = old.is_floating and row.timezone is None
    for field_name, prop in (("title", "SUMMARY"), ("description", "DESCRIPTION"),
                             ("location", "LOCATION")):
        if getattr(old, field_name) != getattr(row, field_name):
            _set(comp, prop, getattr(row, field_name))
    if (old.start_time, old.end_time, old.timezone, old.is_all_day) != (
            row.start_time, row.end_time, row.timezone, row.is_all_day):
        _set_times(comp, row, floating)
    if old.rrule != row.rrule:
        _set(comp, "RRULE", vRecur.from_ical(row.rrule) if row.rrule else None)
    if old.rdates != sorted(row.rdates):
        _set_dates(comp, "RDATE", row.rdates, row, floating)
    if old.exdates != sorted(row.exdates):
        _set_dates(comp, "EXDATE", row.exdates, row, floating)
    if old.status != row.status:
        _set(comp, "STATUS", row.status.upper() if row.status else None)
    if old.transparency != row.transparency:
        _set(comp, "TRANSP", row.transparency.upper() if row.transparency else None)
    if old.organizer != row.organizer:
        _set(comp, "ORGANIZER", vCalAddress("mailto:" + row.organizer) if row.organizer else None)
    if old.sequence != row.sequence:
        _set(comp, "SEQUENCE", row.sequence)
    if old.event_type != row.event_type:
        _set(comp, EVENT_TYPE_PROPERTY, row.event_type if row.event_type != "event" else None)
        if row.event_type != "out_of_office" and old.event_type == "out_of_office":
            comp.pop("X-MICROSOFT-CDO-BUSYSTATUS", None)
    apply_attendees(comp, old.attendees, row.attendees)
    if sorted(old.links) != sorted(row.links):
        _set_links(comp, row.links)


def _set_links(comp: icalendar.cal.Component, links: list[tuple[str, str]]) -> None:
    """Replace our LINK properties; a client's other LINKs stay as they were."""
    props = comp.get("LINK", [])
    if not isinstance(props, list):
        props = [props]
    others = [p for p in props if not str(p).strip().startswith(LINK_PREFIX)]
    comp.pop("LINK", None)
    for prop in others:
        comp.add("LINK", prop)
    for entity_type, entity_id in links:
        comp.add("LINK", vUri(link_value(entity_type, entity_id)),
                 parameters={"VALUE": "URI", "LINKREL": "related"})


def new_event(uid: str, row: EventRecord, stamp: datetime,
              master: EventRecord | None = None) -> Event:
    """A VEVENT built from a row alone (born outside CalDAV)."""
    comp = Event()
    comp.add("UID", uid)
    comp.add("DTSTAMP", stamp.astimezone(UTC))
    if row.recurrence_id is not None:
        ref = master if master is not None else row
        comp.add("RECURRENCE-ID", dt_value(row.recurrence_id, ref, False))
    _set_times(comp, row, False)
    _set(comp, "SUMMARY", row.title)
    _set(comp, "DESCRIPTION", row.description)
    _set(comp, "LOCATION", row.location)
    if row.rrule:
        comp.add("RRULE", vRecur.from_ical(row.rrule))
    _set_dates(comp, "RDATE", row.rdates, row, False)
    _set_dates(comp, "EXDATE", row.exdates, row, False)
    if row.status:
        comp.add("STATUS", row.status.upper())
    if row.transparency:
        comp.add("TRANSP", row.transparency.upper())
    if row.organizer:
        comp.add("ORGANIZER", vCalAddress("mailto:" + row.organizer))
    if row.sequence:
        comp.add("SEQUENCE", row.sequence)
    if row.event_type != "event":
        comp.add(EVENT_TYPE_PROPERTY, row.event_type)
    for attendee in row.attendees:
        comp.add("ATTENDEE", attendee_prop(attendee))
    _set_links(comp, row.links)
    return comp
