"""Parse each distinct VTIMEZONE text once, not in every PUT that carries it.

Apple Calendar, Thunderbird and DAVx5 put the VTIMEZONE of every zone an
event uses into every PUT: in the benchmark's mix that is half of a body's
lines, and icalendar spent about 0.6 ms of a 1.4 ms parse on it. Clients
send the same few VTIMEZONE texts over and over, so `split` cuts the blocks
it has parsed before out of the text and hands back their components from
a cache; icalendar then parses only the rest.

Resolution does not change: icalendar keeps the zone of a custom TZID from
the first VTIMEZONE it parses with that TZID in a process-wide cache (an
IANA TZID always resolves through zoneinfo), and the cached block was
parsed, and so registered, the first time it was seen. Anything unusual
(a block not at a line start, no single VCALENDAR around the blocks, a block
icalendar cannot parse cleanly) makes `split` answer None, and the caller
parses the whole text as before.
"""

from __future__ import annotations

import functools

import icalendar

BEGIN = "BEGIN:VTIMEZONE"
END = "END:VTIMEZONE"
CACHED_BLOCKS = 256
MAX_CACHED_BLOCK = 16 * 1024  # larger VTIMEZONEs are parsed inline, every time


@functools.lru_cache(maxsize=CACHED_BLOCKS)
def _component_of(block: str) -> icalendar.Timezone | None:
    """The parsed block, or None when it is not one clean VTIMEZONE."""
    try:
        components = icalendar.Component.from_ical(block, multiple=True)
    except Exception:  # noqa: BLE001 - the whole-text parse reports the problem
        return None
    if len(components) != 1 or not isinstance(components[0], icalendar.Timezone):
        return None
    zone = components[0]
    if "TZID" not in zone or any(getattr(c, "errors", None) for c in zone.walk()):
        return None
    return zone


def split(text: str) -> tuple[str, list[icalendar.Timezone]] | None:
    """(the text without its VTIMEZONE blocks, their parsed components), or None
    when the text has no VTIMEZONE or must be parsed whole.

    The components are shared between calls: callers must not change them.
    """
    cut = cut_blocks(text)
    return None if cut is None else (cut[0], cut[2])


def cut_blocks(text: str) -> tuple[str, str, list[icalendar.Timezone]] | None:
    """split, with the blocks' own text as well (for writers that keep it as sent)."""
    start = text.find(BEGIN)
    if start < 0:
        return None
    calendar_start = text.find("BEGIN:VCALENDAR")
    calendar_end = text.rfind("END:VCALENDAR")
    if (calendar_start < 0 or calendar_start > start
            or text.count("BEGIN:VCALENDAR") != 1 or text.count("END:VCALENDAR") != 1):
        return None
    pieces: list[str] = []
    blocks: list[str] = []
    zones: list[icalendar.Timezone] = []
    position = 0
    while start >= 0:
        end = text.find(END, start)
        line_end = text.find("\n", end)
        if (end < 0 or line_end < 0 or line_end > calendar_end
                or (start > 0 and text[start - 1] != "\n") or text[end - 1] != "\n"
                or text[end + len(END):line_end].rstrip("\r")):
            return None
        block = text[start:line_end + 1]
        zone = (_component_of(block)
                if len(block) <= MAX_CACHED_BLOCK and block.count(BEGIN) == 1 else None)
        if zone is None:
            return None
        pieces.append(text[position:start])
        blocks.append(block)
        zones.append(zone)
        position = line_end + 1
        start = text.find(BEGIN, position)
    pieces.append(text[position:])
    return "".join(pieces), "".join(blocks), zones
