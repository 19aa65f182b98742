"""What Radicale's own filter may read of a resource it would misread.

Radicale 3.9 decides a calendar-query that combines a time-range with other
filters (text-match, param-filter) itself, expanding the rules with vobject
and dateutil. Those refuse an RFC 7529 RSCALE (one such event turned the
whole REPORT into a 400) and read a TZID that names no zone as floating time
(the index reads it in the calendar's zone, see unknown_tzid). The
occurrences in the queried window are known (db/occurrences), so the filter
is shown a view: each such rule replaced by RDATEs of those occurrences, and
unresolved TZIDs written in UTC. The answer's calendar-data stays the stored
text; the view is never stored or served.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from backside_caldav.domain import rscale, unknown_tzid
from backside_caldav.domain.errors import InvalidCalendarData
from backside_caldav.domain.expand_render import Expansion
from backside_caldav.domain.ical_parse import parse_resource
from backside_caldav.domain.recurrence import expand
from backside_caldav.domain.zones import zone

UTC = timezone.utc
_LINES = re.compile(r"\r?\n(?![ \t])")
_RULES = frozenset({"RRULE", "RDATE", "EXDATE", "EXRULE"})


def matcher_view(text: str, starts: list[datetime], day_zone: str | None) -> str | None:
    """The view of `text` for Radicale's filter, or None when it reads the text
    right. `starts`: the occurrences' starts (UTC) in the window; `day_zone`:
    where the series' dates and unresolved TZIDs are read."""
    rscale = "RSCALE" in text.upper()
    unresolved = unknown_tzid.unresolved(text)
    if not rscale and not unresolved:
        return None
    view = _rules_as_rdates(text, starts, day_zone, every_rule=unresolved)
    return unknown_tzid.utc_view(view, day_zone) if unresolved else view


def _rules_as_rdates(text: str, starts: list[datetime], day_zone: str | None,
                     every_rule: bool) -> str:
    """Each component whose RRULE has an RSCALE (every RRULE with every_rule)
    gets RDATEs of `starts` in place of its RRULE, RDATE, EXDATE and EXRULE."""
    out: list[str] = []
    component: list[str] = []
    depth = 0
    for line in _LINES.split(text.rstrip("\r\n")):
        name = re.split(r"[;:]", line, maxsplit=1)[0].strip().upper()
        depth += (name == "BEGIN") - (name == "END")
        if depth >= 2 or (depth == 1 and name == "END"):  # inside, or ending, a component
            component.append(line)
            if depth == 1:
                out += _replaced(component, starts, day_zone, every_rule)
                component = []
            continue
        out.append(line)
    return "\r\n".join(out + component) + "\r\n"


def _replaced(component: list[str], starts: list[datetime], day_zone: str | None,
              every_rule: bool) -> list[str]:
    if component[0].strip().upper() not in ("BEGIN:VEVENT", "BEGIN:VTODO"):
        return component  # a VTIMEZONE's rules are its own
    names = [re.split(r"[;:]", line, maxsplit=1)[0].strip().upper() for line in component]
    rules = [line for line, name in zip(component, names, strict=True) if name == "RRULE"]
    if not rules or not (every_rule or any("RSCALE" in r.upper() for r in rules)):
        return component
    dtstart = next((re.sub(r"\r?\n[ \t]", "", line)
                    for line, name in zip(component, names, strict=True)
                    if name == "DTSTART"), "")
    kept = [line for line, name in zip(component, names, strict=True) if name not in _RULES]
    if starts:
        kept.insert(len(kept) - 1, _rdate(dtstart, starts, day_zone))
    return kept


def _rdate(dtstart: str, starts: list[datetime], day_zone: str | None) -> str:
    head, _, value = dtstart.partition(":")
    if "VALUE=DATE" in head.upper() and "DATE-TIME" not in head.upper():
        days = sorted({s.astimezone(zone(day_zone)).strftime("%Y%m%d") for s in starts})
        return "RDATE;VALUE=DATE:" + ",".join(days)
    if "TZID=" not in head.upper() and not value.strip().upper().endswith("Z"):
        return "RDATE:" + ",".join(s.astimezone(UTC).strftime("%Y%m%dT%H%M%S") for s in starts)
    return "RDATE:" + ",".join(s.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") for s in starts)


def needs_own_reading(text: str) -> bool:
    """Whether Radicale (vobject, dateutil) misreads this text's occurrences."""
    return "RSCALE" in text.upper() or unknown_tzid.unresolved(text)


def own_expansion(text: str, day_zone: str | None, start: datetime,
                  end: datetime) -> Expansion | None:
    """The occurrences in [start, end) of a resource Radicale misreads, by our
    parser and expansion (a calendar-multiget's expand has no index answer
    attached); None when the text is no event series we can read."""
    try:
        resource = parse_resource(text, day_zone)
        events = resource.events
        found = expand(events, start, end)
    except (InvalidCalendarData, ValueError):
        return None
    # Overrides stored without their master are their own occurrences.
    master = next((e for e in events if e.recurrence_id is None), events[0] if events else None)
    if master is None:
        return None
    ids = frozenset(e.recurrence_id for e in events if e.recurrence_id is not None)
    return Expansion(recurring=bool(master.rrule or master.rdates or ids),
                     all_day=master.is_all_day, day_zone=master.timezone, override_ids=ids,
                     instances=[(i.recurrence_id, i.start, i.end) for i in found],
                     as_stored=not rscale.expandable(master.rrule))
