"""SQL of calendar users: which login of this server, in which tenant, an
iTIP address names.

Logins are readable without a tenant (migration 0004's lookup policy) and an
email belongs to one login server-wide (migration 0011), so an address names
at most one login. Knowing that a login exists in another tenant is itself
cross-tenant knowledge: only scheduling/ (the delivery path and the outbox,
which answer 3.7 alike for "unknown" and "another tenant's") may call this.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from sqlalchemy.engine import Connection

from backside_caldav.db.engines import statement as _q


@dataclass(frozen=True)
class CalendarUser:
    username: str
    tenant_id: str
    email: str | None


def address_key(address: str) -> tuple[str, str] | None:
    """('email', lower-case address) for mailto:, ('login', name) for a principal
    path (/name/ or a full URL ending in it), None for anything else."""
    value = address.strip()
    if value[:7].lower() == "mailto:":
        email = unquote(value[7:]).strip()
        return ("email", email.lower()) if "@" in email and _printable(email) else None
    path = value.split("://", 1)[1].split("/", 1)[1] if "://" in value else value.lstrip("/")
    name = unquote(path).strip("/")
    return ("login", name) if name and "/" not in name and _printable(name) else None


def _printable(text: str) -> bool:
    """No control characters (PostgreSQL refuses NUL; no login or email has one)."""
    return not any(ord(c) < 0x20 or ord(c) == 0x7f for c in text)


def user_of(conn: Connection, address: str) -> CalendarUser | None:
    """The login an address names (its email, or its name when the login is an
    email address; or its principal path), in any tenant."""
    key = address_key(address)
    if key is None:
        return None
    kind, value = key
    if kind == "email":
        row = conn.execute(_q(
            "SELECT username, tenant_id::text, email FROM accounts "
            "WHERE lower(email) = :a OR lower(username) = :a "
            "ORDER BY (lower(email) = :a) DESC NULLS LAST LIMIT 1"), {"a": value}).first()
    else:
        row = conn.execute(_q(
            "SELECT username, tenant_id::text, email FROM accounts WHERE username = :a"),
            {"a": value}).first()
    return CalendarUser(row[0], row[1], row[2]) if row else None


def copy_of(conn: Connection, tenant: str, uid: str) -> tuple[str, str] | None:
    """(calendar href, href) of the tenant's live object with this UID: the
    organizer's object a reply goes to, or the attendee's copy a request or
    cancel updates."""
    row = conn.execute(_q(
        "SELECT c.href, x.href FROM (SELECT calendar_id, href FROM events WHERE tenant_id = :t "
        "AND uid = :u AND series_id IS NULL AND deleted_at IS NULL UNION ALL "
        "SELECT calendar_id, href FROM calendar_objects WHERE tenant_id = :t AND uid = :u) x "
        "JOIN calendars c ON c.tenant_id = :t AND c.id = x.calendar_id "
        "ORDER BY c.created_at LIMIT 1"), {"t": tenant, "u": uid}).first()
    return (row[0], row[1]) if row else None
