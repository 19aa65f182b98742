"""Puts the storage's reason into Radicale's bare "Bad Request" answers.

Radicale turns a ValueError from the storage into 400 with the body "Bad
Request" (PUT of a whole calendar, PROPPATCH, MKCALENDAR); the storage notes
the refusal in the request context, and this wrapper shows it to the client:
as a DAV:error with the status RFC 4791 1.3 asks for when the refusal names
a precondition (domain/errors.py), else as plain text.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from backside_caldav.dav.refusal import Refusal, precondition_of
from backside_caldav.request import Scope

BARE = {b"Bad Request", b"Bad Request\n"}


def _plain(body: bytes, headers: list[tuple[str, str]]) -> bytes:
    """The body as Radicale wrote it: it gzips answers for clients that accept it."""
    if any(k.lower() == "content-encoding" and v.strip().lower() == "gzip" for k, v in headers):
        try:
            return gzip.decompress(body)
        except (OSError, EOFError):
            return body
    return body


def _uid_conflict(holder: str, environ: dict, headers: list[tuple[str, str]]
                  ) -> tuple[bytes, list[tuple[str, str]]]:
    """Radicale's bare CALDAV:no-uid-conflict (a MOVE, or a PUT it answers), with the
    D:href of the resource holding the UID (RFC 4791 5.3.2.1) and a reason."""
    prefix = (environ.get("HTTP_X_SCRIPT_NAME") or environ.get("SCRIPT_NAME") or "").rstrip("/")
    name = holder.rsplit("/", 1)[-1]
    body, content_type = Refusal(
        409, f"the UID is already used by {name} in that calendar", "C:no-uid-conflict",
        href=quote(f"{prefix}/{holder}")).body()
    headers = [(k, v) for k, v in headers
               if k.lower() not in ("content-length", "content-type", "content-encoding")]
    return body, headers + [("Content-Type", content_type), ("Content-Length", str(len(body)))]


def answer_with_reason(app: Callable[..., Iterable[bytes]], environ: dict,
                       start_response: Callable[..., Any], scope: Scope) -> Iterable[bytes]:
    captured: list[Any] = []

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        captured[:] = [status, headers]

    body = b"".join(app(environ, capture))
    status, headers = captured
    if scope.stream is not None:
        return scope.stream.respond(status, headers, environ, start_response)
    if status.startswith("409") and scope.uid_holder and b"no-uid-conflict" in _plain(
            body, headers):
        body, headers = _uid_conflict(scope.uid_holder, environ, headers)
    if status.startswith("400") and (scope.answer or scope.reasons) and _plain(
            body, headers) in BARE:
        if scope.answer is not None:
            refusal = scope.answer
        elif precondition_of(scope.refusal) is not None:
            refusal = Refusal.of(scope.refusal)  # type: ignore[arg-type]
        else:
            refusal = Refusal(400, scope.reasons[-1])
        body, content_type = refusal.body()
        headers = [(k, v) for k, v in headers if k.lower() not in ("content-length",
                                                                    "content-type",
                                                                    "content-encoding")]
        headers += [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        status = f"{refusal.status} {HTTPStatus(refusal.status).phrase}"
    start_response(status, headers)
    return [body]
