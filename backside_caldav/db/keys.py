"""SQL of API keys: only a SHA-256 of each key is stored (domain/api_keys.py
says why), and the key's lookup sets its tenant for the transaction."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy.engine import Connection, Engine, Row

from backside_caldav.db import tenancy
from backside_caldav.db.engines import statement as _q
from backside_caldav.domain.api_keys import (
    SCOPES,
    ApiKey,
    ApiKeyError,
    KeyInfo,
    NewKey,
    check_email,
    hash_key,
    new_secret,
)

MAX_EXPIRY_DAYS = 36600

# The key's columns as ApiKey wants them, over api_keys k; the calendar names
# are read from the tenant's calendars, in the order of calendar_ids.
KEY_COLS = (
    "k.tenant_id::text AS tenant_id, k.id::text AS id, k.read_only, k.scope, "
    "CAST(k.calendar_ids AS text[]) AS calendar_ids, "
    "CASE WHEN k.calendar_ids IS NULL THEN NULL ELSE ARRAY("
    "  SELECT c.name FROM calendars c WHERE c.tenant_id = k.tenant_id "
    "  AND c.id = ANY(k.calendar_ids) ORDER BY array_position(k.calendar_ids, c.id)"
    ") END AS calendar_names, "
    "k.window_past_days, k.window_future_days, k.rate_limits, k.owner_email, k.expires_at")


def api_key(row: Row) -> ApiKey:
    """The ApiKey of a row selected with KEY_COLS."""
    window = None
    if row.window_past_days is not None and row.window_future_days is not None:
        window = (row.window_past_days, row.window_future_days)
    return ApiKey(
        tenant_id=row.tenant_id, id=row.id, read_only=row.read_only, scope=row.scope,
        calendar_ids=None if row.calendar_ids is None else tuple(row.calendar_ids),
        calendar_names=tuple(row.calendar_names or ()), window_days=window,
        owner_email=row.owner_email,
        rate_limits=tuple((int(n), int(s)) for n, s in (row.rate_limits or ())),
        expires_at=row.expires_at)


def insert_api_key(conn: Connection, tenant: str, key_hash: str, read_only: bool,
                   **restrictions: Any) -> str:
    """A new key's row; restrictions are api_keys columns (scope, calendar_ids, ...)."""
    values = {"tenant_id": tenant, "key_hash": key_hash, "read_only": read_only,
              **{k: v for k, v in restrictions.items() if v is not None}}
    binds = ", ".join("CAST(:rate_limits AS jsonb)" if k == "rate_limits"
                      else "CAST(:calendar_ids AS uuid[])" if k == "calendar_ids"
                      else f":{k}" for k in values)
    if "rate_limits" in values:
        values["rate_limits"] = json.dumps([list(pair) for pair in values["rate_limits"]])
    return conn.execute(_q(
        f"INSERT INTO api_keys ({', '.join(values)}) VALUES ({binds}) RETURNING id::text"),
        values).scalar_one()


def list_api_keys(conn: Connection, tenant: str) -> list[Row]:
    return list(conn.execute(_q(
        f"SELECT {KEY_COLS}, k.created_at, k.last_used_at FROM api_keys k "
        "WHERE k.tenant_id = :t ORDER BY k.created_at, k.id"), {"t": tenant}))


def delete_api_key(conn: Connection, tenant: str, key_id: str) -> bool:
    return conn.execute(_q("DELETE FROM api_keys WHERE tenant_id = :t AND id = :i"),
                        {"t": tenant, "i": key_id}).rowcount > 0


def enter_tenant_of_key(conn: Connection, key_hash: str) -> Row | None:
    """Find the key and set its tenant for this transaction: one round trip that
    also returns every restriction of the key (see api_key) and whether it expired.

    The tenant is set in the statement's first column, so the calendar names
    (a subquery of a later column, evaluated after it for the key's row) are
    read under the key's tenant, as row-level security requires.
    last_used_at is refreshed at most once a minute and never waits for a
    concurrent request holding the row (SKIP LOCKED), so it costs nothing on
    the hot path. Its lock is FOR NO KEY UPDATE, which lets the rate-limit
    counter (another connection, whose foreign key takes FOR KEY SHARE on
    this row) count the same request: FOR UPDATE made the two wait for each
    other for ever.
    """
    row = conn.execute(_q(
        f"SELECT {tenancy.enter('k.tenant_id::text')} AS entered, {KEY_COLS}, "
        "k.expires_at IS NOT NULL AND k.expires_at <= now() AS expired, "
        "k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute' AS stale "
        "FROM api_keys k WHERE k.key_hash = :h"), {"h": key_hash}).first()
    if row is not None and row.stale and not row.expired:
        conn.execute(_q(
            "UPDATE api_keys SET last_used_at = now() WHERE tenant_id = :t AND id IN ("
            "SELECT id FROM api_keys WHERE tenant_id = :t AND id = :i FOR NO KEY UPDATE SKIP LOCKED)"),
            {"t": row.tenant_id, "i": row.id})
    return row


def find_tenant(conn: Connection, tenant: str) -> tuple[str, str]:
    """The tenant by name, or by id (so a tenant created by another application works)."""
    row = conn.execute(_q("SELECT id::text, name FROM tenants WHERE name = :n"),
                       {"n": tenant}).first()
    if row is None:
        try:
            tenant_uuid = str(uuid.UUID(tenant))
        except ValueError:
            tenant_uuid = None
        if tenant_uuid:
            row = conn.execute(_q("SELECT id::text, name FROM tenants WHERE id = :i"),
                               {"i": tenant_uuid}).first()
    if row is None:
        raise ApiKeyError(f"no tenant named {tenant!r} (create it with "
                          "`backside-caldav account add USER --tenant NAME`)")
    return row[0], row[1]


def _calendar(conn: Connection, tenant_id: str, tenant: str, given: str) -> str:
    """A calendar of the tenant by id, else by name (ignoring case; it must be unique)."""
    try:
        by_id = str(uuid.UUID(given))
    except ValueError:
        by_id = None
    if by_id is not None:
        found = conn.execute(_q("SELECT id::text FROM calendars WHERE tenant_id = :t "
                                "AND id = :i"), {"t": tenant_id, "i": by_id}).scalars().all()
    else:
        found = conn.execute(_q("SELECT id::text FROM calendars WHERE tenant_id = :t "
                                "AND lower(name) = lower(:n)"),
                             {"t": tenant_id, "n": given}).scalars().all()
    if not found:
        raise ApiKeyError(f"tenant {tenant!r} has no calendar {given!r} (give its id or name)")
    if len(found) > 1:
        raise ApiKeyError(f"tenant {tenant!r} has {len(found)} calendars named {given!r}: "
                          "give the id instead")
    return found[0]


def create_key(engine: Engine, tenant: str, read_only: bool = False, scope: str | None = None,
               calendars: list[str] | None = None, window_days: tuple[int, int] | None = None,
               rate_limits: tuple[tuple[int, int], ...] = (), owner_email: str | None = None,
               expires_in_days: float | None = None) -> NewKey:
    """Make a key for the tenant and store its hash; the secret is returned only here.

    calendars are ids or names of the tenant's calendars; read_only is scope
    read (and refused with another scope).
    """
    if scope is not None and scope not in SCOPES:
        raise ApiKeyError(f"bad scope {scope!r}: one of {', '.join(SCOPES)}")
    if read_only and scope not in (None, "read"):
        raise ApiKeyError(f"--read-only contradicts --scope {scope}: give one of them")
    scope = "read" if read_only else (scope or "write")
    if owner_email is not None:
        owner_email = check_email(owner_email)
    expires_at = None
    if expires_in_days is not None:
        if not 0 < expires_in_days <= MAX_EXPIRY_DAYS:
            raise ApiKeyError(f"bad expiry {expires_in_days}: from 1 to {MAX_EXPIRY_DAYS} days")
        expires_at = datetime.now(timezone.utc) + timedelta(days=expires_in_days)
    secret = new_secret()
    with engine.begin() as conn:
        tenant_id, name = find_tenant(conn, tenant)
        calendar_ids = None
        if calendars is not None:
            calendar_ids = list(dict.fromkeys(_calendar(conn, tenant_id, name, c)
                                              for c in calendars))
        window = window_days or (None, None)
        key_id = insert_api_key(
            conn, tenant_id, hash_key(secret), scope == "read", scope=scope,
            calendar_ids=calendar_ids, window_past_days=window[0],
            window_future_days=window[1], rate_limits=rate_limits or None,
            owner_email=owner_email, expires_at=expires_at)
        row = conn.execute(_q(f"SELECT {KEY_COLS} FROM api_keys k WHERE k.tenant_id = :t "
                              "AND k.id = :i"), {"t": tenant_id, "i": key_id}).one()
    return NewKey(key_id, tenant_id, name, scope == "read", secret, api_key(row))


def list_keys(engine: Engine, tenant: str) -> list[KeyInfo]:
    with engine.begin() as conn:
        tenant_id, _ = find_tenant(conn, tenant)
        return [KeyInfo(row.id, not api_key(row).can_write, row.created_at, row.last_used_at,
                        api_key(row)) for row in list_api_keys(conn, tenant_id)]


def revoke_key(engine: Engine, tenant: str, key_id: str) -> None:
    try:
        key_uuid = str(uuid.UUID(key_id))
    except ValueError as exc:
        raise ApiKeyError(f"{key_id!r} is not a key id (a UUID, see `apikey list`)") from exc
    with engine.begin() as conn:
        tenant_id, name = find_tenant(conn, tenant)
        if not delete_api_key(conn, tenant_id, key_uuid):
            raise ApiKeyError(f"tenant {name!r} has no API key {key_uuid}")


def current_key(conn: Connection, tenant: str, key_id: str) -> ApiKey | None:
    """The key as it is now (its limits may have changed); None once it was revoked
    or has expired. For long-lived streams, which outlive the request's check."""
    row = conn.execute(_q(
        f"SELECT {KEY_COLS} FROM api_keys k WHERE k.tenant_id = :t AND k.id = :i "
        "AND (k.expires_at IS NULL OR k.expires_at > now())"), {"t": tenant, "i": key_id}).first()
    return api_key(row) if row is not None else None
