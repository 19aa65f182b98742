"""iMIP (RFC 6047): an iTIP message as mail, and the iTIP REPLY inside a
mail that came back.

Outgoing: multipart/alternative with a short text/plain summary and the
iCalendar as `text/calendar; method=...` (RFC 6047 2.4), plus the same
iCalendar as an `invite.ics` attachment, which Gmail, Outlook and
Thunderbird also read. The stdlib `email` package writes the headers: a
CR or LF in a title cannot start a header of its own.
"""

from __future__ import annotations

import email
import email.policy
import re
from datetime import datetime, timezone
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import format_datetime, getaddresses, parseaddr

import icalendar

from backside_caldav.db.itip_queue import QueuedMessage
from backside_caldav.domain.itip_parts import address_key
from backside_caldav.domain.mail_address import mailbox

ANSWERS = {"ACCEPTED": "Accepted", "DECLINED": "Declined", "TENTATIVE": "Tentative",
           "DELEGATED": "Delegated"}
MAX_INBOUND = 2_000_000  # bytes of one inbound mail


class NotImip(ValueError):
    """A mail that holds no iTIP message this server reads."""


def _bare(address: str) -> str:
    return address[7:] if address[:7].lower() == "mailto:" else address


def _one_line(text: str) -> str:
    return re.sub(r"[\r\n\t]+", " ", text).strip()


def _summary(cal: icalendar.Calendar) -> tuple[str, list[str], str | None]:
    """(title, the plain-text lines, the replying attendee's PARTSTAT)."""
    events = [c for c in cal.walk() if c.name in ("VEVENT", "VTODO")]
    first = events[0] if events else icalendar.Event()
    title = _one_line(str(first.get("SUMMARY", "")) or "(no title)")
    lines = [f"Title: {title}"]
    start = first.get("DTSTART")
    if start is not None:
        lines.append(f"When: {start.dt}")
    if first.get("LOCATION"):
        lines.append(f"Where: {_one_line(str(first['LOCATION']))}")
    organizer = first.get("ORGANIZER")
    if organizer is not None:
        name = organizer.params.get("CN")
        lines.append(f"Organizer: {_one_line(str(name)) + ' ' if name else ''}"
                     f"<{_bare(str(organizer))}>")
    attendee = first.get("ATTENDEE")
    if isinstance(attendee, list):
        attendee = attendee[0] if attendee else None
    partstat = str(attendee.params.get("PARTSTAT", "")).upper() if attendee is not None else None
    return title, lines, partstat


def _name(cal: icalendar.Calendar, address: str) -> str:
    """The CN the message gives this address (ORGANIZER or ATTENDEE), for the
    mail's From and To; empty when it gives none."""
    wanted = address_key(address)
    for component in cal.walk():
        if component.name not in ("VEVENT", "VTODO"):
            continue
        found = component.get("ATTENDEE") or []
        for prop in [component.get("ORGANIZER"), *(found if isinstance(found, list) else [found])]:
            if prop is not None and address_key(str(prop)) == wanted:
                name = _one_line(str(prop.params.get("CN", "")))[:200]
                # A name that looks like an encoded word could read as an address.
                return "" if "=?" in name else name
    return ""


def build(queued: QueuedMessage, envelope_from: str | None = None) -> EmailMessage:
    """The mail for one queue row; its Message-ID is the row's, so a resend
    is recognisably the same message."""
    cal = icalendar.Calendar.from_ical(queued.text)
    title, lines, partstat = _summary(cal)
    method = queued.method.upper()
    if method == "REQUEST":
        subject = f"Invitation: {title}"
    elif method == "CANCEL":
        subject = f"Cancelled: {title}"
    else:
        subject = f"{ANSWERS.get(partstat or '', 'Reply')}: {title}"
    message = EmailMessage(policy=email.policy.SMTP)
    sender, recipient = mailbox(queued.originator), mailbox(queued.recipient)
    if recipient is None:  # queued before the check at queue time
        raise ValueError(f"{queued.recipient[:80]!r} is not one mail address")
    if sender is None:
        raise ValueError(f"{queued.originator[:80]!r} is not one mail address")
    # Address objects: the policy quotes and RFC 2047-encodes display names.
    message["From"] = Address(_name(cal, queued.originator), addr_spec=sender)
    if envelope_from and envelope_from.lower() != sender.lower():
        message["Sender"] = envelope_from
    message["To"] = Address(_name(cal, queued.recipient), addr_spec=recipient)
    message["Date"] = format_datetime(datetime.now(timezone.utc))
    message["Subject"] = subject
    domain = sender.rsplit("@", 1)[-1] if "@" in sender else "backside-caldav.invalid"
    message["Message-ID"] = f"<itip.{queued.id}@{_one_line(domain)}>"
    message["Auto-Submitted"] = "auto-generated"
    body = "\n".join([subject, "", *lines, "",
                      "Your calendar application reads the attached invitation."]) + "\n"
    message.set_content(body)
    data = queued.text.encode("utf-8")
    message.add_alternative(data, maintype="text", subtype="calendar",
                            params={"method": method, "charset": "utf-8"})
    message.add_attachment(data, maintype="application", subtype="ics", filename="invite.ics")
    return message


def inbound(raw: bytes) -> tuple[str, str]:
    """(the sender's address, lower case; the iTIP text) of a mail that came
    back: its first text/calendar part (or .ics attachment)."""
    if len(raw) > MAX_INBOUND:
        raise NotImip(f"the message is over {MAX_INBOUND} bytes")
    message: Message = email.message_from_bytes(raw, policy=email.policy.default)
    senders = [a for _name, a in getaddresses(message.get_all("From", [])) if "@" in a]
    if len(senders) != 1:
        raise NotImip("the message must have exactly one From address")
    found = []
    for part in message.walk():
        if part.is_multipart():
            continue
        name = (part.get_filename() or "").lower()
        if part.get_content_type() in ("text/calendar", "application/ics") or name.endswith(".ics"):
            payload = part.get_payload(decode=True) or b""
            charset = part.get_content_charset() or "utf-8"
            try:
                found.append(payload.decode(charset, "replace"))
            except LookupError:
                found.append(payload.decode("utf-8", "replace"))
    if not found:
        raise NotImip("the message holds no text/calendar part")
    # The calendar part and its attachment copy are the same message; others are not.
    if len({_normal(f) for f in found}) != 1:
        raise NotImip("the message holds more than one calendar")
    return parseaddr(senders[0])[1].lower(), found[0]


def _normal(text: str) -> str:
    return text.replace("\r\n", "\n").strip()
