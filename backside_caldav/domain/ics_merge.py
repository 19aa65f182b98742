"""Resources -> one iCalendar file: the export's merged form of a calendar.

The reverse of ics_split, and like it done on the text: each resource's
VEVENT/VTODO/VJOURNAL components keep their lines as stored; its VTIMEZONEs
go to the top of the file once per TZID (the first one seen wins; a zone's
definition is the same in every resource of a sane calendar): the file is
head(), then every resource's parts_of().objects, then TAIL. Line endings
become CRLF, as RFC 5545 asks of a file; the per-resource export keeps the
bytes exactly instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from backside_caldav.domain.ics_split import logical_lines, physical_lines

PRODID = "-//backside-caldav//export//EN"


@dataclass
class Parts:
    """The top-level components of one resource, as text with CRLF endings."""

    zones: dict[str, str] = field(default_factory=dict)  # TZID -> VTIMEZONE text
    objects: list[str] = field(default_factory=list)


def parts_of(text: str) -> Parts:
    """The resource's VTIMEZONEs and other components inside its VCALENDAR."""
    parts = Parts()
    depth = 0
    current: list[str] = []
    kind = tzid = ""
    for content, physical in logical_lines(physical_lines(text)):
        name = content.split(":", 1)[0].split(";", 1)[0].strip().upper()
        value = content.split(":", 1)[1].strip() if ":" in content else ""
        if name == "BEGIN":
            depth += 1
            if depth == 2:
                current, kind, tzid = [], value.upper(), ""
        if depth >= 2:
            current.extend(line.rstrip("\r\n") + "\r\n" for line in physical)
            if depth == 2 and name == "TZID":
                tzid = value
        if name == "END":
            if depth == 2:
                if kind == "VTIMEZONE":
                    parts.zones.setdefault(tzid, "".join(current))
                else:
                    parts.objects.append("".join(current))
            depth -= 1
    return parts


def escape_text(value: str) -> str:
    """An iCalendar TEXT value (RFC 5545 3.3.11)."""
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n"))


def fold(line: str) -> str:
    """A content line folded at 75 octets (RFC 5545 3.1), never inside a character."""
    out, current, size = [], "", 0
    for char in line:
        width = len(char.encode())
        if size + width > 75:
            out.append(current)
            current, size = " ", 1
        current += char
        size += width
    return "\r\n".join(out + [current]) + "\r\n"


def head(name: str | None, zones: dict[str, str]) -> str:
    """The file's start: the VCALENDAR properties and every VTIMEZONE once."""
    text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n" + fold(f"PRODID:{PRODID}")
    if name:
        text += fold(f"X-WR-CALNAME:{escape_text(name)}")
    return text + "".join(zones.values())


TAIL = "END:VCALENDAR\r\n"
