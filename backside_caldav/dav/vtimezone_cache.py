"""Share vobject's VTIMEZONE -> tzinfo conversion between parses.

Radicale parses every PUT body with vobject, which turns each VTIMEZONE into
a fresh dateutil tzical and then compares it with UTC and with the zones
already registered. A fresh tzical's rules walk every transition since
their DTSTART (1970 in most clients' VTIMEZONEs) on each offset lookup:
4.3 ms of a 9.5 ms PUT in a profile of 200 PUTs with a Europe/Berlin
VTIMEZONE. Clients send the same few VTIMEZONE texts over and over, so the
tzinfo built from one text is kept and reused, with its rule caches warm.
tzical objects are not changed after they are built, and dateutil guards
its rule caches with a lock, so sharing them between threads is safe.
"""

from __future__ import annotations

import functools
import io
from typing import Any

import vobject.icalendar
from dateutil import tz as dateutil_tz

CACHED_TEXTS = 512


@functools.lru_cache(maxsize=CACHED_TEXTS)
def _tzical_of(text: str) -> Any:
    return dateutil_tz.tzical(io.StringIO(text))


class _TzWithCachedTzical:
    """Stands in for the `dateutil.tz` module inside vobject.icalendar."""

    def __getattr__(self, name: str) -> Any:
        return getattr(dateutil_tz, name)

    @staticmethod
    def tzical(fileobj: Any) -> Any:
        return _tzical_of(fileobj.read())


def install() -> None:
    """Idempotent: vobject.icalendar looks the module up as its global `tz`."""
    if not isinstance(vobject.icalendar.tz, _TzWithCachedTzical):
        vobject.icalendar.tz = _TzWithCachedTzical()
