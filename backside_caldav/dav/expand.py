"""Expanded calendar-query REPORTs rendered from the instance index.

Radicale 3.9 expands each candidate by parsing it with vobject and walking its
rules (1.7 s for a week of a 10,000-event calendar, 30 s on its own storage).
Its report code calls the module function _expand by name for every item and
requested property, so the server composition swaps in one that renders from
the occurrences our storage attached to the item (see expand_render) and
leaves every other item to Radicale. Radicale is pinned to 3.9, where this
hook was checked (the freebusy hook uses the same technique).

Radicale's own expansion fails on valid data our parser reads (RDATEs that
mix floating and zoned values, overrides stored without their master): a
ValueError there answers 400 and any other error 500, for the whole REPORT.
Such an item is expanded from our own reading of its text instead
(recurrence.expand over the requested window), and sent unexpanded only when
even that cannot place it.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any
from xml.etree import ElementTree as ET

from radicale.app import report

from backside_caldav.domain.errors import InvalidCalendarData
from backside_caldav.domain.expand_render import Expansion, render
from backside_caldav.domain.ical_parse import parse_resource
from backside_caldav.domain.recurrence import TooManyInstances, expand

_original = report._expand
logger = logging.getLogger(__name__)
MAX_INSTANCES = 10_000


def _aware(value: datetime.datetime) -> datetime.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=datetime.timezone.utc)


def _own_expansion(text: str, start: datetime.datetime, end: datetime.datetime
                   ) -> Expansion | None:
    """What the index would say about the item, from our own parse of its text."""
    try:
        events = parse_resource(text).events
        instances = expand(events, _aware(start), _aware(end), limit=MAX_INSTANCES)
    except (InvalidCalendarData, TooManyInstances, ValueError, OverflowError):
        return None
    if not events:
        return None
    master = next((e for e in events if e.recurrence_id is None), events[0])
    overrides = frozenset(e.recurrence_id for e in events if e.recurrence_id is not None)
    return Expansion(recurring=bool(master.rrule or master.rdates or overrides),
                     all_day=master.is_all_day, day_zone=master.timezone,
                     override_ids=overrides,
                     instances=[(i.recurrence_id, i.start, i.end) for i in instances])


def _expand(element: ET.Element, item: Any, start: datetime.datetime, end: datetime.datetime,
            time_range_start: datetime.datetime | None = None,
            time_range_end: datetime.datetime | None = None,
            max_occurrence: int = 0) -> tuple[ET.Element, int]:
    expansion = getattr(item, "backside_expansion", None)
    rendered = None
    if expansion is not None:
        rendered = render(item.serialize(), expansion, start, end, time_range_start,
                          time_range_end)
    if rendered is None:
        try:
            return _original(element=element, item=item, start=start, end=end,
                             time_range_start=time_range_start, time_range_end=time_range_end,
                             max_occurrence=max_occurrence)
        except Exception as exc:  # noqa: BLE001 - vobject's failures on valid data
            logger.info("vobject cannot expand %r (%s); expanded by our own reading",
                        getattr(item, "href", None), exc)
            own = _own_expansion(item.serialize(), start, end)
            rendered = None if own is None else render(item.serialize(), own, start, end,
                                                       time_range_start, time_range_end)
            if rendered is None:
                rendered = item.serialize(), 1
    text, count = rendered
    if max_occurrence and count >= max_occurrence:
        raise ValueError(f"REPORT occurrences limit of {max_occurrence} hit")
    element.text = text
    return element, count


def install() -> None:
    """Idempotent: safe when several applications are built in one process."""
    report._expand = _expand
