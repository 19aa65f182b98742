"""SQL of principals: a tenant's logins as its colleagues may see them.

Row-level security lets the application role read every login (a login is
looked up by name before its tenant is known, migration 0004), so every query
here names the tenant itself: a login of another tenant is never returned.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from backside_caldav.db.engines import statement as _q
from backside_caldav.domain.principal_search import Principal

# The tenant's default calendar (db/calendars.default_calendar's order): one
# value per tenant, which PostgreSQL computes once for all rows (no outer reference).
DEFAULT_CALENDAR = ("SELECT href FROM calendars WHERE tenant_id = :t "
                    "AND 'VEVENT' = ANY(components) "
                    "ORDER BY calendar_order NULLS LAST, created_at, id LIMIT 1")


def tenant_principals(conn: Connection, tenant: str) -> list[Principal]:
    """Every login of the tenant, by name. A tenant's logins are its people (a
    handful to a few thousand), so a search reads them all and domain/
    principal_search.py decides what matches; the answer is capped there."""
    rows = conn.execute(_q(
        f"SELECT username, email, ({DEFAULT_CALENDAR}) FROM accounts WHERE tenant_id = :t "
        "ORDER BY username"), {"t": tenant})
    return [Principal(username, email, calendar) for username, email, calendar in rows]


def principal(conn: Connection, tenant: str, username: str) -> Principal | None:
    """The login of this name if it belongs to the tenant, else None (whether
    it does not exist or belongs to another tenant)."""
    row = conn.execute(_q(
        f"SELECT username, email, ({DEFAULT_CALENDAR}) FROM accounts "
        "WHERE tenant_id = :t AND username = :u"), {"t": tenant, "u": username}).first()
    return Principal(row[0], row[1], row[2]) if row else None
