"""The one place where the server is composed: CalDAV (dav/), the JSON API
(api/) and the MCP tools (mcp/, under /mcp) on one address, behind one access log.

dav and api never import each other; this module and the CLI are the only
ones that import both.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from backside_caldav.api import SidecarApp
from backside_caldav.dav.access_log import AccessLogMiddleware
from backside_caldav.dav.app import build_dav_app
from backside_caldav.db import engines
from backside_caldav.scheduling import implicit, mail_sender
from backside_caldav.service.change_stream import DEFAULT_MAX_STREAMS

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict, StartResponse], Iterable[bytes]]
API_PREFIX = "/api/v1"
MCP_PREFIX = "/mcp"  # MCP over streamable HTTP (mcp/http.py)


class Mount:
    """/api/v1/ to the JSON API, /mcp to the MCP tools, /health to the health check,
    the rest to CalDAV."""

    def __init__(self, dav: WSGIApp, api: WSGIApp, engine: sa.engine.Engine,
                 mcp: WSGIApp | None = None) -> None:
        self.dav = dav
        self.api = api
        self.engine = engine
        self.mcp = mcp

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            return self.api(environ, start_response)
        if self.mcp is not None and (path == MCP_PREFIX or path.startswith(MCP_PREFIX + "/")):
            return self.mcp(environ, start_response)
        if path in ("/health", "/healthz") and environ.get("REQUEST_METHOD", "GET").upper() == "GET":
            return self._health(start_response)
        return self.dav(environ, start_response)

    def _health(self, start_response: StartResponse) -> list[bytes]:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            status, payload = "200 OK", {"status": "ok", "database": "ok"}
            extra: list[tuple[str, str]] = []
        except Exception:  # noqa: BLE001 - any failure means unhealthy
            status, payload = "503 Service Unavailable", {"status": "unavailable",
                                                          "database": "unreachable"}
            extra = [("Retry-After", "5")]
        body = json.dumps(payload).encode()
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(body))), *extra])
        return [body]


def build_app(database_url: str, config_file: Path | None = None,
              overrides: dict[str, dict[str, str]] | None = None,
              max_streams: int = DEFAULT_MAX_STREAMS) -> WSGIApp:
    engine = engines.get_app_engine(database_url)
    # Messages queued by a write are delivered right after its commit.
    implicit.on_commit(mail_sender.after_commit)
    dav = build_dav_app(database_url, config_file, overrides)
    api = SidecarApp(engine, max_streams)
    return AccessLogMiddleware(Mount(dav, api, engine, LazyMcp(engine)))


class LazyMcp:
    """The MCP app, imported on the first /mcp request: the SDK and what it pulls
    in (pydantic, starlette, httpx) weigh about 35 MiB per worker that never
    serves MCP."""

    def __init__(self, engine: sa.engine.Engine) -> None:
        self.engine = engine
        self.app: WSGIApp | None = None

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        if self.app is None:
            from backside_caldav.mcp.http import McpWsgi
            self.app = McpWsgi(self.engine)
        return self.app(environ, start_response)
