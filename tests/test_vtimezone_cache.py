"""The shared VTIMEZONE conversion gives vobject the right offsets, once per text."""

from __future__ import annotations

from datetime import datetime, timedelta

import vobject

from backside_caldav.dav import vtimezone_cache

BERLIN = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//t//EN\r
BEGIN:VTIMEZONE\r
TZID:Europe/Berlin\r
BEGIN:STANDARD\r
DTSTART:19701025T030000\r
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:19700329T020000\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
END:DAYLIGHT\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20260101T000000Z\r
DTSTART;TZID=Europe/Berlin:{start}\r
SUMMARY:x\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_same_vtimezone_text_is_converted_once_with_right_offsets() -> None:
    vtimezone_cache.install()
    vtimezone_cache.install()  # idempotent
    summer = vobject.readOne(BERLIN.format(uid="a", start="20260710T090000"))
    winter = vobject.readOne(BERLIN.format(uid="b", start="20261210T090000"))
    summer_start, winter_start = summer.vevent.dtstart.value, winter.vevent.dtstart.value
    assert summer_start.utcoffset() == timedelta(hours=2)
    assert winter_start.utcoffset() == timedelta(hours=1)
    assert summer.vtimezone.tzinfo is winter.vtimezone.tzinfo
    # The night the clocks go back, both sides of the change.
    tz = summer.vtimezone.tzinfo
    assert datetime(2026, 10, 25, 1, 30, tzinfo=tz).utcoffset() == timedelta(hours=2)
    assert datetime(2026, 10, 25, 3, 30, tzinfo=tz).utcoffset() == timedelta(hours=1)
