"""Races across worker processes: If-Match makes exactly one writer win, and a
client syncing while others write never misses a change."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from xml.etree import ElementTree

import psycopg
import pytest
import requests
from conftest import Account, Server, make_account, start_server, worker_pids

from backside_caldav.db import engines as db
from backside_caldav.db.settings import libpq_url

WORKERS = 4
CLIENTS = 20
ROUNDS = 8

EVENT = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//race//EN\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20260101T000000Z\r
DTSTART:20260401T090000Z\r
DTEND:20260401T100000Z\r
SUMMARY:{summary}\r
END:VEVENT\r
END:VCALENDAR\r
"""

DAV = "{DAV:}"


def connections_per_process(database_url: str) -> dict[str, int]:
    """Open PostgreSQL sessions per server process (application_name carries its pid)."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        return dict(conn.execute(
            "SELECT application_name, count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name LIKE %s "
            "GROUP BY application_name", ("backside-caldav[%",)).fetchall())


@pytest.fixture(scope="module")
def workers_server(database_url: str, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[Server]:
    srv = start_server(database_url, tmp_path_factory.mktemp("race-logs"),
                       extra_args=["--workers", str(WORKERS), "--threads", "8"])
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def racer(database_url: str) -> Account:
    return make_account(database_url)


def wait_for_workers(master_pid: int, count: int, exclude: int | None = None) -> set[int]:
    deadline = time.monotonic() + 60
    while True:
        pids = worker_pids(master_pid)
        if (len(pids) == count and exclude not in pids) or time.monotonic() > deadline:
            return pids
        time.sleep(0.2)


def test_serve_runs_the_requested_worker_processes(workers_server: Server) -> None:
    assert len(wait_for_workers(workers_server.process.pid, WORKERS)) == WORKERS


def test_if_match_lets_exactly_one_of_twenty_clients_win(workers_server: Server,
                                                         racer: Account) -> None:
    url = f"{workers_server.url}{racer.username}/calendar/race-{uuid.uuid4().hex}.ics"
    uid = uuid.uuid4().hex
    sessions = []
    for _ in range(CLIENTS):
        s = requests.Session()
        s.auth = (racer.username, racer.password)
        sessions.append(s)
    created = sessions[0].put(url, data=EVENT.format(uid=uid, summary="start"),
                              headers={"Content-Type": "text/calendar"}, timeout=30)
    assert created.status_code == 201, created.text
    summary = []
    with ThreadPoolExecutor(CLIENTS) as pool:
        for round_no in range(ROUNDS):
            etag = sessions[0].get(url, timeout=30).headers["ETag"]
            barrier = threading.Barrier(CLIENTS)

            def attempt(i: int, etag: str = etag, round_no: int = round_no,
                        barrier: threading.Barrier = barrier) -> int:
                body = EVENT.format(uid=uid, summary=f"round {round_no} client {i}")
                barrier.wait(timeout=30)
                return sessions[i].put(url, data=body, timeout=60, headers={
                    "Content-Type": "text/calendar", "If-Match": etag}).status_code

            statuses = list(pool.map(attempt, range(CLIENTS)))
            winners = [i for i, status in enumerate(statuses) if status in (200, 201, 204)]
            assert len(winners) == 1, statuses
            assert statuses.count(412) == CLIENTS - 1, statuses
            stored = sessions[0].get(url, timeout=30)
            # The winner's text is what is stored: no update was lost or overwritten.
            assert f"SUMMARY:round {round_no} client {winners[0]}" in stored.text
            assert stored.headers["ETag"] != etag
            summary.append(winners[0])
            pool_sizes = connections_per_process(workers_server.database_url)
            assert max(pool_sizes.values()) <= db.POOL_SIZE + db.POOL_OVERFLOW, pool_sizes
    for s in sessions:
        s.close()
    print(f"\nrace: {ROUNDS} rounds x {CLIENTS} clients over {WORKERS} workers: "
          f"{len(summary)} winners (one per round), {ROUNDS * (CLIENTS - 1)} got 412, "
          "0 lost updates")


def _sync(session: requests.Session, url: str, token: str) -> tuple[str, set[str], set[str]]:
    body = ('<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:">'
            f"<d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level>"
            "<d:prop><d:getetag/></d:prop></d:sync-collection>")
    response = session.request("REPORT", url, data=body, timeout=60, headers={
        "Content-Type": "application/xml", "Depth": "1"})
    assert response.status_code == 207, response.text
    root = ElementTree.fromstring(response.content)
    present, gone = set(), set()
    for item in root.findall(f"{DAV}response"):
        href = item.findtext(f"{DAV}href", "").rsplit("/", 1)[-1]
        status = item.findtext(f"{DAV}status", "")
        (gone if "404" in status else present).add(href)
    return root.findtext(f"{DAV}sync-token", ""), present, gone


def test_syncing_client_never_misses_a_concurrent_write(workers_server: Server,
                                                        racer: Account) -> None:
    collection = f"{workers_server.url}{racer.username}/calendar/"
    reader = requests.Session()
    reader.auth = (racer.username, racer.password)
    token, _, _ = _sync(reader, collection, "")
    written: set[str] = set()
    written_lock = threading.Lock()
    stop = threading.Event()

    def writer(n: int) -> None:
        with requests.Session() as s:
            s.auth = (racer.username, racer.password)
            for k in range(15):
                href = f"sync-{n}-{k}-{uuid.uuid4().hex[:6]}.ics"
                r = s.put(collection + href, timeout=60,
                          data=EVENT.format(uid=uuid.uuid4().hex, summary=f"w{n} {k}"),
                          headers={"Content-Type": "text/calendar"})
                assert r.status_code == 201, r.text
                with written_lock:
                    written.add(href)

    seen: set[str] = set()
    syncs = 0

    def syncer() -> None:
        nonlocal token, syncs
        while not stop.is_set():
            token, present, _ = _sync(reader, collection, token)
            seen.update(present)
            syncs += 1

    sync_thread = threading.Thread(target=syncer)
    sync_thread.start()
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(writer, range(6)))
    stop.set()
    sync_thread.join(timeout=60)
    token, present, _ = _sync(reader, collection, token)  # the last changes
    seen.update(present)
    reader.close()
    assert syncs > 3, "the syncer ran while the writers wrote"
    assert written <= seen, f"missed: {sorted(written - seen)[:5]}"


def test_a_killed_worker_is_replaced(workers_server: Server, racer: Account) -> None:
    victim = min(wait_for_workers(workers_server.process.pid, WORKERS))
    os.kill(victim, 9)
    after = wait_for_workers(workers_server.process.pid, WORKERS, exclude=victim)
    assert len(after) == WORKERS and victim not in after
    response = requests.request("PROPFIND", f"{workers_server.url}{racer.username}/",
                                auth=(racer.username, racer.password),
                                headers={"Depth": "0"}, timeout=30)
    assert response.status_code == 207
