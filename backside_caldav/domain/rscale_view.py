"""What Radicale's own filter may read of a resource with an RFC 7529 RRULE.

Radicale 3.9 decides a calendar-query that combines a time-range with other
filters (text-match, param-filter) itself, by expanding the rules with vobject
and dateutil, which refuse RSCALE: one such event turned the whole REPORT into
a 400. The occurrences in the queried window are known (db/occurrences), so
the filter is shown the resource with each RSCALE rule replaced by RDATEs of
those occurrences; the answer's calendar-data stays the stored text.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from backside_caldav.domain.zones import zone

UTC = timezone.utc
_LINES = re.compile(r"\r?\n(?![ \t])")


def matcher_text(text: str, starts: list[datetime], day_zone: str | None) -> str:
    """text with every RRULE that has an RSCALE replaced by RDATEs of `starts`
    (UTC), written as DATE, floating or UTC values like the component's DTSTART."""
    lines = _LINES.split(text.rstrip("\r\n"))
    out: list[str] = []
    dtstart = ""
    for line in lines:
        name = re.split(r"[;:]", line, maxsplit=1)[0].strip().upper()
        if name == "BEGIN":
            dtstart = ""
        if name == "DTSTART":
            dtstart = re.sub(r"\r?\n[ \t]", "", line)
            for index, earlier in enumerate(out):  # an RRULE before DTSTART
                if earlier == "\0RDATE":
                    out[index] = _rdate(dtstart, starts, day_zone)
        if name == "RRULE" and "RSCALE" in line.upper():
            if not starts:
                continue
            out.append(_rdate(dtstart, starts, day_zone) if dtstart else "\0RDATE")
            continue
        out.append(line)
    return "\r\n".join(line for line in out if line != "\0RDATE") + "\r\n"


def _rdate(dtstart: str, starts: list[datetime], day_zone: str | None) -> str:
    head, _, value = dtstart.partition(":")
    if "VALUE=DATE" in head.upper() and "DATE-TIME" not in head.upper():
        days = sorted({s.astimezone(zone(day_zone)).strftime("%Y%m%d") for s in starts})
        return "RDATE;VALUE=DATE:" + ",".join(days)
    if "TZID=" not in head.upper() and not value.strip().upper().endswith("Z"):
        return "RDATE:" + ",".join(s.astimezone(UTC).strftime("%Y%m%dT%H%M%S") for s in starts)
    return "RDATE:" + ",".join(s.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") for s in starts)
