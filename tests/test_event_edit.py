"""domain/event_edit.py and service/event_changes.py without a server: the API's
fields -> iCalendar text -> rows (parse_resource) round trip, and edits that
keep what the API does not map."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from backside_caldav.domain import event_edit as ed
from backside_caldav.domain.ical_parse import parse_calendar, parse_resource
from backside_caldav.service.event_changes import Changes, apply_changes
from backside_caldav.service.problems import Problem

UTC = timezone.utc
STAMP = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

CLIENT_TEXT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Apple Inc.//macOS 14.0//EN
BEGIN:VEVENT
UID:client-1
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Berlin:20260302T090000
DTEND;TZID=Europe/Berlin:20260302T100000
SUMMARY:Client made
X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC
ATTENDEE;CN=Ann;PARTSTAT=ACCEPTED;X-CUSTOM-PARAM=kept:mailto:ann@example.com
RRULE:FREQ=DAILY;COUNT=5
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:Alarm
TRIGGER:-PT10M
X-WR-ALARMUID:ABC-123
END:VALARM
BEGIN:VALARM
ACTION:AUDIO
TRIGGER;VALUE=DATE-TIME:20260302T075500Z
END:VALARM
END:VEVENT
END:VCALENDAR
"""


def build(doc: dict, zone: str | None = "Europe/Berlin", owner: str | None = None) -> str:
    cal, comp = ed.new_resource("uid-1", STAMP)
    apply_changes(cal, comp, None, Changes(doc=doc, calendar_zone=zone, owner=owner,
                                           creating=True))
    return ed.finish(cal)


def edit(text: str, doc: dict, rid: str | None = None, remove: bool = False) -> str:
    cal = parse_calendar(text)
    apply_changes(cal, ed.master_of(cal), None, Changes(
        doc=doc, calendar_zone="Europe/Berlin", owner=None, recurrence_id=rid,
        remove_occurrence=remove))
    return ed.finish(cal)


def test_fields_round_trip_through_text_to_rows() -> None:
    text = build({"title": "Review", "description": "Notes", "location": "Room",
                  "start_time": "2026-03-29T09:00:00", "end_time": "2026-03-29T09:45:00",
                  "timezone": "Europe/Berlin", "rrule": "FREQ=WEEKLY;BYDAY=SU;COUNT=3",
                  "event_type": "focus_time", "status": "tentative",
                  "transparency": "transparent",
                  "attendees": [{"email": "bob@example.com", "role": "optional"}]},
                 owner="me@example.com")
    master = parse_resource(text, "Europe/Berlin").events[0]
    # 09:00 wall time in Berlin on the DST day (UTC+2 from 29 March 2026).
    assert master.start_time == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    assert master.end_time - master.start_time == timedelta(minutes=45)
    assert (master.title, master.description, master.location) == ("Review", "Notes", "Room")
    assert master.timezone == "Europe/Berlin" and master.rrule == "FREQ=WEEKLY;COUNT=3;BYDAY=SU"
    assert (master.event_type, master.status, master.transparency) == \
        ("focus_time", "tentative", "transparent")
    assert master.organizer == "me@example.com"
    assert [(a.email, a.rsvp_status, a.role) for a in master.attendees] == [
        ("me@example.com", "accepted", "CHAIR"),
        ("bob@example.com", "pending", "OPT-PARTICIPANT")]
    assert "BEGIN:VTIMEZONE" in text and "TZID:Europe/Berlin" in text


def test_all_day_dates_and_the_default_end() -> None:
    text = build({"title": "Holiday", "start_time": "2026-05-01"})
    comp = ed.master_of(parse_calendar(text))
    assert comp["DTSTART"].dt == date(2026, 5, 1) and comp["DTEND"].dt == date(2026, 5, 2)
    master = parse_resource(text, "Europe/Berlin").events[0]
    assert master.is_all_day and master.start_time == datetime(2026, 4, 30, 22, tzinfo=UTC)


def test_reminders_and_custom_fields_are_written_and_read_back() -> None:
    text = build({"title": "Call", "start_time": "2026-03-02T09:00:00Z",
                  "reminders": [{"minutes_before": 30}, {"type": "email", "minutes_before": 0}],
                  "custom_fields": {"x-deal-stage": "won", "X-Priority-Level": 3}})
    comp = ed.master_of(parse_calendar(text))
    assert sorted(ed.reminders_of(comp), key=lambda r: r.minutes_before) == [
        ed.Reminder(0, "email"), ed.Reminder(30, "display")]
    assert ed.custom_fields_of(comp) == {"x-deal-stage": "won", "x-priority-level": "3"}


def test_an_edit_keeps_what_the_api_does_not_map() -> None:
    text = edit(CLIENT_TEXT, {"title": "Renamed", "reminders": [{"minutes_before": 10},
                                                                 {"minutes_before": 5}]})
    assert "SUMMARY:Renamed" in text
    for kept in ("X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC", "X-CUSTOM-PARAM=kept",
                 "X-WR-ALARMUID:ABC-123", "PRODID:-//Apple Inc.//macOS 14.0//EN",
                 "RRULE:FREQ=DAILY;COUNT=5"):
        assert kept in text, kept
    comp = ed.master_of(parse_calendar(text))
    # The absolute AUDIO alarm sat 5 minutes before the start: it stays as it was.
    assert sorted(r.minutes_before for r in ed.reminders_of(comp)) == [5, 10]
    assert "TRIGGER;VALUE=DATE-TIME:20260302T075500Z" in text
    assert "SEQUENCE" not in text  # a new title is not a reschedule


def test_moving_an_occurrence_makes_an_override_and_removing_one_an_exdate() -> None:
    rid = "2026-03-03T08:00:00Z"
    text = edit(CLIENT_TEXT, {"start_time": "2026-03-03T11:00:00"}, rid=rid)
    resource = parse_resource(text, "Europe/Berlin")
    override = resource.events[1]
    assert override.recurrence_id == datetime(2026, 3, 3, 8, tzinfo=UTC)
    assert override.start_time == datetime(2026, 3, 3, 10, tzinfo=UTC)
    assert override.end_time - override.start_time == timedelta(hours=1)
    overrides = [b for b in text.split("BEGIN:VEVENT")[1:] if "RECURRENCE-ID" in b]
    assert len(overrides) == 1 and "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR" in overrides[0]
    text = edit(text, {}, rid=rid, remove=True)
    resource = parse_resource(text, "Europe/Berlin")
    assert len(resource.events) == 1
    assert resource.events[0].exdates == [datetime(2026, 3, 3, 8, tzinfo=UTC)]


@pytest.mark.parametrize(("doc", "field"), [
    ({"title": None}, "title"),
    ({"end_time": "2026-03-02T08:00:00+01:00"}, "end_time"),
    ({"is_all_day": True}, "start_time"),
    ({"rrule": "FREQ=DAILY;COUNT=2;UNTIL=20260310T000000Z"}, "rrule"),
    ({"recurrence": {"freq": "weekly", "byday": ["XX"]}}, "recurrence.byday"),
    ({"custom_fields": {"deal": "x"}}, "custom_fields.deal"),
    ({"attendees": [{"email": "a@example.com", "contact_id": "x"}]}, "attendees[0]"),
    ({"reminders": [{"minutes_before": -5}]}, "reminders[0].minutes_before"),
])
def test_bad_fields_name_themselves(doc: dict, field: str) -> None:
    with pytest.raises(Problem) as caught:
        edit(CLIENT_TEXT, doc)
    assert caught.value.status == 400
    assert caught.value.errors[0]["parameter"] == field


def test_occurrence_that_does_not_exist_is_404() -> None:
    with pytest.raises(Problem) as caught:
        edit(CLIENT_TEXT, {"title": "x"}, rid="2026-03-03T09:00:00Z")
    assert caught.value.status == 404


def test_recurrence_object_both_ways() -> None:
    text = build({"title": "R", "start_time": "2026-03-02T09:00:00", "timezone": "UTC",
                  "recurrence": {"freq": "monthly", "interval": 2, "bymonthday": [2, -1],
                                 "until": "2026-12-31T00:00:00Z"}})
    rule = parse_resource(text).events[0].rrule
    assert rule == "FREQ=MONTHLY;UNTIL=20261231T000000Z;INTERVAL=2;BYMONTHDAY=2,-1"
    assert ed.recurrence_object(rule) == {"freq": "monthly", "interval": 2, "byday": None,
                                          "bymonthday": [2, -1],
                                          "until": "2026-12-31T00:00:00Z", "count": None}


def test_a_local_time_is_read_in_the_event_zone() -> None:
    text = build({"title": "T", "start_time": "2026-07-01T09:00:00", "timezone": "Asia/Tokyo"})
    master = parse_resource(text).events[0]
    assert master.start_time == datetime(2026, 7, 1, 9, tzinfo=ZoneInfo("Asia/Tokyo"))
