"""The WSGI application: Radicale with our storage, behind a thin middleware.

The middleware exists for what Radicale cannot do from inside a plugin:
keep the client's original PUT bytes, refuse what this server does not
store (address books) with a clear message, answer a health check, and
refuse hostile requests (guards, body, xml_guard, ical_guard) before
anything parses them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import radicale
from radicale import config as radicale_config
from radicale import pathutils

from backside_caldav.dav import (
    expand,
    freebusy,
    guards,
    listing,
    member_reports,
    poll,
    put,
    vtimezone_cache,
)
from backside_caldav.dav.body import read_body
from backside_caldav.dav.outage import OutageMiddleware
from backside_caldav.dav.reasons import answer_with_reason
from backside_caldav.dav.refusal import Refusal
from backside_caldav.dav.throttle import LoginLimitMiddleware
from backside_caldav.dav.xml_guard import check_xml_body
from backside_caldav.db import engines as db
from backside_caldav.domain.errors import InvalidCalendarData
from backside_caldav.domain.ical_guard import check_ical_body
from backside_caldav.domain.ical_parse import parse_resource
from backside_caldav.request import RequestInfo, current_request

CONFIG_FILE = Path(__file__).resolve().parents[2] / "config" / "radicale.conf"

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict, StartResponse], Iterable[bytes]]


def load_configuration(database_url: str, config_file: Path | None = None,
                       overrides: dict[str, dict[str, str]] | None = None
                       ) -> radicale_config.Configuration:
    configuration = radicale_config.load()
    path = config_file or CONFIG_FILE
    if path.exists():
        configuration = radicale_config.load([(str(path), False)])
    values = {"storage": {"database_url": database_url}}
    for section, options in (overrides or {}).items():
        values.setdefault(section, {}).update(options)
    configuration.update(values, "backside-caldav", privileged=True)
    return configuration


def _text_response(start_response: StartResponse, status: str, message: str,
                   headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    body = (message + "\n").encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(body))), *(headers or [])])
    return [body]


def _object_problem(body: bytes, charset: str) -> str | None:
    """Why a PUT body is not a calendar object we can store, or None.

    Checked before Radicale parses it, so the client gets a reason instead of
    a bare "Bad Request".
    """
    try:
        text = body.decode(charset)
    except (LookupError, UnicodeDecodeError) as exc:
        return f"the body is not valid {charset}: {exc}"
    problem = check_ical_body(text)
    if problem:
        return problem
    try:
        parse_resource(text)
    except InvalidCalendarData as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - any parser failure is the body's fault
        return f"not valid iCalendar: {exc}"
    return None


class Application(member_reports.MemberReports, poll.CollectionPoll, listing.StreamedListing,
                  put.ObjectPut, radicale.Application):
    """Radicale, answering a single-object PUT, the getctag / sync-token poll, a
    calendar's etag listing, the common calendar-multiget and a one-time-range
    calendar-query itself."""


class BacksideMiddleware:
    def __init__(self, app: WSGIApp, max_content_length: int) -> None:
        self.app = app
        self.max_content_length = max_content_length

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        raw_path = environ.get("PATH_INFO", "/")
        refusal = (guards.check_method(method) or guards.check_path(raw_path)
                   or guards.check_headers(environ, method))
        if refusal is None:
            body = read_body(environ, self.max_content_length)
            refusal = body if isinstance(body, Refusal) else check_xml_body(method, body)
        if refusal is not None:
            return refusal.respond(start_response)
        environ["PATH_INFO"] = raw_path = guards.decode_path(raw_path) or raw_path
        sane = pathutils.strip_path(pathutils.sanitize_path(raw_path))
        if method == "DELETE" and "/" not in sane:
            return _text_response(start_response, "403 Forbidden",
                                  "the root and a home collection cannot be deleted; "
                                  "delete calendars one by one")
        if method == "MKCOL" and body and b"addressbook" in body:
            return _text_response(start_response, "403 Forbidden",
                                  "address books are not supported by this server; "
                                  "it stores calendars (events, tasks and journals) only")
        charset = "utf-8"
        content_type = environ.get("CONTENT_TYPE", "")
        if "charset=" in content_type:
            charset = content_type.split("charset=", 1)[1].split(";")[0].strip().strip('"') or charset
        if method == "PUT" and sane.count("/") == 2:
            problem = _object_problem(body or b"", charset)
            if problem:
                return _text_response(start_response, "400 Bad Request", problem)
        info = RequestInfo(method, sane, body, charset)
        token = current_request.set(info)
        streamed = False
        try:
            # Radicale answers eagerly (a list), so the body is used in time; a
            # streamed listing closes the request's transaction once it is sent.
            answer = answer_with_reason(self.app, environ, start_response, info)
            streamed = bool(info.streams)
            return answer
        finally:
            if not streamed:
                info.close()
            current_request.reset(token)


def build_dav_app(database_url: str, config_file: Path | None = None,
                  overrides: dict[str, dict[str, str]] | None = None) -> WSGIApp:
    """CalDAV: Radicale with this storage, behind the guards, the login limits
    and the outage answer (outermost first: 503 on an outage, 429 for a login
    that failed too often, then the guards)."""
    configuration = load_configuration(database_url, config_file, overrides)
    freebusy.install()
    expand.install()
    vtimezone_cache.install()
    application = Application(configuration)
    max_length = configuration.get("server", "max_content_length")
    engine = db.get_app_engine(database_url)
    return OutageMiddleware(LoginLimitMiddleware(BacksideMiddleware(application, max_length),
                                                 engine))
