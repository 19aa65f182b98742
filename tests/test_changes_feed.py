"""The change feed (GET /api/v1/changes) over real HTTP against a real PostgreSQL:
every writer's change (a CalDAV client, the API, another application's plain
SQL) in commit order, with its type and source, the cursor rules, and an API
key's limits. The live stream is in test_changes_stream.py."""

from __future__ import annotations

import threading
import time
import uuid

import caldav
import psycopg
import pytest
from test_sidecar_api import Api, add_event, new_api, problem

from backside_caldav.db import engines as db
from backside_caldav.db import keys as apikeys
from backside_caldav.db import maintenance, tenancy
from backside_caldav.service.change_stream import Hub, Stream
from backside_caldav.service.changes import page
from backside_caldav.service.events import Caller
from backside_caldav.service.problems import Problem

ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//feed//EN
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20260101T000000Z
DTSTART:20260302T090000Z
DTEND:20260302T100000Z
SUMMARY:{title}
END:VEVENT
END:VCALENDAR
"""


@pytest.fixture
def api(server, database_url, sql):
    a = new_api(server, database_url, sql)
    yield a
    a.session.close()


def changes(api: Api, since: str, **params) -> dict:
    r = api.get("/changes", since=since, **params)
    assert r.status_code == 200, r.text
    return r.json()


def head(api: Api) -> str:
    return changes(api, "now")["next_cursor"]


def dav_calendar(api: Api) -> caldav.Calendar:
    account = api.account
    client = caldav.DAVClient(url=api.base.removesuffix("api/v1"), username=account.username,
                              password=account.password)
    return client.principal().calendars()[0]


def test_each_writer_shows_up_with_its_type_and_source(api: Api, sql) -> None:
    start = head(api)
    calendar = dav_calendar(api)
    uid = f"feed-{uuid.uuid4()}"
    resource = calendar.save_event(ICS.format(uid=uid, title="From the phone"))
    event_id = sql.execute("SELECT id::text FROM events WHERE uid = %s", (uid,)).fetchone()[0]
    r = api.session.patch(f"{api.base}/events/{event_id}", json={"title": "From the API"},
                          headers={"Content-Type": "application/merge-patch+json"}, timeout=30)
    assert r.status_code == 200, r.text
    api_etag = r.json()["etag"]
    sql.execute("UPDATE events SET title = 'From SQL' WHERE id = %s", (event_id,))
    resource.delete()
    r = api.post(f"/events/{event_id}/restore")
    assert r.status_code == 200, r.text

    doc = changes(api, start)
    seen = [(c["type"], c["source"], c["event_id"]) for c in doc["changes"]]
    assert seen == [("event.created", "caldav", event_id), ("event.updated", "api", event_id),
                    ("event.updated", "sql", event_id), ("event.deleted", "caldav", event_id),
                    ("event.restored", "api", event_id)]
    cursors = [int(c["cursor"]) for c in doc["changes"]]
    assert cursors == sorted(cursors) and len(set(cursors)) == 5
    assert doc["changes"][1]["etag"] == api_etag
    assert all(c["calendar_id"] == api.calendar_id for c in doc["changes"])
    assert all(c["at"].endswith("Z") for c in doc["changes"])
    assert doc["next_cursor"] == doc["changes"][-1]["cursor"] and doc["has_more"] is False
    # Reading on from the last cursor finds nothing more.
    assert changes(api, doc["next_cursor"])["changes"] == []


def test_include_event_carries_the_event_as_the_api_reads_it(api: Api, sql) -> None:
    start = head(api)
    made = api.post("/events", {"title": "Lunch", "start_time": "2026-03-03T12:00:00Z"}).json()
    gone = api.post("/events", {"title": "Gone", "start_time": "2026-03-03T15:00:00Z"}).json()
    assert api.delete(f"/events/{gone['id']}").status_code == 204
    doc = changes(api, start, include="event")
    by_type = [(c["type"], c["event_id"]) for c in doc["changes"]]
    assert by_type == [("event.created", made["id"]), ("event.created", gone["id"]),
                       ("event.deleted", gone["id"])]
    assert doc["changes"][0]["event"] == api.get(f"/events/{made['id']}").json()
    assert doc["changes"][1]["event"] is None  # trashed since: not readable any more
    assert doc["changes"][2]["event"] is None
    assert "event" not in changes(api, start)["changes"][0]


def test_calendar_changes(api: Api) -> None:
    start = head(api)
    made = api.post("/calendars", {"name": "Team"})
    assert made.status_code == 201, made.text
    cal_id = made.json()["id"]
    r = api.session.patch(f"{api.base}/calendars/{cal_id}", json={"color": "#ff0000"},
                          timeout=30, headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    assert api.delete(f"/calendars/{cal_id}").status_code == 204
    doc = changes(api, start)
    assert [(c["type"], c["calendar_id"], c["event_id"]) for c in doc["changes"]] == [
        ("calendar.created", cal_id, None), ("calendar.updated", cal_id, None),
        ("calendar.deleted", cal_id, None)]


def test_event_writes_do_not_report_their_calendar(api: Api, sql) -> None:
    """Every event write bumps its calendar's sync counter; that is no calendar change."""
    start = head(api)
    add_event(sql, api, "Plain")
    assert [c["type"] for c in changes(api, start)["changes"]] == ["event.created"]


def test_one_transaction_is_one_change_per_event(api: Api, sql, database_url) -> None:
    start = head(api)
    with psycopg.connect(database_url, autocommit=False) as conn:
        kept = conn.execute(
            "INSERT INTO events (tenant_id, calendar_id, title, start_time) "
            "VALUES (%s, %s, 'A', '2026-03-02T09:00Z') RETURNING id::text",
            (api.account.tenant_id, api.calendar_id)).fetchone()[0]
        conn.execute("UPDATE events SET title = 'B' WHERE id = %s", (kept,))
        conn.execute("INSERT INTO event_attendees (tenant_id, event_id, email) "
                     "VALUES (%s, %s, 'x@example.com')", (api.account.tenant_id, kept))
        brief = conn.execute(
            "INSERT INTO events (tenant_id, calendar_id, title, start_time) "
            "VALUES (%s, %s, 'C', '2026-03-02T11:00Z') RETURNING id::text",
            (api.account.tenant_id, api.calendar_id)).fetchone()[0]
        conn.execute("DELETE FROM events WHERE id = %s", (brief,))
        conn.commit()
    doc = changes(api, start)
    assert [(c["type"], c["event_id"], c["source"]) for c in doc["changes"]] == [
        ("event.created", kept, "sql")]
    etag = sql.execute("SELECT revision FROM events WHERE id = %s", (kept,)).fetchone()[0]
    assert doc["changes"][0]["etag"] == f'"{etag}"'


def test_a_later_commit_with_an_earlier_start_is_not_skipped(api: Api, sql,
                                                             database_url) -> None:
    """Two writers: the first to write commits last. A reader between the commits
    must still get the second change after the cursor it holds. (Two calendars:
    writers of one calendar wait for each other at its sync counter anyway.)"""
    other = api.post("/calendars", {"name": "Other"}).json()["id"]
    start = head(api)
    first = psycopg.connect(database_url, autocommit=False)
    try:
        slow = first.execute(
            "INSERT INTO events (tenant_id, calendar_id, title, start_time) "
            "VALUES (%s, %s, 'slow', '2026-03-02T09:00Z') RETURNING id::text",
            (api.account.tenant_id, api.calendar_id)).fetchone()[0]
        fast = add_event(sql, api, "fast", calendar_id=other)  # commits at once
        between = changes(api, start)
        assert [c["event_id"] for c in between["changes"]] == [fast]
        first.commit()
    finally:
        first.close()
    after = changes(api, between["next_cursor"])
    assert [c["event_id"] for c in after["changes"]] == [slow]


def waiting_for(holder: psycopg.Connection) -> None:
    """Until some session waits for a lock the holder has."""
    with psycopg.connect(holder.info.dsn, autocommit=True) as watcher:
        for _ in range(600):
            if watcher.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND "
                               "%s = ANY(pg_blocking_pids(pid))",
                               (holder.info.backend_pid,)).fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError("no writer waited for the held counter")


def test_a_commit_waits_for_the_tenants_feed_lock(api: Api, sql, database_url) -> None:
    """Numbers are handed out at commit, under the tenant's feed lock: a writer whose
    commit finds it held waits, and its change is not visible before."""
    start = head(api)
    holder = psycopg.connect(database_url, autocommit=False)
    try:
        holder.execute("SELECT pg_advisory_xact_lock(1717920100, hashtext(%s))",
                       (api.account.tenant_id,))
        done: list[str] = []
        writer = threading.Thread(target=lambda: done.append(add_event(sql_conn, api, "w")))
        sql_conn = psycopg.connect(database_url, autocommit=True)
        writer.start()
        waiting_for(holder)
        assert changes(api, start)["changes"] == []  # not committed yet
        holder.rollback()
        writer.join(10)
        sql_conn.close()
    finally:
        holder.close()
    assert [c["event_id"] for c in changes(api, start)["changes"]] == done


def test_paging(api: Api, sql) -> None:
    start = head(api)
    ids = [add_event(sql, api, f"e{i}") for i in range(7)]
    seen: list[str] = []
    cursor = start
    while True:
        doc = changes(api, cursor, limit=3)
        seen += [c["event_id"] for c in doc["changes"]]
        cursor = doc["next_cursor"]
        if not doc["has_more"]:
            break
    assert seen == ids
    # Without since: from the oldest change kept.
    everything = api.get("/changes", limit=1000).json()["changes"]
    assert [c["event_id"] for c in everything if c["event_id"] in ids] == ids


def test_bad_cursors_and_parameters(api: Api, sql) -> None:
    for since, word in [("abc", "not a cursor"), ("-1", "not a cursor"),
                        ("1" * 19, "not a cursor")]:
        problem(api.get("/changes", since=since), 400, word)
    last = int(head(api))
    problem(api.get("/changes", since=str(last + 1000)), 410, "ahead of this feed")
    problem(api.get("/changes", since="0", include="calendar"), 400, "only value")
    problem(api.get("/changes", since="0", limit="0"), 400)
    problem(api.get("/changes", since="0", limit="1001"), 400)
    problem(api.get("/changes", cursor="0"), 400, "unknown query parameter")
    r = api.session.post(api.base + "/changes", json={}, timeout=30)
    problem(r, 405)


def test_a_pruned_cursor_gets_410(api: Api, sql, database_url) -> None:
    old = head(api)
    add_event(sql, api, "old news")
    assert maintenance.prune_change_log(db.get_engine(database_url), 0) >= 1
    problem(api.get("/changes", since=old), 410, "pruned")
    fresh = head(api)
    add_event(sql, api, "news")
    assert [c["type"] for c in changes(api, fresh)["changes"]] == ["event.created"]


def test_tenants_never_see_each_other(server, database_url, sql, api: Api) -> None:
    other = new_api(server, database_url, sql)
    try:
        mine, theirs = head(api), head(other)
        add_event(sql, other, "theirs")
        assert changes(api, mine)["changes"] == []
        assert [c["type"] for c in changes(other, theirs)["changes"]] == ["event.created"]
    finally:
        other.session.close()


def test_a_calendar_limited_key_sees_its_calendars_only(api: Api, sql, database_url) -> None:
    team = api.post("/calendars", {"name": "Team"}).json()["id"]
    key = apikeys.create_key(db.get_engine(database_url), api.account.tenant,
                             calendars=[team])
    limited = Api(api.base, api.account, key.secret, team, type(api.session)())
    limited.session.headers["Authorization"] = f"Bearer {key.secret}"
    try:
        start = head(limited)
        outside = add_event(sql, api, "elsewhere")
        inside = add_event(sql, api, "team", calendar_id=team)
        sql.execute("UPDATE events SET calendar_id = %s WHERE id = %s", (api.calendar_id, inside))
        sql.execute("UPDATE events SET calendar_id = %s WHERE id = %s", (team, outside))
        doc = changes(limited, start)
        assert [(c["type"], c["event_id"], c["calendar_id"]) for c in doc["changes"]] == [
            ("event.created", inside, team),
            ("event.deleted", inside, team),  # moved out: gone, for this key
            ("event.created", outside, team)]  # moved in: new, for this key
        assert "accessInfo" in doc
        # The full key sees the moves as updates.
        full = changes(api, start)["changes"]
        assert [c["type"] for c in full] == ["event.created", "event.created",
                                             "event.updated", "event.updated"]
    finally:
        limited.session.close()


def test_a_window_limited_key_does_not_get_changes_outside_its_window(api: Api, sql,
                                                                      database_url) -> None:
    key = apikeys.create_key(db.get_engine(database_url), api.account.tenant,
                             window_days=(7, 7))
    limited = Api(api.base, api.account, key.secret, api.calendar_id, type(api.session)())
    limited.session.headers["Authorization"] = f"Bearer {key.secret}"
    try:
        start = head(limited)
        add_event(sql, api, "long ago", start="2020-01-01T09:00:00Z",
                  end="2020-01-01T10:00:00Z")
        near = add_event(sql, api, "now", start="now", end=None)
        assert [c["event_id"] for c in changes(limited, start)["changes"]] == [near]
    finally:
        limited.session.close()


def test_polling_counts_against_the_keys_rate_limit(api: Api, database_url) -> None:
    key = apikeys.create_key(db.get_engine(database_url), api.account.tenant,
                             rate_limits=((3, 3600),))
    limited = Api(api.base, api.account, key.secret, api.calendar_id, type(api.session)())
    limited.session.headers["Authorization"] = f"Bearer {key.secret}"
    try:
        for _ in range(3):
            assert limited.get("/changes", since="now").status_code == 200
        r = limited.get("/changes", since="now")
        problem(r, 429, "rate limit")
        assert int(r.headers["Retry-After"]) > 0
    finally:
        limited.session.close()


def test_a_poller_beside_concurrent_writers_gets_every_change_once(api: Api,
                                                                   database_url) -> None:
    """Writers in two calendars through SQL and the API, committing in whatever order
    the machine gives them, while a reader polls with its cursor all along."""
    other = api.post("/calendars", {"name": "Busy"}).json()["id"]
    start = head(api)
    made: list[str] = []
    made_lock = threading.Lock()
    stop = threading.Event()
    seen: list[dict] = []

    def sql_writer(calendar_id: str) -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            for i in range(12):
                new = conn.execute(
                    "INSERT INTO events (tenant_id, calendar_id, title, start_time) "
                    "VALUES (%s, %s, %s, '2026-03-02T09:00Z') RETURNING id::text",
                    (api.account.tenant_id, calendar_id, f"w{i}")).fetchone()[0]
                with made_lock:
                    made.append(new)

    def api_writer() -> None:
        session = type(api.session)()
        session.headers["Authorization"] = f"Bearer {api.key}"
        for i in range(8):
            r = session.post(f"{api.base}/events", json={
                "title": f"a{i}", "start_time": "2026-03-03T12:00:00Z"}, timeout=30)
            assert r.status_code == 201, r.text
            with made_lock:
                made.append(r.json()["id"])
        session.close()

    def poller() -> None:
        cursor = start
        while True:
            finished = stop.is_set()
            doc = changes(api, cursor)
            seen.extend(doc["changes"])
            cursor = doc["next_cursor"]
            if finished and not doc["has_more"]:
                return

    reader = threading.Thread(target=poller)
    reader.start()
    writers = [threading.Thread(target=sql_writer, args=(api.calendar_id,)),
               threading.Thread(target=sql_writer, args=(other,)),
               threading.Thread(target=api_writer), threading.Thread(target=api_writer)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
    stop.set()
    reader.join(60)
    ids = [c["event_id"] for c in seen]
    assert sorted(ids) == sorted(made) and len(made) == 40
    cursors = [int(c["cursor"]) for c in seen]
    assert cursors == sorted(set(cursors))


def test_an_event_with_its_calendars_id_keeps_both_changes(api: Api) -> None:
    cal_id = api.post("/calendars", {"name": "Twin"}).json()["id"]
    made = api.post("/events", {"id": cal_id, "calendar_id": cal_id, "title": "Same id",
                                "start_time": "2026-03-03T12:00:00Z"})
    assert made.status_code == 201, made.text
    start = head(api)
    r = api.session.delete(f"{api.base}/calendars/{cal_id}", params={"force": "true"},
                           timeout=30)
    assert r.status_code == 204, r.text
    assert sorted((c["type"], c["event_id"]) for c in changes(api, start)["changes"]) == [
        ("calendar.deleted", None), ("event.deleted", cal_id)]


def test_a_repeatable_read_writer_commits_beside_another(api: Api, sql,
                                                         database_url) -> None:
    """The feed's numbering takes a lock, not a row update, at commit: a REPEATABLE
    READ writer gets no serialization error from another writer of its tenant (in
    another calendar: writers of one calendar meet at its sync counter anyway)."""
    second = api.post("/calendars", {"name": "Second"}).json()["id"]
    start = head(api)
    with psycopg.connect(database_url) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.execute("SELECT count(*) FROM events")  # the snapshot
        other = add_event(sql, api, "committed meanwhile", calendar_id=second)
        mine = conn.execute(
            "INSERT INTO events (tenant_id, calendar_id, title, start_time) "
            "VALUES (%s, %s, 'RR', '2026-03-02T09:00Z') RETURNING id::text",
            (api.account.tenant_id, api.calendar_id)).fetchone()[0]
        conn.commit()
    assert [c["event_id"] for c in changes(api, start)["changes"]] == [other, mine]


def test_writers_of_two_tenants_in_opposite_orders_do_not_deadlock(server, database_url,
                                                                   sql, api: Api) -> None:
    """Each writer writes both tenants (in calendars of its own, so only the feed's
    numbering at commit is shared), in opposite orders, and they commit together."""
    other = new_api(server, database_url, sql)
    extra = {a.account.tenant_id: a.post("/calendars", {"name": "Second"}).json()["id"]
             for a in (api, other)}
    insert = ("INSERT INTO events (tenant_id, calendar_id, title, start_time) "
              "VALUES (%s, %s, 'x', '2026-03-02T09:00Z')")
    errors: list[Exception] = []

    def writer(targets: list[tuple[str, str]], ready: threading.Barrier) -> None:
        try:
            with psycopg.connect(database_url) as conn:
                for tenant_id, calendar_id in targets:
                    conn.execute(insert, (tenant_id, calendar_id))
                ready.wait(10)
                conn.commit()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    a, b = api.account.tenant_id, other.account.tenant_id
    mine, theirs = head(api), head(other)
    for _ in range(10):
        ready = threading.Barrier(2)
        threads = [
            threading.Thread(target=writer, args=([(a, api.calendar_id),
                                                   (b, other.calendar_id)], ready)),
            threading.Thread(target=writer, args=([(b, extra[b]), (a, extra[a])], ready))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    other.session.close()
    assert errors == []
    assert len(changes(api, mine)["changes"]) == 20
    assert len(changes(other, theirs)["changes"]) == 20


def test_a_prune_between_the_check_and_the_read_is_a_410_not_a_gap(api: Api, sql,
                                                                    database_url) -> None:
    """A reader whose cursor passed the request's check, when maintenance prunes before
    its page is read: the page (and a stream reading the database) says 410."""
    old = int(head(api))
    add_event(sql, api, "pruned soon")
    maintenance.prune_change_log(db.get_engine(database_url), 0)
    key = apikeys.create_key(db.get_engine(database_url), api.account.tenant).key
    engine = db.get_app_engine(database_url)
    with tenancy.transaction(engine, api.account.tenant_id) as conn:
        with pytest.raises(Problem) as refused:
            page(Caller(conn, key), old, 10)
    assert refused.value.status == 410 and "pruned" in refused.value.detail
    hub = Hub(engine, heartbeat=0.2)
    body = Stream(hub, key, old, False)
    try:
        chunks = list(body)  # a stream far behind ends with the reason
    finally:
        body.close()
    assert chunks[-1].startswith(b"event: cursor-expired\n") and b"410" in chunks[-1]
    assert hub.open_streams == 0
