"""Scoped, time-limited and rate-limited API keys over real HTTP and a real
PostgreSQL: each restriction on each endpoint, accessInfo, expiry, rate limits
(also across 2 worker processes) and the `apikey` commands."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests
from conftest import Server, make_account, worker_pids
from test_sidecar_api import Api, add_attendee, add_event, problem

from backside_caldav import cli
from backside_caldav.db import engines as db
from backside_caldav.db import key_limits
from backside_caldav.db import keys as apikeys

NOW = datetime.now(timezone.utc).replace(microsecond=0)
WINDOW_INFO = "Results limited to time window: last 30 days to next 30 days."
READ_INFO = "Read-only access, cannot create or modify events."


def at(days: float, hours: float = 1) -> tuple[str, str]:
    start = NOW + timedelta(days=days)
    return start.isoformat(), (start + timedelta(hours=hours)).isoformat()


@dataclass
class Tenant:
    """One tenant: an unrestricted key, its calendars Work and Private, and its events."""

    full: Api
    work: str
    private: str
    near: str  # Work, tomorrow
    far: str  # Work, in 100 days
    hidden: str  # Private, tomorrow
    database_url: str
    server: Server

    def key(self, **options: Any) -> Api:
        made = apikeys.create_key(db.get_engine(self.database_url), self.full.account.tenant,
                                  **options)
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {made.secret}"
        return Api(self.full.base, self.full.account, made.secret, self.work, session)


def _api(server: Server, database_url: str, sql) -> Api:
    account = make_account(database_url)
    key = apikeys.create_key(db.get_engine(database_url), account.tenant)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key.secret}"
    work = sql.execute("UPDATE calendars SET name = 'Work' WHERE tenant_id = %s "
                       "RETURNING id::text", (account.tenant_id,)).fetchone()[0]
    return Api(server.url + "api/v1", account, key.secret, work, session)


@pytest.fixture(scope="module")
def tenant(server: Server, database_url: str) -> Iterator[Tenant]:
    import psycopg

    from backside_caldav.db.settings import libpq_url
    with psycopg.connect(libpq_url(database_url), autocommit=True) as sql:
        full = _api(server, database_url, sql)
        private = sql.execute("INSERT INTO calendars (tenant_id, name, href) VALUES "
                              "(%s, 'Private', 'private') RETURNING id::text",
                              (full.account.tenant_id,)).fetchone()[0]
        near = add_event(sql, full, "Standup near", *at(1))
        far = add_event(sql, full, "Standup far", *at(100))
        hidden = add_event(sql, full, "Standup hidden", *at(1, 2), calendar_id=private)
        for event in (near, far, hidden):
            add_attendee(sql, full, event, "ann@example.com")
            full.post(f"/events/{event}/links", {"entity_type": "deal", "entity_id": "D-7"})
        yield Tenant(full, full.calendar_id, private, near, far, hidden, database_url, server)
    full.session.close()


def ids(hits: list[dict]) -> set[str]:
    return {h["id"] for h in hits}


# --- calendars ---------------------------------------------------------------------

def test_accessinfo_is_absent_without_restrictions(tenant: Tenant) -> None:
    for path, params in [("/calendars", {}), ("/events/search", {"q": "standup"}),
                         ("/links", {"entity_type": "deal", "entity_id": "D-7"}),
                         ("/freebusy", dict(zip(("start", "end"), at(0, 48), strict=True))),
                         (f"/events/{tenant.near}/links", {}), ("/events", {})]:
        r = tenant.full.get(path, **params)
        assert r.status_code == 200, r.text
        assert "accessInfo" not in r.json(), path
    assert ids(tenant.full.get("/events/search", q="standup").json()["hits"]) == {
        tenant.near, tenant.far, tenant.hidden}


def test_calendar_key_lists_only_its_calendars(tenant: Tenant) -> None:
    key = tenant.key(calendars=["work"])
    body = key.get("/calendars").json()
    assert [c["name"] for c in body["calendars"]] == ["Work"]
    assert body["accessInfo"] == "Results limited to calendars: Work."
    both = tenant.key(calendars=[tenant.private, "Work"]).get("/calendars").json()
    assert {c["name"] for c in both["calendars"]} == {"Work", "Private"}
    assert both["accessInfo"] == "Results limited to calendars: Private, Work."


# --- search ------------------------------------------------------------------------

def test_search_under_calendar_and_window_limits(tenant: Tenant) -> None:
    cal_key = tenant.key(calendars=["Work"])
    body = cal_key.get("/events/search", q="standup").json()
    assert ids(body["hits"]) == {tenant.near, tenant.far}
    assert body["accessInfo"] == "Results limited to calendars: Work."
    problem(cal_key.get("/events/search", q="standup", calendar_id=tenant.private), 400,
            "no calendar")
    assert ids(cal_key.get("/events/search", q="standup", calendar_id=tenant.work)
               .json()["hits"]) == {tenant.near, tenant.far}

    window_key = tenant.key(window_days=(30, 30))
    body = window_key.get("/events/search", q="standup").json()
    assert ids(body["hits"]) == {tenant.near, tenant.hidden}
    assert "occurrence" not in body["hits"][0]
    assert body["accessInfo"] == WINDOW_INFO
    # A wider window asked for is cut to the key's: the far event stays unseen.
    start, end = at(-365, 24 * 730)
    wide = window_key.get("/events/search", q="standup", start=start, end=end).json()
    assert ids(wide["hits"]) == {tenant.near, tenant.hidden}
    outside = window_key.get("/events/search", q="standup", start=at(90)[0], end=at(120)[0])
    assert outside.status_code == 200 and outside.json()["hits"] == []


# --- free-busy and availability ------------------------------------------------------

def test_freebusy_and_availability_reveal_nothing_outside(tenant: Tenant) -> None:
    near_start, near_end = at(1)
    far_start, far_end = at(100)
    cal_key = tenant.key(calendars=["Work"])
    window_key = tenant.key(window_days=(30, 30))
    day = dict(zip(("start", "end"), at(0.5, 24), strict=True))
    assert len(tenant.full.get("/freebusy", **day).json()["busy"]) == 1  # near and hidden
    fb = cal_key.get("/freebusy", **day).json()
    assert fb["busy"] == [{"start": near_start.replace("+00:00", "Z"),
                           "end": near_end.replace("+00:00", "Z")}]
    assert fb["accessInfo"] == "Results limited to calendars: Work."
    problem(cal_key.get("/freebusy", calendar_id=tenant.private, **day), 400, "no calendar")

    hundred = dict(zip(("start", "end"), at(99.5, 24), strict=True))
    assert tenant.full.get("/freebusy", **hundred).json()["busy"]
    fb = window_key.get("/freebusy", **hundred).json()
    assert fb["busy"] == [] and fb["accessInfo"] == WINDOW_INFO
    # A range across the window's end is cut to the window.
    across = {"start": at(20)[0], "end": at(120)[0]}
    assert tenant.full.get("/freebusy", **across).json()["busy"]
    assert window_key.get("/freebusy", **across).json()["busy"] == []

    hidden_slot = {"start": at(1, 2)[0], "end": at(1, 2)[1]}
    assert tenant.full.post("/availability/check", hidden_slot).json()["available"] is False
    checked = cal_key.post("/availability/check", {**hidden_slot, "start": near_end})
    assert checked.json() == {"available": True, "conflict_count": 0, "conflicts": []}
    problem(cal_key.post("/availability/check", {**hidden_slot,
                                                 "calendar_ids": [tenant.private]}),
            400, "no calendar")
    far_slot = {"start": far_start, "end": far_end}
    assert tenant.full.post("/availability/check", far_slot).json()["available"] is False
    assert window_key.post("/availability/check", far_slot).json()["available"] is True
    near = window_key.post("/availability/check", {"start": near_start, "end": near_end})
    assert near.json()["available"] is False and "accessInfo" not in near.json()  # a POST


# --- links and RSVP ----------------------------------------------------------------

def test_links_outside_the_key_are_404_to_read_and_403_to_write(tenant: Tenant) -> None:
    for key, outside, reason, visible in [
            (tenant.key(calendars=["Work"]), tenant.hidden, "calendar", [tenant.near, tenant.far]),
            (tenant.key(window_days=(30, 30)), tenant.far, "time window",
             [tenant.near, tenant.hidden])]:
        problem(key.get(f"/events/{outside}/links"), 404, "no event")
        problem(key.post(f"/events/{outside}/links", {"entity_type": "note", "entity_id": "x"}),
                403, reason)
        link = tenant.full.get(f"/events/{outside}/links").json()["links"][0]
        problem(key.delete(f"/events/{outside}/links/{link['id']}"), 403, reason)
        problem(key.post(f"/events/{outside}/respond", {"email": "ann@example.com",
                                                        "status": "declined"}), 403, reason)
        body = key.get(f"/events/{tenant.near}/links").json()
        assert len(body["links"]) == 1 and body["accessInfo"]
        made = key.post(f"/events/{tenant.near}/links", {"entity_type": "note",
                                                         "entity_id": reason})
        assert made.status_code == 201
        assert key.delete(f"/events/{tenant.near}/links/{made.json()['id']}").status_code == 204
        assert key.post(f"/events/{tenant.near}/respond", {"email": "ann@example.com",
                                                           "status": "accepted"}).ok
        linked = key.get("/links", entity_type="deal", entity_id="D-7").json()
        assert {e["id"] for e in linked["events"]} == set(visible)
        assert linked["accessInfo"]
    # Nothing was written outside: the links and the answers are as they were.
    assert len(tenant.full.get(f"/events/{tenant.far}/links").json()["links"]) == 1
    contact = tenant.full.get("/links", entity_type="contact", entity_id="ann@example.com")
    assert {e["attendee"]["rsvp_status"] for e in contact.json()["events"]
            if e["id"] != tenant.near} == {"pending"}


# --- scopes ------------------------------------------------------------------------

def test_read_scope_cannot_write_and_says_so(tenant: Tenant) -> None:
    for key in (tenant.key(scope="read"), tenant.key(read_only=True)):
        body = key.get("/calendars").json()
        assert body["accessInfo"] == READ_INFO
        problem(key.post(f"/events/{tenant.near}/links", {"entity_type": "note",
                                                          "entity_id": "r"}), 403, "read-only")
        problem(key.post("/events", {"title": "No"}), 403, "read-only")
        assert key.get("/events/search", q="standup").json()["accessInfo"] == READ_INFO


def test_permanent_delete_needs_admin_scope(tenant: Tenant) -> None:
    writer, admin = tenant.key(scope="write"), tenant.key(scope="admin")
    made = writer.post("/events", {"title": "Gone soon", "start_time": at(2)[0]}).json()
    url = f"{writer.base}/events/{made['id']}"
    problem(writer.session.delete(url, params={"permanent": "true"}, timeout=30), 403, "admin")
    assert "accessInfo" not in admin.get("/calendars").json()
    assert admin.session.delete(url, params={"permanent": "true"}, timeout=30).status_code == 204


def test_event_endpoints_under_limits(tenant: Tenant) -> None:
    key = tenant.key(calendars=["Work"], window_days=(30, 30))
    listed = key.get("/events", start=at(-10)[0], end=at(200)[0]).json()
    assert {e["event_id"] for e in listed["data"]} == {tenant.near}
    assert listed["accessInfo"] == WINDOW_INFO + " Results limited to calendars: Work."
    problem(key.get(f"/events/{tenant.far}"), 404)
    problem(key.get(f"/events/{tenant.hidden}"), 404)
    assert key.get(f"/events/{tenant.near}").json()["accessInfo"]


# --- expiry and rate limits --------------------------------------------------------

def test_expired_key_gets_401_saying_when(tenant: Tenant, sql) -> None:
    key = tenant.key(expires_in_days=1)
    assert key.get("/calendars").status_code == 200
    key_id = sql.execute("SELECT id::text FROM api_keys WHERE key_hash = encode(sha256(%s), "
                         "'hex')", (key.key.encode(),)).fetchone()[0]
    sql.execute("UPDATE api_keys SET expires_at = '2026-01-02T03:04:05Z' WHERE id = %s",
                (key_id,))
    r = key.get("/calendars")
    problem(r, 401, "expired at 2026-01-02T03:04:05")
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


def _seconds_to_midnight() -> float:
    now = datetime.now(timezone.utc)
    return (datetime.combine(now.date() + timedelta(days=1), datetime.min.time(),
                             timezone.utc) - now).total_seconds()


def test_rate_limit_answers_429_with_retry_after(tenant: Tenant, sql) -> None:
    key = tenant.key(rate_limits=((3, 86400), (1000, 60)))
    answers = [key.get("/calendars").status_code,
               key.get(f"/events/{uuid.uuid4()}/links").status_code,
               key.get("/events/search").status_code]
    assert answers == [200, 404, 400]  # refused requests count too
    r = key.get("/calendars")
    problem(r, 429, "3/day")
    assert abs(int(r.headers["Retry-After"]) - _seconds_to_midnight()) < 5
    problem(key.post("/events", {"title": "x"}), 429)
    assert tenant.full.get("/calendars").status_code == 200  # another key is not limited
    hits = dict(sql.execute("SELECT window_seconds, hits FROM api_key_hits h JOIN api_keys k "
                            "ON k.tenant_id = h.tenant_id AND k.id = h.key_id "
                            "WHERE k.key_hash = encode(sha256(%s), 'hex')",
                            (key.key.encode(),)).fetchall())
    assert hits[86400] == 5 and 1 <= hits[60] <= 5  # (a minute may have begun meanwhile)


def test_keys_without_limits_write_no_counters(tenant: Tenant, sql) -> None:
    key = tenant.key(calendars=["Work"])
    assert key.get("/calendars").ok and key.get("/events/search", q="x").ok
    assert sql.execute("SELECT count(*) FROM api_key_hits h JOIN api_keys k "
                       "ON k.tenant_id = h.tenant_id AND k.id = h.key_id "
                       "WHERE k.key_hash = encode(sha256(%s), 'hex')",
                       (key.key.encode(),)).fetchone()[0] == 0


def test_old_counters_are_pruned(tenant: Tenant, sql, database_url: str) -> None:
    key = tenant.key(rate_limits=((5, 1),))
    assert key.get("/calendars").ok
    sql.execute("UPDATE api_key_hits SET window_start = now() - interval '1 hour' "
                "WHERE window_seconds = 1 AND tenant_id = %s", (tenant.full.account.tenant_id,))
    assert key_limits.prune(db.get_engine(database_url)) >= 1
    assert sql.execute("SELECT count(*) FROM api_key_hits WHERE window_seconds = 1 "
                       "AND tenant_id = %s", (tenant.full.account.tenant_id,)).fetchone()[0] == 0


def test_rate_limit_holds_across_two_workers(tenant: Tenant, two_workers: Server) -> None:
    assert len(worker_pids(two_workers.process.pid)) == 2
    limit, sent = 7, 24
    made = apikeys.create_key(db.get_engine(tenant.database_url), tenant.full.account.tenant,
                              rate_limits=((limit, 86400),))
    gate = threading.Barrier(sent)
    codes: list[int] = []

    def run() -> None:
        with requests.Session() as s:  # its own connection: spread over both workers
            gate.wait(timeout=60)
            codes.append(s.get(two_workers.url + "api/v1/calendars", timeout=60,
                               headers={"Authorization": f"Bearer {made.secret}"}).status_code)

    threads = [threading.Thread(target=run) for _ in range(sent)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(codes) == [200] * limit + [429] * (sent - limit)


# --- the apikey commands -----------------------------------------------------------

def run_cli(capsys, database_url: str, monkeypatch, *args: str) -> tuple[int, str, str]:
    monkeypatch.setenv("BACKSIDE_DATABASE_URL", database_url)
    code = cli.main(["apikey", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_add_and_list_with_every_option(tenant: Tenant, capsys, monkeypatch) -> None:
    name = tenant.full.account.tenant
    tenant.key(read_only=True)
    code, out, err = run_cli(
        capsys, tenant.database_url, monkeypatch, "add", "--tenant", name, "--scope", "admin",
        "--calendar", "Work", "--calendar", tenant.private, "--window-days", "7,14",
        "--rate-limit", "100/minute,500/hours", "--owner-email", "boss@example.com",
        "--expires-in-days", "10")
    assert code == 0, err
    secret = out.split()[-1]
    assert secret.startswith("bsk_")
    expected = ("scope admin; calendars Work, Private; window 7 days back, 14 ahead; "
                "rate 100/minute, 500/hour; owner boss@example.com; expires ")
    assert expected in out
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {secret}"
    body = session.get(tenant.full.base + "/calendars", timeout=30).json()
    assert body["accessInfo"] == ("Results limited to time window: last 7 days to next 14 "
                                  "days. Results limited to calendars: Work, Private.")
    code, out, err = run_cli(capsys, tenant.database_url, monkeypatch, "list", "--tenant", name)
    assert code == 0 and expected in out and secret not in out
    assert "scope write" in out and "scope read" in out  # the other keys of the tenant


@pytest.mark.parametrize(("args", "words"), [
    (["--calendar", "Nowhere"], "has no calendar 'Nowhere'"),
    (["--calendar", str(uuid.uuid4())], "has no calendar"),
    (["--window-days", "30"], "bad window '30'"),
    (["--window-days=-1,3"], "bad window"),
    (["--window-days", "a,b"], "bad window"),
    (["--rate-limit", "100/fortnight"], "bad rate limit '100/fortnight'"),
    (["--rate-limit", "0/minute"], "bad rate limit"),
    (["--rate-limit", "1/minute,2/minute"], "two rate limits per minute"),
    (["--owner-email", "boss"], "bad owner email 'boss'"),
    (["--scope", "root"], "bad scope 'root'"),
    (["--scope", "admin", "--read-only"], "--read-only contradicts --scope admin"),
    (["--expires-in-days", "soon"], "bad --expires-in-days 'soon'"),
    (["--expires-in-days", "0"], "bad expiry 0"),
])
def test_cli_add_refuses_bad_values(tenant: Tenant, capsys, monkeypatch, sql,
                                    args: list[str], words: str) -> None:
    before = sql.execute("SELECT count(*) FROM api_keys").fetchone()[0]
    code, out, err = run_cli(capsys, tenant.database_url, monkeypatch, "add", "--tenant",
                             tenant.full.account.tenant, *args)
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and err.startswith("backside-caldav: error: "), err
    assert words in err
    assert sql.execute("SELECT count(*) FROM api_keys").fetchone()[0] == before


def test_two_calendars_with_one_name_need_an_id(tenant: Tenant, capsys, monkeypatch,
                                                sql) -> None:
    sql.execute("INSERT INTO calendars (tenant_id, name, href) VALUES (%s, 'Twin', 'twin1'), "
                "(%s, 'twin', 'twin2')", (tenant.full.account.tenant_id,) * 2)
    code, _, err = run_cli(capsys, tenant.database_url, monkeypatch, "add", "--tenant",
                           tenant.full.account.tenant, "--calendar", "Twin")
    assert code != 0 and "2 calendars named 'Twin'" in err


# --- the event API under every limit ----------------------------------------------

def test_event_writes_outside_the_limits_are_403_with_the_reason(tenant: Tenant) -> None:
    key = tenant.key(calendars=["Work"], window_days=(30, 30))
    start, end = at(3)
    problem(key.post("/events", {"title": "x", "start_time": start,
                                 "calendar_id": tenant.private}), 400, "no calendar")
    problem(key.post("/events", {"title": "x", "start_time": at(100)[0]}), 403, "time window")
    for path in (f"/events/{tenant.hidden}/cancel", f"/events/{tenant.far}/restore"):
        problem(key.post(path), 403, "writes outside")
    problem(key.session.patch(f"{key.base}/events/{tenant.hidden}", json={"title": "x"},
                              timeout=30), 403, "may not use")
    problem(key.delete(f"/events/{tenant.far}"), 403, "time window")
    problem(key.post(f"/events/{tenant.hidden}/attendees", {"email": "b@example.com"}), 403)
    made = key.post("/events", {"title": "Inside", "start_time": start, "end_time": end})
    assert made.status_code == 201 and made.json()["calendar_id"] == tenant.work
    moved = key.session.patch(f"{key.base}/events/{made.json()['id']}",
                              json={"start_time": at(90)[0], "end_time": at(90)[1]},
                              timeout=30)
    problem(moved, 403, "time window")
    full = tenant.full.get(f"/events/{made.json()['id']}").json()
    assert full["start_time"] == made.json()["start_time"]
    for event in (tenant.hidden, tenant.far):
        assert tenant.full.get(f"/events/{event}").json()["status"] == "confirmed"
    assert key.get("/events/overview").json()["accessInfo"]


def test_event_reads_under_a_read_scope_and_writes_refused(tenant: Tenant) -> None:
    key = tenant.key(scope="read")
    body = key.get(f"/events/{tenant.near}").json()
    assert body["accessInfo"] == READ_INFO and body["id"] == tenant.near
    assert key.get("/events", start=at(-1)[0], end=at(2)[0]).json()["accessInfo"] == READ_INFO
    for r in (key.post("/events", {"title": "x", "start_time": at(2)[0]}),
              key.session.patch(f"{key.base}/events/{tenant.near}", json={"title": "x"},
                                timeout=30),
              key.post(f"/events/{tenant.near}/cancel"), key.delete(f"/events/{tenant.near}")):
        problem(r, 403, "read-only")


def test_an_owner_email_key_organizes_and_answers_for_its_owner(tenant: Tenant) -> None:
    key = tenant.key(owner_email="Owner@Example.com")
    start, _ = at(5)
    made = key.post("/events", {"title": "Meeting", "start_time": start,
                                "attendees": [{"email": "guest@example.com"}]})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["organizer"] == "Owner@Example.com"
    assert body["currentUserCalendarEmail"] == "Owner@Example.com"
    assert sorted((a["email"], a["rsvp_status"]) for a in body["attendees"]) == [
        ("Owner@Example.com", "accepted"), ("guest@example.com", "pending")]
    window = {"start": at(4)[0], "end": at(6)[0]}
    accepted = key.get("/events", rsvp_status="accepted", **window).json()
    assert [d["event_id"] for d in accepted["data"]] == [body["id"]]
    assert accepted["currentUserCalendarEmail"] == "Owner@Example.com"
    solo = key.post("/events", {"title": "Alone", "start_time": start}).json()
    assert solo["attendees"] == [] and solo["organizer"] is None
