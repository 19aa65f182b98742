"""SQL of tenants and logins. Passwords are stored as Argon2 hashes
(domain/passwords.py makes and checks them), or as an htpasswd import's hash
until the login's first sign-in replaces it (db/account_import.py)."""

from __future__ import annotations

import logging

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from backside_caldav.db import tenancy as tenant_entry
from backside_caldav.db.engines import statement as _q
from backside_caldav.domain.passwords import (
    AccountError,
    Verdict,
    check_email,
    check_username,
    hash_password,
    verify_password,
)

log = logging.getLogger("backside_caldav.auth")


def ensure_tenant(conn: Connection, tenant: str) -> str:
    """The tenant's id, creating it (with its default calendar) if needed."""
    if not tenant.strip():
        raise AccountError("tenant name must not be empty")
    conn.execute(_q("INSERT INTO tenants (name) VALUES (:n) ON CONFLICT (name) DO NOTHING"),
                 {"n": tenant})
    tenant_id = conn.execute(_q("SELECT id::text FROM tenants WHERE name = :n"),
                             {"n": tenant}).scalar_one()
    has_calendar = conn.execute(_q("SELECT 1 FROM calendars WHERE tenant_id = :t LIMIT 1"),
                                {"t": tenant_id}).first()
    if not has_calendar:
        conn.execute(_q(
            "INSERT INTO calendars (tenant_id, name, href) VALUES (:t, 'Calendar', 'calendar')"),
            {"t": tenant_id})
    return tenant_id


def add_account(engine: Engine, username: str, tenant: str, password: str,
                email: str | None = None) -> str:
    """Create the tenant if needed and a login for it; returns the tenant id."""
    check_username(username)
    email = check_email(email) if email is not None else None
    if not tenant.strip():
        raise AccountError("tenant name must not be empty")
    password_hash = hash_password(password)
    with engine.begin() as conn:
        tenant_id = ensure_tenant(conn, tenant)
        exists = conn.execute(_q("SELECT 1 FROM accounts WHERE username = :u"),
                              {"u": username}).first()
        if exists:
            raise AccountError(f"account {username!r} already exists")
        if email is not None:
            email_free(conn, email)
        conn.execute(_q(
            "INSERT INTO accounts (tenant_id, username, password_hash, email) "
            "VALUES (:t, :u, :h, :e)"),
            {"t": tenant_id, "u": username, "h": password_hash, "e": email})
    return tenant_id


def email_free(conn: Connection, email: str, username: str | None = None) -> None:
    """AccountError when another login has this address (in any case)."""
    other = conn.execute(_q(
        "SELECT username FROM accounts WHERE lower(email) = lower(:e) "
        "AND username IS DISTINCT FROM :u"), {"e": email, "u": username}).scalar()
    if other is not None:
        raise AccountError(f"the email {email!r} is already the address of login {other!r}")


def set_password(engine: Engine, username: str, password: str) -> None:
    password_hash = hash_password(password)
    with engine.begin() as conn:
        done = conn.execute(_q(
            "UPDATE accounts SET password_hash = :h, updated_at = now() WHERE username = :u"),
            {"h": password_hash, "u": username}).rowcount
    if not done:
        raise AccountError(f"no account {username!r}")


def verify_login(engine: Engine, username: str, password: str) -> bool:
    """A password check outside any request transaction."""
    if not username or not password or len(password) > 1024:
        return False
    with engine.connect() as conn:
        row = conn.execute(_q(
            "SELECT tenant_id::text, password_hash FROM accounts WHERE username = :u"),
            {"u": username}).first()
    verdict = verify_password(username, row[1] if row else None, password)
    if row:
        record_login(engine, username, row[0], row[1], verdict)
    return verdict.ok


def record_login(engine: Engine, username: str, tenant: str, checked_hash: str,
                 verdict: Verdict) -> None:
    """After a password check: the login's last_login_at, and its new hash when
    the check asks for one (an htpasswd import's first login).

    A short transaction of its own, not the request's: a reader's REPEATABLE
    READ snapshot would fail on a concurrent login's update, and the row would
    stay locked for the whole request. The hash is replaced only if it is
    still the one checked (a password changed meanwhile wins). A failure here
    is logged and the login stands: bookkeeping must not refuse a sign-in."""
    if not verdict.ok or not verdict.checked:
        return
    try:
        with tenant_entry.transaction(engine, tenant) as conn:
            conn.execute(_q(
                "UPDATE accounts SET last_login_at = now(), password_hash = "
                "CASE WHEN password_hash = :old THEN coalesce(:new, password_hash) "
                "ELSE password_hash END WHERE username = :u"),
                {"u": username, "old": checked_hash, "new": verdict.new_hash})
    except SQLAlchemyError as exc:
        log.warning("could not record the login of %r: %s", username,
                    str(getattr(exc, "orig", exc)).strip().partition("\n")[0])


def login_of(conn: Connection, username: str, lock: bool = False) -> tuple[str, str] | None:
    """(tenant id, password hash) of a login, setting the tenant for this
    transaction in the same round trip; None when there is no such login.
    lock also takes the tenant's write lock in that trip."""
    also = ", " + tenant_entry.lock("tenant_id::text", "caldav") if lock else ""
    row = conn.execute(_q(
        f"SELECT tenant_id::text, password_hash, {tenant_entry.enter('tenant_id::text')}{also} "
        "FROM accounts WHERE username = :u"), {"u": username}).first()
    return (row[0], row[1]) if row else None


def owner_addresses(conn: Connection, tenant: str, no_jit: bool = False) -> list[str]:
    """The calendar owner's addresses (lower case): the tenant's logins that are
    email addresses and the logins' emails. Calendars belong to the tenant; an
    ATTENDEE row with one of these emails is the owner.

    no_jit also turns JIT compiling off for the rest of the transaction, in the
    same round trip (see busy_queries.candidates for why)."""
    jit = "set_config('jit', 'off', true), " if no_jit else ""
    return list(conn.execute(_q(
        f"SELECT {jit}ARRAY(SELECT DISTINCT lower(a) FROM accounts, "
        "LATERAL (VALUES (username), (email)) v(a) WHERE tenant_id = :t "
        "AND a LIKE '_%@_%')"), {"t": tenant}).one()[-1])
