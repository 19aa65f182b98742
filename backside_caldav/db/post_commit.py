"""Work a transaction leaves for after its commit: the scheduling messages it
queued go out only once they are durable, and never after a rollback.

The work rides on the connection (conn.info) from the code that queues it to
the one place each entry point commits: db/tenancy.transaction and the CalDAV
request's transaction (request.Transaction.close). conn.info outlives a
checkout, so every exit takes or discards it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)

PENDING = "backside.after_commit"


def defer(conn: Connection, work: Callable[[], None]) -> None:
    """Run `work` after this transaction commits (dropped if it rolls back)."""
    conn.info.setdefault(PENDING, []).append(work)


def take(conn: Connection) -> list[Callable[[], None]]:
    return conn.info.pop(PENDING, [])


def run(work: list[Callable[[], None]]) -> None:
    """Run deferred work; a failure is logged, never the committed writer's error
    (what failed stays queued and is retried)."""
    for item in work:
        try:
            item()
        except Exception:  # noqa: BLE001 - the write is committed; the queue retries
            log.exception("work after commit failed; it stays queued")
