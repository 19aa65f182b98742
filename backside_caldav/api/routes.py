"""The route table: which handler answers which method and path under /api/v1.

It imports the handler modules; they import only api.http, so the table can
be built at import time. A route with no handler is served without a key
(the OpenAPI document).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from backside_caldav.api import availability, calendars, changes, events, links, search
from backside_caldav.api.http import Call, Reply

Handler = Callable[[Call], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler | None  # None: served without a key (the OpenAPI document)
    write: bool = False
    # A malformed id in the path is a 404 (no such event), not a 400.
    missing_if_malformed: bool = False


def route(method: str, template: str, handler: Handler | None, write: bool = False,
          missing_if_malformed: bool = False) -> Route:
    """A route whose {name} segments become path parameters (one segment each)."""
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return Route(method, re.compile(f"^{regex}$"), handler, write, missing_if_malformed)


def event_route(method: str, template: str, handler: Handler, write: bool = False) -> Route:
    return route(method, template, handler, write, missing_if_malformed=True)


ROUTES: tuple[Route, ...] = (
    route("GET", "/openapi.json", None),
    route("GET", "/calendars", calendars.list_calendars),
    route("POST", "/calendars", calendars.create, write=True),
    route("GET", "/calendars/{calendar_id}", calendars.read),
    route("PATCH", "/calendars/{calendar_id}", calendars.patch, write=True),
    route("DELETE", "/calendars/{calendar_id}", calendars.delete, write=True),
    route("GET", "/events/search", search.handle),
    route("GET", "/events/overview", events.overview),
    route("GET", "/events", events.list_events),
    route("POST", "/events", events.create, write=True),
    event_route("GET", "/events/{event_id}", events.read),
    event_route("PATCH", "/events/{event_id}", events.patch, write=True),
    event_route("DELETE", "/events/{event_id}", events.delete, write=True),
    event_route("PATCH", "/events/{event_id}/custom", events.patch_custom, write=True),
    event_route("POST", "/events/{event_id}/cancel", events.cancel, write=True),
    event_route("POST", "/events/{event_id}/restore", events.restore, write=True),
    event_route("GET", "/events/{event_id}/attendees", events.list_attendees),
    event_route("POST", "/events/{event_id}/attendees", events.add_attendee, write=True),
    event_route("PUT", "/events/{event_id}/attendees/{attendee_id}", events.respond,
                write=True),
    event_route("DELETE", "/events/{event_id}/attendees/{attendee_id}",
                events.remove_attendee, write=True),
    route("GET", "/freebusy", availability.freebusy),
    route("POST", "/availability/check", availability.check),
    route("GET", "/events/{event_id}/links", links.list_links),
    route("POST", "/events/{event_id}/links", links.add_link, write=True),
    route("DELETE", "/events/{event_id}/links/{link_id}", links.delete_link, write=True),
    route("GET", "/links", links.reverse),
    route("POST", "/events/{event_id}/respond", links.respond, write=True),
    route("GET", "/changes", changes.feed),
    route("GET", "/changes/stream", changes.stream),
)
