"""Preparing for a meeting (an MCP tool; no HTTP endpoint yet): one event as
service/events.read shows it, its people, its links by kind, and the recent
events that shared people with it.

Related events are the other live series the key may see (its calendars and
window, the rule of service/access.py) with some row spanning into the last
RELATED_DAYS days, that share an attendee email (case-insensitive) or a
linked contact id with this event; at most MAX_RELATED, newest start first.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from backside_caldav.db import meeting_queries
from backside_caldav.service import access, events, validate
from backside_caldav.service.events import Caller

ENTITY_TYPES = ("contact", "task", "note", "deal")
RELATED_DAYS = 90
MAX_RELATED = 50


def prepare_for_meeting(caller: Caller, event_id: str) -> dict[str, Any]:
    """{event, attendees, links: {entity_type: [link]}, related_events: [{id, title,
    start_time, calendar_id, shared}]}; 404 for an event the key may not see."""
    event = events.read(caller, event_id)
    links: dict[str, list[dict[str, Any]]] = {kind: [] for kind in ENTITY_TYPES}
    for link in event["links"]:
        links.setdefault(link["entity_type"], []).append(link)
    at = events.now()
    rows = meeting_queries.related_events(
        caller.conn, caller.tenant, event["id"], at - timedelta(days=RELATED_DAYS), at,
        MAX_RELATED, calendar_ids=access.calendars_for(caller.key, None),
        window=caller.key.window(at))
    return {
        "event": event,
        "attendees": event["attendees"],
        "links": links,
        "related_events": [{"id": r.id, "title": r.title, "start_time": validate.iso(r.start_time),
                            "calendar_id": r.calendar_id, "shared": list(r.shared)}
                           for r in rows],
    }
