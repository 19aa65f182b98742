"""Round trips of the iCalendar <-> row mapping, without a server.

rows -> iCalendar -> rows must give back the same column values, whether the
text is rendered from scratch (a row born in SQL) or by editing a client's text.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import icalendar
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backside_caldav.domain.ical_parse import parse_resource
from backside_caldav.domain.ical_render import render_resource
from backside_caldav.domain.records import AttendeeRecord, EventRecord

UTC = timezone.utc
STAMP = datetime(2026, 1, 1, tzinfo=UTC)
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata"]

text = st.one_of(st.none(), st.text(
    st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=80))
emails = st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.(com|org)", fullmatch=True)


@st.composite
def attendees(draw: st.DrawFn) -> list[AttendeeRecord]:
    found = draw(st.lists(emails, max_size=4, unique=True))
    return [AttendeeRecord(email=e, name=draw(st.one_of(st.none(), st.text(
        st.characters(whitelist_categories=("L", "N", "Zs")), min_size=1, max_size=20).map(
        str.strip).filter(bool))),
        rsvp_status=draw(st.sampled_from(["pending", "accepted", "declined", "tentative"])),
        role=draw(st.sampled_from([None, "REQ-PARTICIPANT", "OPT-PARTICIPANT", "CHAIR"])))
        for e in found]


@st.composite
def events(draw: st.DrawFn) -> EventRecord:
    all_day = draw(st.booleans())
    tz = draw(st.sampled_from(ZONES))
    minutes = draw(st.integers(0, 60 * 24 * 3650))
    local = datetime(2020, 1, 1) + timedelta(minutes=minutes)
    if all_day:
        local = local.replace(hour=0, minute=0)
    from zoneinfo import ZoneInfo
    start = local.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)
    # Normalise through UTC and back: a nonexistent local time has no row form.
    start = start.astimezone(ZoneInfo(tz)).astimezone(UTC)
    if all_day:
        days = draw(st.integers(1, 10))
        end_local = (start.astimezone(ZoneInfo(tz)).replace(tzinfo=None).date() + timedelta(days=days))
        end = datetime(end_local.year, end_local.month, end_local.day,
                       tzinfo=ZoneInfo(tz)).astimezone(UTC)
    else:
        end = start + timedelta(minutes=draw(st.integers(0, 60 * 48)))
    rrule = draw(st.sampled_from([None, "FREQ=DAILY;COUNT=5", "FREQ=WEEKLY;BYDAY=MO,WE,FR",
                                  "FREQ=MONTHLY;BYDAY=-1FR", "FREQ=YEARLY"]))
    exdates = []
    if rrule and draw(st.booleans()):
        # A week later in local wall time (an all-day date stays a midnight).
        local_next = start.astimezone(ZoneInfo(tz)).replace(tzinfo=None) + timedelta(days=7)
        exdates = [local_next.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)]
    return EventRecord(
        title=draw(text), description=draw(text), location=draw(text),
        start_time=start, end_time=end, timezone=tz, is_all_day=all_day, is_floating=False,
        event_type=draw(st.sampled_from(["event", "focus_time", "out_of_office",
                                         "working_location", "reminder"])),
        rrule=rrule, exdates=exdates,
        status=draw(st.sampled_from([None, "confirmed", "tentative", "cancelled"])),
        transparency=draw(st.sampled_from([None, "opaque", "transparent"])),
        organizer=draw(st.one_of(st.none(), emails)),
        sequence=draw(st.integers(0, 1000)),
        attendees=draw(attendees()),
        links=draw(st.lists(st.tuples(st.sampled_from(["contact", "task", "note", "deal"]),
                                      st.text(min_size=1, max_size=12)),
                            max_size=3, unique=True)),
    )


def _norm(event: EventRecord) -> dict:
    values = event.mapped()
    values["attendees"] = sorted((a.key(), a.name, a.rsvp_status, a.role) for a in event.attendees)
    return values


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events())
def test_rows_render_and_parse_back(event: EventRecord) -> None:
    text = render_resource("uid-1", [event], None, STAMP)
    parsed = parse_resource(text, event.timezone if event.is_all_day else None)
    assert parsed.uid == "uid-1"
    assert [_norm(e) for e in parsed.events] == [_norm(event)]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events(), events())
def test_editing_a_client_text_maps_to_the_new_row(before: EventRecord, after: EventRecord) -> None:
    client_text = render_resource("uid-2", [before], None, STAMP).replace(
        "END:VEVENT", "X-CLIENT-THING;X-P=1:kept\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\n"
        "TRIGGER:-PT5M\r\nDESCRIPTION:x\r\nEND:VALARM\r\nEND:VEVENT")
    text = render_resource("uid-2", [after], client_text, STAMP)
    parsed = parse_resource(text, after.timezone if after.is_all_day else None)
    assert [_norm(e) for e in parsed.events] == [_norm(after)]
    vevent = icalendar.Calendar.from_ical(text).walk("VEVENT")[0]
    assert str(vevent["X-CLIENT-THING"]) == "kept"
    assert vevent["X-CLIENT-THING"].params["X-P"] == "1"
    assert len(vevent.walk("VALARM")) == 1


def test_override_rows_render_as_recurrence_id_components() -> None:
    start = datetime(2026, 3, 2, 8, tzinfo=UTC)
    master = EventRecord(title="Standup", description=None, location=None, start_time=start,
                         end_time=start + timedelta(hours=1), timezone="Europe/Berlin",
                         is_all_day=False, is_floating=False, event_type="event",
                         rrule="FREQ=WEEKLY;COUNT=4")
    moved = EventRecord(title="Moved", description=None, location=None,
                        start_time=start + timedelta(days=8), end_time=start + timedelta(days=8, hours=1),
                        timezone="Europe/Berlin", is_all_day=False, is_floating=False,
                        event_type="event", rrule=None, recurrence_id=start + timedelta(days=7))
    text = render_resource("s", [master, moved], None, STAMP)
    parsed = parse_resource(text)
    assert [_norm(e) for e in parsed.events] == [_norm(master), _norm(moved)]
    assert "BEGIN:VTIMEZONE" in text and "TZID:Europe/Berlin" in text


def test_windows_and_mozilla_tzids_map_to_iana() -> None:
    from backside_caldav.domain.zones import iana_zone
    assert iana_zone("W. Europe Standard Time") == "Europe/Berlin"
    assert iana_zone("/mozilla.org/20050126_1/Europe/Berlin") == "Europe/Berlin"
    assert iana_zone("Not/AZone") is None
