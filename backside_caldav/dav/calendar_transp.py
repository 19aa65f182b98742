"""CALDAV:schedule-calendar-transp (RFC 6638 9.1): whether a calendar's
events count as busy in free-busy lookups of the outbox.

Radicale keeps unknown properties as text and reads a PROPPATCH value from
the element's text, so `<C:transparent/>` would be stored as "". The server
composition wraps xmlutils.props_from_request (as dav/propfind_hook.py wraps
the PROPFIND answer) to store "transparent" or "opaque", and PROPFIND
answers it as the element again: `<C:opaque/>` when never set. Radicale is
pinned to 3.9, where this hook was checked.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from radicale import xmlutils

from backside_caldav.domain.records import CalendarRow

CALDAV = "{urn:ietf:params:xml:ns:caldav}"
TRANSP = f"{CALDAV}schedule-calendar-transp"
KEY = "C:schedule-calendar-transp"
_original = xmlutils.props_from_request


def transparent(row: CalendarRow) -> bool:
    return row.props.get(KEY) == "transparent"


def _props_from_request(xml_request: ET.Element | None) -> dict[str, str | None]:
    result = _original(xml_request)
    if xml_request is not None and result.get(KEY) is not None:
        for prop in xml_request.iter(TRANSP):
            names = {child.tag for child in prop}
            result[KEY] = "transparent" if f"{CALDAV}transparent" in names else "opaque"
    return result


def amend(response: ET.Element, item: Any, asked: list[str] | None) -> None:
    """The property as an element; opaque when never set, for a calendar."""
    if getattr(item, "row", None) is None or not isinstance(item.row, CalendarRow):
        return
    for propstat in response.findall("{DAV:}propstat"):
        prop = propstat.find("{DAV:}prop")
        found = prop.find(TRANSP) if prop is not None else None
        if found is None:
            continue
        status = propstat.findtext("{DAV:}status") or ""
        value = "transparent" if (found.text or "").strip() == "transparent" else "opaque"
        found.text = None
        for child in list(found):
            found.remove(child)
        ET.SubElement(found, f"{CALDAV}{value}")
        if " 404 " in status:  # asked, never set: the default
            prop.remove(found)
            ok = next((p for p in response.findall("{DAV:}propstat")
                       if " 200 " in (p.findtext("{DAV:}status") or "")), None)
            if ok is None:
                ok = ET.SubElement(response, "{DAV:}propstat")
                ET.SubElement(ok, "{DAV:}prop")
                ET.SubElement(ok, "{DAV:}status").text = xmlutils.make_response(200)
            ok.find("{DAV:}prop").append(found)
            if len(prop) == 0:
                response.remove(propstat)


def install() -> None:
    """Idempotent: safe when several applications are built in one process."""
    xmlutils.props_from_request = _props_from_request
