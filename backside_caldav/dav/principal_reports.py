"""The principal REPORTs: RFC 3744 principal-property-search and
principal-search-property-set, and RFC 3253 expand-property on a principal.

Radicale 3.9 answers all three with an empty 207. Apple Calendar and
Thunderbird search principals to find attendees by name or email: Apple sends
`test="anyof"` with `match-type="starts-with"` over displayname,
calendarserver's email-address-set, first-name and last-name, to the
principal URL with apply-to-principal-collection-set; Apple also asks
expand-property on its principal at start-up. The principals searched are the
logins of the caller's tenant, never another tenant's (db/principals.py
names the tenant in its SQL), and at most MAX_MATCHES of them answer: for
the rest, a response for the request-URI with 507 and
DAV:number-of-matches-within-limits, as RFC 5323 and RFC 6578 truncate.

A fast path (dav/app.py's table): it answers these reports on the root and
in the caller's own tree, and expand-property on a colleague's principal;
anything else goes to Radicale.
"""

from __future__ import annotations

import re
from http import client
from xml.etree import ElementTree as ET

from radicale import pathutils, types, xmlutils
from sqlalchemy.engine import Connection

from backside_caldav import request
from backside_caldav.dav import principal_props
from backside_caldav.dav.fast_path import Call
from backside_caldav.db import principals as principal_rows
from backside_caldav.domain import principal_search
from backside_caldav.domain.principal_search import Criterion, Principal

DAV = "{DAV:}"
PROPERTY_SEARCH = f"{DAV}principal-property-search"
SEARCH_PROPERTY_SET = f"{DAV}principal-search-property-set"
EXPAND_PROPERTY = f"{DAV}expand-property"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


class BadReport(ValueError):
    """A report this server cannot answer as asked: 400 with the reason."""


def answer(call: Call) -> types.WSGIResponse | None:
    """The answer to a principal report, or None when Radicale answers."""
    root = request.xml_body("REPORT")
    transaction = request.transaction_for(call.user) if call.user else None
    if (root is None or root.tag not in (PROPERTY_SEARCH, SEARCH_PROPERTY_SET, EXPAND_PROPERTY)
            or transaction is None or transaction.tenant is None):
        return None
    sane = pathutils.strip_path(call.path)
    parts = sane.split("/") if sane else []
    if root.tag == EXPAND_PROPERTY:
        if len(parts) != 1:
            return None  # of the root or a calendar: Radicale's (empty) answer
    elif parts and parts[0] != call.user:
        return None  # another login's tree: Radicale refuses it
    elif (root.tag == PROPERTY_SEARCH and parts
          and root.find(f"{DAV}apply-to-principal-collection-set") is None):
        return None  # no principal is a member of a principal or a calendar: an empty 207
    try:
        if call.environ.get("HTTP_DEPTH", "0") != "0":
            raise BadReport(f"a {root.tag[len(DAV):]} REPORT is answered with Depth: 0 only "
                            "(RFC 3744 section 9; a principal has no members to expand)")
        if root.tag == SEARCH_PROPERTY_SET:
            return _xml(call, client.OK, search_property_set())
        if root.tag == PROPERTY_SEARCH:
            return _search(call, transaction.conn, transaction.tenant, root, sane)
        return _expand(call, transaction.conn, transaction.tenant, root, parts[0])
    except BadReport as exc:
        return (client.BAD_REQUEST, {"Content-Type": "text/plain"},
                f"{exc}\n", None)


def _xml(call: Call, status: int, root: ET.Element) -> types.WSGIResponse:
    call.request_info["status"] = status
    headers = {"Content-Type": f"text/xml; charset={call.app._encoding}"}
    return status, headers, call.app._xml_response(root, call.request_info), None


# --- principal-search-property-set -------------------------------------------------

def search_property_set() -> ET.Element:
    """RFC 3744 9.5: each searchable property with its description."""
    root = ET.Element(SEARCH_PROPERTY_SET)
    for tag, description in principal_search.SEARCHABLE.items():
        entry = ET.SubElement(root, f"{DAV}principal-search-property")
        ET.SubElement(ET.SubElement(entry, f"{DAV}prop"), tag)
        text = ET.SubElement(entry, f"{DAV}description")
        text.set(XML_LANG, "en")
        text.text = description
    return root


# --- principal-property-search -------------------------------------------------------

_SEARCH_PARTS = frozenset({f"{DAV}property-search", f"{DAV}prop",
                           f"{DAV}apply-to-principal-collection-set"})


def parse_search(root: ET.Element) -> tuple[list[Criterion], str, list[str]]:
    """(criteria, test, properties to answer) of a principal-property-search body."""
    test = root.get("test", "allof")
    if test not in principal_search.TESTS:
        raise BadReport(f"test={test[:40]!r} is not understood; use allof or anyof")
    searches = root.findall(f"{DAV}property-search")
    criteria = []  # none (the caldav library's search_principals()): every colleague
    for search in searches:
        prop, match = search.find(f"{DAV}prop"), search.find(f"{DAV}match")
        if prop is None or not len(prop):
            raise BadReport("each DAV:property-search names the properties it searches "
                            "in a non-empty DAV:prop")
        if match is None:
            raise BadReport("each DAV:property-search needs a DAV:match with the text sought")
        match_type = match.get("match-type", "contains")
        if match_type not in principal_search.MATCH_TYPES:
            raise BadReport(f"match-type={match_type[:40]!r} is not understood; use one of "
                            f"{', '.join(sorted(principal_search.MATCH_TYPES))}")
        criteria.append(Criterion(tuple(p.tag for p in prop), "".join(match.itertext()).strip(),
                                  match_type))
    # The properties to answer; the caldav library (2.x) sends them beside an
    # empty DAV:prop rather than in it, so those count too.
    wanted = [p.tag for p in root.findall(f"{DAV}prop/*")]
    wanted += [e.tag for e in root if e.tag not in _SEARCH_PARTS and e.tag not in wanted]
    return criteria, test, wanted


def _search(call: Call, conn: Connection, tenant: str, root: ET.Element,
            sane: str) -> types.WSGIResponse:
    criteria, test, wanted = parse_search(root)
    # Only an address search looks at the principal URL: the rest skip making it.
    by_url = any(principal_search.CALENDAR_USER_ADDRESS_SET in c.props for c in criteria)
    found = [p for p in principal_rows.tenant_principals(conn, tenant)
             if principal_search.matches(p, criteria, test, principal_props.principal_href(
                 call.base_prefix, p.username) if by_url else "")]
    multistatus = ET.Element(f"{DAV}multistatus")
    for principal in found[:principal_search.MAX_MATCHES]:
        multistatus.append(principal_props.response(principal, call.base_prefix, call.user,
                                                    wanted))
    if len(found) > principal_search.MAX_MATCHES:
        rest = ET.SubElement(multistatus, f"{DAV}response")
        ET.SubElement(rest, f"{DAV}href").text = xmlutils.make_href(
            call.base_prefix, f"/{sane}/" if sane else "/")
        ET.SubElement(rest, f"{DAV}status").text = xmlutils.make_response(507)
        ET.SubElement(ET.SubElement(rest, f"{DAV}error"),
                      f"{DAV}number-of-matches-within-limits")
        ET.SubElement(rest, f"{DAV}responsedescription").text = (
            f"only the first {principal_search.MAX_MATCHES} of {len(found)} matching "
            "principals are listed; search for more of the name or address")
    return _xml(call, client.MULTI_STATUS, multistatus)


# --- expand-property -----------------------------------------------------------------

class _Principals:
    """The tenant's principals named by hrefs, each looked up once."""

    def __init__(self, call: Call, conn: Connection, tenant: str) -> None:
        self.call, self.conn, self.tenant = call, conn, tenant
        self.seen: dict[str, Principal | None] = {}

    def named(self, username: str) -> Principal | None:
        if username not in self.seen:
            self.seen[username] = principal_rows.principal(self.conn, self.tenant, username)
        return self.seen[username]

    def at(self, href: str) -> Principal | None:
        prefix = self.call.base_prefix
        if not href.startswith(prefix + "/"):
            return None
        path = pathutils.strip_path(pathutils.sanitize_path(href[len(prefix):]))
        return self.named(path) if path and "/" not in path else None


# An XML NCName (no colon): asked-for names are echoed back as elements, so a
# name that cannot be one would make the answer malformed XML.
_XML_NAME = re.compile(r"[^\W\d][\w.\-\u00b7]*")
_BAD_NAMESPACE = re.compile(r"[{}\x00-\x20<>\"]")


def _requested(element: ET.Element) -> list[tuple[str, ET.Element]]:
    """(property tag, its DAV:property element) for each DAV:property child."""
    found = []
    for prop in element.findall(f"{DAV}property"):
        name = prop.get("name")
        if not name:
            raise BadReport("each DAV:property of an expand-property needs a name attribute")
        namespace = prop.get("namespace") or "DAV:"  # RFC 3253 3.8: DAV: by default
        if not _XML_NAME.fullmatch(name):
            raise BadReport(f"the DAV:property name {name!r} cannot be an XML element name")
        if _BAD_NAMESPACE.search(namespace):
            raise BadReport(f"the DAV:property namespace {namespace!r} is not a namespace URI")
        found.append((f"{{{namespace}}}{name}", prop))
    return found


def _expanded(principal: Principal, element: ET.Element, known: _Principals) -> ET.Element:
    """The principal's DAV:response with the properties `element` asks for,
    each DAV:href of a property with nested DAV:property elements replaced by
    the response of the resource it names (RFC 3253 3.8)."""
    call = known.call
    response = principal_props.response(principal, call.base_prefix, call.user, [])
    found, missing = [], []
    for tag, prop in _requested(element):
        value = principal_props.render(tag, principal, call.base_prefix, call.user)
        if value is None:
            missing.append(ET.Element(tag))
            continue
        if prop.find(f"{DAV}property") is not None:
            for href in value.findall(f"{DAV}href"):
                if not (href.text or "").startswith("/"):
                    continue  # a mailto: address is no resource to expand: it stays
                target = known.at(href.text or "")
                value.remove(href)
                if target is not None:
                    value.append(_expanded(target, prop, known))
                else:
                    unknown = ET.SubElement(value, f"{DAV}response")
                    ET.SubElement(unknown, f"{DAV}href").text = href.text
                    ET.SubElement(unknown, f"{DAV}status").text = xmlutils.make_response(404)
        found.append(value)
    for status, props in ((200, found), (404, missing)):
        if props:
            propstat = ET.SubElement(response, f"{DAV}propstat")
            ET.SubElement(propstat, f"{DAV}prop").extend(props)
            ET.SubElement(propstat, f"{DAV}status").text = xmlutils.make_response(status)
    return response


def _expand(call: Call, conn: Connection, tenant: str, root: ET.Element,
            username: str) -> types.WSGIResponse:
    known = _Principals(call, conn, tenant)
    principal = known.named(username)
    if principal is None:
        return principal_props.not_found()
    multistatus = ET.Element(f"{DAV}multistatus")
    multistatus.append(_expanded(principal, root, known))
    return _xml(call, client.MULTI_STATUS, multistatus)
