"""The poll every client sends, answered without Radicale's PROPFIND code.

DAVx5, Thunderbird, Apple Calendar and the caldav client ask a calendar for
its getctag and/or sync-token (PROPFIND Depth 0) every few minutes, to learn
whether anything changed. Radicale's do_PROPFIND re-parses the body, runs
the storage's discover, sanitizes the path nineteen times and builds the
answer property by property: about half of the poll's CPU. Here, after
Radicale has authenticated the user, a Depth 0 PROPFIND of the user's own
calendar asking for nothing but those two properties is answered from the
calendar row of the request's transaction, written by Radicale's own XML
writer, so the bytes are Radicale's. Any other property, depth, collection
or rights setting goes to Radicale.
"""

from __future__ import annotations

from http import client
from xml.etree import ElementTree

from radicale import httputils, types, xmlutils

from backside_caldav.dav.collection import collection_etag
from backside_caldav.dav.fast_path import Call, own_calendar, readable, requested_props
from backside_caldav.domain import sync_tokens

GETCTAG = "{http://calendarserver.org/ns/}getctag"
SYNC_TOKEN = "{DAV:}sync-token"
ANSWERED = frozenset({GETCTAG, SYNC_TOKEN})


def answer(call: Call) -> types.WSGIResponse | None:
    """The poll's answer, or None when Radicale must answer."""
    # Radicale reads a PROPFIND without a Depth header as Depth 0.
    if call.environ.get("HTTP_DEPTH", "0") != "0":
        return None
    own = own_calendar(call)
    props = requested_props(own.xml, ANSWERED) if own else None
    if own is None or props is None or not readable(call):
        return None
    calendar = own.row()
    if calendar is None:
        return None  # Radicale answers 404
    values = {GETCTAG: collection_etag(calendar), SYNC_TOKEN: sync_tokens.sync_token(calendar)}
    multistatus = ElementTree.Element(xmlutils.make_clark("D:multistatus"))
    response = ElementTree.SubElement(multistatus, xmlutils.make_clark("D:response"))
    ElementTree.SubElement(response, xmlutils.make_clark("D:href")).text = \
        xmlutils.make_href(call.base_prefix, "/" + own.path + "/")
    propstat = ElementTree.SubElement(response, xmlutils.make_clark("D:propstat"))
    prop = ElementTree.SubElement(propstat, xmlutils.make_clark("D:prop"))
    for tag in props:
        ElementTree.SubElement(prop, tag).text = values[tag]
    ElementTree.SubElement(propstat, xmlutils.make_clark("D:status")).text = \
        xmlutils.make_response(200)
    call.request_info["status"] = client.MULTI_STATUS
    headers = {"DAV": httputils.DAV_HEADERS,
               "Content-Type": f"text/xml; charset={call.app._encoding}"}
    return (client.MULTI_STATUS, headers,
            call.app._xml_response(multistatus, call.request_info), None)
