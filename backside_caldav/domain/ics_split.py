"""An iCalendar file -> one calendar object resource text per UID, lines verbatim.

A calendar export (Google, Apple, Thunderbird, a `cat *.ics`) holds many
resources in one VCALENDAR, or in several; CalDAV stores one resource per
UID (RFC 4791 4.1): the master with its overridden instances. Splitting by
parsing and re-serializing would change the client's bytes (see DESIGN.md:
round trip), so this works on the text: each component's physical lines,
folding and line endings are copied as they are; a resource gets the
VCALENDAR's own BEGIN/END lines, its VERSION, PRODID and CALSCALE lines and
the VTIMEZONEs its lines name (by TZID), in the order the file defines them.
Other calendar properties (METHOD, X-WR-CALNAME ...) describe the file, not
a resource, and are left out (RFC 4791 forbids METHOD in a stored resource).

A file that is one resource already (one VCALENDAR, one UID) is kept whole,
byte for byte, as a PUT of it would be stored.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field

OBJECTS = ("VEVENT", "VTODO", "VJOURNAL")
NOT_IN_NAMES = ":'\"*?,"  # Radicale's "minimal" path validation refuses these
MAX_SEGMENT = 255
KEPT_HEADER = ("VERSION", "PRODID", "CALSCALE")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\n|\r)|[^\r\n]+$")
_TZID_PARAM = re.compile(r';TZID=("[^"]*"|[^;:]*)', re.IGNORECASE)
_SAFE_HREF = re.compile(r"^[A-Za-z0-9@_+=-][A-Za-z0-9@._+=-]{0,199}$")


@dataclass
class Piece:
    """One resource of a file: its UID, its component type and its text."""

    uid: str
    component: str
    text: str


@dataclass
class Split:
    """The resources of a file, what in it is no resource, and the file's own name."""

    pieces: list[Piece] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the file's parts left out, with why
    calendar_name: str | None = None  # X-WR-CALNAME, for choosing the target calendar
    whole: bool = False  # the file is one resource: pieces[0].text is the file's text


@dataclass
class _Block:
    """One VCALENDAR of the file: its BEGIN/END lines, kept header lines, zones."""

    begin: str
    end: str = ""
    header: list[str] = field(default_factory=list)
    zones: dict[str, str] = field(default_factory=dict)  # TZID -> the VTIMEZONE's lines


@dataclass
class _Group:
    block: _Block
    component: str
    parts: list[str] = field(default_factory=list)
    zones: list[str] = field(default_factory=list)  # TZIDs named, in order of first use


def physical_lines(text: str) -> list[str]:
    """The text's lines with their own endings (CRLF, LF or CR), nothing else split."""
    return _LINE.findall(text)


def logical_lines(lines: list[str]) -> list[tuple[str, list[str]]]:
    """(unfolded content, its physical lines) for each content line."""
    out: list[tuple[list[str], list[str]]] = []  # pieces joined once: a long property
    for line in lines:                              # folded 100,000 times stays linear
        if line[:1] in (" ", "\t") and out:
            out[-1][0].append(line[1:].rstrip("\r\n"))
            out[-1][1].append(line)
        elif line.strip():
            out.append(([line.rstrip("\r\n")], [line]))
        elif out:
            out[-1][1].append(line)  # a blank line stays where it was
    return [("".join(content), physical) for content, physical in out]


def _name(content: str) -> str:
    return content.split(":", 1)[0].split(";", 1)[0].strip().upper()


def _value(content: str) -> str:
    return content.split(":", 1)[1].strip() if ":" in content else ""


def split_calendar(text: str) -> Split:
    """The resources of an iCalendar file, one per UID (see the module doc)."""
    result = Split()
    groups: dict[str, _Group] = {}
    lines = logical_lines(physical_lines(text))
    block: _Block | None = None
    blocks = 0
    outside = False
    stack: list[str] = []
    current: list[str] = []  # physical lines of the top-level component being read
    current_names: list[str] = []  # its content lines, unfolded
    for content, physical in lines:
        name = _name(content)
        if block is None:
            if name == "BEGIN" and _value(content).upper() == "VCALENDAR":
                block = _Block(begin="".join(physical))
                blocks += 1
            else:
                outside = True
                result.problems.append(f"a line outside any VCALENDAR: {content[:60]!r}")
            continue
        if not stack:
            if name == "END" and _value(content).upper() == "VCALENDAR":
                block.end = "".join(physical)
                block = None
            elif name == "BEGIN":
                stack.append(_value(content).upper())
                current, current_names = list(physical), [content]
            elif name in KEPT_HEADER:
                block.header.append("".join(physical))
            elif name == "X-WR-CALNAME" and result.calendar_name is None:
                result.calendar_name = _unescape(_value(content)) or None
            continue
        current.extend(physical)
        current_names.append(content)
        if name == "BEGIN":
            stack.append(_value(content).upper())
        elif name == "END":
            if _value(content).upper() != stack[-1]:
                result.problems.append(f"END:{_value(content)[:40]} does not close "
                                       f"BEGIN:{stack[-1][:40]}")
                return _broken(result)
            stack.pop()
            if not stack:
                _component_done(result, block, groups, current, current_names)
    if block is not None or stack:
        result.problems.append("the file ends inside a component (a missing END line)")
        return _broken(result)
    for uid, group in groups.items():
        result.pieces.append(Piece(uid, group.component, _resource_text(group)))
    if len(groups) == 1 and blocks == 1 and not outside:
        # One resource: the file as it is, other components and all (a PUT keeps them).
        result.pieces[0].text = text
        result.problems = []
        result.whole = True
    return result


def _broken(result: Split) -> Split:
    """A file whose components do not nest is not split at all: nothing of it is
    trustworthy enough to store."""
    result.pieces = []
    return result


def _component_done(result: Split, block: _Block, groups: dict[str, _Group],
                    lines: list[str], contents: list[str]) -> None:
    kind = _value(contents[0]).upper()
    if kind == "VTIMEZONE":
        tzid = next((_value(c) for c in contents if _name(c) == "TZID"), "")
        block.zones.setdefault(tzid, "".join(lines))
        return
    if kind not in OBJECTS:
        result.problems.append(f"a {kind[:40]} component (not an event, task or journal) "
                               "was left out")
        return
    depth, uid = 0, ""
    for content in contents:
        name = _name(content)
        if name == "BEGIN":
            depth += 1
        elif name == "END":
            depth -= 1
        elif name == "UID" and depth == 1:
            uid = _value(content)
    if not uid:
        result.problems.append(f"a {kind} without a UID was left out (every calendar object "
                               "needs one)")
        return
    group = groups.get(uid)
    if group is None:
        group = groups[uid] = _Group(block, kind)
    elif group.component != kind:
        group.component = "MIXED"  # refused by the resource parser, with its reason
    group.parts.append("".join(lines))
    for content in contents:
        for match in _TZID_PARAM.finditer(content.split(":", 1)[0]):
            tzid = match.group(1).strip('"')
            if tzid not in group.zones:
                group.zones.append(tzid)


def _resource_text(group: _Group) -> str:
    block = group.block
    zones = [block.zones[z] for z in block.zones if z in group.zones]
    eol = _ending(block.begin)
    end = block.end or f"END:VCALENDAR{eol}"
    return block.begin + "".join(block.header) + "".join(zones) + "".join(group.parts) + end


def _ending(line: str) -> str:
    for eol in ("\r\n", "\n", "\r"):
        if line.endswith(eol):
            return eol
    return "\r\n"


def _unescape(value: str) -> str:
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def href_for_uid(uid: str) -> str:
    """The resource name a new resource gets from its UID: `<UID>.ics` when the UID
    is safe in a URL path segment, else a hash of it (as Radicale names them)."""
    if _SAFE_HREF.match(uid) and uid not in (".", ".."):
        return uid if uid.lower().endswith(".ics") else uid + ".ics"
    return hashlib.sha256(uid.encode()).hexdigest()[:32] + ".ics"


def safe_href(name: str) -> bool:
    """Whether a file name can stay a resource's (or calendar's) href as it is: a
    name this server serves (dav/guards.check_path: no control or invisible
    characters, none of :'"*?,), one path segment of at most 255 characters
    that is also a file name (255 bytes), not hidden, not a backup~."""
    return (0 < len(name) and len(name.encode("utf-8", "surrogatepass")) <= MAX_SEGMENT
            and not name.startswith(".") and not name.endswith("~")
            and not any(c in "/\\" or c in NOT_IN_NAMES or unicodedata.category(c)[0] == "C"
                        for c in name))


def href_for_name(name: str) -> str:
    """A calendar href from its name: lower-case ASCII letters, digits, - and _."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_-]+", "-", ascii_name.lower()).strip("-")[:60]
    return slug or "calendar"
