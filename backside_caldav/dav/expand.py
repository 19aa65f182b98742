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

from backside_caldav.domain.expand_render import render
from backside_caldav.domain.matcher_view import needs_own_reading, own_expansion

_original = report._expand
logger = logging.getLogger(__name__)


def _expand(element: ET.Element, item: Any, start: datetime.datetime, end: datetime.datetime,
            time_range_start: datetime.datetime | None = None,
            time_range_end: datetime.datetime | None = None,
            max_occurrence: int = 0) -> tuple[ET.Element, int]:
    expansion = getattr(item, "backside_expansion", None)
    rendered = None
    if expansion is None and needs_own_reading(item.serialize()):
        # RSCALE or a TZID without zone, which Radicale's expand cannot read
        # (a calendar-multiget's items carry no occurrences from the index).
        row = getattr(item.collection, "row", None)
        expansion = own_expansion(item.serialize(), getattr(row, "timezone", None),
                                  _utc(start), _utc(end))
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
            row = getattr(item.collection, "row", None)
            own = own_expansion(item.serialize(), getattr(row, "timezone", None),
                                _utc(start), _utc(end))
            rendered = None if own is None else render(item.serialize(), own, start, end,
                                                       time_range_start, time_range_end)
            if rendered is None:
                rendered = item.serialize(), 1
    text, count = rendered
    if max_occurrence and count >= max_occurrence:
        raise ValueError(f"REPORT occurrences limit of {max_occurrence} hit")
    element.text = text
    return element, count


def _utc(value: datetime.datetime) -> datetime.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc)


def install() -> None:
    """Idempotent: safe when several applications are built in one process."""
    report._expand = _expand
