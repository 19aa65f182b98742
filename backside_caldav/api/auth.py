"""API keys: Bearer tokens that stand for one tenant, read-only or not.

Only a SHA-256 of each key is stored. A key is 32 random bytes, so nobody can
guess it from its hash; a slow password hash (Argon2) only protects secrets
people choose, and would cost tens of milliseconds per request. A fast,
deterministic hash also lets the key be found by an indexed lookup.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from backside_caldav.api.problems import forbidden, unauthorized
from backside_caldav.db import queries
from backside_caldav.domain.errors import BacksideError

KEY_PREFIX = "bsk_"
KEY_RE = re.compile(r"^bsk_[A-Za-z0-9_-]{43}$")


class ApiKeyError(BacksideError):
    pass


@dataclass(frozen=True)
class ApiKey:
    tenant_id: str
    id: str
    read_only: bool


@dataclass(frozen=True)
class NewKey:
    id: str
    tenant_id: str
    tenant_name: str
    read_only: bool
    secret: str  # shown once, never stored


@dataclass(frozen=True)
class KeyInfo:
    id: str
    read_only: bool
    created_at: datetime
    last_used_at: datetime | None


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _tenant(conn: Connection, tenant: str) -> tuple[str, str]:
    """The tenant by name, or by id (so a tenant created by another application works)."""
    row = conn.execute(sa.text("SELECT id::text, name FROM tenants WHERE name = :n"),
                       {"n": tenant}).first()
    if row is None:
        try:
            tenant_uuid = str(uuid.UUID(tenant))
        except ValueError:
            tenant_uuid = None
        if tenant_uuid:
            row = conn.execute(sa.text("SELECT id::text, name FROM tenants WHERE id = :i"),
                               {"i": tenant_uuid}).first()
    if row is None:
        raise ApiKeyError(f"no tenant named {tenant!r} (create it with "
                          "`backside-caldav account add USER --tenant NAME`)")
    return row[0], row[1]


def create_key(engine: Engine, tenant: str, read_only: bool = False) -> NewKey:
    """Make a key for the tenant and store its hash; the secret is returned only here."""
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        tenant_id, name = _tenant(conn, tenant)
        key_id = queries.insert_api_key(conn, tenant_id, hash_key(secret), read_only)
    return NewKey(key_id, tenant_id, name, read_only, secret)


def list_keys(engine: Engine, tenant: str) -> list[KeyInfo]:
    with engine.begin() as conn:
        tenant_id, _ = _tenant(conn, tenant)
        return [KeyInfo(*row) for row in queries.list_api_keys(conn, tenant_id)]


def revoke_key(engine: Engine, tenant: str, key_id: str) -> None:
    try:
        key_uuid = str(uuid.UUID(key_id))
    except ValueError as exc:
        raise ApiKeyError(f"{key_id!r} is not a key id (a UUID, see `apikey list`)") from exc
    with engine.begin() as conn:
        tenant_id, name = _tenant(conn, tenant)
        if not queries.delete_api_key(conn, tenant_id, key_uuid):
            raise ApiKeyError(f"tenant {name!r} has no API key {key_uuid}")


def authenticate(conn: Connection, authorization: str | None) -> ApiKey:
    """The key named by an `Authorization: Bearer` header; sets the transaction's tenant."""
    if not authorization:
        raise unauthorized("send an API key as 'Authorization: Bearer <key>' "
                           "(create one with `backside-caldav apikey add --tenant NAME`)",
                           invalid_token=False)
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("the Authorization header must be 'Bearer <key>'", invalid_token=False)
    token = token.strip()
    if not KEY_RE.match(token):
        raise unauthorized("the API key is malformed (keys look like bsk_ followed by 43 "
                           "characters)", invalid_token=True)
    row = queries.enter_tenant_of_key(conn, hash_key(token))
    if row is None:
        raise unauthorized("the API key is unknown or was revoked", invalid_token=True)
    return ApiKey(tenant_id=row.tenant_id, id=row.id, read_only=row.read_only)


def require_write(key: ApiKey) -> None:
    """Writes (links, RSVP) need a key made without --read-only: 403 otherwise."""
    if key.read_only:
        raise forbidden("this API key is read-only; writes need a key created without "
                        "--read-only (`backside-caldav apikey add --tenant NAME`)")
