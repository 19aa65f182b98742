"""SQL of webhooks (migration 0010): the receivers, their cursors and leases, and
the record of each delivery.

Two kinds of caller. The `webhook` commands and the deliverer's search for
due webhooks work across tenants on the owner's engine, and that search
reads nothing but ids. Everything a deliverer does for one webhook (lease,
feed, record, cursor) runs in that tenant's transaction (db/tenancy.py), so
row-level security holds there as for every request.

The lease makes one process at a time deliver for a webhook: it is taken
and renewed only while it is free, run out or already ours, and every
cursor move names the owner, so a process whose lease ran out (it hung, it
died) can no longer move the cursor back over another's work.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection, Engine

from backside_caldav.db.engines import statement as _q
from backside_caldav.db.keys import find_tenant
from backside_caldav.domain.webhooks import WebhookError

KEEP_DELIVERED_DAYS = 1.0
KEEP_FAILED_DAYS = 7.0


@dataclass(frozen=True)
class Webhook:
    tenant_id: str
    id: str
    url: str
    events: list[str] | None
    secret: str
    allow_private: bool
    cursor: int
    failing_since: datetime | None
    attempts: int
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class Listed:
    id: str
    tenant_name: str
    url: str
    events: list[str] | None
    cursor: int
    failing_since: datetime | None
    attempts: int
    last_status: int | None
    last_error: str | None
    last_at: datetime | None


@dataclass(frozen=True)
class Delivery:
    at: datetime
    webhook_id: str
    tenant_name: str
    seq: int
    type: str
    attempt: int
    status_code: int | None
    error: str | None
    delivered: bool
    given_up: bool


HOOK_COLS = ("tenant_id::text, id::text, url, events, secret, allow_private, cursor, "
             "failing_since, attempts, next_attempt_at")


def _uuid(text: str, what: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise WebhookError(f"{text!r} is not a {what} (a UUID, see `webhook list`)") from None


# --- the commands (owner's engine) ----------------------------------------------

def add(engine: Engine, tenant: str, url: str, events: list[str] | None, secret: str,
        allow_private: bool) -> tuple[str, str, str]:
    """Store the webhook, starting after the tenant's newest change: (id, tenant id, name)."""
    with engine.begin() as conn:
        tenant_id, name = find_tenant(conn, tenant)
        webhook_id = conn.execute(_q(
            "INSERT INTO webhooks (tenant_id, url, events, secret, allow_private, cursor) "
            "VALUES (:t, :u, :e, :s, :p, coalesce((SELECT max(seq) FROM change_feed "
            "WHERE tenant_id = :t), 0)) RETURNING id::text"),
            {"t": tenant_id, "u": url, "e": events, "s": secret, "p": allow_private}).scalar_one()
    return webhook_id, tenant_id, name


def _tenant_id(conn: Connection, tenant: str | None) -> str | None:
    """The id of the tenant named (None: every tenant)."""
    return find_tenant(conn, tenant)[0] if tenant is not None else None


def listing(engine: Engine, tenant: str | None = None) -> list[Listed]:
    """The webhooks (of one tenant), with the last try's outcome."""
    with engine.begin() as conn:
        tenant_id = _tenant_id(conn, tenant)
        rows = conn.execute(_q(
            "SELECT w.id::text, t.name, w.url, w.events, w.cursor, w.failing_since, w.attempts, "
            "d.status_code, d.error, d.at FROM webhooks w JOIN tenants t ON t.id = w.tenant_id "
            "LEFT JOIN LATERAL (SELECT status_code, error, at FROM webhook_deliveries "
            "  WHERE tenant_id = w.tenant_id AND webhook_id = w.id ORDER BY id DESC LIMIT 1) d "
            "ON true WHERE CAST(:t AS uuid) IS NULL OR w.tenant_id = :t "
            "ORDER BY t.name, w.created_at, w.id"), {"t": tenant_id})
        return [Listed(*row) for row in rows]


def remove(engine: Engine, webhook_id: str, tenant: str | None = None) -> str:
    """Delete the webhook and its deliveries; returns its URL."""
    hook = _uuid(webhook_id, "webhook id")
    with engine.begin() as conn:
        tenant_id = _tenant_id(conn, tenant)
        url = conn.execute(_q(
            "DELETE FROM webhooks WHERE id = :i AND (CAST(:t AS uuid) IS NULL OR tenant_id = :t) "
            "RETURNING url"), {"i": hook, "t": tenant_id}).scalar()
    if url is None:
        raise WebhookError(f"no webhook {hook}" + (f" of tenant {tenant!r}" if tenant else ""))
    return str(url)


def deliveries(engine: Engine, tenant: str | None = None, webhook_id: str | None = None,
               limit: int = 20, failures_only: bool = True) -> list[Delivery]:
    """The newest tries, newest first (by default the failed ones)."""
    hook = _uuid(webhook_id, "webhook id") if webhook_id is not None else None
    with engine.begin() as conn:
        tenant_id = _tenant_id(conn, tenant)
        rows = conn.execute(_q(
            "SELECT d.at, d.webhook_id::text, t.name, d.seq, d.type, d.attempt, d.status_code, "
            "d.error, d.delivered, d.given_up FROM webhook_deliveries d "
            "JOIN tenants t ON t.id = d.tenant_id "
            "WHERE (CAST(:t AS uuid) IS NULL OR d.tenant_id = :t) "
            "AND (CAST(:w AS uuid) IS NULL OR d.webhook_id = :w) "
            "AND (NOT :f OR NOT d.delivered) ORDER BY d.at DESC, d.id DESC LIMIT :n"),
            {"t": tenant_id, "w": hook, "f": failures_only, "n": limit})
        return [Delivery(*row) for row in rows]


def prune_deliveries(engine: Engine, delivered_days: float = KEEP_DELIVERED_DAYS,
                     failed_days: float = KEEP_FAILED_DAYS) -> int:
    """Keep the delivery record bounded: successes for a day, failures for a week."""
    with engine.begin() as conn:
        return int(conn.execute(_q(
            "DELETE FROM webhook_deliveries WHERE at < now() - make_interval(secs => :d) "
            "AND (delivered OR at < now() - make_interval(secs => :f))"),
            {"d": delivered_days * 86400, "f": failed_days * 86400}).rowcount)


# --- the deliverer -----------------------------------------------------------------

def any_webhooks(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(_q("SELECT EXISTS (SELECT 1 FROM webhooks)")).scalar())


def due(engine: Engine, limit: int = 100) -> list[tuple[str, str]]:
    """(tenant, webhook) ids with changes past their cursor, not waiting for a retry and
    not leased by a live process; the longest waiting first."""
    with engine.connect() as conn:
        rows = conn.execute(_q(
            "SELECT w.tenant_id::text, w.id::text FROM webhooks w "
            "WHERE EXISTS (SELECT 1 FROM change_feed f WHERE f.tenant_id = w.tenant_id "
            "AND f.seq > w.cursor) AND coalesce(w.next_attempt_at, '-infinity') <= now() "
            "AND coalesce(w.lease_until, '-infinity') < now() "
            "ORDER BY coalesce(w.next_attempt_at, w.created_at) LIMIT :n"), {"n": limit})
        return [(row[0], row[1]) for row in rows]


def lease(conn: Connection, tenant: str, webhook_id: str, owner: str,
          seconds: float) -> Webhook | None:
    """Take or renew the webhook's lease; None when another process holds it."""
    row = conn.execute(_q(
        "UPDATE webhooks SET lease_owner = :o, lease_until = now() + make_interval(secs => :s) "
        "WHERE tenant_id = :t AND id = :i AND (lease_owner = :o "
        "OR coalesce(lease_until, '-infinity') < now()) "
        f"RETURNING {HOOK_COLS}"),
        {"t": tenant, "i": webhook_id, "o": owner, "s": seconds}).first()
    return Webhook(*row) if row is not None else None


def release(conn: Connection, tenant: str, webhook_id: str, owner: str) -> None:
    conn.execute(_q("UPDATE webhooks SET lease_owner = NULL, lease_until = NULL "
                    "WHERE tenant_id = :t AND id = :i AND lease_owner = :o"),
                 {"t": tenant, "i": webhook_id, "o": owner})


def advance(conn: Connection, tenant: str, webhook_id: str, owner: str, seq: int,
            lease_seconds: float) -> bool:
    """The cursor moves to seq (delivered, filtered out or given up) and the retry
    state clears; False when the lease was lost (nothing changed)."""
    return conn.execute(_q(
        "UPDATE webhooks SET cursor = :q, failing_since = NULL, attempts = 0, "
        "next_attempt_at = NULL, lease_until = now() + make_interval(secs => :s) "
        "WHERE tenant_id = :t AND id = :i AND lease_owner = :o AND cursor < :q"),
        {"t": tenant, "i": webhook_id, "o": owner, "q": seq, "s": lease_seconds}).rowcount > 0


def retry_later(conn: Connection, tenant: str, webhook_id: str, owner: str, attempts: int,
                delay: float) -> bool:
    """The head change failed: try it again after `delay` seconds."""
    return conn.execute(_q(
        "UPDATE webhooks SET attempts = :a, failing_since = coalesce(failing_since, now()), "
        "next_attempt_at = now() + make_interval(secs => :d) "
        "WHERE tenant_id = :t AND id = :i AND lease_owner = :o"),
        {"t": tenant, "i": webhook_id, "o": owner, "a": attempts, "d": delay}).rowcount > 0


def record(conn: Connection, tenant: str, webhook_id: str, seq: int, kind: str, attempt: int,
           status_code: int | None, error: str | None, delivered: bool,
           given_up: bool = False) -> None:
    conn.execute(_q(
        "INSERT INTO webhook_deliveries (tenant_id, webhook_id, seq, type, attempt, status_code, "
        "error, delivered, given_up) VALUES (:t, :i, :q, :k, :a, :c, :e, :d, :g)"),
        {"t": tenant, "i": webhook_id, "q": seq, "k": kind, "a": attempt, "c": status_code,
         "e": error[:500] if error else None, "d": delivered, "g": given_up})
