"""The link endpoints and RSVP answers: HTTP around service/links.py, where the
rules and the key's limits are described."""

from __future__ import annotations

from backside_caldav.api.http import Call, Reply
from backside_caldav.service import events
from backside_caldav.service import links as link_service


def _caller(call: Call) -> events.Caller:
    return events.Caller(call.conn, call.key)


def list_links(call: Call) -> Reply:
    """GET /api/v1/events/{event_id}/links."""
    call.request.only()
    return Reply(200, link_service.list_links(_caller(call), call.path["event_id"]))


def add_link(call: Call) -> Reply:
    """POST /api/v1/events/{event_id}/links: 201 with the new link, 200 if it existed."""
    doc = call.request.json()
    call.request.only()
    status, link = link_service.add_link(_caller(call), call.path["event_id"], doc)
    if status == 200:
        return Reply(200, link)
    return Reply(201, link,
                 headers=[("Location", f"/api/v1/events/{call.path['event_id']}/links/{link['id']}")])


def delete_link(call: Call) -> Reply:
    """DELETE /api/v1/events/{event_id}/links/{link_id}: 204."""
    call.request.only()
    link_service.delete_link(_caller(call), call.path["event_id"], call.path["link_id"])
    return Reply(204)


def reverse(call: Call) -> Reply:
    """GET /api/v1/links?entity_type=&entity_id=: the events tied to one record."""
    return Reply(200, link_service.reverse(_caller(call), call.request.query))


def respond(call: Call) -> Reply:
    """POST /api/v1/events/{event_id}/respond: set one attendee's RSVP on the series."""
    doc = call.request.json()
    call.request.only()
    return Reply(200, link_service.respond(_caller(call), call.path["event_id"], doc))
