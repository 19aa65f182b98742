"""PUT of one calendar object without Radicale's vobject round trip.

Radicale's do_PUT parses the body with vobject, serializes it again to hash
an ETag, and asks the storage three to five questions before it writes. The
store keeps the client's own text and its own ETag (the row revision), and
the middleware has already parsed and checked the body with icalendar; in a
profile of 400 PUTs, Radicale's parse and re-serialization were 29% of the
server's time. This Application answers the common PUT itself, with
Radicale's rules: rights, If-Match / If-None-Match, strict preconditions,
the resource size limit and CALDAV:no-uid-conflict. Everything else (a
whole-collection PUT, sharing, hooks, a body the middleware did not keep)
goes to Radicale's own do_PUT.
"""

from __future__ import annotations

from http import client
from urllib.parse import quote

from radicale import httputils, pathutils, types
from radicale.app.base import Access

from backside_caldav import request
from backside_caldav.dav import scheduling_hooks
from backside_caldav.dav.fast_path import Call
from backside_caldav.dav.refusal import Refusal
from backside_caldav.db import event_reads, event_writes
from backside_caldav.domain import records
from backside_caldav.domain.errors import InvalidCalendarData, TooLarge
from backside_caldav.domain.ical_parse import parse_resource
from backside_caldav.domain.itip_parts import schedule_tag
from backside_caldav.scheduling import implicit

# Calendars PUT into lately, by (tenant, href): a create then needs no lookup
# first. A stale entry costs nothing but that lookup: create_if_new checks the
# calendar again in its statement.
_known_calendars: dict[tuple[str, str], records.CalendarRow] = {}
KNOWN_CALENDARS = 4096


def _remember(tenant: str, calendar: records.CalendarRow) -> None:
    if len(_known_calendars) >= KNOWN_CALENDARS:
        _known_calendars.clear()
    _known_calendars[(tenant, calendar.href)] = calendar


def answer(call: Call) -> types.WSGIResponse | None:
    """The answer to a PUT of one calendar object, or None when Radicale's
    do_PUT must handle the request."""
    app, path, environ = call.app, call.path, call.environ
    sane = pathutils.strip_path(path)
    if (path.endswith("/") or sane.count("/") != 2 or app._sharing._enabled
            or app._hook.enabled):
        return None
    text = request.original_text_for("PUT", sane)
    if text is None:
        return None
    access = Access(app._rights, call.user, call.user_groups, path)
    if not access.check("w") or "w" not in access.parent_permissions:
        return httputils.NOT_ALLOWED
    # Radicale measures its own serialization; the client's text is what is stored
    # (the middleware refused it already when it knows the limit).
    size = len(text.encode("utf-8"))
    if size > app._max_resource_size:
        return Refusal.of(TooLarge(size, app._max_resource_size)).response()
    resource = parse_resource(text)  # the middleware's parse, from its cache
    owner, calendar_href, href = sane.split("/")
    with app._storage.acquire_lock("w", call.user, path=path, request="PUT", actor=call.user):
        s = request.holding()
        if s.tenant is None or owner != s.user:
            return httputils.CONFLICT  # Radicale: no such parent collection
        tag_wanted = environ.get("HTTP_IF_SCHEDULE_TAG_MATCH")
        scheduling = implicit.is_scheduling(text) or tag_wanted is not None
        created = None if scheduling else _create(environ, s, calendar_href, href, text)
        if created is not None:
            return client.CREATED, {"ETag": created.etag}, None, None
        target = event_writes.put_target(s.conn, s.tenant, calendar_href, href, resource.uid)
        if target.calendar is None:
            _known_calendars.pop((s.tenant, calendar_href), None)
            return httputils.CONFLICT
        _remember(s.tenant, target.calendar)
        existing = target.existing
        refusal = _precondition_failure(environ, existing, app._strict_preconditions)
        if refusal is not None:
            return refusal
        if (existing is not None and existing.uid != resource.uid
                or existing is None and target.uid_taken):
            call.request_info["status"] = client.CONFLICT
            return _uid_conflict(call, s, target.calendar, href, resource.uid, existing)
        to_store = text
        if scheduling:
            old_text = _current_text(s, target.calendar, href) if existing is not None else None
            if tag_wanted is not None and (old_text is None
                                           or schedule_tag(old_text) != tag_wanted.strip()):
                return httputils.PRECONDITION_FAILED  # RFC 6638 3.2.10
            to_store = scheduling_hooks.stored_text(s.conn, s.tenant, s.user, old_text, text,
                                                    tag_matched=tag_wanted is not None)
        try:
            with request.failing_writes():
                stored = event_writes.put_item(s.conn, s.tenant, target.calendar, href,
                                               to_store,
                                               existing.component if existing else None)
        except InvalidCalendarData as exc:
            return Refusal.of(exc).response()
    # The client's text is what it holds only when the server changed nothing
    # (SCHEDULE-STATUS): otherwise no ETag, so it reads the object again.
    headers = {"ETag": stored.etag} if to_store == text else {}
    headers.update(scheduling_hooks.tag_headers(to_store))
    if existing is not None:
        return client.NO_CONTENT, headers, None, None
    return client.CREATED, headers, None, None


def _current_text(s: request.Transaction, calendar: records.CalendarRow, href: str) -> str | None:
    found = event_reads.get_items(s.conn, s.tenant or "", calendar.id, [href], for_update=True)
    return found[0].text if found else None


def _uid_conflict(call: Call, s: request.Transaction, calendar: records.CalendarRow,
                  href: str, uid: str, existing: event_reads.ItemHead | None
                  ) -> types.WSGIResponse:
    """409 CALDAV:no-uid-conflict naming the resource that holds the UID (RFC 4791
    5.3.2.1), or the resource at href when the PUT would change its UID."""
    holder = event_reads.href_of_uid(s.conn, s.tenant or "", calendar.id, uid)
    path = f"{call.base_prefix}/{s.user}/{calendar.href}/{holder or href}"
    if holder is not None:
        message = f"the UID {uid!r} is already used by {holder} in this calendar"
    else:
        message = (f"{href} holds the UID {existing.uid if existing else ''!r}; a PUT "
                   f"cannot change a resource's UID to {uid!r} (delete it first)")
    return Refusal(409, message, "C:no-uid-conflict", href=quote(path)).response()


def _create(environ: types.WSGIEnviron, s: request.Transaction, calendar_href: str, href: str,
            text: str) -> event_reads.StoredItem | None:
    """A new event written in one statement (event_writes.create_if_new), or None."""
    calendar = _known_calendars.get((s.tenant or "", calendar_href))
    if calendar is None or environ.get("HTTP_IF_MATCH"):
        return None  # If-Match on a create is a 412 the ordinary path gives
    with request.failing_writes():
        return event_writes.create_if_new(s.conn, s.tenant or "", calendar, href, text)


def _precondition_failure(environ: types.WSGIEnviron, existing: event_reads.ItemHead | None,
                          strict: bool) -> types.WSGIResponse | None:
    """Radicale's If-Match and If-None-Match rules for PUT, in its order."""
    etag = environ.get("HTTP_IF_MATCH", "")
    if existing is not None and not etag and strict:
        return httputils.PRECONDITION_FAILED
    if existing is None and etag:
        return httputils.PRECONDITION_FAILED
    if existing is not None and etag and etag not in ("*", existing.etag):
        return httputils.PRECONDITION_FAILED
    if existing is not None and environ.get("HTTP_IF_NONE_MATCH", "") == "*":
        return httputils.PRECONDITION_FAILED
    return None
