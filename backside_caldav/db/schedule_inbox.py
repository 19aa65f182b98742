"""SQL of schedule inboxes (RFC 6638 2.1): the iTIP messages delivered to one
login, listed, read and deleted by its client at /<login>/inbox/."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from backside_caldav.db.engines import statement as _q


@dataclass(frozen=True)
class InboxItem:
    href: str
    uid: str
    method: str
    originator: str
    text: str
    created_at: datetime

    @property
    def etag(self) -> str:
        """Inbox messages never change: their href and time are their version."""
        return f'"{self.href}-{int(self.created_at.timestamp() * 1_000_000)}"'


_COLS = "href, uid, method, originator, ical_source, created_at"


def add(conn: Connection, tenant: str, username: str, method: str, originator: str,
        uid: str, text: str) -> str:
    """Deliver one message; returns its href."""
    href = f"{uuid.uuid4()}.ics"
    conn.execute(_q(
        "INSERT INTO schedule_inbox (tenant_id, username, href, uid, method, originator, "
        "ical_source) VALUES (:t, :u, :h, :uid, :m, :o, :s)"),
        {"t": tenant, "u": username, "h": href, "uid": uid, "m": method, "o": originator,
         "s": text})
    return href


def items(conn: Connection, tenant: str, username: str) -> list[InboxItem]:
    rows = conn.execute(_q(
        f"SELECT {_COLS} FROM schedule_inbox WHERE tenant_id = :t AND username = :u "
        "ORDER BY created_at, href"), {"t": tenant, "u": username})
    return [InboxItem(*row) for row in rows]


def item(conn: Connection, tenant: str, username: str, href: str) -> InboxItem | None:
    row = conn.execute(_q(
        f"SELECT {_COLS} FROM schedule_inbox WHERE tenant_id = :t AND username = :u "
        "AND href = :h"), {"t": tenant, "u": username, "h": href}).first()
    return InboxItem(*row) if row else None


def remove(conn: Connection, tenant: str, username: str, href: str) -> bool:
    return conn.execute(_q(
        "DELETE FROM schedule_inbox WHERE tenant_id = :t AND username = :u AND href = :h"),
        {"t": tenant, "u": username, "h": href}).rowcount > 0
