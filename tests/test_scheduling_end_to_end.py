"""Issue 19's walk, over real HTTP with a real SMTP server: two tenants,
three logins and a guest outside. Alice invites Bob (her tenant), Dave
(another tenant) and the guest; Dave's inbox and calendar have it and the
guest's mail reached the relay with a valid iTIP body; Dave accepts; the
guest's REPLY comes back through `imip receive` (a forged one changes
nothing); Alice deletes: CANCEL everywhere. (A relay that is down:
tests/test_scheduling_relay_down.py, with a server of its own.)"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import icalendar
import psycopg
import pytest
from conftest import Server, run_cli, start_server
from scheduling_people import (
    People,
    attendee_line,
    invitation,
    set_partstat,
    unfolded,
)
from smtp_relay import Recorder, calendar_text, relay

ICS = {"Content-Type": "text/calendar; charset=utf-8"}


@pytest.fixture(scope="module")
def mail() -> Iterator[tuple[Recorder, int]]:
    with relay() as found:
        yield found


@pytest.fixture(scope="module")
def mailing_server(database_url: str, mail: tuple[Recorder, int],
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _, port = mail
    srv = start_server(database_url, tmp_path_factory.mktemp("imip-logs"), extra_env={
        "BACKSIDE_LOGIN_LIMIT": "address=1000000",
        "BACKSIDE_SMTP_URL": f"smtp://127.0.0.1:{port}",
        "BACKSIDE_SMTP_FROM": "calendar@server.example",
        "BACKSIDE_SMTP_RETRY_SECONDS": "1"})
    try:
        yield srv
    finally:
        srv.stop()





def _dave_copy(sql: psycopg.Connection, people: People, uid: str) -> str:
    row = sql.execute(
        "SELECT c.href, e.href FROM events e JOIN calendars c ON c.id = e.calendar_id "
        "WHERE e.tenant_id = %s AND e.uid = %s AND e.series_id IS NULL "
        "AND e.deleted_at IS NULL", (people.dave.tenant_id, uid)).fetchone()
    return f"{people.dave.username}/{row[0]}/{row[1]}"


def _inbox_methods(sql: psycopg.Connection, login, uid: str) -> list[str]:  # noqa: ANN001
    return [m for (m,) in sql.execute(
        "SELECT method FROM schedule_inbox WHERE tenant_id = %s AND username = %s "
        "AND uid = %s ORDER BY created_at", (login.tenant_id, login.username, uid))]


def test_the_whole_walk(mailing_server: Server, mail: tuple[Recorder, int], people: People,
                        database_url: str, sql: psycopg.Connection, tmp_path: Path) -> None:
    recorder, _ = mail
    server = mailing_server
    uid = f"walk-{uuid.uuid4()}"
    url = f"{server.url}{people.alice.username}/{people.alice.calendar}/{uid}.ics"
    alice = people.alice.session()
    assert alice.put(url, data=invitation(people, uid).encode(), headers=ICS).status_code == 201

    # The guest's invitation reached the relay, as iMIP.
    [sent] = recorder.wait_for(uid, 1)
    guest = people.outsider[len("mailto:"):]
    assert sent.recipients == [guest] and sent.envelope_from == "calendar@server.example"
    assert sent.message["From"] == f"Alice <{people.alice.email}>"  # the ORGANIZER's CN
    request = icalendar.Calendar.from_ical(calendar_text(sent.message))
    assert request["METHOD"] == "REQUEST"
    [event] = request.walk("VEVENT")
    assert str(event["UID"]) == uid and str(event["SUMMARY"]) == "Planning"

    # Dave (another tenant): inbox and calendar. He accepts over CalDAV.
    assert _inbox_methods(sql, people.dave, uid) == ["REQUEST"]
    dave = people.dave.session()
    copy_url = server.url + _dave_copy(sql, people, uid)
    copy = dave.get(copy_url)
    before = alice.get(url)
    r = dave.put(copy_url, data=set_partstat(copy.text, people.dave.address, "ACCEPTED").encode(),
                 headers={**ICS, "If-Schedule-Tag-Match": copy.headers["Schedule-Tag"]})
    assert r.status_code == 204, r.text
    after = alice.get(url)
    assert "PARTSTAT=ACCEPTED" in attendee_line(after.text, people.dave.address)
    assert after.headers["ETag"] != before.headers["ETag"]

    # The guest's REPLY comes back by mail, through the MTA pipe.
    reply = (unfolded(calendar_text(sent.message)).replace("METHOD:REQUEST", "METHOD:REPLY")
             .replace(f"PARTSTAT=NEEDS-ACTION;RSVP=TRUE:{people.outsider}",
                      f"PARTSTAT=TENTATIVE:{people.outsider}"))
    reply = re.sub(r"ATTENDEE[^\r\n]*(alice|bob|dave)[^\r\n]*\r\n", "", reply)
    env = {"BACKSIDE_DATABASE_URL": database_url}
    forged = (f"From: Mallory <mallory@evil.example>\r\nTo: {people.alice.email}\r\n"
              "Subject: Re\r\nMIME-Version: 1.0\r\n"
              "Content-Type: text/calendar; method=REPLY; charset=utf-8\r\n\r\n" + reply)
    result = run_cli(["imip", "receive"], env=env, stdin=forged)
    assert result.returncode == 65, result.stderr
    assert "not the attendee" in result.stderr and "Traceback" not in result.stderr
    assert "PARTSTAT=NEEDS-ACTION" in attendee_line(alice.get(url).text, people.outsider)
    honest = forged.replace("Mallory <mallory@evil.example>", f"Guest <{guest}>")
    result = run_cli(["imip", "receive"], env=env, stdin=honest)
    assert result.returncode == 0, result.stderr
    assert "PARTSTAT=TENTATIVE" in attendee_line(alice.get(url).text, people.outsider)

    # Alice deletes: CANCEL to Dave's inbox and copy, and to the guest by mail.
    assert alice.delete(url).status_code in (200, 204)
    assert _inbox_methods(sql, people.dave, uid)[-1] == "CANCEL"
    assert "STATUS:CANCELLED" in dave.get(copy_url).text
    mails = recorder.wait_for(uid, 2)
    assert icalendar.Calendar.from_ical(calendar_text(mails[-1].message))["METHOD"] == "CANCEL"

