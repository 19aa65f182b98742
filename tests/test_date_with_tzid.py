"""A DATE value written with a TZID parameter (DTSTART;VALUE=DATE;TZID=...),
as some exporters do, is still a day: the series is all-day, not a
zero-length event at local midnight (issue 20 review)."""

from datetime import date

from backside_caldav.domain.ical_parse import parse_resource

BODY = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:d1\r\n"
    "DTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE;TZID=Europe/Stockholm:20260101\r\n"
    "DTEND;VALUE=DATE;TZID=Europe/Stockholm:20260102\r\nRRULE:FREQ=DAILY;COUNT=3\r\n"
    "SUMMARY:day\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def test_date_with_tzid_is_all_day() -> None:
    event = parse_resource(BODY).events[0]
    assert event.is_all_day
    assert event.start_time.date() == date(2026, 1, 1)
    assert event.end_time is not None and event.end_time > event.start_time
