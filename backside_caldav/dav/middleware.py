"""The middleware in front of Radicale, for what it cannot do from inside a
plugin: refuse hostile requests (guards, body, xml_guard, ical_guard) before
anything parses them, refuse what this server does not store (address books)
with a clear message, and keep the client's original body (Radicale hands
the storage vobject's re-serialization, which mangles some client data) and
the XML guard's parse of it in the request's scope.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from xml.etree import ElementTree

from radicale import pathutils

from backside_caldav import request
from backside_caldav.dav import guards
from backside_caldav.dav.body import read_body
from backside_caldav.dav.reasons import answer_with_reason
from backside_caldav.dav.refusal import Refusal
from backside_caldav.dav.xml_guard import read_xml_body
from backside_caldav.domain.errors import InvalidCalendarData, TooLarge
from backside_caldav.domain.ical_guard import find_problem
from backside_caldav.domain.ical_parse import parse_calendar, parse_resource

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict, StartResponse], Iterable[bytes]]


def _object_problem(body: bytes, charset: str, whole: bool = False
                    ) -> InvalidCalendarData | None:
    """Why a PUT body is not a calendar object (with whole: a calendar) we can
    store, or None; its class names the precondition (domain/errors.py).

    Checked before Radicale parses it, so the client gets a reason instead of
    a bare "Bad Request".
    """
    try:
        text = body.decode(charset)
    except (LookupError, UnicodeDecodeError) as exc:
        return InvalidCalendarData(f"the body is not valid {charset}: {exc}")
    problem = find_problem(text, whole)
    if problem is not None:
        return problem
    try:
        if whole:
            parse_calendar(text)  # split by UID by Radicale, each checked by the store
        else:
            parse_resource(text)
    except InvalidCalendarData as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - any parser failure is the body's fault
        return InvalidCalendarData(f"not valid iCalendar: {exc}")
    return None


class BacksideMiddleware:
    """Refuses hostile requests, reads the body once and hands it on in the
    request's scope (see the module doc)."""

    def __init__(self, app: WSGIApp, max_content_length: int,
                 max_resource_size: int | None = None) -> None:
        self.app = app
        self.max_content_length = max_content_length
        self.max_resource_size = max_resource_size

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        raw_path = environ.get("PATH_INFO", "/")
        refusal = (guards.check_method(method) or guards.check_path(raw_path)
                   or guards.check_headers(environ, method))
        if refusal is None:
            body = read_body(environ, self.max_content_length)
            xml = body if isinstance(body, Refusal) else read_xml_body(method, body)
            refusal = xml if isinstance(xml, Refusal) else None
        if refusal is not None:
            return refusal.respond(start_response)
        environ["PATH_INFO"] = raw_path = guards.decode_path(raw_path) or raw_path
        sane = pathutils.strip_path(pathutils.sanitize_path(raw_path))
        if method == "DELETE" and "/" not in sane:
            return Refusal(403, "the root and a home collection cannot be deleted; "
                           "delete calendars one by one").respond(start_response)
        if method == "MKCOL" and body and b"addressbook" in body:
            return Refusal(403, "address books are not supported by this server; "
                           "it stores calendars (events, tasks and journals) only"
                           ).respond(start_response)
        charset = "utf-8"
        content_type = environ.get("CONTENT_TYPE", "")
        if "charset=" in content_type:
            charset = content_type.split("charset=", 1)[1].split(";")[0].strip().strip('"') or charset
        if method == "PUT" and sane.count("/") in (1, 2):
            refusal = self._put_refusal(body or b"", charset, whole=sane.count("/") == 1)
            if refusal is not None:
                return refusal.respond(start_response)
        scope = request.current()
        assert scope is not None, "dav.outage.OutageMiddleware opens the request's scope"
        scope.method, scope.path, scope.body, scope.charset = method, sane, body, charset
        scope.xml = xml if isinstance(xml, ElementTree.Element) else None
        # RFC 6638 8.1: "Schedule-Reply: F" asks that an attendee's change send no REPLY.
        scope.schedule_reply = environ.get("HTTP_SCHEDULE_REPLY", "T").strip().upper() != "F"
        return answer_with_reason(self.app, environ, start_response, scope)

    def _put_refusal(self, body: bytes, charset: str, whole: bool) -> Refusal | None:
        """The answer to a PUT body that cannot be stored, or None."""
        limit = self.max_resource_size
        if not whole and limit is not None and len(body) > limit:
            return Refusal.of(TooLarge(len(body), limit))
        problem = _object_problem(body, charset, whole)
        return None if problem is None else Refusal.of(problem)
