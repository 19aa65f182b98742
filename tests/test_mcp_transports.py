"""The MCP tools over their real transports with the SDK's own client: stdio
(`backside-caldav mcp` as a subprocess) and streamable HTTP (the real server
on a free port, under /mcp), plus the refusals of each."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest
import requests
from conftest import make_account
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from backside_caldav.db import engines as db
from backside_caldav.db import keys as apikeys

ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).parent / "backside-caldav")


def _key(database_url: str, **options: Any) -> str:
    account = make_account(database_url)
    return apikeys.create_key(db.get_engine(database_url), account.tenant, **options).secret


def _env(database_url: str, key: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "BACKSIDE_API_KEY"}
    env["BACKSIDE_DATABASE_URL"] = database_url
    if key is not None:
        env["BACKSIDE_API_KEY"] = key
    return env


def test_stdio_serves_the_key_tools(database_url: str) -> None:
    key = _key(database_url)
    params = StdioServerParameters(command=CLI, args=["mcp"], env=_env(database_url, key))

    async def go() -> tuple[set[str], dict, dict]:
        async with Client(params) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            made = await client.call_tool("events_create", {
                "title": "Over stdio", "start": "2026-03-02T09:00:00Z"})
            listed = await client.call_tool("events_list", {
                "start": "2026-03-01T00:00:00Z", "end": "2026-03-08T00:00:00Z"})
            return names, made.structured_content, listed.structured_content

    names, made, listed = asyncio.run(go())
    assert {"events_create", "events_list", "now"} <= names
    assert [d["event_id"] for d in listed["data"]] == [made["id"]]


@pytest.mark.parametrize(("key", "words"), [
    (None, "BACKSIDE_API_KEY"),
    ("bsk_" + "A" * 43, "unknown or was revoked"),
    ("nonsense", "malformed"),
])
def test_stdio_refuses_a_missing_or_unknown_key(database_url: str, key: str | None,
                                                words: str) -> None:
    done = subprocess.run([CLI, "mcp"], env=_env(database_url, key), input="",
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.startswith("backside-caldav")]
    assert len(lines) == 1 and words in lines[0], done.stderr
    assert done.stdout == ""


def _http(server: Any, key: str) -> Any:
    client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
    return streamable_http_client(server.url + "mcp", http_client=client)


def test_http_serves_tools_by_key(server: Any, database_url: str) -> None:
    writer, reader = _key(database_url), _key(database_url, scope="read")

    async def tools(key: str) -> tuple[set[str], Any]:
        async with Client(_http(server, key)) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            now = await client.call_tool("now", {"time_zone": "Asia/Tokyo"})
            return names, now

    names, now = asyncio.run(tools(writer))
    assert {"events_create", "events_delete"} <= names
    assert now.structured_content["time_zone"] == "Asia/Tokyo"
    read_names, _ = asyncio.run(tools(reader))
    assert "events_create" not in read_names and "events_list" in read_names


def test_http_refuses_without_a_key_and_from_a_foreign_host(server: Any,
                                                           database_url: str) -> None:
    url = server.url + "mcp"
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    r = requests.post(url, json=body, timeout=30)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert r.headers["Content-Type"] == "application/problem+json"
    r = requests.post(url, json=body, timeout=30,
                      headers={"Authorization": "Bearer bsk_" + "B" * 43})
    assert r.status_code == 401
    key = _key(database_url)
    r = requests.post(url, json=body, timeout=30, headers={
        "Authorization": f"Bearer {key}", "Host": "evil.example",
        "Accept": "application/json, text/event-stream"})
    assert r.status_code == 421, r.text
    r = requests.post(url, json=body, timeout=30, headers={
        "Authorization": f"Bearer {key}", "Origin": "http://evil.example",
        "Accept": "application/json, text/event-stream"})
    assert r.status_code == 403, r.text
