"""The event API schedules as a CalDAV client does (RFC 6638 3.2): a key's
owner is the writer. Dave (tenant two) answers an invitation from Alice
(tenant one) through the API, Alice's key creates and cancels a meeting, and
an answer recorded for someone outside the tenant sends nothing."""

from __future__ import annotations

import uuid

import psycopg
import requests
from conftest import Server
from scheduling_people import Login, People, attendee_line, invitation

from backside_caldav.db import engines as db
from backside_caldav.db import keys

ICS = {"Content-Type": "text/calendar; charset=utf-8"}




def _api(server: Server, database_url: str, login: Login) -> requests.Session:
    made = keys.create_key(db.get_engine(database_url), login.tenant_id,
                           owner_email=login.email)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {made.secret}"
    return session


def _event_id(sql: psycopg.Connection, tenant: str, uid: str) -> str:
    return sql.execute("SELECT id::text FROM events WHERE tenant_id = %s AND uid = %s "
                       "AND series_id IS NULL AND deleted_at IS NULL", (tenant, uid)).fetchone()[0]


def test_attendee_accepts_over_the_api(server: Server, people: People, database_url: str,
                                       sql: psycopg.Connection) -> None:
    uid = f"meet-{uuid.uuid4()}"
    url = f"{server.url}{people.alice.username}/{people.alice.calendar}/{uid}.ics"
    alice = people.alice.session()
    assert alice.put(url, data=invitation(people, uid).encode(), headers=ICS).status_code == 201
    before = alice.get(url)
    d = people.dave
    api = _api(server, database_url, d)
    copy_id = _event_id(sql, d.tenant_id, uid)
    r = api.post(f"{server.url}api/v1/events/{copy_id}/respond",
                 json={"email": d.email, "status": "accepted"})
    assert r.status_code == 200, r.text
    after = alice.get(url)
    assert "PARTSTAT=ACCEPTED" in attendee_line(after.text, d.address)
    assert after.headers["ETag"] != before.headers["ETag"]
    # Recording an outsider's answer on one's own copy tells the organizer nothing.
    r = api.post(f"{server.url}api/v1/events/{copy_id}/respond",
                 json={"email": people.outsider[7:], "status": "declined"})
    assert r.status_code == 200, r.text
    assert "PARTSTAT=NEEDS-ACTION" in attendee_line(alice.get(url).text, people.outsider)


def test_organizer_key_creates_and_cancels(server: Server, people: People, database_url: str,
                                          sql: psycopg.Connection) -> None:
    api = _api(server, database_url, people.alice)
    r = api.post(f"{server.url}api/v1/events", json={
        "title": "From the API", "start_time": "2027-04-01T09:00:00Z",
        "end_time": "2027-04-01T10:00:00Z",
        "attendees": [{"email": people.dave.email}, {"email": people.outsider[7:]}]})
    assert r.status_code == 201, r.text
    made = r.json()
    d = people.dave
    copy = sql.execute(
        "SELECT e.id FROM events e WHERE e.tenant_id = %s AND e.uid = %s AND e.deleted_at IS NULL",
        (d.tenant_id, made["uid"])).fetchone()
    assert copy is not None, "Dave's calendar has the invitation"
    assert sql.execute("SELECT method FROM itip_queue WHERE uid = %s AND transport = 'mail'",
                       (made["uid"],)).fetchall() == [("REQUEST",)]
    r = api.delete(f"{server.url}api/v1/events/{made['id']}")
    assert r.status_code == 204, r.text
    methods = [m for (m,) in sql.execute(
        "SELECT method FROM schedule_inbox WHERE tenant_id = %s AND uid = %s ORDER BY created_at",
        (d.tenant_id, made["uid"]))]
    assert methods == ["REQUEST", "CANCEL"]


def test_an_agent_answers_through_the_mcp_tools(server: Server, people: People,
                                                database_url: str,
                                                sql: psycopg.Connection) -> None:
    """The MCP SDK's own client calling events_respond for Dave: the same REPLY
    reaches Alice's event in the other tenant (the composition that runs the
    tools, `backside-caldav mcp` or /mcp, delivers after each commit)."""
    from test_mcp_tools import Agent

    from backside_caldav.scheduling import implicit, mail_sender
    implicit.on_commit(mail_sender.after_commit)
    uid = f"meet-{uuid.uuid4()}"
    url = f"{server.url}{people.alice.username}/{people.alice.calendar}/{uid}.ics"
    alice = people.alice.session()
    assert alice.put(url, data=invitation(people, uid).encode(), headers=ICS).status_code == 201
    made = keys.create_key(db.get_engine(database_url), people.dave.tenant_id,
                           owner_email=people.dave.email)
    agent = Agent(database_url, made.secret, writable=True)
    answer = agent.ok("events_respond", event_id=_event_id(sql, people.dave.tenant_id, uid),
                      email=people.dave.email, status="tentative")
    assert answer["status"] == "tentative"
    assert "PARTSTAT=TENTATIVE" in attendee_line(alice.get(url).text, people.dave.address)
