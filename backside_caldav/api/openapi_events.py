"""The event endpoints' part of the OpenAPI document (api/openapi.py merges it).

Written from the code it describes: api/events.py (statuses, ETag and
Location), service/events.py and service/event_list.py (parameters and the
errors each operation can answer); the schemas are in openapi_event_schemas.py.
"""

from __future__ import annotations

from typing import Any

from backside_caldav.api.openapi_event_schemas import (
    ETAG,
    RSVP,
    SCHEMAS,
    TIME,
    UUID,
    WHEN_IN,
    choice,
    ref,
)
from backside_caldav.domain.records import EVENT_TYPES, STATUSES
from backside_caldav.service import event_list


def _json(schema: dict[str, Any], description: str,
          headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description,
                           "content": {"application/json": {"schema": schema}}}
    if headers:
        out["headers"] = headers
    return out


_ERRORS = {
    400: "A parameter or body field is invalid (the problem names it in `errors`).",
    401: "No API key, or an unknown one.",
    403: "The key may not do this: read-only, a calendar or time window outside its "
         "limits, or a permanent delete without scope admin.",
    404: "No such event (another tenant's, in the trash, outside the key's limits, or a "
         "malformed id), attendee or occurrence.",
    409: "The write cannot be done as asked: the slot is taken (check_availability; the "
         "problem lists `conflicts`), no calendar, a trashed event's name is taken, or the "
         "stored text cannot be edited.",
    412: "If-Match names an older revision; nothing was written. ETag gives the current one.",
    413: "The body is over 64 KiB.",
    415: "The body is not JSON (application/json or application/merge-patch+json).",
    422: "A series in the slot has too many occurrences to check availability.",
    429: "Over the API key's rate limit.",
}


def _errors(*statuses: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status in (400, 401, *statuses, 429):
        out[str(status)] = {"description": _ERRORS[status], "content": {
            "application/problem+json": {"schema": ref("Problem")}}}
    out["401"]["headers"] = {"WWW-Authenticate": {"description": "Bearer challenge",
                                                  "schema": {"type": "string"}}}
    if "412" in out:
        out["412"]["headers"] = {"ETag": {"description": "The current ETag.",
                                          "schema": {"type": "string"}}}
    out["429"]["headers"] = {"Retry-After": {"description": "Seconds to wait.",
                                             "schema": {"type": "string"}}}
    out["default"] = {"description": "Any other error, as an RFC 9457 problem document.",
                      "content": {"application/problem+json": {"schema": ref("Problem")}}}
    return out


def _param(name: str, schema: dict[str, Any], description: str, where: str = "query",
           **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path",
            "description": description, "schema": schema, **extra}


def _flag(name: str, description: str) -> dict[str, Any]:
    return _param(name, {"type": "boolean", "default": False}, description)


EVENT_ID = _param("event_id", UUID, "The series' or single event's id (a malformed one is "
                                     "a 404).", where="path")
ATTENDEE_ID = _param("attendee_id", UUID, "The attendee's id (from the event's attendees).",
                     where="path")
IF_MATCH = _param("If-Match", {"type": "string", "maxLength": 200},
                  "Write only if the event's ETag is one of these (or *): 412 otherwise.",
                  where="header")
RECURRENCE_ID = _param("recurrence_id", {"type": "string", "pattern": WHEN_IN},
                       "One occurrence of a series, by its original start (as the list gives "
                       "it: a date for an all-day series, else a date-time with an offset).")
_DT = "RFC 3339 date-time with a UTC offset, between 1900 and 2200."

# --- paths -----------------------------------------------------------------------

_EVENT = _json(ref("Event"), "The event.", ETAG)
_CREATED = {"ETag": ETAG["ETag"], "Location": {
    "description": "The new resource's URL.", "required": True, "schema": {"type": "string"}}}
_JSON_BODY = {"required": True, "content": {"application/json": {"schema": ref("EventInput")}}}


def _patch_body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {media: {"schema": ref(name)} for media in (
        "application/merge-patch+json", "application/json")}}


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": ref(name)}}}


_TIME_ZONE = _param("time_zone", {"type": "string", "minLength": 1, "maxLength": 64,
                                  "examples": ["Europe/Berlin"]},
                    "IANA zone of date and the overview's days (default: the default "
                    "calendar's, else UTC).")
_LIST_PARAMS = [
    _param("start", TIME, "Window start (with end; at most 366 days). " + _DT),
    _param("end", TIME, "Window end, after start. " + _DT),
    _param("date", {"type": "string",
                    "pattern": r"^(today|tomorrow|this_week|this_month|\d{4}-\d{2}-\d{2})$"},
           "A day or span in time_zone instead of start and end: today, tomorrow, this_week "
           "(Monday to Monday), this_month or YYYY-MM-DD."),
    _TIME_ZONE,
    *[_param(name, TIME, f"Only occurrences that {name.replace('_', ' ')} this instant.")
      for name in ("start_after", "start_before", "end_after", "end_before")],
    _param("calendar_id", {"type": "array", "items": UUID, "maxItems": 50},
           "Only these calendars (repeat the parameter).", style="form", explode=True),
    _param("calendar_name", {"type": "string", "minLength": 1, "maxLength": 200},
           "Only the calendars of this name (not with calendar_id)."),
    _param("event_type", choice(EVENT_TYPES), "Only this type."),
    _param("status", choice(STATUSES), "Only this status (no STATUS counts as confirmed)."),
    _param("rsvp_status", choice(RSVP), "Only events where attendee_email answered so."),
    _param("attendee_email", {"type": "string", "maxLength": 320,
                              "pattern": r"^[^@\s]+@[^@\s]+$"},
           "With rsvp_status (default: the key's owner email)."),
    _param("q", {"type": "string", "minLength": 1, "maxLength": 200},
           "Text search over title, location and description."),
    _flag("include_deleted", "Also events in the trash."),
    _flag("only_deleted", "Only events in the trash."),
    _param("sort", {**choice(event_list.SORTS), "default": "start"}, "Sort key."),
    _param("order", {**choice(["asc", "desc"]), "default": "asc"}, "Sort order."),
    _param("limit", {"type": "integer", "minimum": 1, "maximum": event_list.MAX_LIMIT,
                     "default": event_list.DEFAULT_LIMIT}, "Page size."),
    _param("cursor", {"type": "string", "maxLength": 300},
           "next_cursor of the previous page, with the same other parameters."),
    _param("format", {**choice(["full", "compact"]), "default": "full"},
           "compact: only id, title, times, status and recurrence_id."),
]

PATHS: dict[str, Any] = {
    "/events": {
        "get": {
            "operationId": "listEvents", "summary": "List events or their occurrences",
            "description": "With a window (start and end, or date), one item per occurrence "
                           "from the instance index, series expanded; without, one item per "
                           "event. A key limited to a window sees only what lies inside it.",
            "parameters": _LIST_PARAMS,
            "responses": {"200": _json(ref("EventList"), "A page; continue while next_cursor "
                                                          "is not null."), **_errors()},
        },
        "post": {
            "operationId": "createEvent", "summary": "Create an event",
            "description": "Writes the rows and an iCalendar text CalDAV clients read back "
                           "whole (VALARMs, X- properties, ATTENDEEs, RRULE, VTIMEZONE).",
            "requestBody": _JSON_BODY,
            "responses": {"201": _json(ref("Event"), "Created.", _CREATED),
                          "200": _json(ref("Event"), "An event with this client id exists "
                                                      "already; nothing was written.", _CREATED),
                          **_errors(403, 404, 409, 413, 415, 422)},
        },
    },
    "/events/overview": {"get": {
        "operationId": "eventOverview", "summary": "Counts of upcoming events",
        "description": "Occurrences from now not declined by the key's owner: the rest of "
                       "today, tomorrow, and the rest of this week after tomorrow.",
        "parameters": [_TIME_ZONE],
        "responses": {"200": _json(ref("EventOverview"), "The counts."), **_errors()},
    }},
    "/events/{event_id}": {
        "get": {
            "operationId": "readEvent", "summary": "Read an event",
            "parameters": [EVENT_ID, _flag("include_deleted", "Also when it is in the trash.")],
            "responses": {"200": _EVENT, **_errors(404)},
        },
        "patch": {
            "operationId": "patchEvent", "summary": "Change an event (JSON Merge Patch)",
            "description": "Only the fields sent change; properties the API does not map "
                           "survive. With recurrence_id, one occurrence changes (an override).",
            "parameters": [EVENT_ID, RECURRENCE_ID, IF_MATCH],
            "requestBody": _patch_body("EventPatch"),
            "responses": {"200": _EVENT, **_errors(403, 404, 409, 412, 413, 415)},
        },
        "delete": {
            "operationId": "deleteEvent", "summary": "Trash an event, or remove one occurrence",
            "parameters": [EVENT_ID, _flag("permanent", "Remove the rows for good (scope "
                                                        "admin; also from the trash)."),
                           RECURRENCE_ID, IF_MATCH],
            "responses": {"204": {"description": "In the trash (or gone, with permanent)."},
                          "200": _json(ref("Event"), "With recurrence_id: the series, with "
                                                      "that occurrence excluded.", ETAG),
                          **_errors(403, 404, 409, 412)},
        },
    },
    "/events/{event_id}/custom": {"patch": {
        "operationId": "patchCustomFields", "summary": "Merge into custom_fields",
        "parameters": [EVENT_ID, IF_MATCH],
        "requestBody": _patch_body("CustomFieldsPatch"),
        "responses": {"200": _EVENT, **_errors(403, 404, 409, 412, 413, 415)},
    }},
    "/events/{event_id}/cancel": {"post": {
        "operationId": "cancelEvent", "summary": "Set status cancelled (one occurrence with "
                                                 "recurrence_id)",
        "parameters": [EVENT_ID, RECURRENCE_ID, IF_MATCH],
        "responses": {"200": _EVENT, **_errors(403, 404, 409, 412)},
    }},
    "/events/{event_id}/restore": {"post": {
        "operationId": "restoreEvent", "summary": "Bring an event back from the trash",
        "description": "A live event is answered as it is.",
        "parameters": [EVENT_ID],
        "responses": {"200": _EVENT, **_errors(403, 404, 409)},
    }},
    "/events/{event_id}/attendees": {
        "get": {
            "operationId": "listAttendees", "summary": "An event's attendees",
            "parameters": [EVENT_ID],
            "responses": {"200": _json(ref("AttendeeList"), "The attendees.", ETAG),
                          **_errors(404)},
        },
        "post": {
            "operationId": "addAttendee", "summary": "Add an attendee",
            "parameters": [EVENT_ID, IF_MATCH],
            "requestBody": _body("AttendeeInput"),
            "responses": {"201": _json(ref("EventAttendee"), "Added.", _CREATED),
                          "200": _json(ref("EventAttendee"), "Already an attendee.", _CREATED),
                          **_errors(403, 404, 409, 412, 413, 415)},
        },
    },
    "/events/{event_id}/attendees/{attendee_id}": {
        "put": {
            "operationId": "setAttendeeResponse", "summary": "Set one attendee's response",
            "parameters": [EVENT_ID, ATTENDEE_ID, IF_MATCH],
            "requestBody": _body("AttendeeResponse"),
            "responses": {"200": _json(ref("EventAttendee"), "The attendee.", ETAG),
                          **_errors(403, 404, 409, 412, 413, 415)},
        },
        "delete": {
            "operationId": "removeAttendee", "summary": "Remove an attendee",
            "parameters": [EVENT_ID, ATTENDEE_ID, IF_MATCH],
            "responses": {"204": {"description": "Removed."},
                          **_errors(403, 404, 409, 412)},
        },
    },
}


def merge_into(paths: dict[str, Any], schemas: dict[str, Any]) -> None:
    """Add this part to the document's paths and schemas (names must not clash)."""
    clash = (set(paths) & set(PATHS)) | (set(schemas) & set(SCHEMAS))
    if clash:
        raise ValueError(f"defined twice in the OpenAPI document: {sorted(clash)}")
    paths.update(PATHS)
    schemas.update(SCHEMAS)
