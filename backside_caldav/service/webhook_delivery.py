"""Webhook delivery: each change of the feed POSTed to the tenant's receivers, at
least once, in feed order per webhook, retried with backoff.

Off the request path: each worker process runs one Deliverer thread (cli.py
starts it beside maintenance), and each webhook being served runs on a
thread of its own, so a receiver that is slow or down never holds a CalDAV
or API request, nor another tenant's webhook. The deliverer wakes on the
feed's NOTIFY (db/feed_listener.py: a change goes out within moments of its
commit) and every `poll` seconds for retries that came due.

Per webhook, across all processes, one deliverer at a time: it holds the
webhook's lease (db/webhooks.lease) while it works. It reads changes after
the cursor in a short transaction, POSTs the first one with no transaction
open, then records the outcome and moves the cursor in another. Head of
line: change N+1 is not sent before N was delivered or given up (24 hours
after its first failure by default), so receivers see each event's changes
in order. A POST that succeeded just before its record could be written is
sent again later: at least once, never lost; the webhook-id header is the
same for every try, for receivers that drop repeats.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import datetime, timezone

from sqlalchemy.engine import Engine

from backside_caldav.db import change_feed, engines, feed_listener, tenancy, webhooks
from backside_caldav.domain.changes import Change
from backside_caldav.domain.webhook_urls import WebhookUrlError, check
from backside_caldav.domain.webhooks import (
    RetryPolicy,
    body,
    headers,
    message_id,
    poll_seconds,
    wanted,
)
from backside_caldav.service.webhook_http import Outcome, post

log = logging.getLogger(__name__)

LEASE = 30.0  # seconds; well above one POST's timeout, renewed after each change
BATCH = 100  # changes read per transaction
CONCURRENCY = 8  # webhooks served at once by one process


def now() -> datetime:
    return datetime.now(timezone.utc)


def send(hook: webhooks.Webhook, change: Change) -> Outcome:
    """One try: the URL checked again (DNS may have changed) and the signed POST."""
    try:
        target = check(hook.url, hook.allow_private)
    except WebhookUrlError as exc:
        return Outcome(None, str(exc))
    payload = body(change)
    return post(target, payload.encode(),
                headers(hook.secret, message_id(hook.id, change.seq), payload, now()))


def serve(engine: Engine, tenant: str, webhook_id: str, owner: str, policy: RetryPolicy,
          stop: threading.Event, lease_seconds: float = LEASE) -> bool:
    """Deliver the webhook's waiting changes under its lease, until they are done, one
    fails (a retry is scheduled) or stop is set. True when a full batch went out and
    more may wait."""
    with tenancy.transaction(engine, tenant) as conn:
        hook = webhooks.lease(conn, tenant, webhook_id, owner, lease_seconds)
    if hook is None:
        return False  # another process serves it
    try:
        if hook.next_attempt_at is not None and hook.next_attempt_at > now():
            return False
        return _deliver(engine, hook, owner, policy, stop, lease_seconds)
    finally:
        with tenancy.transaction(engine, tenant) as conn:
            webhooks.release(conn, tenant, webhook_id, owner)


def _deliver(engine: Engine, hook: webhooks.Webhook, owner: str, policy: RetryPolicy,
             stop: threading.Event, lease_seconds: float) -> bool:
    tenant = hook.tenant_id
    with tenancy.transaction(engine, tenant, read_only=True) as conn:
        _, last = change_feed.bounds(conn, tenant)
        found = change_feed.after(conn, tenant, hook.cursor, last, BATCH)
    attempts, failing_since = hook.attempts, hook.failing_since
    passed: int | None = None  # the last change filtered out, not yet written
    for change in found:
        if stop.is_set():
            break
        if not wanted(hook.events, change.kind):
            passed = change.seq
            continue
        attempt = attempts + 1
        outcome = send(hook, change)  # no transaction open while the receiver answers
        given_up = not outcome.delivered and policy.gives_up(failing_since, now())
        with tenancy.transaction(engine, tenant) as conn:
            if outcome.delivered or given_up:
                held = webhooks.advance(conn, tenant, hook.id, owner, change.seq, lease_seconds)
            else:
                held = webhooks.retry_later(conn, tenant, hook.id, owner, attempt,
                                            policy.delay(attempt))
            if held:  # else the webhook was removed or another process took it over
                webhooks.record(conn, tenant, hook.id, change.seq, change.kind, attempt,
                                outcome.status, outcome.error, outcome.delivered, given_up)
        if given_up:
            log.warning("webhook %s: gave up on change %s after %d tries (%s)", hook.id,
                        change.seq, attempt, outcome.error)
        if not held or not (outcome.delivered or given_up):
            return False
        attempts, failing_since, passed = 0, None, None
    if passed is not None:
        with tenancy.transaction(engine, tenant) as conn:
            webhooks.advance(conn, tenant, hook.id, owner, passed, lease_seconds)
    return len(found) == BATCH and not stop.is_set()


class Deliverer:
    """The process's webhook deliverer: a daemon thread finding due webhooks and
    one thread per webhook being served (at most `concurrency`)."""

    def __init__(self, owner_engine: Engine, app_engine: Engine,
                 policy: RetryPolicy | None = None, poll: float = 1.0,
                 concurrency: int = CONCURRENCY) -> None:
        self.owner_engine = owner_engine  # across tenants: ids of due webhooks only
        self.app_engine = app_engine  # everything else, under row-level security
        self.policy = policy or RetryPolicy()
        self.poll = poll
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._busy: set[str] = set()
        self._slots = threading.BoundedSemaphore(concurrency)
        self._listening = False
        self._thread = threading.Thread(target=self._run, name="backside-webhooks", daemon=True)

    def start(self) -> Deliverer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _heard(self, _tenant: str | None, _seq: int) -> None:
        self._wake.set()

    def _listen(self) -> None:
        """The feed's wake-ups, once there is a webhook at all (a server without any
        keeps no LISTEN connection for them)."""
        if not self._listening and webhooks.any_webhooks(self.owner_engine):
            self._listening = True
            feed_listener.subscribe(self.owner_engine, self._heard)  # the streams' connection

    def _run(self) -> None:
        failing = False
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self._listen()
                if self._listening:
                    for tenant, webhook_id in webhooks.due(self.owner_engine):
                        self._spawn(tenant, webhook_id)
                failing = False
            except Exception:  # noqa: BLE001 - the database is down: try again next round
                if not failing:
                    log.warning("webhook deliverer cannot read the database", exc_info=True)
                failing = True
            self._wake.wait(self.poll)

    def _spawn(self, tenant: str, webhook_id: str) -> None:
        with self._lock:
            if webhook_id in self._busy or not self._slots.acquire(blocking=False):
                return
            self._busy.add(webhook_id)
        threading.Thread(target=self._serve, args=(tenant, webhook_id),
                         name=f"backside-webhook-{webhook_id[:8]}", daemon=True).start()

    def _serve(self, tenant: str, webhook_id: str) -> None:
        more = False
        try:
            more = serve(self.app_engine, tenant, webhook_id, self.owner, self.policy,
                         self._stop)
        except Exception:  # noqa: BLE001 - the lease runs out; another round retries
            log.warning("webhook %s: delivery round failed", webhook_id, exc_info=True)
        finally:
            with self._lock:
                self._busy.discard(webhook_id)
                self._slots.release()
        if more:
            self._wake.set()


def start(url: str) -> Deliverer:
    """The deliverer of this worker process (cli.py calls it in each worker)."""
    return Deliverer(engines.get_engine(url), engines.get_app_engine(url),
                     RetryPolicy.from_env(), poll=max(poll_seconds(), 0.05)).start()
