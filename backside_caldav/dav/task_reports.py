"""Tasks (VTODO) in calendar-query REPORTs: the time-range and expand.

Radicale 3.9 leaves two gaps for tasks. With C:expand it removes the
time-range from the filter before asking the storage and never applies it
again, and it expands VEVENTs only: a task came back whole, in or out of the
range. Without expand it checked each task with its own reading of RFC 4791
9.9 (DATE values at UTC midnight rather than in the calendar's zone).

The storage now decides a VTODO time-range itself (occurrences.get_filtered
with domain/task_times.py). This module finishes the answer for Radicale's
REPORT: it takes the time-range out of the filter Radicale tests the rest of
it with (the prop-filters, such as Thunderbird's COMPLETED is-not-defined),
as Radicale itself does for an expand; and for an expand, it gives each task
its expanded text, which Item.serialize hands to Radicale, and leaves out the
tasks with no instance in the expanded window (as Radicale does for events).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

from backside_caldav.domain import task_expand, task_times
from backside_caldav.domain.recurrence import TooManyInstances

CALDAV = "{urn:ietf:params:xml:ns:caldav}"


def strip_time_ranges(filters: Iterable[ET.Element]) -> None:
    """Remove the time-range of each VTODO comp-filter: the storage applied it."""
    for query_filter in filters:
        for calendar in query_filter.findall(f"{CALDAV}comp-filter"):
            for todo in calendar.findall(f"{CALDAV}comp-filter"):
                if todo.get("name", "").upper() == "VTODO":
                    for time_range in todo.findall(f"{CALDAV}time-range"):
                        todo.remove(time_range)


def expand(items: list[tuple[Any, bool]], day_zone: str | None,
           window: tuple[datetime, datetime],
           time_range: tuple[datetime, datetime] | None,
           limit: int) -> list[tuple[Any, bool]]:
    """The items with each task expanded into its instances in `window` (and
    the time-range); a task with none is left out. More than `limit`
    instances in all (0: no limit) is Radicale's 400."""
    kept: list[tuple[Any, bool]] = []
    count = 0
    for item, certain in items:
        if item.component_name != "VTODO":
            kept.append((item, certain))
            continue
        text = item.serialize()
        try:
            task = task_times.parse_task(text, day_zone)
            found = task_times.instances(task, *window,
                                         limit=limit or task_times.MAX_INSTANCES)
            chosen = [i for i in found if task_times.matches(i, *window)
                      and (time_range is None or task_times.matches(i, *time_range))]
        except TooManyInstances as exc:
            raise ValueError(f"REPORT occurrences limit hit: {exc}") from exc
        except (ValueError, OverflowError):
            kept.append((item, certain))  # times nobody can read: served as sent
            continue
        if not chosen:
            continue
        count += len(chosen)
        if limit and count > limit:
            raise ValueError(f"REPORT occurrences limit of {limit} hit")
        item.backside_text = task_expand.render(text, task, chosen)
        kept.append((item, certain))
    return kept
