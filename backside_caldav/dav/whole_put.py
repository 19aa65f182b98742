"""A PUT of a whole .ics onto a calendar's own URL: refused unless the client means it.

Radicale's upload semantics make such a PUT replace the calendar: every
resource the body does not hold is deleted, without a word. A client that
meant to add events (or hit the wrong URL) loses the rest, so a calendar
that holds anything is only replaced when the request says it knows what it
replaces: If-Match with the calendar's current ETag (its DAV:getetag). A PUT
onto a new calendar URL or onto an empty calendar goes on to Radicale as
before. The check runs under the write lock Radicale's own PUT then takes in
the same transaction, so nothing can be added in between.
"""

from __future__ import annotations

from radicale import pathutils, types
from radicale.app.base import Access

from backside_caldav.dav.collection import collection_etag
from backside_caldav.dav.fast_path import Call, own_calendar
from backside_caldav.dav.refusal import Refusal
from backside_caldav.db import calendars


def answer(call: Call) -> types.WSGIResponse | None:
    """409 (or 412 for a stale If-Match) for a PUT that would replace a calendar
    holding resources, else None: Radicale's do_PUT answers."""
    if pathutils.strip_path(call.path).count("/") != 1:
        return None
    own = own_calendar(call)
    if own is None or not _may_replace(call):
        return None  # Radicale answers (403 when the rights say no)
    with call.app._storage.acquire_lock("w", call.user, path=call.path, request="PUT",
                                        actor=call.user):
        row = own.row()
        if row is None:
            return None  # a new calendar
        events, others = calendars.calendar_contents(own.conn, own.tenant, row.id)
        if events + others == 0:
            return None
        etag = collection_etag(row)
        if_match = call.environ.get("HTTP_IF_MATCH", "").strip()
        if if_match == etag:
            return None  # the client knows what it replaces
        held = f"{events} event{'s' * (events != 1)}"
        if others:
            held += f" and {others} task{'s' * (others != 1)} or journal entr" \
                    f"{'ies' if others != 1 else 'y'}"
        if if_match and if_match != "*":
            return Refusal(412, f"If-Match {if_match[:80]} is not the calendar's current "
                           f"ETag {etag}: it changed since you read it; nothing was "
                           "replaced").response()
        return Refusal(409, (
            f"this calendar holds {held}; a PUT of a whole calendar onto its URL would "
            "replace it and delete every one the body does not hold. To add events, PUT "
            "each to its own URL (.../calendar/uid.ics); to replace the calendar, send "
            f"If-Match: {etag} (its current ETag)")).response()


def _may_replace(call: Call) -> bool:
    """Whether Radicale's do_PUT would go on to replace the calendar (its rights
    and [rights] permit_overwrite_collection rules): only then is a 409 the answer."""
    app = call.app
    access = Access(app._rights, call.user, call.user_groups, call.path)
    if not access.check("w") or "w" not in access.permissions:
        return False
    if app._permit_overwrite_collection:
        return "o" not in access.permissions
    return "O" in access.permissions
