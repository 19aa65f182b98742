"""What a handler sees of HTTP: the request, its body and query, the reply.

The handler modules import these and nothing else of the server, and this
module imports no handler: the arrows go handlers -> http, routes ->
handlers, app -> routes and http, so no import has to hide in a function.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from sqlalchemy.engine import Connection

from backside_caldav.domain.api_keys import ApiKey
from backside_caldav.service import validate
from backside_caldav.service.change_stream import Hub
from backside_caldav.service.problems import Problem, invalid
from backside_caldav.service.validate import body_fields

__all__ = ["Call", "Reply", "Request", "body_fields", "parse_query"]

MAX_BODY = 64 * 1024
MAX_QUERY_FIELDS = 50


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

    def limit(self, default: int, maximum: int) -> int:
        """The page size: `limit` from 1 to maximum, default when it is not given."""
        text = self.param("limit")
        return default if text is None else validate.integer("limit", text, 1, maximum)

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


def parse_query(environ: dict) -> dict[str, list[str]]:
    """The query string as lists of values; 400 for bad UTF-8 or too many fields."""
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


@dataclass
class Call:
    """What a handler gets: the request, its transaction and the caller's key."""

    request: Request
    conn: Connection
    key: ApiKey
    path: dict[str, str]
    hub: Hub | None = None  # the worker's change streams (service/change_stream.py)

    @property
    def tenant(self) -> str:
        return self.key.tenant_id


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    # A streamed body (Server-Sent Events), sent as it comes, after the transaction ends.
    stream: Iterable[bytes] | None = None
