"""A request the server refuses, and its HTTP answer: plain text, or a DAV:error
naming the RFC precondition the request violates, with the reason beside it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from xml.sax.saxutils import escape

from backside_caldav import request

NAMESPACES = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav"}
# RFC 4791 1.3: a violated precondition is 403 when repeating the request will
# always fail, 409 when the user may resolve the conflict and send it again.
# no-uid-conflict is resolvable (delete or move the other resource); the rest
# are about the body itself.
RESOLVABLE = frozenset({"C:no-uid-conflict", "D:resource-must-be-null"})


def precondition_status(precondition: str | None) -> int:
    """The status of a refusal that names `precondition` (None: a plain 400)."""
    if precondition is None:
        return 400
    return 409 if precondition in RESOLVABLE else 403


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str
    dav_error: str | None = None  # a precondition such as "D:supported-report"
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    href: str | None = None  # a DAV:href inside the precondition (C:no-uid-conflict)

    @classmethod
    def of(cls, exc: BaseException, href: str | None = None) -> Refusal:
        """The answer to a refusal raised as `exc`: its precondition (see
        domain/errors.py) decides the status and the DAV:error element."""
        precondition = precondition_of(exc)
        return cls(precondition_status(precondition), str(exc), precondition, href=href)

    def body(self) -> tuple[bytes, str]:
        """The body and its Content-Type: a DAV:error naming the precondition
        (the message beside it, like sabre/dav's s:message) when an RFC names
        one, else the message as plain text."""
        if not self.dav_error:
            return (self.message + "\n").encode(), "text/plain; charset=utf-8"
        prefix, name = self.dav_error.split(":", 1)
        namespaces = 'xmlns:D="DAV:" xmlns:B="urn:backside-caldav"'
        if prefix != "D":
            namespaces += f' xmlns:{prefix}="{NAMESPACES[prefix]}"'
        inner = f"<D:href>{escape(self.href)}</D:href>" if self.href else ""
        element = f"<{prefix}:{name}>{inner}</{prefix}:{name}>" if inner else \
            f"<{prefix}:{name}/>"
        body = ('<?xml version="1.0" encoding="utf-8"?>\n'
                f"<D:error {namespaces}>{element}"
                f"<B:message>{escape(self.message)}</B:message></D:error>\n").encode()
        return body, "application/xml; charset=utf-8"

    def respond(self, start_response: Callable[..., Any]) -> list[bytes]:
        """The WSGI answer."""
        body, content_type = self.body()
        phrase = HTTPStatus(self.status).phrase
        start_response(f"{self.status} {phrase}",
                       [("Content-Type", content_type), ("Content-Length", str(len(body))),
                        *self.headers])
        return [body]

    def response(self) -> tuple[int, dict[str, str], bytes, None]:
        """The answer as a Radicale do_<METHOD> returns it (for the fast paths).

        A 403 reaches Radicale as its bare 400 and dav/reasons.py puts this
        answer back: Radicale sleeps its [auth] delay (0.5-1.5 s) before every
        401 and 403, which is meant for denied access and would hold each
        refused PUT for a second.
        """
        if self.status == 403:
            request.note_answer(self)
            return 400, {"Content-Type": "text/plain; charset=utf-8"}, b"Bad Request", None
        body, content_type = self.body()
        return self.status, {"Content-Type": content_type, **dict(self.headers)}, body, None


def precondition_of(exc: BaseException | None) -> str | None:
    """The precondition an exception names, looking through the exceptions it
    was raised from (the storage re-raises domain errors as ValueError)."""
    seen = 0
    while exc is not None and seen < 5:
        precondition = getattr(exc, "precondition", None)
        if precondition is not None or hasattr(type(exc), "precondition"):
            return precondition
        exc = exc.__cause__
        seen += 1
    return None
