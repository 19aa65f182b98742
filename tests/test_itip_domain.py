"""The iTIP rules on their own (domain/itip.py, itip_apply.py, itip_parts.py):
which messages a change sends, what a delivered message does, the
Schedule-Tag's stability, and that every other byte of the client's text is
kept."""

from __future__ import annotations

import icalendar

from backside_caldav.domain import ical_lines
from backside_caldav.domain.itip import (
    ATTENDEE,
    ORGANIZER,
    attendee_reply,
    organizer_messages,
    role,
)
from backside_caldav.domain.itip_apply import (
    NotApplicable,
    apply_reply,
    cancel_copy,
    keep_answers,
    request_copy,
    with_schedule_status,
)
from backside_caldav.domain.itip_parts import Resource, address_key, fingerprint, schedule_tag

EVENT = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VTIMEZONE\r
TZID:Europe/Stockholm\r
BEGIN:STANDARD\r
DTSTART:19701025T030000\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
END:STANDARD\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
UID:meet-1\r
DTSTAMP:20260101T000000Z\r
DTSTART;TZID=Europe/Stockholm:20260310T100000\r
DTEND;TZID=Europe/Stockholm:20260310T110000\r
SUMMARY:Planning\r
SEQUENCE:0\r
ORGANIZER;CN=Alice:mailto:alice@one.example\r
ATTENDEE;CN=Alice;PARTSTAT=ACCEPTED:mailto:alice@one.example\r
ATTENDEE;CN="Bob, B.";PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:Bob@One.example\r
ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:dave@two.example\r
ATTENDEE;SCHEDULE-AGENT=CLIENT;PARTSTAT=NEEDS-ACTION:mailto:self@else.example\r
X-CUSTOM;X-P=1:kept as it is\r
BEGIN:VALARM\r
ACTION:DISPLAY\r
TRIGGER:-PT10M\r
DESCRIPTION:soon\r
END:VALARM\r
END:VEVENT\r
END:VCALENDAR\r
"""
ALICE = "mailto:alice@one.example"


def _parse(text: str) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(text)


def test_role_by_address() -> None:
    r = Resource.of(EVENT)
    assert role(r, {ALICE}).kind == ORGANIZER
    bob = role(r, {"mailto:bob@one.example"})
    assert bob.kind == ATTENDEE and bob.organizer == ALICE
    assert role(r, {"mailto:nobody@one.example"}) is None
    assert address_key("MAILTO:Bob%40One.example") == "mailto:bob@one.example"


def test_new_organizer_object_invites_each_scheduled_attendee() -> None:
    out = organizer_messages(None, Resource.of(EVENT), ALICE)
    assert [(m.method, m.recipient) for m in out] == [
        ("REQUEST", "mailto:Bob@One.example"), ("REQUEST", "mailto:dave@two.example")]
    cal = _parse(out[0].text)
    assert cal["METHOD"] == "REQUEST"
    [event] = cal.walk("VEVENT")
    assert event["SUMMARY"] == "Planning" and not event.walk("VALARM")
    assert cal.walk("VTIMEZONE"), "the zone its times name goes with it"
    assert "SCHEDULE-AGENT" not in out[0].text


def test_an_organizer_scheduling_by_itself_sends_nothing() -> None:
    client = EVENT.replace("ORGANIZER;CN=Alice", "ORGANIZER;SCHEDULE-AGENT=CLIENT;CN=Alice")
    assert organizer_messages(None, Resource.of(client), ALICE) == []
    assert organizer_messages(Resource.of(client), None, ALICE) == []


def test_answer_only_change_sends_no_request_and_keeps_the_tag() -> None:
    answered = EVENT.replace("PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:Bob",
                             "PARTSTAT=ACCEPTED:mailto:Bob")
    assert organizer_messages(Resource.of(EVENT), Resource.of(answered), ALICE) == []
    assert schedule_tag(EVENT) == schedule_tag(answered) is not None
    moved = EVENT.replace("20260310T100000", "20260311T100000")
    assert schedule_tag(moved) != schedule_tag(EVENT)
    out = organizer_messages(Resource.of(EVENT), Resource.of(moved), ALICE)
    assert {m.method for m in out} == {"REQUEST"} and len(out) == 2
    assert schedule_tag("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n") is None


def test_removed_attendee_gets_cancel_naming_only_it() -> None:
    fewer = EVENT.replace("ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:dave@two.example\r\n",
                          "")
    out = organizer_messages(Resource.of(EVENT), Resource.of(fewer), ALICE)
    cancels = [m for m in out if m.method == "CANCEL"]
    assert [m.recipient for m in cancels] == ["mailto:dave@two.example"]
    [event] = _parse(cancels[0].text).walk("VEVENT")
    assert event["STATUS"] == "CANCELLED"
    attendees = event.get("ATTENDEE")
    assert str(attendees) == "mailto:dave@two.example"
    # The people who stay were invited to a changed event: a REQUEST each.
    assert sorted(m.recipient for m in out if m.method == "REQUEST") == [
        "mailto:Bob@One.example"]


def test_delete_cancels_everyone() -> None:
    out = organizer_messages(Resource.of(EVENT), None, ALICE)
    assert sorted((m.method, m.recipient) for m in out) == [
        ("CANCEL", "mailto:Bob@One.example"), ("CANCEL", "mailto:dave@two.example")]


def test_attendee_answer_sends_reply_with_only_its_line() -> None:
    me = "mailto:dave@two.example"
    accepted = EVENT.replace("PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:dave",
                             "PARTSTAT=ACCEPTED;RSVP=TRUE:mailto:dave")
    assert attendee_reply(Resource.of(EVENT), Resource.of(EVENT), me) is None
    out = attendee_reply(Resource.of(EVENT), Resource.of(accepted), me)
    assert out.method == "REPLY" and out.recipient == ALICE
    [event] = _parse(out.text).walk("VEVENT")
    assert str(event["ATTENDEE"]) == me and event["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"
    assert "RSVP" not in event["ATTENDEE"].params
    declined = attendee_reply(Resource.of(accepted), None, me)
    assert "PARTSTAT=DECLINED" in declined.text
    # The organizer scheduling by itself: the server sends nothing.
    client = accepted.replace("ORGANIZER;CN=Alice", "ORGANIZER;SCHEDULE-AGENT=CLIENT;CN=Alice")
    assert attendee_reply(Resource.of(EVENT), Resource.of(client), me) is None


def test_reply_applies_to_the_organizer_copy_and_keeps_other_bytes() -> None:
    me = "mailto:dave@two.example"
    accepted = EVENT.replace("PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:dave",
                             "PARTSTAT=ACCEPTED:mailto:dave")
    reply = attendee_reply(Resource.of(EVENT), Resource.of(accepted), me)
    text, who = apply_reply(Resource.of(EVENT), Resource.of(reply.text))
    assert who == me
    assert "ATTENDEE;PARTSTAT=ACCEPTED:mailto:dave@two.example" in ical_lines.unfold(text)
    assert "X-CUSTOM;X-P=1:kept as it is" in ical_lines.unfold(text)
    assert 'ATTENDEE;CN="Bob, B.";PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:Bob@One.example' \
        in ical_lines.unfold(text)
    stranger = reply.text.replace("mailto:dave@two.example", "mailto:eve@evil.example")
    try:
        apply_reply(Resource.of(EVENT), Resource.of(stranger))
        raise AssertionError("an answer of no attendee applied")
    except NotApplicable:
        pass


def test_request_and_cancel_make_the_attendee_copy() -> None:
    [request] = [m for m in organizer_messages(None, Resource.of(EVENT), ALICE)
                 if "dave" in m.recipient]
    copy = request_copy(request.text)
    assert "METHOD" not in copy and "BEGIN:VEVENT" in copy
    _parse(copy)
    [cancel] = [m for m in organizer_messages(Resource.of(EVENT), None, ALICE)
                if "dave" in m.recipient]
    cancelled = cancel_copy(Resource.of(copy), Resource.of(cancel.text))
    [event] = _parse(cancelled).walk("VEVENT")
    assert event["STATUS"] == "CANCELLED"


def test_schedule_status_and_kept_answers() -> None:
    text = with_schedule_status(Resource.of(EVENT), {"mailto:bob@one.example": "1.2",
                                                     "mailto:dave@two.example": "1.1"})
    lines = ical_lines.unfold(text)
    assert any("SCHEDULE-STATUS=1.2" in x and "Bob@" in x for x in lines)
    assert any("SCHEDULE-STATUS=1.1" in x and "dave@" in x for x in lines)
    answered = EVENT.replace("PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:dave",
                             "PARTSTAT=DECLINED:mailto:dave")
    stale_edit = EVENT.replace("SUMMARY:Planning", "SUMMARY:Planning 2")
    merged = keep_answers(Resource.of(stale_edit), Resource.of(answered))
    assert "PARTSTAT=DECLINED" in merged and "Planning 2" in merged


def test_folding_keeps_characters_whole() -> None:
    line = "SUMMARY:" + "é" * 80
    folded = ical_lines.fold(line)
    assert all(len(p.encode()) <= 75 for p in folded.split("\r\n") if p)
    assert ical_lines.unfold(folded) == [line]


SERIES = EVENT.replace("SEQUENCE:0\r\n", "SEQUENCE:0\r\nRRULE:FREQ=WEEKLY;COUNT=5\r\n")


def test_answer_for_one_occurrence_adds_an_override() -> None:
    me = "mailto:dave@two.example"
    reply_text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nMETHOD:REPLY\r\n"
        "BEGIN:VEVENT\r\nUID:meet-1\r\nDTSTAMP:20260301T000000Z\r\n"
        "RECURRENCE-ID;TZID=Europe/Stockholm:20260317T100000\r\n"
        "ORGANIZER:mailto:alice@one.example\r\n"
        f"ATTENDEE;PARTSTAT=DECLINED:{me}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    text, who = apply_reply(Resource.of(SERIES), Resource.of(reply_text))
    assert who == me
    cal = _parse(text)
    master, override = cal.walk("VEVENT")
    assert "RRULE" in master and "RRULE" not in override
    assert override.decoded("DTSTART") == override.decoded("RECURRENCE-ID")
    assert override.decoded("DURATION").total_seconds() == 3600
    answers = {str(a): a.params["PARTSTAT"] for a in override["ATTENDEE"]}
    assert answers[me] == "DECLINED"
    assert {str(a): a.params["PARTSTAT"] for a in master["ATTENDEE"]}[me] == "NEEDS-ACTION"
    # The recurrence as icalendar expands it: the override replaces the 17 March instance.
    from datetime import date

    import recurring_ical_events
    found = recurring_ical_events.of(cal).between(date(2026, 3, 16), date(2026, 3, 18))
    assert len(found) == 1


def _occurrence_reply(*rids: str, partstat: str = "DECLINED") -> str:
    parts = "".join(
        "BEGIN:VEVENT\r\nUID:meet-1\r\nDTSTAMP:20260301T000000Z\r\n"
        f"RECURRENCE-ID{rid}\r\nORGANIZER:mailto:alice@one.example\r\n"
        f"ATTENDEE;PARTSTAT={partstat}:mailto:dave@two.example\r\nEND:VEVENT\r\n"
        for rid in rids)
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nMETHOD:REPLY\r\n"
            f"{parts}END:VCALENDAR\r\n")


def test_an_answer_for_no_occurrence_adds_none() -> None:
    """An override for a RECURRENCE-ID the rule does not make would be an extra
    instance in the organizer's calendar: a REPLY cannot add one."""
    import pytest
    for rid in (";TZID=Europe/Stockholm:20260318T100000",  # a day the rule skips
                ";TZID=Europe/Stockholm:20260317T103000",  # the right day, another time
                ";TZID=Europe/Stockholm:20260414T100000",  # after COUNT=5
                ":20260317T090000Z",  # the same instant in UTC is the occurrence...
                ):
        reply = Resource.of(_occurrence_reply(rid))
        if rid.endswith("090000Z"):
            text, _ = apply_reply(Resource.of(SERIES), reply)  # ...and is answered
            assert len(_parse(text).walk("VEVENT")) == 2
            continue
        with pytest.raises(NotApplicable, match="occurrence the series does not have"):
            apply_reply(Resource.of(SERIES), reply)
    # One real occurrence and one invented: only the real one gets its override.
    both = _occurrence_reply(";TZID=Europe/Stockholm:20260324T100000",
                             ";TZID=Europe/Stockholm:20260325T100000")
    text, _ = apply_reply(Resource.of(SERIES), Resource.of(both))
    [_, override] = _parse(text).walk("VEVENT")
    assert override.decoded("RECURRENCE-ID").day == 24


def test_an_update_keeps_the_attendees_own_alarms() -> None:
    [request] = [m for m in organizer_messages(None, Resource.of(EVENT), ALICE)
                 if "dave" in m.recipient]
    assert "VALARM" not in request.text
    mine = request_copy(request.text).replace(
        "END:VEVENT", "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT1H\r\n"
        "DESCRIPTION:mine\r\nEND:VALARM\r\nEND:VEVENT")
    moved = EVENT.replace("20260310T100000", "20260311T100000")
    [update] = [m for m in organizer_messages(Resource.of(EVENT), Resource.of(moved), ALICE)
                if "dave" in m.recipient]
    copy = request_copy(update.text, Resource.of(mine))
    [event] = _parse(copy).walk("VEVENT")
    [alarm] = event.walk("VALARM")
    assert str(alarm["DESCRIPTION"]) == "mine"
    assert "20260311T100000" in copy


def test_a_message_carries_a_vtimezone_for_each_zone_it_uses() -> None:
    """A client may store a bare TZID; the guest's mail reader has only the
    message, so the zone database's VTIMEZONE goes in (icalendar also knows
    Windows names). One the object defines is not doubled, and a name no zone
    database knows adds nothing."""
    zoneless = EVENT.replace(EVENT[EVENT.index("BEGIN:VTIMEZONE"):
                                   EVENT.index("BEGIN:VEVENT")], "")
    zoneless = zoneless.replace("DTEND;TZID=Europe/Stockholm", 'DTEND;TZID="America/New_York"')
    [first, *_] = organizer_messages(None, Resource.of(zoneless), ALICE)
    cal = _parse(first.text)
    zones = {str(z["TZID"]): z for z in cal.walk("VTIMEZONE")}
    assert set(zones) == {"Europe/Stockholm", "America/New_York"}
    # The zone database's rules: CET/CEST in March 2026 for Stockholm.
    event = cal.walk("VEVENT")[0]
    assert event.decoded("DTSTART").utcoffset().total_seconds() == 3600
    [again, *_] = organizer_messages(None, Resource.of(EVENT), ALICE)
    assert again.text.count("BEGIN:VTIMEZONE") == 1  # the object's own, not doubled
    assert "TZOFFSETFROM:+0200" in again.text
    windows = zoneless.replace('"America/New_York"', '"W. Europe Standard Time"')
    [third, *_] = organizer_messages(None, Resource.of(windows), ALICE)
    assert {str(z["TZID"]) for z in _parse(third.text).walk("VTIMEZONE")} == {
        "Europe/Stockholm", "W. Europe Standard Time"}
    odd = zoneless.replace('"America/New_York"', "Nowhere/Zone")
    [fourth, *_] = organizer_messages(None, Resource.of(odd), ALICE)
    assert fourth.text.count("BEGIN:VTIMEZONE") == 1 and "TZID=Nowhere/Zone" in fourth.text


def test_a_re_serialized_event_is_no_change() -> None:
    """Another order of properties, parameters and components, quoted or
    unquoted parameter values, escaped commas, a rewritten VTIMEZONE: the
    same meeting, the same Schedule-Tag, no REQUEST. A new time is a change."""
    series = SERIES.replace("SUMMARY:Planning", "SUMMARY:Planning\\, Q3")
    override = ("BEGIN:VEVENT\r\nUID:meet-1\r\nDTSTAMP:20260101T000000Z\r\n"
                "RECURRENCE-ID;TZID=Europe/Stockholm:20260317T100000\r\n"
                "DTSTART;TZID=Europe/Stockholm:20260317T120000\r\n"
                "DTEND;TZID=Europe/Stockholm:20260317T130000\r\nSUMMARY:Moved\r\n"
                "ORGANIZER;CN=Alice:mailto:alice@one.example\r\nEND:VEVENT\r\n")
    original = series.replace("END:VCALENDAR", override + "END:VCALENDAR")
    lines = original.split("\r\n")
    first = lines.index("BEGIN:VEVENT")
    end = lines.index("END:VEVENT")
    master = lines[first:end + 1]
    body = master[1:-1]
    body.reverse()  # properties in another order (the alarm block moves whole)
    alarm = [x for x in body if x in ("BEGIN:VALARM", "END:VALARM", "ACTION:DISPLAY",
                                      "TRIGGER:-PT10M", "DESCRIPTION:soon")]
    body = [x for x in body if x not in alarm]
    body = [x.replace('CN="Bob, B.";PARTSTAT=NEEDS-ACTION;RSVP=TRUE',
                      'RSVP=TRUE;PARTSTAT=NEEDS-ACTION;CN="Bob, B."')
             .replace("ORGANIZER;CN=Alice", 'ORGANIZER;CN="Alice"')
             .replace("SUMMARY:Planning\\, Q3", "SUMMARY:Planning, Q3") for x in body]
    rest = lines[end + 1:]
    zone = lines[lines.index("BEGIN:VTIMEZONE"):lines.index("END:VTIMEZONE") + 1]
    head = [x for x in lines[:first] if x not in zone] + [
        z.replace("TZOFFSETFROM:+0200", "TZOFFSETFROM:+0200\r\nTZNAME:CET") for z in zone]
    # The override first, then the master: components in another order.
    ov_start = rest.index("BEGIN:VEVENT")
    ov = rest[ov_start:rest.index("END:VEVENT", ov_start) + 1]
    reserialized = "\r\n".join(
        [*head[:3], *head[3:], *ov, "BEGIN:VEVENT", *body, "END:VEVENT", "END:VCALENDAR", ""])
    assert fingerprint(reserialized) == fingerprint(original)
    assert schedule_tag(reserialized) == schedule_tag(original)
    assert organizer_messages(Resource.of(original), Resource.of(reserialized), ALICE) == []
    moved = original.replace("DTSTART;TZID=Europe/Stockholm:20260310T100000",
                             "DTSTART;TZID=Europe/Stockholm:20260310T110000")
    assert fingerprint(moved) != fingerprint(original)
    renamed = original.replace("SUMMARY:Moved", "SUMMARY:Moved again")
    assert fingerprint(renamed) != fingerprint(original)


def test_a_cancel_carries_sequence_and_a_series_zone_covers_years() -> None:
    """RFC 5546 3.2.5: SEQUENCE in a CANCEL, 0 when the object has none. A
    series with a bare TZID gets the zone's rules for two decades, not the
    first year's few."""
    bare = SERIES.replace("SEQUENCE:0\r\n", "").replace(
        SERIES[SERIES.index("BEGIN:VTIMEZONE"):SERIES.index("BEGIN:VEVENT")], "").replace(
        "RRULE:FREQ=WEEKLY;COUNT=5", "RRULE:FREQ=WEEKLY")
    cancels = organizer_messages(Resource.of(bare), None, ALICE)
    assert cancels and all(m.method == "CANCEL" for m in cancels)
    [event] = _parse(cancels[0].text).walk("VEVENT")
    assert event["SEQUENCE"] == 0
    zone = _parse(cancels[0].text).walk("VTIMEZONE")[0]
    changes = [d.dt.year for c in zone.walk() if c.name == "DAYLIGHT"
               for rdates in ([c["RDATE"]] if not isinstance(c["RDATE"], list) else c["RDATE"])
               for d in rdates.dts]
    assert max(changes) >= 2045, sorted(changes)

