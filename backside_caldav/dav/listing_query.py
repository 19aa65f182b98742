"""A calendar-query that only names a component: every event (or task, or
journal) of the calendar, streamed from the database.

Clients that do not use sync-collection list a calendar so (the `caldav`
client's events() and todos(), and others before a multiget); a filter with
nothing but a VEVENT comp-filter is the whole calendar. Radicale's REPORT
loaded and rendered every member to answer it, and before this module the
storage did too: 135 ms at 1,000 events against stock Radicale's 58 ms.
Here the members' etags (and texts, when asked) come from a server-side
cursor in batches and are written as Radicale writes them, in the order the
storage gives Radicale, so memory stays flat at any size.

Radicale refuses a calendar-data answer with more VEVENTs than its
max_expand_occurrence; such a request, and anything this module does not
answer exactly (other properties, partial retrieval, a time-range or any
other filter, no read right), goes on to the next fast path or Radicale.
"""

from __future__ import annotations

from http import client
from xml.etree import ElementTree

from radicale import types
from radicale.item import filter as radicale_filter

from backside_caldav import request
from backside_caldav.dav.fast_path import Call, own_calendar, readable
from backside_caldav.dav.listing import MemberListing, stream_members
from backside_caldav.dav.member_reports import (
    CALENDAR_DATA,
    SCHEDULE_TAG,
    member_response,
    root_start,
    simple_query,
)
from backside_caldav.db import event_reads

COMPONENTS = frozenset({"VEVENT", "VTODO", "VJOURNAL"})


def listing_request(body: ElementTree.Element | None) -> tuple[str, list[str]] | None:
    """(component, property tags) of a calendar-query whose filter names one
    component and nothing else, when this module answers it."""
    query = simple_query(body)
    if query is None:
        return None
    tag, start, end, props = query
    if (tag not in COMPONENTS or start != radicale_filter.TIMESTAMP_MIN
            or end != radicale_filter.TIMESTAMP_MAX):
        return None
    return tag, props


def answer(call: Call) -> types.WSGIResponse | None:
    """The streamed multistatus of a listing query, or None."""
    own = own_calendar(call)
    asked = listing_request(own.xml) if own else None
    if own is None or asked is None or not readable(call):
        return None
    component, props = asked
    calendar = own.row()
    if calendar is None:
        return None  # Radicale's 404
    texts = CALENDAR_DATA in props or SCHEDULE_TAG in props
    limit = call.app.configuration.get("reporting", "max_expand_occurrence")
    if (limit and CALENDAR_DATA in props
            and event_reads.count_vevents(own.conn, own.tenant, calendar.id) > limit):
        return None  # Radicale counts exactly and refuses the request
    head = root_start(props).encode()
    if not texts:
        stream_members(call, own, head, calendar, props, component)
    else:
        scope = request.current()
        assert scope is not None, "a fast path runs inside the request's scope"
        prefix = f"{call.base_prefix}/{own.path}/"
        scope.stream = MemberListing(
            head,
            lambda: event_reads.stream_component(own.conn, own.tenant, calendar.id,
                                                 component),
            lambda item: member_response(prefix, props, item).encode())
    call.request_info["status"] = client.MULTI_STATUS
    return client.MULTI_STATUS, {"Content-Type": "text/xml; charset=utf-8"}, None, None
