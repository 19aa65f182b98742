"""The client's own VTIMEZONEs, for the times the zone database cannot place.

icalendar resolves an IANA TZID through zoneinfo even when the client sent a
VTIMEZONE for it. Before a zone's first rule the database answers local mean
time (Europe/Berlin: +00:53:28 before 1893), a guess no calendar client
makes: the VTIMEZONE the client sent says what it meant (its earliest
observance, +01:00 for Berlin). Such a value is read with the sent
VTIMEZONE; every other value keeps the zone database's reading, which agrees
with the VTIMEZONEs clients send for the dates they cover.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo

import icalendar

from backside_caldav.domain.zones import iana_zone

LOCAL_MEAN_TIME = "LMT"


Zones = dict[str, icalendar.Timezone]


def sent_zones(cal: icalendar.Calendar) -> Zones:
    """Each VTIMEZONE of the calendar, by the IANA name its TZID means (its
    tzinfo is built only for a value that needs it: that costs a millisecond)."""
    found: Zones = {}
    for comp in cal.subcomponents:
        if comp.name == "VTIMEZONE" and "TZID" in comp:
            name = iana_zone(str(comp["TZID"]))
            if name is not None:
                found.setdefault(name, comp)
    return found


def as_sent(value: date | datetime, zones: Zones | None) -> date | datetime:
    """The value with the client's VTIMEZONE where the zone database has only
    local mean time for it; otherwise the value itself."""
    if not zones or not isinstance(value, datetime) or value.tzinfo is None:
        return value
    key = getattr(value.tzinfo, "key", None)
    if key is None or key not in zones or value.tzname() != LOCAL_MEAN_TIME:
        return value
    try:
        sent: tzinfo = zones[key].to_tz(lookup_tzid=False)
    except Exception:  # noqa: BLE001 - a VTIMEZONE it cannot read: the database's zone
        return value
    return value.replace(tzinfo=sent)
