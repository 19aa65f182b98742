"""A relay that is down while an invitation is sent: the message waits in
the queue with its error, and goes out once when the relay is back. Its
own module: every serving process sends whatever is due, so no other
server with a working relay may run beside this one."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest
from conftest import free_port, start_server
from scheduling_people import People, invitation
from smtp_relay import relay

ICS = {"Content-Type": "text/calendar; charset=utf-8"}





def test_a_relay_down_during_the_send_keeps_the_message(
        database_url: str, people: People, sql: psycopg.Connection,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """The relay is down when Alice invites; the message waits, with its
    error, and goes out once when the relay is back (retry after 1 s)."""
    port = free_port()
    srv = start_server(database_url, tmp_path_factory.mktemp("relay-down-logs"), extra_env={
        "BACKSIDE_SMTP_URL": f"smtp://127.0.0.1:{port}", "BACKSIDE_SMTP_RETRY_SECONDS": "1"})
    try:
        uid = f"down-{uuid.uuid4()}"
        url = f"{srv.url}{people.alice.username}/{people.alice.calendar}/{uid}.ics"
        r = people.alice.session().put(url, data=invitation(people, uid).encode(), headers=ICS)
        assert r.status_code == 201
        deadline = time.monotonic() + 20
        row = None
        while time.monotonic() < deadline:
            row = sql.execute("SELECT attempts, last_error, sent_at FROM itip_queue "
                             "WHERE uid = %s AND transport = 'mail'", (uid,)).fetchone()
            if row and row[0] >= 1:
                break
            time.sleep(0.1)
        assert row is not None and row[0] >= 1 and row[1] and row[2] is None, row
        with relay(port) as (recorder, _):
            assert len(recorder.wait_for(uid, 1)) == 1
            time.sleep(1.5)  # another pass or two: still once
            assert len(recorder.with_uid(uid)) == 1
        sent = sql.execute("SELECT sent_at FROM itip_queue WHERE uid = %s AND transport = 'mail'",
                          (uid,)).fetchone()[0]
        assert sent is not None
    finally:
        srv.stop()
