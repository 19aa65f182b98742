"""The tools' structured outputs: what an agent can rely on, as JSON Schema.

The shapes are the JSON API's (service/event_view.py and friends); fields
the API adds later pass through (extra="allow"), so the schema names what
is guaranteed without freezing the rest.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

ACCESS = Field(None, description="Set when the key is limited: which limits shaped this "
                                 "answer (calendars, time window, read-only).")


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Attendee(Open):
    id: str | None = None
    email: str | None = None
    contact_id: str | None = None
    name: str | None = None
    role: str | None = None
    rsvp_status: str = Field(description="pending, accepted, declined or tentative")


class Reminder(Open):
    type: str = Field(description="display or email")
    minutes_before: int


class Event(Open):
    id: str
    calendar_id: str
    title: str | None
    start_time: str | None = Field(description="UTC date-time (Z), or a date for all-day")
    end_time: str | None
    timezone: str | None
    is_all_day: bool
    status: str
    event_type: str
    rrule: str | None
    attendees: list[Attendee]
    reminders: list[Reminder]
    custom_fields: dict[str, str]
    etag: str = Field(description="Pass as expected_etag to events_update to avoid lost "
                                  "updates")
    accessInfo: str | None = ACCESS


class Occurrence(Open):
    event_id: str
    title: str | None
    occurrence_start: str | None
    occurrence_end: str | None
    recurrence_id: str | None = Field(description="For a repeating event: pass as "
                                                  "occurrence_start to change this one")
    status: str


class EventPage(Open):
    data: list[Occurrence]
    next_cursor: str | None = Field(description="More results: call again with this cursor")
    accessInfo: str | None = ACCESS


class Calendar(Open):
    id: str
    name: str | None
    timezone: str | None
    is_default: bool


class Calendars(Open):
    calendars: list[Calendar]
    accessInfo: str | None = ACCESS


class Now(Open):
    now_utc: str
    time_zone: str
    local_time: str = Field(description="The current wall time in time_zone, with its offset")
    weekday: str
    date: str
    accessInfo: str | None = ACCESS


class Deleted(Open):
    event_id: str
    deleted: bool
    permanent: bool = False
    scope: str


class Availability(Open):
    available: bool
    conflict_count: int
    conflicts: list[dict]
    accessInfo: str | None = ACCESS


class SearchPage(Open):
    hits: list[dict]
    next_cursor: str | None
    accessInfo: str | None = ACCESS


class Response(Open):
    event_id: str
    status: str


class MeetingBrief(Open):
    event: Event
    attendees: list[Attendee]
    links: dict[str, list[dict]]
    related_events: list[dict]
    accessInfo: str | None = ACCESS
