"""Free-busy lookup (RFC 6638 5): a POST of a VFREEBUSY REQUEST to the
caller's schedule outbox answers a CALDAV:schedule-response, one response
per ATTENDEE.

Busy time is the one policy of domain/busy.py (the JSON API's availability
and CalDAV's free-busy-query use it too), over the tenant's calendars that
count (schedule-calendar-transp not transparent: dav/calendar_transp.py).
Only the caller's own tenant is looked up: a login of another tenant and an
address nobody has both get `3.7;Invalid calendar user`, word for word the
same, so the answer says nothing about who exists elsewhere. RFC 6638
defines POST to the outbox for free-busy only; anything else is refused.
"""

from __future__ import annotations

import codecs
import re
import uuid
from datetime import date, datetime, timedelta, timezone
from email.message import Message
from http import client
from xml.etree import ElementTree as ET

import icalendar
from radicale import types

from backside_caldav import request
from backside_caldav.dav import calendar_transp
from backside_caldav.dav.fast_path import Call
from backside_caldav.dav.refusal import Refusal
from backside_caldav.dav.schedule_boxes import box_of
from backside_caldav.db import busy_queries, calendar_users, calendars
from backside_caldav.domain import busy
from backside_caldav.domain.itip_parts import address_key
from backside_caldav.domain.recurrence import TooManyInstances
from backside_caldav.scheduling import implicit

DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
MAX_ATTENDEES = 100
MAX_SPAN = timedelta(days=366)
MAX_BUSY = 10_000  # occurrences per attendee
UNKNOWN = "3.7;Invalid calendar user"


class Bad(ValueError):
    def __init__(self, message: str, precondition: str = "C:valid-scheduling-message",
                 status: int = 403) -> None:
        super().__init__(message)
        self.precondition, self.status = precondition, status


def _utc(value: object) -> datetime:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)
                ).astimezone(timezone.utc)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    raise Bad("DTSTART and DTEND of the VFREEBUSY must be dates or date-times")


def _request(text: str) -> tuple[str, list[str], datetime, datetime, str]:
    """(organizer, attendees, start, end, uid) of a free-busy request."""
    try:
        cal = icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        raise Bad(f"the body is not iCalendar: {exc}", "C:valid-calendar-data", 400) from None
    if str(cal.get("METHOD", "")).upper() != "REQUEST":
        raise Bad("a POST to the outbox carries METHOD:REQUEST")
    components = [c for c in cal.subcomponents if c.name != "VTIMEZONE"]
    if [c.name for c in components] != ["VFREEBUSY"]:
        raise Bad("the outbox answers free-busy requests only (one VFREEBUSY); invitations "
                  "are sent by the server when the event is stored (RFC 6638 3.2)")
    fb = components[0]
    organizer = fb.get("ORGANIZER")
    if isinstance(organizer, list):
        raise Bad("a free-busy request names one ORGANIZER")
    attendees = fb.get("ATTENDEE") or []
    if not isinstance(attendees, list):
        attendees = [attendees]
    if organizer is None or not attendees:
        raise Bad("a free-busy request names its ORGANIZER and at least one ATTENDEE")
    if len(attendees) > MAX_ATTENDEES:
        raise Bad(f"at most {MAX_ATTENDEES} attendees per free-busy request")
    if fb.get("DTSTART") is None or fb.get("DTEND") is None:
        raise Bad("a free-busy request has DTSTART and DTEND")
    start, end = _utc(fb.decoded("DTSTART")), _utc(fb.decoded("DTEND"))
    if end <= start or end - start > MAX_SPAN:
        raise Bad("the free-busy range must end after it starts, within 366 days")
    return (_one_line(str(organizer)), [_one_line(str(a)) for a in attendees], start, end,
            _one_line(str(fb.get("UID", ""))))


def _one_line(text: str) -> str:
    """A value the answer writes back on a content line: no line breaks or
    other control characters (a UID of 'x\\nFREEBUSY:...' would add a line)."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()


def _stamp(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _reply(organizer: str, attendee: str, start: datetime, end: datetime, uid: str,
           periods: list[tuple[datetime, datetime, str]]) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//backside-caldav//scheduling//EN",
             "METHOD:REPLY", "BEGIN:VFREEBUSY", f"UID:{uid or uuid.uuid4()}",
             f"DTSTAMP:{_stamp(datetime.now(timezone.utc))}", f"DTSTART:{_stamp(start)}",
             f"DTEND:{_stamp(end)}", f"ORGANIZER:{organizer}", f"ATTENDEE:{attendee}"]
    for begin, finish, fbtype in periods:
        lines.append(f"FREEBUSY;FBTYPE={fbtype}:{_stamp(begin)}/{_stamp(finish)}")
    lines += ["END:VFREEBUSY", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def _periods(t: request.Transaction, email: str | None, start: datetime,
             end: datetime) -> list[tuple[datetime, datetime, str]]:
    tenant = t.tenant or ""
    counted = [c.id for c in calendars.list_calendars(t.conn, tenant)
               if "VEVENT" in c.components and not calendar_transp.transparent(c)]
    if not counted:
        return []
    found = busy_queries.candidates(t.conn, tenant, counted, start, end, email,
                                    limit=MAX_BUSY, expand_limit=MAX_BUSY)
    merged: list[tuple[datetime, datetime, str]] = []
    for b in sorted(busy.blocks(found, start, end), key=lambda b: (b.start, b.end)):
        begin, finish = max(b.start, start), min(b.end, end)
        if merged and merged[-1][2] == b.fbtype and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], finish), b.fbtype)
        else:
            merged.append((begin, finish, b.fbtype))
    return merged


def _text(call: Call, body: bytes) -> str:
    """The body in the charset its Content-Type names (UTF-8 when none), as a
    calendar PUT is read."""
    message = Message()
    message["Content-Type"] = call.environ.get("CONTENT_TYPE", "")
    charset = message.get_content_charset() or "utf-8"
    try:
        codecs.lookup(charset)
    except LookupError:
        raise Bad(f"unknown charset {charset[:40]!r}", "C:supported-calendar-data",
                  415) from None
    return body.decode(charset)


def answer(call: Call) -> types.WSGIResponse | None:
    found = box_of(call)
    if found is None:
        return None
    owner, box, member = found
    t = request.transaction_for(call.user)
    if owner != call.user or t is None or t.tenant is None:
        return (client.NOT_FOUND, {"Content-Type": "text/plain"},
                "There is no schedule outbox at this path.\n", None)
    if box != "outbox" or member is not None:
        return (client.METHOD_NOT_ALLOWED, {"Content-Type": "text/plain",
                                            "Allow": "PROPFIND, REPORT, GET, DELETE"},
                f"POST goes to your schedule outbox, /{call.user}/outbox/ (a VFREEBUSY "
                "request); the inbox only holds delivered messages.\n", None)
    scope = request.current()
    body = scope.body if scope is not None else None
    content_type = call.environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    try:
        if content_type != "text/calendar":
            raise Bad("a POST to the outbox is text/calendar", "C:supported-calendar-data", 415)
        organizer, attendees, start, end, uid = _request(_text(call, body or b""))
        writer = implicit.writer_for_login(t.conn, t.tenant, call.user)
        if address_key(organizer) not in writer.addresses:
            raise Bad(f"the ORGANIZER {organizer} is not one of your addresses",
                      "C:organizer-allowed")
        root = ET.Element(f"{CALDAV}schedule-response")
        for attendee in attendees:
            response = ET.SubElement(root, f"{CALDAV}response")
            ET.SubElement(ET.SubElement(response, f"{CALDAV}recipient"),
                          f"{DAV}href").text = attendee
            user = calendar_users.user_of(t.conn, attendee)
            if user is None or user.tenant_id != t.tenant:
                ET.SubElement(response, f"{CALDAV}request-status").text = UNKNOWN
                continue
            try:
                periods = _periods(t, user.email, start, end)
            except (TooManyInstances, busy_queries.SeriesTooLong):
                ET.SubElement(response, f"{CALDAV}request-status").text = \
                    "5.3;Too much busy time in the range to answer"
                continue
            ET.SubElement(response, f"{CALDAV}request-status").text = "2.0;Success"
            ET.SubElement(response, f"{CALDAV}calendar-data").text = _reply(
                organizer, attendee, start, end, uid, periods)
    except UnicodeDecodeError:
        return Refusal(400, "the body is not text in its charset (UTF-8 unless the "
                       "Content-Type names another)", "C:valid-calendar-data").response()
    except Bad as exc:
        return Refusal(exc.status, str(exc), exc.precondition).response()
    call.request_info["status"] = client.OK
    return (client.OK, {"Content-Type": f"text/xml; charset={call.app._encoding}"},
            call.app._xml_response(root, call.request_info), None)
