"""A REPLY that came by mail (iMIP) applied to the organizer's event
(scheduling/delivery.receive_reply, behind `backside-caldav imip receive`):
only when its sender is the attendee it answers for."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from conftest import Server
from scheduling_people import People, attendee_line, invitation

from backside_caldav.db import engines
from backside_caldav.scheduling.delivery import Refused, receive_reply

ICS = {"Content-Type": "text/calendar; charset=utf-8"}




def _reply(people: People, uid: str, attendee: str, partstat: str = "ACCEPTED") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Google Inc//Google Calendar//EN\r\n"
            "METHOD:REPLY\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20270102T000000Z\r\nSEQUENCE:0\r\n"
            f"ORGANIZER;CN=Alice:{people.alice.address}\r\n"
            f"ATTENDEE;CN=Guest;PARTSTAT={partstat}:{attendee}\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")


def test_a_reply_from_the_guest_updates_the_organizer(server: Server, people: People,
                                                      database_url: str,
                                                      sql: psycopg.Connection) -> None:
    uid = f"mail-{uuid.uuid4()}"
    url = f"{server.url}{people.alice.username}/{people.alice.calendar}/{uid}.ics"
    alice = people.alice.session()
    assert alice.put(url, data=invitation(people, uid).encode(), headers=ICS).status_code == 201
    before = alice.get(url)
    engine = engines.get_app_engine(database_url)
    guest = people.outsider[len("mailto:"):]
    outcome = receive_reply(engine, _reply(people, uid, people.outsider), guest.upper())
    assert "ACCEPTED" in outcome
    after = alice.get(url)
    assert "PARTSTAT=ACCEPTED" in attendee_line(after.text, people.outsider)
    assert after.headers["ETag"] != before.headers["ETag"]
    inbox = sql.execute("SELECT method FROM schedule_inbox WHERE tenant_id = %s AND uid = %s",
                       (people.alice.tenant_id, uid)).fetchall()
    assert inbox == [("REPLY",)]


@pytest.mark.parametrize(("case", "expected"), [
    ("forged sender", "is not the attendee"),
    ("not an attendee", "not an attendee"),
    ("unknown event", "has no event"),
    ("unknown organizer", "no user of this server"),
    ("a request", "only a METHOD:REPLY"),
    ("two attendees", "exactly one ATTENDEE"),
    ("garbage", "METHOD"),
])
def test_a_reply_that_does_not_hold_changes_nothing(server: Server, people: People,
                                                    database_url: str, case: str,
                                                    expected: str) -> None:
    uid = f"mail-{uuid.uuid4()}"
    url = f"{server.url}{people.alice.username}/{people.alice.calendar}/{uid}.ics"
    alice = people.alice.session()
    assert alice.put(url, data=invitation(people, uid).encode(), headers=ICS).status_code == 201
    before = alice.get(url)
    guest = people.outsider[len("mailto:"):]
    text, sender = _reply(people, uid, people.outsider), guest
    if case == "forged sender":
        sender = "mallory@evil.example"
    elif case == "not an attendee":
        text, sender = _reply(people, uid, "mailto:mallory@evil.example"), "mallory@evil.example"
    elif case == "unknown event":
        text = _reply(people, f"other-{uid}", people.outsider)
    elif case == "unknown organizer":
        text = text.replace(people.alice.address, "mailto:nobody@nowhere.example")
    elif case == "a request":
        text = text.replace("METHOD:REPLY", "METHOD:REQUEST")
    elif case == "two attendees":
        text = text.replace("END:VEVENT", f"ATTENDEE:{people.bob.address}\r\nEND:VEVENT")
    else:
        text = "this is no calendar"
    with pytest.raises(Refused, match=expected):
        receive_reply(engines.get_app_engine(database_url), text, sender)
    after = alice.get(url)
    assert after.text == before.text and after.headers["ETag"] == before.headers["ETag"]
