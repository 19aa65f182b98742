"""Free-busy REPORTs answered from the instance index.

Radicale 3.9 computes free-busy by parsing and expanding every candidate
event with vobject (1.9 s for a week of a 10,000-event calendar). Its
report code calls the module function freebusy_collection_text by name, so
the server composition swaps that function for one that asks collections
that can answer from SQL (ours) and leaves any other collection to
Radicale. Radicale is pinned to 3.9, where this hook was checked.

Unlike Radicale (and sabre/dav's FreeBusyGenerator, which look only at
TRANSP and STATUS), the answer follows domain/busy.py, the same policy as the
JSON API's availability: occurrences the calendar's owners declined, working-
location markers and zero-length ones do not block, the owners' TENTATIVE is
BUSY-TENTATIVE (as Google and Exchange do), and all-day ones block whole days.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from radicale.app import report

_original = report.freebusy_collection_text


def _freebusy_collection_text(collection: Any, range_start: datetime, range_end: datetime,
                              max_occurrence: int, unlock_storage_fn: Callable[[], None],
                              time_range_element: Any = None) -> str:
    busy_periods = getattr(collection, "busy_periods", None)
    if busy_periods is None:
        return _original(collection, range_start, range_end, max_occurrence,
                         unlock_storage_fn, time_range_element)
    start = range_start.astimezone(timezone.utc)
    end = range_end.astimezone(timezone.utc)
    periods = busy_periods(start, end, max_occurrence or 100_000)
    unlock_storage_fn()
    return report.render_freebusy(periods, start, end)


def install() -> None:
    """Idempotent: safe when several applications are built in one process."""
    report.freebusy_collection_text = _freebusy_collection_text
