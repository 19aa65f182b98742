"""What the current HTTP request carried, for code that runs below Radicale.

Radicale hands the storage an item re-serialized by vobject, which mangles
some client data; the WSGI middleware keeps the original body here so the
storage can keep the client's exact text.
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from xml.etree import ElementTree

from backside_caldav.domain.instance_index import BEGINNING
from backside_caldav.domain.recurrence import INFINITY

# Methods that only read: the login check opens their one transaction.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PROPFIND", "REPORT"})
# Writes of one resource: the same, without REPEATABLE READ (they take the
# tenant's advisory lock instead when the storage's write lock is taken).
WRITE_METHODS = frozenset({"PUT", "DELETE"})


@dataclass
class SharedTransaction:
    """The single transaction of a request, opened by the login check.

    Radicale checks the login, then takes a read lock to find the principal,
    then another lock for the method: three transactions and a dozen round
    trips for a 10-item multiget. The login check opens this one instead (its
    query also sets the tenant) and the storage's locks reuse it; the
    middleware commits it when the answer is built, or rolls it back when a
    write failed.
    """

    user: str
    tenant: str
    conn: Any  # sqlalchemy Connection
    transaction: Any  # its sqlalchemy RootTransaction
    stack: contextlib.ExitStack
    writable: bool
    locked: bool = False  # the tenant's advisory lock is held
    failed: bool = False  # a write raised: roll back

    def close(self) -> None:
        try:
            if self.failed and self.transaction.is_active:
                self.transaction.rollback()
        finally:
            self.stack.close()


@dataclass(frozen=True)
class RequestInfo:
    method: str
    path: str  # sanitized, without leading or trailing "/"
    body: bytes | None
    charset: str
    shared: list[SharedTransaction] = field(default_factory=list, compare=False)
    # Why the storage refused a write, for a reply Radicale would leave as "Bad Request".
    reasons: list[str] = field(default_factory=list)
    # An answer body written after Radicale returns (web/listing.py); it then
    # owns the shared transaction and closes it when it has been sent.
    streams: list[Any] = field(default_factory=list)

    def close(self) -> None:
        while self.shared:
            self.shared.pop().close()


current_request: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar(
    "backside_current_request", default=None)


def shared_transaction(user: str) -> SharedTransaction | None:
    """The current request's shared transaction, if it was opened for `user`."""
    info = current_request.get()
    if info is None or not info.shared or info.shared[0].user != user:
        return None
    return info.shared[0]


def shared_transaction_of(tenant: str | None) -> SharedTransaction | None:
    """The current request's shared transaction, if it is `tenant`'s."""
    info = current_request.get()
    if tenant is None or info is None or not info.shared or info.shared[0].tenant != tenant:
        return None
    return info.shared[0]

def note_refusal(reason: str) -> None:
    """Remember why the current request's write was refused (see web/reasons.py)."""
    info = current_request.get()
    if info is not None:
        info.reasons.append(reason)


def original_text_for(method: str, path: str) -> str | None:
    """The decoded request body if the current request is `method` on `path`."""
    info = current_request.get()
    if info is None or info.body is None or info.method != method or info.path != path:
        return None
    try:
        return info.body.decode(info.charset)
    except (LookupError, UnicodeDecodeError):
        return None


CALDAV = "{urn:ietf:params:xml:ns:caldav}"


def expand_window() -> tuple[datetime, datetime] | None:
    """The time-range of the current calendar-query if it asks for expand.

    Radicale removes the time-range from the filter it hands the storage when
    the query expands, so the storage would have to return every event; the
    window the client asked for is still in the request body.
    """
    info = current_request.get()
    if info is None or info.method != "REPORT" or not info.body or b"expand" not in info.body:
        return None
    try:
        root = ElementTree.fromstring(info.body)
    except ElementTree.ParseError:
        return None
    if root.find(f".//{CALDAV}expand") is None:
        return None
    for comp in root.iter(f"{CALDAV}comp-filter"):
        if comp.get("name", "").upper() == "VCALENDAR":
            continue
        time_range = comp.find(f"{CALDAV}time-range")
        if time_range is not None:
            start = _utc(time_range.get("start"))
            end = _utc(time_range.get("end"))
            if start is None and end is None:
                return None
            return start or BEGINNING, end or INFINITY
    return None


def _utc(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
