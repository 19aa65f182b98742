"""What a delivered iTIP message does to the recipient's copy (RFC 6638 4):
a REPLY sets the attendee's answer on the organizer's object, a REQUEST
becomes the attendee's copy, a CANCEL marks it cancelled. And the
SCHEDULE-STATUS the server writes on the organizer's object after sending.

Edits are made on content lines, so every byte the client wrote that the
message does not speak of stays as it was.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import icalendar

from backside_caldav.domain import ical_lines, recurrence
from backside_caldav.domain.errors import BacksideError
from backside_caldav.domain.ical_parse import parse_resource
from backside_caldav.domain.itip_parts import Part, Resource, address_key, find_parts


class NotApplicable(ValueError):
    """The message does not fit the object (no such attendee, another UID...)."""


def reply_answers(reply: Resource) -> tuple[str, dict[str | None, str]]:
    """The replying attendee's address key and its PARTSTAT per RECURRENCE-ID.
    A REPLY speaks for exactly one attendee (RFC 5546 3.2.3)."""
    who: set[str] = set()
    answers: dict[str | None, str] = {}
    for part in reply.parts:
        if len(part.attendees) != 1:
            raise NotApplicable("each component of a REPLY names exactly one ATTENDEE")
        line = reply.line(part.attendees[0])
        who.add(address_key(line.value))
        answers[part.recurrence_id] = (line.param("PARTSTAT") or "NEEDS-ACTION").upper()
    if len(who) != 1:
        raise NotApplicable("a REPLY answers for one attendee")
    return who.pop(), answers


def apply_reply(organizer_copy: Resource, reply: Resource) -> tuple[str, str]:
    """The organizer's object with the attendee's answers set (PARTSTAT, and
    SCHEDULE-STATUS 2.0 gone), and the attendee's key. An answer for one
    occurrence of a series that has no override yet gets one, a copy of the
    master at that occurrence (as sabre/dav's broker does)."""
    if reply.uid() != organizer_copy.uid():
        raise NotApplicable("the REPLY is for another event (UID)")
    who, answers = reply_answers(reply)
    known = {part.recurrence_id for part in organizer_copy.parts}
    new = [part for part in reply.parts if part.recurrence_id not in known]
    real = _occurrences(organizer_copy, reply, new)
    for part in real:
        _add_override(organizer_copy, reply, part)
    changed = False
    for part in organizer_copy.parts:
        if part.recurrence_id not in answers:
            continue
        index = organizer_copy.attendee(part, who)
        if index is None:
            continue
        line = organizer_copy.line(index)
        line.set_param("PARTSTAT", answers[part.recurrence_id])
        line.set_param("RSVP", None)
        line.set_param("SCHEDULE-STATUS", None)
        organizer_copy.lines[index] = line.text()
        changed = True
    if not changed and len(real) < len(new) == len(reply.parts):
        raise NotApplicable("the REPLY answers for an occurrence the series does not have")
    if not changed:
        raise NotApplicable(f"{who} is not an attendee of this event")
    return organizer_copy.text(), who


def _occurrences(copy: Resource, reply: Resource, parts: list[Part]) -> list[Part]:
    """The reply's parts whose RECURRENCE-ID is an occurrence of the
    organizer's series. An override at any other instant would be an extra
    instance (RFC 5545 overrides of no occurrence still show), which an
    attendee must not add to the organizer's calendar."""
    if not parts:
        return []
    try:
        [master, *_] = parse_resource(copy.text()).events
    except (BacksideError, ValueError):
        return []
    if master.recurrence_id is not None:  # overrides only: no series to add to
        return []
    instants = {id(part): _instant(copy, reply, part) for part in parts}
    return [part for part in parts if (when := instants[id(part)]) is not None
            and recurrence.is_occurrence(master, when)]


def _instant(copy: Resource, reply: Resource, part: Part) -> datetime | None:
    """A reply part's RECURRENCE-ID in UTC, read as the server reads a stored
    one: a REPLY need not carry DTSTART, so a stand-in event is parsed, with
    the reply's VTIMEZONEs (else the organizer's, else the zone database)."""
    index = next((i for i in part.own if reply.line(i).name == "RECURRENCE-ID"), None)
    if index is None:
        return None
    rid = reply.line(index)
    rid.set_param("RANGE", None)
    text = rid.text()
    zones = _zones(copy) | _zones(reply)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//backside-caldav//EN",
             *(line for block in zones.values() for line in block),
             "BEGIN:VEVENT", "UID:occurrence", "DTSTAMP:20000101T000000Z",
             "DTSTART" + text[len("RECURRENCE-ID"):], text, "END:VEVENT", "END:VCALENDAR"]
    try:
        [record] = parse_resource(ical_lines.join(lines)).events
    except (BacksideError, ValueError):
        return None
    return record.recurrence_id


def _zones(resource: Resource) -> dict[str, list[str]]:
    """The object's VTIMEZONE blocks by TZID."""
    found: dict[str, list[str]] = {}
    block: list[str] | None = None
    for raw in resource.lines:
        upper = raw[:16].upper()
        if upper.startswith("BEGIN:VTIMEZONE"):
            block = []
        if block is not None:
            block.append(raw)
            if raw[:5].upper() == "TZID:" or raw[:5].upper() == "TZID;":
                found[raw.split(":", 1)[1].strip()] = block
            if upper.startswith("END:VTIMEZONE"):
                block = None
    return found


_NOT_IN_OVERRIDE = ("RRULE", "RDATE", "EXDATE", "EXRULE", "DTSTART", "DTEND", "DURATION",
                    "RECURRENCE-ID")


def _add_override(copy: Resource, reply: Resource, answered: Part) -> None:
    """Insert an override for the answered occurrence, cloned from the master
    (without its rule, at the occurrence's start, with the master's length)."""
    master = copy.master()
    rid_index = next((i for i in answered.own if reply.line(i).name == "RECURRENCE-ID"), None)
    if master is None or rid_index is None or not copy.value(master, "RRULE"):
        return
    length = _length(copy, master)
    if length is None:
        return
    rid_line = reply.line(rid_index)
    rid_line.set_param("RANGE", None)
    rid = rid_line.text()
    body = [f"BEGIN:{master.kind}", rid, "DTSTART" + rid[len("RECURRENCE-ID"):],
            f"DURATION:{length}"]
    body += [copy.lines[i] for i in master.own if copy.line(i).name not in _NOT_IN_OVERRIDE]
    body.append(f"END:{master.kind}")
    lines = copy.lines[:master.end + 1] + body + copy.lines[master.end + 1:]
    copy.lines[:] = lines
    copy.parts[:] = find_parts(lines)


def _length(copy: Resource, master: Part) -> str | None:
    """The master's length as an RFC 5545 DURATION, read with icalendar."""
    text = "BEGIN:VCALENDAR\r\n" + "".join(
        ical_lines.fold(copy.lines[i]) for i in range(master.begin, master.end + 1)
    ) + "END:VCALENDAR\r\n"
    try:
        [event] = icalendar.Calendar.from_ical(text).walk(master.kind)
        start = event.decoded("DTSTART")
        if "DURATION" in event:
            span = event.decoded("DURATION")
        elif "DTEND" in event or "DUE" in event:
            span = event.decoded("DTEND" if "DTEND" in event else "DUE") - start
        else:
            span = timedelta(days=1) if not isinstance(start, datetime) else timedelta(0)
        return icalendar.vDuration(span).to_ical().decode()
    except (ValueError, KeyError, TypeError):
        return None


def request_copy(request_text: str, current: Resource | None = None) -> str:
    """The attendee's copy of an invitation: the REQUEST without its METHOD,
    keeping the alarms the attendee set on its copy (each side's own)."""
    lines = [raw for raw in ical_lines.unfold(request_text)
             if raw[:7].upper() not in ("METHOD:", "METHOD;")]
    if current is None:
        return ical_lines.join(lines)
    alarms = {part.recurrence_id: _alarms(current, part) for part in current.parts}
    fresh = Resource(lines, find_parts(lines))
    out: list[str] = []
    ends = {part.end: alarms.get(part.recurrence_id, []) for part in fresh.parts}
    for index, raw in enumerate(lines):
        out.extend(ends.get(index, []))
        out.append(raw)
    return ical_lines.join(out)


def _alarms(resource: Resource, part: Part) -> list[str]:
    """The VALARM blocks of a part, as lines."""
    found, inside = [], False
    for index in range(part.begin + 1, part.end):
        raw = resource.lines[index]
        upper = raw[:12].upper()
        if upper.startswith("BEGIN:VALARM"):
            inside = True
        if inside:
            found.append(raw)
        if upper.startswith("END:VALARM"):
            inside = False
    return found


def cancel_copy(copy: Resource, cancel: Resource) -> str:
    """The attendee's copy after a CANCEL: a cancelled part gets
    STATUS:CANCELLED (a whole cancel: every part), and SEQUENCE follows."""
    rids = {part.recurrence_id for part in cancel.parts}
    whole = None in rids or not rids
    sequence = next((cancel.value(p, "SEQUENCE") for p in cancel.parts
                     if cancel.value(p, "SEQUENCE") is not None), None)
    edits: dict[int, str | None] = {}
    inserts: dict[int, list[str]] = {}
    for part in copy.parts:
        if not whole and part.recurrence_id not in rids:
            continue
        add = ["STATUS:CANCELLED"]
        for index in part.own:
            name = copy.line(index).name
            if name == "STATUS":
                edits[index] = None
            elif name == "SEQUENCE" and sequence is not None:
                edits[index] = None
        if sequence is not None:
            add.append(f"SEQUENCE:{sequence}")
        inserts[part.end] = add
    out = []
    for index, raw in enumerate(copy.lines):
        if index in inserts:
            out.extend(inserts[index])
        if edits.get(index, raw) is not None:
            out.append(raw)
    return ical_lines.join(out)


def with_schedule_status(resource: Resource, statuses: dict[str, str]) -> str:
    """The organizer's object with SCHEDULE-STATUS on each attendee a message
    went to (RFC 6638 3.2.9): 1.1 sent, 1.2 delivered, 3.7 no such user."""
    for part in resource.parts:
        for index in part.attendees:
            line = resource.line(index)
            status = statuses.get(address_key(line.value))
            if status is not None:
                line.set_param("SCHEDULE-STATUS", status)
                resource.lines[index] = line.text()
    return resource.text()


def keep_answers(new: Resource, stored: Resource, mine: frozenset[str] = frozenset()) -> str:
    """The organizer's PUT with the attendees' answers the server holds: under
    If-Schedule-Tag-Match a client writes over replies it has not seen yet
    (RFC 6638 3.2.10), and those must survive. The writer's own answers
    (`mine`, address keys) are its to change: they are taken as written."""
    by_rid = {part.recurrence_id: part for part in stored.parts}
    for part in new.parts:
        old = by_rid.get(part.recurrence_id)
        if old is None:
            continue
        for index in part.attendees:
            line = new.line(index)
            if address_key(line.value) in mine:
                continue
            held = stored.attendee(old, address_key(line.value))
            if held is None:
                continue
            answer = stored.line(held).param("PARTSTAT")
            if answer is not None:
                line.set_param("PARTSTAT", answer)
                new.lines[index] = line.text()
    return new.text()
