"""Radicale's PROPFIND answer for one resource, amended to say what is served.

Radicale 3.9's xml_propfind calls the module function xml_propfind_response
by name for every resource, so the server composition wraps it (as
dav/expand.py and dav/freebusy.py wrap theirs) and amends the answer:
supported-report-set lists what dav/self_description.py says the resource
answers, and a principal loses addressbook-home-set and gets its name and
addresses from dav/principal_props.py, in allprop and propname answers too;
a calendar asked for supported-rscale-set gets it (dav/rscale_set.py).
Radicale is pinned to 3.9, where this hook was checked.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from radicale import xmlutils
from radicale.app import propfind

from backside_caldav.dav import calendar_transp, principal_props, rscale_set, self_description
from backside_caldav.dav.collection import PrincipalCollection

DAV = "{DAV:}"
FREE_BUSY = "{urn:ietf:params:xml:ns:caldav}free-busy-query"
_original = propfind.xml_propfind_response


def _propstats(response: ET.Element) -> dict[int, ET.Element]:
    """status code -> its DAV:prop, for every propstat of the response."""
    found = {}
    for propstat in response.findall(f"{DAV}propstat"):
        code = int((propstat.findtext(f"{DAV}status") or "HTTP/1.1 500").split()[1])
        found[code] = propstat.find(f"{DAV}prop")
    return found


def _rewrite(response: ET.Element, props: dict[int, list[ET.Element]]) -> None:
    for propstat in response.findall(f"{DAV}propstat"):
        response.remove(propstat)
    for code in sorted(props):
        if props[code]:
            propstat = ET.SubElement(response, f"{DAV}propstat")
            ET.SubElement(propstat, f"{DAV}prop").extend(props[code])
            ET.SubElement(propstat, f"{DAV}status").text = xmlutils.make_response(code)


def amend(response: ET.Element, item: Any, base_prefix: str, user: str, listing: bool,
          names_only: bool) -> None:
    """Correct Radicale's answer for `item` in place (see the module doc)."""
    reports = response.find(f"{DAV}propstat/{DAV}prop/{principal_props.SUPPORTED_REPORT_SET}")
    if reports is not None and not names_only:
        listed = {r[0].tag for r in reports.iter(f"{DAV}report") if len(r)}
        if listed != {FREE_BUSY}:  # read-free-busy only: Radicale's answer is right
            reports.clear()
            principal_props.reports_element(reports, self_description.reports_of(item))
    if not isinstance(item, PrincipalCollection):
        return  # (a listing's thousands of members are left as Radicale wrote them)
    props = {code: list(prop) for code, prop in _propstats(response).items()}
    asked = {e.tag for elements in props.values() for e in elements}
    for code in props:
        props[code] = [e for e in props[code] if e.tag not in (
            principal_props.ADDRESSBOOK_HOME_SET, *principal_props.OWN)]
    if not listing and principal_props.ADDRESSBOOK_HOME_SET in asked:
        props.setdefault(404, []).append(ET.Element(principal_props.ADDRESSBOOK_HOME_SET))
    principal = item.login()
    for tag in principal_props.OWN:
        if tag in asked or listing:
            value = principal_props.render(tag, principal, base_prefix, user)
            if value is None:
                props.setdefault(404, []).append(ET.Element(tag))
            else:
                props.setdefault(200, []).append(ET.Element(tag) if names_only else value)
    _rewrite(response, props)


def _xml_propfind_response(*args: Any, **kwargs: Any) -> ET.Element:
    response = _original(*args, **kwargs)
    _app, base_prefix, _path, item, props, user = args[:6]
    listing = bool(kwargs.get("allprop") or kwargs.get("propname"))
    amend(response, item, base_prefix, user, listing, bool(kwargs.get("propname")))
    rscale_set.amend(response, item, props)
    calendar_transp.amend(response, item, props)
    return response


def install() -> None:
    """Idempotent: safe when several applications are built in one process."""
    propfind.xml_propfind_response = _xml_propfind_response
