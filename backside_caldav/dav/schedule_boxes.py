"""The schedule inbox and outbox (RFC 6638 2.1, 2.2) at /<login>/inbox/ and
/<login>/outbox/: collections Radicale knows nothing of, answered here.

The inbox lists the iTIP messages delivered to the login
(db/schedule_inbox.py): PROPFIND (Depth 0 and 1), calendar-multiget, GET
and DELETE of a message; a client that has processed a message deletes it.
The outbox is where a client POSTs a free-busy request
(dav/outbox_post.py); it holds nothing. Only the login's own boxes answer;
another login's gets the same 404 as a path nobody has. The names `inbox`
and `outbox` are reserved: no calendar can be made there (dav/mkcalendar.py).
"""

from __future__ import annotations

from http import client
from urllib.parse import quote, unquote, urlparse
from xml.etree import ElementTree as ET

from radicale import pathutils, types, xmlutils

from backside_caldav import request
from backside_caldav.dav.fast_path import Call
from backside_caldav.dav.refusal import Refusal
from backside_caldav.db import principals, schedule_inbox
from backside_caldav.db.schedule_inbox import InboxItem

DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
CS = "{http://calendarserver.org/ns/}"
BOXES = {"inbox": f"{CALDAV}schedule-inbox", "outbox": f"{CALDAV}schedule-outbox"}
RESERVED = frozenset(BOXES)

BOX_PROPS = (f"{DAV}resourcetype", f"{DAV}displayname", f"{CS}getctag", f"{DAV}owner",
             f"{DAV}current-user-principal", f"{DAV}current-user-privilege-set",
             f"{DAV}supported-report-set", f"{CALDAV}supported-calendar-component-set")
INBOX_ONLY = (f"{CALDAV}schedule-default-calendar-URL",)
MEMBER_PROPS = (f"{DAV}resourcetype", f"{DAV}getetag", f"{DAV}getcontenttype",
                f"{DAV}getcontentlength")


def box_of(call: Call) -> tuple[str, str, str | None] | None:
    """(owner, 'inbox' or 'outbox', member name or None) when the path is in a box."""
    sane = pathutils.strip_path(call.path)
    parts = sane.split("/")
    if len(parts) not in (2, 3) or parts[1] not in BOXES:
        return None
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


def _not_found() -> types.WSGIResponse:
    return (client.NOT_FOUND, {"Content-Type": "text/plain"},
            "There is nothing at this path.\n", None)


def _own(call: Call) -> tuple[str, str | None, request.Transaction] | None:
    """('inbox'|'outbox', member) of the caller's own box with the request's
    transaction; None when the path is no box."""
    found = box_of(call)
    if found is None:
        return None
    owner, box, member = found
    transaction = request.transaction_for(call.user)
    if owner != call.user or transaction is None or transaction.tenant is None:
        return None
    return box, member, transaction


def _href(call: Call, *parts: str) -> str:
    return quote(f"{call.base_prefix}/" + "/".join(parts))


def _xml(call: Call, status: int, root: ET.Element) -> types.WSGIResponse:
    call.request_info["status"] = status
    headers = {"Content-Type": f"text/xml; charset={call.app._encoding}"}
    return status, headers, call.app._xml_response(root, call.request_info), None


def _wanted(root: ET.Element | None) -> tuple[list[str] | None, bool]:
    """(property tags asked, names only); None tags: allprop."""
    if root is None or root.find(f"{DAV}allprop") is not None:
        return None, False
    if root.find(f"{DAV}propname") is not None:
        return None, True
    return [p.tag for p in root.findall(f"{DAV}prop/*")], False


def _propstats(response: ET.Element, found: list[ET.Element], missing: list[str]) -> None:
    for status, props in ((200, found), (404, [ET.Element(t) for t in missing])):
        if props:
            propstat = ET.SubElement(response, f"{DAV}propstat")
            ET.SubElement(propstat, f"{DAV}prop").extend(props)
            ET.SubElement(propstat, f"{DAV}status").text = xmlutils.make_response(status)


def _box_value(call: Call, box: str, tag: str, t: request.Transaction,
               items: list[InboxItem]) -> ET.Element | None:
    element = ET.Element(tag)
    if tag == f"{DAV}resourcetype":
        ET.SubElement(element, f"{DAV}collection")
        ET.SubElement(element, BOXES[box])
    elif tag == f"{DAV}displayname":
        element.text = "Scheduling inbox" if box == "inbox" else "Scheduling outbox"
    elif tag == f"{CS}getctag":
        newest = max((i.etag for i in items), default='"empty"')
        element.text = f'"{len(items)}-{newest.strip(chr(34))}"'
    elif tag in (f"{DAV}owner", f"{DAV}current-user-principal"):
        ET.SubElement(element, f"{DAV}href").text = _href(call, call.user, "")
    elif tag == f"{DAV}current-user-privilege-set":
        names = (("read", "unbind", f"{CALDAV}schedule-deliver") if box == "inbox"
                 else ("read", f"{CALDAV}schedule-send"))
        for name in names:
            privilege = ET.SubElement(element, f"{DAV}privilege")
            ET.SubElement(privilege, name if name.startswith("{") else f"{DAV}{name}")
    elif tag == f"{DAV}supported-report-set":
        if box == "inbox":
            report = ET.SubElement(ET.SubElement(element, f"{DAV}supported-report"),
                                   f"{DAV}report")
            ET.SubElement(report, f"{CALDAV}calendar-multiget")
    elif tag == f"{CALDAV}supported-calendar-component-set":
        for name in ("VEVENT", "VTODO", "VFREEBUSY"):
            ET.SubElement(element, f"{CALDAV}comp").set("name", name)
    elif tag == f"{CALDAV}schedule-default-calendar-URL" and box == "inbox":
        found = principals.principal(t.conn, t.tenant or "", call.user)
        if found is None or found.default_calendar is None:
            return None
        ET.SubElement(element, f"{DAV}href").text = _href(call, call.user,
                                                          found.default_calendar, "")
    else:
        return None
    return element


def _member_value(item: InboxItem, tag: str) -> ET.Element | None:
    element = ET.Element(tag)
    if tag == f"{DAV}resourcetype":
        pass
    elif tag == f"{DAV}getetag":
        element.text = item.etag
    elif tag == f"{DAV}getcontenttype":
        element.text = f"text/calendar; charset=utf-8; method={item.method}"
    elif tag == f"{DAV}getcontentlength":
        element.text = str(len(item.text.encode("utf-8")))
    elif tag == f"{CALDAV}calendar-data":
        element.text = item.text
    else:
        return None
    return element


def _response(href: str, tags: list[str], names_only: bool, value) -> ET.Element:  # noqa: ANN001
    response = ET.Element(f"{DAV}response")
    ET.SubElement(response, f"{DAV}href").text = href
    found, missing = [], []
    for tag in tags:
        element = value(tag)
        if element is None:
            missing.append(tag)
        else:
            found.append(ET.Element(tag) if names_only else element)
    _propstats(response, found, missing)
    return response


def answer_propfind(call: Call) -> types.WSGIResponse | None:
    own = _own(call)
    if own is None:
        return _not_found() if box_of(call) is not None else None
    box, member, t = own
    tags, names_only = _wanted(request.xml_body("PROPFIND"))
    items = schedule_inbox.items(t.conn, t.tenant or "", call.user) if box == "inbox" else []
    multistatus = ET.Element(f"{DAV}multistatus")
    if member is not None:
        item = next((i for i in items if i.href == member), None)
        if item is None:
            return _not_found()
        multistatus.append(_response(_href(call, call.user, box, member),
                                     tags or list(MEMBER_PROPS), names_only,
                                     lambda tag: _member_value(item, tag)))
        return _xml(call, client.MULTI_STATUS, multistatus)
    box_tags = tags or list(BOX_PROPS + (INBOX_ONLY if box == "inbox" else ()))
    multistatus.append(_response(_href(call, call.user, box, ""), box_tags, names_only,
                                 lambda tag: _box_value(call, box, tag, t, items)))
    if call.environ.get("HTTP_DEPTH", "1") != "0":
        for item in items:
            multistatus.append(_response(_href(call, call.user, box, item.href),
                                         tags or list(MEMBER_PROPS), names_only,
                                         lambda tag, i=item: _member_value(i, tag)))
    return _xml(call, client.MULTI_STATUS, multistatus)


def answer_report(call: Call) -> types.WSGIResponse | None:
    """calendar-multiget on the inbox; any other REPORT on a box is refused
    (clients then list the inbox with PROPFIND)."""
    own = _own(call)
    if own is None:
        return _not_found() if box_of(call) is not None else None
    box, member, t = own
    root = request.xml_body("REPORT")
    if box != "inbox" or member is not None or root is None \
            or root.tag != f"{CALDAV}calendar-multiget":
        return Refusal(403, "the schedule inbox answers calendar-multiget only; list it "
                       "with PROPFIND (Depth: 1)", "D:supported-report").response()
    tags = [p.tag for p in root.findall(f"{DAV}prop/*")] or [f"{DAV}getetag"]
    items = {i.href: i for i in schedule_inbox.items(t.conn, t.tenant or "", call.user)}
    multistatus = ET.Element(f"{DAV}multistatus")
    prefix = f"{call.base_prefix}/{call.user}/inbox/"
    for href in root.findall(f"{DAV}href"):
        path = unquote(urlparse(href.text or "").path)
        name = path[len(prefix):] if path.startswith(prefix) else None
        item = items.get(name or "")
        if item is None:
            missing = ET.SubElement(multistatus, f"{DAV}response")
            ET.SubElement(missing, f"{DAV}href").text = href.text
            ET.SubElement(missing, f"{DAV}status").text = xmlutils.make_response(404)
            continue
        multistatus.append(_response(_href(call, call.user, "inbox", item.href), tags, False,
                                     lambda tag, i=item: _member_value(i, tag)))
    return _xml(call, client.MULTI_STATUS, multistatus)


def answer_get(call: Call) -> types.WSGIResponse | None:
    own = _own(call)
    if own is None:
        return _not_found() if box_of(call) is not None else None
    box, member, t = own
    if member is None:
        return (client.METHOD_NOT_ALLOWED, {"Content-Type": "text/plain", "Allow": "PROPFIND"},
                "A scheduling box has no body of its own; list it with PROPFIND.\n", None)
    item = schedule_inbox.item(t.conn, t.tenant or "", call.user, member) \
        if box == "inbox" else None
    if item is None:
        return _not_found()
    headers = {"Content-Type": f"text/calendar; charset=utf-8; method={item.method}",
               "ETag": item.etag}
    return client.OK, headers, item.text.encode("utf-8"), None


def answer_delete(call: Call) -> types.WSGIResponse | None:
    own = _own(call)
    if own is None:
        return _not_found() if box_of(call) is not None else None
    box, member, t = own
    if member is None:
        return Refusal(403, f"the schedule {box} cannot be deleted; delete its messages "
                       "one by one").response()
    if box != "inbox" or not schedule_inbox.remove(t.conn, t.tenant or "", call.user, member):
        return _not_found()
    return client.NO_CONTENT, {}, None, None


def refuse_write(call: Call) -> types.WSGIResponse | None:
    """PUT into a box: the server delivers, clients do not write there."""
    found = box_of(call)
    if found is None:
        return None
    if found[0] != call.user:
        return _not_found()
    return Refusal(403, f"nothing can be stored in the schedule {found[1]}: the server "
                   "delivers scheduling messages (RFC 6638)").response()


def refuse_change(call: Call) -> types.WSGIResponse | None:
    """PROPPATCH, MKCOL or MOVE on a box or a message: the boxes are the
    server's; a sentence instead of Radicale's 404 for a path it never stored."""
    found = box_of(call)
    if found is None:
        return None
    if found[0] != call.user:
        return _not_found()
    what = f"a message in the schedule {found[1]}" if found[2] else f"the schedule {found[1]}"
    return Refusal(403, f"{call.method} cannot change {what}: the server keeps it (RFC 6638); "
                   "GET or DELETE a message, PROPFIND the box").response()

