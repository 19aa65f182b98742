"""SQL of the operator's login commands: list, delete, set the email.

The owner's engine (the CLI's): a listing spans tenants. The login path
itself (checks, last login, rehash) is in db/accounts.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from backside_caldav.db.accounts import email_free
from backside_caldav.db.engines import statement as _q
from backside_caldav.db.keys import find_tenant
from backside_caldav.domain.login_limits import keys as failure_keys
from backside_caldav.domain.passwords import AccountError, check_email


@dataclass(frozen=True)
class AccountRow:
    username: str
    tenant: str
    email: str | None
    last_login_at: datetime | None
    created_at: datetime


def list_accounts(engine: Engine, tenant: str | None = None) -> list[AccountRow]:
    """Every login (of one tenant, by name or id, when given), by tenant and login."""
    with engine.connect() as conn:
        tenant_id = find_tenant(conn, tenant)[0] if tenant is not None else None
        rows = conn.execute(_q(
            "SELECT a.username, t.name, a.email, a.last_login_at, a.created_at "
            "FROM accounts a JOIN tenants t ON t.id = a.tenant_id "
            "WHERE CAST(:t AS uuid) IS NULL OR a.tenant_id = CAST(:t AS uuid) "
            "ORDER BY t.name, a.username"), {"t": tenant_id}).all()
    return [AccountRow(*row) for row in rows]


def delete_account(engine: Engine, username: str) -> tuple[str, int]:
    """Remove one login (its tenant and calendars stay); returns the tenant's
    name and how many logins it has left."""
    with engine.begin() as conn:
        row = conn.execute(_q(
            "DELETE FROM accounts a USING tenants t WHERE a.username = :u "
            "AND t.id = a.tenant_id RETURNING t.id::text, t.name"), {"u": username}).first()
        if row is None:
            raise AccountError(f"no account {username!r}")
        conn.execute(_q("DELETE FROM login_failures WHERE key = ANY(:k)"),
                     {"k": failure_keys(username, "")})
        left = conn.execute(_q("SELECT count(*) FROM accounts WHERE tenant_id = :t"),
                            {"t": row[0]}).scalar_one()
    return row[1], left


def set_email(engine: Engine, username: str, email: str | None) -> None:
    """The login's email (None clears it)."""
    email = check_email(email) if email is not None else None
    with engine.begin() as conn:
        if email is not None:
            email_free(conn, email, username)
        done = conn.execute(_q(
            "UPDATE accounts SET email = :e, updated_at = now() WHERE username = :u"),
            {"e": email, "u": username}).rowcount
    if not done:
        raise AccountError(f"no account {username!r}")
