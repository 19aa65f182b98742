"""Exceptions shared by the domain; the web glue turns them into HTTP statuses."""


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

    precondition = "C:valid-calendar-data"


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
