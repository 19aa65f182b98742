"""A relay that is down while an invitation is sent: the message waits in
the queue with its error, and goes out once when the relay is back. Its
own module: every serving process sends whatever is due, so no other
server with a working relay may run beside this one."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from conftest import free_port, start_server
from scheduling_people import People, invitation, make_people
from smtp_relay import Recorder, relay

from backside_caldav.db.settings import libpq_url

ICS = {"Content-Type": "text/calendar; charset=utf-8"}


@pytest.fixture(scope="module")
def people(database_url: str) -> People:
    return make_people(database_url)


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        yield conn


def _wait(recorder: Recorder, uid: str, count: int, timeout: float = 20) -> list:
    deadline = time.monotonic() + timeout
    while len(recorder.with_uid(uid)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return recorder.with_uid(uid)


def test_a_relay_down_during_the_send_keeps_the_message(
        database_url: str, people: People, db: psycopg.Connection,
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
            row = db.execute("SELECT attempts, last_error, sent_at FROM itip_queue "
                             "WHERE uid = %s AND transport = 'mail'", (uid,)).fetchone()
            if row and row[0] >= 1:
                break
            time.sleep(0.1)
        assert row is not None and row[0] >= 1 and row[1] and row[2] is None, row
        with relay(port) as (recorder, _):
            assert len(_wait(recorder, uid, 1)) == 1
            time.sleep(1.5)  # another pass or two: still once
            assert len(recorder.with_uid(uid)) == 1
        sent = db.execute("SELECT sent_at FROM itip_queue WHERE uid = %s AND transport = 'mail'",
                          (uid,)).fetchone()[0]
        assert sent is not None
    finally:
        srv.stop()
