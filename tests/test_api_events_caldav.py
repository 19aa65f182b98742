"""Two writers, one truth: the event API and a CalDAV client (the `caldav`
library, as a phone or a desktop calendar syncs) on the same rows.

What the API writes, a client fetches whole (alarm, X- field, attendees,
rule, zone) and sees at its next sync-collection; what a client writes (a
moved occurrence, a changed alarm, Apple's own properties) the API reads, and
an API edit afterwards keeps the client's bytes it does not map."""

from __future__ import annotations

import re
import uuid
from typing import Any

import caldav
import icalendar
import pytest
import requests
from test_api_events import create, patch
from test_sidecar_api import Api, new_api

from backside_caldav.db import engines as db
from backside_caldav.db import tenancy
from backside_caldav.domain.api_keys import ApiKey
from backside_caldav.service import events as event_service


@pytest.fixture
def api(server, database_url, sql):
    a = new_api(server, database_url, sql)
    yield a
    a.session.close()


@pytest.fixture
def dav(server, api: Api):
    with caldav.DAVClient(url=server.url, username=api.account.username,
                          password=api.account.password) as c:
        yield c


def calendar_url(server, api: Api, calendar_id: str | None = None) -> str:
    calendars = api.get("/calendars").json()["calendars"]
    href = next(c["href"] for c in calendars if c["id"] == (calendar_id or api.calendar_id))
    return f"{server.url}{api.account.username}/{href}/"


def dav_calendar(dav: caldav.DAVClient, server, api: Api) -> caldav.Calendar:
    return dav.calendar(url=calendar_url(server, api))


def fetched(cal: caldav.Calendar, uid: str) -> tuple[str, icalendar.Calendar]:
    """The resource's text as the server sends it on a GET (the caldav library
    rewrites line ends), and parsed."""
    obj = cal.event_by_uid(uid)
    auth = (cal.client.username, cal.client.password)
    r = requests.get(str(obj.url), auth=auth, timeout=30)
    assert r.status_code == 200
    return r.text, icalendar.Calendar.from_ical(r.content)


def unfolded(text: str) -> str:
    return re.sub(r"\r?\n[ \t]", "", text)


def block(text: str, name: str, index: int = 0) -> str:
    """The index-th BEGIN:name ... END:name block of the unfolded text, verbatim."""
    found = re.findall(rf"BEGIN:{name}\r?\n.*?END:{name}\r?\n", unfolded(text), re.S)
    return found[index]


RICH = dict(title="Deal review", start_time="2026-03-02T09:00:00", timezone="Europe/Berlin",
            end_time="2026-03-02T10:00:00", rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=6",
            reminders=[{"minutes_before": 15}],
            custom_fields={"x-deal-stage": "negotiation"},
            attendees=[{"email": "ann@example.com", "name": "Ann"},
                       {"email": "bob@example.com", "name": "Bob"}])


def test_api_event_is_fetched_whole_over_caldav(api: Api, dav, server) -> None:
    made = create(api, **RICH)
    assert made["start_time"] == "2026-03-02T08:00:00Z"  # wall time in Berlin (CET)
    text, parsed = fetched(dav_calendar(dav, server, api), made["uid"])
    events = parsed.walk("VEVENT")
    assert len(events) == 1
    vevent = events[0]
    assert str(vevent["UID"]) == made["uid"] and str(vevent["SUMMARY"]) == "Deal review"
    start = vevent["DTSTART"]
    assert start.params["TZID"] == "Europe/Berlin"
    assert start.dt.replace(tzinfo=None).isoformat() == "2026-03-02T09:00:00"
    rule = vevent["RRULE"]
    assert rule["FREQ"] == ["WEEKLY"] and rule["BYDAY"] == ["MO"] and rule["COUNT"] == [6]
    zones = parsed.walk("VTIMEZONE")
    assert [str(z["TZID"]) for z in zones] == ["Europe/Berlin"]
    assert {c.name for c in zones[0].subcomponents} == {"STANDARD", "DAYLIGHT"}
    alarms = vevent.walk("VALARM")
    assert len(alarms) == 1
    assert alarms[0]["TRIGGER"].to_ical() == b"-PT15M"
    assert str(alarms[0]["ACTION"]) == "DISPLAY" and alarms[0].get("DESCRIPTION")
    assert str(vevent["X-DEAL-STAGE"]) == "negotiation"
    attendees = {str(a).lower(): a.params for a in vevent["ATTENDEE"]}
    assert set(attendees) == {"mailto:ann@example.com", "mailto:bob@example.com"}
    for email, name in (("ann", "Ann"), ("bob", "Bob")):
        params = attendees[f"mailto:{email}@example.com"]
        assert params["PARTSTAT"] == "NEEDS-ACTION" and params["CN"] == name
    assert "ORGANIZER" not in vevent  # this key has no owner email
    # The ETag a client holds is the one the API gives.
    obj = dav_calendar(dav, server, api).event_by_uid(made["uid"])
    etag = requests.head(str(obj.url), auth=(api.account.username, api.account.password),
                         timeout=30).headers.get("ETag")
    assert etag == made["etag"]
    # And the whole text parses as one valid calendar.
    assert "BEGIN:VCALENDAR" in text and text.count("BEGIN:VEVENT") == 1


def test_owner_email_becomes_organizer_and_accepted_attendee(api: Api, dav, server,
                                                             database_url: str) -> None:
    """No API key carries an owner email yet (api_keys has no such column, create_key no
    such argument), so the service is called as the API would call it with such a key."""
    key = ApiKey(tenant_id=api.account.tenant_id, id=str(uuid.uuid4()),
                 owner_email="owner@example.com")
    doc = {**RICH, "id": str(uuid.uuid4())}
    with tenancy.transaction(db.get_engine(database_url), api.account.tenant_id) as conn:
        status, made = event_service.create(event_service.Caller(conn, key), doc)
    assert status == 201
    assert made["currentUserCalendarEmail"] == "owner@example.com"
    _, parsed = fetched(dav_calendar(dav, server, api), made["uid"])
    vevent = parsed.walk("VEVENT")[0]
    assert str(vevent["ORGANIZER"]).lower() == "mailto:owner@example.com"
    partstat = {str(a).lower(): a.params["PARTSTAT"] for a in vevent["ATTENDEE"]}
    assert partstat == {"mailto:owner@example.com": "ACCEPTED",
                        "mailto:ann@example.com": "NEEDS-ACTION",
                        "mailto:bob@example.com": "NEEDS-ACTION"}
    read = api.get(f"/events/{made['id']}").json()
    assert {(a["email"], a["rsvp_status"]) for a in read["attendees"]} == {
        ("owner@example.com", "accepted"), ("ann@example.com", "pending"),
        ("bob@example.com", "pending")}


class Phone:
    """A client that syncs one calendar with sync-collection, as DAVx5 does."""

    def __init__(self, cal: caldav.Calendar) -> None:
        self.cal = cal
        first = cal.objects_by_sync_token(load_objects=False, disable_fallback=True)
        self.token = first.sync_token
        self.known = {str(o.url) for o in first.objects}

    def sync(self) -> tuple[dict[str, Any], set[str]]:
        """(href -> the changed object, loaded; deleted hrefs) in ONE sync-collection."""
        got = self.cal.objects_by_sync_token(sync_token=self.token, load_objects=True,
                                             disable_fallback=True)
        assert not got.truncated
        assert got.sync_token and got.sync_token != self.token
        self.token = got.sync_token
        deleted = {str(u) for u in got.deleted_urls}
        changed = {str(o.url): o for o in got.objects if str(o.url) not in deleted}
        return changed, deleted


def test_each_api_write_reaches_a_syncing_client_in_one_sync(api: Api, dav, server) -> None:
    made = create(api, **RICH)
    other = create(api, title="Unrelated", start_time="2026-03-03T12:00:00Z")
    phone = Phone(dav_calendar(dav, server, api))
    href = next(u for u in phone.known if u.endswith(f"/{made['uid']}.ics"))
    assert any(u.endswith(f"/{other['uid']}.ics") for u in phone.known)

    r = patch(api, made["id"], {"title": "Deal review (moved)", "location": "Room 7"},
              **{"If-Match": made["etag"]})
    assert r.status_code == 200, r.text
    changed, deleted = phone.sync()
    assert set(changed) == {href} and deleted == set()
    vevent = changed[href].icalendar_component
    assert (str(vevent["SUMMARY"]), str(vevent["LOCATION"])) == ("Deal review (moved)", "Room 7")
    assert changed[href].props.get("{DAV:}getetag", r.json()["etag"]) == r.json()["etag"]

    r = api.post(f"/events/{made['id']}/cancel")
    assert r.status_code == 200, r.text
    changed, deleted = phone.sync()
    assert set(changed) == {href} and deleted == set()
    vevent = changed[href].icalendar_component
    assert str(vevent["STATUS"]) == "CANCELLED"
    assert int(vevent["SEQUENCE"]) >= 1

    assert api.delete(f"/events/{made['id']}").status_code == 204
    changed, deleted = phone.sync()
    assert changed == {} and deleted == {href}
    with pytest.raises(caldav.lib.error.NotFoundError):
        phone.cal.event_by_url(href).load()

    r = api.post(f"/events/{made['id']}/restore")
    assert r.status_code == 200, r.text
    changed, deleted = phone.sync()
    assert set(changed) == {href} and deleted == set()
    vevent = changed[href].icalendar_component
    assert str(vevent["STATUS"]) == "CANCELLED" and str(vevent["X-DEAL-STAGE"]) == "negotiation"
    assert str(vevent["SUMMARY"]) == "Deal review (moved)"


def test_a_move_to_another_calendar_reaches_both_collections(api: Api, dav, server,
                                                            sql) -> None:
    other_id = sql.execute(
        "INSERT INTO calendars (tenant_id, href, name, components) VALUES (%s, %s, 'Work', "
        "ARRAY['VEVENT']) RETURNING id::text",
        (api.account.tenant_id, "work-" + uuid.uuid4().hex[:8])).fetchone()[0]
    made = create(api, **RICH)
    home = Phone(dav_calendar(dav, server, api))
    work = Phone(dav.calendar(url=calendar_url(server, api, other_id)))
    r = patch(api, made["id"], {"calendar_id": other_id, "title": "Moved along"})
    assert r.status_code == 200, r.text
    assert r.json()["calendar_id"] == other_id and r.json()["title"] == "Moved along"
    changed, deleted = home.sync()
    assert changed == {} and [d.rsplit("/", 1)[1] for d in deleted] == [f"{made['uid']}.ics"]
    changed, deleted = work.sync()
    assert deleted == set() and [c.rsplit("/", 1)[1] for c in changed] == [f"{made['uid']}.ics"]
    vevent = next(iter(changed.values())).icalendar_component
    assert str(vevent["SUMMARY"]) == "Moved along"
    assert str(vevent["X-DEAL-STAGE"]) == "negotiation"
    assert len(vevent.walk("VALARM")) == 1
    assert r.json()["etag"] == api.get(f"/events/{made['id']}").json()["etag"]


CLIENT_ALARM = ("BEGIN:VALARM\r\nX-WR-ALARMUID:7F3A-ALARM\r\nUID:7F3A-ALARM\r\n"
                "TRIGGER:-PT30M\r\nATTACH;VALUE=URI:Chord\r\nACTION:AUDIO\r\n"
                "X-APPLE-DEFAULT-ALARM:TRUE\r\nACKNOWLEDGED:20260301T080000Z\r\n"
                "END:VALARM\r\n")


# Parameters in the client's order (not alphabetical), as Apple writes them.
APPLE_LOCATION = ('X-APPLE-STRUCTURED-LOCATION;VALUE=URI;X-TITLE="Room 7";X-APPLE-RADIUS=70:'
                  "geo:52.52,13.40\r\n")


def test_a_client_edit_reads_back_and_survives_an_api_patch(api: Api, dav, server) -> None:
    made = create(api, **RICH)
    cal = dav_calendar(dav, server, api)
    text, _ = fetched(cal, made["uid"])
    # The client (raw bytes: the caldav library would re-serialize them): its
    # alarm replaces ours, an Apple property, and the second Monday moved to
    # Tuesday 14:00 (a RECURRENCE-ID override).
    text = re.sub(r"BEGIN:VALARM\r\n.*?END:VALARM\r\n", CLIENT_ALARM, unfolded(text),
                  count=1, flags=re.S)
    text = text.replace("SUMMARY:Deal review\r\n",
                        "SUMMARY:Deal review\r\nX-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC\r\n"
                        + APPLE_LOCATION, 1)
    override = ("BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260301T000000Z\r\n"
                "RECURRENCE-ID;TZID=Europe/Berlin:20260309T090000\r\n"
                "DTSTART;TZID=Europe/Berlin:20260310T140000\r\n"
                "DTEND;TZID=Europe/Berlin:20260310T150000\r\n"
                "SUMMARY:Deal review (Tuesday)\r\nSEQUENCE:1\r\nEND:VEVENT\r\n"
                ).format(uid=made["uid"])
    text = text.replace("END:VCALENDAR", override + "END:VCALENDAR")
    url = str(cal.event_by_uid(made["uid"]).url)
    auth = (api.account.username, api.account.password)
    r = requests.put(url, data=text.encode(), auth=auth, timeout=30,
                     headers={"Content-Type": "text/calendar", "If-Match": made["etag"]})
    assert r.status_code == 204, r.text
    stored, _ = fetched(cal, made["uid"])
    assert block(stored, "VALARM") == CLIENT_ALARM  # the server keeps a client's bytes

    read = api.get(f"/events/{made['id']}")
    assert read.status_code == 200, read.text
    body = read.json()
    assert body["etag"] == read.headers["ETag"] != made["etag"]
    assert body["reminders"] == [{"type": "display", "minutes_before": 30}]
    assert body["custom_fields"] == {"x-deal-stage": "negotiation",
                                     "x-apple-travel-advisory-behavior": "AUTOMATIC",
                                     "x-apple-structured-location": "geo:52.52,13.40"}
    assert [(o["recurrence_id"], o["start_time"], o["end_time"], o["title"])
            for o in body["overrides"]] == [
        ("2026-03-09T08:00:00Z", "2026-03-10T13:00:00Z", "2026-03-10T14:00:00Z",
         "Deal review (Tuesday)")]
    listed = api.get("/events", start="2026-03-02T00:00:00Z", end="2026-03-17T00:00:00Z").json()
    assert [(d["occurrence_start"], d["recurrence_id"]) for d in listed["data"]] == [
        ("2026-03-02T08:00:00Z", "2026-03-02T08:00:00Z"),
        ("2026-03-10T13:00:00Z", "2026-03-09T08:00:00Z"),
        ("2026-03-16T08:00:00Z", "2026-03-16T08:00:00Z")]

    r = patch(api, made["id"], {"title": "Deal review v2"}, **{"If-Match": body["etag"]})
    assert r.status_code == 200, r.text
    after, parsed = fetched(cal, made["uid"])
    flat = unfolded(after)
    assert "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC\r\n" in flat
    assert APPLE_LOCATION in flat, flat  # parameters not re-sorted
    alarm = block(after, "VALARM")
    for line in CLIENT_ALARM.splitlines(keepends=True):
        assert line in alarm, (line, alarm)  # every line of the client's alarm, verbatim
    assert alarm == CLIENT_ALARM  # and in the client's order: the bytes a PUT stored
    assert flat.count("BEGIN:VALARM") == 1
    master = next(e for e in parsed.walk("VEVENT") if "RECURRENCE-ID" not in e)
    assert str(master["SUMMARY"]) == "Deal review v2"
    moved = next(e for e in parsed.walk("VEVENT") if "RECURRENCE-ID" in e)
    assert str(moved["SUMMARY"]) == "Deal review (Tuesday)"  # the override keeps its own
    assert r.json()["reminders"] == [{"type": "display", "minutes_before": 30}]
    assert len(r.json()["overrides"]) == 1


def test_a_client_changed_alarm_is_the_api_reminder(api: Api, dav, server) -> None:
    made = create(api, title="Alarmed", start_time="2026-03-05T09:00:00Z",
                  reminders=[{"minutes_before": 10}])
    cal = dav_calendar(dav, server, api)
    obj = cal.event_by_uid(made["uid"])
    obj.data = obj.data.replace("TRIGGER:-PT10M", "TRIGGER:-PT1H")
    obj.save()
    assert api.get(f"/events/{made['id']}").json()["reminders"] == [
        {"type": "display", "minutes_before": 60}]


def put_ics(http_session, url: str, body: str) -> None:
    r = http_session.put(url, data=body.encode(), headers={"Content-Type": "text/calendar"},
                         timeout=30)
    assert r.status_code in (201, 204), r.text


def client_event(uid: str, lines: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//phone//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:{uid}\r\n{lines}"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")


def test_floating_and_all_day_client_events_list_correctly(api: Api, dav, server) -> None:
    cal = dav_calendar(dav, server, api)
    cal.save_event(client_event("floating", "DTSTART:20260303T090000\r\n"
                                            "DTEND:20260303T100000\r\n"))
    cal.save_event(client_event("allday", "DTSTART;VALUE=DATE:20260304\r\n"
                                          "DTEND;VALUE=DATE:20260306\r\n"))
    cal.save_event(client_event("allday-series", "DTSTART;VALUE=DATE:20260302\r\n"
                                                 "RRULE:FREQ=DAILY;INTERVAL=2;COUNT=3\r\n"))
    r = api.get("/events", start="2026-03-02T00:00:00Z", end="2026-03-09T00:00:00Z")
    assert r.status_code == 200, r.text
    listed = [(d["title"], d["occurrence_start"], d["occurrence_end"], d["is_all_day"])
              for d in r.json()["data"]]
    assert [x[1] for x in listed] == sorted(x[1] for x in listed)  # by start
    assert sorted(listed, key=lambda x: (x[1], x[0])) == [
        ("allday-series", "2026-03-02", "2026-03-03", True),
        ("floating", "2026-03-03T09:00:00Z", "2026-03-03T10:00:00Z", False),
        ("allday", "2026-03-04", "2026-03-06", True),
        ("allday-series", "2026-03-04", "2026-03-05", True),
        ("allday-series", "2026-03-06", "2026-03-07", True)]
    series = next(d for d in r.json()["data"] if d["title"] == "allday-series")
    read = api.get(f"/events/{series['event_id']}").json()
    assert (read["start_time"], read["end_time"], read["is_all_day"]) == \
        ("2026-03-02", "2026-03-03", True)
    assert read["recurrence"]["freq"] == "daily" and read["recurrence"]["interval"] == 2


def test_an_all_day_event_is_on_its_dates_in_the_asked_zone(api: Api, dav, server) -> None:
    """An all-day event is a date, not a UTC midnight: asked for 5 March in Berlin (or
    in New York), the day before's all-day event is not on it, 5 March's is."""
    cal = dav_calendar(dav, server, api)
    cal.save_event(client_event("march-4", "DTSTART;VALUE=DATE:20260304\r\n"
                                           "DTEND;VALUE=DATE:20260305\r\n"))
    cal.save_event(client_event("march-5", "DTSTART;VALUE=DATE:20260305\r\n"
                                           "DTEND;VALUE=DATE:20260306\r\n"))
    cal.save_event(client_event("march-6", "DTSTART;VALUE=DATE:20260306\r\n"
                                           "DTEND;VALUE=DATE:20260307\r\n"))
    for zone in ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"):
        r = api.get("/events", date="2026-03-05", time_zone=zone)
        assert r.status_code == 200, r.text
        assert [d["title"] for d in r.json()["data"]] == ["march-5"], zone
