"""The event endpoints' schemas in the OpenAPI document: the event as
service/event_view.py shows it, the list items and envelope, the overview,
and the inputs of service/event_input.py. openapi_events.py holds the paths
and adds both to the document.

Input schemas are never stricter than the service (a request the document
calls invalid must be refused: tests/test_sidecar_schema.py sends such
requests); finer rules (a real date, a known time zone, exactly one of email
and contact_id) are in the descriptions and answered with a 400 naming the
field.
"""

from __future__ import annotations

from typing import Any

from backside_caldav.domain.event_edit import REMINDER_TYPES
from backside_caldav.domain.records import EVENT_TYPES, STATUSES
from backside_caldav.service import event_input as inp
from backside_caldav.service import event_list

UUID = {"type": "string", "format": "uuid"}
TIME = {"type": "string", "format": "date-time"}
_TEXT = {"type": ["string", "null"]}
_NTIME = {"type": ["string", "null"], "format": "date-time"}
_WHEN = {"type": "string", "description": "A date (all-day events; an end is exclusive) or a "
                                          "UTC date-time."}
ETAG = {"ETag": {"description": "The event's ETag (the one CalDAV clients see).",
                 "required": True, "schema": {"type": "string"}}}
# What start_time, end_time, exdates and recurrence_id accept: a date, a date-time with
# an offset, or a wall time (no offset) in the event's zone.
WHEN_IN = r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})?)?$"
RSVP = list(inp.RSVP)
_ROLES = [*inp.ROLES, *sorted(set(inp.ROLES.values()))]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _null(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema, or null (the service treats null as "not given" or "clear it")."""
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    out = dict(schema)
    out["type"] = [schema["type"], "null"]
    if "enum" in schema:
        out["enum"] = [*schema["enum"], None]
    return out


def choice(values: list[str] | tuple[str, ...]) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


def _obj(properties: dict[str, Any], required: list[str] | None = None,
         optional: tuple[str, ...] | list[str] = (), **extra: Any) -> dict[str, Any]:
    if required is None:
        required = [name for name in properties if name not in optional]
    return {"type": "object", "properties": properties, "required": required,
            "additionalProperties": False, **extra}


_ATTENDEE_IN = _obj({
    "email": _null({"type": "string", "maxLength": 320, "pattern": r"^[^@\s]+@[^@\s]+$"}),
    "contact_id": _null(UUID),
    "name": _null({"type": "string", "maxLength": 200}),
    "role": _null(choice(_ROLES)),
    "rsvp_status": _null(choice(RSVP)),
}, required=[], description="Exactly one of email and contact_id. role: required (default), "
                            "optional, chair or non-participant; rsvp_status default pending.")
_REMINDER = _obj({
    "type": _null(choice(REMINDER_TYPES)),
    "minutes_before": {"type": "integer", "minimum": 0, "maximum": inp.MAX_REMINDER_MINUTES},
}, required=["minutes_before"])
_RECURRENCE_IN = _obj({
    "freq": choice([f.lower() for f in inp.FREQS]),
    "interval": _null({"type": "integer", "minimum": 1, "maximum": 1000}),
    "byday": _null({"type": "array", "minItems": 1, "items": {"type": "string"},
                    "description": "MO..SU, optionally with an ordinal such as 1MO or -1FR."}),
    "bymonthday": _null({"type": "array", "minItems": 1, "items": {
        "type": "integer", "minimum": -31, "maximum": 31, "not": {"const": 0}}}),
    "until": _null({"type": "string", "pattern": WHEN_IN}),
    "count": _null({"type": "integer", "minimum": 1, "maximum": 10000}),
}, required=["freq"], description="The object form of an RRULE (hourly at most; not both "
                                  "until and count).")
_CUSTOM = {"type": "object", "maxProperties": inp.MAX_CUSTOM_FIELDS,
           "propertyNames": {"pattern": "^[xX]-"},
           "description": "X- property names (x-deal-stage is X-DEAL-STAGE; x-backside-* is "
                          "the server's own) to string or number values.",
           "additionalProperties": {"type": ["string", "number"],
                                    "maxLength": inp.MAX_CUSTOM_VALUE}}
_CUSTOM_PATCH = {**_CUSTOM, "additionalProperties": {
    "type": ["string", "number", "null"], "maxLength": inp.MAX_CUSTOM_VALUE},
    "description": "Merged key by key into custom_fields; null removes a field."}
_START = {"type": "string", "pattern": WHEN_IN,
          "description": "A date (all-day) or a date-time; without an offset it is wall time "
                         "in timezone (else the calendar's zone)."}
_FIELDS: dict[str, Any] = {
    "title": {"type": "string", "minLength": 1, "maxLength": inp.MAX_TITLE},
    "description": _null({"type": "string", "maxLength": inp.MAX_DESCRIPTION}),
    "location": _null({"type": "string", "maxLength": inp.MAX_LOCATION}),
    "start_time": _START,
    "end_time": _null({**_START, "description": "After start_time (default: one hour, or "
                                                "one day for an all-day event)."}),
    "timezone": _null({"type": "string", "minLength": 1, "maxLength": 64,
                       "description": "IANA name; required for a recurring timed event.",
                       "examples": ["Europe/Berlin"]}),
    "is_all_day": _null({"type": "boolean"}),
    "event_type": _null(choice(EVENT_TYPES)),
    "status": _null(choice(STATUSES)),
    "transparency": _null(choice(inp.TRANSPARENCIES)),
    "rrule": _null({"type": "string", "minLength": 1, "maxLength": 1000,
                    "description": "RFC 5545 RRULE value, e.g. FREQ=WEEKLY;BYDAY=MO."}),
    "recurrence": _null(ref("RecurrenceInput")),
    "exdates": _null({"type": "array", "maxItems": inp.MAX_EXDATES,
                      "items": {"type": "string", "pattern": WHEN_IN}}),
    "attendees": _null({"type": "array", "maxItems": inp.MAX_ATTENDEES,
                        "items": ref("AttendeeInput")}),
    "reminders": _null({"type": "array", "maxItems": inp.MAX_REMINDERS,
                        "items": ref("Reminder")}),
}
_CALENDAR_ID = _null({**UUID, "description": "Default: the tenant's default calendar."})

SCHEMAS: dict[str, Any] = {
    "AttendeeInput": _ATTENDEE_IN,
    "Reminder": _REMINDER,
    "RecurrenceInput": _RECURRENCE_IN,
    "EventInput": _obj({
        "id": _null({**UUID, "description": "A client id: a repeat answers 200 with the "
                                             "event, never a duplicate."}),
        "calendar_id": _CALENDAR_ID,
        "calendar_name": _null({"type": "string", "minLength": 1, "maxLength": 200}),
        **_FIELDS, "custom_fields": _null(_CUSTOM),
        "check_availability": _null({"type": "boolean", "description": "true: 409 with the "
                                     "conflicts when the slot is taken, nothing written."}),
    }, required=["title", "start_time"], examples=[
        {"title": "Planning", "start_time": "2026-03-03T09:00:00+01:00",
         "timezone": "Europe/Berlin", "rrule": "FREQ=WEEKLY;COUNT=3",
         "attendees": [{"email": "bob@example.com"}], "reminders": [{"minutes_before": 15}],
         "custom_fields": {"x-deal-stage": "won"}},
        {"title": "Offsite", "start_time": "2026-03-05", "is_all_day": True}]),
    "EventPatch": _obj({
        "calendar_id": _null({**UUID, "description": "Move the event to this calendar."}),
        **_FIELDS, "start_time": _null(_START), "custom_fields": _null(_CUSTOM_PATCH),
        "recurrence_id": _null({"type": "string", "pattern": WHEN_IN,
                                "description": "Change only this occurrence."}),
    }, required=[], description="JSON Merge Patch: fields left out keep their value, null "
                                "clears an optional one (title cannot be cleared); attendees "
                                "and reminders replace the list.",
        examples=[{"title": "Renamed", "location": None}, {"reminders": [
            {"type": "email", "minutes_before": 30}]}]),
    "CustomFieldsPatch": {**_CUSTOM_PATCH, "examples": [{"x-deal-stage": "lost"}]},
    "AttendeeResponse": _obj({
        "rsvp_status": choice(RSVP), "name": _null({"type": "string", "maxLength": 200}),
        "role": _null(choice(_ROLES))}, required=["rsvp_status"]),
    "EventAttendee": _obj({
        "id": UUID, "email": _TEXT, "contact_id": {"type": ["string", "null"],
                                                    "format": "uuid"},
        "name": _TEXT, "role": {**_TEXT, "description": "CHAIR, REQ-PARTICIPANT ... as in "
                                                        "the ATTENDEE line."},
        "rsvp_status": choice(RSVP)}),
    "Recurrence": {"type": ["object", "null"], "additionalProperties": False,
                   "properties": {
                       "freq": _TEXT, "interval": {"type": "integer"},
                       "byday": {"type": ["array", "null"], "items": {"type": "string"}},
                       "bymonthday": {"type": ["array", "null"], "items": {"type": "integer"}},
                       "until": {**_TEXT, "description": "A date, a UTC date-time or a "
                                                         "floating one."},
                       "count": {"type": ["integer", "null"]}},
                   "required": ["freq", "interval", "byday", "bymonthday", "until", "count"]},
    "Override": _obj({
        "id": UUID, "recurrence_id": _WHEN, "start_time": _WHEN, "end_time": _null(_WHEN),
        "title": _TEXT, "location": _TEXT, "status": choice(STATUSES),
        "cancelled": {"type": "boolean"}}),
    "Event": _obj({
        "id": UUID, "calendar_id": UUID, "calendar_name": {"type": "string"},
        "uid": {"type": "string"}, "title": _TEXT, "description": _TEXT, "location": _TEXT,
        "start_time": _WHEN, "end_time": _null(_WHEN), "timezone": _TEXT,
        "is_all_day": {"type": "boolean"}, "event_type": choice(EVENT_TYPES),
        "status": choice(STATUSES), "transparency": choice(inp.TRANSPARENCIES),
        "organizer": _TEXT, "sequence": {"type": "integer"}, "rrule": _TEXT,
        "recurrence": ref("Recurrence"),
        "exdates": {"type": "array", "items": _WHEN},
        "rdates": {"type": "array", "items": _WHEN},
        "next_occurrence": _NTIME,
        "attendees": {"type": "array", "items": ref("EventAttendee")},
        "links": {"type": "array", "items": _obj({
            "id": UUID, "entity_type": choice(["contact", "task", "note", "deal"]),
            "entity_id": {"type": "string"}})},
        "reminders": {"type": "array", "items": _obj({
            "type": choice(REMINDER_TYPES), "minutes_before": {"type": "integer",
                                                                "minimum": 0}})},
        "custom_fields": {"type": "object", "additionalProperties": {"type": "string"}},
        "overrides": {"type": "array", "items": ref("Override"),
                      "description": "Moved, changed or cancelled occurrences."},
        "created_at": TIME, "updated_at": TIME, "deleted_at": _NTIME,
        "etag": {"type": "string"},
        "currentUserCalendarEmail": {"type": "string", "description": "The key's owner."},
    }, optional=["currentUserCalendarEmail"]),
    "EventListItem": _obj({
        "event_id": UUID, "id": UUID, "calendar_id": UUID, "title": _TEXT,
        "location": _TEXT, "occurrence_start": _WHEN, "occurrence_end": _null(_WHEN),
        "recurrence_id": {**_TEXT, "description": "null for a single event (or a series "
                                                  "listed without a window)."},
        "is_all_day": {"type": "boolean"}, "timezone": _TEXT, "recurring": {"type": "boolean"},
        "status": choice(STATUSES), "event_type": choice(EVENT_TYPES),
        "created_at": TIME, "updated_at": TIME, "deleted_at": _NTIME,
        "etag": {"type": "string"}}),
    "EventListItemCompact": _obj({
        "id": UUID, "title": _TEXT, "start": _WHEN, "end": _null(_WHEN),
        "status": choice(STATUSES), "recurrence_id": _TEXT}),
    "EventList": _obj({
        "data": {"type": "array", "maxItems": event_list.MAX_LIMIT, "items": {"anyOf": [
            ref("EventListItem"), ref("EventListItemCompact")]},
            "description": "EventListItem, or EventListItemCompact with format=compact."},
        "next_cursor": _TEXT,
        "currentUserCalendarEmail": {"type": "string"}}, required=["data", "next_cursor"]),
    "EventOverview": _obj({
        "time_zone": {"type": "string"}, "now": TIME,
        "today": {"type": "integer", "minimum": 0},
        "tomorrow": {"type": "integer", "minimum": 0},
        "rest_of_week": {"type": "integer", "minimum": 0},
        "currentUserCalendarEmail": {"type": "string"}},
        required=["time_zone", "now", "today", "tomorrow", "rest_of_week"]),
    "AttendeeList": _obj({"attendees": {"type": "array", "items": ref("EventAttendee")}}),
}
