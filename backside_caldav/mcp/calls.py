"""How a tool call reaches the service: the key, one transaction, errors as sentences.

Each call authenticates its key inside its own transaction, exactly as a
JSON API request does (service/auth.py: unknown or expired keys, the tenant
set for row-level security), applies the key's rate limit, runs one service
function in a worker thread (the service is synchronous; the SDK's event
loop must not wait on the database), and turns a refusal (a Problem) into a
tool error whose sentence says what to change. The key is the Bearer token
of the HTTP request, or the one `backside-caldav mcp` was started with.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from sqlalchemy.engine import Engine

from backside_caldav.db import engines, tenancy
from backside_caldav.service import access, auth
from backside_caldav.service.events import Caller
from backside_caldav.service.problems import Problem

log = logging.getLogger(__name__)
T = TypeVar("T")


class Keyring:
    """Where a call's key comes from: the request's Authorization header (HTTP),
    or a fixed key (stdio)."""

    def __init__(self, engine: Engine, fixed_key: str | None = None) -> None:
        self.engine = engine
        self.fixed_key = fixed_key

    def header(self, ctx: Context | None) -> str | None:
        if self.fixed_key is not None:
            return f"Bearer {self.fixed_key}"
        headers = ctx.headers if ctx is not None else None
        if not headers:
            return None
        return headers.get("authorization") or headers.get("Authorization")


# The service's sentences point JSON API callers at endpoints; an agent has tools.
API_HINTS = {"GET /api/v1/calendars": "the calendars_list tool",
             "POST /api/v1/calendars": "a CalDAV client or POST /api/v1/calendars"}


def _sentence(problem: Problem) -> str:
    text = problem.detail.strip()
    if not text:
        return problem.title
    for endpoint, hint in API_HINTS.items():
        text = text.replace(endpoint, hint)
    if "_" not in text.split(" ", 1)[0]:  # a leading field name keeps its spelling
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


async def call(keyring: Keyring, ctx: Context | None, work: Callable[[Caller], T],
               write: bool = False) -> T:
    """Run `work` with the caller's transaction and key; a Problem becomes a tool error."""

    def run() -> T:
        with tenancy.transaction(keyring.engine) as conn:
            key = auth.authenticate(conn, keyring.header(ctx))
            if write:
                access.require_write(key)
            if key.rate_limits:
                access.rate_limit(keyring.engine, key)
            return work(Caller(conn, key))

    try:
        return await anyio.to_thread.run_sync(run)
    except Problem as problem:
        raise ToolError(_sentence(problem)) from None
    except Exception as exc:
        if engines.is_unavailable(exc):
            raise ToolError("The calendar database cannot be reached right now; try again "
                            "in a few seconds.") from None
        log.exception("MCP tool failed")
        raise ToolError("The server failed to answer this call; the error is in its "
                        "log.") from None


def with_access(key_info: str | None, body: dict[str, Any]) -> dict[str, Any]:
    """A read result carries the key's accessInfo sentence, as the JSON API's GETs do."""
    if key_info:
        body["accessInfo"] = key_info
    return body


def reader(work: Callable[[Caller], dict[str, Any]]) -> Callable[[Caller], dict[str, Any]]:
    """`work`, with accessInfo added to its result."""

    @functools.wraps(work)
    def wrapped(caller: Caller) -> dict[str, Any]:
        return with_access(caller.key.access_info(), work(caller))

    return wrapped
