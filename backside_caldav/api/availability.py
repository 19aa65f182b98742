"""GET /api/v1/freebusy and POST /api/v1/availability/check: HTTP around
service/availability.py, where the policy and the key's limits are described."""

from __future__ import annotations

from backside_caldav.api.http import Call, Reply
from backside_caldav.service import availability, events


def freebusy(call: Call) -> Reply:
    return Reply(200, availability.freebusy(events.Caller(call.conn, call.key),
                                            call.request.query))


def check(call: Call) -> Reply:
    doc = call.request.json()
    call.request.only()
    return Reply(200, availability.check(events.Caller(call.conn, call.key), doc))
