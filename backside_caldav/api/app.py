"""The sidecar's WSGI application: a small router, one transaction per request.

It is mounted under /api/v1/ in `backside-caldav serve` (in front of Radicale)
and runs alone with `backside-caldav sidecar`. Each request goes: route
(404/405) -> API key (401) -> write permission (403) -> body and parameters
(415/400) -> handler, all inside one transaction whose tenant is the key's.
Every error is an RFC 9457 problem document.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from backside_caldav.api import auth, openapi, validate
from backside_caldav.api.problems import (
    PROBLEM_CONTENT_TYPE,
    Problem,
    invalid,
    not_found,
    status_line,
)
from backside_caldav.db import calendars as calendar_rows
from backside_caldav.db import engines, tenancy

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
MAX_BODY = 64 * 1024
MAX_QUERY_FIELDS = 50

StartResponse = Callable[..., Any]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    environ: dict

    def param(self, name: str) -> str | None:
        """A query parameter given at most once."""
        values = self.query.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise invalid(name, "give this parameter only once")
        return values[0]

    def params(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def only(self, *allowed: str) -> None:
        """Refuse parameters the endpoint does not know, so a typo is not silently ignored."""
        unknown = sorted(set(self.query) - set(allowed))
        if unknown:
            known = ", ".join(allowed) or "none"
            raise invalid(unknown[0], f"unknown query parameter (this endpoint takes: {known})")

    def json(self) -> dict[str, Any]:
        """The JSON object body: 415 for another media type, 400 when it does not parse."""
        media = self.environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
        if media != "application/json" and not (media.startswith("application/")
                                                 and media.endswith("+json")):
            raise Problem(415, "unsupported-media-type", "Unsupported media type",
                          f"send the body as JSON with 'Content-Type: application/json' "
                          f"(got {media or 'no Content-Type'!r})")
        raw = self._body()
        if not raw.strip():
            raise Problem(400, "invalid-body", "Invalid request body",
                          "the request body is empty; send a JSON object")
        try:
            doc = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        except UnicodeDecodeError:
            raise Problem(400, "invalid-body", "Invalid request body",
                          "the body is not valid UTF-8") from None
        except (ValueError, RecursionError) as exc:
            raise Problem(400, "invalid-body", "Invalid request body",
                          f"the body is not valid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise Problem(400, "invalid-body", "Invalid request body",
                          "the body must be a JSON object")
        return doc

    def _body(self) -> bytes:
        try:
            length = int(self.environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            raise Problem(400, "invalid-body", "Invalid request body",
                          "Content-Length is not a number") from None
        if length < 0:
            raise Problem(400, "invalid-body", "Invalid request body", "negative Content-Length")
        if length > MAX_BODY:
            raise Problem(413, "body-too-large", "Request body too large",
                          f"the body may be at most {MAX_BODY} bytes (got {length})")
        return self.environ["wsgi.input"].read(length) if length else b""


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def body_fields(doc: dict[str, Any], required: tuple[str, ...], optional: tuple[str, ...]
                ) -> None:
    """Refuse unknown fields and name missing ones."""
    for name in doc:
        if name not in required and name not in optional:
            raise invalid(name, "unknown field (allowed: "
                                f"{', '.join(required + optional)})")
    for name in required:
        if name not in doc or doc[name] is None:
            raise invalid(name, "is required")


@dataclass
class Call:
    """What a handler gets: the request, its transaction and the caller's key."""

    request: Request
    conn: Connection
    key: auth.ApiKey
    path: dict[str, str]

    @property
    def tenant(self) -> str:
        return self.key.tenant_id


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Call], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler | None  # None: served without a key (the OpenAPI document)
    write: bool = False


def _route(method: str, template: str, handler: Handler | None, write: bool = False) -> Route:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return Route(method, re.compile(f"^{regex}$"), handler, write)


def calendars(call: Call) -> Reply:
    """The tenant's calendars, so clients can find ids for calendar_id filters."""
    call.request.only()
    return Reply(200, {"calendars": [
        {"id": r.id, "name": r.name, "href": r.href, "timezone": r.timezone, "color": r.color,
         "description": r.description, "components": list(r.components)}
        for r in calendar_rows.list_calendars(call.conn, call.tenant)]})


def _routes() -> list[Route]:
    from backside_caldav.api import availability, links, search
    return [
        _route("GET", "/openapi.json", None),
        _route("GET", "/calendars", calendars),
        _route("GET", "/events/search", search.handle),
        _route("GET", "/freebusy", availability.freebusy),
        _route("POST", "/availability/check", availability.check),
        _route("GET", "/events/{event_id}/links", links.list_links),
        _route("POST", "/events/{event_id}/links", links.add_link, write=True),
        _route("DELETE", "/events/{event_id}/links/{link_id}", links.delete_link, write=True),
        _route("GET", "/links", links.reverse),
        _route("POST", "/events/{event_id}/respond", links.respond, write=True),
    ]


class SidecarApp:
    """WSGI callable serving the JSON API under /api/v1."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.routes = _routes()

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
            if engines.is_unavailable(exc):  # the same test as CalDAV's 503 (web/outage.py)
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
        for route in self.routes:
            match = route.pattern.match(sub)
            if not match:
                continue
            if route.method != method:
                allowed.append(route.method)
                continue
            request = Request(method, path, _query(environ), environ)
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
        with tenancy.transaction(self.engine) as conn:
            key = auth.authenticate(conn, request.environ.get("HTTP_AUTHORIZATION"))
            if route.write:
                auth.require_write(key)
            ids = {name: validate.uuid_value(name, value) for name, value in path_params.items()}
            return route.handler(Call(request, conn, key, ids))

    def _problem(self, start_response: StartResponse, problem: Problem,
                 path: str) -> list[bytes]:
        body = problem.encode(instance=path)
        start_response(status_line(problem.status), [
            ("Content-Type", PROBLEM_CONTENT_TYPE), ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"), *problem.headers])
        return [body]


def _ok_line(status: int) -> str:
    return {200: "200 OK", 201: "201 Created"}.get(status, f"{status} OK")


def _query(environ: dict) -> dict[str, list[str]]:
    raw = environ.get("QUERY_STRING", "")
    try:
        text = raw.encode("latin-1").decode("utf-8")
        return parse_qs(text, keep_blank_values=True, strict_parsing=False,
                        encoding="utf-8", errors="strict", max_num_fields=MAX_QUERY_FIELDS)
    except UnicodeError:
        raise Problem(400, "invalid-parameter", "Invalid request parameter",
                      "the query string is not valid UTF-8") from None
    except ValueError:
        raise Problem(400, "invalid-parameter", "Invalid request parameter",
                      f"too many query parameters (at most {MAX_QUERY_FIELDS})") from None


def build_sidecar(database_url: str) -> SidecarApp:
    """The API alone, for `backside-caldav sidecar` or another WSGI server."""
    return SidecarApp(engines.get_app_engine(database_url))
