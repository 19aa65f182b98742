"""SQL of the iTIP queue (migration 0014): messages an organizer's or
attendee's change sends, written in the writer's transaction and sent after
it commits (scheduling/delivery.py for logins of this server, the iMIP
sender for everyone else)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection, Engine

from backside_caldav.db.engines import statement as _q

TRANSPORTS = ("server", "mail")


@dataclass(frozen=True)
class QueuedMessage:
    tenant_id: str  # the sender's tenant
    id: str
    transport: str  # 'server' (a login of this server) or 'mail' (iMIP)
    method: str  # REQUEST, CANCEL or REPLY
    originator: str  # mailto: address of the organizer or the replying attendee
    recipient: str  # mailto: address (or principal path) of the one it goes to
    uid: str
    text: str  # the iTIP VCALENDAR, with its METHOD
    attempts: int
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None
    created_at: datetime


COLS = ("tenant_id::text, id::text, transport, method, originator, recipient, uid, "
        "ical_source, attempts, next_attempt_at, sent_at, last_error, created_at")


def enqueue(conn: Connection, tenant: str, transport: str, method: str, originator: str,
            recipient: str, uid: str, text: str) -> str:
    """Queue one message in the writer's transaction; returns its id."""
    if transport not in TRANSPORTS:
        raise ValueError(f"unknown transport {transport!r}")
    return conn.execute(_q(
        "INSERT INTO itip_queue (tenant_id, transport, method, originator, recipient, uid, "
        "ical_source) VALUES (:t, :tr, :m, :o, :r, :u, :s) RETURNING id::text"),
        {"t": tenant, "tr": transport, "m": method, "o": originator, "r": recipient,
         "u": uid, "s": text}).scalar_one()


def claim(conn: Connection, tenant: str, message_id: str) -> QueuedMessage | None:
    """The unsent message, locked until the transaction ends; None when it was
    sent already or another sender holds it."""
    row = conn.execute(_q(
        f"SELECT {COLS} FROM itip_queue WHERE tenant_id = :t AND id = CAST(:i AS uuid) "
        "AND sent_at IS NULL FOR UPDATE SKIP LOCKED"), {"t": tenant, "i": message_id}).first()
    return QueuedMessage(*row) if row else None


def mark_sent(conn: Connection, tenant: str, message_id: str) -> None:
    conn.execute(_q(
        "UPDATE itip_queue SET sent_at = now(), attempts = attempts + 1, last_error = NULL "
        "WHERE tenant_id = :t AND id = CAST(:i AS uuid)"), {"t": tenant, "i": message_id})


def mark_failed(conn: Connection, tenant: str, message_id: str, error: str,
                retry_in_seconds: float) -> None:
    conn.execute(_q(
        "UPDATE itip_queue SET attempts = attempts + 1, last_error = :e, "
        "next_attempt_at = now() + make_interval(secs => :s) "
        "WHERE tenant_id = :t AND id = CAST(:i AS uuid)"),
        {"t": tenant, "i": message_id, "e": error[:1000], "s": retry_in_seconds})


def give_up(conn: Connection, tenant: str, message_id: str, error: str) -> None:
    """A message that can never go (the relay refused it for good): no more
    tries; `imip queue` shows it given up, with why."""
    conn.execute(_q(
        "UPDATE itip_queue SET attempts = greatest(attempts + 1, :cap), last_error = :e "
        "WHERE tenant_id = :t AND id = CAST(:i AS uuid)"),
        {"t": tenant, "i": message_id, "e": error[:1000], "cap": GIVE_UP_ATTEMPTS})


def due(owner: Engine, limit: int = 100) -> list[tuple[str, str, str]]:
    """(tenant, id, transport) of unsent messages whose time has come, in every
    tenant: the search runs on the owner's engine (as the webhooks' does), each
    message is then claimed and sent in its own tenant's transaction."""
    with owner.connect() as conn:
        rows = conn.execute(_q(
            "SELECT tenant_id::text, id::text, transport FROM itip_queue "
            "WHERE sent_at IS NULL AND next_attempt_at <= now() AND attempts < :cap "
            "ORDER BY next_attempt_at LIMIT :n"), {"n": limit, "cap": GIVE_UP_ATTEMPTS}).all()
    return [(r[0], r[1], r[2]) for r in rows]


# With the first retry after 30 s, doubling up to an hour: about 3 days of tries.
GIVE_UP_ATTEMPTS = 80


def listing(owner: Engine, tenant: str | None = None, limit: int = 200) -> list[QueuedMessage]:
    """Unsent messages first (oldest first), then the latest sent ones."""
    with owner.connect() as conn:
        rows = conn.execute(_q(
            f"SELECT {COLS} FROM itip_queue WHERE (CAST(:t AS uuid) IS NULL OR tenant_id = :t) "
            "ORDER BY sent_at IS NOT NULL, CASE WHEN sent_at IS NULL THEN created_at END, "
            "sent_at DESC LIMIT :n"), {"t": tenant, "n": limit}).all()
    return [QueuedMessage(*row) for row in rows]
