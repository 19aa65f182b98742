"""RFC 9457 problem details: every error the API gives is one of these.

A client (or the person reading its log) gets the HTTP status, a short
title, and a `detail` that says what to change; validation errors also list
each bad input in `errors` so a form can point at the field.
"""

from __future__ import annotations

import json
from typing import Any

PROBLEM_TYPE_BASE = "https://backside-caldav.invalid/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"

REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class Problem(Exception):
    """An error answer; raise it anywhere in a handler."""

    def __init__(self, status: int, slug: str, title: str, detail: str,
                 errors: list[dict[str, str]] | None = None,
                 headers: list[tuple[str, str]] | None = None,
                 **extensions: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers or []
        self.extensions = extensions

    def body(self, instance: str | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            doc["instance"] = instance
        if self.errors:
            doc["errors"] = self.errors
        doc.update(self.extensions)
        return doc

    def encode(self, instance: str | None = None) -> bytes:
        return json.dumps(self.body(instance), ensure_ascii=False).encode()


def status_line(status: int) -> str:
    return f"{status} {REASONS.get(status, 'Error')}"


def invalid(parameter: str, message: str) -> Problem:
    """One bad input (query parameter, path segment or body field): 400."""
    return Problem(400, "invalid-parameter", "Invalid request parameter",
                   f"{parameter}: {message}",
                   errors=[{"parameter": parameter, "message": message}])


def not_found(detail: str) -> Problem:
    return Problem(404, "not-found", "Not found", detail)


def unauthorized(detail: str, invalid_token: bool) -> Problem:
    challenge = 'Bearer realm="backside-caldav"'
    if invalid_token:
        challenge += ', error="invalid_token"'
    return Problem(401, "unauthorized", "Authentication required", detail,
                   headers=[("WWW-Authenticate", challenge)])


def forbidden(detail: str) -> Problem:
    return Problem(403, "read-only-key", "Not allowed with this API key", detail)
