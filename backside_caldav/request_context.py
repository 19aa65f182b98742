"""What the current HTTP request carried, for code that runs below Radicale.

Radicale hands the storage an item re-serialized by vobject, which mangles
some client data; the WSGI middleware keeps the original body here so the
storage can keep the client's exact text.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from datetime import datetime, timezone
from xml.etree import ElementTree

from .instance_index import BEGINNING
from .recurrence import INFINITY


@dataclass(frozen=True)
class RequestInfo:
    method: str
    path: str  # sanitized, without leading or trailing "/"
    body: bytes | None
    charset: str
    # Why the storage refused a write, for a reply Radicale would leave as "Bad Request".
    reasons: list[str] = field(default_factory=list)


current_request: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar(
    "backside_current_request", default=None)


def note_refusal(reason: str) -> None:
    """Remember why the current request's write was refused (see web/reasons.py)."""
    info = current_request.get()
    if info is not None:
        info.reasons.append(reason)


def original_text_for(method: str, path: str) -> str | None:
    """The decoded request body if the current request is `method` on `path`."""
    info = current_request.get()
    if info is None or info.body is None or info.method != method or info.path != path:
        return None
    try:
        return info.body.decode(info.charset)
    except (LookupError, UnicodeDecodeError):
        return None


CALDAV = "{urn:ietf:params:xml:ns:caldav}"


def expand_window() -> tuple[datetime, datetime] | None:
    """The time-range of the current calendar-query if it asks for expand.

    Radicale removes the time-range from the filter it hands the storage when
    the query expands, so the storage would have to return every event; the
    window the client asked for is still in the request body.
    """
    info = current_request.get()
    if info is None or info.method != "REPORT" or not info.body or b"expand" not in info.body:
        return None
    try:
        root = ElementTree.fromstring(info.body)
    except ElementTree.ParseError:
        return None
    if root.find(f".//{CALDAV}expand") is None:
        return None
    for comp in root.iter(f"{CALDAV}comp-filter"):
        if comp.get("name", "").upper() == "VCALENDAR":
            continue
        time_range = comp.find(f"{CALDAV}time-range")
        if time_range is not None:
            start = _utc(time_range.get("start"))
            end = _utc(time_range.get("end"))
            if start is None and end is None:
                return None
            return start or BEGINNING, end or INFINITY
    return None


def _utc(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
