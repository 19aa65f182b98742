"""sync-collection with a DAV:limit (RFC 6578 3.6/3.7): one page at a time.

Radicale ignores DAV:limit and answers every change. Here the page is chosen
first (db/sync_pages.py, in the request's snapshot): at most `nresults`
hrefs, in the order domain/sync_tokens.py defines, and a token that stands
for the end of that page. A page asking only for getetag and getcontenttype
(what clients ask) is written here, as Radicale writes such responses,
without loading the members' texts; for any other property Radicale answers
the REPORT as always, its sync() call getting this page. When more remain, a
response for the collection itself with 507 Insufficient Storage and
DAV:number-of-matches-within-limits is added, as 3.6 asks. The last page's
token is the calendar's current one.

A limit of 0 cannot be honoured while there is anything to report: 3.7 says
to fail with the DAV:number-of-matches-within-limits postcondition (403).
A limit above MAX_PAGE is honoured as MAX_PAGE (3.6: a server may truncate),
so one request reads a bounded number of rows however large the number is.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import client
from urllib.parse import quote
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from radicale import pathutils, types, xmlutils

from backside_caldav import request
from backside_caldav.dav import listing
from backside_caldav.dav.fast_path import Call, member_property, own_calendar, readable
from backside_caldav.db import sync_pages
from backside_caldav.db.event_reads import ItemHead
from backside_caldav.domain import sync_tokens

DAV = "{DAV:}"
MAX_PAGE = 10_000
TRUNCATED = "HTTP/1.1 507 Insufficient Storage"


@dataclass(frozen=True)
class Page:
    """What the storage's sync() answers for this request (dav/collection.py)."""

    calendar_id: str
    token: str
    hrefs: list[str]


def requested_limit(root: ElementTree.Element | None) -> int | None:
    """The DAV:nresults of a sync-collection, at most MAX_PAGE; None without a
    limit. The XML guard has checked that it is one run of digits."""
    if root is None or root.tag != f"{DAV}sync-collection":
        return None
    text = (root.findtext(f"{DAV}limit/{DAV}nresults") or "").strip()
    if not (text.isascii() and text.isdigit()):
        return None
    return MAX_PAGE if len(text) > len(str(MAX_PAGE)) else min(int(text), MAX_PAGE)


def answer(call: Call) -> types.WSGIResponse | None:
    """A sync-collection with a DAV:limit on one of the user's calendars."""
    own = own_calendar(call)
    limit = requested_limit(own.xml) if own else None
    if own is None or own.xml is None or limit is None or not readable(call):
        return None
    calendar = own.row()
    if calendar is None:
        return None  # Radicale answers 404
    token = (own.xml.findtext(f"{DAV}sync-token") or "").strip()
    try:
        position = (sync_tokens.parse_position(calendar, token) if token
                    else sync_tokens.first_sync(calendar))
    except ValueError:
        return None  # Radicale's sync() raises the same: 403 DAV:valid-sync-token
    rows = sync_pages.after(own.conn, own.tenant, calendar, position, limit + 1)
    if limit == 0 and rows:
        return _too_many(call)
    more = len(rows) > limit
    rows = rows[:limit]
    if more:
        end = sync_tokens.Position(rows[-1].key, rows[-1].href, position.hidden)
        new_token = sync_tokens.page_token(calendar, end)
    else:
        new_token = sync_tokens.sync_token(calendar)
    hrefs = [row.href for row in rows]
    collection = xmlutils.make_href(call.base_prefix, pathutils.unstrip_path(own.path, True))
    props = listing.sync_props(own.xml)
    if props is not None:
        found = {row.href: row.head for row in rows if row.head is not None}
        body = _page_body(call, new_token, collection, hrefs, found, props, more)
        call.request_info["status"] = client.MULTI_STATUS
        return client.MULTI_STATUS, {"Content-Type": "text/xml; charset=utf-8"}, body, None
    scope = request.current()
    assert scope is not None, "a fast path runs inside the request's scope"
    scope.sync_page = Page(calendar.id, new_token, hrefs)
    status, headers, answer, xml_request = call.radicale()
    if more and status == client.MULTI_STATUS and isinstance(answer, bytes):
        multistatus = ElementTree.fromstring(answer)
        multistatus.append(_truncated(collection))
        answer = call.app._xml_response(multistatus, call.request_info)
    return status, headers, answer, xml_request


def _truncated(collection_href: str) -> ElementTree.Element:
    """The response for the collection itself that says more remain (RFC 6578 3.6)."""
    response = ElementTree.Element(f"{DAV}response")
    ElementTree.SubElement(response, f"{DAV}href").text = collection_href
    ElementTree.SubElement(response, f"{DAV}status").text = TRUNCATED
    error = ElementTree.SubElement(response, f"{DAV}error")
    ElementTree.SubElement(error, f"{DAV}number-of-matches-within-limits")
    return response


def _page_body(call: Call, token: str, collection_href: str, hrefs: list[str],
               found: dict[str, ItemHead], props: list[str], more: bool) -> bytes:
    """A page asking only for etags and content types, written here as Radicale
    writes it (removed members first, then the others in page order), without
    loading or rendering the members' texts."""
    multistatus = ElementTree.Element(f"{DAV}multistatus")
    ElementTree.SubElement(multistatus, f"{DAV}sync-token").text = token
    if more:
        multistatus.append(_truncated(collection_href))
    head = call.app._xml_response(multistatus, call.request_info).rstrip()
    cut = head.rfind(b"<response>") if more else head.rfind(listing.CLOSE_ROOT)
    parts = [head[:cut]]
    for href in hrefs:
        if href not in found:
            parts.append(f"<response><href>{escape(collection_href + quote(href))}</href>"
                         "<status>HTTP/1.1 404 Not Found</status></response>".encode())
    for href in hrefs:
        item = found.get(href)
        if item is not None:
            values = "".join(member_property(prop, item) for prop in props)
            parts.append(f"<response><href>{escape(collection_href + quote(href))}</href>"
                         f"<propstat><prop>{values}</prop><status>HTTP/1.1 200 OK</status>"
                         "</propstat></response>".encode())
    parts.append(head[cut:])
    return b"".join(parts)


def _too_many(call: Call) -> types.WSGIResponse:
    message = ("DAV:nresults is 0 but there are changes to report; ask for at least one "
               "result per page")
    body = ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<D:error xmlns:D="DAV:" xmlns:B="urn:backside-caldav">'
            f"<D:number-of-matches-within-limits/><B:message>{escape(message)}</B:message>"
            "</D:error>\n").encode()
    call.request_info["status"] = client.FORBIDDEN
    return client.FORBIDDEN, {"Content-Type": "application/xml; charset=utf-8"}, body, None
