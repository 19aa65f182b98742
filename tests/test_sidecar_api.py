"""The JSON sidecar (/api/v1/) over real HTTP against the running server and a
real PostgreSQL: auth, search, free-busy, availability, links, RSVP, tenant
isolation, read-only keys, and the errors a caller gets for bad input."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from conftest import ROOT, Account, free_port, make_account

from backside_caldav.api.routes import ROUTES
from backside_caldav.db import engines as db
from backside_caldav.db import keys as apikeys
from backside_caldav.db import search_queries, tenancy

PROBLEM = "application/problem+json"


@dataclass
class Api:
    """A tenant as an API caller: its key, a session that sends it, and its default calendar."""

    base: str
    account: Account
    key: str
    calendar_id: str
    session: requests.Session

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.base + path, params=params, timeout=30)

    def post(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.session.post(self.base + path, json=body, timeout=30, **kw)

    def delete(self, path: str) -> requests.Response:
        return self.session.delete(self.base + path, timeout=30)


def new_api(server, database_url: str, sql, read_only: bool = False,
            account: Account | None = None) -> Api:
    account = account or make_account(database_url)
    key = apikeys.create_key(db.get_engine(database_url), account.tenant, read_only=read_only)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key.secret}"
    calendar_id = sql.execute("SELECT id::text FROM calendars WHERE tenant_id = %s",
                              (account.tenant_id,)).fetchone()[0]
    return Api(server.url + "api/v1", account, key.secret, calendar_id, session)


@pytest.fixture
def api(server, database_url, sql) -> Iterator[Api]:
    a = new_api(server, database_url, sql)
    yield a
    a.session.close()


def add_event(sql, api: Api, title: str | None = None, start: str = "2026-03-02T09:00:00Z",
              end: str | None = "2026-03-02T10:00:00Z", calendar_id: str | None = None,
              **cols: Any) -> str:
    """An event written by "another application" with plain SQL; returns its id."""
    values = {"tenant_id": api.account.tenant_id, "calendar_id": calendar_id or api.calendar_id,
              "title": title, "start_time": start, "end_time": end, **cols}
    names = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    return sql.execute(f"INSERT INTO events ({names}) VALUES ({marks}) RETURNING id::text",
                       list(values.values())).fetchone()[0]


def add_attendee(sql, api: Api, event_id: str, email: str | None = None,
                 rsvp: str = "pending", contact_id: str | None = None) -> None:
    sql.execute("INSERT INTO event_attendees (tenant_id, event_id, email, contact_id, "
                "rsvp_status) VALUES (%s, %s, %s, %s, %s)",
                (api.account.tenant_id, event_id, email, contact_id, rsvp))


def problem(r: requests.Response, status: int, *words: str) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"] == PROBLEM
    doc = r.json()
    assert doc["status"] == status and doc["title"] and doc["type"].startswith("https://")
    for word in words:
        assert word in doc["detail"], doc
    return doc


# --- auth and the HTTP contract --------------------------------------------------

def test_missing_and_wrong_keys_get_401_with_bearer_challenge(server, api: Api) -> None:
    url = api.base + "/calendars"
    r = requests.get(url, timeout=10)
    problem(r, 401, "Authorization: Bearer")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    for header, word in [("Basic dXNlcjpwYXNz", "Bearer <key>"), ("Bearer", "Bearer <key>"),
                         ("Bearer nonsense", "malformed"),
                         ("Bearer bsk_" + "A" * 43, "unknown or was revoked")]:
        r = requests.get(url, headers={"Authorization": header}, timeout=10)
        problem(r, 401, word)
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.get("/calendars").status_code == 200


def test_openapi_document_is_public_and_lists_every_route(server) -> None:
    r = requests.get(server.url + "api/v1/openapi.json", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    # Every route of the table, with its method, and nothing else.
    routes = {(r.method.lower(), re.sub(r"\(\?P<(\w+)>\[\^/\]\+\)", r"{\1}",
                                        r.pattern.pattern)[1:-1]) for r in ROUTES}
    documented = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    assert documented == routes


def test_unknown_route_wrong_method_and_bodies(api: Api) -> None:
    problem(api.get("/nothing"), 404, "no such endpoint")
    problem(api.session.get(api.base, timeout=10), 404)
    r = api.session.put(api.base + "/events/search", timeout=10)
    problem(r, 405, "PUT")
    assert r.headers["Allow"] == "GET"
    r = api.session.post(api.base + "/events/search", timeout=10)
    assert r.status_code == 405
    check = api.base + "/availability/check"
    problem(api.session.post(check, data="start=x", timeout=10,
                             headers={"Content-Type": "application/x-www-form-urlencoded"}),
            415, "application/json")
    problem(api.session.post(check, data="{", timeout=10,
                             headers={"Content-Type": "application/json"}), 400, "not valid JSON")
    problem(api.session.post(check, data="", timeout=10,
                             headers={"Content-Type": "application/json"}), 400, "empty")
    problem(api.session.post(check, data=b"\xff\xfe", timeout=10,
                             headers={"Content-Type": "application/json"}), 400, "UTF-8")
    problem(api.post("/availability/check", [1, 2]), 400, "JSON object")
    problem(api.post("/availability/check", {"start": "2026-01-01T00:00:00Z",
                                             "end": "2026-01-02T00:00:00Z", "colour": "red"}),
            400, "colour")
    problem(api.session.post(check, data='{"start": NaN}', timeout=10,
                             headers={"Content-Type": "application/json"}), 400, "JSON")
    problem(api.session.post(check, data="[" * 100_000, timeout=10,
                             headers={"Content-Type": "application/json"}), 413)


BAD_QUERIES = [
    ("/events/search", {}, "q", "required"),
    ("/events/search", {"q": "x" * 201}, "q", "at most 200"),
    ("/events/search", {"q": "   "}, "q", "empty"),
    ("/events/search", {"q": "a\x00b"}, "q", "control characters"),
    ("/events/search", {"q": "x", "limit": "101"}, "limit", "from 1 to 100"),
    ("/events/search", {"q": "x", "limit": "-1"}, "limit", "whole number"),
    ("/events/search", {"q": "x", "limit": "1e9"}, "limit", "whole number"),
    ("/events/search", {"q": "x", "calendar_id": "nope"}, "calendar_id", "UUID"),
    ("/events/search", {"q": "x", "calendar_id": str(uuid.uuid4())}, "calendar_id",
     "no calendar"),
    ("/events/search", {"q": "x", "start": "yesterday"}, "start", "RFC 3339"),
    ("/events/search", {"q": "x", "start": "2026-01-01T10:00:00"}, "start", "UTC offset"),
    ("/events/search", {"q": "x", "start": "2026-02-30T10:00:00Z"}, "start", "real date"),
    ("/events/search", {"q": "x", "start": "9999-12-31T23:59:59-23:59"}, "start", "1900"),
    ("/events/search", {"q": "x", "start": "2026-01-02T00:00:00Z",
                        "end": "2026-01-01T00:00:00Z"}, "end", "after start"),
    ("/events/search", {"q": "x", "cursor": "garbage"}, "cursor", "start from the first page"),
    ("/events/search", {"q": "x", "qq": "y"}, "qq", "unknown query parameter"),
    ("/events/search", {"q": ["a", "b"]}, "q", "only once"),
    ("/freebusy", {"end": "2026-01-02T00:00:00Z"}, "start", "required"),
    ("/freebusy", {"start": "2026-01-01T00:00:00Z"}, "end", "required"),
    ("/freebusy", {"start": "2026-01-01T00:00:00Z", "end": "2027-01-03T00:00:00Z"}, "end",
     "366 days"),
    ("/freebusy", {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "end",
     "after start"),
    ("/freebusy", {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z",
                   "attendee_email": "nobody"}, "attendee_email", "email"),
    ("/links", {"entity_type": "person", "entity_id": "1"}, "entity_type", "contact, task"),
    ("/links", {"entity_type": "deal"}, "entity_id", "required"),
    ("/links", {"entity_type": "deal", "entity_id": "x" * 201}, "entity_id", "at most 200"),
    ("/links", {"entity_type": "deal", "entity_id": "1", "cursor": "%%%"}, "cursor",
     "without cursor"),
    ("/events/not-a-uuid/links", {}, "event_id", "UUID"),
]


@pytest.mark.parametrize(("path", "params", "parameter", "words"), BAD_QUERIES,
                         ids=[f"{p}:{n}:{w}" for p, _, n, w in BAD_QUERIES])
def test_bad_parameters_get_400_naming_them(api: Api, path: str, params: dict, parameter: str,
                                            words: str) -> None:
    doc = problem(api.get(path, **params), 400, words)
    assert doc["errors"][0]["parameter"] == parameter


def test_query_string_that_is_not_utf8_is_400(api: Api) -> None:
    problem(api.session.get(api.base + "/events/search?q=%ff%fe", timeout=10), 400, "UTF-8")


def test_calendars_lists_the_tenants_calendars(api: Api) -> None:
    r = api.get("/calendars")
    assert r.status_code == 200
    [cal] = r.json()["calendars"]
    assert cal["id"] == api.calendar_id and cal["href"] == "calendar"


# --- search ------------------------------------------------------------------------

def test_search_ranks_prefix_substring_and_skips_trash_and_overrides(api: Api, sql) -> None:
    planning = add_event(sql, api, "Quarterly planning meeting", location="London HQ",
                         description="Budget review with finance")
    exact = add_event(sql, api, "Planning")
    in_description = add_event(sql, api, "Lunch", description="talk about planning")
    add_event(sql, api, "Planning (trashed)", deleted_at="2026-01-01T00:00:00Z")
    series = add_event(sql, api, "Standup", start="2026-03-02T08:00:00Z",
                       end="2026-03-02T08:15:00Z", rrule="FREQ=DAILY;COUNT=10")
    add_event(sql, api, "Planning override", start="2026-03-03T08:30:00Z",
              end="2026-03-03T08:45:00Z", series_id=series, recurrence_id="2026-03-03T08:00:00Z",
              uid="x")

    hits = api.get("/events/search", q="planning").json()["hits"]
    assert [h["id"] for h in hits] == [exact, planning, in_description]
    assert hits[0]["score"] > hits[1]["score"] > hits[2]["score"]
    assert hits[1]["location"] == "London HQ" and hits[1]["recurring"] is False

    assert [h["id"] for h in api.get("/events/search", q="meet").json()["hits"]] == [planning]
    assert [h["id"] for h in api.get("/events/search", q="ondon").json()["hits"]] == [planning]
    assert [h["id"] for h in api.get("/events/search", q="BUDGET fin").json()["hits"]] == [
        planning]
    assert [h["id"] for h in api.get("/events/search", q="stand").json()["hits"]] == [series]
    assert api.get("/events/search", q="override").json()["hits"] == []
    assert api.get("/events/search", q="trashed").json()["hits"] == []
    # LIKE wildcards are literal characters.
    assert api.get("/events/search", q="%%%").json()["hits"] == []
    assert api.get("/events/search", q="___").json()["hits"] == []


def test_search_calendar_filter_and_pagination(api: Api, sql) -> None:
    other = sql.execute("INSERT INTO calendars (tenant_id, name, href) VALUES (%s, 'Other', "
                        "'other') RETURNING id::text", (api.account.tenant_id,)).fetchone()[0]
    ids = {add_event(sql, api, f"Sprint review {n}") for n in range(23)}
    elsewhere = add_event(sql, api, "Sprint review elsewhere", calendar_id=other)
    hits = api.get("/events/search", q="sprint", calendar_id=other).json()["hits"]
    assert [h["id"] for h in hits] == [elsewhere]

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"q": "sprint review", "limit": "10", "calendar_id": api.calendar_id}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/events/search", **params).json()
        seen += [h["id"] for h in page["hits"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 3 and len(seen) == len(set(seen)) == 23 and set(seen) == ids
    first = api.get("/events/search", q="sprint review", limit="5").json()
    problem(api.get("/events/search", q="sprint", cursor=first["next_cursor"]), 400,
            "other parameters")


def test_search_window_uses_real_occurrences(api: Api, sql) -> None:
    # Mondays at 09:00 UTC from 2026-01-05; its span covers every later week.
    weekly = add_event(sql, api, "Weekly sync", start="2026-01-05T09:00:00Z",
                       end="2026-01-05T10:00:00Z", rrule="FREQ=WEEKLY;BYDAY=MO")
    single = add_event(sql, api, "Sync retro", start="2026-01-07T12:00:00Z",
                       end="2026-01-07T13:00:00Z")
    tuesday_to_thursday = {"start": "2026-01-13T00:00:00Z", "end": "2026-01-16T00:00:00Z"}
    hits = api.get("/events/search", q="sync", **tuesday_to_thursday).json()["hits"]
    assert hits == []
    hits = api.get("/events/search", q="sync", start="2026-01-05T00:00:00Z",
                   end="2026-01-08T00:00:00Z").json()["hits"]
    by_id = {h["id"]: h for h in hits}
    assert set(by_id) == {weekly, single}
    assert by_id[weekly]["occurrence"] == {"start": "2026-01-05T09:00:00Z",
                                           "end": "2026-01-05T10:00:00Z",
                                           "recurrence_id": "2026-01-05T09:00:00Z"}
    assert by_id[single]["occurrence"]["recurrence_id"] is None
    # Only a start: events that go on after it.
    hits = api.get("/events/search", q="sync", start="2026-02-01T00:00:00Z").json()["hits"]
    assert [h["id"] for h in hits] == [weekly]


# --- free-busy and availability -----------------------------------------------------

@pytest.fixture
def busy_week(api: Api, sql) -> dict[str, str]:
    e: dict[str, str] = {}
    e["a"] = add_event(sql, api, "A", "2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z")
    e["b"] = add_event(sql, api, "B", "2026-03-02T09:30:00Z", "2026-03-02T11:00:00Z")
    e["transparent"] = add_event(sql, api, "T", "2026-03-02T12:00:00Z", "2026-03-02T13:00:00Z",
                                 transparency="transparent")
    e["cancelled"] = add_event(sql, api, "C", "2026-03-02T14:00:00Z", "2026-03-02T15:00:00Z",
                               status="cancelled")
    e["daily"] = add_event(sql, api, "Daily", "2026-03-01T16:00:00Z", "2026-03-01T16:30:00Z",
                           rrule="FREQ=DAILY;COUNT=30")
    add_event(sql, api, "Daily", "2026-03-03T16:00:00Z", "2026-03-03T16:30:00Z",
              series_id=e["daily"], recurrence_id="2026-03-03T16:00:00Z", status="cancelled",
              uid="d")
    e["declined"] = add_event(sql, api, "Declined", "2026-03-02T17:00:00Z",
                              "2026-03-02T18:00:00Z")
    add_attendee(sql, api, e["declined"], "Me@Example.com", "declined")
    # All-day in Berlin: stored as local midnights in UTC.
    e["berlin"] = add_event(sql, api, "Berlin day", "2026-03-03T23:00:00Z",
                            "2026-03-04T23:00:00Z", is_all_day=True, timezone="Europe/Berlin")
    # All-day written by someone who put noon UTC: still the whole New York day.
    e["ny"] = add_event(sql, api, "NY day", "2026-03-05T17:00:00Z", None, is_all_day=True,
                        timezone="America/New_York")
    e["trashed"] = add_event(sql, api, "Gone", "2026-03-02T19:00:00Z", "2026-03-02T20:00:00Z",
                             deleted_at="2026-01-01T00:00:00Z")
    return e


def test_freebusy_merges_and_skips_what_does_not_block(api: Api, busy_week) -> None:
    r = api.get("/freebusy", start="2026-03-02T00:00:00Z", end="2026-03-07T00:00:00Z")
    assert r.status_code == 200, r.text
    busy = [(b["start"], b["end"]) for b in r.json()["busy"]]
    assert busy == [
        ("2026-03-02T09:00:00Z", "2026-03-02T11:00:00Z"),  # A and B merged
        ("2026-03-02T16:00:00Z", "2026-03-02T16:30:00Z"),
        ("2026-03-02T17:00:00Z", "2026-03-02T18:00:00Z"),  # declined, but by whom is not said
        # 03-03 16:00 is a cancelled override
        ("2026-03-03T23:00:00Z", "2026-03-04T23:00:00Z"),  # Berlin's 4 March (16:00 inside)
        ("2026-03-05T05:00:00Z", "2026-03-06T05:00:00Z"),  # New York's 5 March
        ("2026-03-06T16:00:00Z", "2026-03-06T16:30:00Z"),
    ]
    busy = api.get("/freebusy", start="2026-03-02T00:00:00Z", end="2026-03-03T00:00:00Z",
                   attendee_email="me@example.com").json()["busy"]
    assert [(b["start"], b["end"]) for b in busy] == [
        ("2026-03-02T09:00:00Z", "2026-03-02T11:00:00Z"),
        ("2026-03-02T16:00:00Z", "2026-03-02T16:30:00Z")]
    # Clipped to the range.
    busy = api.get("/freebusy", start="2026-03-02T09:45:00+01:00",
                   end="2026-03-02T10:15:00Z").json()["busy"]
    assert busy == [{"start": "2026-03-02T09:00:00Z", "end": "2026-03-02T10:15:00Z"}]
    busy = api.get("/freebusy", start="2026-03-02T10:45:00+01:00",
                   end="2026-03-02T10:15:00Z").json()["busy"]
    assert busy == [{"start": "2026-03-02T09:45:00Z", "end": "2026-03-02T10:15:00Z"}]


def test_availability_check_lists_conflicting_instances(api: Api, busy_week) -> None:
    r = api.post("/availability/check", {"start": "2026-03-02T09:45:00Z",
                                         "end": "2026-03-02T10:15:00Z"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["available"] is False and doc["conflict_count"] == 2
    assert [c["event_id"] for c in doc["conflicts"]] == [busy_week["a"], busy_week["b"]]
    assert doc["conflicts"][0] == {
        "event_id": busy_week["a"], "calendar_id": api.calendar_id, "title": "A",
        "start": "2026-03-02T09:00:00Z", "end": "2026-03-02T10:00:00Z", "all_day": False,
        "recurrence_id": None}

    free = {"start": "2026-03-03T16:00:00Z", "end": "2026-03-03T16:30:00Z"}  # cancelled one
    assert api.post("/availability/check", free).json() == {
        "available": True, "conflict_count": 0, "conflicts": []}
    doc = api.post("/availability/check", {"start": "2026-03-06T16:10:00Z",
                                           "end": "2026-03-06T17:00:00Z"}).json()
    assert [(c["event_id"], c["recurrence_id"]) for c in doc["conflicts"]] == [
        (busy_week["daily"], "2026-03-06T16:00:00Z")]
    doc = api.post("/availability/check", {"start": "2026-03-04T16:00:00Z",
                                           "end": "2026-03-04T16:30:00Z"}).json()
    assert sorted(c["title"] for c in doc["conflicts"]) == ["Berlin day", "Daily"]
    assert {c["all_day"] for c in doc["conflicts"]} == {True, False}
    declined = {"start": "2026-03-02T17:00:00Z", "end": "2026-03-02T18:00:00Z"}
    assert api.post("/availability/check", declined).json()["available"] is False
    assert api.post("/availability/check",
                    {**declined, "attendee_email": "me@example.com"}).json()["available"]
    assert api.post("/availability/check",
                    {**declined, "calendar_ids": [api.calendar_id]}).json()["available"] is False
    problem(api.post("/availability/check", {**declined, "calendar_ids": []}), 400,
            "at least one")
    problem(api.post("/availability/check", {**declined, "calendar_ids": ["x"]}), 400, "UUID")
    problem(api.post("/availability/check", {"start": 1, "end": 2}), 400, "RFC 3339")
    problem(api.post("/availability/check", {"start": "2026-03-02T17:00:00Z"}), 400,
            "required")
    problem(api.post("/availability/check", {"start": "2026-01-01T00:00:00Z",
                                             "end": "2027-06-01T00:00:00Z"}), 400, "366")


# --- links ---------------------------------------------------------------------------

def test_links_add_list_reverse_delete(api: Api, sql) -> None:
    event = add_event(sql, api, "Deal call")
    r = api.post(f"/events/{event}/links", {"entity_type": "deal", "entity_id": "D-42"})
    assert r.status_code == 201, r.text
    link = r.json()
    assert link["event_id"] == event and link["entity_type"] == "deal"
    assert r.headers["Location"].endswith(f"/links/{link['id']}")
    again = api.post(f"/events/{event}/links", {"entity_type": "deal", "entity_id": "D-42"})
    assert again.status_code == 200 and again.json()["id"] == link["id"]
    assert api.get(f"/events/{event}/links").json() == {"links": [link]}

    events = api.get("/links", entity_type="deal", entity_id="D-42").json()["events"]
    assert [(e["id"], e["link_ids"], e["attendee"]) for e in events] == [
        (event, [link["id"]], None)]
    assert api.get("/links", entity_type="task", entity_id="D-42").json()["events"] == []

    assert api.delete(f"/events/{event}/links/{link['id']}").status_code == 204
    problem(api.delete(f"/events/{event}/links/{link['id']}"), 404, "no link")
    assert api.get(f"/events/{event}/links").json() == {"links": []}

    problem(api.post(f"/events/{event}/links", {"entity_type": "person", "entity_id": "1"}),
            400, "contact, task, note, deal")
    problem(api.post(f"/events/{event}/links", {"entity_type": "task", "entity_id": ""}),
            400, "empty")
    problem(api.post(f"/events/{event}/links", {"entity_type": "task", "entity_id": "x" * 201}),
            400, "at most 200")
    problem(api.post(f"/events/{event}/links", {"entity_type": "task", "entity_id": 7}),
            400, "string")
    problem(api.post(f"/events/{event}/links", {"entity_type": "task"}), 400, "required")
    problem(api.post(f"/events/{uuid.uuid4()}/links", {"entity_type": "task",
                                                       "entity_id": "1"}), 404, "no event")
    trashed = add_event(sql, api, "Old", deleted_at="2026-01-01T00:00:00Z")
    problem(api.get(f"/events/{trashed}/links"), 404, "trash")


def test_contact_reverse_lookup_includes_attendance(api: Api, sql) -> None:
    contact = str(uuid.uuid4())
    linked = add_event(sql, api, "Linked", "2026-03-02T09:00:00Z", None)
    by_contact = add_event(sql, api, "Attended by id", "2026-03-03T09:00:00Z", None)
    by_email = add_event(sql, api, "Attended by mail", "2026-03-04T09:00:00Z", None)
    series = add_event(sql, api, "Series", "2026-03-01T09:00:00Z", None, rrule="FREQ=DAILY")
    override = add_event(sql, api, "Series", "2026-03-05T10:00:00Z", "2026-03-05T11:00:00Z",
                         series_id=series, recurrence_id="2026-03-05T09:00:00Z", uid="s")
    api.post(f"/events/{linked}/links", {"entity_type": "contact", "entity_id": contact})
    add_attendee(sql, api, by_contact, contact_id=contact, rsvp="accepted")
    add_attendee(sql, api, by_email, "ann@example.com")
    add_attendee(sql, api, override, "Ann@Example.com", "tentative")

    events = api.get("/links", entity_type="contact", entity_id=contact).json()["events"]
    assert [e["id"] for e in events] == [linked, by_contact]
    assert events[1]["attendee"]["rsvp_status"] == "accepted" and events[1]["link_ids"] == []
    events = api.get("/links", entity_type="contact", entity_id="ann@example.com").json()
    assert [e["id"] for e in events["events"]] == [series, by_email]
    assert events["events"][0]["attendee"]["rsvp_status"] == "tentative"
    page = api.get("/links", entity_type="contact", entity_id="ann@example.com", limit="1").json()
    assert [e["id"] for e in page["events"]] == [series] and page["next_cursor"]
    rest = api.get("/links", entity_type="contact", entity_id="ann@example.com", limit="1",
                   cursor=page["next_cursor"]).json()
    assert [e["id"] for e in rest["events"]] == [by_email] and rest["next_cursor"] is None


# --- RSVP ----------------------------------------------------------------------------

def test_rsvp_changes_what_caldav_serves(api: Api, server, sql) -> None:
    acct = api.account
    uid = "rsvp-" + uuid.uuid4().hex[:8]
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T090000Z\r\n"
            "DTEND:20260105T100000Z\r\nSUMMARY:Review\r\n"
            "ORGANIZER:mailto:boss@example.com\r\n"
            "ATTENDEE;CN=Ann;PARTSTAT=NEEDS-ACTION:mailto:ann@example.com\r\n"
            "ATTENDEE;PARTSTAT=ACCEPTED:mailto:boss@example.com\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")
    dav = requests.Session()
    dav.auth = (acct.username, acct.password)
    url = f"{server.url}{acct.username}/calendar/{uid}.ics"
    assert dav.put(url, data=text.encode(), headers={"Content-Type": "text/calendar"},
                   timeout=30).status_code == 201
    etag = dav.get(url, timeout=30).headers["ETag"]
    event_id = sql.execute("SELECT id::text FROM events WHERE tenant_id = %s AND uid = %s",
                           (acct.tenant_id, uid)).fetchone()[0]

    r = api.post(f"/events/{event_id}/respond", {"email": "ANN@example.com",
                                                 "status": "accepted"})
    assert r.status_code == 200, r.text
    assert r.json() == {"event_id": event_id, "status": "accepted", "changed": 1, "attendee": {
        "email": "ann@example.com", "contact_id": None, "name": "Ann", "rsvp_status": "accepted"}}
    got = dav.get(url, timeout=30)
    assert got.headers["ETag"] != etag
    unfolded = got.text.replace("\r\n ", "")
    ann = next(line for line in unfolded.splitlines() if "ann@example.com" in line)
    assert "PARTSTAT=ACCEPTED" in ann and "CN=Ann" in ann
    # The same answer again changes nothing, not even the ETag.
    assert api.post(f"/events/{event_id}/respond", {"email": "ann@example.com",
                                                    "status": "accepted"}).json()["changed"] == 0
    assert dav.get(url, timeout=30).headers["ETag"] == got.headers["ETag"]

    problem(api.post(f"/events/{event_id}/respond", {"email": "zed@example.com",
                                                     "status": "declined"}), 404, "no attendee")
    problem(api.post(f"/events/{event_id}/respond", {"email": "ann@example.com",
                                                     "status": "maybe"}), 400, "pending")
    problem(api.post(f"/events/{event_id}/respond", {"status": "declined"}), 400, "exactly one")
    problem(api.post(f"/events/{event_id}/respond", {"contact_id": "x", "status": "declined"}),
            400, "UUID")
    problem(api.post(f"/events/{uuid.uuid4()}/respond", {"email": "ann@example.com",
                                                         "status": "declined"}), 404, "no event")


def test_rsvp_by_contact_id_covers_overrides(api: Api, sql) -> None:
    contact = str(uuid.uuid4())
    series = add_event(sql, api, "Series", "2026-03-01T09:00:00Z", None,
                       rrule="FREQ=DAILY;COUNT=5")
    override = add_event(sql, api, "Series", "2026-03-02T10:00:00Z", "2026-03-02T11:00:00Z",
                         series_id=series, recurrence_id="2026-03-02T09:00:00Z", uid="s")
    add_attendee(sql, api, series, contact_id=contact)
    add_attendee(sql, api, override, contact_id=contact)
    r = api.post(f"/events/{series}/respond", {"contact_id": contact, "status": "tentative"})
    assert r.json()["changed"] == 2
    assert sql.execute("SELECT array_agg(DISTINCT rsvp_status) FROM event_attendees "
                       "WHERE tenant_id = %s AND contact_id = %s",
                       (api.account.tenant_id, contact)).fetchone()[0] == ["tentative"]


# --- tenants and key kinds ---------------------------------------------------------------

def test_tenant_isolation(server, database_url, sql, api: Api) -> None:
    other = new_api(server, database_url, sql)
    secret = add_event(sql, api, "Secret merger talk", "2026-03-02T09:00:00Z")
    add_attendee(sql, api, secret, "ann@example.com")
    link = api.post(f"/events/{secret}/links", {"entity_type": "deal", "entity_id": "M-1"}).json()

    assert api.get("/events/search", q="merger").json()["hits"]
    assert other.get("/events/search", q="merger").json()["hits"] == []
    problem(other.get("/events/search", q="merger", calendar_id=api.calendar_id), 400,
            "no calendar")
    week = {"start": "2026-03-02T00:00:00Z", "end": "2026-03-03T00:00:00Z"}
    assert api.get("/freebusy", **week).json()["busy"]
    assert other.get("/freebusy", **week).json()["busy"] == []
    problem(other.get("/freebusy", **week, calendar_id=api.calendar_id), 400, "no calendar")
    assert other.post("/availability/check", week).json()["available"] is True
    problem(other.get(f"/events/{secret}/links"), 404)
    problem(other.post(f"/events/{secret}/links", {"entity_type": "deal", "entity_id": "M-2"}),
            404)
    problem(other.delete(f"/events/{secret}/links/{link['id']}"), 404)
    problem(other.post(f"/events/{secret}/respond", {"email": "ann@example.com",
                                                     "status": "declined"}), 404)
    assert other.get("/links", entity_type="deal", entity_id="M-1").json()["events"] == []
    assert other.get("/links", entity_type="contact",
                     entity_id="ann@example.com").json()["events"] == []
    assert [c["id"] for c in other.get("/calendars").json()["calendars"]] == [other.calendar_id]
    # Nothing of A's changed.
    assert api.get(f"/events/{secret}/links").json()["links"] == [link]
    assert sql.execute("SELECT rsvp_status FROM event_attendees WHERE tenant_id = %s AND "
                       "event_id = %s", (api.account.tenant_id, secret)).fetchone()[0] == "pending"


def test_read_only_key_cannot_write(server, database_url, sql, api: Api) -> None:
    reader = new_api(server, database_url, sql, read_only=True, account=api.account)
    event = add_event(sql, api, "Read me")
    add_attendee(sql, api, event, "ann@example.com")
    link = api.post(f"/events/{event}/links", {"entity_type": "note", "entity_id": "n1"}).json()
    writes = [
        lambda: reader.post(f"/events/{event}/links", {"entity_type": "note", "entity_id": "n2"}),
        lambda: reader.post(f"/events/{event}/links", None),  # even without a body
        lambda: reader.delete(f"/events/{event}/links/{link['id']}"),
        lambda: reader.post(f"/events/{event}/respond", {"email": "ann@example.com",
                                                         "status": "declined"}),
        lambda: reader.post(f"/events/{uuid.uuid4()}/respond", {}),
    ]
    for write in writes:
        problem(write(), 403, "read-only")
    assert reader.get(f"/events/{event}/links").json()["links"] == [link]
    assert reader.get("/events/search", q="read").json()["hits"]
    assert reader.post("/availability/check", {"start": "2026-03-02T09:00:00Z",
                                               "end": "2026-03-02T10:00:00Z"}).status_code == 200
    assert sql.execute("SELECT count(*) FROM event_links WHERE tenant_id = %s AND event_id = %s",
                       (api.account.tenant_id, event)).fetchone()[0] == 1


def test_apikey_cli_prints_the_key_once_and_stores_its_hash(server, database_url, sql,
                                                            account: Account) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "backside_caldav", *args], cwd=ROOT,
                              env={**os.environ,
                                   "BACKSIDE_DATABASE_URL": database_url},
                              capture_output=True, text=True, timeout=60)

    result = cli("apikey", "add", "--tenant", account.tenant, "--read-only")
    assert result.returncode == 0, result.stderr
    secret = result.stdout.split()[-1]
    assert secret.startswith("bsk_") and "read-only" in result.stdout
    rows = sql.execute("SELECT id::text, key_hash, read_only FROM api_keys WHERE tenant_id = %s",
                       (account.tenant_id,)).fetchall()
    assert len(rows) == 1
    key_id, key_hash, read_only = rows[0]
    assert key_hash == hashlib.sha256(secret.encode()).hexdigest() and read_only
    dump = sql.execute("SELECT api_keys::text FROM api_keys WHERE tenant_id = %s",
                       (account.tenant_id,)).fetchone()[0]
    assert secret not in dump

    base = server.url + "api/v1"
    auth = {"Authorization": f"Bearer {secret}"}
    assert requests.get(base + "/calendars", headers=auth, timeout=10).status_code == 200
    assert sql.execute("SELECT last_used_at IS NOT NULL FROM api_keys WHERE id = %s",
                       (key_id,)).fetchone()[0]
    listed = cli("apikey", "list", "--tenant", account.tenant)
    assert key_id in listed.stdout and secret not in listed.stdout
    assert cli("apikey", "revoke", key_id, "--tenant", account.tenant).returncode == 0
    assert requests.get(base + "/calendars", headers=auth, timeout=10).status_code == 401

    missing = cli("apikey", "add", "--tenant", "no-such-tenant-" + uuid.uuid4().hex)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().startswith("backside-caldav: error: no tenant named")


# --- indexes -----------------------------------------------------------------------

def test_search_uses_its_indexes(api: Api, sql, database_url: str) -> None:
    """The query repeats the indexed expression exactly, so PostgreSQL uses the index."""
    sql.execute("INSERT INTO events (tenant_id, calendar_id, title, description, start_time) "
                "SELECT %s, %s, 'Event ' || n || ' ' || md5(n::text), 'about ' || md5(n::text), "
                "'2026-01-01'::timestamptz + n * interval '1 hour' "
                "FROM generate_series(1, 3000) n", (api.account.tenant_id, api.calendar_id))
    sql.execute("VACUUM ANALYZE events")  # as autovacuum would: flush the GIN pending lists
    words = search_queries.SearchQuery(
        tenant=api.account.tenant_id, text="zebra", tsquery="zebra:*", pattern=None,
        prefix="zebra%", calendar_id=None, window=None, after=None, limit=10)
    both = replace(words, pattern="%zebra%")
    with tenancy.transaction(db.get_engine(database_url), api.account.tenant_id) as conn:
        plans = ["\n".join(r[0] for r in conn.execute(sa.text("EXPLAIN " + statement), params))
                 for statement, params in (search_queries.search_sql(words), search_queries.search_sql(both))]
        trgm = conn.execute(sa.text(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')")).scalar()
    assert "events_search_fts" in plans[0], plans[0]
    if trgm:  # without pg_trgm (the embedded PostgreSQL) substrings are found by a scan
        assert "events_search_fts" in plans[1] and "events_search_title_trgm" in plans[1], \
            plans[1]


def test_no_server_error_on_odd_inputs(api: Api) -> None:
    problem(api.session.get(api.base + "/events/search?q=%ed%a0%80", timeout=10), 400)
    odd = ["\u0000", "'; DROP TABLE events; --", "a:* & !b", "(((", "\\", "％",
           "e\u0301", "x" * 200, "½ ² ⅓", "_", "--", "a|b", "'", '"']
    for q in odd:
        r = api.session.get(api.base + "/events/search", params={"q": q}, timeout=10)
        assert r.status_code in (200, 400), (q, r.status_code, r.text)
    for body in [{"start": "2026-03-02T09:00:00Z", "end": "2026-03-02T10:00:00Z",
                  "attendee_email": "a\ud800@b.c"},
                 {"start": "2026-03-02T09:00:00Z", "end": "2026-03-02T10:00:00Z",
                  "calendar_ids": [{"x": 1}]},
                 {"start": "0001-01-01T00:00:00+01:00", "end": "2026-03-02T10:00:00Z"},
                 {"start": "2026-03-02T09:00:00.123456789Z", "end": "2026-03-02T10:00:00-00:00"}]:
        r = api.session.post(api.base + "/availability/check", timeout=10,
                             data=json.dumps(body),
                             headers={"Content-Type": "application/json"})
        assert r.status_code in (200, 400), (body, r.status_code, r.text)


def test_sidecar_command_serves_the_api_alone(api: Api, database_url: str, tmp_path) -> None:
    port = free_port()
    log = tmp_path / "sidecar.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "backside_caldav", "sidecar", "--port", str(port)], cwd=ROOT,
        env={**os.environ, "BACKSIDE_DATABASE_URL": database_url},
        stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if requests.get(base + "/api/v1/openapi.json", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        r = requests.get(base + "/api/v1/calendars", timeout=10,
                         headers={"Authorization": f"Bearer {api.key}"})
        assert r.status_code == 200 and r.json()["calendars"][0]["id"] == api.calendar_id
        problem(requests.get(base + "/", timeout=10), 404, "/api/v1/")
    finally:
        process.terminate()
        process.wait(timeout=10)
