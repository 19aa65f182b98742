"""GET /api/v1/events filters, sort, windows and the overview, over real HTTP;
including series another application wrote with plain SQL (not yet indexed)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from test_api_events import WEEK, create, patch
from test_sidecar_api import Api, add_attendee, add_event, new_api, problem


@pytest.fixture
def api(server, database_url, sql):
    a = new_api(server, database_url, sql)
    yield a
    a.session.close()


def titles(api: Api, **params: str) -> list[str]:
    r = api.get("/events", **params)
    assert r.status_code == 200, r.text
    return [d["title"] for d in r.json()["data"]]


def test_filters_narrow_the_list(api: Api, sql) -> None:
    create(api, title="Focus", event_type="focus_time", start_time="2026-03-02T08:00:00Z")
    create(api, title="Maybe", status="tentative", start_time="2026-03-03T08:00:00Z")
    gone = create(api, title="Dropped", start_time="2026-03-04T08:00:00Z")
    api.post(f"/events/{gone['id']}/cancel")
    invited = create(api, title="Invited", start_time="2026-03-05T08:00:00Z",
                     attendees=[{"email": "me@example.com", "rsvp_status": "declined"}])
    assert invited["attendees"][0]["rsvp_status"] == "declined"
    assert titles(api, event_type="focus_time", **WEEK) == ["Focus"]
    assert titles(api, status="tentative", **WEEK) == ["Maybe"]
    assert titles(api, status="cancelled", **WEEK) == ["Dropped"]
    assert titles(api, rsvp_status="declined", attendee_email="ME@example.com", **WEEK) == \
        ["Invited"]
    assert titles(api, q="foc", **WEEK) == ["Focus"]
    assert titles(api, start_after="2026-03-03T12:00:00Z", **WEEK) == ["Dropped", "Invited"]
    assert titles(api, end_before="2026-03-03T12:00:00Z", **WEEK) == ["Focus", "Maybe"]
    assert titles(api, sort="title", **WEEK) == ["Dropped", "Focus", "Invited", "Maybe"]
    assert titles(api, sort="title", order="desc", **WEEK) == \
        ["Maybe", "Invited", "Focus", "Dropped"]
    assert titles(api, order="desc", **WEEK) == ["Invited", "Dropped", "Maybe", "Focus"]
    problem(api.get("/events", rsvp_status="declined", **WEEK), 400, "attendee_email")
    problem(api.get("/events", event_type="party", **WEEK), 400, "event_type")
    problem(api.get("/events", calendar_id="00000000-0000-0000-0000-000000000000", **WEEK),
            400, "no calendar")
    problem(api.get("/events", start="2026-03-02T00:00:00Z"), 400, "end")
    problem(api.get("/events", date="yesterday"), 400, "date")
    problem(api.get("/events", date="today", time_zone="Nowhere/Land"), 400, "time zone")


def test_sorts_page_through_every_item_once(api: Api) -> None:
    for n in range(7):
        create(api, title=f"E{n % 3}", start_time=f"2026-03-0{2 + n % 5}T0{n}:00:00Z")
    for sort in ("start", "created", "updated", "title"):
        for order in ("asc", "desc"):
            whole = api.get("/events", sort=sort, order=order, limit=500, **WEEK).json()["data"]
            seen, cursor = [], None
            while True:
                params = {"sort": sort, "order": order, "limit": "2", **WEEK}
                if cursor:
                    params["cursor"] = cursor
                page = api.get("/events", **params).json()
                seen += page["data"]
                cursor = page["next_cursor"]
                if not cursor:
                    break
            assert [d["id"] for d in seen] == [d["id"] for d in whole], (sort, order)
            assert len(whole) == 7
    first = api.get("/events", limit=2, **WEEK).json()["next_cursor"]
    problem(api.get("/events", limit=2, cursor=first, sort="title", **WEEK), 400, "cursor")


def test_date_words_use_the_time_zone(api: Api) -> None:
    zone = ZoneInfo("Pacific/Auckland")
    now = datetime.now(zone)
    today_late = now.replace(hour=23, minute=0, second=0, microsecond=0)
    create(api, title="Tonight", start_time=today_late.isoformat())
    create(api, title="Tomorrow", start_time=(today_late + timedelta(hours=2)).isoformat())
    assert titles(api, date="today", time_zone="Pacific/Auckland") == ["Tonight"]
    assert titles(api, date="tomorrow", time_zone="Pacific/Auckland") == ["Tomorrow"]
    assert titles(api, date=today_late.date().isoformat(), time_zone="Pacific/Auckland") == \
        ["Tonight"]


def test_overview_counts_what_is_ahead(server, database_url, sql) -> None:
    api = new_api(server, database_url, sql)
    now = datetime.now(timezone.utc)
    zone = "UTC"
    create(api, title="Soon", start_time=(now + timedelta(minutes=5)).isoformat())
    made = create(api, title="Declined", start_time=(now + timedelta(minutes=6)).isoformat(),
                  attendees=[{"email": api.account.username + "@example.com"}])
    sql.execute("UPDATE event_attendees SET rsvp_status = 'declined' WHERE event_id = %s",
                (made["id"],))
    create(api, title="Tomorrow", start_time=(now + timedelta(days=1)).replace(
        hour=12, minute=0).isoformat())
    r = api.get("/events/overview", time_zone=zone)
    assert r.status_code == 200, r.text
    body = r.json()
    # Without an owner email on the key nobody's answer is the owner's: both count today.
    assert body["today"] == 2 and body["tomorrow"] == 1
    problem(api.get("/events/overview", colour="red"), 400, "unknown")


def test_series_written_by_sql_are_listed_before_they_are_indexed(api: Api, sql) -> None:
    event_id = add_event(sql, api, "Plain SQL daily", start="2026-03-02T07:00:00Z",
                         end="2026-03-02T07:30:00Z", rrule="FREQ=DAILY;COUNT=3",
                         timezone="UTC")
    add_attendee(sql, api, event_id, "x@example.com")
    data = api.get("/events", **WEEK).json()["data"]
    assert [(d["title"], d["occurrence_start"]) for d in data] == [
        ("Plain SQL daily", f"2026-03-0{d}T07:00:00Z") for d in (2, 3, 4)]
    read = api.get(f"/events/{event_id}").json()
    assert read["rrule"] == "FREQ=DAILY;COUNT=3" and read["attendees"][0]["email"] == \
        "x@example.com"
    changed = patch(api, event_id, {"title": "Renamed by the API"})
    assert changed.status_code == 200, changed.text
    assert titles(api, **WEEK) == ["Renamed by the API"] * 3


def test_no_window_lists_events_not_occurrences(api: Api) -> None:
    create(api, title="Series", timezone="UTC", rrule="FREQ=DAILY;COUNT=30")
    create(api, title="One", start_time="2026-04-01T10:00:00Z")
    data = api.get("/events").json()["data"]
    assert [(d["title"], d["recurrence_id"]) for d in data] == [("Series", None), ("One", None)]


@pytest.mark.parametrize("rule", ["NOT A RULE", "FREQ=DAILY;BYHOUR=99"])
def test_a_rule_nobody_can_read_repeats_nothing(api: Api, sql, rule: str) -> None:
    """Another application's unreadable RRULE: its event is its one occurrence on
    every read path, never a 500."""
    add_event(sql, api, "Broken rule", start="2026-03-03T07:00:00Z",
              end="2026-03-03T08:00:00Z", rrule=rule, timezone="UTC")
    assert titles(api, **WEEK) == ["Broken rule"]
    r = api.get("/freebusy", **WEEK)
    assert r.status_code == 200, r.text
    assert r.json()["busy"] == [{"start": "2026-03-03T07:00:00Z", "end": "2026-03-03T08:00:00Z"}]
    r = api.get("/events/search", q="broken", **WEEK)
    assert r.status_code == 200 and [h["title"] for h in r.json()["hits"]] == ["Broken rule"]
    problem(api.post("/events", {"title": "a", "start_time": "2026-03-02T09:00:00Z",
                                 "timezone": "UTC", "rrule": rule}), 400, "rule")


def test_a_client_put_of_an_unreadable_rule_is_refused(api: Api) -> None:
    import requests
    account = api.account
    cal = api.get("/calendars").json()["calendars"][0]["href"]
    url = f"{api.base.removesuffix('api/v1')}{account.username}/{cal}/bad.ics"
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:bad\r\n"
            "DTSTAMP:20260101T000000Z\r\nDTSTART:20260302T090000Z\r\n"
            "RRULE:FREQ=DAILY;BYHOUR=99\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    r = requests.put(url, data=text, auth=(account.username, account.password), timeout=30,
                     headers={"Content-Type": "text/calendar"})
    # RFC 4791 1.3: a violated precondition is 403, named in a DAV:error.
    assert r.status_code == 403, (r.status_code, r.text)
    assert "valid-calendar-data" in r.text and "BYHOUR" in r.text
