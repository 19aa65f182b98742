"""MKCALENDAR where no calendar can be: CALDAV:calendar-collection-location-ok.

Calendars live directly in a user's home (/alice/work/); the storage makes no
other collections. Radicale answers a MKCALENDAR inside a calendar with a
bare 403 and one under a missing parent with a bare 409; RFC 4791 5.3.1.1
names the precondition, so the client is told which rule it broke.
"""

from __future__ import annotations

import posixpath

from radicale import pathutils, rights, types

from backside_caldav.dav.fast_path import Call
from backside_caldav.dav.refusal import Refusal
from backside_caldav.dav.schedule_boxes import RESERVED


def answer(call: Call) -> types.WSGIResponse | None:
    """403 calendar-collection-location-ok for a nested MKCALENDAR the user may
    otherwise make; else None (Radicale answers, rights first)."""
    sane = pathutils.strip_path(call.path)
    if sane.count("/") == 1 and sane.split("/")[1] in RESERVED:
        return Refusal(403, f"/{sane}/ is the schedule {sane.split('/')[1]} (RFC 6638): a "
                       "calendar needs another name", "D:resource-must-be-null").response()
    if sane.count("/") < 2:
        return None
    parent = pathutils.unstrip_path(posixpath.dirname(sane), True)
    if not rights.intersect(call.app._rights.authorization(call.user, call.user_groups, parent),
                            "Ww"):
        return None  # not under a collection of the user's: Radicale's own 403
    home = sane.split("/", 1)[0]
    return Refusal(403, f"calendars cannot be nested: make it directly in your home, as "
                   f"/{home}/{sane.rsplit('/', 1)[1]}/", "C:calendar-collection-location-ok"
                   ).response()
