"""MCP over streamable HTTP, served by `backside-caldav serve` under /mcp.

The SDK's HTTP transport is an ASGI (Starlette) app; the server is WSGI
(gunicorn). a2wsgi bridges the two on the same address: each worker runs
one event loop in a thread, started on its first MCP request (after the
fork), where the SDK's session managers live. The transport is stateless
and answers JSON, so any worker can answer any call.

In front of the SDK: the Bearer key (401 with WWW-Authenticate otherwise),
and Host/Origin checks against DNS rebinding (the SDK's own), with the
allowed hosts and origins configurable for a server behind a proxy:
BACKSIDE_MCP_ALLOWED_HOSTS and BACKSIDE_MCP_ALLOWED_ORIGINS (comma lists;
"name:*" allows any port).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from a2wsgi import ASGIMiddleware
from mcp.server.transport_security import TransportSecuritySettings
from sqlalchemy.engine import Engine

from backside_caldav.mcp.calls import Keyring
from backside_caldav.mcp.server import build, key_can_write
from backside_caldav.service.problems import PROBLEM_CONTENT_TYPE, Problem

PREFIX = "/mcp"
DEFAULT_HOSTS = "127.0.0.1,127.0.0.1:*,localhost,localhost:*,[::1],[::1]:*"
DEFAULT_ORIGINS = "http://127.0.0.1,http://127.0.0.1:*,http://localhost,http://localhost:*"
StartResponse = Callable[..., Any]


def security() -> TransportSecuritySettings:
    def listed(name: str, default: str) -> list[str]:
        return [h.strip() for h in os.environ.get(name, default).split(",") if h.strip()]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=listed("BACKSIDE_MCP_ALLOWED_HOSTS", DEFAULT_HOSTS),
        allowed_origins=listed("BACKSIDE_MCP_ALLOWED_ORIGINS", DEFAULT_ORIGINS))


class McpWsgi:
    """WSGI app for /mcp: the key decides which server (all tools or read tools) answers."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._apps: dict[bool, Callable[..., Iterable[bytes]]] | None = None
        self._pid: int | None = None

    def _start(self) -> dict[bool, Callable[..., Iterable[bytes]]]:
        """The event loop thread and both servers, once per process."""
        with self._lock:
            if self._apps is not None and self._pid == os.getpid():
                return self._apps
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="mcp-loop", daemon=True).start()
            keyring = Keyring(self.engine)
            apps = {}
            for writable in (False, True):
                server = build(keyring, writable)
                starlette = server.streamable_http_app(
                    streamable_http_path="/", stateless_http=True, json_response=True,
                    transport_security=security())
                ready = asyncio.run_coroutine_threadsafe(_serve(server), loop)
                with contextlib.suppress(TimeoutError):
                    ready.result(timeout=0.05)  # runs until the process ends
                apps[writable] = ASGIMiddleware(starlette, loop=loop)
            self._apps, self._pid = apps, os.getpid()
            return apps

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        header = environ.get("HTTP_AUTHORIZATION")
        secret = None
        if header and header.strip().lower().startswith("bearer "):
            secret = header.strip()[7:].strip()
        try:
            writable = key_can_write(self.engine, secret)
        except Problem as problem:
            return _problem(start_response, problem)
        environ = dict(environ)
        path = environ.get("PATH_INFO", "")
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + PREFIX
        environ["PATH_INFO"] = path[len(PREFIX):] or "/"
        return self._start()[writable](environ, start_response)


async def _serve(server: Any) -> None:
    """Keep the server's session manager running (the lifespan a2wsgi does not send)."""
    async with server.session_manager.run():
        await asyncio.Event().wait()


def _problem(start_response: StartResponse, problem: Problem) -> list[bytes]:
    body = json.dumps(problem.body(PREFIX)).encode()
    start_response(f"{problem.status} {problem.title}", [
        ("Content-Type", PROBLEM_CONTENT_TYPE), ("Content-Length", str(len(body))),
        *problem.headers])
    return [body]
