"""The scheduling sender against a real SMTP server (aiosmtpd on 127.0.0.1):
a queued invitation is mailed once, a relay that is down loses nothing, two
senders never send one message twice, and 'server' rows are never mailed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import icalendar
import psycopg
from conftest import free_port
from scheduling_people import People
from smtp_relay import relay

from backside_caldav.db import engines, itip_queue, tenancy
from backside_caldav.scheduling import mail_sender, smtp_settings

REQUEST = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nMETHOD:REQUEST\r\n"
           "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20270101T000000Z\r\n"
           "DTSTART:20270310T100000Z\r\nDTEND:20270310T110000Z\r\nSUMMARY:Plan\r\n"
           "ORGANIZER:{organizer}\r\nATTENDEE;PARTSTAT=NEEDS-ACTION:{guest}\r\n"
           "END:VEVENT\r\nEND:VCALENDAR\r\n")




def _queue(database_url: str, people: People, uid: str, transport: str = "mail",
           login=None) -> str:  # noqa: ANN001
    login = login or people.alice
    text = REQUEST.format(uid=uid, organizer=login.address, guest=people.outsider)
    with tenancy.transaction(engines.get_app_engine(database_url), login.tenant_id) as conn:
        return itip_queue.enqueue(conn, login.tenant_id, transport, "REQUEST", login.address,
                                  people.outsider, uid, text)


def _send(database_url: str, port: int) -> int:
    settings = smtp_settings.parse(f"smtp://127.0.0.1:{port}", retry="1")
    return mail_sender.send_due(engines.get_app_engine(database_url),
                                engines.get_engine(database_url), settings)


def _row(sql: psycopg.Connection, message_id: str) -> tuple:
    return sql.execute("SELECT attempts, last_error, sent_at IS NOT NULL FROM itip_queue "
                      "WHERE id = %s", (message_id,)).fetchone()


def test_a_queued_invitation_is_mailed_once(database_url: str, people: People,
                                            sql: psycopg.Connection) -> None:
    message_id = _queue(database_url, people, "once-1")
    with relay() as (recorder, port):
        assert _send(database_url, port) >= 1
        assert _send(database_url, port) == 0  # nothing left: not sent again
        got = recorder.with_uid("once-1")
    assert len(got) == 1
    mail = got[0]
    assert mail.recipients == [people.outsider[len("mailto:"):]]
    assert mail.envelope_from == people.alice.email
    [part] = [p for p in mail.message.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == "REQUEST"
    assert icalendar.Calendar.from_ical(part.get_content())["METHOD"] == "REQUEST"
    assert _row(sql, message_id)[2] is True


def test_names_outside_ascii_reach_a_relay_without_smtputf8(
        database_url: str, people: People, sql: psycopg.Connection) -> None:
    """Display names are encoded words in 7-bit headers and the envelope is the
    bare addresses, so no relay needs SMTPUTF8 for them; a name with a comma
    stays one name of one address, on relays with and without SMTPUTF8."""
    for smtputf8 in (False, True):
        uid = f"names-{smtputf8}"
        a = people.alice
        text = REQUEST.format(uid=uid, organizer=f'"Bäcker, Alice":{a.address}',
                              guest=f'"Müller, Hans":{people.outsider}').replace(
            "ORGANIZER:\"", "ORGANIZER;CN=\"").replace("NEEDS-ACTION:\"", "NEEDS-ACTION;CN=\"")
        with tenancy.transaction(engines.get_app_engine(database_url), a.tenant_id) as conn:
            message_id = itip_queue.enqueue(conn, a.tenant_id, "mail", "REQUEST", a.address,
                                            people.outsider, uid, text)
        with relay(smtputf8=smtputf8) as (recorder, port):
            _send(database_url, port)
            [got] = recorder.wait_for(uid, 1)
        assert _row(sql, message_id)[2] is True, _row(sql, message_id)
        assert got.envelope_from == a.email and got.recipients == [people.outsider[7:]]
        head = got.raw.split(b"\r\n\r\n", 1)[0]
        assert head.isascii(), head
        [sender] = got.message["From"].addresses
        [to] = got.message["To"].addresses
        assert (sender.display_name, sender.addr_spec) == ("Bäcker, Alice", a.email)
        assert (to.display_name, to.addr_spec) == ("Müller, Hans", people.outsider[7:])


def test_a_recipient_refused_for_good_is_given_up(database_url: str, people: People,
                                                  sql: psycopg.Connection) -> None:
    """550 (no such mailbox) is final: one try, then no more, and `imip queue`
    says so; 450 (try later) stays queued for the next try."""
    with relay() as (recorder, port):
        recorder.refuse_rcpt = "450 4.2.1 mailbox busy"
        later = _queue(database_url, people, "refused-450")
        _send(database_url, port)
        assert _row(sql, later)[:3] == (1, "relay refused the recipient: "
                                        f"{{'{people.outsider[7:]}': (450, b'4.2.1 mailbox busy')}}",
                                        False)
        sql.execute("UPDATE itip_queue SET sent_at = now() WHERE id = %s", (later,))
        recorder.refuse_rcpt = "550 5.1.1 no such user"
        never = _queue(database_url, people, "refused-550")
        _send(database_url, port)
        attempts, error, sent = _row(sql, never)
        assert attempts >= itip_queue.GIVE_UP_ATTEMPTS and "550" in error and not sent
        sql.execute("UPDATE itip_queue SET next_attempt_at = now() WHERE id = %s", (never,))
        recorder.refuse_rcpt = None
        _send(database_url, port)
        assert recorder.with_uid("refused-550") == []  # not tried again
    listed = subprocess.run([sys.executable, "-m", "backside_caldav", "imip", "queue"],
                            env={**os.environ, "BACKSIDE_DATABASE_URL": database_url},
                            capture_output=True, text=True, timeout=60)
    [line] = [x for x in listed.stdout.splitlines() if x.startswith(never)]
    assert "given up, last: relay refused the recipient" in line and "550" in line


def test_a_relay_that_is_down_loses_nothing(database_url: str, people: People,
                                            sql: psycopg.Connection) -> None:
    message_id = _queue(database_url, people, "down-1")
    port = free_port()  # nothing listens here yet
    _send(database_url, port)
    attempts, error, sent = _row(sql, message_id)
    assert (attempts, sent) == (1, False) and error
    # Not due again before its retry time.
    with relay(port) as (recorder, _):
        _send(database_url, port)
        assert not recorder.with_uid("down-1")
        sql.execute("UPDATE itip_queue SET next_attempt_at = now() WHERE id = %s", (message_id,))
        _send(database_url, port)
        _send(database_url, port)
        got = recorder.with_uid("down-1")
    assert len(got) == 1
    assert _row(sql, message_id)[2] is True


def test_two_senders_never_send_one_message_twice(database_url: str, people: People,
                                                  sql: psycopg.Connection) -> None:
    ids = [_queue(database_url, people, f"race-{n}") for n in range(20)]
    with relay() as (recorder, port):
        threads = [threading.Thread(target=_send, args=(database_url, port)) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        _send(database_url, port)
        counts = [len(recorder.with_uid(f"race-{n}")) for n in range(20)]
    assert counts == [1] * 20
    assert all(_row(sql, i)[2] for i in ids)


def test_server_rows_are_never_mailed_and_each_tenant_is_served(
        database_url: str, people: People, sql: psycopg.Connection) -> None:
    server_row = _queue(database_url, people, "server-1", transport="server")
    other_tenant = _queue(database_url, people, "tenant-two-1", login=people.dave)
    with relay() as (recorder, port):
        _send(database_url, port)
        assert not recorder.with_uid("server-1")
        assert len(recorder.with_uid("tenant-two-1")) == 1
    assert _row(sql, other_tenant)[2] is True
    # The 'server' row was handed to the delivery path: its recipient is no login,
    # so it is done (nothing to deliver), never mailed.
    assert _row(sql, server_row)[2] is True


def test_without_a_relay_mail_stays_queued(database_url: str, people: People,
                                           sql: psycopg.Connection) -> None:
    message_id = _queue(database_url, people, "norelay-1")
    mail_sender.send_due(engines.get_app_engine(database_url),
                         engines.get_engine(database_url), None)
    assert _row(sql, message_id) == (0, None, False)
