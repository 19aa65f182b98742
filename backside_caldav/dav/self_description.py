"""What the server says about itself: the DAV header's compliance classes and
each resource's DAV:supported-report-set, exactly what is served.

Radicale 3.9 advertises `1, 2, 3, calendar-access, addressbook, extended-mkcol`
and, on every resource, expand-property and the two principal searches,
which it answers with an empty 207. Here: no class 2 (LOCK is refused, see
dav/guards.py), no `addressbook` (address books are refused, see
dav/middleware.py), and per kind of resource the reports that really answer
(dav/principal_reports.py answers the principal ones).
"""

from __future__ import annotations

from typing import Any

DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"

# RFC 4918 class 1 and 3, RFC 4791 calendar-access, RFC 5689 extended MKCOL, RFC 6638
# scheduling (the server sends invitations: clients then leave it to the server).
DAV_TOKENS = ("1", "3", "calendar-access", "extended-mkcol", "calendar-auto-schedule")
DAV_HEADER = ", ".join(DAV_TOKENS)

PRINCIPAL_SEARCHES = (f"{DAV}principal-property-search", f"{DAV}principal-search-property-set")
ROOT_REPORTS = PRINCIPAL_SEARCHES  # the root is the principal collection
PRINCIPAL_REPORTS = (*PRINCIPAL_SEARCHES, f"{DAV}expand-property")
CALENDAR_REPORTS = (f"{DAV}sync-collection", f"{CALDAV}calendar-multiget",
                    f"{CALDAV}calendar-query", f"{CALDAV}free-busy-query")


def reports_of(item: Any) -> tuple[str, ...]:
    """The reports a resource answers: by kind (root, principal, calendar, object)."""
    path = getattr(item, "path", None)
    if path is None:  # a calendar object resource: the reports go to its calendar
        return ()
    if path == "":
        return ROOT_REPORTS
    if "/" not in path:
        return PRINCIPAL_REPORTS
    return CALENDAR_REPORTS


def with_dav_header(start_response: Any) -> Any:
    """start_response, with the DAV header (whichever Radicale code wrote it)
    replaced by DAV_HEADER."""

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        headers = [(k, DAV_HEADER if k.lower() == "dav" else v) for k, v in headers]
        return start_response(status, headers, exc_info) if exc_info else start_response(
            status, headers)

    return start
