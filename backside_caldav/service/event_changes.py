"""One create's or patch's fields, checked and written into a VEVENT.

Merge-patch rules (RFC 7396): a field left out keeps its value, null clears
an optional one, attendees and reminders replace the whole list, custom
fields merge key by key. Times are read in the event's zone: a time without
an offset is wall time there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event
from sqlalchemy.engine import Row

from backside_caldav.domain import event_edit as ed
from backside_caldav.domain.ical_parse import parse_event
from backside_caldav.domain.ical_render import dt_value
from backside_caldav.domain.records import EVENT_TYPES, STATUSES, AttendeeRecord, EventRecord
from backside_caldav.domain.recurrence import TooManyInstances, expand
from backside_caldav.domain.zones import UTC
from backside_caldav.service import event_input as inp
from backside_caldav.service import validate
from backside_caldav.service.problems import Problem, invalid, not_found

TIME_FIELDS = ("start_time", "end_time", "timezone", "is_all_day")
SERIES_FIELDS = ("rrule", "recurrence", "exdates")


@dataclass
class Changes:
    doc: dict[str, Any]
    calendar_zone: str | None
    owner: str | None
    creating: bool = False
    recurrence_id: str | None = None
    remove_occurrence: bool = False
    cut: bool = False  # end the series before recurrence_id (this and following)


@dataclass
class Result:
    start: datetime  # the changed component's span, in UTC
    end: datetime


def _zone_of(value: datetime | date | None) -> str | None:
    tz = getattr(value, "tzinfo", None)
    return getattr(tz, "key", None) or ("UTC" if tz is not None else None)


def _records(cal: Calendar, zone: str | None) -> list[EventRecord]:
    comps = ed.events_of(cal)
    return [parse_event(c, zone) for c in comps]


def _occurrence(cal: Calendar, zone: str | None, text: str, all_day: bool,
                event_zone: str | None) -> tuple[datetime, datetime, datetime]:
    """(recurrence id, start, end) in UTC of the occurrence `text` names; 404 if none."""
    if all_day:
        rid = inp.utc_of(inp.a_date("recurrence_id", text), event_zone or zone or "UTC")
    else:
        rid = validate.date_time("recurrence_id", text)
    try:
        found = expand(_records(cal, zone), rid - timedelta(days=2), rid + timedelta(days=2),
                       limit=10_000)
    except TooManyInstances:
        found = []
    for instance in found:
        if instance.recurrence_id == rid and not instance.cancelled:
            return rid, instance.start, instance.end
    raise not_found(f"the series has no occurrence at {text} (recurrence_id is the "
                    "occurrence's original start, as the event list gives it)")


def apply_changes(cal: Calendar, master: Event | None, row: Row | None, ch: Changes) -> Result:
    if master is None:
        raise Problem(409, "unreadable-event", "Event text cannot be edited",
                      "the event's text holds no series to edit")
    doc, stamp = ch.doc, datetime.now(UTC)
    target = master
    if ch.recurrence_id is not None:
        for name in SERIES_FIELDS:
            if name in doc:
                raise invalid(name, "belongs to the series; leave out recurrence_id to "
                                    "change it")
        record = parse_event(master, ch.calendar_zone)
        if not (record.rrule or record.rdates):
            raise invalid("recurrence_id", "the event does not repeat")
        rid, start, end = _occurrence(cal, ch.calendar_zone, str(ch.recurrence_id),
                                      record.is_all_day, record.timezone)
        existing = ed.override_of(cal, rid, ch.calendar_zone)
        if ch.cut:
            _cut(cal, master, record, rid, ch.calendar_zone)
            ed.bump(master, stamp, sequence=True)
            return Result(start, end)
        if ch.remove_occurrence:
            if existing is not None:
                cal.subcomponents.remove(existing)
            ed.add_exdate(master, record, rid)
            ed.bump(master, stamp, sequence=True)
            return Result(start, end)
        target = existing or ed.make_override(cal, master, record, rid, start, end)
    old = None if ch.creating else parse_event(target, ch.calendar_zone)
    start_utc, end_utc, timed_changed = _times(target, old, ch)
    _texts(target, doc)
    _choices(target, doc)
    series_changed = _series(cal, target, old, doc, ch)
    if ch.recurrence_id is None and "exdates" not in doc:
        _exdates_follow_start(target, old, ch)
    people = doc.get("attendees")
    if "attendees" in doc or (ch.creating and ch.owner):
        wanted = inp.attendees(people if people is not None else [], ch.owner)
        _people(target, old.attendees if old else [], wanted, ch)
    if "reminders" in doc:
        reminders = inp.reminders(doc["reminders"] if doc["reminders"] is not None else [])
        title = str(target.get("SUMMARY", "")) or None
        ed.set_reminders(target, reminders, title, ch.owner)
    if doc.get("custom_fields") is not None:
        ed.merge_custom_fields(target, inp.custom_fields(
            "custom_fields", doc["custom_fields"], allow_null=not ch.creating))
    if not ch.creating:
        status_changed = "status" in doc
        ed.bump(target, stamp, sequence=timed_changed or series_changed or status_changed)
    return Result(start_utc, end_utc)


def _cut(cal: Calendar, master: Event, record: EventRecord, rid: datetime,
         zone: str | None) -> None:
    """End the series just before the occurrence `rid`: UNTIL (COUNT dropped), and
    the overrides and exclusions from there on removed."""
    if not record.rrule:
        raise invalid("occurrence_start", "the series has no rule to end (only RDATEs)")
    if rid <= record.start_time:
        raise invalid("occurrence_start", "is the series' first occurrence: delete or change "
                                          "the whole series instead")
    parts = [p for p in record.rrule.split(";")
             if not p.upper().startswith(("UNTIL=", "COUNT="))]
    if record.is_all_day:
        last = dt_value(rid, record, False) - timedelta(days=1)
        parts.append("UNTIL=" + last.strftime("%Y%m%d"))
    else:
        parts.append("UNTIL=" + (rid - timedelta(seconds=1)).astimezone(UTC)
                     .strftime("%Y%m%dT%H%M%SZ"))
    ed.set_rrule(master, ";".join(parts))
    later = [c for c in ed.events_of(cal) if c.get("RECURRENCE-ID") is not None
             and parse_event(c, zone).recurrence_id >= rid]
    cal.subcomponents = [c for c in cal.subcomponents if c not in later]
    kept = [e for e in record.exdates if e < rid]
    if kept != record.exdates:
        ed.set_exdates(master, [dt_value(e, record, False) for e in kept])


def _times(comp: Event, old: EventRecord | None, ch: Changes) -> tuple[datetime, datetime, bool]:
    doc = ch.doc
    touched = ch.creating or any(k in doc for k in TIME_FIELDS)
    if ch.creating and doc.get("start_time") is None:
        raise invalid("start_time", "is required (a date-time such as 2026-05-04T09:00:00+02:00,"
                                    " or a date such as 2026-05-04 for an all-day event)")
    if old is not None and not touched:
        end = old.end_time or old.start_time
        return old.start_time, end, False
    if "timezone" in doc and doc["timezone"] is not None:
        zone = inp.zone_name("timezone", doc["timezone"])
    elif old is not None and not old.is_all_day and old.timezone and "timezone" not in doc:
        zone = old.timezone
    else:
        zone = ch.calendar_zone or "UTC"
    if doc.get("is_all_day") is not None:
        all_day = inp.boolean("is_all_day", doc["is_all_day"])
    elif "start_time" in doc and doc["start_time"] is not None:
        all_day = inp.is_date_text(doc["start_time"])
    else:
        all_day = old.is_all_day if old is not None else False
    if doc.get("rrule") is not None:
        inp.rrule_text("rrule", doc["rrule"])  # a bad rule is named before a missing zone
    rrule_after = doc.get("rrule") or doc.get("recurrence") or (
        old.rrule if old is not None and "rrule" not in doc and "recurrence" not in doc else None)
    if ch.creating and rrule_after and not all_day and doc.get("timezone") is None:
        raise invalid("timezone", "is required for a recurring timed event (an IANA name "
                                  "such as Europe/Berlin), so it repeats at the same wall time "
                                  "across daylight-saving changes")
    if doc.get("start_time") is not None:
        start: date | datetime = inp.a_date("start_time", doc["start_time"]) if all_day \
            else inp.a_time("start_time", doc["start_time"], zone)
    else:
        assert old is not None
        if all_day != old.is_all_day:
            raise invalid("start_time", "is required when is_all_day changes")
        start = _as_value(old.start_time, all_day, zone)
    if doc.get("end_time") is not None:
        end: date | datetime = inp.a_date("end_time", doc["end_time"]) if all_day \
            else inp.a_time("end_time", doc["end_time"], zone)
    elif old is not None and "end_time" not in doc and all_day == old.is_all_day:
        length = (old.end_time or old.start_time) - old.start_time
        end = start + (timedelta(days=max(1, round(length / timedelta(days=1))))
                       if all_day else length)
    else:
        end = inp.default_end(start)
    # In UTC: aware datetimes of one zone compare by wall time, blind to a DST gap.
    if inp.utc_of(end, zone) <= inp.utc_of(start, zone):
        raise invalid("end_time", "must be after start_time")
    ed.set_times(comp, start, end)
    return inp.utc_of(start, zone), inp.utc_of(end, zone), True


def _as_value(instant: datetime, all_day: bool, zone: str) -> date | datetime:
    local = instant.astimezone(ZoneInfo(zone) if zone != "UTC" else UTC)
    return local.date() if all_day else local


def _texts(comp: Event, doc: dict[str, Any]) -> None:
    if "title" in doc:
        if doc["title"] is None:
            raise invalid("title", "cannot be cleared; every event has a title")
        ed.set_text(comp, "SUMMARY", inp.title(doc["title"]))
    for name, prop, limit in (("description", "DESCRIPTION", inp.MAX_DESCRIPTION),
                              ("location", "LOCATION", inp.MAX_LOCATION)):
        if name in doc:
            ed.set_text(comp, prop, inp.optional_text(name, doc[name], limit))


def _choices(comp: Event, doc: dict[str, Any]) -> None:
    if "event_type" in doc:
        kind = inp.choice("event_type", doc["event_type"], EVENT_TYPES) \
            if doc["event_type"] is not None else "event"
        ed.set_event_type(comp, kind)
    if "status" in doc:
        status = inp.choice("status", doc["status"], STATUSES) \
            if doc["status"] is not None else None
        ed.set_choice(comp, "STATUS", status)
    if "transparency" in doc:
        transp = inp.choice("transparency", doc["transparency"], inp.TRANSPARENCIES) \
            if doc["transparency"] is not None else None
        ed.set_choice(comp, "TRANSP", transp)


def _series(cal: Calendar, comp: Event, old: EventRecord | None, doc: dict[str, Any],
            ch: Changes) -> bool:
    if doc.get("rrule") is not None and doc.get("recurrence") is not None:
        raise invalid("recurrence", "give rrule or recurrence, not both")
    changed = False
    if "rrule" in doc or "recurrence" in doc:
        rule = None
        if doc.get("rrule") is not None:
            rule = inp.rrule_text("rrule", doc["rrule"])
        elif doc.get("recurrence") is not None:
            rule = inp.recurrence("recurrence", doc["recurrence"])
        ed.set_rrule(comp, rule)
        if rule is None:  # no longer repeating: its exceptions go with the rule
            comp.pop("EXDATE", None)
            comp.pop("RDATE", None)
            cal.subcomponents = [c for c in cal.subcomponents
                                 if c.name != "VEVENT" or c.get("RECURRENCE-ID") is None]
        changed = True
    if "exdates" in doc:
        start = comp.get("DTSTART").dt
        all_day = not isinstance(start, datetime)
        zone = _zone_of(start) or ch.calendar_zone or "UTC"
        values = inp.exdates(doc["exdates"] if doc["exdates"] is not None else [], all_day, zone)
        if values and comp.get("RRULE") is None and comp.get("RDATE") is None:
            raise invalid("exdates", "the event does not repeat; give rrule or recurrence "
                                     "to exclude occurrences")
        ed.set_exdates(comp, values)
        changed = True
    return changed


def _exdates_follow_start(comp: Event, old: EventRecord | None, ch: Changes) -> None:
    """After is_all_day changed, the EXDATEs take DTSTART's value type (RFC 5545):
    the same days, as dates or at the new start's wall time."""
    start = comp.get("DTSTART").dt
    all_day = not isinstance(start, datetime)
    if old is None or old.is_all_day == all_day or not old.exdates:
        return
    zone = (ch.calendar_zone if old.is_all_day else old.timezone) or "UTC"
    tz = ZoneInfo(zone) if zone != "UTC" else UTC
    days = [x.astimezone(tz).date() for x in old.exdates]
    ed.set_exdates(comp, days if all_day else [
        datetime.combine(d, start.time(), tzinfo=start.tzinfo) for d in days])


def _people(comp: Event, old: list[AttendeeRecord], wanted: list[AttendeeRecord],
            ch: Changes) -> None:
    owner = ch.owner.lower() if ch.owner else None
    if owner and ch.creating:
        me = next((a for a in wanted if a.email and a.email.lower() == owner), None)
        if me is None:
            wanted.insert(0, AttendeeRecord(email=ch.owner, rsvp_status="accepted",
                                            role="CHAIR"))
        else:
            me.rsvp_status = "accepted"
        if len(wanted) == 1 and not ch.doc.get("attendees"):
            wanted = []  # alone: an event, not a meeting
    if wanted and owner and comp.get("ORGANIZER") is None:
        ed.set_organizer(comp, ch.owner)
    ed.set_attendees(comp, old, wanted)
