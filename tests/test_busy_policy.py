"""One free-busy policy (domain/busy.py), asked over CalDAV and over the JSON API.

The same events sit in one calendar of a login that is an email address (so
the calendar has an owner); a real free-busy-query REPORT and the API's
/freebusy and /availability/check must name the same busy times. Expected
intervals are written by hand from the rules in busy.py's docstring (and the
README), never taken from the code's output.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest
import requests
from conftest import Account
from test_freebusy import attendee, event, put
from test_sidecar_api import Api, new_api, problem

from backside_caldav.db import accounts, maintenance
from backside_caldav.db import engines as db
from backside_caldav.domain import busy

UTC = timezone.utc
CAL = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n{}END:VCALENDAR\r\n"


@dataclass
class Owned:
    """A login that is an email address, its calendar over CalDAV and its API key."""

    http: requests.Session
    api: Api
    url: str  # the calendar's collection URL
    me: str  # the login, an owner address
    tenant_id: str


@pytest.fixture
def owned(server, database_url: str, sql) -> Iterator[Owned]:
    suffix = uuid.uuid4().hex[:8]
    me, password = f"ann.{suffix}@example.com", "correct horse " + suffix
    tenant = f"t-{suffix}"
    tenant_id = accounts.add_account(db.get_engine(database_url), me, tenant, password)
    # The tenant's one calendar (made with the login): all-day events are its dates.
    sql.execute("UPDATE calendars SET timezone = 'Europe/Berlin' WHERE tenant_id = %s",
                (tenant_id,))
    api = new_api(server, database_url, sql, account=Account(me, password, tenant, tenant_id))
    with requests.Session() as http:
        http.auth = (me, password)
        yield Owned(http, api, f"{server.url}{me}/calendar/", me, tenant_id)
    api.session.close()


def report(o: Owned, start: str, end: str, url: str | None = None) -> requests.Response:
    body = ('<?xml version="1.0"?><c:free-busy-query xmlns:c="urn:ietf:params:xml:ns:caldav">'
            f'<c:time-range start="{start}" end="{end}"/></c:free-busy-query>')
    return o.http.request("REPORT", url or o.url, data=body,
                          headers={"Depth": "1", "Content-Type": "application/xml"})


def caldav_periods(o: Owned, start: str, end: str) -> list[tuple[str, str, str]]:
    """(FBTYPE, start, end) of each FREEBUSY line, as the REPORT gives them."""
    r = report(o, start, end)
    assert r.status_code == 200, r.text
    found = []
    for line in r.text.replace("\r\n ", "").splitlines():
        if line.startswith("FREEBUSY"):
            params, period = line.split(":", 1)
            fbtype = params.split("FBTYPE=")[1]
            s, e = period.split("/")
            found.append((fbtype, s, e))
    return found


def iso(compact: str) -> str:
    """20300107T080000Z -> 2030-01-07T08:00:00Z, the API's form."""
    return datetime.strptime(compact, "%Y%m%dT%H%M%SZ").strftime("%Y-%m-%dT%H:%M:%SZ")


def api_answers(o: Owned, start: str, end: str, attendee_email: str | None = None
                ) -> tuple[dict, dict]:
    """(freebusy, availability check) for the window, both 200."""
    window = {"start": iso(start), "end": iso(end)}
    if attendee_email:
        window["attendee_email"] = attendee_email
    fb = o.api.get("/freebusy", **window)
    check = o.api.post("/availability/check", window)
    assert fb.status_code == 200 and check.status_code == 200, (fb.text, check.text)
    return fb.json(), check.json()


def assert_both_say(o: Owned, start: str, end: str,
                    expected: list[tuple[str, str, str]]) -> None:
    """CalDAV and the API name exactly `expected` ((FBTYPE, start, end), none
    overlapping another): the REPORT line by line, the API as merged busy
    intervals, their tentative part, and one conflict per occurrence."""
    assert caldav_periods(o, start, end) == expected
    fb, check = api_answers(o, start, end)
    assert [(b["start"], b["end"]) for b in fb["busy"]] == [
        (iso(s), iso(e)) for _, s, e in expected]
    assert [(b["start"], b["end"]) for b in fb["tentative"]] == [
        (iso(s), iso(e)) for t, s, e in expected if t == "BUSY-TENTATIVE"]
    assert check["available"] is (not expected)
    assert check["conflict_count"] == len(expected)
    assert [(c["start"], c["end"], c.get("tentative", False)) for c in check["conflicts"]] == [
        (iso(s), iso(e), t == "BUSY-TENTATIVE") for t, s, e in expected]


SERIES = (  # daily at 19:00 UTC; the owner declined the second one only
    "BEGIN:VEVENT\r\nUID:series\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20300107T190000Z\r\n"
    "DTEND:20300107T193000Z\r\nRRULE:FREQ=DAILY;COUNT=3\r\nSUMMARY:Series\r\n{accepted}"
    "END:VEVENT\r\nBEGIN:VEVENT\r\nUID:series\r\nDTSTAMP:20260101T000000Z\r\n"
    "RECURRENCE-ID:20300108T190000Z\r\nDTSTART:20300108T190000Z\r\nDTEND:20300108T193000Z\r\n"
    "SUMMARY:Series\r\n{declined}END:VEVENT\r\n")
BERLIN_DAY = ("BEGIN:VEVENT\r\nUID:berlin-day\r\nDTSTAMP:20260101T000000Z\r\n"
              "DTSTART;VALUE=DATE:20300110\r\nDTEND;VALUE=DATE:20300111\r\n"
              "SUMMARY:Berlin day\r\nEND:VEVENT\r\n")
WINDOW = ("20300107T000000Z", "20300113T000000Z")
# By hand, from the rules: the plain event; STATUS:TENTATIVE and the owner's
# TENTATIVE are tentative; the owner's decline, the working location and the
# zero-length event are free; the series' second day is declined by its
# override; the Berlin all-day is Berlin's 10 January (23:00 UTC the day
# before); the New York all-day written at noon is New York's 11 January.
EXPECTED = [
    ("BUSY", "20300107T080000Z", "20300107T090000Z"),
    ("BUSY-TENTATIVE", "20300107T110000Z", "20300107T120000Z"),
    ("BUSY-TENTATIVE", "20300107T130000Z", "20300107T140000Z"),
    ("BUSY", "20300107T190000Z", "20300107T193000Z"),
    ("BUSY", "20300109T190000Z", "20300109T193000Z"),
    ("BUSY", "20300109T230000Z", "20300110T230000Z"),
    ("BUSY", "20300111T050000Z", "20300112T050000Z"),
]


def test_caldav_and_api_give_the_same_busy_times(owned: Owned, sql, database_url) -> None:
    o, me = owned, owned.me
    for name, start, end, extra in (
            ("plain", "20300107T080000Z", "20300107T090000Z", attendee(me, "ACCEPTED")),
            ("declined", "20300107T090000Z", "20300107T100000Z",
             attendee(me.upper(), "DECLINED")),
            ("maybe", "20300107T110000Z", "20300107T120000Z", "STATUS:TENTATIVE\r\n"),
            ("owner-maybe", "20300107T130000Z", "20300107T140000Z",
             attendee(me, "TENTATIVE")),
            ("office", "20300107T140000Z", "20300107T180000Z",
             "X-BACKSIDE-EVENT-TYPE:working_location\r\n"),
            ("ping", "20300107T150000Z", "20300107T150000Z", "")):
        put(o.http, o.url + f"{name}.ics", event(name, start, end, extra))
    put(o.http, o.url + "series.ics", CAL.format(SERIES.format(
        accepted=attendee(me, "ACCEPTED"), declined=attendee(me, "DECLINED"))))
    put(o.http, o.url + "berlin-day.ics", CAL.format(BERLIN_DAY))
    # Another application writes an all-day row at noon UTC, in New York.
    sql.execute("INSERT INTO events (tenant_id, calendar_id, title, start_time, end_time, "
                "is_all_day, timezone) VALUES (%s, %s, 'NY day', '2030-01-11 17:00Z', NULL, "
                "true, 'America/New_York')", (o.tenant_id, o.api.calendar_id))

    assert_both_say(o, *WINDOW, EXPECTED)  # the SQL row is not indexed yet: expanded
    maintenance.reindex(db.get_engine(database_url), now=datetime(2030, 1, 1, tzinfo=UTC))
    assert_both_say(o, *WINDOW, EXPECTED)  # everything from the instance index
    # Another writer touches every row: all series are expanded from their rows.
    sql.execute("UPDATE events SET title = title || ' (edited)' WHERE tenant_id = %s",
                (o.tenant_id,))
    assert_both_say(o, *WINDOW, EXPECTED)
    # Clipped to a smaller window, the same on both sides (conflicts are whole instances).
    clipped = [("BUSY", "20300107T083000Z", "20300107T090000Z"),
               ("BUSY-TENTATIVE", "20300107T110000Z", "20300107T113000Z")]
    assert caldav_periods(o, "20300107T083000Z", "20300107T113000Z") == clipped
    fb, check = api_answers(o, "20300107T083000Z", "20300107T113000Z")
    assert [(b["start"], b["end"]) for b in fb["busy"]] == [(iso(s), iso(e)) for _, s, e in clipped]
    assert [(c["start"], c["end"]) for c in check["conflicts"]] == [
        ("2030-01-07T08:00:00Z", "2030-01-07T09:00:00Z"),
        ("2030-01-07T11:00:00Z", "2030-01-07T12:00:00Z")]
    assert_both_say(o, "20300107T140000Z", "20300107T180000Z", [])  # the working location


def test_named_attendee_counts_with_the_owners(owned: Owned) -> None:
    """The API also asks about attendee_email: the time is free when all of the
    people's rows declined, tentative when all declined or answered tentative."""
    o, me, bob = owned, owned.me, "Bob@Example.com"
    for name, start, end, extra in (
            ("both", "20300107T080000Z", "20300107T090000Z",
             attendee(me, "ACCEPTED") + attendee(bob, "DECLINED")),
            ("bob-only", "20300107T100000Z", "20300107T110000Z", attendee(bob, "DECLINED")),
            ("mixed", "20300107T120000Z", "20300107T130000Z",
             attendee(me, "DECLINED") + attendee(bob, "TENTATIVE")),
            ("firm", "20300107T143000Z", "20300107T160000Z", "")):
        put(o.http, o.url + f"{name}.ics", event(name, start, end, extra))
    put(o.http, o.url + "maybe.ics", event("maybe", "20300107T140000Z", "20300107T150000Z",
                                           "STATUS:TENTATIVE\r\n"))
    day = ("20300107T000000Z", "20300108T000000Z")
    # The owners alone (CalDAV, and the API without attendee_email).
    owners_only = [
        ("BUSY", "20300107T080000Z", "20300107T090000Z"),
        ("BUSY", "20300107T100000Z", "20300107T110000Z"),
        ("BUSY-TENTATIVE", "20300107T140000Z", "20300107T150000Z"),
        ("BUSY", "20300107T143000Z", "20300107T160000Z")]
    assert caldav_periods(o, *day) == owners_only
    fb, check = api_answers(o, *day)
    assert [(b["start"], b["end"]) for b in fb["busy"]] == [
        ("2030-01-07T08:00:00Z", "2030-01-07T09:00:00Z"),
        ("2030-01-07T10:00:00Z", "2030-01-07T11:00:00Z"),
        ("2030-01-07T14:00:00Z", "2030-01-07T16:00:00Z")]
    # Tentative: only the part no firm occurrence holds.
    assert fb["tentative"] == [{"start": "2030-01-07T14:00:00Z", "end": "2030-01-07T14:30:00Z"}]
    assert [(c["title"], c.get("tentative", False)) for c in check["conflicts"]] == [
        ("both", False), ("bob-only", False), ("maybe", True), ("firm", False)]
    # With Bob: his decline alone frees "bob-only"; "both" still has the owner;
    # "mixed" is declined by the owner and tentative for Bob.
    fb, check = api_answers(o, *day, attendee_email="bob@example.com")
    assert [(c["title"], c["start"], c.get("tentative", False)) for c in check["conflicts"]] == [
        ("both", "2030-01-07T08:00:00Z", False), ("mixed", "2030-01-07T12:00:00Z", True),
        ("maybe", "2030-01-07T14:00:00Z", True), ("firm", "2030-01-07T14:30:00Z", False)]
    assert fb["tentative"] == [{"start": "2030-01-07T12:00:00Z", "end": "2030-01-07T13:00:00Z"},
                               {"start": "2030-01-07T14:00:00Z", "end": "2030-01-07T14:30:00Z"}]


def test_all_day_on_a_daylight_saving_day_is_one_day(owned: Owned) -> None:
    """Berlin leaves summer time on 27 October 2030: that day has 25 hours."""
    o = owned
    put(o.http, o.url + "long-day.ics", CAL.format(
        BERLIN_DAY.replace("20300110", "20301027").replace("20300111", "20301028")))
    expected = [("BUSY", "20301026T220000Z", "20301027T230000Z")]
    assert_both_say(o, "20301025T000000Z", "20301030T000000Z", expected)


def test_too_much_to_answer_is_refused(owned: Owned, sql) -> None:
    """CalDAV: more than [reporting] max_freebusy_occurrence (10,000) occurrences
    in the range is 400, from the index or from a series expanded on the fly;
    the API: a series too long to expand is 422 naming it."""
    o = owned
    for name in ("minutes", "more-minutes"):  # 12,000 indexed occurrences in 5 days
        put(o.http, o.url + f"{name}.ics", event(name, "20300107T000000Z", "20300107T000100Z",
                                                 "RRULE:FREQ=MINUTELY;COUNT=6000\r\n"))
    assert report(o, "20300107T000000Z", "20300115T000000Z").status_code == 400
    assert len(caldav_periods(o, "20300107T000000Z", "20300107T010000Z")) == 1  # merged
    other = sql.execute("INSERT INTO calendars (tenant_id, name, href) VALUES (%s, 'Other', "
                        "'other') RETURNING id::text", (o.tenant_id,)).fetchone()[0]
    endless = sql.execute(
        "INSERT INTO events (tenant_id, calendar_id, title, start_time, end_time, timezone, "
        "rrule) VALUES (%s, %s, 'Every minute', '2030-01-01 00:00Z', '2030-01-01 00:01Z', "
        "'UTC', 'FREQ=MINUTELY') RETURNING id::text", (o.tenant_id, other)).fetchone()[0]
    other_url = o.url.replace("/calendar/", "/other/")
    assert report(o, "20300107T000000Z", "20300115T000000Z", other_url).status_code == 400
    ok = report(o, "20300107T000000Z", "20300107T010000Z", other_url)
    assert ok.status_code == 200 and "20300107T000000Z/20300107T010000Z" in ok.text
    window = {"start": "2030-01-02T00:00:00Z", "end": "2030-04-15T00:00:00Z",
              "calendar_ids": [other]}
    for r in (o.api.post("/availability/check", window),
              o.api.get("/freebusy", start=window["start"], end=window["end"],
                        calendar_id=other)):
        problem(r, 422, endless, "'Every minute'", "more than 100000 occurrences")


def test_the_rules_as_plain_functions() -> None:
    assert busy.people(["Ann@X.org", "bob@x.org"], "ANN@x.org") == ["ann@x.org", "bob@x.org"]
    assert busy.answered_fbtype("BUSY", []) == "BUSY"
    assert busy.answered_fbtype("BUSY", ["declined", "declined"]) == "FREE"
    assert busy.answered_fbtype("BUSY", ["declined", "tentative"]) == "BUSY-TENTATIVE"
    assert busy.answered_fbtype("BUSY", ["declined", "pending"]) == "BUSY"
    assert busy.answered_fbtype("BUSY-TENTATIVE", ["accepted"]) == "BUSY-TENTATIVE"
    assert busy.answered_fbtype("FREE", ["accepted"]) == "FREE"
    assert busy.status_fbtype("tentative", "transparent") == "FREE"
    assert busy.status_fbtype("cancelled", None) == "FREE"
    assert busy.status_fbtype(None, "opaque") == "BUSY"

    def utc(*args: int) -> datetime:
        return datetime(*args, tzinfo=UTC)

    # Two days written from noon to noon in New York: New York's 5 and 6 March.
    assert busy.whole_days(utc(2026, 3, 5, 17), utc(2026, 3, 7, 17), "America/New_York") == 2
    assert busy.day_span(utc(2026, 3, 5, 17), 2, "America/New_York") == (
        utc(2026, 3, 5, 5), utc(2026, 3, 7, 5))
    # Across the change to summer time (8 March 2026 in New York): still two days,
    # 47 hours long.
    assert busy.whole_days(utc(2026, 3, 7, 5), utc(2026, 3, 9, 4), "America/New_York") == 2
    assert busy.day_span(utc(2026, 3, 7, 5), 2, "America/New_York") == (
        utc(2026, 3, 7, 5), utc(2026, 3, 9, 4))
    # A bit past midnight is another day; no end or zero length is one day; no zone is UTC.
    assert busy.whole_days(utc(2026, 3, 5), utc(2026, 3, 6, 1), None) == 2
    assert busy.whole_days(utc(2026, 3, 5, 12), None, None) == 1
    assert busy.day_span(utc(2026, 3, 5, 12), 1, None) == (utc(2026, 3, 5), utc(2026, 3, 6))


def test_a_logins_email_is_an_owner_address(server, database_url: str) -> None:
    """A login that is no email address becomes the owner of ATTENDEE rows with the
    email `account email` gives it (compared without regard to case)."""
    from backside_caldav.db import account_admin

    suffix = uuid.uuid4().hex[:8]
    login, password = f"bob{suffix}", "correct horse " + suffix
    tenant_id = accounts.add_account(db.get_engine(database_url), login, f"t-{suffix}", password)
    with requests.Session() as http:
        http.auth = (login, password)
        o = Owned(http, None, f"{server.url}{login}/calendar/", login, tenant_id)  # type: ignore[arg-type]
        put(http, o.url + "declined.ics", event(
            "declined", "20300107T080000Z", "20300107T090000Z",
            attendee(f"bob.{suffix}@example.com", "DECLINED")))
        # Nobody known declined: the event is busy.
        assert caldav_periods(o, *WINDOW) == [("BUSY", "20300107T080000Z", "20300107T090000Z")]
        account_admin.set_email(db.get_engine(database_url), login, f"Bob.{suffix}@Example.com")
        assert caldav_periods(o, *WINDOW) == []  # the owner declined: free
