"""The event endpoints: HTTP around service/events.py and service/event_list.py.

Each handler reads the request (query, JSON body, If-Match), calls one
service function with the caller's transaction and key, and shapes the
reply (status, ETag, Location). The rules live in the service, where the
MCP tools reach them too.
"""

from __future__ import annotations

from typing import Any

from backside_caldav.api.http import Call, Reply
from backside_caldav.service import event_input, event_list, events, params
from backside_caldav.service.problems import invalid, not_found


def _caller(call: Call) -> events.Caller:
    return events.Caller(call.conn, call.key)


def _if_match(call: Call) -> str | None:
    return call.request.environ.get("HTTP_IF_MATCH")


def _event_reply(status: int, body: dict[str, Any], location: bool = False) -> Reply:
    headers = [("ETag", body["etag"])]
    if location:
        headers.append(("Location", f"/api/v1/events/{body['id']}"))
    return Reply(status, body, headers)


def list_events(call: Call) -> Reply:
    """GET /api/v1/events."""
    return Reply(200, event_list.list_events(_caller(call), call.request.query))


def overview(call: Call) -> Reply:
    """GET /api/v1/events/overview."""
    return Reply(200, event_list.overview(_caller(call), call.request.query))


def read(call: Call) -> Reply:
    """GET /api/v1/events/{event_id}."""
    call.request.only("include_deleted")
    body = events.read(_caller(call), call.path["event_id"],
                       params.flag(call.request.query, "include_deleted"))
    return _event_reply(200, body)


def create(call: Call) -> Reply:
    """POST /api/v1/events: 201 (or 200 for a repeated client id)."""
    doc = call.request.json()
    call.request.only()
    status, body = events.create(_caller(call), doc)
    return _event_reply(status, body, location=True)


def patch(call: Call) -> Reply:
    """PATCH /api/v1/events/{event_id}: JSON Merge Patch."""
    doc = call.request.json()
    call.request.only("recurrence_id")
    body = events.patch(_caller(call), call.path["event_id"], doc, _if_match(call),
                        call.request.param("recurrence_id"))
    return _event_reply(200, body)


def patch_custom(call: Call) -> Reply:
    """PATCH /api/v1/events/{event_id}/custom: merge into custom_fields."""
    doc = call.request.json()
    call.request.only()
    return _event_reply(200, events.patch_custom(_caller(call), call.path["event_id"], doc,
                                                 _if_match(call)))


def cancel(call: Call) -> Reply:
    """POST /api/v1/events/{event_id}/cancel."""
    call.request.only("recurrence_id")
    body = events.cancel(_caller(call), call.path["event_id"], _if_match(call),
                         call.request.param("recurrence_id"))
    return _event_reply(200, body)


def delete(call: Call) -> Reply:
    """DELETE /api/v1/events/{event_id}: to the trash, one occurrence, or for good."""
    call.request.only("permanent", "recurrence_id")
    rid = call.request.param("recurrence_id")
    if rid is not None:
        if params.flag(call.request.query, "permanent"):
            raise invalid("permanent", "cannot be combined with recurrence_id")
        return _event_reply(200, events.remove_occurrence(_caller(call), call.path["event_id"],
                                                          rid, _if_match(call)))
    events.delete(_caller(call), call.path["event_id"],
                  params.flag(call.request.query, "permanent"), _if_match(call))
    return Reply(204)


def restore(call: Call) -> Reply:
    """POST /api/v1/events/{event_id}/restore."""
    call.request.only()
    return _event_reply(200, events.restore(_caller(call), call.path["event_id"]))


def list_attendees(call: Call) -> Reply:
    """GET /api/v1/events/{event_id}/attendees."""
    call.request.only()
    body = events.read(_caller(call), call.path["event_id"])
    return Reply(200, {"attendees": body["attendees"]}, [("ETag", body["etag"])])


def add_attendee(call: Call) -> Reply:
    """POST /api/v1/events/{event_id}/attendees: 201 with the attendee."""
    doc = call.request.json()
    call.request.only()
    person = event_input.attendee("attendee", doc)  # a 400 naming the field, not a 500
    caller = _caller(call)
    current = events.read(caller, call.path["event_id"], writing=True)
    wanted = [_plain(a) for a in current["attendees"]]
    key = (person.email or "").lower() or person.contact_id
    if any((a.get("email") or "").lower() == key or a.get("contact_id") == key for a in wanted):
        status = 200
    else:
        status = 201
        wanted.append(doc)
    body = events.patch(caller, call.path["event_id"], {"attendees": wanted}, _if_match(call))
    added = _find(body, doc)
    return Reply(status, added, [("ETag", body["etag"]), (
        "Location", f"/api/v1/events/{body['id']}/attendees/{added['id']}")])


def remove_attendee(call: Call) -> Reply:
    """DELETE /api/v1/events/{event_id}/attendees/{attendee_id}: 204."""
    call.request.only()
    caller = _caller(call)
    current = events.read(caller, call.path["event_id"], writing=True)
    target = call.path["attendee_id"]
    if not any(a["id"] == target for a in current["attendees"]):
        raise not_found(f"event {current['id']} has no attendee {target}")
    wanted = [_plain(a) for a in current["attendees"] if a["id"] != target]
    events.patch(caller, call.path["event_id"], {"attendees": wanted}, _if_match(call))
    return Reply(204)


def respond(call: Call) -> Reply:
    """PUT /api/v1/events/{event_id}/attendees/{attendee_id}: set one response."""
    doc = call.request.json()
    call.request.only()
    for name in doc:
        if name not in ("rsvp_status", "name", "role"):
            raise invalid(name[:60], "unknown field (allowed: rsvp_status, name, role)")
    if doc.get("rsvp_status") is None:
        raise invalid("rsvp_status", "is required: pending, accepted, declined or tentative")
    caller = _caller(call)
    current = events.read(caller, call.path["event_id"], writing=True)
    target = call.path["attendee_id"]
    if not any(a["id"] == target for a in current["attendees"]):
        raise not_found(f"event {current['id']} has no attendee {target}")
    wanted = [{**_plain(a), **doc} if a["id"] == target else _plain(a)
              for a in current["attendees"]]
    body = events.patch(caller, call.path["event_id"], {"attendees": wanted}, _if_match(call))
    person = next((a for a in body["attendees"] if a["id"] == target), None)
    if person is None:  # the row was replaced; find it by its address
        old = next(a for a in current["attendees"] if a["id"] == target)
        person = _find(body, old)
    return Reply(200, person, [("ETag", body["etag"])])


def _plain(attendee: dict[str, Any]) -> dict[str, Any]:
    """An attendee as the input takes it (email or contact_id, not both)."""
    out = {k: attendee[k] for k in ("name", "role", "rsvp_status") if attendee.get(k)}
    if attendee.get("email"):
        out["email"] = attendee["email"]
    else:
        out["contact_id"] = attendee["contact_id"]
    if out.get("role") and out["role"].lower() not in ("chair", "req-participant",
                                                       "opt-participant", "non-participant"):
        out.pop("role")
    return out


def _find(body: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    email = (wanted.get("email") or "").lower()
    for a in body["attendees"]:
        if (email and (a["email"] or "").lower() == email) or \
                (wanted.get("contact_id") and a["contact_id"] == wanted.get("contact_id")):
            return a
    raise not_found("the attendee was not stored")  # pragma: no cover - a bug if reached

