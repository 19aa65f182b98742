"""The event API under concurrent writers, on a server with 2 worker processes:
one If-Match wins and the others get 412 (no lost update), and idempotent
creates with one client id make one event, whatever the interleaving."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from conftest import Server, worker_pids
from test_sidecar_api import Api, new_api

N = 20


@pytest.fixture
def api(two_workers: Server, database_url: str, sql) -> Iterator[Api]:
    a = new_api(two_workers, database_url, sql)
    yield a
    a.session.close()


def all_at_once(api: Api, send: Callable[[requests.Session, int], requests.Response]
                ) -> list[requests.Response]:
    """N requests released together, each from its own thread and connection."""
    gate = threading.Barrier(N)
    answers: list[Any] = [None] * N

    def run(i: int) -> None:
        with requests.Session() as s:
            s.headers["Authorization"] = f"Bearer {api.key}"
            s.get(api.base + "/calendars", timeout=30)  # connect before the gate
            gate.wait(timeout=60)
            try:
                answers[i] = send(s, i)
            except requests.RequestException as exc:  # pragma: no cover - reported below
                answers[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(isinstance(a, requests.Response) for a in answers), answers
    return answers


def served_by_both_workers(server: Server) -> None:
    assert len(worker_pids(server.process.pid)) == 2


def test_twenty_patches_with_one_if_match_one_wins(api: Api, two_workers: Server, sql) -> None:
    served_by_both_workers(two_workers)
    r = api.post("/events", {"title": "Original", "start_time": "2026-03-02T09:00:00Z",
                             "reminders": [{"minutes_before": 5}]})
    assert r.status_code == 201, r.text
    made = r.json()
    revision = sql.execute("SELECT revision FROM events WHERE id = %s",
                           (made["id"],)).fetchone()[0]

    def send(s: requests.Session, i: int) -> requests.Response:
        return s.patch(f"{api.base}/events/{made['id']}", json={"title": f"Writer {i}"},
                       headers={"If-Match": made["etag"],
                                "Content-Type": "application/merge-patch+json"}, timeout=60)

    answers = all_at_once(api, send)
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [412] * (N - 1), [(a.status_code, a.text[:200]) for a in answers]
    winner = next(i for i, a in enumerate(answers) if a.status_code == 200)
    for a in answers:
        if a.status_code == 412:
            assert a.headers["Content-Type"] == "application/problem+json"
            assert a.headers["ETag"] == answers[winner].json()["etag"]
    final = api.get(f"/events/{made['id']}").json()
    assert final["title"] == f"Writer {winner}"
    assert final["etag"] == answers[winner].json()["etag"] != made["etag"]
    assert final["reminders"] == made["reminders"]
    after = sql.execute("SELECT revision, title FROM events WHERE id = %s",
                        (made["id"],)).fetchone()
    assert after == (revision + 1, f"Writer {winner}")  # moved once: one write, none lost
    # CalDAV says the same.
    href = next(c["href"] for c in api.get("/calendars").json()["calendars"]
                if c["id"] == made["calendar_id"])
    text = requests.get(f"{two_workers.url}{api.account.username}/{href}/{made['uid']}.ics",
                        auth=(api.account.username, api.account.password), timeout=30)
    assert text.status_code == 200 and f"SUMMARY:Writer {winner}\r\n" in text.text
    assert text.headers["ETag"] == final["etag"]


def test_twenty_patches_without_if_match_all_land_in_turn(api: Api, two_workers: Server,
                                                          sql) -> None:
    """Without a precondition every writer wins in turn: 20 answers 200, 20 revisions."""
    made = api.post("/events", {"title": "Base", "start_time": "2026-03-02T09:00:00Z"}).json()
    revision = sql.execute("SELECT revision FROM events WHERE id = %s",
                           (made["id"],)).fetchone()[0]

    def send(s: requests.Session, i: int) -> requests.Response:
        return s.patch(f"{api.base}/events/{made['id']}/custom", json={f"x-writer-{i}": "yes"},
                       timeout=60)

    answers = all_at_once(api, send)
    assert [a.status_code for a in answers] == [200] * N, [a.text[:200] for a in answers]
    final = api.get(f"/events/{made['id']}").json()
    assert final["custom_fields"] == {f"x-writer-{i}": "yes" for i in range(N)}  # none lost
    assert sql.execute("SELECT revision FROM events WHERE id = %s",
                       (made["id"],)).fetchone()[0] == revision + N


def test_twenty_idempotent_creates_make_one_event(api: Api, two_workers: Server, sql) -> None:
    served_by_both_workers(two_workers)
    event_id = str(uuid.uuid4())

    def send(s: requests.Session, i: int) -> requests.Response:
        return s.post(f"{api.base}/events", json={"id": event_id, "title": "Once",
                                                  "start_time": "2026-03-02T09:00:00Z"},
                      timeout=60)

    answers = all_at_once(api, send)
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * (N - 1) + [201], [(a.status_code, a.text[:200]) for a in answers]
    assert {a.json()["id"] for a in answers} == {event_id}
    assert len({a.json()["etag"] for a in answers}) == 1
    assert sql.execute("SELECT count(*) FROM events WHERE tenant_id = %s",
                       (api.account.tenant_id,)).fetchone()[0] == 1
    assert sql.execute("SELECT count(*) FROM events WHERE id = %s", (event_id,)).fetchone()[0] == 1
    listed = api.get("/events", start="2026-03-02T00:00:00Z", end="2026-03-03T00:00:00Z").json()
    assert [d["id"] for d in listed["data"]] == [event_id]
