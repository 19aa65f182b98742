"""Exceptions shared by the domain; the web glue turns them into HTTP statuses."""


class BacksideError(Exception):
    """Base class: a problem a person can act on (message is shown as is)."""


class ConfigError(BacksideError):
    """Bad settings: database URL, port, data folder."""


class DatabaseUnavailable(BacksideError):
    """PostgreSQL cannot be reached right now."""


class InvalidCalendarData(BacksideError, ValueError):
    """A client sent iCalendar we refuse to store (-> 400 via Radicale)."""
