"""The live change stream (GET /api/v1/changes/stream, Server-Sent Events) over
real HTTP: every writer's change arrives on an open stream, a resumed stream
misses nothing and repeats nothing, streams work on every worker, hold their
own threads, beat every heartbeat, and end when the server stops."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import caldav
import pytest
import requests
from conftest import Server, start_server, worker_pids
from sse import Stream
from test_changes_feed import ICS, dav_calendar, head
from test_sidecar_api import Api, add_event, new_api, problem

from backside_caldav.db import engines as db
from backside_caldav.db import keys as apikeys


@pytest.fixture
def api(server, database_url, sql):
    a = new_api(server, database_url, sql)
    yield a
    a.session.close()


def open_stream(api: Api, headers: dict[str, str] | None = None, **params: str) -> Stream:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    stream = Stream(f"{api.base}/changes/stream" + (f"?{query}" if query else ""),
                    {"Authorization": f"Bearer {api.key}", **(headers or {})})
    r = stream.open()
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "text/event-stream"
    return stream


@pytest.fixture
def streams() -> Iterator[list[Stream]]:
    opened: list[Stream] = []
    yield opened
    for stream in opened:
        stream.close()


def test_every_writer_reaches_an_open_stream(api: Api, sql, streams) -> None:
    stream = open_stream(api)
    streams.append(stream)
    calendar = dav_calendar(api)
    uid = f"live-{uuid.uuid4()}"
    calendar.save_event(ICS.format(uid=uid, title="From the phone"))
    created = stream.next()
    event_id = sql.execute("SELECT id::text FROM events WHERE uid = %s", (uid,)).fetchone()[0]
    assert (created.type, created.data["source"], created.data["event_id"]) == (
        "event.created", "caldav", event_id)
    assert created.id == created.data["cursor"]
    r = api.session.patch(f"{api.base}/events/{event_id}", json={"title": "API"},
                          headers={"Content-Type": "application/merge-patch+json"}, timeout=30)
    assert r.status_code == 200, r.text
    patched = stream.next()
    assert (patched.type, patched.data["source"], patched.data["etag"]) == (
        "event.updated", "api", r.json()["etag"])
    sql.execute("UPDATE events SET title = 'SQL' WHERE id = %s", (event_id,))
    updated = stream.next()
    assert (updated.type, updated.data["source"]) == ("event.updated", "sql")
    assert int(created.id) < int(patched.id) < int(updated.id)
    assert stream.quiet(0.5)


def test_a_resumed_stream_misses_nothing_and_repeats_nothing(api: Api, sql, streams) -> None:
    first = open_stream(api)
    streams.append(first)
    ids = [add_event(sql, api, f"before {i}") for i in range(2)]
    got = first.take(2)
    assert [e.data["event_id"] for e in got] == ids
    first.close()
    later = [add_event(sql, api, f"while away {i}") for i in range(3)]
    resumed = open_stream(api, {"Last-Event-ID": got[-1].id})
    streams.append(resumed)
    assert [e.data["event_id"] for e in resumed.take(3)] == later
    assert resumed.quiet(0.5)
    # since= does the same for clients that cannot set headers.
    again = open_stream(api, since=got[0].id)
    streams.append(again)
    assert [e.data["event_id"] for e in again.take(4)] == [ids[1], *later]


def test_a_stream_that_starts_behind_catches_up_then_follows(api: Api, sql, streams) -> None:
    """The first stream of a tenant, resuming from before the worker's shared list
    begins: it reads the database for what it missed, then follows live."""
    start = head(api)
    missed = [add_event(sql, api, f"missed {i}") for i in range(5)]
    stream = open_stream(api, since=start)
    streams.append(stream)
    assert [e.data["event_id"] for e in stream.take(5)] == missed
    live = add_event(sql, api, "live")
    assert stream.next().data["event_id"] == live
    assert stream.quiet(0.5)


def test_many_streams_of_one_tenant_get_every_change_once(api: Api, sql, streams) -> None:
    opened = [open_stream(api) for _ in range(20)]
    streams += opened
    made = [add_event(sql, api, f"fan-out {i}") for i in range(3)]
    for stream in opened:
        assert [e.data["event_id"] for e in stream.take(3)] == made
        assert stream.quiet(0.2)


def test_one_listening_connection_per_worker(server: Server, api: Api, sql, streams) -> None:
    opened = [open_stream(api) for _ in range(5)]
    streams += opened
    add_event(sql, api, "wake them")
    for stream in opened:
        stream.next()
    workers = worker_pids(server.process.pid)
    names = [row[0] for row in sql.execute(
        "SELECT application_name FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name LIKE '%feed listener'")]
    mine = [n for n in names if any(f"[{pid}]" in n for pid in workers)]
    assert len(workers) == 1 and len(mine) == 1, (workers, names)


def test_include_event_on_the_stream(api: Api, sql, streams) -> None:
    stream = open_stream(api, include="event")
    streams.append(stream)
    made = api.post("/events", {"title": "Lunch", "start_time": "2026-03-03T12:00:00Z"}).json()
    event = stream.next()
    assert event.data["event"] == api.get(f"/events/{made['id']}").json()


def test_a_stream_shows_what_its_key_may_see(api: Api, sql, database_url, streams) -> None:
    team = api.post("/calendars", {"name": "Team"}).json()["id"]
    key = apikeys.create_key(db.get_engine(database_url), api.account.tenant, calendars=[team])
    limited = Api(api.base, api.account, key.secret, team, requests.Session())
    stream = open_stream(limited)
    streams.append(stream)
    add_event(sql, api, "elsewhere")
    inside = add_event(sql, api, "team", calendar_id=team)
    event = stream.next()
    assert (event.type, event.data["event_id"]) == ("event.created", inside)
    assert stream.quiet(0.5)


def test_streams_of_two_tenants_do_not_meet(server, database_url, sql, api: Api,
                                            streams) -> None:
    other = new_api(server, database_url, sql)
    mine, theirs = open_stream(api), open_stream(other)
    streams += [mine, theirs]
    event_id = add_event(sql, other, "theirs")
    assert theirs.next().data["event_id"] == event_id
    assert mine.quiet(0.5)
    other.session.close()


def test_bad_stream_requests(api: Api) -> None:
    url = f"{api.base}/changes/stream"
    auth = {"Authorization": f"Bearer {api.key}"}
    problem(requests.get(url, timeout=10), 401)
    problem(requests.get(url, headers={**auth, "Last-Event-ID": "x1"}, timeout=10), 400,
            "Last-Event-ID")
    ahead = str(int(head(api)) + 1000)
    problem(requests.get(url, headers={**auth, "Last-Event-ID": ahead}, timeout=10), 410)
    problem(requests.get(url, params={"since": ahead}, headers=auth, timeout=10), 410)
    problem(requests.get(url, params={"limit": "5"}, headers=auth, timeout=10), 400,
            "unknown query parameter")
    problem(requests.get(url, params={"include": "x"}, headers=auth, timeout=10), 400)


def test_streams_on_two_workers(two_workers: Server, database_url, sql, streams) -> None:
    api = new_api(two_workers, database_url, sql)
    opened = [open_stream(api) for _ in range(4)]  # connections land on either worker
    streams += opened
    made = api.post("/events", {"title": "Both", "start_time": "2026-03-03T12:00:00Z"}).json()
    for stream in opened:
        event = stream.next()
        assert event.data["event_id"] == made["id"]
    api.session.close()


@pytest.fixture(scope="module")
def small_server(database_url: str, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[Server]:
    """Room for 2 streams, 2 request threads, a heartbeat every 0.3 s."""
    srv = start_server(database_url, tmp_path_factory.mktemp("stream-logs"),
                       extra_env={"BACKSIDE_STREAM_HEARTBEAT": "0.3"},
                       extra_args=["--max-streams", "2", "--threads", "2"])
    try:
        yield srv
    finally:
        srv.stop()


def test_streams_have_threads_of_their_own_and_a_heartbeat(small_server: Server, database_url,
                                                           sql, streams) -> None:
    api = new_api(small_server, database_url, sql)
    held = [open_stream(api), open_stream(api)]
    streams += held
    r = Stream(f"{api.base}/changes/stream", {"Authorization": f"Bearer {api.key}"}).open()
    problem(r, 503, "maximum of 2 open streams")
    assert r.headers["Retry-After"]
    # Both request threads are still free: CalDAV and the API answer at once.
    client = caldav.DAVClient(url=small_server.url, username=api.account.username,
                              password=api.account.password)
    started = time.monotonic()
    for _ in range(5):
        assert client.principal().calendars()
        assert api.get("/calendars").status_code == 200
    assert time.monotonic() - started < 10
    time.sleep(1.0)
    assert held[0].comments.count("heartbeat") >= 2
    # A closed stream gives its place back.
    held[0].close()
    deadline = time.monotonic() + 5
    while True:
        again = Stream(f"{api.base}/changes/stream", {"Authorization": f"Bearer {api.key}"})
        if again.open().status_code == 200:
            streams.append(again)
            break
        assert time.monotonic() < deadline, "the closed stream's place was not given back"
        time.sleep(0.3)  # the server notices at its next heartbeat write
    api.session.close()


def test_stopping_the_server_ends_open_streams(database_url, sql, tmp_path) -> None:
    srv = start_server(database_url, tmp_path)
    try:
        api = new_api(srv, database_url, sql)
        stream = open_stream(api)
        started = time.monotonic()
        srv.process.terminate()
        srv.process.wait(timeout=20)
        assert time.monotonic() - started < 10  # not the 30 s graceful timeout
        assert stream.ended.wait(5)
        stream.close()
    finally:
        srv.stop()


def test_heartbeats_keep_coming_while_the_tenant_is_busy_elsewhere(
        small_server: Server, database_url, sql, streams) -> None:
    """Changes the key may not see wake the stream but write nothing: the heartbeat
    must still come on time."""
    api = new_api(small_server, database_url, sql)
    team = api.post("/calendars", {"name": "Team"}).json()["id"]
    key = apikeys.create_key(db.get_engine(database_url), api.account.tenant, calendars=[team])
    limited = Api(api.base, api.account, key.secret, team, requests.Session())
    stream = open_stream(limited)
    streams.append(stream)
    started = time.monotonic()
    while time.monotonic() - started < 1.5:
        add_event(sql, api, "elsewhere")
        time.sleep(0.1)
    assert stream.comments.count("heartbeat") >= 3, stream.comments
    assert stream.quiet(0.1)
    api.session.close()


def test_a_revoked_key_ends_its_stream(small_server: Server, database_url, sql,
                                       streams) -> None:
    api = new_api(small_server, database_url, sql)
    key = apikeys.create_key(db.get_engine(database_url), api.account.tenant)
    stream = open_stream(Api(api.base, api.account, key.secret, api.calendar_id,
                             requests.Session()))
    streams.append(stream)
    apikeys.revoke_key(db.get_engine(database_url), api.account.tenant, key.id)
    assert stream.next(5).type == "key-revoked"
    assert stream.ended.wait(5)
    api.session.close()
