"""Checks a WebDAV/CalDAV XML request body before Radicale parses it.

Radicale parses bodies with defusedxml and answers 500 to the exceptions it
raises (entity and DTD declarations), recurses without bound over nesting,
and trusts element contents (an empty multiget href, an unparsable
time-range, an expand over thousands of years all end in 500 or in
unbounded work). Here the body is parsed once with expat, refusing any DTD
outright and bounding depth and text, then its shape is checked against
what the method expects. A refusal carries a message a person can act on.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from xml.etree import ElementTree
from xml.parsers import expat

from backside_caldav.dav.refusal import Refusal

DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"

MAX_DEPTH = 32  # CalDAV filters nest about 8 deep
MAX_TEXT = 64 * 1024  # one element's text: a description, a VTIMEZONE
MAX_ELEMENTS = 50_000  # a multiget of thousands of hrefs still fits
MAX_PROPPATCH_PROPS = 64
MAX_EXPAND_DAYS = 366 * 10  # expansion work grows with the window

ROOTS = {
    "PROPFIND": {f"{DAV}propfind"},
    "PROPPATCH": {f"{DAV}propertyupdate"},
    "MKCOL": {f"{DAV}mkcol"},
    "MKCALENDAR": {f"{CALDAV}mkcalendar"},
}
REPORTS = {
    f"{CALDAV}calendar-query", f"{CALDAV}calendar-multiget", f"{CALDAV}free-busy-query",
    f"{DAV}sync-collection", f"{DAV}expand-property", f"{DAV}principal-property-search",
    f"{DAV}principal-search-property-set",
}
XML_METHODS = frozenset({*ROOTS, "REPORT"})
# Computed by the server (RFC 4918 15, RFC 4791 5.2, RFC 6578): a client may not set them.
PROTECTED = {f"{DAV}{name}" for name in (
    "resourcetype", "getetag", "getctag", "getlastmodified", "getcontentlength",
    "getcontenttype", "creationdate", "lockdiscovery", "supportedlock", "sync-token",
    "supported-report-set", "current-user-principal", "current-user-privilege-set",
    "owner", "principal-URL")} | {f"{CALDAV}{name}" for name in (
        "supported-calendar-data", "max-resource-size", "min-date-time", "max-date-time",
        "max-instances", "max-attendees-per-instance", "calendar-home-set")}
PROPFIND_KINDS = {f"{DAV}prop", f"{DAV}allprop", f"{DAV}propname"}
NAMED = {f"{CALDAV}{name}" for name in ("comp", "comp-filter", "prop-filter", "param-filter")}
UTC_FORMAT = "%Y%m%dT%H%M%SZ"
_UTC_RE = re.compile(r"^\d{8}T\d{6}Z$")


class _Rejected(Exception):
    pass


def _parse_safely(body: bytes) -> None:
    """Well-formedness with no DTD, bounded depth, text and element count."""
    parser = expat.ParserCreate(namespace_separator=" ")
    depth = 0
    elements = 0
    text = 0

    def doctype(*_args: object) -> None:
        raise _Rejected("a DOCTYPE or entity declaration is not allowed in a request body")

    def start(*_args: object) -> None:
        nonlocal depth, elements, text
        depth += 1
        elements += 1
        text = 0
        if depth > MAX_DEPTH:
            raise _Rejected(f"XML nested deeper than {MAX_DEPTH} elements")
        if elements > MAX_ELEMENTS:
            raise _Rejected(f"more than {MAX_ELEMENTS} XML elements")

    def end(*_args: object) -> None:
        nonlocal depth, text
        depth -= 1
        text = 0

    def data(chunk: str) -> None:
        nonlocal text
        text += len(chunk)
        if text > MAX_TEXT:
            raise _Rejected(f"an XML element's text is longer than {MAX_TEXT} characters")

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    parser.UnparsedEntityDeclHandler = doctype
    parser.ExternalEntityRefHandler = doctype
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise _Rejected(f"the body is not well-formed XML: {exc}") from exc
    except (LookupError, UnicodeError, ValueError) as exc:
        raise _Rejected(f"the XML body cannot be decoded: {exc}") from exc


def read_xml_body(method: str, body: bytes) -> ElementTree.Element | Refusal | None:
    """The XML body parsed, or why it must not reach Radicale (None: no XML body).

    The fast paths read the tree handed on here instead of parsing again.
    """
    if method not in XML_METHODS or not body.strip():
        return None
    try:
        _parse_safely(body)
    except _Rejected as exc:
        return Refusal(400, str(exc))
    except RecursionError:
        return Refusal(400, f"XML nested deeper than {MAX_DEPTH} elements")
    # Safe now: no DTD, bounded depth; ElementTree gives the tree to inspect.
    root = ElementTree.fromstring(body)
    for element in root.iter():
        if element.tag in NAMED and not element.get("name", "").strip():
            return Refusal(400, f"{element.tag} needs a name attribute")
    if method == "REPORT":
        if root.tag not in REPORTS:
            return Refusal(403, f"unsupported REPORT {root.tag}; this server supports "
                           "calendar-query, calendar-multiget, free-busy-query and "
                           "sync-collection", dav_error="D:supported-report")
        return _check_report(root) or root
    if root.tag not in ROOTS[method]:
        expected = " or ".join(sorted(ROOTS[method]))
        return Refusal(400, f"a {method} body must have the root element {expected}, "
                       f"not {root.tag}")
    if method == "PROPPATCH":
        return _check_proppatch(root) or root
    if method == "PROPFIND" and (len(root) == 0 or root[0].tag not in PROPFIND_KINDS):
        # RFC 4918 14.20; Radicale reads root[0] unguarded (IndexError -> 500)
        return Refusal(400, "a PROPFIND body must hold DAV:prop, DAV:allprop or DAV:propname")
    return root


def _check_report(root: ElementTree.Element) -> Refusal | None:
    if root.tag == f"{CALDAV}calendar-multiget":
        hrefs = root.findall(f"{DAV}href")
        if not hrefs:
            return Refusal(400, "calendar-multiget names no DAV:href")
        if any(not (h.text or "").strip() for h in hrefs):
            return Refusal(400, "calendar-multiget has an empty DAV:href")
    if root.tag == f"{CALDAV}free-busy-query" and root.find(f"{CALDAV}time-range") is None:
        # RFC 4791 7.10; Radicale asserts it (AssertionError -> 500)
        return Refusal(400, "free-busy-query needs a C:time-range")
    for element in root.iter():
        if element.tag in (f"{CALDAV}time-range", f"{CALDAV}expand",
                           f"{CALDAV}limit-recurrence-set", f"{CALDAV}limit-freebusy-set"):
            problem = _check_range(element)
            if problem:
                return problem
    if root.tag == f"{DAV}sync-collection":
        level = root.find(f"{DAV}sync-level")
        if level is not None and (level.text or "").strip() not in ("1", "infinite"):
            return Refusal(400, "DAV:sync-level must be 1 or infinite")
        limits = root.findall(f"{DAV}limit")
        if len(limits) > 1 or (limits and [c.tag for c in limits[0]] != [f"{DAV}nresults"]):
            # RFC 5323 5.17: <!ELEMENT limit (nresults)>
            return Refusal(400, "DAV:limit must hold exactly one DAV:nresults")
    for nresults in root.iter(f"{DAV}nresults"):
        count = (nresults.text or "").strip()
        if not (count.isascii() and count.isdigit()):
            # RFC 5323 5.17.1: only digits (no sign, no fraction)
            return Refusal(400, "DAV:nresults must be a whole number such as 100")
    return None


def _utc(name: str, value: str | None, tag: str) -> datetime | None | Refusal:
    if value is None:
        return None
    if not _UTC_RE.match(value):
        return Refusal(400, f"{tag} {name}={value!r} is not a UTC date-time like "
                       "20260101T000000Z")
    try:
        return datetime.strptime(value, UTC_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        return Refusal(400, f"{tag} {name}={value!r} is not a valid date-time")


def _check_range(element: ElementTree.Element) -> Refusal | None:
    tag = element.tag.rsplit("}", 1)[-1]
    start = _utc("start", element.get("start"), tag)
    end = _utc("end", element.get("end"), tag)
    for value in (start, end):
        if isinstance(value, Refusal):
            return value
    if tag in ("expand", "limit-recurrence-set") and (start is None or end is None):
        return Refusal(400, f"{tag} needs both start and end")
    if isinstance(start, datetime) and isinstance(end, datetime):
        if end <= start:
            return Refusal(400, f"{tag} end must be after start")
        if tag == "expand" and (end - start).days > MAX_EXPAND_DAYS:
            return Refusal(403, f"expand covers {(end - start).days} days; at most "
                           f"{MAX_EXPAND_DAYS} days can be expanded in one request")
    return None


def _check_proppatch(root: ElementTree.Element) -> Refusal | None:
    props = [p for op in root for prop in op if prop.tag == f"{DAV}prop" for p in prop]
    if not props:
        return Refusal(400, "PROPPATCH names no property to set or remove")
    if len(props) > MAX_PROPPATCH_PROPS:
        return Refusal(400, f"PROPPATCH changes {len(props)} properties; "
                       f"at most {MAX_PROPPATCH_PROPS} per request")
    for op in root:
        if op.tag not in (f"{DAV}set", f"{DAV}remove"):
            return Refusal(400, f"PROPPATCH may only contain DAV:set and DAV:remove, "
                           f"not {op.tag}")
    protected = sorted({p.tag for p in props if p.tag in PROTECTED})
    if protected:
        return Refusal(403, f"protected properties cannot be changed: {', '.join(protected)}",
                       dav_error="D:cannot-modify-protected-property")
    return None
