"""Exclusions that were ignored (issue 20, item 2), over real HTTP.

`EXDATE;VALUE=DATE:20260203` on a timed daily series (as Apple, Google and
Outlook exporters write it) removes that day's 08:00 occurrence in the
series' zone, for every reader: calendar-query time-range, expand,
free-busy (CalDAV and the JSON API), the instance index and the JSON API's
event list. A DTSTART before 1900 is read with the client's VTIMEZONE
(+01:00 for Berlin), not the zone database's local mean time (+00:53:28).
The client's bytes come back unchanged either way. Expected values are
written by hand: 08:00 Berlin in winter is 07:00Z; 09:00 at +01:00 is 08:00Z.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
import requests
from series_strategies import BERLIN_VTIMEZONE
from test_sidecar_api import Api, new_api

SERIES = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Exporter//EN\r\n{zones}BEGIN:VEVENT\r\n"
          "UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
          "DTSTART;TZID=Europe/Berlin:{start}\r\nDTEND;TZID=Europe/Berlin:{end}\r\n"
          "SUMMARY:Standup\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n")
NS = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'


@pytest.fixture
def api(server, database_url, sql) -> Iterator[Api]:
    a = new_api(server, database_url, sql)
    yield a
    a.session.close()


@pytest.fixture
def dav(api: Api) -> Iterator[tuple[requests.Session, str]]:
    """A logged-in session and the URL of the API caller's calendar."""
    calendars = api.get("/calendars").json()["calendars"]
    url = f"{api.base.removesuffix('api/v1')}{api.account.username}/{calendars[0]['href']}/"
    with requests.Session() as http:
        http.auth = (api.account.username, api.account.password)
        yield http, url


def _put(http: requests.Session, url: str, text: str) -> str:
    href = url + uuid.uuid4().hex + ".ics"
    r = http.put(href, data=text.encode(), headers={"Content-Type": "text/calendar"})
    assert r.status_code == 201, (r.status_code, r.text)
    assert http.get(href).content == text.encode()
    return href


def _report(http: requests.Session, url: str, body: str) -> str:
    r = http.request("REPORT", url, data=body.encode(),
                     headers={"Depth": "1", "Content-Type": "application/xml"})
    assert r.status_code in (200, 207), (r.status_code, r.text)
    return r.text.replace("\r\n ", "")


def _query(http: requests.Session, url: str, start: str, end: str, expand: bool = False
           ) -> str:
    data = (f'<C:calendar-data><C:expand start="{start}" end="{end}"/></C:calendar-data>'
            if expand else "")
    return _report(http, url, f'<C:calendar-query {NS}><D:prop><D:getetag/>{data}</D:prop>'
                   '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
                   f'<C:time-range start="{start}" end="{end}"/></C:comp-filter></C:comp-filter>'
                   "</C:filter></C:calendar-query>")


def _freebusy(http: requests.Session, url: str, start: str, end: str) -> list[str]:
    text = _report(http, url, f'<C:free-busy-query {NS}><C:time-range start="{start}" '
                   f'end="{end}"/></C:free-busy-query>')
    return [line for line in text.splitlines() if line.startswith("FREEBUSY")]


def test_a_date_exdate_removes_that_days_occurrence_everywhere(api: Api, dav, sql) -> None:
    http, url = dav
    uid = "exdate-" + uuid.uuid4().hex[:8]
    text = SERIES.format(zones="", uid=uid, start="20260201T080000", end="20260201T090000",
                         extra="RRULE:FREQ=DAILY\r\nEXDATE;VALUE=DATE:20260203\r\n")
    href = _put(http, url, text)
    # calendar-query time-range: the 3rd's 08:00 (07:00Z) is gone, the 4th's is there.
    assert href.rsplit("/", 1)[1] not in _query(http, url, "20260203T063000Z", "20260203T073000Z")
    assert href.rsplit("/", 1)[1] in _query(http, url, "20260204T063000Z", "20260204T073000Z")
    # expand: the occurrences of the 1st to the 5th, without the 3rd.
    expanded = _query(http, url, "20260201T000000Z", "20260206T000000Z", expand=True)
    assert re.findall(r"RECURRENCE-ID[^:]*:(\d{8}T\d{6}Z?)", expanded) == [
        "20260201T070000Z", "20260202T070000Z", "20260204T070000Z", "20260205T070000Z"]
    # CalDAV free-busy.
    assert _freebusy(http, url, "20260203T000000Z", "20260204T000000Z") == []
    assert _freebusy(http, url, "20260204T000000Z", "20260205T000000Z") == [
        "FREEBUSY;FBTYPE=BUSY:20260204T070000Z/20260204T080000Z"]
    # The JSON API's free-busy and event list.
    window = {"start": "2026-02-01T00:00:00Z", "end": "2026-02-06T00:00:00Z"}
    busy = api.get("/freebusy", **window).json()["busy"]
    assert [b["start"] for b in busy] == ["2026-02-01T07:00:00Z", "2026-02-02T07:00:00Z",
                                          "2026-02-04T07:00:00Z", "2026-02-05T07:00:00Z"]
    listed = api.get("/events", **window).json()["data"]
    assert [e["occurrence_start"] for e in listed] == [
        "2026-02-01T07:00:00Z", "2026-02-02T07:00:00Z", "2026-02-04T07:00:00Z",
        "2026-02-05T07:00:00Z"]
    # The instance index itself.
    starts = [r[0].strftime("%Y-%m-%dT%H:%M") for r in sql.execute(
        "SELECT i.start_time AT TIME ZONE 'UTC' FROM event_instances i JOIN events e "
        "ON e.id = i.event_id WHERE e.uid = %s AND i.start_time < '2026-02-06' "
        "ORDER BY i.start_time", (uid,))]
    assert starts == ["2026-02-01T07:00", "2026-02-02T07:00", "2026-02-04T07:00",
                      "2026-02-05T07:00"]


def test_a_date_exdate_removes_every_occurrence_of_that_day(api: Api, dav) -> None:
    """A rule with two occurrences a day loses both on the excluded day."""
    http, url = dav
    text = SERIES.format(zones="", uid="twice-" + uuid.uuid4().hex[:8],
                         start="20260201T080000", end="20260201T083000",
                         extra="RRULE:FREQ=DAILY;BYHOUR=8,17;COUNT=6\r\n"
                               "EXDATE;VALUE=DATE:20260202\r\n")
    _put(http, url, text)
    listed = api.get("/events", start="2026-02-01T00:00:00Z",
                     end="2026-02-06T00:00:00Z").json()["data"]
    assert [e["occurrence_start"] for e in listed] == [
        "2026-02-01T07:00:00Z", "2026-02-01T16:00:00Z", "2026-02-03T07:00:00Z",
        "2026-02-03T16:00:00Z"]


def test_a_start_before_1900_is_read_with_the_sent_vtimezone(dav, sql) -> None:
    http, url = dav
    uid = "old-" + uuid.uuid4().hex[:8]
    text = SERIES.format(zones=BERLIN_VTIMEZONE, uid=uid, start="18500101T090000",
                         end="18500101T100000", extra="")
    href = _put(http, url, text)
    row = sql.execute("SELECT start_time AT TIME ZONE 'UTC', end_time AT TIME ZONE 'UTC' "
                      "FROM events WHERE uid = %s", (uid,)).fetchone()
    assert [v.isoformat() for v in row] == ["1850-01-01T08:00:00", "1850-01-01T09:00:00"]
    assert _freebusy(http, url, "18500101T000000Z", "18500102T000000Z") == [
        "FREEBUSY;FBTYPE=BUSY:18500101T080000Z/18500101T090000Z"]
    # 08:00Z-08:03Z holds the start as sent; local mean time would put it at 08:06:32Z.
    assert href.rsplit("/", 1)[1] in _query(http, url, "18500101T080000Z", "18500101T080300Z")
