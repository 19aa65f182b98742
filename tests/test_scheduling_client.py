"""The `caldav` client's scheduling calls against the server (RFC 6638):
save_with_invites from the organizer, and an attendee of another tenant
accepting the invitation the server delivered."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import caldav
from conftest import Server
from scheduling_people import People, attendee_line


def _client(server: Server, login) -> caldav.DAVClient:
    return caldav.DAVClient(url=server.url, username=login.username, password=login.password)


def _ical(uid: str, summary: str) -> str:
    start = datetime(2027, 5, 4, 9, tzinfo=timezone.utc)
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20270101T000000Z\r\n"
            f"DTSTART:{start:%Y%m%dT%H%M%SZ}\r\n"
            f"DTEND:{start + timedelta(hours=1):%Y%m%dT%H%M%SZ}\r\n"
            f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def test_save_with_invites_and_accept(server: Server, people: People) -> None:
    uid = f"client-{uuid.uuid4()}"
    with _client(server, people.alice) as alice_client:
        principal = alice_client.principal()
        assert f"mailto:{people.alice.email}" in principal.calendar_user_address_set()
        calendar = principal.calendar(cal_id=people.alice.calendar)
        calendar.save_with_invites(_ical(uid, "Client meeting"),
                                   attendees=[people.dave.address, people.outsider])
        organizer_copy = calendar.event_by_uid(uid)
        text = organizer_copy.data
        assert "SCHEDULE-STATUS=1.2" in attendee_line(text, people.dave.address)
        assert "SCHEDULE-STATUS=1.1" in attendee_line(text, people.outsider)
    with _client(server, people.dave) as dave_client:
        dave = dave_client.principal()
        found = None
        for cal in dave.calendars():
            try:
                found = cal.event_by_uid(uid)
                break
            except caldav.error.NotFoundError:
                continue
        assert found is not None, "the invitation is in Dave's calendar"
        found.load()
        assert found.schedule_tag, "GET answers the Schedule-Tag"
        found.change_attendee_status(attendee=people.dave.address, partstat="ACCEPTED")
        found.save(increase_seqno=False)
    with _client(server, people.alice) as alice_client:
        calendar = alice_client.principal().calendar(cal_id=people.alice.calendar)
        text = calendar.event_by_uid(uid).data
        assert "PARTSTAT=ACCEPTED" in attendee_line(text, people.dave.address)
