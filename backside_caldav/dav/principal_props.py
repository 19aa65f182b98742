"""A principal's properties as XML: for the caller's own principal (amending
Radicale's answer), a colleague's principal, search results and
expand-property.

Radicale 3.9 gives a principal an addressbook-home-set (address books are
refused here), no displayname, and a calendar-user-address-set holding only
the principal URL, so clients could not tell which invitations are the
user's. Here the principal's addresses are its mailto: addresses and its URL
(domain/principal_search.py says which), and it has a displayname, the
calendarserver email-address-set Apple Calendar asks for and a
calendar-user-type.
"""

from __future__ import annotations

from http import client
from urllib.parse import quote
from xml.etree import ElementTree as ET

from radicale import types, xmlutils

from backside_caldav.dav import self_description
from backside_caldav.domain.principal_search import Principal

DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
CALSERVER = "{http://calendarserver.org/ns/}"
CARDDAV = "{urn:ietf:params:xml:ns:carddav}"

DISPLAYNAME = f"{DAV}displayname"
RESOURCETYPE = f"{DAV}resourcetype"
PRINCIPAL_URL = f"{DAV}principal-URL"
CURRENT_USER_PRINCIPAL = f"{DAV}current-user-principal"
PRINCIPAL_COLLECTION_SET = f"{DAV}principal-collection-set"
SUPPORTED_REPORT_SET = f"{DAV}supported-report-set"
PRIVILEGES = f"{DAV}current-user-privilege-set"
CALENDAR_HOME_SET = f"{CALDAV}calendar-home-set"
ADDRESS_SET = f"{CALDAV}calendar-user-address-set"
USER_TYPE = f"{CALDAV}calendar-user-type"
EMAIL_SET = f"{CALSERVER}email-address-set"
INBOX_URL = f"{CALDAV}schedule-inbox-URL"
OUTBOX_URL = f"{CALDAV}schedule-outbox-URL"
DEFAULT_CALENDAR_URL = f"{CALDAV}schedule-default-calendar-URL"
ADDRESSBOOK_HOME_SET = f"{CARDDAV}addressbook-home-set"

# Rendered here for every principal (Radicale's values for these are replaced).
OWN = (DISPLAYNAME, ADDRESS_SET, EMAIL_SET, USER_TYPE, INBOX_URL, OUTBOX_URL,
       DEFAULT_CALENDAR_URL)
# What a colleague's principal answers, in propname/allprop order.
COLLEAGUE = (DISPLAYNAME, RESOURCETYPE, PRINCIPAL_URL, CALENDAR_HOME_SET, ADDRESS_SET, EMAIL_SET,
             USER_TYPE, INBOX_URL, OUTBOX_URL, CURRENT_USER_PRINCIPAL, PRINCIPAL_COLLECTION_SET,
             SUPPORTED_REPORT_SET, PRIVILEGES)


def not_found() -> types.WSGIResponse:
    """The answer for a principal that is not the caller's colleague: the same
    whether the login does not exist or belongs to another tenant."""
    return (client.NOT_FOUND, {"Content-Type": "text/plain"},
            "There is no principal at this path.\n", None)


def principal_href(base_prefix: str, username: str) -> str:
    """xmlutils.make_href without its sanitize_path assertion, a third of a
    search over 5,000 logins (a login name holds no path separators)."""
    return quote(f"{base_prefix}/{username}/")


def _href(parent: ET.Element, text: str) -> None:
    ET.SubElement(parent, f"{DAV}href").text = text


def reports_element(element: ET.Element, reports: tuple[str, ...]) -> ET.Element:
    """DAV:supported-report-set's value (RFC 3253 3.1.5)."""
    for report in reports:
        supported = ET.SubElement(element, f"{DAV}supported-report")
        ET.SubElement(ET.SubElement(supported, f"{DAV}report"), report)
    return element


def render(tag: str, principal: Principal, base_prefix: str, caller: str) -> ET.Element | None:
    """The property `tag` of the principal, or None when it has none (404)."""
    element = ET.Element(tag)
    href = principal_href(base_prefix, principal.username)
    if tag == DISPLAYNAME:
        element.text = principal.username
    elif tag == RESOURCETYPE:
        ET.SubElement(element, f"{DAV}principal")
        ET.SubElement(element, f"{DAV}collection")
    elif tag in (PRINCIPAL_URL, CALENDAR_HOME_SET):
        _href(element, href)
    elif tag == ADDRESS_SET:
        for address in principal.addresses(href):
            _href(element, address)
    elif tag == EMAIL_SET:
        for email in principal.emails():
            ET.SubElement(element, f"{CALSERVER}email-address").text = email
    elif tag == USER_TYPE:
        element.text = "INDIVIDUAL"
    elif tag == INBOX_URL:
        _href(element, quote(f"{base_prefix}/{principal.username}/inbox/"))
    elif tag == OUTBOX_URL:
        _href(element, quote(f"{base_prefix}/{principal.username}/outbox/"))
    elif tag == DEFAULT_CALENDAR_URL and principal.username == caller \
            and principal.default_calendar is not None:
        _href(element, quote(f"{base_prefix}/{principal.username}/{principal.default_calendar}/"))
    elif tag == CURRENT_USER_PRINCIPAL:
        _href(element, principal_href(base_prefix, caller))
    elif tag == PRINCIPAL_COLLECTION_SET:
        _href(element, xmlutils.make_href(base_prefix, "/"))
    elif tag == SUPPORTED_REPORT_SET:
        reports_element(element, self_description.PRINCIPAL_REPORTS)
    elif tag == PRIVILEGES:  # a colleague's principal is read-only; one's own as Radicale says
        own = ("read", "all", "write", "write-properties", "write-content")
        for name in own if principal.username == caller else own[:1]:
            ET.SubElement(ET.SubElement(element, f"{DAV}privilege"), f"{DAV}{name}")
    else:
        return None
    return element


def response(principal: Principal, base_prefix: str, caller: str, tags: list[str],
             names_only: bool = False) -> ET.Element:
    """A DAV:response for the principal with these properties (found: 200,
    others: 404); names_only answers a propname (empty elements)."""
    answer = ET.Element(f"{DAV}response")
    _href(answer, principal_href(base_prefix, principal.username))
    found, missing = [], []
    for tag in tags:
        value = render(tag, principal, base_prefix, caller)
        if value is None:
            missing.append(ET.Element(tag))
        else:
            found.append(ET.Element(tag) if names_only else value)
    for status, props in ((200, found), (404, missing)):
        if props:
            propstat = ET.SubElement(answer, f"{DAV}propstat")
            ET.SubElement(propstat, f"{DAV}prop").extend(props)
            ET.SubElement(propstat, f"{DAV}status").text = xmlutils.make_response(status)
    return answer
