"""The 5xx the series hunt found (issue 20, item 1), one by one over real HTTP.

Each was a 500 (or a PUT that ran for tens of seconds) on main: rules whose
BYxxx parts never match (dateutil steps day by day to the year 9999, and
UNTIL does not stop it), rules dateutil fails on only while walking them,
dates that leave the years 1-9999 once in UTC, and stored series that
vobject (Radicale's fallback for REPORTs) cannot filter or expand.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import requests

NS = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'


def ics(*lines: str, uid: str | None = None) -> str:
    body = "\r\n".join(lines)
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//edges//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid or uuid.uuid4().hex}\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:x\r\n"
            f"{body}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest.fixture
def zoned_cal(server, account, sql) -> Iterator[tuple[requests.Session, str]]:
    """A calendar with a zone of its own (UTC+14), where all-day dates are placed."""
    href = "k" + uuid.uuid4().hex[:8]
    sql.execute("INSERT INTO calendars (tenant_id, name, href, timezone) "
                "VALUES (%s, 'Kiribati', %s, 'Pacific/Kiritimati')", (account.tenant_id, href))
    with requests.Session() as http:
        http.auth = (account.username, account.password)
        yield http, f"{server.url}{account.username}/{href}/"


def _put(http: requests.Session, url: str, text: str) -> requests.Response:
    return http.put(url + uuid.uuid4().hex + ".ics", data=text.encode(), timeout=120,
                    headers={"Content-Type": "text/calendar; charset=utf-8"})


@pytest.mark.parametrize("rule", [
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",  # never: walked to the year 9999
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;COUNT=3",
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;UNTIL=20270101T000000Z",  # UNTIL does not stop it
    "FREQ=SECONDLY;BYSETPOS=2",  # a set of one second has no second element
])
def test_a_rule_that_never_occurs_is_stored_quickly(zoned_cal, rule: str) -> None:
    """Valid RFC 5545 with no occurrence: stored as sent, found nowhere, at a bounded cost."""
    http, url = zoned_cal
    uid = "never-" + uuid.uuid4().hex[:8]
    began = time.monotonic()
    r = _put(http, url, ics("DTSTART:20260101T090000Z", "DURATION:PT1H", f"RRULE:{rule}",
                            uid=uid))
    assert r.status_code == 201, (r.status_code, r.text)
    for expand in (False, True):
        assert uid not in _report(http, url, "20260101T000000Z", "20270101T000000Z", expand)
    assert time.monotonic() - began < 5  # main: 15-40 s of CPU per PUT, or a 500


def test_a_rare_rule_is_stored_and_indexed(zoned_cal) -> None:
    """Sparse is not empty: the 29th of February every leap year, from a daily rule."""
    http, url = zoned_cal
    r = _put(http, url, ics("DTSTART:20260101T090000Z", "DURATION:PT1H",
                            "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;COUNT=2"))
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("rule", [
    "FREQ=DAILY;BYSECOND=60",  # dateutil: "second must be in 0..59", while walking
    "FREQ=MONTHLY;BYWEEKNO=1;BYDAY=53MO;BYSETPOS=1",  # dateutil: IndexError
    "FREQ=MINUTELY;INTERVAL=1440;BYHOUR=3",  # dateutil: "empty rule", while walking
])
def test_a_rule_dateutil_fails_on_while_walking_is_a_4xx(zoned_cal, rule: str) -> None:
    http, url = zoned_cal
    r = _put(http, url, ics("DTSTART:20260101T090000Z", "DURATION:PT1H", f"RRULE:{rule}"))
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert "recurrence rule" in r.text


@pytest.mark.parametrize("lines", [
    ("DTSTART;TZID=Asia/Tokyo:00010101T000000",),  # at +09:18:59 (LMT): the year 0 in UTC
    ("DTSTART;TZID=America/New_York:99991231T230000", "DURATION:PT1H"),  # the year 10000
    ("DTSTART:99991231T000000Z", "DURATION:P2D"),
])
def test_a_date_outside_the_years_1_to_9999_in_utc_is_a_4xx(zoned_cal, lines) -> None:
    http, url = zoned_cal
    r = _put(http, url, ics(*lines))
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert "outside the years 1 to 9999" in r.text  # main: "not valid iCalendar: ..."


def test_a_series_near_the_year_9999_is_stored(zoned_cal) -> None:
    """Its last occurrences would end past 9999 in UTC: they end at the calendar's end."""
    http, url = zoned_cal
    r = _put(http, url, ics("DTSTART;TZID=America/New_York:99991229T200000", "DURATION:PT1H",
                            "RRULE:FREQ=HOURLY;COUNT=100"))
    assert r.status_code == 201, r.text


def _report(http: requests.Session, url: str, start: str, end: str, expand: bool) -> str:
    data = (f'<C:calendar-data><C:expand start="{start}" end="{end}"/></C:calendar-data>'
            if expand else "<C:calendar-data/>")
    r = http.request("REPORT", url, timeout=60, headers={"Depth": "1"}, data=(
        f'<C:calendar-query {NS}><D:prop><D:getetag/>{data}</D:prop><C:filter>'
        '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        f'<C:time-range start="{start}" end="{end}"/></C:comp-filter></C:comp-filter>'
        "</C:filter></C:calendar-query>").encode())
    assert r.status_code == 207, (r.status_code, r.text[:300])
    return r.text.replace("\r\n ", "")


@pytest.mark.parametrize("expand", [False, True])
def test_rdates_mixing_floating_and_zoned_values_do_not_break_a_report(
        zoned_cal, expand: bool) -> None:
    """Asked about years past its indexed horizon, the series is Radicale's to
    check, and vobject cannot sort floating and zoned RDATEs together."""
    http, url = zoned_cal
    uid = "mixed-" + uuid.uuid4().hex[:8]
    r = _put(http, url, ics("DTSTART;TZID=Europe/Berlin:20260105T090000", "DURATION:PT1H",
                            "RRULE:FREQ=WEEKLY", "RDATE:20310107T090000",
                            "RDATE;TZID=Europe/Berlin:20310108T090000", uid=uid))
    assert r.status_code == 201, r.text
    found = _report(http, url, "20310106T000000Z", "20310110T000000Z", expand)
    assert uid in found
    assert uid not in _report(http, url, "20310101T120000Z", "20310101T130000Z", expand)


def test_overrides_without_their_master_expand(zoned_cal) -> None:
    """vobject refuses to expand a resource with no master (400 for the whole REPORT)."""
    http, url = zoned_cal
    uid = "orphan-" + uuid.uuid4().hex[:8]
    text = ics("RECURRENCE-ID:20260301T090000Z", "DTSTART:20260301T100000Z",
               "DURATION:PT1H", uid=uid)
    assert _put(http, url, text).status_code == 201
    found = _report(http, url, "20260301T000000Z", "20260302T000000Z", True)
    assert uid in found and "DTSTART:20260301T100000Z" in found
