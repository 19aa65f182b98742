"""The change feed's part of the OpenAPI document (api/openapi.py merges it in).

Self-contained like openapi_calendars.py; tests/test_sidecar_schema.py checks
the polling form against the live server (the stream never ends, so
schemathesis leaves it out; tests/test_changes_stream.py covers it).
"""

from __future__ import annotations

from typing import Any

from backside_caldav.domain.changes import KINDS, SOURCES
from backside_caldav.service.changes import MAX_LIMIT

_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
_CURSOR = {"type": "string", "pattern": "^[0-9]{1,18}$",
           "description": "A position in the tenant's feed (opaque; compare for equality only)."}
_SINCE = {
    "name": "since", "in": "query", "required": False,
    "schema": {"type": "string", "pattern": "^([0-9]{1,18}|now)$"},
    "description": "Changes after this cursor (a `cursor` or `next_cursor` of an earlier "
                   "answer), or 'now' for none before this moment. Without it the feed "
                   "starts at the oldest change kept (the stream: at now).",
}
_INCLUDE = {
    "name": "include", "in": "query", "required": False,
    "schema": {"type": "string", "enum": ["event"]},
    "description": "'event': each event change carries the event as GET /events/{id} reads "
                   "it now (null once it is gone or outside the key's limits).",
}


def _error(text: str) -> dict[str, Any]:
    return {"description": text, "content": _PROBLEM}


SCHEMAS: dict[str, Any] = {
    "Change": {
        "type": "object",
        "required": ["cursor", "type", "event_id", "calendar_id", "etag", "at", "source"],
        "properties": {
            "cursor": _CURSOR,
            "type": {"type": "string", "enum": list(KINDS)},
            "event_id": {"type": ["string", "null"], "format": "uuid",
                         "description": "null for calendar changes."},
            "calendar_id": {"type": "string", "format": "uuid"},
            "etag": {"type": ["string", "null"],
                     "description": "The event's ETag after the change (CalDAV's and the "
                                    "event API's); null for calendar changes."},
            "at": {"type": "string", "format": "date-time",
                   "description": "When the change committed (UTC)."},
            "source": {"type": "string", "enum": list(SOURCES),
                       "description": "Who wrote it: a CalDAV client, this API (or the MCP "
                                      "tools), `backside-caldav import`, or another "
                                      "application's SQL."},
            "event": {"description": "With include=event: the event, or null.",
                      "anyOf": [{"$ref": "#/components/schemas/Event"}, {"type": "null"}]},
        },
    },
    "ChangePage": {
        "type": "object",
        "required": ["changes", "next_cursor", "has_more"],
        "properties": {
            "changes": {"type": "array", "items": {"$ref": "#/components/schemas/Change"}},
            "next_cursor": {**_CURSOR, "description": "Give it as `since` next time."},
            "has_more": {"type": "boolean",
                         "description": "More changes wait: ask again at once."},
        },
    },
}

PATHS: dict[str, Any] = {
    "/changes": {"get": {
        "operationId": "listChanges", "summary": "Changes after a cursor, oldest first",
        "description": "Every change of the tenant's events and calendars, by any writer, in "
                       "commit order: a cursor never skips a change that commits later. "
                       "Limited to the key's calendars and time window (an event moved out "
                       "of the key's calendars shows as event.deleted).",
        "parameters": [_SINCE, _INCLUDE, {
            "name": "limit", "in": "query", "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            "description": f"Page size, 1 to {MAX_LIMIT} (100)."}],
        "responses": {
            "200": {"description": "A page of changes.", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/ChangePage"}}}},
            "400": _error("A parameter is invalid (the problem names it)."),
            "401": {**_error("No API key, or an unknown one."), "headers": {
                "WWW-Authenticate": {"description": "Bearer challenge",
                                     "schema": {"type": "string"}}}},
            "410": _error("The cursor is older than the kept history, or ahead of the feed: "
                          "read the events again and continue from since=now."),
            "default": _error("Any other error, as an RFC 9457 problem document."),
        },
    }},
    "/changes/stream": {"get": {
        "operationId": "streamChanges", "summary": "The same changes, live (Server-Sent Events)",
        "description": "Each change as an SSE event (id: its cursor, event: its type, data: "
                       "the Change as JSON) within a second of its commit; a comment every 15 "
                       "s keeps the connection open. Resumes after the Last-Event-ID header "
                       "(or since); otherwise starts at now. When the key is revoked or "
                       "expires, an event named key-revoked ends the stream.",
        "parameters": [_SINCE, _INCLUDE, {
            "name": "Last-Event-ID", "in": "header", "required": False,
            "schema": _CURSOR, "description": "Resume after this cursor (EventSource sends it)."}],
        "responses": {
            "200": {"description": "The stream; it ends only when the server stops.",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}}},
            "400": _error("A parameter or Last-Event-ID is invalid."),
            "401": _error("No API key, or an unknown one."),
            "410": _error("The cursor is older than the kept history, or ahead of the feed."),
            "503": {**_error("This worker holds its maximum of open streams."),
                    "headers": {"Retry-After": {"description": "Seconds to wait.",
                                                "schema": {"type": "string"}}}},
            "default": _error("Any other error, as an RFC 9457 problem document."),
        },
    }},
}
