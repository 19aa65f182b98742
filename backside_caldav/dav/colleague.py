"""A PROPFIND of another login's principal.

Clients resolve an attendee or an organizer by asking its principal for its
displayname and calendar-user-address-set. Radicale's owner_only rights
refuse every path outside the caller's own tree (403). Here a login of the
caller's tenant answers its principal properties (dav/principal_props.py),
read-only, without its home's members (its calendars stay its own); a login
of another tenant gets the same 404 as a name nobody has, so a PROPFIND
cannot tell which logins exist elsewhere.
"""

from __future__ import annotations

from http import client
from xml.etree import ElementTree as ET

from radicale import pathutils, types

from backside_caldav import request
from backside_caldav.dav import principal_props
from backside_caldav.dav.fast_path import Call
from backside_caldav.db import principals as principal_rows

DAV = "{DAV:}"


def _asked(root: ET.Element | None) -> tuple[list[str], bool] | None:
    """(properties, names only) of a PROPFIND body; None when it is not one."""
    if root is None:
        return list(principal_props.COLLEAGUE), False  # no body: allprop
    if root.tag != f"{DAV}propfind" or len(root) < 1:
        return None
    first = root[0]
    if first.tag == f"{DAV}prop":
        return [p.tag for p in first], False
    if first.tag in (f"{DAV}allprop", f"{DAV}propname"):
        return list(principal_props.COLLEAGUE), first.tag == f"{DAV}propname"
    return None


def answer(call: Call) -> types.WSGIResponse | None:
    """The colleague's principal, 404, or None for Radicale (any other path)."""
    sane = pathutils.strip_path(call.path)
    transaction = request.transaction_for(call.user) if call.user else None
    if (not sane or "/" in sane or sane == call.user or transaction is None
            or transaction.tenant is None):
        return None
    asked = _asked(request.xml_body("PROPFIND"))
    if asked is None:
        return None
    principal = principal_rows.principal(transaction.conn, transaction.tenant, sane)
    if principal is None:
        return principal_props.not_found()
    tags, names_only = asked
    multistatus = ET.Element(f"{DAV}multistatus")
    multistatus.append(principal_props.response(principal, call.base_prefix, call.user, tags,
                                                names_only))
    call.request_info["status"] = client.MULTI_STATUS
    headers = {"Content-Type": f"text/xml; charset={call.app._encoding}"}
    return (client.MULTI_STATUS, headers,
            call.app._xml_response(multistatus, call.request_info), None)
