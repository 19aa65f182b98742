"""The sidecar's WSGI application: a small router, one transaction per request.

It is mounted under /api/v1/ in `backside-caldav serve` (in front of Radicale)
and runs alone with `backside-caldav sidecar`. Each request goes: route
(404/405) -> API key (401) -> write permission (403) -> body and parameters
(415/400) -> handler, all inside one transaction whose tenant is the key's.
Every error is an RFC 9457 problem document.

The API's modules import one way: handlers (calendars, search, availability,
links) -> http (Request, Call, Reply); routes -> handlers; this module ->
routes and http. So the route table is built at import time, and nothing
hides an import inside a function to break a loop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from backside_caldav.api import auth, openapi
from backside_caldav.api.http import Call, Reply, Request, parse_query
from backside_caldav.api.routes import ROUTES, Route
from backside_caldav.db import engines, tenancy
from backside_caldav.service import access, validate
from backside_caldav.service.change_stream import DEFAULT_MAX_STREAMS, Hub
from backside_caldav.service.problems import (
    PROBLEM_CONTENT_TYPE,
    Problem,
    not_found,
    status_line,
)

log = logging.getLogger(__name__)

PREFIX = "/api/v1"

StartResponse = Callable[..., Any]


class SidecarApp:
    """WSGI callable serving the JSON API under /api/v1."""

    def __init__(self, engine: Engine, max_streams: int = DEFAULT_MAX_STREAMS) -> None:
        self.engine = engine
        self.routes = ROUTES
        self.hub = Hub(engine, max_streams)  # its listener starts with the first stream

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        try:
            reply = self._dispatch(environ, path)
        except Problem as problem:
            return self._problem(start_response, problem, path)
        except sa.exc.DataError as exc:
            # Validation should have caught it; still the caller's value, not our fault.
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            return self._problem(start_response, Problem(
                400, "invalid-parameter", "Invalid request parameter",
                f"the database refused a value: {reason}"), path)
        except Exception as exc:  # noqa: BLE001 - answered as a problem either way
            if engines.is_unavailable(exc):  # the same test as CalDAV's 503 (dav/outage.py)
                log.warning("database unavailable", exc_info=True)
                return self._problem(start_response, Problem(
                    503, "database-unavailable", "Database unavailable",
                    "the database cannot be reached right now; try again shortly",
                    headers=[("Retry-After", "5")]), path)
            # A bug: log it, answer a problem, keep serving.
            log.exception("sidecar request failed: %s %s", environ.get("REQUEST_METHOD"), path)
            return self._problem(start_response, Problem(
                500, "internal-error", "Internal error",
                "the server failed to answer this request; the error is in its log"), path)
        headers = [("Cache-Control", "no-store"), *reply.headers]
        if reply.stream is not None:
            start_response(_ok_line(reply.status), headers)
            return reply.stream
        if reply.body is None:
            start_response(status_line(reply.status) if reply.status != 204 else "204 No Content",
                           headers)
            return []
        body = json.dumps(reply.body, ensure_ascii=False, separators=(",", ":")).encode()
        start_response(_ok_line(reply.status), [("Content-Type", "application/json"),
                                                ("Content-Length", str(len(body))), *headers])
        return [body]

    def _dispatch(self, environ: dict, path: str) -> Reply:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if not path.startswith(PREFIX + "/"):
            raise not_found(f"no such endpoint {path!r}; the API lives under {PREFIX}/ "
                            f"(see {PREFIX}/openapi.json)")
        sub = path[len(PREFIX):]
        allowed: list[str] = []
        owner = None  # the first path template that matches owns the path (/events/search
        for route in self.routes:  # is not an event id)
            match = route.pattern.match(sub)
            if not match or (owner is not None and route.pattern.pattern != owner):
                continue
            owner = route.pattern.pattern
            if route.method != method:
                allowed.append(route.method)
                continue
            request = Request(method, path, parse_query(environ), environ)
            if route.handler is None:
                request.only()
                return Reply(200, openapi.document())
            return self._handle(route, request, match.groupdict())
        if allowed:
            raise Problem(405, "method-not-allowed", "Method not allowed",
                          f"{method} is not allowed on {path}; use {', '.join(allowed)}",
                          headers=[("Allow", ", ".join(allowed))])
        raise not_found(f"no such endpoint {path!r} (see {PREFIX}/openapi.json for the API)")

    def _handle(self, route: Route, request: Request, path_params: dict[str, str]) -> Reply:
        assert route.handler is not None
        made: list[Reply] = []
        try:
            return self._answer(route, request, path_params, made)
        except BaseException:
            # A stream holds a place in the hub until closed: the commit failed after
            # the handler made it, so no WSGI server will ever close it.
            for reply in made:
                if reply.stream is not None and hasattr(reply.stream, "close"):
                    reply.stream.close()
            raise

    def _answer(self, route: Route, request: Request, path_params: dict[str, str],
                made: list[Reply]) -> Reply:
        assert route.handler is not None
        with tenancy.transaction(self.engine) as conn:
            key = auth.authenticate(conn, request.environ.get("HTTP_AUTHORIZATION"))
            access.rate_limit(self.engine, key)
            if route.write:
                access.require_write(key)
            try:
                ids = {name: validate.uuid_value(name, value)
                       for name, value in path_params.items()}
            except Problem:
                if not route.missing_if_malformed:
                    raise
                raise not_found(f"no such event or attendee: {request.path!r} does not name "
                                "one (ids are UUIDs)") from None
            reply = route.handler(Call(request, conn, key, ids, self.hub))
            made.append(reply)
        if reply.stream is None and request.method == "GET" and isinstance(reply.body, dict):
            info = key.access_info()
            if info is not None:  # every GET answered under a restriction says so
                reply.body["accessInfo"] = info
        return reply

    def _problem(self, start_response: StartResponse, problem: Problem,
                 path: str) -> list[bytes]:
        body = problem.encode(instance=path)
        start_response(status_line(problem.status), [
            ("Content-Type", PROBLEM_CONTENT_TYPE), ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"), *problem.headers])
        return [body]


def _ok_line(status: int) -> str:
    return {200: "200 OK", 201: "201 Created"}.get(status, f"{status} OK")


def build_sidecar(database_url: str, max_streams: int = DEFAULT_MAX_STREAMS) -> SidecarApp:
    """The API alone, for `backside-caldav sidecar` or another WSGI server."""
    return SidecarApp(engines.get_app_engine(database_url), max_streams)
