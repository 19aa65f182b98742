"""The MCP tools in process, with the SDK's own client (mcp.Client on the
MCPServer object) against a real PostgreSQL: schemas, annotations, results,
and every error path as a tool error with a sentence."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import make_account
from mcp import Client

from backside_caldav.db import engines as db
from backside_caldav.db import keys as apikeys
from backside_caldav.mcp.calls import Keyring
from backside_caldav.mcp.server import build

READ_TOOLS = {"calendars_list", "now", "events_list", "events_get",
              "events_check_availability", "events_search", "prepare_for_meeting"}
WRITE_TOOLS = {"events_create", "events_update", "events_delete", "events_restore",
               "events_respond"}


class Agent:
    """One key's MCP server in process, and a way to call its tools."""

    def __init__(self, database_url: str, secret: str, writable: bool) -> None:
        self.server = build(Keyring(db.get_app_engine(database_url), secret), writable)

    def run(self, fn: Any) -> Any:
        async def go() -> Any:
            async with Client(self.server) as client:
                return await fn(client)
        return asyncio.run(go())

    def call(self, name: str, **args: Any) -> Any:
        return self.run(lambda c: c.call_tool(name, args))

    def ok(self, name: str, **args: Any) -> dict:
        result = self.call(name, **args)
        assert not result.is_error, result.content
        return result.structured_content

    def error(self, name: str, *words: str, **args: Any) -> str:
        result = self.call(name, **args)
        assert result.is_error, result.structured_content
        text = result.content[0].text
        for word in words:
            assert word.lower() in text.lower(), text
        assert "Traceback" not in text
        return text


@pytest.fixture
def agent(database_url: str) -> Iterator[Agent]:
    account = make_account(database_url)
    key = apikeys.create_key(db.get_engine(database_url), account.tenant)
    yield Agent(database_url, key.secret, writable=True)


def test_tools_have_schemas_and_truthful_annotations(agent: Agent) -> None:
    tools = {t.name: t for t in agent.run(lambda c: c.list_tools()).tools}
    assert READ_TOOLS | WRITE_TOOLS <= set(tools)
    for name in READ_TOOLS:
        assert tools[name].annotations.read_only_hint is True, name
    for name in WRITE_TOOLS:
        assert tools[name].annotations.read_only_hint is False, name
    assert tools["events_delete"].annotations.destructive_hint is True
    assert tools["events_create"].annotations.idempotent_hint is False
    for tool in tools.values():
        assert tool.input_schema["type"] == "object" and tool.output_schema, tool.name
    assert "ctx" not in tools["events_list"].input_schema["properties"]
    assert set(tools["events_update"].input_schema["properties"]["scope"]["enum"]) == {
        "all", "this", "this_and_following"}


def test_an_agent_books_moves_and_deletes(agent: Agent) -> None:
    now = agent.ok("now", time_zone="Europe/Berlin")
    assert now["time_zone"] == "Europe/Berlin" and now["local_time"].endswith(("+01:00",
                                                                               "+02:00"))
    made = agent.ok("events_create", title="Weekly sync", start="2026-03-02T09:00:00",
                    end="2026-03-02T09:30:00", time_zone="Europe/Berlin",
                    rrule="FREQ=WEEKLY;COUNT=4",
                    attendees=[{"email": "ann@example.com", "name": "Ann"}],
                    reminders=[{"minutes_before": 10}], client_request_id="plan-1")
    again = agent.ok("events_create", title="Weekly sync", start="2026-03-02T09:00:00",
                     time_zone="Europe/Berlin", client_request_id="plan-1")
    assert again["id"] == made["id"]
    page = agent.ok("events_list", start="2026-03-01T00:00:00Z", end="2026-04-01T00:00:00Z")
    assert [o["occurrence_start"] for o in page["data"]] == [
        "2026-03-02T08:00:00Z", "2026-03-09T08:00:00Z", "2026-03-16T08:00:00Z",
        "2026-03-23T08:00:00Z"]
    moved = agent.ok("events_update", event_id=made["id"], scope="this",
                     occurrence_start="2026-03-09T08:00:00Z", start="2026-03-09T11:00:00",
                     expected_etag=made["etag"])
    assert [o["recurrence_id"] for o in moved["overrides"]] == ["2026-03-09T08:00:00Z"]
    agent.error("events_update", "changed", event_id=made["id"], title="x",
                expected_etag=made["etag"])
    later = agent.ok("events_update", event_id=made["id"], scope="this_and_following",
                     occurrence_start="2026-03-16T08:00:00Z", title="New sync")
    assert later["id"] != made["id"] and later["title"] == "New sync"
    titles = [(o["title"], o["occurrence_start"]) for o in agent.ok(
        "events_list", start="2026-03-01T00:00:00Z", end="2026-04-01T00:00:00Z")["data"]]
    assert titles == [("Weekly sync", "2026-03-02T08:00:00Z"),
                      ("Weekly sync", "2026-03-09T10:00:00Z"),
                      ("New sync", "2026-03-16T08:00:00Z"), ("New sync", "2026-03-23T08:00:00Z")]
    got = agent.ok("events_get", event_id=made["id"])
    assert got["reminders"] == [{"type": "display", "minutes_before": 10}]
    assert agent.ok("events_delete", event_id=made["id"])["deleted"] is True
    agent.error("events_get", "no event", event_id=made["id"])
    assert agent.ok("events_restore", event_id=made["id"])["id"] == made["id"]


@pytest.mark.parametrize(("args", "words"), [
    ({"title": "x", "start": "2026-03-02T09:00:00", "time_zone": "Mars/Base"}, "time zone"),
    ({"title": "x", "start": "2026-03-02T09:00:00Z", "end": "2026-03-02T08:00:00Z"},
     "after start"),
    ({"title": "x", "start": "2026-03-02T09:00:00Z", "rrule": "FREQ=OFTEN"}, "recurrence rule"),
    ({"title": "", "start": "2026-03-02T09:00:00Z"}, "empty"),
])
def test_bad_arguments_are_tool_errors_with_a_sentence(agent: Agent, args: dict,
                                                       words: str) -> None:
    agent.error("events_create", words, **args)


def test_unknown_event_and_bad_scope(agent: Agent) -> None:
    agent.error("events_get", "no event", event_id="00000000-0000-0000-0000-000000000000")
    agent.error("events_get", "UUID", event_id="nope")
    agent.error("events_update", "occurrence_start", event_id="00000000-0000-0000-0000-"
                "000000000000", scope="this", title="x")
    agent.error("events_update", "at least one field",
                event_id="00000000-0000-0000-0000-000000000000")


def test_a_read_only_key_is_offered_only_the_read_tools(database_url: str) -> None:
    account = make_account(database_url)
    key = apikeys.create_key(db.get_engine(database_url), account.tenant, scope="read")
    reader = Agent(database_url, key.secret, writable=False)
    names = {t.name for t in reader.run(lambda c: c.list_tools()).tools}
    assert names == READ_TOOLS
    body = reader.ok("calendars_list")
    assert body["accessInfo"] == "Read-only access, cannot create or modify events."
    # A server built with every tool still refuses the key's writes.
    sneaky = Agent(database_url, key.secret, writable=True)
    sneaky.error("events_create", "read-only", title="x", start="2026-03-02T09:00:00Z")


def test_tenants_never_meet_over_mcp(agent: Agent, database_url: str) -> None:
    made = agent.ok("events_create", title="Mine", start="2026-03-02T09:00:00Z")
    other_account = make_account(database_url)
    other = Agent(database_url, apikeys.create_key(db.get_engine(database_url),
                                                   other_account.tenant).secret, True)
    other.error("events_get", "no event", event_id=made["id"])
    other.error("events_delete", "no event", event_id=made["id"])
    assert other.ok("events_list", start="2026-03-01T00:00:00Z",
                    end="2026-04-01T00:00:00Z")["data"] == []


def test_availability_search_respond_and_the_meeting_brief(agent: Agent) -> None:
    made = agent.ok("events_create", title="Budget review", start="2026-03-02T09:00:00Z",
                    end="2026-03-02T10:00:00Z", attendees=[{"email": "ann@example.com"}])
    busy = agent.ok("events_check_availability", start="2026-03-02T09:30:00Z",
                    end="2026-03-02T10:30:00Z")
    assert busy["available"] is False and busy["conflicts"][0]["event_id"] == made["id"]
    assert agent.ok("events_check_availability", start="2026-03-02T10:00:00Z",
                    end="2026-03-02T11:00:00Z")["available"] is True
    agent.error("events_check_availability", "after start", start="2026-03-02T10:00:00Z",
                end="2026-03-02T09:00:00Z")
    hits = agent.ok("events_search", q="budg")["hits"]
    assert [h["id"] for h in hits] == [made["id"]]
    answer = agent.ok("events_respond", event_id=made["id"], email="ann@example.com",
                      status="declined")
    assert answer["status"] == "declined"
    agent.error("events_respond", "no attendee", event_id=made["id"],
                email="bob@example.com", status="accepted")
    brief = agent.ok("prepare_for_meeting", event_id=made["id"])
    assert brief["event"]["id"] == made["id"]
    assert [(a["email"], a["rsvp_status"]) for a in brief["attendees"]] == [
        ("ann@example.com", "declined")]


def test_a_window_limited_key_sees_and_writes_only_inside(database_url: str) -> None:
    from datetime import datetime, timedelta, timezone
    account = make_account(database_url)
    key = apikeys.create_key(db.get_engine(database_url), account.tenant, window_days=(30, 30))
    limited = Agent(database_url, key.secret, writable=True)
    soon = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=2)
    made = limited.ok("events_create", title="Soon", start=soon.isoformat())
    limited.error("events_create", "time window", title="Far",
                  start=(soon + timedelta(days=100)).isoformat())
    page = limited.ok("events_list", start=(soon - timedelta(days=200)).isoformat(),
                      end=(soon + timedelta(days=150)).isoformat())
    assert [d["event_id"] for d in page["data"]] == [made["id"]]
    assert page["accessInfo"] == ("Results limited to time window: last 30 days to next "
                                  "30 days.")
    assert limited.ok("events_get", event_id=made["id"])["accessInfo"]


def test_a_calendar_limited_key_sees_and_writes_only_its_calendars(database_url: str,
                                                                   sql) -> None:
    account = make_account(database_url)
    engine = db.get_engine(database_url)
    full = Agent(database_url, apikeys.create_key(engine, account.tenant).secret, True)
    private = sql.execute("INSERT INTO calendars (tenant_id, name, href) VALUES "
                          "(%s, 'Private', 'private') RETURNING id::text",
                          (account.tenant_id,)).fetchone()[0]
    hidden = full.ok("events_create", title="Hidden", start="2026-03-02T09:00:00Z",
                     calendar_id=private)
    work = next(c["id"] for c in full.ok("calendars_list")["calendars"] if c["id"] != private)
    limited = Agent(database_url, apikeys.create_key(engine, account.tenant,
                                                     calendars=[work]).secret, True)
    listed = limited.ok("calendars_list")
    assert [c["id"] for c in listed["calendars"]] == [work]
    assert listed["accessInfo"].startswith("Results limited to calendars:")
    assert limited.ok("events_list", start="2026-03-01T00:00:00Z",
                      end="2026-03-08T00:00:00Z")["data"] == []
    limited.error("events_get", "no event", event_id=hidden["id"])
    limited.error("events_update", "may not use", event_id=hidden["id"], title="x")
    limited.error("events_create", "no calendar", title="x", start="2026-03-02T09:00:00Z",
                  calendar_id=private)
    assert limited.ok("events_create", title="Mine", start="2026-03-02T09:00:00Z")[
        "calendar_id"] == work
