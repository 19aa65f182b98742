"""GET /api/v1/changes and /changes/stream: HTTP around service/changes.py and
service/change_stream.py, where the cursor rules and the key's limits live."""

from __future__ import annotations

from backside_caldav.api.http import Call, Reply
from backside_caldav.service import change_stream, changes, params
from backside_caldav.service.events import Caller


def feed(call: Call) -> Reply:
    return Reply(200, changes.feed(Caller(call.conn, call.key), call.request.query))


def stream(call: Call) -> Reply:
    """GET /api/v1/changes/stream: from Last-Event-ID when the client resumes, else from
    `since`, else from now (live only)."""
    query = call.request.query
    params.only(query, "since", "include")
    with_event = changes.include_event(query)
    caller = Caller(call.conn, call.key)
    resume = (call.request.environ.get("HTTP_LAST_EVENT_ID") or "").strip()
    if resume:
        start = changes.start_of(caller, resume, name="Last-Event-ID")
    else:
        since = params.one(query, "since")
        start = changes.start_of(caller, "now" if since is None else str(since))
    assert call.hub is not None
    body = change_stream.Stream(call.hub, call.key, start, with_event)
    return Reply(200, stream=body, headers=[("Content-Type", "text/event-stream"),
                                            ("X-Accel-Buffering", "no")])
