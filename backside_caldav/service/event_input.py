"""The event API's input fields, checked one by one: each bad value is a 400
that names the field. Shared by the JSON API and the MCP tools.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from dateutil.rrule import rrulestr
from icalendar import vRecur

from backside_caldav.domain.event_edit import CUSTOM_FIELD_RE, REMINDER_TYPES, Reminder
from backside_caldav.domain.records import AttendeeRecord
from backside_caldav.domain.zones import UTC
from backside_caldav.service import validate
from backside_caldav.service.problems import invalid

MAX_TITLE = 500
MAX_DESCRIPTION = 20_000
MAX_LOCATION = 1_000
MAX_ATTENDEES = 500
MAX_REMINDERS = 20
MAX_CUSTOM_FIELDS = 50
MAX_CUSTOM_VALUE = 2_000
MAX_EXDATES = 1_000
MAX_REMINDER_MINUTES = 4 * 7 * 24 * 60  # four weeks
TRANSPARENCIES = ("opaque", "transparent")
FREQS = ("SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")
ROLES = {"required": "REQ-PARTICIPANT", "optional": "OPT-PARTICIPANT", "chair": "CHAIR",
         "non-participant": "NON-PARTICIPANT", "req-participant": "REQ-PARTICIPANT",
         "opt-participant": "OPT-PARTICIPANT"}
RSVP = ("pending", "accepted", "declined", "tentative")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_LOCAL_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$")
_ZONES: set[str] = set()


def zone_name(name: str, value: object) -> str:
    """An IANA time zone name (or UTC)."""
    text = validate.text(name, value, 64)
    if not _ZONES:
        _ZONES.update(available_timezones())
    if text != "UTC" and text not in _ZONES:
        raise invalid(name, f"unknown time zone {text[:64]!r}; use an IANA name such as "
                            "Europe/Berlin or America/New_York")
    return text


def a_date(name: str, value: object) -> date:
    if not isinstance(value, str) or not _DATE_RE.match(value):
        raise invalid(name, f"must be a date such as 2026-05-04 for an all-day event, "
                            f"got {str(value)[:60]!r}")
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise invalid(name, f"is not a real date ({exc})") from None
    if not 1900 <= day.year < 2200:
        raise invalid(name, "must lie between 1900-01-01 and 2200-01-01")
    return day


def a_time(name: str, value: object, zone: str) -> datetime:
    """A date-time with an offset, or a local one read in `zone`; returned in zone."""
    if isinstance(value, str) and _LOCAL_RE.match(value):
        try:
            local = datetime.fromisoformat(value.replace("t", "T").replace(" ", "T"))
        except ValueError as exc:
            raise invalid(name, f"is not a real date and time ({exc})") from None
        if not 1900 <= local.year < 2200:
            raise invalid(name, "must lie between 1900-01-01 and 2200-01-01")
        return local.replace(tzinfo=ZoneInfo(zone) if zone != "UTC" else UTC)
    instant = validate.date_time(name, value)
    return instant.astimezone(ZoneInfo(zone)) if zone != "UTC" else instant


def is_date_text(value: object) -> bool:
    return isinstance(value, str) and bool(_DATE_RE.match(value))


def boolean(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise invalid(name, "must be true or false")
    return value


def choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.lower() not in allowed:
        raise invalid(name, f"must be one of {', '.join(allowed)}")
    return value.lower()


def optional_text(name: str, value: object, max_length: int) -> str | None:
    if value is None:
        return None
    return validate.text(name, value, max_length, allow_empty=True) or None


def title(value: object) -> str:
    return validate.text("title", value, MAX_TITLE).strip()


def rrule_text(name: str, value: object) -> str:
    """An RRULE value (RFC 5545 3.3.10), with or without the 'RRULE:' prefix."""
    text = validate.text(name, value, 1000).strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    try:
        rule = vRecur.from_ical(text)
        freq = str(rule.get("FREQ", [""])[0]).upper()
        if freq not in FREQS:
            raise ValueError(f"FREQ must be one of {', '.join(FREQS)}")
        if rule.get("COUNT") and rule.get("UNTIL"):
            raise ValueError("COUNT and UNTIL must not both be given")
        if freq in ("SECONDLY", "MINUTELY"):
            raise ValueError("rules more frequent than hourly are not accepted")
        rrulestr(text, dtstart=datetime(2026, 1, 1, tzinfo=UTC)
                 if "Z" in text.upper() or "UNTIL" not in text.upper()
                 else datetime(2026, 1, 1))
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise invalid(name, f"is not a valid RFC 5545 recurrence rule ({exc}), e.g. "
                            "FREQ=WEEKLY;BYDAY=MO,WE") from None
    return vRecur.from_ical(text).to_ical().decode()


def recurrence(name: str, value: object) -> str:
    """The object form {freq, interval, byday, bymonthday, until, count} as RRULE text."""
    if not isinstance(value, dict):
        raise invalid(name, "must be an object such as {\"freq\": \"weekly\", \"byday\": "
                            "[\"MO\"]}")
    allowed = ("freq", "interval", "byday", "bymonthday", "until", "count")
    for key in value:
        if key not in allowed:
            raise invalid(f"{name}.{key}", f"unknown field (allowed: {', '.join(allowed)})")
    parts = [f"FREQ={choice(f'{name}.freq', value.get('freq'), tuple(f.lower() for f in FREQS)).upper()}"]
    if value.get("interval") is not None:
        parts.append(f"INTERVAL={_int(f'{name}.interval', value['interval'], 1, 1000)}")
    if value.get("count") is not None:
        parts.append(f"COUNT={_int(f'{name}.count', value['count'], 1, 10000)}")
    if value.get("until") is not None:
        until = value["until"]
        if is_date_text(until):
            parts.append("UNTIL=" + a_date(f"{name}.until", until).strftime("%Y%m%d"))
        else:
            parts.append("UNTIL=" + validate.date_time(f"{name}.until", until)
                         .strftime("%Y%m%dT%H%M%SZ"))
    for key, check in (("byday", _day), ("bymonthday", _month_day)):
        if value.get(key) is not None:
            items = value[key]
            if not isinstance(items, list) or not items:
                raise invalid(f"{name}.{key}", "must be a non-empty list")
            parts.append(f"{key.upper()}=" + ",".join(check(f"{name}.{key}", i) for i in items))
    return rrule_text(name, ";".join(parts))


def _int(name: str, value: object, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise invalid(name, f"must be a whole number from {lo} to {hi}")
    return value


def _day(name: str, value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[+-]?\d{0,2}(MO|TU|WE|TH|FR|SA|SU)",
                                                      value.upper()):
        raise invalid(name, "days are MO, TU, WE, TH, FR, SA, SU, optionally with an "
                            "ordinal such as 1MO or -1FR")
    return value.upper()


def _month_day(name: str, value: object) -> str:
    if not isinstance(value, int) or isinstance(value, bool) or value == 0 \
            or not -31 <= value <= 31:
        raise invalid(name, "month days are whole numbers from 1 to 31 or -31 to -1")
    return str(value)


def attendees(value: object, owner: str | None) -> list[AttendeeRecord]:
    if not isinstance(value, list):
        raise invalid("attendees", "must be a list of {email or contact_id, name, role, "
                                   "rsvp_status}")
    if len(value) > MAX_ATTENDEES:
        raise invalid("attendees", f"at most {MAX_ATTENDEES} attendees (got {len(value)})")
    found: dict[str, AttendeeRecord] = {}
    for n, item in enumerate(value):
        record = attendee(f"attendees[{n}]", item)
        found.setdefault(record.key(), record)
    return list(found.values())


def attendee(name: str, item: object) -> AttendeeRecord:
    if not isinstance(item, dict):
        raise invalid(name, "must be an object with email or contact_id")
    for key in item:
        if key not in ("email", "contact_id", "name", "role", "rsvp_status"):
            raise invalid(f"{name}.{key}", "unknown field (allowed: email, contact_id, name, "
                                           "role, rsvp_status)")
    email = item.get("email")
    contact = item.get("contact_id")
    if (email is None) == (contact is None):
        raise invalid(name, "give exactly one of email or contact_id")
    role = item.get("role")
    if role is not None:
        role = ROLES.get(choice(f"{name}.role", role, tuple(ROLES)))
    return AttendeeRecord(
        email=validate.email(f"{name}.email", email) if email is not None else None,
        contact_id=validate.uuid_value(f"{name}.contact_id", contact)
        if contact is not None else None,
        name=optional_text(f"{name}.name", item.get("name"), 200),
        role=role,
        rsvp_status=choice(f"{name}.rsvp_status", item["rsvp_status"], RSVP)
        if item.get("rsvp_status") is not None else "pending")


def reminders(value: object) -> list[Reminder]:
    if not isinstance(value, list):
        raise invalid("reminders", "must be a list of {type, minutes_before}")
    if len(value) > MAX_REMINDERS:
        raise invalid("reminders", f"at most {MAX_REMINDERS} reminders (got {len(value)})")
    found = []
    for n, item in enumerate(value):
        name = f"reminders[{n}]"
        if not isinstance(item, dict):
            raise invalid(name, "must be an object such as {\"minutes_before\": 15}")
        for key in item:
            if key not in ("type", "minutes_before"):
                raise invalid(f"{name}.{key}", "unknown field (allowed: type, minutes_before)")
        if "minutes_before" not in item:
            raise invalid(f"{name}.minutes_before", "is required")
        kind = choice(f"{name}.type", item["type"], REMINDER_TYPES) \
            if item.get("type") is not None else "display"
        found.append(Reminder(_int(f"{name}.minutes_before", item["minutes_before"], 0,
                                   MAX_REMINDER_MINUTES), kind))
    return found


def custom_fields(name: str, value: object, allow_null: bool) -> dict[str, str | None]:
    if not isinstance(value, dict):
        raise invalid(name, "must be an object such as {\"x-deal-stage\": \"won\"}")
    if len(value) > MAX_CUSTOM_FIELDS:
        raise invalid(name, f"at most {MAX_CUSTOM_FIELDS} fields (got {len(value)})")
    found: dict[str, str | None] = {}
    for key, item in value.items():
        lower = key.lower()
        if not CUSTOM_FIELD_RE.match(lower) or lower.startswith("x-backside-"):
            raise invalid(f"{name}.{key}"[:120], "keys are X- property names such as "
                                                 "x-deal-stage (letters, digits and dashes; "
                                                 "x-backside-* is the server's own)")
        if item is None and allow_null:
            found[lower] = None
            continue
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise invalid(f"{name}.{key}", "values are strings (or numbers)"
                          + (", or null to remove the field" if allow_null else ""))
        text = validate.text(f"{name}.{key}", str(item), MAX_CUSTOM_VALUE, allow_empty=True)
        if "\n" in text or "\r" in text:  # an X- property is one unescaped line
            raise invalid(f"{name}.{key}", "must be one line (no line breaks)")
        found[lower] = text
    return found


def exdates(value: object, all_day: bool, zone: str) -> list[date | datetime]:
    if not isinstance(value, list):
        raise invalid("exdates", "must be a list of dates or date-times")
    if len(value) > MAX_EXDATES:
        raise invalid("exdates", f"at most {MAX_EXDATES} exclusions")
    return [a_date(f"exdates[{n}]", v) if all_day else a_time(f"exdates[{n}]", v, zone)
            for n, v in enumerate(value)]


def utc_of(value: date | datetime, zone: str) -> datetime:
    """The instant a date (midnight in zone) or a date-time stands for."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime(value.year, value.month, value.day,
                    tzinfo=ZoneInfo(zone) if zone != "UTC" else UTC).astimezone(UTC)


def default_end(start: date | datetime) -> date | datetime:
    """A day after a date; an hour of wall time after a date-time, or an hour of real
    time when the start lies in a daylight-saving gap (02:30 -> 03:30 would be the
    same instant)."""
    if not isinstance(start, datetime):
        return start + timedelta(days=1)
    end = start + timedelta(hours=1)
    if end.astimezone(UTC) <= start.astimezone(UTC):
        end = (start.astimezone(UTC) + timedelta(hours=1)).astimezone(start.tzinfo)
    return end


def fields_of(doc: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in doc:
        if key not in allowed:
            raise invalid(key[:100], f"unknown field (allowed: {', '.join(allowed)})")
