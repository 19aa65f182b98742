"""Exceptions shared by the domain; the web glue turns them into HTTP statuses."""

from __future__ import annotations


class BacksideError(Exception):
    """Base class: a problem a person can act on (message is shown as is)."""


class ConfigError(BacksideError):
    """Bad settings: database URL, port, data folder."""


class DatabaseUnavailable(BacksideError):
    """PostgreSQL cannot be reached right now."""


class InvalidCalendarData(BacksideError, ValueError):
    """A client sent iCalendar we refuse to store (-> 400 via Radicale).

    `precondition` names the RFC 4791 (or RFC 7529) precondition the refusal
    violates, so CalDAV can answer it in a DAV:error body that clients show.
    """

    precondition: str | None = "C:valid-calendar-data"


class InvalidCalendarObject(InvalidCalendarData):
    """Parsable iCalendar that breaks the rules of one calendar object resource
    (RFC 4791 4.1: one UID, one component type, no METHOD...)."""

    precondition = "C:valid-calendar-object-resource"


class UnsupportedComponent(InvalidCalendarData):
    """A component type the calendar does not take (its component set)."""

    precondition = "C:supported-calendar-component"


class UnsupportedRscale(InvalidCalendarData):
    """An RRULE RSCALE the server does not know (RFC 7529 section 5)."""

    precondition = "C:supported-rscale"


class InstanceLimit(InvalidCalendarData):
    """A recurrence that makes more instances than the server indexes
    (RFC 4791 5.3.2.1 CALDAV:max-instances)."""

    precondition = "C:max-instances"


class AttendeeLimit(InvalidCalendarData):
    """More attendees in one component than the server keeps
    (RFC 4791 5.3.2.1 CALDAV:max-attendees-per-instance)."""

    precondition = "C:max-attendees-per-instance"


class ExceedsLimit(InvalidCalendarData):
    """Over one of this server's bounds that no RFC precondition names (nesting
    depth, components, properties, the length of one property): a plain 400."""

    precondition = None


class TooLarge(InvalidCalendarData):
    """A calendar object over the server's max_resource_size (RFC 4791 5.3.2.1
    CALDAV:max-resource-size)."""

    precondition = "C:max-resource-size"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the calendar object is {size} bytes; this server stores "
                         f"calendar objects of at most {limit} bytes")
