"""Radicale storage plugin: `[storage] type = storage_plugin`.

A thin adapter from Radicale's BaseStorage/BaseCollection to backside_caldav;
the SQL and the iCalendar mapping live there.
"""

from .storage import Storage

__all__ = ["Storage"]
