"""Faults: a worker killed in the middle of a PUT, and PostgreSQL restarted under load."""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests
from conftest import Account, Server, make_account, start_server, wait_for_lock_wait

from backside_caldav.db import engines as db
from backside_caldav.db import migrate
from backside_caldav.db.settings import libpq_url

BIG_EVENT_HEAD = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//faults//EN\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20260101T000000Z\r
DTSTART:20260601T090000Z\r
DTEND:20260601T100000Z\r
RRULE:FREQ=WEEKLY;COUNT=10\r
SUMMARY:Half written\r
LINK;LINKREL=related;VALUE=URI:urn:backside:deal:D-77\r
"""


def _big_event(uid: str) -> str:
    attendees = "".join(f"ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:person{i}@example.com\r\n"
                        for i in range(40))
    return BIG_EVENT_HEAD.format(uid=uid) + attendees + "END:VEVENT\r\nEND:VCALENDAR\r\n"


def _tenant_rows(conn: psycopg.Connection, tenant_id: str) -> dict[str, int]:
    counts = {}
    for table in ("events", "event_attendees", "event_links", "event_instances",
                  "calendar_changes"):
        counts[table] = conn.execute(f"SELECT count(*) FROM {table} WHERE tenant_id = %s",
                                     (tenant_id,)).fetchone()[0]
    counts["sync_counter"] = conn.execute(
        "SELECT sum(sync_counter) FROM calendars WHERE tenant_id = %s", (tenant_id,)).fetchone()[0]
    return counts


def test_kill_9_in_the_middle_of_a_put_leaves_no_partial_rows(
        database_url: str, tmp_path: Path) -> None:
    account = make_account(database_url)
    srv = start_server(database_url, tmp_path, extra_args=["--workers", "2"])
    url = f"{srv.url}{account.username}/calendar/killed.ics"
    try:
        with psycopg.connect(libpq_url(database_url), autocommit=True) as observer:
            before = _tenant_rows(observer, account.tenant_id)
            with psycopg.connect(libpq_url(database_url)) as blocker:
                # Hold the calendar row: the PUT writes its event, then waits here
                # to log the change, with its own rows written but not committed.
                blocker.execute("SELECT 1 FROM calendars WHERE tenant_id = %s FOR UPDATE",
                                (account.tenant_id,))
                outcome: dict[str, object] = {}

                def put() -> None:
                    try:
                        outcome["status"] = requests.put(
                            url, data=_big_event(uuid.uuid4().hex), timeout=60,
                            auth=(account.username, account.password),
                            headers={"Content-Type": "text/calendar"}).status_code
                    except requests.ConnectionError as exc:
                        outcome["error"] = exc

                thread = threading.Thread(target=put)
                thread.start()
                wait_for_lock_wait(blocker)
                worker = observer.execute(
                    "SELECT application_name FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND application_name LIKE 'backside-caldav[%%' "
                    "AND datname = current_database()"
                ).fetchone()[0]
                pid = int(worker.split("[", 1)[1].split("]", 1)[0])
                assert pid != srv.process.pid, "a worker, not the master, serves requests"
                os.kill(pid, signal.SIGKILL)
                thread.join(timeout=60)
                blocker.rollback()
            assert "error" in outcome or outcome.get("status", 0) >= 500
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # the dead backend's transaction ends
                busy = observer.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                    (worker,)).fetchone()[0]
                if not busy:
                    break
                time.sleep(0.1)
            after = _tenant_rows(observer, account.tenant_id)
        assert after == before
        # The master replaced the worker; the same PUT now succeeds.
        again = requests.put(url, data=_big_event(uuid.uuid4().hex), timeout=60,
                             auth=(account.username, account.password),
                             headers={"Content-Type": "text/calendar"})
        assert again.status_code == 201
    finally:
        srv.stop()


# --- PostgreSQL restarted under load ----------------------------------------------


@pytest.fixture
def private_postgres() -> Iterator[tuple[str, Path]]:
    """A PostgreSQL of this test's own (the embedded one), so it can be restarted
    whatever server the rest of the suite uses."""
    import pgserver
    with tempfile.TemporaryDirectory(prefix="backside-fault-pg-") as tmp:
        pgdata = Path(tmp)
        server = pgserver.get_server(str(pgdata), cleanup_mode="stop")
        try:
            yield server.get_uri(), pgdata
        finally:
            pgserver.get_server(str(pgdata), cleanup_mode="stop").cleanup()


def _stop_postgres(pgdata: Path) -> None:
    import pgserver
    pgserver.get_server(str(pgdata), cleanup_mode="stop").cleanup()


def _start_postgres(pgdata: Path) -> None:
    import pgserver
    pgserver.get_server(str(pgdata), cleanup_mode="stop")


def _errors_logged(srv: Server) -> str:
    """The server's log around its 5xx other than 503, for the failure message."""
    lines = srv.log.read_text(errors="replace").splitlines()
    hits = [i for i, line in enumerate(lines) if '" 50' in line and '" 503 ' not in line]
    return "\n".join("\n".join(lines[max(0, i - 40):i + 1]) for i in hits[:2])


def test_postgres_restart_gives_503_then_recovers_by_itself(
        private_postgres: tuple[str, Path], tmp_path: Path) -> None:
    url, pgdata = private_postgres
    migrate.upgrade(db.get_engine(url))
    account: Account = make_account(url)
    srv: Server = start_server(url, tmp_path, extra_args=["--workers", "2"])
    collection = f"{srv.url}{account.username}/calendar/"
    results: list[tuple[float, int, str | None]] = []
    stop = threading.Event()

    def load(n: int) -> None:
        with requests.Session() as s:
            s.auth = (account.username, account.password)
            k = 0
            while not stop.is_set():
                k += 1
                try:
                    if k % 2:
                        r = s.request("PROPFIND", collection, headers={"Depth": "1"}, timeout=30)
                    else:
                        r = s.put(f"{collection}load-{n}-{k}.ics", timeout=30,
                                  data=_big_event(uuid.uuid4().hex).replace(
                                      "SUMMARY:Half written", f"SUMMARY:load {n} {k}"),
                                  headers={"Content-Type": "text/calendar"})
                    results.append((time.monotonic(), r.status_code,
                                    r.headers.get("Retry-After")))
                except requests.ConnectionError:
                    results.append((time.monotonic(), 0, None))
                time.sleep(0.02)

    threads = [threading.Thread(target=load, args=(n,)) for n in range(4)]
    try:
        for t in threads:
            t.start()
        time.sleep(2)
        _stop_postgres(pgdata)
        down_at = time.monotonic()
        time.sleep(3)
        _start_postgres(pgdata)
        up_at = time.monotonic()
        deadline = up_at + 60
        recovered_at = None
        while time.monotonic() < deadline and recovered_at is None:
            time.sleep(0.1)
            ok_after = [t for t, status, _ in list(results) if t > up_at and status in (201, 207)]
            if len(ok_after) >= 10:
                recovered_at = ok_after[0]
        time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
        srv.stop()
    during = [(status, retry) for t, status, retry in results if down_at < t < up_at]
    statuses = {status for status, _ in during}
    assert 503 in statuses, statuses
    assert statuses <= {503, 201, 207}, (statuses, _errors_logged(srv))  # no 500, no reset
    assert all(retry == "5" for status, retry in during if status == 503)
    assert all(status < 500 or status == 503 for _, status, _ in results), _errors_logged(srv)
    assert recovered_at is not None, "service did not come back within 60 s"
    print(f"\nPostgreSQL restart: {len(during)} requests during the {up_at - down_at:.1f} s "
          f"outage, {sum(1 for s, _ in during if s == 503)} answered 503 with Retry-After; "
          f"first success {max(0.0, recovered_at - up_at):.2f} s after PostgreSQL was back")
