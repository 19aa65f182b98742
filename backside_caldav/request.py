"""One CalDAV request's scope: what the client sent, its one transaction, and
why a write was refused.

Radicale calls the storage plugin from deep inside its own code, with no way
to hand it anything of the request: the original PUT bytes (vobject mangles
some client data), the XML body the guard already parsed, the transaction
the login check opened. So one context variable holds one Scope per request:
the outermost CalDAV middleware opens it (dav/outage.py), the middleware that
reads the body fills it in (dav/app.py), the login check opens its
transaction (dav/auth_plugin.py), the storage's locks reuse that transaction
(dav/storage.py), and Scope.close() is the one place that commits or rolls
back. Without a Scope (the plugin inside a plain Radicale server) the storage
opens one per lock.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from xml.etree import ElementTree

from sqlalchemy.engine import Connection, Engine

from backside_caldav.db import accounts, post_commit
from backside_caldav.domain.instance_index import BEGINNING
from backside_caldav.domain.recurrence import INFINITY

# Methods that only read: the login check opens their one transaction.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PROPFIND", "REPORT", "POST"})
# Writes of one resource: the same, without REPEATABLE READ (they take the
# tenant's advisory lock instead when the storage's write lock is taken).
WRITE_METHODS = frozenset({"PUT", "DELETE"})
CALDAV = "{urn:ietf:params:xml:ns:caldav}"


@dataclass
class Transaction:
    """One login's transaction, with its tenant set for row-level security.

    Radicale checks the login, then takes a read lock to find the principal,
    then another lock for the method: three transactions and a dozen round
    trips for a 10-item multiget. The login check opens this one instead and
    the storage's locks reuse it.
    """

    user: str
    tenant: str | None
    conn: Connection
    writable: bool
    _root: Any  # the sqlalchemy RootTransaction
    _stack: contextlib.ExitStack
    locked: bool = False  # the tenant's advisory lock is held
    failed: bool = False  # a write raised: close() rolls back
    mode: str | None = None  # the storage lock held now ("r" or "w"), None outside one
    # (calendar id, href) -> what discover() found there, for upload() to reuse
    found: dict[tuple[str, str], Any] = field(default_factory=dict)
    # calendar href -> its row as read in this transaction, until a write
    calendars: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def begin(cls, engine: Engine, user: str, writable: bool,
              lock: bool = False) -> tuple[Transaction, str | None]:
        """Open a transaction and find the login's tenant (and its password hash,
        returned beside) in its first statement; lock also takes the tenant's
        write lock there. A reader gets REPEATABLE READ: one snapshot."""
        stack = contextlib.ExitStack()
        try:
            conn = stack.enter_context(engine.connect())
            if not writable:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            root = stack.enter_context(conn.begin())
            login = accounts.login_of(conn, user, lock=lock) if user else None
        except BaseException:
            stack.close()
            raise
        tenant, password_hash = login if login else (None, None)
        return cls(user, tenant, conn, writable, root, stack,
                   locked=lock and tenant is not None), password_hash

    def close(self) -> None:
        """Commit, or roll back when a write failed; then give the connection back,
        and run what the transaction left for after its commit (db/post_commit.py)."""
        work = post_commit.take(self.conn)
        try:
            if self.failed and self._root.is_active:
                self._root.rollback()
                work = []
        finally:
            self._stack.close()
        post_commit.run(work)


@dataclass
class Scope:
    method: str = ""
    path: str = ""  # sanitized, without leading or trailing "/"
    body: bytes | None = None
    charset: str = "utf-8"
    xml: ElementTree.Element | None = None  # the body, parsed once by the XML guard
    transaction: Transaction | None = None
    # Why the storage refused a write, for an answer Radicale would leave as "Bad Request".
    reasons: list[str] = field(default_factory=list)
    # The refusal behind the last reason (its precondition names the DAV:error).
    refusal: BaseException | None = None
    # The resource found holding a UID Radicale asked about (has_uid), for the
    # D:href of its CALDAV:no-uid-conflict answer (dav/reasons.py).
    uid_holder: str | None = None
    # A fast path's 403, handed to Radicale as a bare 400 and put back in its
    # place by dav/reasons.py (see dav/refusal.Refusal.response).
    answer: Any = None
    # An answer body written after Radicale returns (dav/listing.py); it then
    # owns the transaction and closes the scope when it has been sent.
    stream: Any = None
    # Database errors that mean an outage (dav/outage.py answers 503).
    outages: list[BaseException] = field(default_factory=list)
    # A sync-collection page chosen before Radicale runs (dav/sync_limit.py):
    # the storage's sync() answers with it.
    sync_page: Any = None
    # False when the client sent "Schedule-Reply: F" (RFC 6638 8.1).
    schedule_reply: bool = True

    def close(self) -> None:
        """End the transaction (commit, or roll back a failed write); safe to call twice."""
        transaction, self.transaction = self.transaction, None
        if transaction is not None:
            transaction.close()

    def abort(self) -> None:
        """Roll back whatever is open, after an error that ends the request."""
        if self.transaction is not None:
            self.transaction.failed = True
            with contextlib.suppress(Exception):  # the connection may be gone already
                self.close()


_current: contextvars.ContextVar[Scope | None] = contextvars.ContextVar(
    "backside_request_scope", default=None)


@contextlib.contextmanager
def begin() -> Iterator[Scope]:
    """A new scope for the code this request runs; the caller closes it."""
    scope = Scope()
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)


def current() -> Scope | None:
    return _current.get()


def transaction_for(user: str) -> Transaction | None:
    """The request's transaction, if it was opened for `user`."""
    scope = _current.get()
    if scope is None or scope.transaction is None or scope.transaction.user != user:
        return None
    return scope.transaction


def transaction_of(tenant: str | None) -> Transaction | None:
    """The request's transaction, if it is `tenant`'s."""
    scope = _current.get()
    if tenant is None or scope is None or scope.transaction is None \
            or scope.transaction.tenant != tenant:
        return None
    return scope.transaction


def held() -> Transaction | None:
    """The transaction of the storage lock held now, if any."""
    scope = _current.get()
    if scope is None or scope.transaction is None or scope.transaction.mode is None:
        return None
    return scope.transaction


def holding() -> Transaction:
    """held(), for code that only runs under a storage lock."""
    transaction = held()
    if transaction is None:
        raise RuntimeError("storage used outside acquire_lock()")
    return transaction


class failing_writes:
    """Marks the request's transaction for rollback when a write raises, and
    keeps a refusal's message for the answer (dav/reasons.py)."""

    def __enter__(self) -> None:
        transaction = held()
        if transaction is not None:
            transaction.calendars.clear()  # a write may change any calendar row (sync counter)

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> bool:
        if exc_type is not None:
            transaction = held()
            if transaction is not None:
                transaction.failed = True
            if isinstance(exc, ValueError):  # domain refusals carry a message for people
                note_refusal(str(exc), exc)
        return False


def note_refusal(reason: str, refusal: BaseException | None = None) -> None:
    scope = _current.get()
    if scope is not None:
        scope.reasons.append(reason)
        scope.refusal = refusal


def note_answer(answer: Any) -> None:
    """Keep an answer for dav/reasons.py to send instead of Radicale's bare 400."""
    scope = _current.get()
    if scope is not None:
        scope.answer = answer


def note_uid_holder(path: str) -> None:
    """Remember which resource holds the UID a PUT or MOVE would reuse."""
    scope = _current.get()
    if scope is not None:
        scope.uid_holder = path


def note_outage(exc: BaseException, unavailable: bool) -> None:
    """Remember that this request failed because the database cannot serve."""
    scope = _current.get()
    if scope is not None and unavailable:
        scope.outages.append(exc)


def original_text_for(method: str, path: str) -> str | None:
    """The decoded request body if the current request is `method` on `path`."""
    scope = _current.get()
    if scope is None or scope.body is None or scope.method != method or scope.path != path:
        return None
    try:
        return scope.body.decode(scope.charset)
    except (LookupError, UnicodeDecodeError):
        return None


def xml_body(method: str) -> ElementTree.Element | None:
    """The parsed XML body of the current request, if it is a `method`."""
    scope = _current.get()
    if scope is None or scope.method != method:
        return None
    return scope.xml


def sync_page() -> Any:
    """The sync-collection page dav/sync_limit.py chose for this request, if any."""
    scope = _current.get()
    return scope.sync_page if scope is not None else None


def expand_window() -> tuple[datetime, datetime] | None:
    """The time-range of the current calendar-query if it asks for expand.

    Radicale removes the time-range from the filter it hands the storage when
    the query expands, so the storage would have to return every event; the
    window the client asked for is still in the request body.
    """
    root = xml_body("REPORT")
    if root is None or root.find(f".//{CALDAV}expand") is None:
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


def expand_range() -> tuple[datetime, datetime] | None:
    """The start and end of the current REPORT's C:expand, when it has both."""
    root = xml_body("REPORT")
    found = None if root is None else root.find(f".//{CALDAV}expand")
    if found is None:
        return None
    start, end = _utc(found.get("start")), _utc(found.get("end"))
    return (start, end) if start is not None and end is not None else None


def _utc(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def schedule_reply() -> bool:
    """Whether an attendee's change in this request sends its REPLY."""
    scope = _current.get()
    return scope is None or scope.schedule_reply
