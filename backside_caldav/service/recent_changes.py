"""A tenant's newest changes as one worker last read them, shared by its streams.

Without it, each commit would wake every open stream of the tenant into a
query of its own: 200 streams, 200 queries per change, all in one worker.
With it, the first stream to wake reads the new changes once and the others
filter that list for their own key in memory (domain/changes.visible, the
same rule as the SQL). A stream whose cursor lies before what is kept reads
the database itself, through service/changes.page.
"""

from __future__ import annotations

import bisect
import threading
import time
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from backside_caldav.db import change_feed, tenancy
from backside_caldav.domain.api_keys import ApiKey
from backside_caldav.domain.changes import Change, visible
from backside_caldav.service.events import now

KEEP = 2048  # changes kept per tenant; a stream further behind reads the database


@dataclass(frozen=True)
class Slice:
    changes: list[Change]
    next_cursor: int
    has_more: bool


class Recent:
    """The changes numbered (base, last] of one tenant, oldest first."""

    def __init__(self, engine: Engine, tenant: str) -> None:
        self.engine = engine
        self.tenant = tenant
        self._lock = threading.Lock()
        self._base = 0
        self._last: int | None = None  # None: never read
        self._changes: list[Change] = []
        self._seqs: list[int] = []
        self._read_at = 0.0

    def refresh(self, newest_heard: int, max_age: float) -> None:
        """Read what committed since the last read, when a notification named a newer
        change or the last read is older than max_age (a notification may be lost)."""
        with self._lock:
            fresh = time.monotonic() - self._read_at < max_age
            if self._last is not None and newest_heard <= self._last and fresh:
                return
            with tenancy.transaction(self.engine, self.tenant) as conn:
                _, last = change_feed.bounds(conn, self.tenant)
                if self._last is None or last - self._last > KEEP:
                    self._base, self._changes = last, []
                elif last > self._last:
                    self._changes += change_feed.after(conn, self.tenant, self._last, last,
                                                       KEEP)
            self._last = max(last, self._last or 0)
            if len(self._changes) > KEEP:
                dropped = len(self._changes) - KEEP
                self._base = self._changes[dropped - 1].seq
                self._changes = self._changes[dropped:]
            self._seqs = [c.seq for c in self._changes]
            self._read_at = time.monotonic()

    def after(self, cursor: int, limit: int, key: ApiKey) -> Slice | None:
        """Up to limit changes the key may see after cursor; None when the cursor lies
        before what is kept (the caller reads the database)."""
        with self._lock:
            if self._last is None or cursor < self._base:
                return None
            start = bisect.bisect_right(self._seqs, cursor)
            candidates = self._changes[start:]
            last = self._last
        at = now()
        shown: list[Change] = []
        for change in candidates:
            if visible(change, key, at):
                shown.append(change)
                if len(shown) == limit:
                    return Slice(shown, change.seq, True)
        return Slice(shown, max(cursor, last), False)
