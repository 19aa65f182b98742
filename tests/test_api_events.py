"""The event API (/api/v1/events) over real HTTP against a real PostgreSQL:
create, read, list, patch, cancel, trash, restore, attendees, and the errors
a caller gets for bad input. Two-writer checks with a CalDAV client are in
test_api_events_caldav.py."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests
from test_sidecar_api import Api, new_api, problem

WEEK = {"start": "2026-03-02T00:00:00Z", "end": "2026-03-09T00:00:00Z"}


def create(api: Api, **fields: Any) -> dict:
    body = {"title": "Standup", "start_time": "2026-03-02T09:00:00+01:00", **fields}
    r = api.post("/events", body)
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == f"/api/v1/events/{r.json()['id']}"
    assert r.headers["ETag"] == r.json()["etag"]
    return r.json()


def patch(api: Api, event_id: str, body: Any, **headers: str) -> requests.Response:
    return api.session.patch(f"{api.base}/events/{event_id}", json=body, timeout=30,
                             headers={"Content-Type": "application/merge-patch+json", **headers})


def caldav_text(api: Api, event: dict) -> str:
    """The resource as a CalDAV client GETs it."""
    account = api.account
    calendar_href = api.session.get(f"{api.base}/calendars", timeout=30).json()["calendars"]
    href = next(c["href"] for c in calendar_href if c["id"] == event["calendar_id"])
    url = f"{api.base.removesuffix('api/v1')}{account.username}/{href}/{event['uid']}.ics"
    r = requests.get(url, auth=(account.username, account.password), timeout=30)
    assert r.status_code == 200, (url, r.status_code)
    return r.text


@pytest.fixture
def api(server, database_url, sql):
    a = new_api(server, database_url, sql)
    yield a
    a.session.close()


def test_create_writes_rows_and_a_text_clients_read_whole(api: Api) -> None:
    made = create(api, title="Planning", description="Q2", location="Room 1",
                  end_time="2026-03-02T10:30:00+01:00", timezone="Europe/Berlin",
                  rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=4",
                  attendees=[{"email": "ann@example.com", "name": "Ann"}],
                  reminders=[{"minutes_before": 15}, {"type": "email", "minutes_before": 60}],
                  custom_fields={"x-deal-stage": "won"})
    assert made["title"] == "Planning" and made["timezone"] == "Europe/Berlin"
    assert made["start_time"] == "2026-03-02T08:00:00Z"
    assert made["end_time"] == "2026-03-02T09:30:00Z"
    assert made["recurrence"] == {"freq": "weekly", "interval": 1, "byday": ["MO"],
                                  "bymonthday": None, "until": None, "count": 4}
    assert [(a["email"], a["rsvp_status"]) for a in made["attendees"]] == [
        ("ann@example.com", "pending")]
    assert sorted((r["type"], r["minutes_before"]) for r in made["reminders"]) == [
        ("display", 15), ("email", 60)]
    assert made["custom_fields"] == {"x-deal-stage": "won"}
    text = caldav_text(api, made)
    for line in ("SUMMARY:Planning", "RRULE:FREQ=WEEKLY;COUNT=4;BYDAY=MO",
                 "DTSTART;TZID=Europe/Berlin:20260302T090000", "BEGIN:VTIMEZONE",
                 "TRIGGER:-PT15M", "ACTION:EMAIL", "X-DEAL-STAGE:won", "mailto:ann@example.com"):
        assert line in text, (line, text)
    read = api.get(f"/events/{made['id']}")
    assert read.status_code == 200 and read.json() == made


def test_list_expands_a_series_in_the_window(api: Api) -> None:
    made = create(api, timezone="Europe/Berlin", rrule="FREQ=DAILY;COUNT=10")
    single = create(api, title="Lunch", start_time="2026-03-03T12:00:00Z")
    r = api.get("/events", **WEEK)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    series = [d for d in data if d["event_id"] == made["id"]]
    assert [d["occurrence_start"] for d in series] == [
        f"2026-03-0{d}T08:00:00Z" for d in range(2, 9)]
    assert series[0]["recurrence_id"] == "2026-03-02T08:00:00Z"
    lunch = [d for d in data if d["event_id"] == single["id"]]
    assert len(lunch) == 1 and lunch[0]["recurrence_id"] is None
    page = api.get("/events", limit=3, **WEEK).json()
    assert len(page["data"]) == 3 and page["next_cursor"]
    rest = api.get("/events", limit=500, cursor=page["next_cursor"], **WEEK).json()
    assert [d["occurrence_start"] for d in page["data"] + rest["data"]] == \
        [d["occurrence_start"] for d in data]
    compact = api.get("/events", format="compact", **WEEK).json()["data"][0]
    assert set(compact) == {"id", "title", "start", "end", "status", "recurrence_id"}


def test_patch_changes_only_what_is_sent_and_honours_if_match(api: Api) -> None:
    made = create(api, location="Room 1", reminders=[{"minutes_before": 10}])
    r = patch(api, made["id"], {"title": "Renamed", "location": None},
              **{"If-Match": made["etag"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["title"] == "Renamed" and body["location"] is None
    assert body["reminders"] == made["reminders"] and body["start_time"] == made["start_time"]
    assert body["etag"] != made["etag"]
    stale = patch(api, made["id"], {"title": "Lost"}, **{"If-Match": made["etag"]})
    problem(stale, 412, "changed")
    assert api.get(f"/events/{made['id']}").json()["title"] == "Renamed"


def test_trash_and_restore(api: Api) -> None:
    made = create(api)
    assert api.delete(f"/events/{made['id']}").status_code == 204
    problem(api.get(f"/events/{made['id']}"), 404)
    trashed = api.get(f"/events/{made['id']}", include_deleted="true")
    assert trashed.status_code == 200 and trashed.json()["deleted_at"]
    only = api.get("/events", only_deleted="true").json()["data"]
    assert [d["id"] for d in only] == [made["id"]]
    r = api.post(f"/events/{made['id']}/restore")
    assert r.status_code == 200 and r.json()["deleted_at"] is None
    assert api.get(f"/events/{made['id']}").status_code == 200


def test_idempotent_create_with_a_client_id(api: Api) -> None:
    event_id = str(uuid.uuid4())
    first = create(api, id=event_id)
    again = api.post("/events", {"title": "Standup", "start_time": "2026-03-02T09:00:00Z",
                                 "id": event_id})
    assert again.status_code == 200 and again.json()["id"] == first["id"] == event_id
    assert len(api.get("/events", **WEEK).json()["data"]) == 1


def test_one_occurrence_moved_cancelled_and_removed(api: Api) -> None:
    made = create(api, timezone="Europe/Berlin", rrule="FREQ=DAILY;COUNT=5")
    rid = "2026-03-03T08:00:00Z"
    moved = patch(api, made["id"], {"recurrence_id": rid,
                                    "start_time": "2026-03-03T11:00:00+01:00"})
    assert moved.status_code == 200, moved.text
    assert [o["recurrence_id"] for o in moved.json()["overrides"]] == [rid]
    r = api.session.delete(f"{api.base}/events/{made['id']}",
                           params={"recurrence_id": "2026-03-04T08:00:00Z"}, timeout=30)
    assert r.status_code == 200, r.text
    starts = [d["occurrence_start"] for d in api.get("/events", **WEEK).json()["data"]]
    assert starts == ["2026-03-02T08:00:00Z", "2026-03-03T10:00:00Z",
                      "2026-03-05T08:00:00Z", "2026-03-06T08:00:00Z"]
    problem(patch(api, made["id"], {"recurrence_id": "2026-03-03T09:00:00Z", "title": "x"}),
            404, "no occurrence")


def test_attendees_added_answered_and_removed(api: Api) -> None:
    made = create(api)
    r = api.post(f"/events/{made['id']}/attendees", {"email": "bob@example.com"})
    assert r.status_code == 201, r.text
    bob = r.json()
    assert bob["rsvp_status"] == "pending"
    r = api.session.put(f"{api.base}/events/{made['id']}/attendees/{bob['id']}",
                        json={"rsvp_status": "accepted"}, timeout=30)
    assert r.status_code == 200 and r.json()["rsvp_status"] == "accepted", r.text
    assert "PARTSTAT=ACCEPTED" in caldav_text(api, made)
    assert api.delete(f"/events/{made['id']}/attendees/{bob['id']}").status_code == 204
    assert api.get(f"/events/{made['id']}/attendees").json()["attendees"] == []


@pytest.mark.parametrize(("body", "field"), [
    ({"start_time": "2026-03-02T09:00:00Z"}, "title"),
    ({"title": "x" * 501, "start_time": "2026-03-02T09:00:00Z"}, "title"),
    ({"title": "a", "start_time": "2026-03-02T09:00:00Z", "end_time": "2026-03-02T08:00:00Z"},
     "end_time"),
    ({"title": "a", "start_time": "2026-03-02T09:00:00Z", "rrule": "FREQ=SOMETIMES"}, "rrule"),
    ({"title": "a", "start_time": "2026-03-02T09:00:00Z", "timezone": "Mars/Olympus"},
     "timezone"),
    ({"title": "a", "start_time": "2026-03-02T09:00:00Z", "colour": "red"}, "colour"),
    ({"title": "a", "start_time": "2026-03-02T09:00:00Z", "id": "nope"}, "id"),
    ({"title": "a", "start_time": "2026-03-02T09:00:00Z",
      "attendees": [{"email": f"p{n}@example.com"} for n in range(501)]}, "attendees"),
    ({"title": "a", "start_time": "2026-03-02T09:00:00Z",
      "reminders": [{"minutes_before": n} for n in range(21)]}, "reminders"),
    ({"title": "a", "start_time": "2026-03-02T09:00:00Z", "rrule": "FREQ=DAILY"}, "timezone"),
])
def test_bad_create_names_the_field_and_writes_nothing(api: Api, body: dict, field: str) -> None:
    doc = problem(api.post("/events", body), 400)
    assert doc["errors"][0]["parameter"] == field, doc
    assert api.get("/events").json()["data"] == []


def test_bad_reads_and_patches(api: Api) -> None:
    made = create(api)
    problem(api.get("/events/not-a-uuid"), 404)
    problem(api.get(f"/events/{uuid.uuid4()}"), 404)
    problem(patch(api, made["id"], [1, 2]), 400, "object")
    problem(api.get("/events", start="2026-01-01T00:00:00Z", end="2027-06-01T00:00:00Z"), 400,
            "366")
    problem(api.get("/events", sort="colour"), 400)
    problem(api.get("/events", cursor="garbage"), 400)


def test_tenants_never_meet(server, database_url, sql, api: Api) -> None:
    other = new_api(server, database_url, sql)
    made = create(api)
    for r in (other.get(f"/events/{made['id']}"), patch(other, made["id"], {"title": "x"}),
              other.delete(f"/events/{made['id']}"),
              other.post(f"/events/{made['id']}/restore"),
              other.post(f"/events/{made['id']}/cancel")):
        problem(r, 404)
    assert other.get("/events", **WEEK).json()["data"] == []
    assert api.get(f"/events/{made['id']}").json()["title"] == "Standup"


def test_check_availability_refuses_a_taken_slot_and_writes_nothing(api: Api) -> None:
    taken = create(api, title="Busy", start_time="2026-03-02T09:00:00Z")
    r = api.post("/events", {"title": "Clash", "start_time": "2026-03-02T09:30:00Z",
                             "check_availability": True})
    doc = problem(r, 409, "overlap")
    assert [c["event_id"] for c in doc["conflicts"]] == [taken["id"]]
    assert [d["title"] for d in api.get("/events", **WEEK).json()["data"]] == ["Busy"]
    free = api.post("/events", {"title": "Later", "start_time": "2026-03-02T10:00:00Z",
                                "check_availability": True})
    assert free.status_code == 201, free.text
    problem(api.post("/events", {"title": "x", "start_time": "2026-03-02T10:00:00Z",
                                 "check_availability": "yes"}), 400, "true or false")


def test_calendar_by_name_and_moving_an_event_between_calendars(api: Api, sql) -> None:
    other = sql.execute(
        "INSERT INTO calendars (tenant_id, href, name, components) VALUES (%s, %s, 'Work', "
        "ARRAY['VEVENT']) RETURNING id::text",
        (api.account.tenant_id, "work-" + uuid.uuid4().hex[:8])).fetchone()[0]
    made = create(api, calendar_name="work")
    assert made["calendar_id"] == other and made["calendar_name"] == "Work"
    problem(api.post("/events", {"title": "x", "start_time": "2026-03-02T09:00:00Z",
                                 "calendar_name": "Nope"}), 400, "no calendar named")
    moved = patch(api, made["id"], {"calendar_id": api.calendar_id})
    assert moved.status_code == 200, moved.text
    assert moved.json()["calendar_id"] == api.calendar_id
    listed = api.get("/events", calendar_id=api.calendar_id, **WEEK).json()["data"]
    assert [d["id"] for d in listed] == [made["id"]]
    assert api.get("/events", calendar_id=other, **WEEK).json()["data"] == []


def test_all_day_events_and_switching_to_timed(api: Api) -> None:
    made = create(api, title="Offsite", start_time="2026-03-04", end_time="2026-03-06")
    assert (made["is_all_day"], made["start_time"], made["end_time"]) == \
        (True, "2026-03-04", "2026-03-06")
    listed = api.get("/events", **WEEK).json()["data"]
    assert [(d["occurrence_start"], d["occurrence_end"]) for d in listed] == \
        [("2026-03-04", "2026-03-06")]
    problem(patch(api, made["id"], {"is_all_day": False}), 400, "start_time")
    timed = patch(api, made["id"], {"is_all_day": False, "start_time": "2026-03-04T09:00:00Z"})
    assert timed.status_code == 200, timed.text
    assert (timed.json()["is_all_day"], timed.json()["end_time"]) == \
        (False, "2026-03-04T10:00:00Z")


def test_custom_fields_merge_key_by_key(api: Api) -> None:
    made = create(api, custom_fields={"x-a": "1", "x-b": "2"})
    r = api.session.patch(f"{api.base}/events/{made['id']}/custom",
                          json={"x-b": None, "x-c": "3"}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["custom_fields"] == {"x-a": "1", "x-c": "3"}
    r = patch(api, made["id"], {"custom_fields": {"x-a": None}})
    assert r.json()["custom_fields"] == {"x-c": "3"}
    problem(api.session.patch(f"{api.base}/events/{made['id']}/custom", json={"deal": "1"},
                              timeout=30), 400, "X- property")


def test_cancel_and_delete_with_a_stale_etag(api: Api) -> None:
    made = create(api)
    r = api.post(f"/events/{made['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["sequence"] == 1
    stale = api.session.delete(f"{api.base}/events/{made['id']}", timeout=30,
                               headers={"If-Match": made["etag"]})
    problem(stale, 412)
    assert api.get(f"/events/{made['id']}").status_code == 200
    problem(api.session.delete(f"{api.base}/events/{made['id']}", params={"permanent": "true"},
                               timeout=30), 403, "admin")
    problem(api.post(f"/events/{uuid.uuid4()}/restore"), 404)


def test_read_only_key_cannot_write(server, database_url, sql, api: Api) -> None:
    made = create(api)
    reader = new_api(server, database_url, sql, read_only=True, account=api.account)
    assert reader.get(f"/events/{made['id']}").status_code == 200
    for r in (reader.post("/events", {"title": "x", "start_time": "2026-03-02T09:00:00Z"}),
              patch(reader, made["id"], {"title": "x"}),
              reader.post(f"/events/{made['id']}/cancel"),
              reader.delete(f"/events/{made['id']}")):
        problem(r, 403)
    assert api.get(f"/events/{made['id']}").json()["title"] == "Standup"


def test_exdates_need_a_repeating_event(api: Api) -> None:
    doc = problem(api.post("/events", {"title": "a", "start_time": "2026-03-02T09:00:00Z",
                                       "exdates": ["2026-03-03T09:00:00Z"]}), 400, "repeat")
    assert doc["errors"][0]["parameter"] == "exdates"
    made = create(api, timezone="UTC", rrule="FREQ=DAILY;COUNT=3",
                  start_time="2026-03-02T09:00:00Z", exdates=["2026-03-03T09:00:00Z"])
    starts = [d["occurrence_start"] for d in api.get("/events", **WEEK).json()["data"]]
    assert starts == ["2026-03-02T09:00:00Z", "2026-03-04T09:00:00Z"]
    assert made["exdates"] == ["2026-03-03T09:00:00Z"]


def test_bad_attendee_bodies_are_400_naming_the_field(api: Api) -> None:
    made = create(api)
    for body, parameter in [({"email": 5}, "attendee.email"), ({"email": ["x"]}, "attendee.email"),
                            ({}, "attendee"), ({"name": "Ann"}, "attendee"),
                            ({"email": "a@example.com", "x": 1}, "attendee.x")]:
        doc = problem(api.post(f"/events/{made['id']}/attendees", body), 400)
        assert doc["errors"][0]["parameter"] == parameter, (body, doc)
    assert api.get(f"/events/{made['id']}/attendees").json()["attendees"] == []


def test_empty_list_choices_and_a_doubled_recurrence_id_are_400(api: Api) -> None:
    for name in ("sort", "order", "format"):
        doc = problem(api.get("/events", **{name: ""}), 400)
        assert doc["errors"][0]["parameter"] == name
    made = create(api, timezone="Europe/Berlin", rrule="FREQ=DAILY;COUNT=3")
    r = api.session.patch(f"{api.base}/events/{made['id']}",
                          params={"recurrence_id": "2026-03-03T08:00:00Z"},
                          json={"recurrence_id": None, "title": "x"}, timeout=30)
    assert problem(r, 400)["errors"][0]["parameter"] == "recurrence_id"


def test_a_title_patch_leaves_the_instance_index_and_people_rows_alone(api: Api, sql) -> None:
    """Only what changed is written: the occurrences keep their row versions
    (xmin) through a title patch, and move or go when the times or rule do."""
    made = create(api, title="Weekly", timezone="Europe/Berlin",
                  rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=4",
                  attendees=[{"email": "ann@example.com"}])

    def index() -> list[tuple]:
        return sql.execute("SELECT recurrence_id, start_time, xmin::text FROM event_instances "
                           "WHERE event_id = %s ORDER BY recurrence_id",
                           (made["id"],)).fetchall()

    def people() -> list[tuple]:
        return sql.execute("SELECT id::text, email, xmin::text FROM event_attendees "
                           "WHERE event_id = %s ORDER BY email", (made["id"],)).fetchall()

    before, people_before = index(), people()
    assert len(before) == 4 and len(people_before) == 1
    r = patch(api, made["id"], {"title": "Renamed"}, **{"If-Match": made["etag"]})
    assert r.status_code == 200, r.text
    assert index() == before and people() == people_before
    r = patch(api, made["id"], {"attendees": [{"email": "ann@example.com"},
                                              {"email": "bob@example.com"}]})
    assert r.status_code == 200, r.text
    assert people()[0] == people_before[0] and len(people()) == 2
    r = patch(api, made["id"], {"start_time": "2026-03-02T10:00:00+01:00",
                                "rrule": "FREQ=WEEKLY;BYDAY=MO;COUNT=2"})
    assert r.status_code == 200, r.text
    after = index()
    assert len(after) == 2
    assert [a[1] for a in after] == [b[1] + (after[0][1] - before[0][1]) for b in before[:2]]
    assert after[0][1] != before[0][1]
    week = api.session.get(f"{api.base}/events", params=WEEK, timeout=30).json()["data"]
    assert [o["occurrence_start"] for o in week if o["event_id"] == made["id"]] \
        == ["2026-03-02T09:00:00Z"]
