"""The MCP contract as a snapshot: tools/list for a key that may write (names,
input and output schemas, annotations). A change to any tool shows up here as a
diff to review; accept it with UPDATE_SNAPSHOTS=1 ./run.sh test tests/test_mcp_snapshot.py."""

from __future__ import annotations

import asyncio
import difflib
import json
import os
from pathlib import Path

from mcp import Client

from backside_caldav.db import engines as db
from backside_caldav.mcp.calls import Keyring
from backside_caldav.mcp.server import build

SNAPSHOT = Path(__file__).parent / "snapshots" / "mcp_tools.json"


def contract(database_url: str) -> str:
    server = build(Keyring(db.get_app_engine(database_url), "unused"), writable=True)

    async def go() -> list:
        async with Client(server) as client:
            return (await client.list_tools()).tools

    tools = sorted(asyncio.run(go()), key=lambda t: t.name)
    doc = [{"name": t.name, "description": t.description, "input_schema": t.input_schema,
            "output_schema": t.output_schema,
            "annotations": t.annotations.model_dump(by_alias=True, exclude_none=True)}
           for t in tools]
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def test_tools_list_matches_the_snapshot(database_url: str) -> None:
    now = contract(database_url)
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(now)
    before = SNAPSHOT.read_text()
    diff = "".join(difflib.unified_diff(before.splitlines(True), now.splitlines(True),
                                        "snapshot", "server"))
    assert now == before, ("tools/list changed; review the diff and accept it with "
                           "UPDATE_SNAPSHOTS=1:\n" + diff)
