"""TZIDs that real files carry and the server refused or misread (issue 20 item 3):
RFC 5545's globally unique form ("/Europe/Stockholm") is the IANA zone, and an
Outlook name without a VTIMEZONE ("Western/Central Europe") is read in the
calendar's zone, logged once per name. Both are stored byte for byte."""

from __future__ import annotations

import re
import time
import uuid

import requests
from test_freebusy import freebusy
from test_rscale import hrefs, put, query

STOCKHOLM = ("BEGIN:VTIMEZONE\r\nTZID:/Europe/Stockholm\r\nBEGIN:STANDARD\r\n"
             "DTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"
             "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\n"
             "DTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
             "TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n")


def weekly(uid: str, tzid: str, vtimezone: str = "") -> str:
    """Tuesdays 09:00-10:00 from March 17, 2026, four times: two before and
    two after the EU's summer time starts (March 29)."""
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Exporter//EN\r\n" + vtimezone +
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
            f"DTSTART;TZID={tzid}:20260317T090000\r\nDTEND;TZID={tzid}:20260317T100000\r\n"
            f"RRULE:FREQ=WEEKLY;COUNT=4\r\nEXDATE;TZID={tzid}:20260324T090000\r\n"
            f"SUMMARY:{uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def starts(http: requests.Session, cal_url: str) -> list[str]:
    expanded = query(http, cal_url, "20260301T000000Z", "20260501T000000Z", expand=True)
    return sorted(set(re.findall(r"DTSTART:(\d{8}T\d{6}Z)", expanded)))


# 09:00 in Stockholm/Berlin: 08:00Z in winter time, 07:00Z in summer time.
EXPECTED = ["20260317T080000Z", "20260331T070000Z", "20260407T070000Z"]


def test_a_globally_unique_tzid_is_the_iana_zone(http, cal) -> None:
    cal_url, _ = cal
    for name, text in (("bare.ics", weekly("bare", "/Europe/Stockholm")),
                       ("with.ics", weekly("with", "/Europe/Stockholm", STOCKHOLM))):
        r = put(http, cal_url + name, text)
        assert r.status_code == 201, (r.status_code, r.text)
        assert http.get(cal_url + name).content == text.encode()
    assert starts(http, cal_url) == EXPECTED
    assert sorted(hrefs(query(http, cal_url, "20260331T070000Z", "20260331T073000Z"))) == [
        "bare.ics", "with.ics"]
    assert hrefs(query(http, cal_url, "20260324T080000Z", "20260324T090000Z")) == []
    busy = freebusy(http, cal_url, "20260331T000000Z", "20260401T000000Z")
    assert busy and "20260331T070000Z/20260331T080000Z" in busy[0]


def test_an_unknown_tzid_is_read_in_the_calendars_zone(http, cal, sql, server) -> None:
    cal_url, cal_id = cal
    sql.execute("UPDATE calendars SET timezone = 'Europe/Berlin' WHERE id = %s", (cal_id,))
    outlook = '"Western/Central Europe"'
    text = weekly("outlook", outlook)
    r = put(http, cal_url + "outlook.ics", text)
    assert r.status_code == 201, (r.status_code, r.text)
    assert http.get(cal_url + "outlook.ics").content == text.encode()
    assert starts(http, cal_url) == EXPECTED
    assert hrefs(query(http, cal_url, "20260407T070000Z", "20260407T073000Z")) == [
        "outlook.ics"]
    busy = freebusy(http, cal_url, "20260317T000000Z", "20260318T000000Z")
    assert busy and "20260317T080000Z/20260317T090000Z" in busy[0]


def test_an_unknown_tzid_is_logged_once_per_name(http, cal, server) -> None:
    cal_url, _ = cal
    name = f"Made-up Zone {uuid.uuid4().hex[:8]}"
    for n in range(3):
        r = put(http, cal_url + f"z{n}.ics", weekly(f"z{n}", f'"{name}"'))
        assert r.status_code == 201, (r.status_code, r.text)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        logged = server.log.read_text(errors="replace").count(name)
        if logged:
            break
        time.sleep(0.1)
    assert logged == 1, logged


def test_an_unknown_tzid_series_with_a_moved_instance(http, cal, sql) -> None:
    """The override's RECURRENCE-ID is placed like the series (expand finds the
    instance it replaces), and an endless series is found past the index's
    horizon, where Radicale's own matcher would compare naive and zoned times."""
    cal_url, cal_id = cal
    sql.execute("UPDATE calendars SET timezone = 'Europe/Berlin' WHERE id = %s", (cal_id,))
    tz = '"Western/Central Europe"'
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Exporter//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:moved\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID={tz}:20260317T090000\r\n"
            f"DTEND;TZID={tz}:20260317T100000\r\nRRULE:FREQ=WEEKLY\r\nSUMMARY:series\r\n"
            "END:VEVENT\r\nBEGIN:VEVENT\r\nUID:moved\r\nDTSTAMP:20260101T000000Z\r\n"
            f"RECURRENCE-ID;TZID={tz}:20260331T090000\r\nDTSTART;TZID={tz}:20260331T110000\r\n"
            f"DTEND;TZID={tz}:20260331T120000\r\nSUMMARY:moved\r\nEND:VEVENT\r\n"
            "END:VCALENDAR\r\n")
    r = put(http, cal_url + "moved.ics", text)
    assert r.status_code == 201, (r.status_code, r.text)
    expanded = query(http, cal_url, "20260330T000000Z", "20260408T000000Z", expand=True)
    assert re.findall(r"RECURRENCE-ID:(\S+)", expanded) == ["20260331T070000Z",
                                                            "20260407T070000Z"]
    assert "DTSTART:20260331T090000Z" in expanded  # 11:00 summer time in Berlin
    # Two years on, past the index's horizon; a Tuesday at 09:00 summer time.
    assert hrefs(query(http, cal_url, "20280704T070000Z", "20280704T073000Z")) == [
        "moved.ics"]
    assert hrefs(query(http, cal_url, "20280705T070000Z", "20280705T073000Z")) == []


def test_a_time_range_with_a_text_match_reads_unknown_tzids_in_the_calendars_zone(
        http, cal, sql) -> None:
    """Radicale decides such a query itself, and vobject reads a TZID that names
    no zone as floating time (09:00 UTC instead of 09:00 Berlin)."""
    cal_url, cal_id = cal
    sql.execute("UPDATE calendars SET timezone = 'Europe/Berlin' WHERE id = %s", (cal_id,))
    tz = '"Western/Central Europe"'
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Exporter//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:moved\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID={tz}:20260317T090000\r\n"
            f"DTEND;TZID={tz}:20260317T100000\r\nRRULE:FREQ=WEEKLY\r\nSUMMARY:series\r\n"
            f"EXDATE;TZID={tz}:20260407T090000\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:moved\r\n"
            f"DTSTAMP:20260101T000000Z\r\nRECURRENCE-ID;TZID={tz}:20260331T090000\r\n"
            f"DTSTART;TZID={tz}:20260331T110000\r\nDTEND;TZID={tz}:20260331T120000\r\n"
            "SUMMARY:moved\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    assert put(http, cal_url + "moved.ics", text).status_code == 201

    def matching(start: str, end: str, word: str) -> list[str]:
        body = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
                'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>'
                '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
                f'<C:time-range start="{start}" end="{end}"/><C:prop-filter name="SUMMARY">'
                f'<C:text-match>{word}</C:text-match></C:prop-filter></C:comp-filter>'
                '</C:comp-filter></C:filter></C:calendar-query>')
        r = http.request("REPORT", cal_url, data=body,
                         headers={"Depth": "1", "Content-Type": "application/xml"})
        assert r.status_code == 207, (r.status_code, r.text)
        return hrefs(r.text)

    assert matching("20260324T080000Z", "20260324T083000Z", "series") == ["moved.ics"]
    assert matching("20260324T090000Z", "20260324T093000Z", "series") == []
    assert matching("20260331T090000Z", "20260331T093000Z", "moved") == ["moved.ics"]
    assert matching("20260331T070000Z", "20260331T073000Z", "series") == []
    assert matching("20260407T070000Z", "20260407T073000Z", "series") == []  # excluded
    assert matching("20280704T070000Z", "20280704T073000Z", "series") == ["moved.ics"]
