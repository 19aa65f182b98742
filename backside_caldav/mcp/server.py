"""The MCP server over the tenant's calendar, for stdio and for streamable HTTP.

Two servers are built per process, one with every tool and one with the read
tools only; a call goes to the one its key may use, so `tools/list` depends
on the key. Over HTTP the server is stateless (any worker answers any call)
and answers JSON: no session to keep between requests.
"""

from __future__ import annotations

import os
import sys

from mcp.server.mcpserver import MCPServer
from sqlalchemy.engine import Engine

from backside_caldav import __version__
from backside_caldav.db import tenancy
from backside_caldav.mcp.calls import Keyring
from backside_caldav.mcp.tools import register_read_tools, register_write_tools
from backside_caldav.service import auth
from backside_caldav.service.problems import Problem

INSTRUCTIONS = (
    "Tools over one tenant's calendars (the same rows Apple Calendar, Thunderbird and DAVx5 "
    "sync). Call `now` first to learn the current time and zone. Times are ISO 8601; a time "
    "without an offset is read in time_zone (else the calendar's zone). Lists expand "
    "repeating events into occurrences; pass an occurrence's recurrence_id as "
    "occurrence_start to change or delete just that one. Pass the etag you read as "
    "expected_etag to events_update so a concurrent change is not overwritten.")


def build(keyring: Keyring, writable: bool) -> MCPServer:
    server = MCPServer("backside-caldav", version=__version__, instructions=INSTRUCTIONS,
                       log_level="WARNING")
    register_read_tools(server, keyring)
    if writable:
        register_write_tools(server, keyring)
    return server


def key_can_write(engine: Engine, secret: str | None) -> bool:
    """Whether the key may write (raises the 401 Problem for a missing or unknown key)."""
    with tenancy.transaction(engine) as conn:
        return auth.authenticate(conn, f"Bearer {secret}" if secret else None).can_write


def run_stdio(engine: Engine) -> int:
    """`backside-caldav mcp`: serve one key's tools on stdin/stdout."""
    secret = os.environ.get("BACKSIDE_API_KEY", "").strip()
    if not secret:
        print("backside-caldav mcp: set BACKSIDE_API_KEY to an API key "
              "(`backside-caldav apikey add --tenant NAME`)", file=sys.stderr)
        return 2
    try:
        writable = key_can_write(engine, secret)
    except Problem as problem:
        print(f"backside-caldav mcp: {problem.detail}", file=sys.stderr)
        return 2
    build(Keyring(engine, fixed_key=secret), writable).run("stdio")
    return 0
