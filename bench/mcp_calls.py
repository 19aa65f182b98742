"""The MCP rows: a tools/call over streamable HTTP (/mcp), as an agent's client
sends it to the stateless server: one JSON-RPC POST with the Bearer key,
answered with JSON. On the event API's calendar (bench/events_api.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .dav import DavError
from .events_api import WEEK, ApiClient
from .measure import Result, Scenario, summarize, timed

HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def tool_call(api: ApiClient, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}}
    answer = json.loads(api.request("POST", "/mcp", json.dumps(body), HEADERS).content)
    result = answer.get("result") or {}
    if "error" in answer or result.get("isError"):
        raise DavError(f"MCP {name} failed: {str(answer)[:300]}")
    return result["structuredContent"]


def steps(scenario: Scenario, api: ApiClient, calendar: Callable[[], str]
          ) -> dict[str, Callable[[], Result | None]]:
    def week() -> Result:
        # The worker imports the SDK on its first /mcp request (about a second): a
        # one-time cost, paid here so that the warm-up rule (a slow first run counts)
        # does not put it in the row; kept as info.
        cold, _ = timed(lambda: tool_call(api, "now", {}))
        args = {**WEEK, "calendar_ids": [calendar()], "limit": 50}
        found: list[dict[str, Any]] = []

        def run() -> float:
            seconds, page = timed(lambda: tool_call(api, "events_list", args))
            found.append(page)
            return seconds

        return summarize(scenario._repeat(run), 1000.0, results=len(found[-1]["data"]),
                         first_mcp_call_ms=round(cold * 1000.0, 1))

    def availability() -> Result:
        args = {**WEEK, "calendar_ids": [calendar()]}
        found: list[dict[str, Any]] = []

        def run() -> float:
            seconds, answer = timed(lambda: tool_call(api, "events_check_availability", args))
            found.append(answer)
            return seconds

        return summarize(scenario._repeat(run), 1000.0,
                         conflicts=found[-1]["conflict_count"])

    return {"mcp_list_week": week, "mcp_availability": availability}
