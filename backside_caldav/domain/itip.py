"""Which iTIP messages (RFC 5546) a change of a calendar object sends, as
RFC 6638 3.2 decides: who the writer is to the object (its organizer, one of
its attendees, or neither), and what changed.

Pure: the writer's addresses, the object before and after; no SQL, no
transport. scheduling/implicit.py queues what this returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timezone

from backside_caldav.domain import ical_lines, ical_render
from backside_caldav.domain.itip_parts import (
    SERVER_PARAMS,
    Part,
    Resource,
    address_key,
    fingerprint,
)

ORGANIZER, ATTENDEE = "organizer", "attendee"


@dataclass(frozen=True)
class Outgoing:
    method: str  # REQUEST, CANCEL, REPLY
    recipient: str  # the address as the object writes it
    text: str  # the iTIP VCALENDAR, with METHOD


@dataclass(frozen=True)
class Role:
    kind: str  # ORGANIZER or ATTENDEE
    address: str  # the writer's address in the object (key form)
    organizer: str  # the ORGANIZER's address (key form)


def role(resource: Resource, mine: set[str]) -> Role | None:
    """The writer's role: organizer when the ORGANIZER is one of its addresses,
    attendee when an ATTENDEE is (RFC 6638 3.2); None for anyone else."""
    organizer = resource.organizer()
    if organizer is None:
        return None
    organizer_key = address_key(organizer.value)
    if organizer_key in mine:
        return Role(ORGANIZER, organizer_key, organizer_key)
    for part in resource.parts:
        for i in part.attendees:
            key = address_key(resource.line(i).value)
            if key in mine:
                return Role(ATTENDEE, key, organizer_key)
    return None


def stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def organizer_messages(old: Resource | None, new: Resource | None,
                       organizer_key: str) -> list[Outgoing]:
    """What the organizer's PUT (new) or DELETE (new None) of old sends: REQUEST
    to every attendee on a new object or a significant change (else to the
    added ones and those with SCHEDULE-FORCE-SEND=REQUEST), CANCEL to removed
    ones, and CANCEL to all on a delete or when the event is cancelled. None
    when the organizer's client schedules itself (SCHEDULE-AGENT on ORGANIZER)."""
    current = new if new is not None else old
    assert current is not None
    organizer = current.organizer()
    if organizer is not None and (organizer.param("SCHEDULE-AGENT") or "SERVER"
                                  ).upper() != "SERVER":
        return []
    before = old.scheduled_attendees(organizer_key) if old is not None else {}
    if new is None:
        assert old is not None
        return [Outgoing("CANCEL", a, message(old, "CANCEL", only=k, cancelled=True))
                for k, a in before.items()]
    after = new.scheduled_attendees(organizer_key)
    master = new.master() or new.parts[0]
    if (new.value(master, "STATUS") or "").upper() == "CANCELLED":
        was = old is not None and (old.value(old.master() or old.parts[0], "STATUS") or ""
                                   ).upper() == "CANCELLED"
        return [] if was else [Outgoing("CANCEL", a, message(new, "CANCEL", only=k))
                               for k, a in after.items()]
    out = [Outgoing("CANCEL", a, message(old, "CANCEL", only=k, cancelled=True))
           for k, a in before.items() if k not in after and old is not None]
    significant = old is None or fingerprint(old.text()) != fingerprint(new.text())
    forced = {address_key(new.line(i).value) for p in new.parts for i in p.attendees
              if (new.line(i).param("SCHEDULE-FORCE-SEND") or "").upper() == "REQUEST"}
    for key, address in after.items():
        if significant or key not in before or key in forced:
            out.append(Outgoing("REQUEST", address, message(new, "REQUEST")))
    return out


def attendee_reply(old: Resource | None, new: Resource | None, me: str) -> Outgoing | None:
    """The REPLY an attendee's change sends its organizer: when its PARTSTAT
    changed in any part (or SCHEDULE-FORCE-SEND=REPLY), and DECLINED when it
    deletes its copy. None when the organizer schedules for itself
    (SCHEDULE-AGENT on ORGANIZER) or nothing of the answer changed."""
    current = new if new is not None else old
    assert current is not None
    organizer = current.organizer()
    if organizer is None or (organizer.param("SCHEDULE-AGENT") or "SERVER").upper() != "SERVER":
        return None
    if new is None:
        assert old is not None
        answers = _answers(old, me)
        if not answers or all(v == "DECLINED" for v in answers.values()):
            return None
        return Outgoing("REPLY", organizer.value, reply(old, me, set(answers), "DECLINED"))
    before = _answers(old, me) if old is not None else {}
    after = _answers(new, me)
    forced = {rid for rid, part in _mine(new, me)
              if (new.line(part).param("SCHEDULE-FORCE-SEND") or "").upper() == "REPLY"}
    changed = {rid for rid, status in after.items()
               if before.get(rid, "NEEDS-ACTION" if old is None else None) != status}
    changed |= forced
    if not changed:
        return None
    return Outgoing("REPLY", organizer.value, reply(new, me, changed))


def _mine(resource: Resource, me: str) -> list[tuple[str | None, int]]:
    found = []
    for part in resource.parts:
        index = resource.attendee(part, me)
        if index is not None:
            found.append((part.recurrence_id, index))
    return found


def _answers(resource: Resource, me: str) -> dict[str | None, str]:
    return {rid: (resource.line(i).param("PARTSTAT") or "NEEDS-ACTION").upper()
            for rid, i in _mine(resource, me)}


def _clean(line: ical_lines.Line) -> str:
    line.params = [(k, v) for k, v in line.params if k not in SERVER_PARAMS]
    return line.text()


def _envelope(resource: Resource, method: str, bodies: list[list[str]]) -> str:
    """A VCALENDAR with METHOD around these component bodies, with the
    object's VTIMEZONEs (the TZIDs they use)."""
    out = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//backside-caldav//scheduling//EN",
           f"METHOD:{method}"]
    depth, inside_zone = 0, False
    for raw in resource.lines:
        upper = raw[:16].upper()
        if upper.startswith("BEGIN:"):
            depth += 1
            if depth == 2 and upper.startswith("BEGIN:VTIMEZONE"):
                inside_zone = True
        if inside_zone:
            out.append(raw)
        if upper.startswith("END:"):
            if depth == 2 and upper.startswith("END:VTIMEZONE"):
                inside_zone = False
            depth -= 1
    out.extend(_missing_zones(out, bodies))
    for body in bodies:
        out.extend(body)
    out.append("END:VCALENDAR")
    return ical_lines.join(out)


_TZID_PARAM = re.compile(r'^[^:]*?;TZID="?([^";:]+)"?[^:]*:(\d{4})?', re.IGNORECASE)
_TZID_LINE = re.compile(r"^TZID[;:](?:[^:]*:)?(.+)$", re.IGNORECASE)


def _missing_zones(head: list[str], bodies: list[list[str]]) -> list[str]:
    """VTIMEZONEs from the zone database for TZIDs the object uses but does not
    define: a client may store a bare TZID (the server reads it as the IANA
    zone), but a mail reader outside has only the message (RFC 5545 3.6.5)."""
    defined = {m.group(1).strip() for line in head if (m := _TZID_LINE.match(line))}
    years: dict[str, list[int]] = {}
    for body in bodies:
        for line in body:
            m = _TZID_PARAM.match(line)
            if m is not None and m.group(1).strip() not in defined:
                found = years.setdefault(m.group(1).strip(), [])
                found.extend([max(int(m.group(2)), 1)] if m.group(2) else [])
    recurring = any(line[:6].upper() in ("RRULE:", "RRULE;", "RDATE:", "RDATE;")
                    for body in bodies for line in body)
    out: list[str] = []
    for tzid, seen in years.items():
        first = min(seen) if seen else datetime.now(timezone.utc).year
        # A series runs on: its zone's rules for 20 years more than its start.
        last = min((max(seen) if seen else first) + (20 if recurring else 0), 9995)
        text = ical_render.vtimezone_text(tzid, *ical_render.zone_years(date(first, 1, 1),
                                                                       date(last, 1, 1)))
        out.extend(text.replace("\r\n ", "").rstrip("\r\n").split("\r\n") if text else [])
    return out


def message(resource: Resource, method: str, only: str | None = None,
            cancelled: bool = False) -> str:
    """The object as an iTIP REQUEST or CANCEL: every part, without alarms and
    without the server's parameters; only: the one attendee a CANCEL to a
    removed attendee names; cancelled: STATUS:CANCELLED in each part."""
    bodies = []
    for part in resource.parts:
        body, nested = [], 0
        for index in range(part.begin, part.end + 1):
            raw = resource.lines[index]
            upper = raw[:16].upper()
            if part.begin < index < part.end:
                if upper.startswith("BEGIN:"):
                    nested += 1  # an alarm: each side's own
                    continue
                if upper.startswith("END:"):
                    nested -= 1
                    continue
                if nested:
                    continue
            if index in part.own:
                line = resource.line(index)
                if line.name == "ATTENDEE" and only is not None \
                        and address_key(line.value) != only:
                    continue
                if line.name in ("ATTENDEE", "ORGANIZER"):
                    raw = _clean(line)
                elif line.name == "DTSTAMP":
                    raw = f"DTSTAMP:{stamp()}"
                elif line.name == "STATUS" and cancelled:
                    continue
            if index == part.end and cancelled:
                body.append("STATUS:CANCELLED")
            if index == part.end and method == "CANCEL" \
                    and resource.value(part, "SEQUENCE") is None:
                body.append("SEQUENCE:0")  # RFC 5546 3.2.5: a CANCEL carries SEQUENCE
            body.append(raw)
        bodies.append(body)
    return _envelope(resource, method, bodies)


_REPLY_PROPS = ("UID", "SEQUENCE", "RECURRENCE-ID", "DTSTART", "DTEND", "DURATION", "DUE",
                "SUMMARY")


def reply(resource: Resource, me: str, parts: set[str | None],
          partstat: str | None = None) -> str:
    """A REPLY for the parts (by RECURRENCE-ID) where the attendee `me`
    answered: the part's identity and times, the ORGANIZER and only its own
    ATTENDEE line (RFC 5546 3.2.3), PARTSTAT forced when given."""
    bodies = []
    for part in resource.parts:
        if part.recurrence_id not in parts:
            continue
        mine = resource.attendee(part, me)
        if mine is None:
            continue
        body = [f"BEGIN:{part.kind}", f"DTSTAMP:{stamp()}"]
        for index in part.own:
            line = resource.line(index)
            if line.name in _REPLY_PROPS:
                body.append(resource.lines[index])
            elif line.name == "ORGANIZER":
                body.append(_clean(line))
        attendee = resource.line(mine)
        if partstat is not None:
            attendee.set_param("PARTSTAT", partstat)
        attendee.set_param("RSVP", None)
        body.append(_clean(attendee))
        body.append(f"END:{part.kind}")
        bodies.append(body)
    return _envelope(resource, "REPLY", bodies)


def parts_by_recurrence(resource: Resource) -> dict[str | None, Part]:
    return {part.recurrence_id: part for part in resource.parts}
