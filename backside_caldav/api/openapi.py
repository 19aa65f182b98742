"""The OpenAPI 3.1 document served at GET /api/v1/openapi.json.

Written by hand next to the handlers it describes; tests/test_sidecar_schema.py
checks it against the live server with schemathesis (status codes, content
types and response bodies must match the document).
"""

from __future__ import annotations

import copy
from typing import Any

from backside_caldav import __version__
from backside_caldav.api import (
    openapi_access,
    openapi_calendars,
    openapi_changes,
    openapi_events,
)

MAX_Q = 200
MAX_ENTITY_ID = 200

_NULLABLE_STRING = {"type": ["string", "null"]}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_UUID = {"type": "string", "format": "uuid"}
_TIME = {"type": "string", "format": "date-time"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict[str, Any], required: list[str] | None = None,
         description: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "required": list(properties) if required is None else required,
                              "additionalProperties": False}
    if description:
        schema["description"] = description
    return schema


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/problem+json": {"schema": _ref("Problem")}}}


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {
        400: "A parameter or body field is invalid (the problem names it).",
        401: "No API key, or an unknown or expired one.",
        403: "The API key may not do this (it is read-only, or the event lies outside "
             "its calendars or time window).",
        404: "No such event, link or attendee in this tenant.",
        413: "The body is over 64 KiB.",
        415: "The body is not JSON.",
        422: "A series in range has too many occurrences to expand.",
    }
    out: dict[str, Any] = {}
    for status in statuses:
        out[str(status)] = _problem(texts[status])
    if 401 in statuses:
        out["401"]["headers"] = {"WWW-Authenticate": {
            "description": "Bearer challenge", "schema": {"type": "string"}}}
    out["default"] = _problem("Any other error, as an RFC 9457 problem document.")
    return out


def _param(name: str, schema: dict[str, Any], description: str, required: bool = False,
           where: str = "query", **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path",
            "description": description, "schema": schema, **extra}


EVENT_ID = _param("event_id", _UUID, "The id of a series or single event (events.id).",
                  where="path")
LIMIT_NOTE = "Page size."
CURSOR = _param("cursor", {"type": "string", "maxLength": 400},
                "next_cursor of the previous page, with the same other parameters.")

SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details.",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "errors": {"type": "array", "items": _obj(
                {"parameter": {"type": "string"}, "message": {"type": "string"}})},
        },
        "required": ["type", "title", "status", "detail"],
    },
    "Occurrence": {
        "type": ["object", "null"],
        "description": "The first occurrence in the search window (null: not worked out, "
                       "the series is too dense to expand).",
        "properties": {"start": _TIME, "end": _TIME, "recurrence_id": _NULLABLE_TIME},
        "required": ["start", "end", "recurrence_id"],
        "additionalProperties": False,
    },
    "SearchHit": _obj({
        "id": _UUID, "calendar_id": _UUID, "title": _NULLABLE_STRING,
        "description": _NULLABLE_STRING, "location": _NULLABLE_STRING, "start": _TIME,
        "end": _NULLABLE_TIME, "all_day": {"type": "boolean"}, "timezone": _NULLABLE_STRING,
        "recurring": {"type": "boolean"},
        "status": {"type": ["string", "null"], "enum": ["confirmed", "tentative", "cancelled",
                                                         None]},
        "score": {"type": "number"},
        "occurrence": _ref("Occurrence"),
    }, required=["id", "calendar_id", "title", "description", "location", "start", "end",
                 "all_day", "timezone", "recurring", "status", "score"]),
    "SearchResult": _obj({"hits": {"type": "array", "items": _ref("SearchHit")},
                          "next_cursor": _NULLABLE_STRING}),
    "FreeBusy": _obj({
        "start": _TIME, "end": _TIME,
        "busy": {"type": "array", "items": _obj({"start": _TIME, "end": _TIME}),
                 "description": "Every blocked interval, tentative ones included."},
        "tentative": {"type": "array", "items": _obj({"start": _TIME, "end": _TIME}),
                      "description": "The parts of busy that only tentative instances "
                                     "hold (FBTYPE=BUSY-TENTATIVE in CalDAV)."},
    }),
    "AvailabilityRequest": _obj({
        "start": _TIME, "end": _TIME,
        "calendar_ids": {"type": "array", "items": _UUID, "minItems": 1, "maxItems": 100,
                         "description": "Only these calendars (default: all of the tenant's)."},
        "attendee_email": {"type": "string", "format": "email", "maxLength": 320,
                           "description": "Also ask about this attendee: an event that "
                                          "they and the owners all declined is free."},
    }, required=["start", "end"]),
    "Conflict": _obj({
        "event_id": _UUID, "calendar_id": _UUID, "title": _NULLABLE_STRING, "start": _TIME,
        "end": _TIME, "all_day": {"type": "boolean"}, "recurrence_id": _NULLABLE_TIME,
        "tentative": {"type": "boolean", "const": True,
                      "description": "Present on tentative instances only (STATUS:TENTATIVE, "
                                     "or the owners / attendee answered tentative)."},
    }, required=["event_id", "calendar_id", "title", "start", "end", "all_day",
                 "recurrence_id"]),
    "AvailabilityResult": _obj({
        "available": {"type": "boolean"},
        "conflict_count": {"type": "integer", "minimum": 0},
        "conflicts": {"type": "array", "maxItems": 200, "items": _ref("Conflict")},
    }),
    "Link": _obj({
        "id": _UUID, "event_id": _UUID,
        "entity_type": {"type": "string", "enum": ["contact", "task", "note", "deal"]},
        "entity_id": {"type": "string"}, "created_at": _TIME,
    }),
    "LinkInput": _obj({
        "entity_type": {"type": "string", "enum": ["contact", "task", "note", "deal"]},
        "entity_id": {"type": "string", "minLength": 1, "maxLength": MAX_ENTITY_ID,
                      "pattern": r"\S"},
    }),
    "LinkList": _obj({"links": {"type": "array", "items": _ref("Link")}}),
    "Attendee": {
        "type": ["object", "null"],
        "properties": {"email": _NULLABLE_STRING,
                       "contact_id": {"type": ["string", "null"], "format": "uuid"},
                       "name": _NULLABLE_STRING,
                       "rsvp_status": {"type": "string", "enum": ["pending", "accepted",
                                                                  "declined", "tentative"]}},
        "required": ["email", "contact_id", "name", "rsvp_status"],
        "additionalProperties": False,
    },
    "LinkedEvent": _obj({
        "id": _UUID, "calendar_id": _UUID, "title": _NULLABLE_STRING,
        "location": _NULLABLE_STRING, "start": _TIME, "end": _NULLABLE_TIME,
        "all_day": {"type": "boolean"}, "timezone": _NULLABLE_STRING,
        "recurring": {"type": "boolean"}, "status": _NULLABLE_STRING,
        "link_ids": {"type": "array", "items": _UUID},
        "attendee": _ref("Attendee"),
    }),
    "LinkedEvents": _obj({"events": {"type": "array", "items": _ref("LinkedEvent")},
                          "next_cursor": _NULLABLE_STRING}),
    "RespondRequest": {
        "type": "object",
        "properties": {
            "email": {"type": "string", "format": "email", "maxLength": 320},
            "contact_id": _UUID,
            "status": {"type": "string", "enum": ["pending", "accepted", "declined",
                                                  "tentative"]},
        },
        "required": ["status"],
        "oneOf": [{"required": ["email"]}, {"required": ["contact_id"]}],
        "additionalProperties": False,
    },
    "RespondResult": _obj({
        "event_id": _UUID,
        "status": {"type": "string"},
        "changed": {"type": "integer", "minimum": 0,
                    "description": "Attendee rows whose status changed (series and overrides)."},
        "attendee": _ref("Attendee"),
    }),
}

_DATETIME_NOTE = "RFC 3339 date-time with a UTC offset, between 1900 and 2200."

PATHS: dict[str, Any] = {
    "/openapi.json": {"get": {
        "operationId": "openapi", "summary": "This document", "security": [],
        "responses": {"200": _json({"type": "object"}, "The OpenAPI document."),
                      "default": _problem("Error.")},
    }},
    **openapi_calendars.PATHS,
    "/events/search": {"get": {
        "operationId": "searchEvents",
        "summary": "Ranked full-text search over title, location and description",
        "description": "Every word of q matches as a word prefix, or q (3+ characters) as a "
                       "substring. Series are hits once (overrides and trashed events never "
                       "are). With start and end, only events with an occurrence in "
                       "[start, end) are hits, and `occurrence` gives the first; with only "
                       "one of them, the event's overall span is compared.",
        "parameters": [
            _param("q", {"type": "string", "minLength": 1, "maxLength": MAX_Q},
                   "The text to find.", required=True),
            _param("calendar_id", _UUID, "Only this calendar."),
            _param("start", _TIME, "Window start. " + _DATETIME_NOTE),
            _param("end", _TIME, "Window end (after start). " + _DATETIME_NOTE),
            _param("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                   LIMIT_NOTE),
            CURSOR,
        ],
        "responses": {"200": _json(_ref("SearchResult"), "Hits, best first. A page can "
                                   "hold fewer than limit hits; continue while next_cursor "
                                   "is not null."),
                      **_errors(400, 401)},
    }},
    "/freebusy": {"get": {
        "operationId": "freeBusy", "summary": "Merged busy intervals in a range",
        "description": "The same rules as a CalDAV free-busy-query: instances that "
                       "are cancelled, transparent, working-location markers or "
                       "zero-length do not count, nor those that the calendar owners "
                       "(logins that are email addresses) and attendee_email all "
                       "declined; STATUS:TENTATIVE or their tentative answer makes an "
                       "instance tentative; all-day events block whole days in their "
                       "timezone. The range may span at most 366 days.",
        "parameters": [
            _param("start", _TIME, _DATETIME_NOTE, required=True),
            _param("end", _TIME, "After start, at most 366 days later. " + _DATETIME_NOTE,
                   required=True),
            _param("calendar_id", {"type": "array", "items": _UUID, "maxItems": 100},
                   "Only these calendars (repeat the parameter); default all.",
                   style="form", explode=True),
            _param("attendee_email", {"type": "string", "format": "email", "maxLength": 320},
                   "Also ask about this attendee: an event that they and the "
                   "owners all declined is free."),
        ],
        "responses": {"200": _json(_ref("FreeBusy"), "Busy intervals, clipped to the range."),
                      **_errors(400, 401, 422)},
    }},
    "/availability/check": {"post": {
        "operationId": "checkAvailability", "summary": "Is a time range free?",
        "description": "Lists the blocking instances that overlap [start, end) (the same "
                       "rules as /freebusy; at most 200 are listed, conflict_count counts "
                       "all).",
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": _ref("AvailabilityRequest")}}},
        "responses": {"200": _json(_ref("AvailabilityResult"), "The answer."),
                      **_errors(400, 401, 413, 415, 422)},
    }},
    "/events/{event_id}/links": {
        "get": {
            "operationId": "listLinks", "summary": "An event's links",
            "parameters": [EVENT_ID],
            "responses": {"200": _json(_ref("LinkList"), "The links, oldest first."),
                          **_errors(400, 401, 404)},
        },
        "post": {
            "operationId": "addLink", "summary": "Link an event to a contact, task, note or deal",
            "parameters": [EVENT_ID],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": _ref("LinkInput")}}},
            "responses": {"201": _json(_ref("Link"), "Created."),
                          "200": _json(_ref("Link"), "The same link existed already."),
                          **_errors(400, 401, 403, 404, 413, 415)},
        },
    },
    "/events/{event_id}/links/{link_id}": {"delete": {
        "operationId": "deleteLink", "summary": "Remove a link",
        "parameters": [EVENT_ID, _param("link_id", _UUID, "The link's id.", where="path")],
        "responses": {"204": {"description": "Removed."}, **_errors(400, 401, 403, 404)},
    }},
    "/links": {"get": {
        "operationId": "linkedEvents", "summary": "The events tied to one record",
        "description": "Events linked to the entity; for entity_type=contact also the "
                       "events where it is an attendee (by contact_id when entity_id is a "
                       "UUID, by email when it contains '@'). Ordered by start.",
        "parameters": [
            _param("entity_type", {"type": "string",
                                   "enum": ["contact", "task", "note", "deal"]},
                   "The kind of record.", required=True),
            _param("entity_id", {"type": "string", "minLength": 1,
                                 "maxLength": MAX_ENTITY_ID},
                   "The record's id (or a contact's email).", required=True),
            _param("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                   LIMIT_NOTE),
            {**CURSOR, "schema": {"type": "string", "maxLength": 200}},
        ],
        "responses": {"200": _json(_ref("LinkedEvents"), "The events."),
                      **_errors(400, 401)},
    }},
    "/events/{event_id}/respond": {"post": {
        "operationId": "respond", "summary": "Set an attendee's RSVP",
        "description": "Sets rsvp_status of the attendee (by email or contact_id) on the "
                       "series and its overrides; CalDAV clients see the new PARTSTAT at "
                       "their next sync.",
        "parameters": [EVENT_ID],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": _ref("RespondRequest")}}},
        "responses": {"200": _json(_ref("RespondResult"), "Done."),
                      **_errors(400, 401, 403, 404, 413, 415)},
    }},
}

openapi_events.merge_into(PATHS, SCHEMAS)
SCHEMAS.update(openapi_calendars.SCHEMAS)
PATHS.update(openapi_changes.PATHS)
SCHEMAS.update(openapi_changes.SCHEMAS)
openapi_access.apply(PATHS, SCHEMAS)  # last: it reaches every keyed operation

_DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "backside-caldav sidecar API",
        "version": __version__,
        "description": "Events (list, read, create, merge-patch, cancel, trash, restore, "
                       "attendees), calendars, search, availability, links, RSVP and the change feed "
                       "(polled or live) over "
                       "the tenant's calendar tables. Authenticate with 'Authorization: Bearer <API key>' "
                       "(`backside-caldav apikey add --tenant NAME`); a key sees only its "
                       "tenant, a read-only key cannot write. Errors are RFC 9457 "
                       "application/problem+json documents.",
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearerAuth": []}],
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                           "description": "An API key (bsk_...)."}},
    },
}


def document() -> dict[str, Any]:
    """A fresh copy (callers may not mutate the shared one)."""
    return copy.deepcopy(_DOCUMENT)
