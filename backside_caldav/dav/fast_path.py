"""When a request may be answered by this server's own code instead of Radicale's.

The fast paths (web/poll.py, web/listing.py, web/member_reports.py) answer
only what they can answer exactly as Radicale would: a calendar of the
logged-in user, through the request's shared transaction, without sharing
(which remaps paths and users) and in UTF-8 (the only encoding they write).
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from radicale import pathutils
from radicale.app.base import Access

from backside_caldav.db import event_reads
from backside_caldav.request import RequestInfo, current_request, shared_transaction

GETETAG = "{DAV:}getetag"
CONTENT_TYPE = "{DAV:}getcontenttype"


def own_calendar(app: Any, path: str, user: str) -> tuple[str, Any, RequestInfo] | None:
    """(path without slashes, shared transaction, request) when `path` is a
    calendar of `user` and `app` (a radicale.Application) may be bypassed."""
    info = current_request.get()
    sane = pathutils.strip_path(path)
    shared = shared_transaction(user)
    if (sane.count("/") != 1 or sane.split("/")[0] != user or info is None or shared is None
            or app._sharing._enabled or app._encoding != "utf-8"):
        return None
    return sane, shared, info


def readable(app: Any, user: str, user_groups: set, path: str) -> bool:
    """Whether `user` may read the collection at `path`, as Radicale's REPORT
    checks it (the collection's own permissions, not only its parent's)."""
    access = Access(app._rights, user, user_groups, path)
    return access.check("r") and "r" in access.permissions


def member_property(prop: str, item: event_reads.ItemHead | event_reads.StoredItem) -> str:
    """A member's getetag, getcontenttype or (a StoredItem's) calendar-data,
    written as Radicale writes it."""
    if prop == GETETAG:
        return f"<getetag>{escape(item.etag)}</getetag>"
    if prop == CONTENT_TYPE:
        return ("<getcontenttype>text/calendar;charset=utf-8;component="
                f"{escape(item.component)}</getcontenttype>")
    assert isinstance(item, event_reads.StoredItem), prop
    return f"<C:calendar-data>{escape(item.text)}</C:calendar-data>"


def requested_props(body: bytes | None, allowed: frozenset[str]) -> list[str] | None:
    """The properties of a <propfind><prop> body if all are allowed, else None."""
    if not body:
        return None  # no body means allprop
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return None
    if root.tag != "{DAV:}propfind" or len(root) != 1 or root[0].tag != "{DAV:}prop":
        return None
    return only([p.tag for p in root[0]], allowed)


def only(props: list[str] | None, allowed: frozenset[str]) -> list[str] | None:
    """props if there are some, all allowed and none twice; else None."""
    if not props or not set(props) <= allowed or len(set(props)) != len(props):
        return None
    return props
