"""The scheduling parts of a calendar object, found on its content lines:
each VEVENT or VTODO (the master and its overrides), its ORGANIZER and its
ATTENDEEs, and the addresses they name.

Shared by the iTIP messages an organizer or attendee change sends
(domain/itip.py) and the edits a delivered message makes
(domain/itip_apply.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from urllib.parse import unquote

from backside_caldav.domain import ical_lines

SCHEDULED = ("VEVENT", "VTODO")
# Parameters only the server and the organizer's client write; an iTIP
# message carries none of them (RFC 6638 3.2.1, 7.3).
SERVER_PARAMS = ("SCHEDULE-STATUS", "SCHEDULE-AGENT", "SCHEDULE-FORCE-SEND")


def address_key(address: str) -> str:
    """How two calendar user addresses are compared: mailto: caseless, its
    address percent-decoded; anything else as written, without spaces."""
    value = address.strip()
    if value[:7].lower() == "mailto:":
        return "mailto:" + unquote(value[7:]).strip().lower()
    if value[:7].lower() == "http://" or value[:8].lower() == "https://":
        rest = value.split("://", 1)[1]
        return "/" + rest.split("/", 1)[1] if "/" in rest else "/"  # a principal URL: its path
    return value


@dataclass
class Part:
    """One top-level VEVENT or VTODO: line indices into the object's lines."""

    kind: str
    begin: int
    end: int
    recurrence_id: str | None = None
    organizer: int | None = None
    attendees: list[int] = field(default_factory=list)
    own: list[int] = field(default_factory=list)  # its lines outside nested components


@dataclass
class Resource:
    lines: list[str]
    parts: list[Part]

    @classmethod
    def of(cls, text: str) -> Resource:
        lines = ical_lines.unfold(text)
        return cls(lines, find_parts(lines))

    def line(self, index: int) -> ical_lines.Line:
        return ical_lines.parse(self.lines[index])

    def organizer(self) -> ical_lines.Line | None:
        """The ORGANIZER of the master (or of the first part that has one)."""
        for part in self.parts:
            if part.organizer is not None:
                return self.line(part.organizer)
        return None

    def uid(self) -> str:
        for part in self.parts:
            for i in part.own:
                line = self.line(i)
                if line.name == "UID":
                    return line.value
        return ""

    def value(self, part: Part, name: str) -> str | None:
        for i in part.own:
            line = self.line(i)
            if line.name == name:
                return line.value
        return None

    def attendee(self, part: Part, key: str) -> int | None:
        for i in part.attendees:
            if address_key(self.line(i).value) == key:
                return i
        return None

    def scheduled_attendees(self, organizer_key: str) -> dict[str, str]:
        """Attendee key -> address as written, for every attendee of any part
        the server schedules for (no SCHEDULE-AGENT other than SERVER), the
        organizer excluded."""
        found: dict[str, str] = {}
        for part in self.parts:
            for i in part.attendees:
                line = self.line(i)
                key = address_key(line.value)
                agent = (line.param("SCHEDULE-AGENT") or "SERVER").upper()
                if key != organizer_key and agent == "SERVER" and key not in found:
                    found[key] = line.value
        return found

    def master(self) -> Part | None:
        return next((p for p in self.parts if p.recurrence_id is None), None)

    def text(self) -> str:
        return ical_lines.join(self.lines)


def find_parts(lines: list[str]) -> list[Part]:
    parts: list[Part] = []
    depth = 0
    current: Part | None = None
    for index, raw in enumerate(lines):
        upper = raw[:16].upper()
        if upper.startswith("BEGIN:"):
            depth += 1
            kind = raw[6:].strip().upper()
            if depth == 2 and kind in SCHEDULED:
                current = Part(kind, index, index)
            continue
        if upper.startswith("END:"):
            if depth == 2 and current is not None:
                current.end = index
                parts.append(current)
                current = None
            depth -= 1
            continue
        if current is None or depth != 2:
            continue
        current.own.append(index)
        name = raw.split(":", 1)[0].split(";", 1)[0].upper()
        if name == "ORGANIZER":
            current.organizer = index
        elif name == "ATTENDEE":
            current.attendees.append(index)
        elif name == "RECURRENCE-ID":
            current.recurrence_id = ical_lines.parse(raw).value.strip().upper()
    return parts


# Properties whose change is no news to the other side: stamps, the client's
# own extensions, alarms and transparency (each side's own).
_UNSCHEDULED = ("DTSTAMP", "LAST-MODIFIED", "CREATED", "PRODID", "METHOD", "TRANSP")
# Attendee parameters that an attendee's own answer changes.
_ANSWER_PARAMS = ("PARTSTAT", "RSVP", *SERVER_PARAMS)


def fingerprint(text: str) -> str:
    """A digest of what scheduling compares: it moves when the organizer
    changes the event (times, rule, title, people, SEQUENCE ...) and stays
    when only an attendee's answer or a stamp, alarm or X- property does. It
    is the Schedule-Tag (RFC 6638 3.2.10) and the "significant change" test.

    Clients re-serialize: the same event may come back with its properties,
    parameters and components in another order, parameter values quoted or
    not, commas escaped or not, its VTIMEZONEs rewritten. None of that is a
    change, so each component is digested as a sorted set of normalized
    lines, and the components as a sorted list."""
    components: list[str] = []
    stack: list[list[str]] = []
    skip_depth = 0
    for raw in ical_lines.unfold(text):
        upper = raw[:16].upper()
        if skip_depth or upper.startswith(("BEGIN:VALARM", "BEGIN:VTIMEZONE")):
            if upper.startswith("BEGIN:"):
                skip_depth += 1
            elif upper.startswith("END:"):
                skip_depth -= 1
            continue
        if upper.startswith("BEGIN:"):
            stack.append([upper.strip()])
            continue
        if upper.startswith("END:"):
            if stack:
                done = stack.pop()
                body = done[0] + "\n" + "\n".join(sorted(done[1:]))
                (stack[-1] if stack else components).append(body)
            continue
        line = ical_lines.parse(raw)
        if line.name in _UNSCHEDULED or line.name.startswith("X-") or not stack:
            continue
        stack[-1].append(_normal(line))
    digest = hashlib.sha1()
    for body in sorted(components):
        digest.update(body.encode("utf-8") + b"\n\n")
    return digest.hexdigest()


def _normal(line: ical_lines.Line) -> str:
    """A content line as compared: parameters sorted, unquoted, X- ones
    dropped; escaped commas and semicolons as plain ones; addresses as keys."""
    params = [(k.upper(), v.strip('"')) for k, v in line.params if not k.upper().startswith("X-")]
    value = line.value.replace("\\,", ",").replace("\\;", ";")
    if line.name in ("ATTENDEE", "ORGANIZER"):
        params = [(k, v) for k, v in params if k not in _ANSWER_PARAMS]
        value = address_key(value)
    return f"{line.name};{sorted(params)}:{value}"


def schedule_tag(text: str) -> str | None:
    """The Schedule-Tag of a scheduling object (one with an ORGANIZER), else None."""
    if "ORGANIZER" not in text.upper():
        return None
    return f'"s-{fingerprint(text)[:24]}"'
