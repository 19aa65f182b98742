"""The event API tried as a new user would: odd inputs, daylight-saving gaps
and folds, series switched between all-day and timed. Each test here found a
bug (see the commit that fixes it, or the one that describes it)."""

from __future__ import annotations

import icalendar
import pytest
from test_api_events import caldav_text, create, patch
from test_sidecar_api import Api, new_api, problem


@pytest.fixture
def api(server, database_url, sql):
    a = new_api(server, database_url, sql)
    yield a
    a.session.close()


def listed(api: Api, start: str, end: str) -> list[tuple[str, str, str]]:
    r = api.get("/events", start=start, end=end)
    assert r.status_code == 200, r.text
    return [(d["title"], d["occurrence_start"], d["occurrence_end"]) for d in r.json()["data"]]


def test_a_custom_field_with_a_line_break_is_refused_not_a_500(api: Api) -> None:
    for value in ("two\nlines", "carriage\rreturn"):
        doc = problem(api.post("/events", {"title": "x", "start_time": "2026-03-02T09:00:00Z",
                                           "custom_fields": {"x-note": value}}), 400)
        assert doc["errors"][0]["parameter"] == "custom_fields.x-note", doc
    made = create(api)
    r = api.session.patch(f"{api.base}/events/{made['id']}/custom", json={"x-note": "a\nb"},
                          timeout=30)
    assert problem(r, 400)["errors"][0]["parameter"] == "custom_fields.x-note"
    # Commas, semicolons and backslashes are one line: they round-trip as sent.
    made = create(api, custom_fields={"x-list": "a,b;c\\d"})
    assert api.get(f"/events/{made['id']}").json()["custom_fields"] == {"x-list": "a,b;c\\d"}


def test_a_start_in_the_spring_gap_still_lasts_an_hour(api: Api) -> None:
    """02:30 on 29 March 2026 does not exist in Berlin (clocks jump 02:00 -> 03:00):
    RFC 5545 reads it with the offset before the gap (01:30Z); the default end is an
    hour later, not the same instant."""
    made = create(api, title="gap", start_time="2026-03-29T02:30:00", timezone="Europe/Berlin")
    assert (made["start_time"], made["end_time"]) == \
        ("2026-03-29T01:30:00Z", "2026-03-29T02:30:00Z")


def test_an_end_before_the_start_in_utc_is_refused(api: Api) -> None:
    """03:15 is after 02:30 on the wall clock, but 02:30 lies in the gap (01:30Z) and
    03:15 CEST is 01:15Z: the event would end before it starts."""
    doc = problem(api.post("/events", {"title": "x", "start_time": "2026-03-29T02:30:00",
                                       "end_time": "2026-03-29T03:15:00",
                                       "timezone": "Europe/Berlin"}), 400)
    assert doc["errors"][0]["parameter"] == "end_time"
    assert api.get("/events", start="2026-03-28T00:00:00Z",
                   end="2026-03-30T00:00:00Z").json()["data"] == []


def test_a_daily_series_keeps_its_wall_time_across_the_dst_change(api: Api) -> None:
    create(api, title="DST", start_time="2026-03-27T09:00:00", timezone="Europe/Berlin",
           rrule="FREQ=DAILY;COUNT=4")
    assert listed(api, "2026-03-27T00:00:00Z", "2026-04-01T00:00:00Z") == [
        ("DST", "2026-03-27T08:00:00Z", "2026-03-27T09:00:00Z"),
        ("DST", "2026-03-28T08:00:00Z", "2026-03-28T09:00:00Z"),
        ("DST", "2026-03-29T07:00:00Z", "2026-03-29T08:00:00Z"),
        ("DST", "2026-03-30T07:00:00Z", "2026-03-30T08:00:00Z")]


def _exdates(text: str) -> list[icalendar.prop.vDDDLists]:
    master = next(e for e in icalendar.Calendar.from_ical(text).walk("VEVENT")
                  if "RECURRENCE-ID" not in e)
    found = master.get("EXDATE", [])
    return found if isinstance(found, list) else [found]


def test_a_timed_series_made_all_day_keeps_its_exdates_as_dates(api: Api) -> None:
    made = create(api, title="S", start_time="2026-03-02T09:00:00", timezone="Europe/Berlin",
                  rrule="FREQ=DAILY;COUNT=4", exdates=["2026-03-03T09:00:00"])
    r = patch(api, made["id"], {"is_all_day": True, "start_time": "2026-03-02"})
    assert r.status_code == 200, r.text
    assert r.json()["exdates"] == ["2026-03-03"]
    # RFC 5545: EXDATE has the value type of DTSTART, here DATE.
    for prop in _exdates(caldav_text(api, made)):
        assert prop.params.get("VALUE") == "DATE", prop.to_ical()
    assert listed(api, "2026-03-01T00:00:00Z", "2026-03-09T00:00:00Z") == [
        ("S", "2026-03-02", "2026-03-03"), ("S", "2026-03-04", "2026-03-05"),
        ("S", "2026-03-05", "2026-03-06")]


def test_an_all_day_series_made_timed_keeps_its_exdates_and_its_occurrences(api: Api) -> None:
    made = create(api, title="S", start_time="2026-03-02", rrule="FREQ=DAILY;COUNT=4",
                  exdates=["2026-03-03"])
    r = patch(api, made["id"], {"is_all_day": False, "start_time": "2026-03-02T10:00:00",
                                "timezone": "Europe/Berlin"})
    assert r.status_code == 200, r.text
    assert r.json()["exdates"] == ["2026-03-03T09:00:00Z"]
    for prop in _exdates(caldav_text(api, made)):
        assert prop.params.get("VALUE") != "DATE", prop.to_ical()
    assert listed(api, "2026-03-01T00:00:00Z", "2026-03-09T00:00:00Z") == [
        ("S", "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z"),
        ("S", "2026-03-04T09:00:00Z", "2026-03-04T10:00:00Z"),
        ("S", "2026-03-05T09:00:00Z", "2026-03-05T10:00:00Z")]


def test_unicode_and_escaped_text_round_trip(api: Api) -> None:
    made = create(api, title="Ünïcödé 🎉 עברית e\u0301", location="Berlin, Germany; Room 1",
                  description="line1\nline2, with; semis\\back")
    read = api.get(f"/events/{made['id']}").json()
    assert (read["title"], read["location"], read["description"]) == (
        "Ünïcödé 🎉 עברית e\u0301", "Berlin, Germany; Room 1", "line1\nline2, with; semis\\back")
    vevent = icalendar.Calendar.from_ical(caldav_text(api, made)).walk("VEVENT")[0]
    assert str(vevent["DESCRIPTION"]) == "line1\nline2, with; semis\\back"
    assert str(vevent["SUMMARY"]) == "Ünïcödé 🎉 עברית e\u0301"
    long_title = create(api, title="🎉" * 500)
    assert api.get(f"/events/{long_title['id']}").json()["title"] == "🎉" * 500
