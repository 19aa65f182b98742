"""A calendar-query filter that vobject cannot evaluate is answered by our
own expansion instead of a 500 for the whole REPORT.

Radicale checks the items our storage cannot vouch for (a series asked about
past its indexed horizon, rows other writers changed) with vobject's
recurrence code, which fails on valid data our parser reads: RDATEs mixing
floating and zoned values ("can't compare offset-naive and offset-aware
datetimes"), dates near the years 1 and 9999. Radicale turns such a failure
into 500 for every item of the REPORT. Its report code calls the module
function test_filter by name for each item, so the server composition wraps
it (as dav/expand.py and dav/freebusy.py do with their functions): a
failure other than Radicale's own ValueError (a bad filter, a 400) is
answered by recurrence.expand over the filter's time-range when the filter
is nothing but a component and a range, and conservatively (the item
matches) otherwise. Radicale is pinned to 3.9, where this hook was checked.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any
from xml.etree import ElementTree as ET

from radicale.app import report
from radicale.item import filter as radicale_filter

from backside_caldav.domain.errors import InvalidCalendarData
from backside_caldav.domain.ical_parse import parse_resource
from backside_caldav.domain.recurrence import TooManyInstances, expand

logger = logging.getLogger(__name__)
_original = report.test_filter
MAX_INSTANCES = 10_000


def _own_match(item: Any, filter_: ET.Element) -> bool:
    """Does the item have an occurrence in the filter's range, by our expansion?"""
    tag, start, end, simple = radicale_filter.simplify_prefilters([filter_], "VCALENDAR")
    if not simple or tag != "VEVENT":
        return True
    try:
        resource = parse_resource(item.serialize())
        window = (datetime.fromtimestamp(max(start, -62135596800), timezone.utc),
                  datetime.fromtimestamp(min(end, 253402300799), timezone.utc))
        return bool(expand(resource.events, *window, limit=MAX_INSTANCES))
    except (InvalidCalendarData, TooManyInstances, ValueError, OverflowError):
        return True


def _test_filter(collection_tag: str, item: Any, filter_: ET.Element) -> bool:
    try:
        return _original(collection_tag, item, filter_)
    except ValueError:
        raise  # Radicale's answer to a filter it cannot read: 400
    except Exception as exc:  # noqa: BLE001 - vobject's failures on valid data
        logger.info("vobject cannot filter %r (%s); answered by our own expansion",
                    getattr(item, "href", None), exc)
        return _own_match(item, filter_)


def install() -> None:
    """Idempotent: safe when several applications are built in one process."""
    report.test_filter = _test_filter
