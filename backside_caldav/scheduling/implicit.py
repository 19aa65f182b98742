"""Implicit scheduling (RFC 6638 3.2): what a write of a calendar object
sends, decided in the writer's transaction and queued there.

Every writer calls this: the CalDAV PUT and DELETE (dav/put.py,
dav/scheduling_hooks.py) and the event API (service/events.py). The
writer's role comes from its addresses (domain/itip.py). Each recipient is
either a login of the writer's own tenant (nothing to send: a tenant's
logins share its calendars, the stored object is the delivery), a login of
another tenant of this server (transport 'server': scheduling/delivery.py
puts it in that login's inbox and calendar), or someone else with a mailto:
address (transport 'mail': iMIP). The messages are rows of itip_queue,
written in the writer's transaction and sent after it commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Connection, Engine

from backside_caldav.db import calendar_users, itip_queue, post_commit, principals
from backside_caldav.domain.itip import (
    ORGANIZER,
    Outgoing,
    Role,
    attendee_reply,
    message,
    organizer_messages,
    role,
)
from backside_caldav.domain.itip_apply import keep_answers, with_schedule_status
from backside_caldav.domain.itip_parts import Resource, address_key
from backside_caldav.domain.mail_address import mailbox

log = logging.getLogger(__name__)

DELIVERED, SENT, NO_SUCH_USER, NOT_MAILED = "1.2", "1.1", "3.7", "5.1"
# Set by scheduling/delivery.py: after the commit, deliver these queue rows.
Deliver = Callable[[Engine, str, list[str]], None]
_deliver: list[Deliver] = []


def on_commit(deliver: Deliver) -> None:
    """Name what runs after a commit that queued messages (the server's
    composition does: scheduling/mail_sender.after_commit)."""
    _deliver[:] = [deliver]


@dataclass(frozen=True)
class Writer:
    """Who writes: its tenant and its calendar user addresses (key form)."""

    tenant: str
    addresses: frozenset[str]
    schedule_reply: bool = True  # False: the client said Schedule-Reply: F


def writer_for_login(conn: Connection, tenant: str, username: str,
                     schedule_reply: bool = True) -> Writer:
    found = principals.principal(conn, tenant, username)
    emails = found.emails() if found is not None else []
    keys = {address_key(f"mailto:{e}") for e in emails} | {f"/{username}/"}
    return Writer(tenant, frozenset(keys), schedule_reply)


def writer_for_email(tenant: str, email: str | None) -> Writer:
    keys = {address_key(f"mailto:{email}")} if email else set()
    return Writer(tenant, frozenset(keys))


def is_scheduling(text: str | None) -> bool:
    """Cheap test before any parse: only objects with an ORGANIZER schedule."""
    return text is not None and "ORGANIZER" in text.upper()


def on_put(conn: Connection, writer: Writer, old_text: str | None, new_text: str,
           schedule_tag_matched: bool = False) -> str:
    """Queue what storing new_text over old_text sends; returns the text to
    store (the organizer's, with SCHEDULE-STATUS on the attendees messaged)."""
    if not is_scheduling(new_text) and not is_scheduling(old_text):
        return new_text
    new = Resource.of(new_text)
    old = Resource.of(old_text) if old_text is not None else None
    who = _role(conn, writer, new, old)
    if who is None:
        return new_text
    if who.kind == ORGANIZER:
        if old is not None and schedule_tag_matched:
            new = Resource.of(keep_answers(new, old, writer.addresses))
        sent = organizer_messages(old, new, who.organizer)
        statuses = _queue(conn, writer, who.address, sent)
        if old is not None and not sent and _answers(old) != _answers(new):
            _refresh_copies(conn, writer, who.organizer, new)  # an answer on the shared object
        if statuses:
            return with_schedule_status(new, statuses)
        return new.text() if old is not None and schedule_tag_matched else new_text
    if writer.schedule_reply:
        reply = attendee_reply(old, new, who.address)
        if reply is not None:
            _queue(conn, writer, who.address, [reply])
    return new_text


def on_delete(conn: Connection, writer: Writer, old_text: str | None) -> None:
    """Queue what deleting old_text sends: CANCEL from its organizer, a
    DECLINED REPLY from an attendee (unless Schedule-Reply: F)."""
    if not is_scheduling(old_text):
        return
    assert old_text is not None
    old = Resource.of(old_text)
    who = _role(conn, writer, old, None)
    if who is None:
        return
    if who.kind == ORGANIZER:
        _queue(conn, writer, who.address, organizer_messages(old, None, who.organizer))
    elif writer.schedule_reply:
        reply = attendee_reply(old, None, who.address)
        if reply is not None:
            _queue(conn, writer, who.address, [reply])


def _role(conn: Connection, writer: Writer, new: Resource, old: Resource | None) -> Role | None:
    """The writer's role (RFC 6638 3.2); and a tenant's logins share its
    calendars, so when the ORGANIZER is a colleague the object the writer
    changes *is* the organizer's: it acts for the organizer (an attendee's
    answer on it included, which then needs no REPLY)."""
    who = role(new, writer.addresses) or (role(old, writer.addresses) if old else None)
    if who is not None and who.kind == ORGANIZER:
        return who
    organizer = new.organizer() or (old.organizer() if old is not None else None)
    if organizer is None:
        return who
    user = calendar_users.user_of(conn, organizer.value)
    if user is not None and user.tenant_id == writer.tenant:
        key = address_key(organizer.value)
        return Role(ORGANIZER, key, key)
    return who


def _answers(resource: Resource) -> dict[tuple[str | None, str], str]:
    found = {}
    for part in resource.parts:
        for index in part.attendees:
            line = resource.line(index)
            found[(part.recurrence_id, address_key(line.value))] = (
                line.param("PARTSTAT") or "NEEDS-ACTION").upper()
    return found


def _refresh_copies(conn: Connection, writer: Writer, organizer: str, new: Resource) -> None:
    """An answer changed on the organizer's object: the attendees of other
    tenants get the object again, so they see it (no mail: outside guests
    are not told of each other's answers)."""
    text = message(new, "REQUEST")
    for address in new.scheduled_attendees(organizer).values():
        target = calendar_users.user_of(conn, address)
        if target is not None and target.tenant_id != writer.tenant:
            _enqueue(conn, writer.tenant, "server", Outgoing("REQUEST", address, text),
                     organizer, new.uid())


def _queue(conn: Connection, writer: Writer, originator: str,
           outgoing: list[Outgoing]) -> dict[str, str]:
    """Queue each message by where its recipient is; the SCHEDULE-STATUS each
    recipient gets (RFC 6638 3.2.9), by address key."""
    statuses: dict[str, str] = {}
    for item in outgoing:
        key = address_key(item.recipient)
        user = calendar_users.user_of(conn, item.recipient)
        if user is not None and user.tenant_id == writer.tenant:
            statuses[key] = DELIVERED  # the tenant's shared object is the delivery
        elif user is not None:
            _enqueue(conn, writer.tenant, "server", item, originator, _uid(item))
            statuses[key] = DELIVERED
        elif mailbox(item.recipient) is not None:
            if not originator.startswith("mailto:"):
                statuses[key] = NOT_MAILED  # a login without an email cannot send mail
                continue
            _enqueue(conn, writer.tenant, "mail", item, originator, _uid(item))
            statuses[key] = SENT
        else:
            statuses[key] = NO_SUCH_USER
    return statuses


def _uid(item: Outgoing) -> str:
    return Resource.of(item.text).uid()


def _enqueue(conn: Connection, tenant: str, transport: str, item: Outgoing,
             originator: str, uid: str) -> None:
    queued = itip_queue.enqueue(conn, tenant, transport, item.method, originator,
                                item.recipient, uid, item.text)
    engine = conn.engine
    # Mail is the sender thread's: the callback only wakes it (no transaction).
    ids = [queued] if transport == "server" else []
    for deliver in _deliver:
        post_commit.defer(conn, lambda d=deliver: d(engine, tenant, ids))


def queue_server(conn: Connection, tenant: str, item: Outgoing, originator: str,
                 uid: str) -> None:
    """Queue a message to a login of another tenant (scheduling/delivery.py's
    refresh of attendee copies after a reply)."""
    _enqueue(conn, tenant, "server", item, originator, uid)
