"""iCalendar content lines as text: unfold, split into name, parameters and
value, edit a parameter, fold again.

Scheduling edits a few parameters of a stored object (an attendee's
PARTSTAT, SCHEDULE-STATUS) and must keep every other byte the client wrote:
a parse and re-serialization through icalendar would rewrite the whole text
(and lose what it does not understand). So these edits work on lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FOLD = 75  # octets per physical line (RFC 5545 3.1)


@dataclass
class Line:
    name: str  # upper case
    params: list[tuple[str, str]] = field(default_factory=list)  # (NAME upper, raw value)
    value: str = ""

    def param(self, name: str) -> str | None:
        for key, raw in self.params:
            if key == name:
                return unquote(raw)
        return None

    def set_param(self, name: str, value: str | None) -> None:
        """Set (or with None remove) a parameter, keeping the others in order."""
        kept = [(k, v) for k, v in self.params if k != name]
        if value is not None:
            kept.append((name, quote(value)))
        self.params = kept

    def text(self) -> str:
        params = "".join(f";{k}={v}" for k, v in self.params)
        return f"{self.name}{params}:{self.value}"


def quote(value: str) -> str:
    return f'"{value}"' if any(c in value for c in ';:,') else value


def unquote(raw: str) -> str:
    return raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw


def unfold(text: str) -> list[str]:
    """The logical lines of a text (CRLF or LF, folded with a space or a tab)."""
    lines: list[str] = []
    for physical in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if physical[:1] in (" ", "\t") and lines:
            lines[-1] += physical[1:]
        elif physical:
            lines.append(physical)
    return lines


def parse(logical: str) -> Line:
    """Split one logical line; quoted parameter values may hold ';' ':' ','."""
    params: list[tuple[str, str]] = []
    i, n = 0, len(logical)
    while i < n and logical[i] not in ";:":
        i += 1
    name = logical[:i].upper()
    while i < n and logical[i] == ";":
        i += 1
        start = i
        while i < n and logical[i] not in "=;:":
            i += 1
        key = logical[start:i].upper()
        raw = ""
        if i < n and logical[i] == "=":
            i += 1
            start = i
            quoted = False
            while i < n and (quoted or logical[i] not in ";:"):
                if logical[i] == '"':
                    quoted = not quoted
                i += 1
            raw = logical[start:i]
        params.append((key, raw))
    value = logical[i + 1:] if i < n else ""
    return Line(name, params, value)


def fold(logical: str) -> str:
    """One logical line as CRLF-ended physical lines of at most FOLD octets,
    never splitting a UTF-8 character."""
    data = logical.encode("utf-8")
    if len(data) <= FOLD:
        return logical + "\r\n"
    out, start, limit = [], 0, FOLD
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:
            end -= 1  # do not cut inside a character
        out.append(data[start:end].decode("utf-8"))
        start, limit = end, FOLD - 1
    return "\r\n ".join(out) + "\r\n"


def join(lines: list[str]) -> str:
    return "".join(fold(line) for line in lines)
