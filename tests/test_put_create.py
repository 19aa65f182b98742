"""A new event in a calendar PUT into before is written in one statement
(event_writes.create_if_new), without the put_target lookup; whenever anything is
in the way, the answer is the ordinary path's.

The `spied` server runs the application in this process and counts the
calls of event_writes.put_target.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
import requests
from conftest import calendar_session
from test_put import ICS, event, resources, todo

from backside_caldav.db import event_writes

ALL_DAY = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
           "UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20260310\r\n"
           "DTEND;VALUE=DATE:20260311\r\nSUMMARY:Holiday\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


SPIED = (event_writes, "put_target")  # counted by conftest's spied fixture


@pytest.fixture
def spied_cal(spied, database_url) -> Iterator[tuple[str, requests.Session, list[str], str]]:
    """(calendar URL, a logged-in session, put_target calls, tenant id); the
    calendar has had one PUT, so the server knows it."""
    base, calls = spied
    with calendar_session(base, database_url) as (url, http, account):
        assert http.put(url + "first.ics", data=event("first"), headers=ICS).status_code == 201
        yield url, http, calls, account.tenant_id


def test_a_create_skips_the_lookup_and_reads_back(spied_cal) -> None:
    url, http, calls, _ = spied_cal
    before = len(calls)
    answer = http.put(url + "new.ics", data=event("new", "Created"), headers=ICS)
    assert answer.status_code == 201
    assert len(calls) == before, "the create looked the target up first"
    got = http.get(url + "new.ics")
    assert got.status_code == 200 and "SUMMARY:Created" in got.text
    assert got.headers["ETag"] == answer.headers["ETag"]


@pytest.mark.parametrize("case, status", [
    ("href taken, other uid", 409),
    ("uid taken elsewhere", 409),
    ("if-match on a new href", 412),
    ("if-none-match on a taken href", 412),
])
def test_what_is_in_the_way_gets_the_ordinary_answer(spied_cal, sql, case, status) -> None:
    url, http, calls, tenant = spied_cal
    before = resources(sql, tenant)
    href, body, headers = {
        "href taken, other uid": ("first.ics", event("other"), {}),
        "uid taken elsewhere": ("elsewhere.ics", event("first"), {}),
        "if-match on a new href": ("fresh.ics", event("fresh"), {"If-Match": '"1"'}),
        "if-none-match on a taken href": ("first.ics", event("first"), {"If-None-Match": "*"}),
    }[case]
    answer = http.put(url + href, data=body, headers={**ICS, **headers})
    assert answer.status_code == status
    assert resources(sql, tenant) == before


def test_a_replacement_still_works(spied_cal, sql) -> None:
    url, http, _, tenant = spied_cal
    answer = http.put(url + "first.ics", data=event("first", "Changed"), headers=ICS)
    assert answer.status_code == 204
    assert "SUMMARY:Changed" in http.get(url + "first.ics").text
    assert resources(sql, tenant) == [("first.ics", "first")]


def test_a_calendar_made_again_under_the_same_name(spied_cal, sql) -> None:
    url, http, calls, tenant = spied_cal
    assert http.delete(url).status_code in (200, 204)
    assert http.request("MKCALENDAR", url).status_code == 201
    answer = http.put(url + "again.ics", data=event("again"), headers=ICS)
    assert answer.status_code == 201
    assert resources(sql, tenant) == [("again.ics", "again")]
    new_id = sql.execute("SELECT id::text FROM calendars WHERE tenant_id = %s AND href = 'cal'",
                         (tenant,)).fetchone()[0]
    assert sql.execute("SELECT calendar_id::text FROM events WHERE tenant_id = %s AND "
                       "href = 'again.ics'", (tenant,)).fetchone()[0] == new_id


def test_a_zone_set_by_another_application_places_all_day_events(spied_cal, sql) -> None:
    url, http, _, tenant = spied_cal
    sql.execute("UPDATE calendars SET timezone = 'Pacific/Auckland' WHERE tenant_id = %s "
                "AND href = 'cal'", (tenant,))
    assert http.put(url + "day.ics", data=ALL_DAY.format(uid="day"), headers=ICS).status_code \
        == 201
    start = sql.execute("SELECT start_time AT TIME ZONE 'UTC' FROM events WHERE tenant_id = %s "
                        "AND href = 'day.ics'", (tenant,)).fetchone()[0]
    # Midnight of 10 March in Auckland (UTC+13 in March) is 11:00 UTC on the 9th.
    assert start.isoformat() == "2026-03-09T11:00:00"


def test_refused_bodies_change_nothing(spied_cal, sql, database_url) -> None:
    url, http, _, tenant = spied_cal
    before = resources(sql, tenant)
    huge = event("loop").replace("DTEND", "RRULE:FREQ=MINUTELY\r\nDTEND")
    answer = http.put(url + "loop.ics", data=huge, headers=ICS)
    # RFC 4791 1.3 and 5.3.2.1: 403 CALDAV:max-instances
    assert answer.status_code == 403 and "too many occurrences" in answer.text
    assert "<C:max-instances/>" in answer.text
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE calendars SET components = ARRAY['VEVENT'] WHERE tenant_id = %s",
                     (tenant,))
    answer = http.put(url + "task.ics", data=todo("task"), headers=ICS)
    assert answer.status_code == 403  # CALDAV:supported-calendar-component
    assert "<C:supported-calendar-component/>" in answer.text
    assert resources(sql, tenant) == before
