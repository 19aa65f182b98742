"""GET /api/v1/changes/stream: the change feed as Server-Sent Events.

How the server holds the streams: each open stream is one thread of its
worker, parked on a condition variable (no CPU, no database connection)
until the worker's one LISTEN connection (db/feed_listener.py) hears a
commit of its tenant, or 15 s pass (then it sends a heartbeat comment and
looks at the feed once more, in case a notification was lost). Streams have
a budget of their own (`--max-streams` per worker), on top of the request
threads, so 200 open streams leave CalDAV its threads; one stream over the
budget is refused with 503 and Retry-After.

A woken stream takes the new changes from the worker's shared list of the
tenant's newest changes (service/recent_changes.py: one query per commit
per worker, however many streams), filtered for its key by the same rule as
GET /changes; a stream further behind reads the feed through
service/changes.page. Either way it resumes from Last-Event-ID without a
gap or a repeat.
"""

from __future__ import annotations

import json
import os
import threading
import time
import weakref
from collections.abc import Iterator

from sqlalchemy.engine import Engine

from backside_caldav.db import feed_listener, keys, tenancy
from backside_caldav.domain.api_keys import ApiKey
from backside_caldav.domain.changes import present
from backside_caldav.service.changes import page, shown
from backside_caldav.service.events import Caller
from backside_caldav.service.problems import Problem
from backside_caldav.service.recent_changes import Recent

HEARTBEAT = 15.0
HEARTBEAT_ENV = "BACKSIDE_STREAM_HEARTBEAT"  # seconds; shorter for tests and picky proxies


def heartbeat_seconds() -> float:
    """The heartbeat from the environment (0.1 to 300 s), else 15 s."""
    try:
        value = float(os.environ.get(HEARTBEAT_ENV, HEARTBEAT))
    except ValueError:
        return HEARTBEAT
    return value if 0.1 <= value <= 300 else HEARTBEAT
DEFAULT_MAX_STREAMS = 256
PAGE = 100
DB_READERS = 4  # streams reading the database at once, per worker


_hubs: weakref.WeakSet[Hub] = weakref.WeakSet()


def stop_all() -> None:
    """End this process's streams: the worker is stopping (SIGTERM). Clients
    reconnect with Last-Event-ID, to a worker that still serves."""
    for hub in list(_hubs):
        hub.stop()


class Hub:
    """The process's listener and its waiting streams."""

    def __init__(self, engine: Engine, max_streams: int = DEFAULT_MAX_STREAMS,
                 heartbeat: float | None = None) -> None:
        self.engine = engine
        self.max_streams = max_streams
        self.heartbeat = heartbeat if heartbeat is not None else heartbeat_seconds()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._newest: dict[str, int] = {}
        self._recent: dict[str, Recent] = {}
        self._per_tenant: dict[str, int] = {}  # open streams per tenant
        # Streams that must read the database (behind the shared list, or include=event)
        # take turns, so a commit that wakes 200 of them cannot take CalDAV's connections.
        self.reads = threading.BoundedSemaphore(DB_READERS)
        self._epoch = 0  # moves on each (re)connect: every stream looks again
        self._open = 0
        self._stop = threading.Event()
        self._listening = False
        _hubs.add(self)

    # --- the listener ---------------------------------------------------------

    def _heard(self, tenant: str | None, seq: int) -> None:
        with self._lock:
            if tenant is None:
                self._epoch += 1
            elif seq > self._newest.get(tenant, 0):
                self._newest[tenant] = seq
            self._changed.notify_all()

    def stop(self) -> None:
        """End every stream (the worker is stopping) and the listener."""
        self._stop.set()
        with self._lock:
            self._changed.notify_all()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # --- the streams ----------------------------------------------------------

    def enter(self, tenant: str) -> None:
        """Take a stream's place, or 503 when the worker holds its maximum."""
        with self._lock:
            if self._open >= self.max_streams:
                raise Problem(503, "too-many-streams", "Too many open streams",
                              f"this worker holds its maximum of {self.max_streams} open "
                              "streams; try again shortly or poll GET /api/v1/changes",
                              headers=[("Retry-After", "5")])
            self._open += 1
            self._per_tenant[tenant] = self._per_tenant.get(tenant, 0) + 1
            subscribe, self._listening = not self._listening, True
        if subscribe:  # outside the lock: a subscriber may be told at once (_heard)
            feed_listener.subscribe(self.engine, self._heard)

    def leave(self, tenant: str) -> None:
        """Give the place back; the tenant's shared list goes with its last stream."""
        with self._lock:
            self._open -= 1
            left = self._per_tenant.get(tenant, 1) - 1
            if left > 0:
                self._per_tenant[tenant] = left
            else:
                self._per_tenant.pop(tenant, None)
                self._recent.pop(tenant, None)

    @property
    def open_streams(self) -> int:
        return self._open

    def wait(self, tenant: str, seen: int, epoch: int, timeout: float) -> tuple[bool, int]:
        """Until a change of the tenant after `seen` commits, the listener reconnects or
        the worker stops (True), or timeout passes (False); and the epoch now."""
        with self._lock:
            woken = self._changed.wait_for(
                lambda: self._stop.is_set() or self._epoch != epoch
                or self._newest.get(tenant, 0) > seen, timeout=max(timeout, 0.0))
            return woken, self._epoch

    def epoch(self) -> int:
        return self._epoch

    def newest(self, tenant: str) -> int:
        """The newest change of the tenant the listener has heard of (0: none yet)."""
        return self._newest.get(tenant, 0)

    def recent(self, tenant: str) -> Recent:
        with self._lock:
            found = self._recent.get(tenant)
            if found is None:
                found = self._recent[tenant] = Recent(self.engine, tenant)
            return found


def event_text(item: dict) -> bytes:
    data = json.dumps(item, ensure_ascii=False, separators=(",", ":"))
    return f"id: {item['cursor']}\nevent: {item['type']}\ndata: {data}\n\n".encode()


class Stream:
    """The stream's body as a WSGI iterable. It holds a place in the hub from its
    making to close(), which the WSGI server calls however the stream ends
    (the client went away, the worker stops), even if it never started."""

    def __init__(self, hub: Hub, key: ApiKey, start: int, include_event: bool) -> None:
        hub.enter(key.tenant_id)
        self.hub, self.tenant = hub, key.tenant_id
        self._body = _events(hub, key, start, include_event)
        self._held = True

    def __iter__(self) -> Iterator[bytes]:
        return self._body

    def close(self) -> None:
        self._body.close()
        if self._held:
            self._held = False
            self.hub.leave(self.tenant)


def _events(hub: Hub, key: ApiKey, start: int, include_event: bool) -> Iterator[bytes]:
    yield b"retry: 2000\n: connected\n\n"
    cursor = start
    epoch = hub.epoch()
    recent = hub.recent(key.tenant_id)
    max_age = hub.heartbeat / 2
    written = time.monotonic()
    while not hub.stopping:
        recent.refresh(hub.newest(key.tenant_id), max_age)
        found = recent.after(cursor, PAGE, key)
        if found is None or (include_event and found.changes):
            # Behind what the worker keeps, or the events must be read: a transaction.
            try:
                with hub.reads, tenancy.transaction(hub.engine, key.tenant_id) as conn:
                    caller = Caller(conn, key)
                    found = found or page(caller, cursor, PAGE)
                    items = [shown(caller, change, include_event) for change in found.changes]
            except Problem as problem:  # pruned under a stream far behind: it must resync
                data = json.dumps({"status": problem.status, "detail": problem.detail})
                yield f"event: cursor-expired\ndata: {data}\n\n".encode()
                return
        else:
            items = [present(change, key) for change in found.changes]
        for item in items:
            yield event_text(item)
            written = time.monotonic()
        cursor = found.next_cursor
        if found.has_more:
            continue
        due = written + hub.heartbeat - time.monotonic()
        woken, now_epoch = hub.wait(key.tenant_id, cursor, epoch, due)
        if now_epoch != epoch:  # the listener (re)connected: anything may have been missed
            epoch, max_age = now_epoch, 0.0
        else:
            max_age = hub.heartbeat / 2
        if time.monotonic() - written >= hub.heartbeat:
            # Also when woken by changes this key does not see: proxies must see bytes,
            # and a client that went away is noticed only when a write fails.
            yield b": heartbeat\n\n"
            written = time.monotonic()
            with tenancy.transaction(hub.engine, key.tenant_id) as conn:
                current = keys.current_key(conn, key.tenant_id, key.id)
            if current is None:
                yield b"event: key-revoked\ndata: {}\n\n"
                return  # the key was revoked or expired: the stream ends with it
            key = current  # its calendars or window may have changed
