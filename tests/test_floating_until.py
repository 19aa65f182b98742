"""A zoned DTSTART with a floating UNTIL (no Z), as many exporters write it:
RFC 5545 wants UTC there, dateutil refuses it, and the PUT answered 500. It is
read as wall time in DTSTART's zone: the PUT succeeds, the client's bytes come
back unchanged, and the occurrences run through UNTIL inclusive."""

from __future__ import annotations

import pytest
import requests
from test_sidecar_api import Api, new_api

TEXT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Exporter//EN\r\nBEGIN:VEVENT\r\n"
        "UID:floating-until\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART;TZID=Europe/Berlin:20260302T090000\r\n"
        "DTEND;TZID=Europe/Berlin:20260302T100000\r\nSUMMARY:Daily\r\n"
        "RRULE:FREQ=DAILY;UNTIL={until}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest.fixture
def api(server, database_url, sql):
    a = new_api(server, database_url, sql)
    yield a
    a.session.close()


@pytest.mark.parametrize(("until", "last"), [
    ("20260305T090000", "2026-03-05T08:00:00Z"),  # floating: 09:00 Berlin, inclusive
    ("20260305T085959", "2026-03-04T08:00:00Z"),  # a second before the 5th's start
    ("20260305T080000Z", "2026-03-05T08:00:00Z"),  # UTC, as RFC 5545 asks
])
def test_a_floating_until_is_read_in_the_start_zone(api: Api, until: str, last: str) -> None:
    calendars = api.get("/calendars").json()["calendars"]
    url = (f"{api.base.removesuffix('api/v1')}{api.account.username}/"
           f"{calendars[0]['href']}/floating-until.ics")
    auth = (api.account.username, api.account.password)
    text = TEXT.format(until=until)
    r = requests.put(url, data=text.encode(), auth=auth, timeout=30,
                     headers={"Content-Type": "text/calendar; charset=utf-8"})
    assert r.status_code == 201, (r.status_code, r.text)
    assert requests.get(url, auth=auth, timeout=30).text == text
    listed = api.get("/events", start="2026-03-01T00:00:00Z", end="2026-03-10T00:00:00Z")
    starts = [d["occurrence_start"] for d in listed.json()["data"]]
    assert starts[0] == "2026-03-02T08:00:00Z" and starts[-1] == last
