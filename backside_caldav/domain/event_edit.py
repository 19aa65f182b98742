"""Edits of a resource's iCalendar text on behalf of the event API.

The API never writes rows directly: it edits the resource's text (the
client's own bytes when they are current) and stores it the way a CalDAV PUT
does, so the rows, the instance index and the sync log follow from one path,
and everything the API does not map (a client's X-APPLE-* properties,
unknown parameters, other alarms) survives. Values arrive validated: times
are dates (all-day) or aware datetimes whose tzinfo is a ZoneInfo or UTC.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import icalendar
from icalendar import Calendar, Event, vCalAddress, vRecur

from backside_caldav.domain.ical_parse import EVENT_TYPE_PROPERTY, parse_event
from backside_caldav.domain.ical_render import (
    PRODID,
    apply_attendees,
    attendee_prop,
    dt_value,
    with_timezones,
)
from backside_caldav.domain.records import AttendeeRecord, EventRecord
from backside_caldav.domain.zones import UTC

CUSTOM_FIELD_RE = re.compile(r"^x-[a-z0-9]+(-[a-z0-9]+)*$")
# X- properties the server writes or reads itself: not a tenant's custom field.
OWN_PROPERTIES = (EVENT_TYPE_PROPERTY, "X-BACKSIDE-")
REMINDER_TYPES = ("display", "email")


@dataclass(frozen=True)
class Reminder:
    minutes_before: int
    type: str = "display"

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "minutes_before": self.minutes_before}


def new_resource(uid: str, stamp: datetime) -> tuple[Calendar, Event]:
    """An empty VCALENDAR with one VEVENT carrying UID, DTSTAMP and CREATED."""
    cal = Calendar()
    cal.add("VERSION", "2.0")
    cal.add("PRODID", PRODID)
    comp = Event()
    comp.add("UID", uid)
    comp.add("DTSTAMP", stamp.astimezone(UTC))
    comp.add("CREATED", stamp.astimezone(UTC))
    comp.add("SEQUENCE", 0)
    cal.add_component(comp)
    return cal, comp


def events_of(cal: Calendar) -> list[Event]:
    return [c for c in cal.subcomponents if c.name == "VEVENT"]


def master_of(cal: Calendar) -> Event | None:
    return next((c for c in events_of(cal) if c.get("RECURRENCE-ID") is None), None)


def override_of(cal: Calendar, recurrence_id: datetime, zone: str | None) -> Event | None:
    for comp in events_of(cal):
        if comp.get("RECURRENCE-ID") is not None and parse_event(comp, zone).recurrence_id == \
                recurrence_id:
            return comp
    return None


def make_override(cal: Calendar, master: Event, record: EventRecord, recurrence_id: datetime,
                  start: datetime, end: datetime) -> Event:
    """A copy of the master for one occurrence, as CalDAV clients make one."""
    comp = copy.deepcopy(master)
    for name in ("RRULE", "RDATE", "EXDATE", "RECURRENCE-ID"):
        comp.pop(name, None)
    comp.subcomponents = [copy.deepcopy(a) for a in master.subcomponents]
    comp.add("RECURRENCE-ID", dt_value(recurrence_id, record, False))
    set_times(comp, _local(start, record), _local(end, record))
    cal.add_component(comp)
    return comp


def _local(value: datetime, record: EventRecord) -> date | datetime:
    return dt_value(value, record, False)


def set_text(comp: Event, name: str, value: str | None) -> None:
    comp.pop(name, None)
    if value:
        comp.add(name, value)


def set_times(comp: Event, start: date | datetime, end: date | datetime) -> None:
    comp.pop("DURATION", None)
    comp.pop("DTSTART", None)
    comp.pop("DTEND", None)
    comp.add("DTSTART", start)
    comp.add("DTEND", end)


def set_rrule(comp: Event, rrule: str | None) -> None:
    comp.pop("RRULE", None)
    if rrule:
        comp.add("RRULE", vRecur.from_ical(rrule))


def set_exdates(comp: Event, values: list[date | datetime]) -> None:
    comp.pop("EXDATE", None)
    if values:
        comp.add("EXDATE", values)


def add_exdate(master: Event, record: EventRecord, recurrence_id: datetime) -> None:
    """Exclude one occurrence, in the form of the master's DTSTART."""
    master.add("EXDATE", dt_value(recurrence_id, record, False))


def set_choice(comp: Event, name: str, value: str | None) -> None:
    comp.pop(name, None)
    if value:
        comp.add(name, value.upper())


def set_event_type(comp: Event, event_type: str) -> None:
    comp.pop(EVENT_TYPE_PROPERTY, None)
    if event_type != "event":
        comp.add(EVENT_TYPE_PROPERTY, event_type)
    elif str(comp.get("X-MICROSOFT-CDO-BUSYSTATUS", "")).upper() == "OOF":
        comp.pop("X-MICROSOFT-CDO-BUSYSTATUS", None)


def set_organizer(comp: Event, email: str | None) -> None:
    comp.pop("ORGANIZER", None)
    if email:
        comp.add("ORGANIZER", vCalAddress("mailto:" + email))


def set_attendees(comp: Event, old: list[AttendeeRecord], new: list[AttendeeRecord]) -> None:
    """Make the ATTENDEE lines match `new`, keeping the parameters of those that stay."""
    if not comp.get("ATTENDEE"):
        for attendee in new:
            prop = attendee_prop(attendee)
            if attendee.rsvp_status == "pending":
                prop.params["RSVP"] = "TRUE"
            comp.add("ATTENDEE", prop)
        return
    apply_attendees(comp, old, new)


def bump(comp: Event, stamp: datetime, sequence: bool) -> None:
    """DTSTAMP and LAST-MODIFIED now; SEQUENCE + 1 when the change matters to attendees."""
    for name in ("DTSTAMP", "LAST-MODIFIED"):
        comp.pop(name, None)
        comp.add(name, stamp.astimezone(UTC))
    if sequence:
        try:
            current = int(str(comp.get("SEQUENCE", 0)))
        except ValueError:
            current = 0
        comp.pop("SEQUENCE", None)
        comp.add("SEQUENCE", current + 1)


# Reminders: VALARMs with a trigger relative to the start (or absolute).

def _alarms(comp: Event) -> list[icalendar.cal.Component]:
    return [a for a in comp.subcomponents if a.name == "VALARM"]


def _reminder(alarm: icalendar.cal.Component, start: date | datetime | None) -> Reminder | None:
    trigger = alarm.get("TRIGGER")
    if trigger is None:
        return None
    action = str(alarm.get("ACTION", "DISPLAY")).upper()
    kind = "email" if action == "EMAIL" else "display"
    value = trigger.dt
    if isinstance(value, timedelta):
        if str(trigger.params.get("RELATED", "START")).upper() != "START":
            return None
        before = -value
    elif isinstance(value, datetime) and isinstance(start, datetime) and start.tzinfo:
        before = start - value.astimezone(UTC)
    else:
        return None
    minutes = int(before.total_seconds() // 60)
    return Reminder(minutes, kind) if minutes >= 0 else None


def reminders_of(comp: Event) -> list[Reminder]:
    start = comp.get("DTSTART")
    start_value = start.dt if start is not None else None
    found = [_reminder(a, start_value) for a in _alarms(comp)]
    return [r for r in found if r is not None]


def set_reminders(comp: Event, reminders: list[Reminder], title: str | None,
                  email: str | None) -> None:
    """Replace the alarms by `reminders`; an alarm that stays keeps its own properties."""
    start = comp.get("DTSTART")
    start_value = start.dt if start is not None else None
    wanted = list(dict.fromkeys(reminders))
    kept = []
    for sub in comp.subcomponents:
        if sub.name != "VALARM":
            kept.append(sub)
            continue
        reminder = _reminder(sub, start_value)
        if reminder is not None and reminder in wanted:
            wanted.remove(reminder)
            kept.append(sub)
    for reminder in wanted:
        alarm = icalendar.Alarm()
        alarm.add("ACTION", reminder.type.upper())
        alarm.add("TRIGGER", -timedelta(minutes=reminder.minutes_before))
        alarm.add("DESCRIPTION", title or "Reminder")
        if reminder.type == "email":
            alarm.add("SUMMARY", title or "Reminder")
            if email:
                alarm.add("ATTENDEE", vCalAddress("mailto:" + email))
        kept.append(alarm)
    comp.subcomponents = kept


# Custom fields: the tenant's own X- properties, as a JSON object.

def _own(name: str) -> bool:
    return any(name == p or (p.endswith("-") and name.startswith(p)) for p in OWN_PROPERTIES)


def custom_fields_of(comp: Event) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in comp.property_items(recursive=False):
        upper = name.upper()
        if not upper.startswith("X-") or _own(upper) or upper.lower() in fields:
            continue
        fields[upper.lower()] = value.to_ical().decode() if hasattr(value, "to_ical") \
            else str(value)
    return fields


def merge_custom_fields(comp: Event, changes: dict[str, str | None]) -> None:
    """Set each field to its value; None removes it."""
    for key, value in changes.items():
        name = key.upper()
        comp.pop(name, None)
        if value is not None:
            comp.add(name, value)


# The recurrence rule as an object, for callers that would rather not write RFC 5545.

def recurrence_object(rrule: str | None) -> dict[str, Any] | None:
    if not rrule:
        return None
    rule = vRecur.from_ical(rrule)
    until = rule.get("UNTIL", [None])[0]
    if isinstance(until, datetime):
        until_text: str | None = until.astimezone(UTC).isoformat().replace("+00:00", "Z") \
            if until.tzinfo else until.isoformat()
    else:
        until_text = until.isoformat() if isinstance(until, date) else None
    return {
        "freq": str(rule.get("FREQ", [""])[0]).lower() or None,
        "interval": int(rule.get("INTERVAL", [1])[0]),
        "byday": [str(d) for d in rule.get("BYDAY", [])] or None,
        "bymonthday": [int(d) for d in rule.get("BYMONTHDAY", [])] or None,
        "until": until_text,
        "count": int(rule["COUNT"][0]) if rule.get("COUNT") else None,
    }


def finish(cal: Calendar) -> str:
    """The text to store: a VTIMEZONE for every zone the events use.

    Unsorted: properties and parameters stay in the order the client wrote
    them (icalendar's default sorts both), so the lines the API did not touch
    are the client's bytes."""
    cal.subcomponents = with_timezones(list(cal.subcomponents), [])
    return cal.to_ical(sorted=False).decode()
