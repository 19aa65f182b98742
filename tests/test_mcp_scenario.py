"""An agent's session over MCP (the SDK's client, streamable HTTP on the real
server) while a phone syncs the same calendar over CalDAV (the `caldav`
client, sync-collection): what the agent books, moves, splits, deletes and
restores reaches the phone at its next sync."""

from __future__ import annotations

import asyncio
from typing import Any

import caldav
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from test_api_events_caldav import Phone, dav_calendar
from test_sidecar_api import Api, new_api

from backside_caldav.db import engines as db
from backside_caldav.db import keys as apikeys


@pytest.fixture
def api(server, database_url, sql):
    a = new_api(server, database_url, sql)
    yield a
    a.session.close()


def agent_session(server: Any, key: str, steps: Any) -> Any:
    async def go() -> Any:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60)
        async with Client(streamable_http_client(server.url + "mcp", http_client=http)) as c:
            async def tool(name: str, **args: Any) -> dict:
                result = await c.call_tool(name, args)
                assert not result.is_error, (name, result.content)
                return result.structured_content
            return await steps(tool)
    return asyncio.run(go())


def components(obj: Any) -> list:
    return [c for c in obj.icalendar_instance.subcomponents if c.name == "VEVENT"]


def test_an_agent_plans_books_and_changes_a_series_the_phone_sees(server, api: Api) -> None:
    with caldav.DAVClient(url=server.url, username=api.account.username,
                          password=api.account.password) as dav:
        phone = Phone(dav_calendar(dav, server, api))

        async def plan(tool: Any) -> dict:
            now = await tool("now", time_zone="Europe/Berlin")
            assert now["time_zone"] == "Europe/Berlin"
            week = await tool("events_list", start="2026-03-02T00:00:00+01:00",
                              end="2026-03-09T00:00:00+01:00")
            assert week["data"] == [] and week["next_cursor"] is None
            free = await tool("events_check_availability", start="2026-03-02T09:00:00+01:00",
                              end="2026-03-02T10:00:00+01:00")
            assert free["available"] is True
            return await tool("events_create", title="Planning", start="2026-03-02T09:00:00",
                              end="2026-03-02T10:00:00", time_zone="Europe/Berlin",
                              rrule="FREQ=WEEKLY;COUNT=6",
                              attendees=[{"email": "ann@example.com", "name": "Ann"},
                                         {"email": "bob@example.com"}],
                              reminders=[{"minutes_before": 15}])

        made = agent_session(server, api.key, plan)
        changed, _ = phone.sync()
        (obj,) = changed.values()
        (vevent,) = components(obj)
        assert str(vevent["SUMMARY"]) == "Planning" and "COUNT=6" in vevent["RRULE"].to_ical().decode()
        assert [str(a) for a in vevent["ATTENDEE"]] == ["mailto:ann@example.com",
                                                        "mailto:bob@example.com"]
        (alarm,) = [c for c in vevent.subcomponents if c.name == "VALARM"]
        assert alarm["TRIGGER"].to_ical().decode() == "-PT15M"

        async def move(tool: Any) -> dict:
            return await tool("events_update", event_id=made["id"], scope="this",
                              occurrence_start="2026-03-09T08:00:00Z",
                              start="2026-03-09T13:00:00", expected_etag=made["etag"])

        agent_session(server, api.key, move)
        changed, _ = phone.sync()
        (obj,) = changed.values()
        override = [c for c in components(obj) if c.get("RECURRENCE-ID") is not None]
        assert len(override) == 1 and override[0]["DTSTART"].dt.hour == 13

        async def split(tool: Any) -> dict:
            return await tool("events_update", event_id=made["id"],
                              scope="this_and_following",
                              occurrence_start="2026-03-23T08:00:00Z", title="Planning v2")

        second = agent_session(server, api.key, split)
        changed, _ = phone.sync()
        assert len(changed) == 2
        by_title = {str(components(o)[0]["SUMMARY"]): components(o)[0] for o in changed.values()}
        assert "UNTIL=20260323T075959Z" in by_title["Planning"]["RRULE"].to_ical().decode()
        assert by_title["Planning v2"]["RRULE"].to_ical().decode() == "FREQ=WEEKLY;COUNT=3"

        async def trash_and_back(tool: Any) -> None:
            await tool("events_delete", event_id=second["id"])

        agent_session(server, api.key, trash_and_back)
        changed, deleted = phone.sync()
        assert changed == {} and len(deleted) == 1

        async def restore(tool: Any) -> dict:
            return await tool("events_restore", event_id=second["id"])

        agent_session(server, api.key, restore)
        changed, deleted = phone.sync()
        assert len(changed) == 1 and deleted == set()


def test_a_calendar_limited_key_over_http_reads_and_writes_only_inside(
        server, api: Api, database_url: str, sql) -> None:
    private = sql.execute("INSERT INTO calendars (tenant_id, name, href) VALUES "
                          "(%s, 'Private', 'private') RETURNING id::text",
                          (api.account.tenant_id,)).fetchone()[0]

    async def book(tool: Any) -> dict:
        return await tool("events_create", title="Hidden dentist", calendar_id=private,
                          start="2026-03-02T09:00:00Z", end="2026-03-02T10:00:00Z")

    hidden = agent_session(server, api.key, book)
    limited = apikeys.create_key(db.get_engine(database_url), api.account.tenant,
                                 calendars=[api.calendar_id]).secret

    async def inside(client: Client) -> dict[str, Any]:
        async def ok(name: str, **args: Any) -> dict:
            result = await client.call_tool(name, args)
            assert not result.is_error, (name, result.content)
            return result.structured_content

        async def refused(name: str, words: str, **args: Any) -> str:
            result = await client.call_tool(name, args)
            assert result.is_error, (name, result.structured_content)
            text = result.content[0].text
            assert words in text.lower() and "Traceback" not in text, text
            return text

        mine = await ok("events_create", title="Mine standup",
                        start="2026-03-02T11:00:00Z", end="2026-03-02T11:30:00Z")
        week = {"start": "2026-03-02T00:00:00Z", "end": "2026-03-09T00:00:00Z"}
        reads = {
            "now": await ok("now"),
            "calendars_list": await ok("calendars_list"),
            "events_list": await ok("events_list", **week),
            "events_get": await ok("events_get", event_id=mine["id"]),
            "events_check_availability": await ok(
                "events_check_availability", start="2026-03-02T09:00:00Z",
                end="2026-03-02T10:00:00Z"),
            "events_search": await ok("events_search", q="dentist"),
            "prepare_for_meeting": await ok("prepare_for_meeting", event_id=mine["id"]),
        }
        errors = [await refused("events_get", "no event", event_id=hidden["id"]),
                  await refused("events_update", "may not use", event_id=hidden["id"],
                                title="Moved"),
                  await refused("events_delete", "may not use", event_id=hidden["id"]),
                  await refused("events_create", "no calendar", title="Sneak",
                                calendar_id=private, start="2026-03-03T09:00:00Z")]
        return {"mine": mine, "reads": reads, "errors": errors}

    async def go() -> dict[str, Any]:
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {limited}"}, timeout=60)
        async with Client(streamable_http_client(server.url + "mcp", http_client=http)) as c:
            return await inside(c)

    seen = asyncio.run(go())
    for name, body in seen["reads"].items():
        assert body["accessInfo"].startswith("Results limited to calendars:"), name
    reads = seen["reads"]
    assert seen["mine"]["calendar_id"] == api.calendar_id
    assert [c["id"] for c in reads["calendars_list"]["calendars"]] == [api.calendar_id]
    assert [o["event_id"] for o in reads["events_list"]["data"]] == [seen["mine"]["id"]]
    assert reads["events_check_availability"]["available"] is True
    assert reads["events_search"]["hits"] == []
    assert all(text.endswith(".") for text in seen["errors"]), seen["errors"]
    assert "calendars_list" in seen["errors"][-1] and "/api/v1" not in seen["errors"][-1]
