"""The route table: which handler answers which method and path under /api/v1.

It imports the handler modules; they import only api.http, so the table can
be built at import time. A route with no handler is served without a key
(the OpenAPI document).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from backside_caldav.api import availability, calendars, links, search
from backside_caldav.api.http import Call, Reply

Handler = Callable[[Call], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler | None  # None: served without a key (the OpenAPI document)
    write: bool = False


def route(method: str, template: str, handler: Handler | None, write: bool = False) -> Route:
    """A route whose {name} segments become path parameters (one segment each)."""
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return Route(method, re.compile(f"^{regex}$"), handler, write)


ROUTES: tuple[Route, ...] = (
    route("GET", "/openapi.json", None),
    route("GET", "/calendars", calendars.list_calendars),
    route("GET", "/events/search", search.handle),
    route("GET", "/freebusy", availability.freebusy),
    route("POST", "/availability/check", availability.check),
    route("GET", "/events/{event_id}/links", links.list_links),
    route("POST", "/events/{event_id}/links", links.add_link, write=True),
    route("DELETE", "/events/{event_id}/links/{link_id}", links.delete_link, write=True),
    route("GET", "/links", links.reverse),
    route("POST", "/events/{event_id}/respond", links.respond, write=True),
)
