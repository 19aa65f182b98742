"""A request the server refuses before Radicale sees it, and its HTTP answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from xml.sax.saxutils import escape

NAMESPACES = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav"}


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str
    dav_error: str | None = None  # a precondition such as "D:supported-report"
    headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def respond(self, start_response: Callable[..., Any]) -> list[bytes]:
        """Plain text, or a DAV:error naming the precondition (message included,
        like sabre/dav's s:message) when an RFC names one."""
        if self.dav_error:
            prefix, name = self.dav_error.split(":", 1)
            body = ('<?xml version="1.0" encoding="utf-8"?>\n'
                    f'<D:error xmlns:D="DAV:" xmlns:{prefix}="{NAMESPACES[prefix]}" '
                    'xmlns:B="urn:backside-caldav">'
                    f"<{prefix}:{name}/><B:message>{escape(self.message)}</B:message>"
                    "</D:error>\n").encode()
            content_type = "application/xml; charset=utf-8"
        else:
            body = (self.message + "\n").encode()
            content_type = "text/plain; charset=utf-8"
        phrase = HTTPStatus(self.status).phrase
        start_response(f"{self.status} {phrase}",
                       [("Content-Type", content_type), ("Content-Length", str(len(body))),
                        *self.headers])
        return [body]
