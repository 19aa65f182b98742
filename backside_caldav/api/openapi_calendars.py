"""The calendars part of the OpenAPI document (api/openapi.py merges it in).

Self-contained (it imports nothing of openapi.py, which imports it), and
checked against the live server with the rest by tests/test_sidecar_schema.py.
"""

from __future__ import annotations

from typing import Any

MAX_NAME = 200  # service/calendars.py checks the same bounds
MAX_DESCRIPTION = 20_000
MAX_ZONE = 64

_NULLABLE_STRING = {"type": ["string", "null"]}
_COLOR_PATTERN = "^#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?$"
_NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME, "pattern": r"\S",
         "description": "Display name (CalDAV displayname), 1 to 200 characters."}
_COLOR = {"type": "string", "pattern": _COLOR_PATTERN,
          "description": "#RRGGBB or #RRGGBBAA, as clients send in calendar-color."}
_ZONE = {"type": "string", "minLength": 1, "maxLength": MAX_ZONE,
         "description": "An IANA time zone name such as Europe/Berlin (calendar-timezone)."}
_DESCRIPTION = {"type": "string", "maxLength": MAX_DESCRIPTION,
                "description": "CalDAV calendar-description."}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}], "description": schema["description"]
            + " null clears it."}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR_TEXTS = {
    400: "A parameter or body field is invalid (the problem names it).",
    401: "No API key, or an unknown one.",
    403: "The API key cannot write, or (creating) is limited to some calendars.",
    404: "No such calendar in this tenant, or outside the key's calendars.",
    409: "The calendar holds events or tasks (the problem counts them in `events` and "
         "`tasks`); send force=true to delete them with it.",
    413: "The body is over 64 KiB.",
    415: "The body is not JSON.",
}


def _errors(*statuses: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status in (*statuses, "default"):
        text = _ERROR_TEXTS.get(status, "Any other error, as an RFC 9457 problem document.")
        out[str(status)] = {"description": text, "content": {
            "application/problem+json": {"schema": _ref("Problem")}}}
    if 401 in statuses:
        out["401"]["headers"] = {"WWW-Authenticate": {
            "description": "Bearer challenge", "schema": {"type": "string"}}}
    return out


CALENDAR_ID = {"name": "calendar_id", "in": "path", "required": True,
               "description": "The calendar's id (calendars.id).",
               "schema": {"type": "string", "format": "uuid"}}

SCHEMAS: dict[str, Any] = {
    "Calendar": {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "name": {"type": "string"},
            "href": {"type": "string", "description": "The collection's path segment under "
                                                      "the CalDAV principal."},
            "timezone": _NULLABLE_STRING, "color": _NULLABLE_STRING,
            "description": _NULLABLE_STRING,
            "components": {"type": "array", "items": {"type": "string"}},
            "is_default": {"type": "boolean", "description": "Events with no calendar go "
                           "here: the first calendar taking VEVENT by calendar-order, then "
                           "age."},
            "owner_email": {**_NULLABLE_STRING, "description": "The API key's owner email, "
                                                               "where known."},
        },
        "required": ["id", "name", "href", "timezone", "color", "description", "components",
                     "is_default", "owner_email"],
        "additionalProperties": False,
    },
    "CalendarInput": {
        "type": "object",
        "properties": {"name": _NAME, "color": _COLOR, "timezone": _ZONE,
                       "description": _DESCRIPTION},
        "required": ["name"],
        "additionalProperties": False,
    },
    "CalendarPatch": {
        "type": "object",
        "description": "JSON Merge Patch (RFC 7396): only the fields sent change.",
        "properties": {"name": _NAME, "color": _nullable(_COLOR),
                       "timezone": _nullable(_ZONE), "description": _nullable(_DESCRIPTION)},
        "additionalProperties": False,
    },
}

_CALENDAR = _json(_ref("Calendar"), "The calendar.")

PATHS: dict[str, Any] = {
    "/calendars": {
        "get": {
            "operationId": "listCalendars", "summary": "The tenant's calendars",
            "responses": {"200": _json({"type": "object", "properties": {"calendars": {
                "type": "array", "items": _ref("Calendar")}}, "required": ["calendars"],
                "additionalProperties": False}, "The calendars."), **_errors(400, 401)},
        },
        "post": {
            "operationId": "createCalendar", "summary": "Create a calendar",
            "description": "CalDAV clients see it at their next sync, as if a client had "
                           "made it (MKCALENDAR): a new UUID as its href, components VEVENT "
                           "and VTODO.",
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": _ref("CalendarInput")}}},
            "responses": {"201": {**_CALENDAR, "description": "Created.", "headers": {
                "Location": {"description": "The calendar's URL.",
                             "schema": {"type": "string"}}}},
                **_errors(400, 401, 403, 413, 415)},
        },
    },
    "/calendars/{calendar_id}": {
        "get": {
            "operationId": "getCalendar", "summary": "One calendar",
            "parameters": [CALENDAR_ID],
            "responses": {"200": _CALENDAR, **_errors(400, 401, 404)},
        },
        "patch": {
            "operationId": "patchCalendar", "summary": "Change a calendar",
            "description": "JSON Merge Patch: only the fields sent change; null clears an "
                           "optional field. Clients see the new displayname, calendar-color, "
                           "calendar-description and calendar-timezone at their next sync.",
            "parameters": [CALENDAR_ID],
            "requestBody": {"required": True, "content": {
                "application/merge-patch+json": {"schema": _ref("CalendarPatch")},
                "application/json": {"schema": _ref("CalendarPatch")}}},
            "responses": {"200": _CALENDAR, **_errors(400, 401, 403, 404, 413, 415)},
        },
        "delete": {
            "operationId": "deleteCalendar", "summary": "Delete a calendar",
            "description": "Refused (409) while it holds events or tasks, unless force=true, "
                           "which deletes them with it (and its trash). Clients see the "
                           "collection go at their next sync.",
            "parameters": [CALENDAR_ID, {
                "name": "force", "in": "query", "required": False,
                "description": "Also delete the events and tasks it holds.",
                "schema": {"type": "string", "enum": ["true", "false"]}}],
            "responses": {"204": {"description": "Deleted."},
                          **_errors(400, 401, 403, 404, 409)},
        },
    },
}
