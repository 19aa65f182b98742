"""When a request may be answered by this server's own code instead of Radicale's.

The fast paths (dav/poll.py, dav/listing.py, dav/member_reports.py,
dav/put.py) answer only what they can answer exactly as Radicale would: a
calendar of the logged-in user, through the request's shared transaction,
without sharing (which remaps paths and users) and in UTF-8 (the only
encoding they write). Each is a function of a Call that returns an answer or
None (then the next one, or Radicale, answers); dav/app.py lists them in one
table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import radicale
from radicale import pathutils, types
from radicale.app.base import Access
from sqlalchemy.engine import Connection

from backside_caldav import request
from backside_caldav.dav.hrefs import plain, quoted
from backside_caldav.db import calendars
from backside_caldav.db.event_reads import ItemHead, StoredItem
from backside_caldav.domain.records import CalendarRow

GETETAG = "{DAV:}getetag"
CONTENT_TYPE = "{DAV:}getcontenttype"


@dataclass(frozen=True)
class Call:
    """One request as Radicale hands it to do_<METHOD>, for a fast path."""

    app: Any  # the radicale.Application
    method: str
    environ: types.WSGIEnviron
    base_prefix: str
    path: str
    user: str
    user_groups: set
    request_info: dict

    def radicale(self, environ: types.WSGIEnviron | None = None) -> types.WSGIResponse:
        """Radicale's own answer (its do_<METHOD>), optionally with another environ."""
        do = getattr(radicale.Application, f"do_{self.method}")
        return do(self.app, environ if environ is not None else self.environ,
                  self.base_prefix, self.path, self.user, self.user_groups, self.request_info)


FastPath = Callable[[Call], "types.WSGIResponse | None"]


@dataclass(frozen=True)
class OwnCalendar:
    href: str  # the calendar's own segment
    path: str  # user/calendar, without slashes
    conn: Connection  # the request's transaction, opened by the login check
    tenant: str
    xml: ElementTree.Element | None  # the request body as the XML guard parsed it

    def row(self) -> CalendarRow | None:
        """The calendar's row in the request's snapshot (None: no such calendar)."""
        return calendars.get_calendar(self.conn, self.tenant, self.href)


def own_calendar(call: Call) -> OwnCalendar | None:
    """The calendar of the request when it is one of the logged-in user's and
    Radicale may be bypassed: its shared transaction, no sharing (which
    remaps paths and users), UTF-8 (the only encoding the fast paths write)."""
    app = call.app
    sane = pathutils.strip_path(call.path)
    transaction = request.transaction_for(call.user)
    if (sane.count("/") != 1 or sane.split("/")[0] != call.user or transaction is None
            or transaction.tenant is None or app._sharing._enabled or app._encoding != "utf-8"):
        return None
    return OwnCalendar(sane.split("/")[1], sane, transaction.conn, transaction.tenant,
                       request.xml_body(call.method))


def readable(call: Call) -> bool:
    """Whether the user may read the collection at the path, as Radicale's
    REPORT checks it (the collection's own permissions, not only its parent's)."""
    access = Access(call.app._rights, call.user, call.user_groups, call.path)
    return access.check("r") and "r" in access.permissions


def member_property(prop: str, item: ItemHead | StoredItem) -> str:
    """A member's getetag, getcontenttype or (a StoredItem's) calendar-data,
    written as Radicale writes it."""
    if prop == GETETAG:
        return f"<getetag>{escape(item.etag)}</getetag>"
    if prop == CONTENT_TYPE:
        return ("<getcontenttype>text/calendar;charset=utf-8;component="
                f"{escape(item.component)}</getcontenttype>")
    assert isinstance(item, StoredItem), prop
    return f"<C:calendar-data>{escape(item.text)}</C:calendar-data>"


RESOURCETYPE = "{DAV:}resourcetype"
HEAD_PROPS = frozenset({GETETAG, CONTENT_TYPE, RESOURCETYPE})


def head_writer(prefix: str, props: list[str]) -> Callable[[tuple[str, str, int]], bytes]:
    """Writes a found member's response with these properties (of HEAD_PROPS) from
    its (href, component, revision), as member_property writes them. Made once per
    listing: each member is then one format of a prepared string (or, for an href
    that needs quoting, the general writer)."""
    values = []
    for prop in props:
        if prop == RESOURCETYPE:
            values.append("<resourcetype />")
        elif prop == GETETAG:
            values.append('<getetag>"{2}"</getetag>')
        elif prop == CONTENT_TYPE:
            values.append("<getcontenttype>text/calendar;charset=utf-8;component={1}"
                          "</getcontenttype>")
        else:
            raise ValueError(f"not a property of a member's head: {prop}")
    start = quoted(prefix).replace("{", "{{").replace("}", "}}")
    template = (f"<response><href>{start}{{0}}</href><propstat><prop>{''.join(values)}"
                "</prop><status>HTTP/1.1 200 OK</status></propstat></response>")

    def write(member: tuple[str, str, int]) -> bytes:
        href, component, revision = member
        if plain(href) and plain(component):
            return template.format(href, component, revision).encode()
        head = ItemHead(href, "", component, revision, None)  # type: ignore[arg-type]
        return head_response(prefix, props, head)

    return write


def head_response(prefix: str, props: list[str], head: ItemHead) -> bytes:
    """A found member's response with these properties (of HEAD_PROPS), any href."""
    values = "".join("<resourcetype />" if prop == RESOURCETYPE
                     else member_property(prop, head) for prop in props)
    return (f"<response><href>{quoted(prefix + head.href)}</href><propstat>"
            f"<prop>{values}</prop><status>HTTP/1.1 200 OK</status></propstat>"
            "</response>").encode()


def requested_props(root: ElementTree.Element | None, allowed: frozenset[str]
                    ) -> list[str] | None:
    """The properties of a <propfind><prop> body if all are allowed, else None."""
    if root is None:
        return None  # no body means allprop
    if root.tag != "{DAV:}propfind" or len(root) != 1 or root[0].tag != "{DAV:}prop":
        return None
    return only([p.tag for p in root[0]], allowed)


def only(props: list[str] | None, allowed: frozenset[str]) -> list[str] | None:
    """props if there are some, all allowed and none twice; else None."""
    if not props or not set(props) <= allowed or len(set(props)) != len(props):
        return None
    return props
