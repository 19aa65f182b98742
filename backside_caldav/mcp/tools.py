"""The MCP tools: thin adapters over the service functions the JSON API calls.

No SQL and no iCalendar here: each tool maps its arguments onto a service
call (service/events.py, event_list.py, calendars.py ...) through calls.call,
which brings the key, the transaction and the error sentences. A read-only
key is offered the read tools only (server.py builds one server per kind).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from backside_caldav.db import calendars as calendar_rows
from backside_caldav.mcp import models
from backside_caldav.mcp.calls import Keyring, call, reader
from backside_caldav.service import availability, event_list, events, links, meetings, search
from backside_caldav.service import calendars as calendar_service

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                       open_world_hint=False)
CREATE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                         open_world_hint=False)
CHANGE = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True,
                         open_world_hint=False)
RESTORE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True,
                          open_world_hint=False)

When = Annotated[str, Field(description="ISO 8601: 2026-05-04T09:00:00+02:00, or a local "
                                        "time 2026-05-04T09:00:00 read in time_zone, or a "
                                        "date 2026-05-04 for an all-day event")]
EventId = Annotated[str, Field(description="The event's id (a UUID, from events_list or "
                                           "events_search)")]
Occurrence = Annotated[str | None, Field(description="One occurrence of a repeating event: "
                                                     "its recurrence_id from events_list")]
Zone = Annotated[str | None, Field(description="IANA time zone such as Europe/Berlin")]
# A client_request_id may be any text: it names a UUID within the key's namespace.
REQUEST_IDS = uuid.UUID("5f0c3e0a-8f0d-4d8e-9a57-0c1b2d3e4f50")


def _page(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def register_read_tools(server: MCPServer, keyring: Keyring) -> None:
    @server.tool(annotations=READ)
    async def calendars_list(ctx: Context) -> models.Calendars:
        """The calendars this key may see, with their ids, zones and which is the default."""

        def work(c: events.Caller) -> dict[str, Any]:
            default = calendar_service.default_id(c.conn, c.tenant)
            return {"calendars": [calendar_service.view(r, default, c.key.owner_email)
                                  for r in calendar_rows.list_calendars(c.conn, c.tenant)
                                  if c.key.sees_calendar(r.id)]}
        return models.Calendars(**await call(keyring, ctx, reader(work)))

    @server.tool(annotations=READ)
    async def now(ctx: Context, time_zone: Zone = None) -> models.Now:
        """The current time, in the given zone or the tenant's (its default calendar's).
        Use it before reasoning about 'today', 'tomorrow' or 'next week'."""

        def work(c: events.Caller) -> dict[str, Any]:
            zone = event_list.tenant_zone(c, {"time_zone": time_zone} if time_zone else {})
            at = datetime.now(ZoneInfo(zone) if zone != "UTC" else ZoneInfo("UTC"))
            return {"now_utc": events.now().isoformat().replace("+00:00", "Z"),
                    "time_zone": zone, "local_time": at.isoformat(timespec="seconds"),
                    "weekday": at.strftime("%A"), "date": at.date().isoformat()}
        return models.Now(**await call(keyring, ctx, reader(work)))

    @server.tool(annotations=READ)
    async def events_list(
            ctx: Context,
            start: Annotated[str, Field(description="Window start, ISO 8601 with offset")],
            end: Annotated[str, Field(description="Window end (at most 366 days after start)")],
            calendar_ids: list[str] | None = None,
            event_type: str | None = None,
            limit: Annotated[int, Field(ge=1, le=500)] = 50,
            cursor: str | None = None) -> models.EventPage:
        """Occurrences in [start, end), repeating events expanded, in start order. When
        next_cursor is set there are more: call again with it (nothing is cut silently)."""
        params = _page({"start": start, "end": end, "calendar_id": calendar_ids,
                        "event_type": event_type, "limit": str(limit), "cursor": cursor})
        return models.EventPage(**await call(
            keyring, ctx, reader(lambda c: event_list.list_events(c, params))))

    @server.tool(annotations=READ)
    async def events_get(ctx: Context, event_id: EventId,
                         occurrence_start: Occurrence = None) -> models.Event:
        """One event: attendees with their RSVP, links, reminders, custom fields, rrule,
        overrides and its etag. With occurrence_start, `occurrence` is that occurrence."""

        def work(c: events.Caller) -> dict[str, Any]:
            body = events.read(c, event_id)
            if occurrence_start is not None:
                body["occurrence"] = next(
                    (o for o in body["overrides"] if o["recurrence_id"] == occurrence_start),
                    None)
            return body
        return models.Event(**await call(keyring, ctx, reader(work)))


    @server.tool(annotations=READ)
    async def events_check_availability(
            ctx: Context, start: Annotated[str, Field(description="ISO 8601 with offset")],
            end: Annotated[str, Field(description="ISO 8601 with offset")],
            calendar_ids: list[str] | None = None,
            attendee_email: Annotated[str | None, Field(
                description="Also count this person's other events")] = None
    ) -> models.Availability:
        """Is [start, end) free in the calendars (and for attendee_email)? If not, the
        conflicting occurrences, by the same busy rules as CalDAV free-busy."""
        doc = _page({"start": start, "end": end, "calendar_ids": calendar_ids,
                     "attendee_email": attendee_email})
        return models.Availability(**await call(
            keyring, ctx, reader(lambda c: availability.check(c, doc))))

    @server.tool(annotations=READ)
    async def events_search(
            ctx: Context, q: Annotated[str, Field(description="Words or part of a word in "
                                                            "title, location, description")],
            start: str | None = None, end: str | None = None,
            calendar_id: str | None = None,
            limit: Annotated[int, Field(ge=1, le=100)] = 20,
            cursor: str | None = None) -> models.SearchPage:
        """Events by text, best match first; with start and end, only those with an
        occurrence in that window. More with next_cursor."""
        params = _page({"q": q, "start": start, "end": end, "calendar_id": calendar_id,
                        "limit": str(limit), "cursor": cursor})
        return models.SearchPage(**await call(
            keyring, ctx, reader(lambda c: search.search(c, params))))

    @server.tool(annotations=READ)
    async def prepare_for_meeting(ctx: Context, event_id: EventId) -> models.MeetingBrief:
        """Everything to prepare a meeting: the event, its attendees with their RSVP, its
        links grouped by type, and the last 90 days' events shared with the same people."""
        return models.MeetingBrief(**await call(
            keyring, ctx, reader(lambda c: meetings.prepare_for_meeting(c, event_id))))


def register_write_tools(server: MCPServer, keyring: Keyring) -> None:
    @server.tool(annotations=CHANGE)
    async def events_respond(
            ctx: Context, event_id: EventId,
            status: Literal["accepted", "declined", "tentative", "pending"],
            email: str | None = None, contact_id: str | None = None) -> models.Response:
        """Set one attendee's answer (by email or contact_id) on the event and its
        occurrences; calendar clients show the new answer at their next sync."""
        doc = _page({"status": status, "email": email, "contact_id": contact_id})
        return models.Response(**await call(keyring, ctx,
                                            lambda c: links.respond(c, event_id, doc),
                                            write=True))

    @server.tool(annotations=CREATE)
    async def events_create(
            ctx: Context, title: str, start: When, end: When | None = None,
            time_zone: Zone = None, calendar_id: str | None = None,
            description: str | None = None, location: str | None = None,
            attendees: list[dict[str, str]] | None = None,
            rrule: Annotated[str | None, Field(description="RFC 5545, e.g. "
                                                           "FREQ=WEEKLY;BYDAY=MO,WE")] = None,
            reminders: list[dict[str, Any]] | None = None,
            event_type: str | None = None,
            client_request_id: Annotated[str | None, Field(
                description="Any text; repeating the call with it returns the same event "
                            "instead of a duplicate")] = None) -> models.Event:
        """Book an event. Times without an offset are in time_zone, else the calendar's.
        attendees: [{email, name?}]; reminders: [{minutes_before, type?}]."""
        doc = _page({"title": title, "start_time": start, "end_time": end,
                     "timezone": time_zone, "calendar_id": calendar_id,
                     "description": description, "location": location,
                     "attendees": attendees, "rrule": rrule, "reminders": reminders,
                     "event_type": event_type})

        def work(c: events.Caller) -> dict[str, Any]:
            if client_request_id is not None:
                doc["id"] = str(uuid.uuid5(REQUEST_IDS, f"{c.key.id}:{client_request_id}"))
            return events.create(c, doc)[1]
        return models.Event(**await call(keyring, ctx, work, write=True))

    @server.tool(annotations=CHANGE)
    async def events_update(
            ctx: Context, event_id: EventId,
            scope: Annotated[Literal["all", "this", "this_and_following"], Field(
                description="all: the whole series; this: one occurrence (an override); "
                            "this_and_following: split the series at occurrence_start")] = "all",
            occurrence_start: Occurrence = None,
            expected_etag: Annotated[str | None, Field(
                description="The etag you read: the update fails if someone changed the "
                            "event since")] = None,
            title: str | None = None, start: When | None = None, end: When | None = None,
            time_zone: Zone = None, description: str | None = None,
            location: str | None = None, attendees: list[dict[str, str]] | None = None,
            reminders: list[dict[str, Any]] | None = None, rrule: str | None = None,
            status: str | None = None, event_type: str | None = None) -> models.Event:
        """Change an event: only the fields given change (attendees and reminders replace
        the whole list). Moving one occurrence: scope this with its occurrence_start."""
        doc = _page({"title": title, "start_time": start, "end_time": end,
                     "timezone": time_zone, "description": description, "location": location,
                     "attendees": attendees, "reminders": reminders, "rrule": rrule,
                     "status": status, "event_type": event_type})
        if not doc:
            raise ToolError("Give at least one field to change (title, start, end, ...).")
        if scope != "all" and occurrence_start is None:
            raise ToolError(f"scope {scope!r} needs occurrence_start: the recurrence_id of the "
                            "occurrence from events_list.")

        def work(c: events.Caller) -> dict[str, Any]:
            if scope == "this_and_following":
                return events.split(c, event_id, str(occurrence_start), doc, expected_etag)
            rid = occurrence_start if scope == "this" else None
            return events.patch(c, event_id, doc, expected_etag, rid)
        return models.Event(**await call(keyring, ctx, work, write=True))

    @server.tool(annotations=CHANGE)
    async def events_delete(
            ctx: Context, event_id: EventId,
            scope: Literal["all", "this", "this_and_following"] = "all",
            occurrence_start: Occurrence = None,
            permanent: Annotated[bool, Field(description="Remove for good (admin keys); "
                                                         "else to the trash")] = False
    ) -> models.Deleted:
        """Delete an event (to the trash: events_restore brings it back), one occurrence
        (scope this), or an occurrence and all after it (scope this_and_following)."""
        if scope != "all" and occurrence_start is None:
            raise ToolError(f"scope {scope!r} needs occurrence_start.")

        def work(c: events.Caller) -> dict[str, Any]:
            if scope == "this":
                events.remove_occurrence(c, event_id, str(occurrence_start), None)
            elif scope == "this_and_following":
                events.end_before(c, event_id, str(occurrence_start), None)
            else:
                events.delete(c, event_id, permanent, None)
            return {"event_id": event_id, "deleted": True, "permanent": permanent,
                    "scope": scope}
        return models.Deleted(**await call(keyring, ctx, work, write=True))

    @server.tool(annotations=RESTORE)
    async def events_restore(ctx: Context, event_id: EventId) -> models.Event:
        """Bring an event back from the trash."""
        return models.Event(**await call(keyring, ctx, lambda c: events.restore(c, event_id),
                                         write=True))


