"""The CalDAV behaviour a client sees, driven by the `caldav` client over HTTP."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import caldav
import pytest
import requests
from caldav.elements import dav, ical
from caldav.lib import error

UTC = timezone.utc


def ics(uid: str, summary: str = "Meeting", start: str = "20260105T090000Z",
        end: str = "20260105T100000Z", extra: str = "") -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
        f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:{start}\r\nDTEND:{end}\r\nSUMMARY:{summary}\r\n{extra}"
        "END:VEVENT\r\nEND:VCALENDAR\r\n")


def test_discovery_from_root_url(client: caldav.DAVClient, account) -> None:
    principal = client.principal()
    assert str(principal.url).rstrip("/").endswith("/" + account.username)
    home = principal.calendar_home_set
    assert str(home.url).rstrip("/").endswith("/" + account.username)
    names = [c.get_display_name() for c in principal.calendars()]
    assert names == ["Calendar"]  # the default calendar of a new tenant


def test_well_known_redirects(server, account) -> None:
    r = requests.request("PROPFIND", server.url + ".well-known/caldav", allow_redirects=False,
                         auth=(account.username, account.password))
    assert r.status_code in (301, 302, 307, 308)
    assert r.headers["Location"].rstrip("/") in ("", server.url.rstrip("/")) or \
        r.headers["Location"] == "/"


def test_unauthenticated_gets_401_with_challenge(server) -> None:
    r = requests.request("PROPFIND", server.url, headers={"Depth": "0"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic")


def test_wrong_password_is_refused(server, account) -> None:
    r = requests.request("PROPFIND", server.url + account.username + "/",
                         auth=(account.username, "wrong password"))
    assert r.status_code == 401


def test_make_rename_recolour_delete_calendar(client: caldav.DAVClient, sql, account) -> None:
    principal = client.principal()
    cal = principal.make_calendar(name="Work", cal_id="work")
    cal.set_properties([dav.DisplayName("Work stuff"),
                        ical.CalendarColor("#FF0000FF")])
    row = sql.execute("SELECT name, color, href FROM calendars WHERE tenant_id = %s AND href = 'work'",
                      (account.tenant_id,)).fetchone()
    assert row == ("Work stuff", "#FF0000FF", "work")
    again = principal.calendar(cal_id="work")
    assert again.get_display_name() == "Work stuff"
    cal.delete()
    assert sql.execute("SELECT count(*) FROM calendars WHERE tenant_id = %s AND href = 'work'",
                       (account.tenant_id,)).fetchone()[0] == 0
    assert [c.get_display_name() for c in principal.calendars()] == ["Calendar"]


def test_event_create_read_update_delete(client: caldav.DAVClient, sql, account) -> None:
    cal = client.principal().make_calendar(name="Crud", cal_id="crud")
    event = cal.save_event(ics("crud-1", "First"))
    fetched = cal.event_by_uid("crud-1")
    assert fetched.icalendar_component["SUMMARY"] == "First"
    fetched.icalendar_component["SUMMARY"] = "Renamed"
    fetched.save()
    assert sql.execute("SELECT title FROM events WHERE tenant_id = %s AND uid = 'crud-1' "
                       "AND deleted_at IS NULL", (account.tenant_id,)).fetchone() == ("Renamed",)
    assert cal.event_by_uid("crud-1").icalendar_component["SUMMARY"] == "Renamed"
    event.delete()
    with pytest.raises(error.NotFoundError):
        cal.event_by_uid("crud-1")
    # A CalDAV delete puts the row in the trash rather than destroying it.
    assert sql.execute("SELECT deleted_at IS NOT NULL FROM events WHERE tenant_id = %s "
                       "AND uid = 'crud-1'", (account.tenant_id,)).fetchone() == (True,)


def test_attendees_with_rsvp(client: caldav.DAVClient, sql, account) -> None:
    cal = client.principal().make_calendar(name="Att", cal_id="att")
    extra = ("ORGANIZER;CN=Boss:mailto:boss@example.com\r\n"
             "ATTENDEE;CN=Ann;PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT:mailto:ann@example.com\r\n"
             "ATTENDEE;PARTSTAT=DECLINED:mailto:Bob@Example.com\r\n"
             "ATTENDEE;PARTSTAT=TENTATIVE:mailto:cy@example.com\r\n"
             "ATTENDEE:mailto:dee@example.com\r\n")
    cal.save_event(ics("att-1", extra=extra))
    rows = sql.execute(
        "SELECT a.email, a.name, a.rsvp_status, a.role FROM event_attendees a "
        "JOIN events e ON e.tenant_id = a.tenant_id AND e.id = a.event_id "
        "WHERE e.tenant_id = %s AND e.uid = 'att-1' ORDER BY a.email", (account.tenant_id,)).fetchall()
    assert rows == [
        ("Bob@Example.com", None, "declined", None),
        ("ann@example.com", "Ann", "accepted", "REQ-PARTICIPANT"),
        ("cy@example.com", None, "tentative", None),
        ("dee@example.com", None, "pending", None),
    ]
    assert sql.execute("SELECT organizer FROM events WHERE tenant_id = %s AND uid = 'att-1'",
                       (account.tenant_id,)).fetchone() == ("boss@example.com",)


RECURRING = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
    "BEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART;TZID=Europe/Berlin:20260302T090000\r\nDTEND;TZID=Europe/Berlin:20260302T100000\r\n"
    "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6\r\nSUMMARY:Standup\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20260101T000000Z\r\n"
    "RECURRENCE-ID;TZID=Europe/Berlin:20260309T090000\r\n"
    "DTSTART;TZID=Europe/Berlin:20260310T140000\r\nDTEND;TZID=Europe/Berlin:20260310T150000\r\n"
    "SUMMARY:Standup (moved)\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20260101T000000Z\r\n"
    "RECURRENCE-ID;TZID=Europe/Berlin:20260316T090000\r\n"
    "DTSTART;TZID=Europe/Berlin:20260316T090000\r\nDTEND;TZID=Europe/Berlin:20260316T100000\r\n"
    "STATUS:CANCELLED\r\nSUMMARY:Standup\r\nEND:VEVENT\r\n"
    "END:VCALENDAR\r\n")


def test_recurring_event_with_overridden_and_cancelled_instance(
        client: caldav.DAVClient, sql, account) -> None:
    cal = client.principal().make_calendar(name="Rec", cal_id="rec")
    cal.save_event(RECURRING)
    rows = sql.execute(
        "SELECT series_id IS NULL, rrule, recurrence_id, start_time, status, timezone FROM events "
        "WHERE tenant_id = %s AND uid = 'series-1' ORDER BY series_id NULLS FIRST, recurrence_id",
        (account.tenant_id,)).fetchall()
    assert rows[0][:2] == (True, "FREQ=WEEKLY;COUNT=6;BYDAY=MO")
    assert rows[0][3] == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # CET
    assert rows[0][5] == "Europe/Berlin"
    assert rows[1][2] == datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
    assert rows[1][3] == datetime(2026, 3, 10, 13, 0, tzinfo=UTC)
    assert rows[2][2] == datetime(2026, 3, 16, 8, 0, tzinfo=UTC)
    assert rows[2][4] == "cancelled"
    # Expanded: the moved instance is on Tuesday.
    found = cal.search(start=datetime(2026, 3, 9, tzinfo=UTC), end=datetime(2026, 3, 12, tzinfo=UTC),
                       event=True, expand=True)
    assert len(found) == 1
    comp = found[0].icalendar_component
    assert comp["SUMMARY"] == "Standup (moved)"
    assert comp["DTSTART"].dt.astimezone(UTC) == datetime(2026, 3, 10, 13, 0, tzinfo=UTC)
    # After DST (Mar 29 in Europe) the wall time stays 09:00 local: 07:00 UTC.
    found = cal.search(start=datetime(2026, 3, 30, tzinfo=UTC), end=datetime(2026, 3, 31, tzinfo=UTC),
                       event=True, expand=True)
    assert [f.icalendar_component["DTSTART"].dt.astimezone(UTC) for f in found] == [
        datetime(2026, 3, 30, 7, 0, tzinfo=UTC)]


def test_all_day_event(client: caldav.DAVClient, sql, account) -> None:
    cal = client.principal().make_calendar(name="Days", cal_id="days")
    cal.save_event(ics("day-1", "Holiday", start="20260704", end="20260706").replace(
        "DTSTART:20260704", "DTSTART;VALUE=DATE:20260704").replace(
        "DTEND:20260706", "DTEND;VALUE=DATE:20260706"))
    row = sql.execute("SELECT is_all_day, start_time, end_time FROM events WHERE tenant_id = %s "
                      "AND uid = 'day-1'", (account.tenant_id,)).fetchone()
    assert row == (True, datetime(2026, 7, 4, tzinfo=UTC), datetime(2026, 7, 6, tzinfo=UTC))
    comp = cal.event_by_uid("day-1").icalendar_component
    assert comp["DTSTART"].dt == date(2026, 7, 4)
    assert comp["DTEND"].dt == date(2026, 7, 6)


def test_time_range_search_with_and_without_expand(client: caldav.DAVClient) -> None:
    cal = client.principal().make_calendar(name="Range", cal_id="range")
    cal.save_event(ics("in-range", start="20260105T090000Z", end="20260105T100000Z"))
    cal.save_event(ics("out-of-range", start="20260205T090000Z", end="20260205T100000Z"))
    cal.save_event(ics("weekly", start="20251201T120000Z", end="20251201T130000Z",
                       extra="RRULE:FREQ=WEEKLY\r\n"))
    window = {"start": datetime(2026, 1, 4, tzinfo=UTC), "end": datetime(2026, 1, 11, tzinfo=UTC)}
    plain = cal.search(event=True, **window)
    assert sorted(str(e.icalendar_component["UID"]) for e in plain) == ["in-range", "weekly"]
    expanded = cal.search(event=True, expand=True, **window)
    starts = sorted(e.icalendar_component["DTSTART"].dt.astimezone(UTC) for e in expanded)
    assert starts == [datetime(2026, 1, 5, 9, tzinfo=UTC), datetime(2026, 1, 5, 12, tzinfo=UTC)]


def test_sync_collection_initial_incremental_deletions(client: caldav.DAVClient) -> None:
    cal = client.principal().make_calendar(name="Sync", cal_id="sync")
    a = cal.save_event(ics("sync-a"))
    cal.save_event(ics("sync-b"))
    first = cal.objects_by_sync_token(load_objects=False)
    assert len(list(first)) == 2
    token = first.sync_token
    unchanged = cal.objects_by_sync_token(sync_token=token, load_objects=False)
    assert list(unchanged) == []
    cal.save_event(ics("sync-c"))
    a.delete()
    delta = cal.objects_by_sync_token(sync_token=token, load_objects=True)
    hrefs = {str(o.url).rsplit("/", 1)[1]: o for o in delta}
    assert set(hrefs) == {str(a.url).rsplit("/", 1)[1], "sync-c.ics"} or len(hrefs) == 2
    deleted = [o for o in delta if o.data is None]
    assert [str(o.url) for o in deleted] == [str(a.url)]


def test_stale_sync_token_is_403_valid_sync_token(http, server, account) -> None:
    url = f"{server.url}{account.username}/calendar/"
    body = ('<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:">'
            '<d:sync-token>http://backside-caldav.invalid/sync/00000000-0000-0000-0000-000000000000/1'
            '</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop>'
            '</d:sync-collection>')
    r = http.request("REPORT", url, data=body, headers={"Content-Type": "application/xml"})
    assert r.status_code == 403
    assert "valid-sync-token" in r.text


def test_if_match_and_if_none_match_conflicts(http, server, account) -> None:
    url = f"{server.url}{account.username}/calendar/cond.ics"
    headers = {"Content-Type": "text/calendar"}
    r = http.put(url, data=ics("cond"), headers={**headers, "If-None-Match": "*"})
    assert r.status_code == 201
    etag = r.headers["ETag"]
    r = http.put(url, data=ics("cond", "again"), headers={**headers, "If-None-Match": "*"})
    assert r.status_code == 412
    r = http.put(url, data=ics("cond", "v2"), headers={**headers, "If-Match": '"nope"'})
    assert r.status_code == 412
    r = http.put(url, data=ics("cond", "v2"), headers={**headers, "If-Match": etag})
    assert r.status_code == 204
    assert r.headers["ETag"] != etag
    r = http.put(url, data=ics("cond", "v3"), headers={**headers, "If-Match": etag})
    assert r.status_code == 412
    assert "v2" in http.get(url).text


def test_duplicate_uid_is_no_uid_conflict(http, server, account) -> None:
    base = f"{server.url}{account.username}/calendar/"
    assert http.put(base + "one.ics", data=ics("dup-uid"),
                    headers={"Content-Type": "text/calendar"}).status_code == 201
    r = http.put(base + "two.ics", data=ics("dup-uid"), headers={"Content-Type": "text/calendar"})
    assert r.status_code == 409
    assert "no-uid-conflict" in r.text


def test_cross_tenant_access_is_refused(server, database_url, account) -> None:
    from conftest import make_account
    other = make_account(database_url)
    auth = (account.username, account.password)
    for method, path in (("PROPFIND", f"{other.username}/"),
                         ("PROPFIND", f"{other.username}/calendar/"),
                         ("GET", f"{other.username}/calendar/x.ics"),
                         ("PUT", f"{other.username}/calendar/x.ics"),
                         ("DELETE", f"{other.username}/calendar/")):
        r = requests.request(method, server.url + path, auth=auth, headers={"Depth": "0"},
                             data=ics("intruder") if method == "PUT" else None)
        assert r.status_code in (403, 404), (method, path, r.status_code)
    # The other tenant's calendar is untouched and still has no events.
    r = requests.request("PROPFIND", server.url + f"{other.username}/calendar/",
                         auth=(other.username, other.password), headers={"Depth": "1"})
    assert r.status_code == 207 and "intruder" not in r.text


def test_two_logins_of_one_tenant_see_the_same_calendars(server, database_url, account) -> None:
    from backside_caldav.db import accounts
    from backside_caldav.db import engines as db
    accounts.add_account(db.get_engine(database_url), account.username + "b", account.tenant,
                         "second password")
    with caldav.DAVClient(url=server.url, username=account.username,
                          password=account.password) as c1:
        c1.principal().calendar(cal_id="calendar").save_event(ics("shared-1"))
    with caldav.DAVClient(url=server.url, username=account.username + "b",
                          password="second password") as c2:
        found = c2.principal().calendar(cal_id="calendar").event_by_uid("shared-1")
        assert str(found.icalendar_component["UID"]) == "shared-1"


def test_address_book_creation_is_refused_with_a_message(http, server, account) -> None:
    body = ('<?xml version="1.0"?><d:mkcol xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav">'
            '<d:set><d:prop><d:resourcetype><d:collection/><c:addressbook/></d:resourcetype>'
            '</d:prop></d:set></d:mkcol>')
    r = http.request("MKCOL", f"{server.url}{account.username}/contacts/", data=body)
    assert r.status_code == 403
    assert "address books are not supported" in r.text


def test_tasks_and_journals_are_stored_losslessly(http, server, account, sql) -> None:
    todo = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN\r\n"
            "BEGIN:VTODO\r\nUID:todo-1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Buy milk\r\n"
            "DUE:20260110T170000Z\r\nPERCENT-COMPLETE:40\r\nSTATUS:IN-PROCESS\r\n"
            "X-MOZ-GENERATION:3\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
    url = f"{server.url}{account.username}/calendar/todo-1.ics"
    assert http.put(url, data=todo, headers={"Content-Type": "text/calendar"}).status_code == 201
    assert http.get(url).text == todo
    assert sql.execute("SELECT count(*) FROM events WHERE tenant_id = %s AND uid = 'todo-1'",
                       (account.tenant_id,)).fetchone() == (0,)


def test_data_is_in_the_rows_after_put(http, server, account, sql) -> None:
    extra = ("LOCATION:Room 1\r\nDESCRIPTION:Agenda\r\nSTATUS:TENTATIVE\r\n"
             "X-BACKSIDE-EVENT-TYPE:focus_time\r\nTRANSP:TRANSPARENT\r\n")
    url = f"{server.url}{account.username}/calendar/rows.ics"
    http.put(url, data=ics("rows-1", "Deep work", extra=extra),
             headers={"Content-Type": "text/calendar"}).raise_for_status()
    row = sql.execute(
        "SELECT title, description, location, start_time, end_time, timezone, is_all_day, "
        "event_type, status, transparency, href FROM events WHERE tenant_id = %s AND uid = 'rows-1'",
        (account.tenant_id,)).fetchone()
    assert row == ("Deep work", "Agenda", "Room 1", datetime(2026, 1, 5, 9, tzinfo=UTC),
                   datetime(2026, 1, 5, 10, tzinfo=UTC), "UTC", False, "focus_time", "tentative",
                   "transparent", "rows.ics")


def test_bad_icalendar_gets_403_and_writes_nothing(http, server, account, sql) -> None:
    url = f"{server.url}{account.username}/calendar/bad.ics"
    before = sql.execute("SELECT count(*) FROM events WHERE tenant_id = %s",
                         (account.tenant_id,)).fetchone()
    for body in ("not a calendar", ics("bad-1", start="20260105T100000Z", end="20260105T090000Z"),
                 ics("bad-2").replace("DTSTART:20260105T090000Z\r\n", "")):
        r = http.put(url, data=body, headers={"Content-Type": "text/calendar"})
        assert r.status_code == 403, body  # RFC 4791 1.3: CALDAV:valid-calendar-data
    after = sql.execute("SELECT count(*) FROM events WHERE tenant_id = %s",
                        (account.tenant_id,)).fetchone()
    assert before == after


def test_oversized_body_is_413_before_parsing(http, server, account) -> None:
    url = f"{server.url}{account.username}/calendar/big.ics"
    r = http.put(url, data=b"x" * 10_000_001, headers={"Content-Type": "text/calendar"})
    assert r.status_code == 413


def test_move_between_calendars(http, server, account, sql, client) -> None:
    client.principal().make_calendar(name="Other", cal_id="other")
    base = f"{server.url}{account.username}/"
    http.put(base + "calendar/mv.ics", data=ics("mv-1"),
             headers={"Content-Type": "text/calendar"}).raise_for_status()
    r = http.request("MOVE", base + "calendar/mv.ics",
                     headers={"Destination": base + "other/mv.ics"})
    assert r.status_code == 201
    assert http.get(base + "calendar/mv.ics").status_code == 404
    assert "mv-1" in http.get(base + "other/mv.ics").text
    cal = sql.execute("SELECT c.href FROM events e JOIN calendars c ON c.tenant_id = e.tenant_id "
                      "AND c.id = e.calendar_id WHERE e.tenant_id = %s AND e.uid = 'mv-1'",
                      (account.tenant_id,)).fetchone()
    assert cal == ("other",)


def test_delete_of_home_is_refused(http, server, account) -> None:
    r = http.delete(f"{server.url}{account.username}/")
    assert r.status_code == 403
    assert http.request("PROPFIND", f"{server.url}{account.username}/calendar/",
                        headers={"Depth": "0"}).status_code == 207


def test_next_week_is_not_today(client) -> None:
    # Guard against a time-range pre-filter that drops events just outside the window.
    cal = client.principal().make_calendar(name="Edge", cal_id="edge")
    cal.save_event(ics("edge-1", start="20260111T235900Z", end="20260112T000000Z"))
    window = {"start": datetime(2026, 1, 12, tzinfo=UTC),
              "end": datetime(2026, 1, 12, tzinfo=UTC) + timedelta(days=7)}
    assert cal.search(event=True, **window) == []
