"""GET /api/v1/events/search: HTTP around service/search.py, where the ranking,
the matching and the key's limits are described."""

from __future__ import annotations

from backside_caldav.api.http import Call, Reply
from backside_caldav.service import events
from backside_caldav.service import search as search_service


def handle(call: Call) -> Reply:
    return Reply(200, search_service.search(events.Caller(call.conn, call.key),
                                            call.request.query))
