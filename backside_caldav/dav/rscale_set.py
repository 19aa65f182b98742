"""CALDAV:supported-rscale-set (RFC 7529 section 6) on calendar collections.

Radicale 3.9 does not know the property and answers it 404 (its meta values
are text, this one is a list of elements). dav/propfind_hook.py amends each
PROPFIND answer with amend() below: a calendar gets the property, listing the
CLDR calendar scales domain/rscale accepts, in its 200 propstat. It is
returned only when asked for by name, like the other CalDAV protected
properties of RFC 4791 5.2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from xml.etree import ElementTree as ET

from radicale import storage, xmlutils

from backside_caldav.domain.rscale import CLDR_CALENDARS

TAG = xmlutils.make_clark("C:supported-rscale-set")


def rscale_set() -> ET.Element:
    """The property's value: one C:supported-rscale per accepted scale."""
    element = ET.Element(TAG)
    for name in CLDR_CALENDARS:
        child = ET.SubElement(element, xmlutils.make_clark("C:supported-rscale"))
        child.text = name
    return element


def amend(response: ET.Element, item: Any, props: Sequence[str] | None) -> None:
    """Answer the property for a calendar asked for it (in place of Radicale's 404)."""
    if not (isinstance(item, storage.BaseCollection) and item.tag == "VCALENDAR"
            and props and TAG in props):
        return
    ok = None
    for propstat in response.findall(xmlutils.make_clark("D:propstat")):
        prop = propstat.find(xmlutils.make_clark("D:prop"))
        status = propstat.findtext(xmlutils.make_clark("D:status")) or ""
        if prop is None:
            continue
        if " 200 " in status:
            ok = prop
        for found in prop.findall(TAG):  # Radicale's 404 for it
            prop.remove(found)
        if len(prop) == 0:
            response.remove(propstat)
    if ok is None:
        propstat = ET.SubElement(response, xmlutils.make_clark("D:propstat"))
        ok = ET.SubElement(propstat, xmlutils.make_clark("D:prop"))
        ET.SubElement(propstat, xmlutils.make_clark("D:status")).text = \
            xmlutils.make_response(200)
    ok.append(rscale_set())
