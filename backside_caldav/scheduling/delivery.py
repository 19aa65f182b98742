"""Delivery to a login of this server: the one path where two tenants' rows
meet (RFC 6638 4, DESIGN.md "Scheduling crosses tenants").

A queued 'server' message belongs to the sender's tenant. It is claimed in
a transaction of that tenant (FOR UPDATE SKIP LOCKED), delivered in a
transaction of the recipient's tenant, which row-level security confines to
the recipient's rows, and marked sent. Nothing else in the product opens a
transaction for a tenant it found by an address (tests/test_scheduling_
isolation.py checks that no other module does). What crosses is the message
text only: a REQUEST or CANCEL updates the recipient's copy in its default
calendar, a REPLY sets the attendee's answer on the organizer's object, and
each lands in the recipient's schedule inbox.

receive_reply is the same path for a REPLY that came by mail (iMIP).
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.engine import Connection, Engine

from backside_caldav.db import calendar_users, calendars, itip_queue, schedule_inbox, tenancy
from backside_caldav.db.calendar_users import CalendarUser
from backside_caldav.db.event_reads import get_items
from backside_caldav.db.event_writes import put_item
from backside_caldav.domain import ical_lines
from backside_caldav.domain.errors import InvalidCalendarData
from backside_caldav.domain.itip import Outgoing, message
from backside_caldav.domain.itip_apply import (
    NotApplicable,
    apply_reply,
    cancel_copy,
    reply_answers,
    request_copy,
)
from backside_caldav.domain.itip_parts import Resource, address_key
from backside_caldav.scheduling import implicit

log = logging.getLogger(__name__)

RETRY_SECONDS = 30.0


class Refused(ValueError):
    """A message this server will not apply; the sentence says why."""


def deliver(engine: Engine, tenant: str, message_id: str) -> bool:
    """Deliver one queued 'server' message; True when it was sent now."""
    with tenancy.transaction(engine, tenant) as conn:
        queued = itip_queue.claim(conn, tenant, message_id)
        if queued is None or queued.transport != "server":
            return False
        try:
            _deliver(engine, queued.method, queued.originator, queued.recipient, queued.text)
        except Refused as exc:
            # Nothing to deliver to (the login or its copy is gone): done, with why.
            itip_queue.mark_sent(conn, tenant, message_id)
            log.info("scheduling message %s not applied: %s", message_id, exc)
            return False
        except Exception as exc:  # noqa: BLE001 - stays queued, retried by the sender
            log.exception("delivering scheduling message %s failed", message_id)
            itip_queue.mark_failed(conn, tenant, message_id, str(exc) or type(exc).__name__,
                                   RETRY_SECONDS * 2 ** min(queued.attempts, 7))
            return False
        itip_queue.mark_sent(conn, tenant, message_id)
        return True


def _recipient(engine: Engine, address: str) -> CalendarUser:
    with tenancy.transaction(engine) as conn:
        user = calendar_users.user_of(conn, address)
    if user is None:
        raise Refused(f"{address} is no user of this server")
    return user


def _deliver(engine: Engine, method: str, originator: str, recipient: str, text: str) -> None:
    user = _recipient(engine, recipient)
    with tenancy.transaction(engine, user.tenant_id) as conn:
        tenancy.lock_tenant(conn, user.tenant_id, "caldav")
        if method == "REPLY":
            _apply_reply(conn, user, originator, text)
        elif method in ("REQUEST", "CANCEL"):
            _apply_to_copy(conn, user, method, text)
        else:
            raise Refused(f"method {method} is not delivered")
        schedule_inbox.add(conn, user.tenant_id, user.username, method, originator,
                           Resource.of(text).uid(), text)


def _apply_to_copy(conn: Connection, user: CalendarUser, method: str, text: str) -> None:
    incoming = Resource.of(text)
    found = calendar_users.copy_of(conn, user.tenant_id, incoming.uid())
    if found is None:
        if method == "CANCEL":
            return  # nothing to cancel: the inbox still says so
        calendar = calendars.default_calendar(conn, user.tenant_id) or calendars.create_calendar(
            conn, user.tenant_id, "calendar", {"name": "Calendar"})
        _store(conn, user.tenant_id, calendar, f"{uuid.uuid4()}.ics", request_copy(text), None)
        return
    calendar_href, href = found
    calendar = calendars.get_calendar(conn, user.tenant_id, calendar_href)
    assert calendar is not None
    [current] = get_items(conn, user.tenant_id, calendar.id, [href], for_update=True)
    _same_organizer(Resource.of(current.text), incoming, user)
    updated = (request_copy(text, Resource.of(current.text)) if method == "REQUEST"
               else cancel_copy(Resource.of(current.text), incoming))
    _store(conn, user.tenant_id, calendar, href, updated, current.component)


def _same_organizer(current: Resource, incoming: Resource, user: CalendarUser) -> None:
    """A message may change only an object of the same meeting: the same UID
    *and* the same ORGANIZER. Without this, anyone could overwrite any event
    of another tenant whose UID they knew."""
    mine, theirs = current.organizer(), incoming.organizer()
    if mine is None or theirs is None or address_key(mine.value) != address_key(theirs.value):
        raise Refused(f"{user.username} has another event with UID {incoming.uid()!r} "
                      "(not organized by the message's ORGANIZER); it is left alone")


def _store(conn: Connection, tenant: str, calendar: object, href: str, text: str,
           replaces: str | None) -> None:
    try:
        put_item(conn, tenant, calendar, href, text, replaces=replaces)  # type: ignore[arg-type]
    except InvalidCalendarData as exc:
        raise Refused(f"the message cannot be stored: {exc}") from exc


def _apply_reply(conn: Connection, organizer: CalendarUser, originator: str,
                 text: str) -> None:
    reply = Resource.of(text)
    try:
        who, _ = reply_answers(reply)
    except NotApplicable as exc:
        raise Refused(str(exc)) from exc
    if who != address_key(originator):
        raise Refused(f"{originator} sent a REPLY for {who}")
    found = calendar_users.copy_of(conn, organizer.tenant_id, reply.uid())
    if found is None:
        raise Refused(f"{organizer.username} has no event with UID {reply.uid()!r}")
    calendar_href, href = found
    calendar = calendars.get_calendar(conn, organizer.tenant_id, calendar_href)
    assert calendar is not None
    [current] = get_items(conn, organizer.tenant_id, calendar.id, [href], for_update=True)
    _same_organizer(Resource.of(current.text), reply, organizer)
    try:
        updated, _ = apply_reply(Resource.of(current.text), reply)
    except NotApplicable as exc:
        raise Refused(str(exc)) from exc
    _store(conn, organizer.tenant_id, calendar, href, updated, current.component)
    _refresh_others(conn, organizer, who, Resource.of(updated))


def _refresh_others(conn: Connection, organizer: CalendarUser, replier: str,
                    updated: Resource) -> None:
    """The organizer's other attendees on this server, in other tenants, get
    the object again with the new answer (queued in the organizer's tenant,
    delivered after this transaction commits)."""
    organizer_line = updated.organizer()
    if organizer_line is None:
        return
    organizer_key = address_key(organizer_line.value)
    text = message(updated, "REQUEST")
    for key, address in updated.scheduled_attendees(organizer_key).items():
        if key == replier:
            continue
        target = calendar_users.user_of(conn, address)
        if target is not None and target.tenant_id != organizer.tenant_id:
            implicit.queue_server(conn, organizer.tenant_id,
                                  Outgoing("REQUEST", address, text), organizer_key,
                                  updated.uid())


def receive_reply(engine: Engine, ical_text: str, sender: str) -> str:
    """Apply a REPLY that came by mail (`backside-caldav imip receive`) to the
    organizer's event, when its sender is the attendee it answers for."""
    methods = {line[7:].strip().upper() for line in ical_lines.unfold(ical_text)
               if line[:7].upper() == "METHOD:"}
    if methods != {"REPLY"}:
        raise Refused(f"only a METHOD:REPLY is applied, not {', '.join(sorted(methods)) or 'none'}")
    try:
        reply = Resource.of(ical_text)
        who, answers = reply_answers(reply)
    except (NotApplicable, ValueError) as exc:
        raise Refused(f"not an iTIP REPLY this server can read: {exc}") from exc
    if not reply.parts:
        raise Refused("the message holds no VEVENT or VTODO")
    if address_key(f"mailto:{sender}") != who:
        raise Refused(f"the sender {sender} is not the attendee the reply answers for ({who})")
    organizer_line = reply.organizer()
    if organizer_line is None:
        raise Refused("the REPLY names no ORGANIZER")
    organizer = _recipient(engine, organizer_line.value)
    with tenancy.transaction(engine, organizer.tenant_id) as conn:
        tenancy.lock_tenant(conn, organizer.tenant_id, "caldav")
        _apply_reply(conn, organizer, who, ical_text)
        schedule_inbox.add(conn, organizer.tenant_id, organizer.username, "REPLY", who,
                           reply.uid(), ical_text)
    answer = ", ".join(sorted(set(answers.values())))
    return f"{who} answered {answer} to {reply.uid()} of {organizer.username}"
