"""Free-busy REPORTs (RFC 4791 7.10) over real HTTP: the owner's own answer,
other writers changing it with SQL, and instance lengths the index must get
right (nominal DURATION days across DST, RDATE periods).

Expected periods are written by hand from RFC 5545; the owner of a calendar
is the tenant's login when it is an email address (accounts.owner_addresses).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
import requests

from backside_caldav.db import accounts, maintenance
from backside_caldav.db import engines as db
from backside_caldav.domain.errors import InvalidCalendarData
from backside_caldav.domain.ical_parse import parse_resource

UTC = timezone.utc


def event(uid: str, start: str, end: str, extra: str = "") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\n"
            f"SUMMARY:{uid}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n")


def attendee(address: str, partstat: str) -> str:
    return f"ATTENDEE;PARTSTAT={partstat}:mailto:{address}\r\n"


def freebusy(http: requests.Session, url: str, start: str, end: str) -> list[str]:
    body = ('<?xml version="1.0"?><c:free-busy-query xmlns:c="urn:ietf:params:xml:ns:caldav">'
            f'<c:time-range start="{start}" end="{end}"/></c:free-busy-query>')
    r = http.request("REPORT", url, data=body,
                     headers={"Depth": "1", "Content-Type": "application/xml"})
    assert r.status_code == 200, r.text
    return [line for line in r.text.replace("\r\n ", "").splitlines()
            if line.startswith("FREEBUSY")]


def put(http: requests.Session, url: str, text: str) -> None:
    r = http.put(url, data=text, headers={"Content-Type": "text/calendar"})
    assert r.status_code in (201, 204), r.text


@pytest.fixture
def owner(server, database_url: str, sql) -> Iterator[tuple[requests.Session, str, str, str]]:
    """A login that is an email address, its calendar: (session, address, url, tenant)."""
    suffix = uuid.uuid4().hex[:8]
    address, password = f"ann.{suffix}@example.com", "correct horse " + suffix
    tenant = accounts.add_account(db.get_engine(database_url), address, f"t-{suffix}", password)
    href = "c" + suffix
    sql.execute("INSERT INTO calendars (tenant_id, name, href) VALUES (%s, 'Work', %s)",
                (tenant, href))
    session = requests.Session()
    session.auth = (address, password)
    yield session, address, f"{server.url}{address}/{href}/", tenant
    session.close()


def test_owner_answers_decide_what_blocks(owner) -> None:
    http, me, url, _ = owner
    for name, hours, extra in (
            ("declined", ("09", "10"), attendee(me, "DECLINED")),
            ("accepted", ("11", "12"), attendee(me.upper(), "ACCEPTED")),
            ("tentative", ("13", "14"), attendee(me, "TENTATIVE")),
            ("not-me", ("15", "16"), attendee("bob@example.com", "DECLINED")),
            ("no-answer", ("17", "18"), attendee(me, "NEEDS-ACTION"))):
        put(http, url + f"{name}.ics", event(name, f"20300107T{hours[0]}0000Z",
                                             f"20300107T{hours[1]}0000Z", extra))
    assert freebusy(http, url, "20300107T000000Z", "20300108T000000Z") == [
        "FREEBUSY;FBTYPE=BUSY:20300107T110000Z/20300107T120000Z",
        "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20300107T130000Z/20300107T140000Z",
        "FREEBUSY;FBTYPE=BUSY:20300107T150000Z/20300107T160000Z",
        "FREEBUSY;FBTYPE=BUSY:20300107T170000Z/20300107T180000Z"]


def test_owner_declining_one_occurrence_frees_only_that_one(owner) -> None:
    http, me, url, _ = owner
    master = ("BEGIN:VEVENT\r\nUID:weekly\r\nDTSTAMP:20260101T000000Z\r\n"
              "DTSTART:20300107T090000Z\r\nDTEND:20300107T100000Z\r\n"
              "RRULE:FREQ=WEEKLY;COUNT=3\r\nSUMMARY:Weekly\r\n"
              f"{attendee(me, 'ACCEPTED')}END:VEVENT\r\n")
    moved = ("BEGIN:VEVENT\r\nUID:weekly\r\nDTSTAMP:20260101T000000Z\r\n"
             "RECURRENCE-ID:20300114T090000Z\r\n"
             "DTSTART:20300114T090000Z\r\nDTEND:20300114T100000Z\r\nSUMMARY:Weekly\r\n"
             f"{attendee(me, 'DECLINED')}END:VEVENT\r\n")
    put(http, url + "weekly.ics", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n"
        f"{master}{moved}END:VCALENDAR\r\n")
    assert freebusy(http, url, "20300101T000000Z", "20300201T000000Z") == [
        "FREEBUSY;FBTYPE=BUSY:20300107T090000Z/20300107T100000Z",
        "FREEBUSY;FBTYPE=BUSY:20300121T090000Z/20300121T100000Z"]


def test_sql_writer_declining_for_the_owner_is_seen(owner, sql, database_url) -> None:
    http, me, url, tenant = owner
    put(http, url + "sql.ics", event("sql", "20300107T170000Z", "20300107T180000Z",
                                     attendee(me, "ACCEPTED")))
    busy = ["FREEBUSY;FBTYPE=BUSY:20300107T170000Z/20300107T180000Z"]
    assert freebusy(http, url, "20300107T000000Z", "20300108T000000Z") == busy

    def answer(status: str) -> None:
        done = sql.execute(
            "UPDATE event_attendees a SET rsvp_status = %s FROM events e "
            "WHERE e.tenant_id = a.tenant_id AND e.id = a.event_id AND e.tenant_id = %s "
            "AND e.uid = 'sql'", (status, tenant)).rowcount
        assert done == 1

    answer("declined")  # before the maintenance pass: the series is stale
    assert freebusy(http, url, "20300107T000000Z", "20300108T000000Z") == []
    assert maintenance.reindex(db.get_engine(database_url),
                               now=datetime(2030, 1, 1, tzinfo=UTC)) >= 1
    stale = sql.execute("SELECT occurrence_stale FROM events WHERE tenant_id = %s "
                        "AND uid = 'sql'", (tenant,)).fetchone()[0]
    assert stale is False  # from here on the index answers
    assert freebusy(http, url, "20300107T000000Z", "20300108T000000Z") == []
    answer("tentative")
    assert freebusy(http, url, "20300107T000000Z", "20300108T000000Z") == [
        "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20300107T170000Z/20300107T180000Z"]
    answer("accepted")
    assert freebusy(http, url, "20300107T000000Z", "20300108T000000Z") == busy


def test_a_login_that_is_no_email_address_has_no_answers(http, account, cal) -> None:
    url, _ = cal
    put(http, url + "d.ics", event("d", "20300107T090000Z", "20300107T100000Z",
                                   attendee(account.username, "DECLINED")))
    assert freebusy(http, url, "20300107T000000Z", "20300108T000000Z") == [
        "FREEBUSY;FBTYPE=BUSY:20300107T090000Z/20300107T100000Z"]


NOMINAL_DAY = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
               "UID:p1d\r\nDTSTAMP:20260101T000000Z\r\n"
               "DTSTART;TZID=Europe/Berlin:20300329T100000\r\nDURATION:P1D\r\n"
               "RRULE:FREQ=DAILY;COUNT=3\r\nSUMMARY:Whole day from ten\r\n"
               "END:VEVENT\r\nEND:VCALENDAR\r\n")
# Berlin goes to summer time on 2030-03-31: the instance from 10:00 CET on the
# 30th ends at 10:00 CEST on the 31st (RFC 5545 3.3.6), 23 exact hours.
NOMINAL_INSTANCES = [
    (datetime(2030, 3, 29, 9, tzinfo=UTC), datetime(2030, 3, 30, 9, tzinfo=UTC)),
    (datetime(2030, 3, 30, 9, tzinfo=UTC), datetime(2030, 3, 31, 8, tzinfo=UTC)),
    (datetime(2030, 3, 31, 8, tzinfo=UTC), datetime(2030, 4, 1, 8, tzinfo=UTC)),
]
# Radicale 3.9 refuses RDATE;VALUE=PERIOD from clients while vobject is 0.9.9
# (its check_and_sanitize_items), so periods arrive from other writers.
PERIODS_SQL = (
    "INSERT INTO events (tenant_id, calendar_id, uid, title, start_time, end_time, timezone, "
    "rdates, rdate_periods) VALUES (%s, %s, 'periods', 'Sessions', '2030-05-06 13:00Z', "
    "'2030-05-06 14:00Z', 'Europe/Berlin', "
    "ARRAY['2030-05-08 13:00Z', '2030-05-10 13:00Z']::timestamptz[], "
    "ARRAY['[2030-05-08 13:00Z, 2030-05-08 16:00Z]', "
    "'[2030-05-10 13:00Z, 2030-05-10 13:30Z]']::tstzrange[])")
PERIOD_INSTANCES = [
    (datetime(2030, 5, 6, 13, tzinfo=UTC), datetime(2030, 5, 6, 14, tzinfo=UTC)),
    (datetime(2030, 5, 8, 13, tzinfo=UTC), datetime(2030, 5, 8, 16, tzinfo=UTC)),
    (datetime(2030, 5, 10, 13, tzinfo=UTC), datetime(2030, 5, 10, 13, 30, tzinfo=UTC)),
]


def indexed(sql, tenant: str, uid: str) -> list[tuple[datetime, datetime]]:
    return [tuple(r) for r in sql.execute(
        "SELECT i.start_time, i.end_time FROM event_instances i JOIN events e "
        "ON e.tenant_id = i.tenant_id AND e.id = i.event_id WHERE e.tenant_id = %s "
        "AND e.uid = %s ORDER BY i.start_time", (tenant, uid))]


def test_instance_lengths_in_the_index_and_free_busy(http, account, cal, sql,
                                                     database_url) -> None:
    url, cal_id = cal
    put(http, url + "p1d.ics", NOMINAL_DAY)
    sql.execute(PERIODS_SQL, (account.tenant_id, cal_id))
    assert indexed(sql, account.tenant_id, "p1d") == NOMINAL_INSTANCES

    def check() -> None:
        assert freebusy(http, url, "20300331T000000Z", "20300331T073000Z") == [
            "FREEBUSY;FBTYPE=BUSY:20300331T000000Z/20300331T073000Z"]
        assert freebusy(http, url, "20300331T073000Z", "20300331T080000Z") == [
            "FREEBUSY;FBTYPE=BUSY:20300331T073000Z/20300331T080000Z"]
        assert freebusy(http, url, "20300401T073000Z", "20300401T090000Z") == [
            "FREEBUSY;FBTYPE=BUSY:20300401T073000Z/20300401T080000Z"]
        assert freebusy(http, url, "20300508T000000Z", "20300511T000000Z") == [
            "FREEBUSY;FBTYPE=BUSY:20300508T130000Z/20300508T160000Z",
            "FREEBUSY;FBTYPE=BUSY:20300510T130000Z/20300510T133000Z"]

    check()  # the periods row is not indexed yet: expanded from its row
    maintenance.reindex(db.get_engine(database_url), now=datetime(2030, 1, 1, tzinfo=UTC))
    assert indexed(sql, account.tenant_id, "periods") == PERIOD_INSTANCES
    check()
    # Another writer touches the rows: answered from the rows until re-indexed.
    sql.execute("UPDATE events SET title = title || ' (edited)' WHERE tenant_id = %s "
                "AND uid IN ('p1d', 'periods')", (account.tenant_id,))
    check()
    maintenance.reindex(db.get_engine(database_url), now=datetime(2030, 1, 1, tzinfo=UTC))
    assert indexed(sql, account.tenant_id, "p1d") == NOMINAL_INSTANCES
    assert indexed(sql, account.tenant_id, "periods") == PERIOD_INSTANCES
    check()


def test_sql_writer_shortening_the_event_makes_its_length_exact(http, account, cal, sql,
                                                                database_url) -> None:
    """Nominal days that no longer fit the row's times are dropped: the row's
    own length applies to every instance, like a DTEND (RFC 5545 3.8.5.3)."""
    url, _ = cal
    put(http, url + "p1d.ics", NOMINAL_DAY)
    sql.execute("UPDATE events SET end_time = start_time + interval '2 hours' "
                "WHERE tenant_id = %s AND uid = 'p1d'", (account.tenant_id,))
    maintenance.reindex(db.get_engine(database_url), now=datetime(2030, 1, 1, tzinfo=UTC))
    assert indexed(sql, account.tenant_id, "p1d") == [
        (datetime(2030, 3, 29, 9, tzinfo=UTC), datetime(2030, 3, 29, 11, tzinfo=UTC)),
        (datetime(2030, 3, 30, 9, tzinfo=UTC), datetime(2030, 3, 30, 11, tzinfo=UTC)),
        (datetime(2030, 3, 31, 8, tzinfo=UTC), datetime(2030, 3, 31, 10, tzinfo=UTC))]
    text = http.get(url + "p1d.ics").text.replace("\r\n ", "")
    assert "DTEND;TZID=Europe/Berlin:20300329T120000" in text and "DURATION" not in text


def test_sql_writer_moving_a_nominal_day_keeps_it_nominal(http, account, cal, sql,
                                                          database_url) -> None:
    url, _ = cal
    put(http, url + "p1d.ics", NOMINAL_DAY)
    sql.execute("UPDATE events SET start_time = start_time - interval '1 day', "
                "end_time = end_time - interval '1 day', title = 'Moved' "
                "WHERE tenant_id = %s AND uid = 'p1d'", (account.tenant_id,))
    maintenance.reindex(db.get_engine(database_url), now=datetime(2030, 1, 1, tzinfo=UTC))
    assert indexed(sql, account.tenant_id, "p1d") == [
        (datetime(2030, 3, 28, 9, tzinfo=UTC), datetime(2030, 3, 29, 9, tzinfo=UTC)),
        (datetime(2030, 3, 29, 9, tzinfo=UTC), datetime(2030, 3, 30, 9, tzinfo=UTC)),
        (datetime(2030, 3, 30, 9, tzinfo=UTC), datetime(2030, 3, 31, 8, tzinfo=UTC))]
    text = http.get(url + "p1d.ics").text.replace("\r\n ", "")
    assert "DTSTART;TZID=Europe/Berlin:20300328T100000" in text
    assert "DURATION:P1D" in text and "DTEND" not in text


def test_rdate_period_ending_before_it_starts_is_refused() -> None:
    """Checked by the mapping itself (Radicale refuses every period before it)."""
    bad = NOMINAL_DAY.replace("RRULE:FREQ=DAILY;COUNT=3\r\n", "RDATE;VALUE=PERIOD:"
                              "20300508T130000Z/20300508T120000Z\r\n")
    with pytest.raises(InvalidCalendarData, match="RDATE period ends before it starts"):
        parse_resource(bad)
