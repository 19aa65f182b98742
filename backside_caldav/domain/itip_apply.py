"""What a delivered iTIP message does to the recipient's copy (RFC 6638 4):
a REPLY sets the attendee's answer on the organizer's object, a REQUEST
becomes the attendee's copy, a CANCEL marks it cancelled. And the
SCHEDULE-STATUS the server writes on the organizer's object after sending.

Edits are made on content lines, so every byte the client wrote that the
message does not speak of stays as it was.
"""

from __future__ import annotations

from backside_caldav.domain import ical_lines
from backside_caldav.domain.itip_parts import Resource, address_key


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
    SCHEDULE-STATUS 2.0), and the attendee's key. An answer for an occurrence
    the object has no override for applies to nothing: it is left out."""
    if reply.uid() != organizer_copy.uid():
        raise NotApplicable("the REPLY is for another event (UID)")
    who, answers = reply_answers(reply)
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
    if not changed:
        raise NotApplicable(f"{who} is not an attendee of this event")
    return organizer_copy.text(), who


def request_copy(request_text: str) -> str:
    """The attendee's copy of an invitation: the REQUEST without its METHOD."""
    lines = [raw for raw in ical_lines.unfold(request_text)
             if not raw[:7].upper().startswith("METHOD:") and not raw[:7].upper() == "METHOD;"]
    return ical_lines.join(lines)


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


def keep_answers(new: Resource, stored: Resource) -> str:
    """The organizer's PUT with the attendees' answers the server holds: under
    If-Schedule-Tag-Match a client writes over replies it has not seen yet
    (RFC 6638 3.2.10), and those must survive."""
    by_rid = {part.recurrence_id: part for part in stored.parts}
    for part in new.parts:
        old = by_rid.get(part.recurrence_id)
        if old is None:
            continue
        for index in part.attendees:
            line = new.line(index)
            held = stored.attendee(old, address_key(line.value))
            if held is None:
                continue
            answer = stored.line(held).param("PARTSTAT")
            if answer is not None:
                line.set_param("PARTSTAT", answer)
                new.lines[index] = line.text()
    return new.text()
