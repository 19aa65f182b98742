"""The transaction of the request being served (set by acquire_lock)."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

from backside_caldav.db.event_reads import StoredItem
from backside_caldav.domain.records import CalendarRow
from backside_caldav.request import note_refusal


@dataclass
class Session:
    conn: Connection
    user: str
    tenant: str | None
    mode: str
    depth: int = 1
    failed: bool = False  # a write raised: the transaction must not commit
    # (calendar id, href) -> what discover() found there in this transaction
    found: dict[tuple[str, str], StoredItem | None] = field(default_factory=dict)
    # calendar href -> its row as read in this transaction, until a write
    calendars: dict[str, CalendarRow] = field(default_factory=dict)


current: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
    "backside_storage_session", default=None)


def session() -> Session:
    s = current.get()
    if s is None:
        raise RuntimeError("storage used outside acquire_lock()")
    return s


class failing_writes:
    """Marks the request's transaction for rollback when a write raises."""

    def __enter__(self) -> None:
        s = current.get()
        if s is not None:
            s.calendars.clear()  # a write may change any calendar row (sync counter)
        return None

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> bool:
        if exc_type is not None:
            s = current.get()
            if s is not None:
                s.failed = True
            if isinstance(exc, ValueError):  # domain refusals carry a message for people
                note_refusal(str(exc))
        return False
