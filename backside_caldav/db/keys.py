"""SQL of API keys: only a SHA-256 of each key is stored (domain/api_keys.py
says why), and the key's lookup sets its tenant for the transaction."""

from __future__ import annotations

import uuid

from sqlalchemy.engine import Connection, Engine, Row

from backside_caldav.db import tenancy
from backside_caldav.db.engines import statement as _q
from backside_caldav.domain.api_keys import ApiKeyError, KeyInfo, NewKey, hash_key, new_secret


def insert_api_key(conn: Connection, tenant: str, key_hash: str, read_only: bool) -> str:
    return conn.execute(_q(
        "INSERT INTO api_keys (tenant_id, key_hash, read_only) VALUES (:t, :h, :r) "
        "RETURNING id::text"), {"t": tenant, "h": key_hash, "r": read_only}).scalar_one()


def list_api_keys(conn: Connection, tenant: str) -> list[Row]:
    return list(conn.execute(_q(
        "SELECT id::text, read_only, created_at, last_used_at FROM api_keys "
        "WHERE tenant_id = :t ORDER BY created_at, id"), {"t": tenant}))


def delete_api_key(conn: Connection, tenant: str, key_id: str) -> bool:
    return conn.execute(_q("DELETE FROM api_keys WHERE tenant_id = :t AND id = :i"),
                        {"t": tenant, "i": key_id}).rowcount > 0


def enter_tenant_of_key(conn: Connection, key_hash: str) -> Row | None:
    """Find the key and set its tenant for this transaction (one round trip).

    last_used_at is refreshed at most once a minute and never waits for a
    concurrent request holding the row (SKIP LOCKED), so it costs nothing on
    the hot path.
    """
    row = conn.execute(_q(
        "SELECT tenant_id::text AS tenant_id, id::text AS id, read_only, "
        "last_used_at IS NULL OR last_used_at < now() - interval '1 minute' AS stale, "
        f"{tenancy.enter('tenant_id::text')} "
        "FROM api_keys WHERE key_hash = :h"), {"h": key_hash}).first()
    if row is not None and row.stale:
        conn.execute(_q(
            "UPDATE api_keys SET last_used_at = now() WHERE tenant_id = :t AND id IN ("
            "SELECT id FROM api_keys WHERE tenant_id = :t AND id = :i FOR UPDATE SKIP LOCKED)"),
            {"t": row.tenant_id, "i": row.id})
    return row


def _tenant(conn: Connection, tenant: str) -> tuple[str, str]:
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


def create_key(engine: Engine, tenant: str, read_only: bool = False) -> NewKey:
    """Make a key for the tenant and store its hash; the secret is returned only here."""
    secret = new_secret()
    with engine.begin() as conn:
        tenant_id, name = _tenant(conn, tenant)
        key_id = insert_api_key(conn, tenant_id, hash_key(secret), read_only)
    return NewKey(key_id, tenant_id, name, read_only, secret)


def list_keys(engine: Engine, tenant: str) -> list[KeyInfo]:
    with engine.begin() as conn:
        tenant_id, _ = _tenant(conn, tenant)
        return [KeyInfo(*row) for row in list_api_keys(conn, tenant_id)]


def revoke_key(engine: Engine, tenant: str, key_id: str) -> None:
    try:
        key_uuid = str(uuid.UUID(key_id))
    except ValueError as exc:
        raise ApiKeyError(f"{key_id!r} is not a key id (a UUID, see `apikey list`)") from exc
    with engine.begin() as conn:
        tenant_id, name = _tenant(conn, tenant)
        if not delete_api_key(conn, tenant_id, key_uuid):
            raise ApiKeyError(f"tenant {name!r} has no API key {key_uuid}")
