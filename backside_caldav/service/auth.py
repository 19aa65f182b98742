"""Who is calling: an API key, from an `Authorization: Bearer` header (the JSON
API) or as the raw key (an MCP client); 401 without a known, unexpired key.
Keys themselves: domain/api_keys.py and db/keys.py; what a key may do:
service/access.py."""

from __future__ import annotations

from datetime import timezone

from sqlalchemy.engine import Connection

from backside_caldav.db import keys
from backside_caldav.domain.api_keys import KEY_RE, ApiKey, hash_key
from backside_caldav.service.problems import unauthorized

_HOW = "(create one with `backside-caldav apikey add --tenant NAME`)"


def authenticate(conn: Connection, authorization: str | None) -> ApiKey:
    """The key named by an `Authorization: Bearer` header, with its restrictions;
    sets the transaction's tenant."""
    if not authorization:
        raise unauthorized(f"send an API key as 'Authorization: Bearer <key>' {_HOW}",
                           invalid_token=False)
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("the Authorization header must be 'Bearer <key>'", invalid_token=False)
    return authenticate_key(conn, token)


def authenticate_key(conn: Connection, token: str | None) -> ApiKey:
    """The key itself (bsk_...), with its restrictions; sets the transaction's tenant."""
    if not token or not token.strip():
        raise unauthorized(f"send an API key {_HOW}", invalid_token=False)
    token = token.strip()
    if not KEY_RE.match(token):
        raise unauthorized("the API key is malformed (keys look like bsk_ followed by 43 "
                           "characters)", invalid_token=True)
    row = keys.enter_tenant_of_key(conn, hash_key(token))
    if row is None:
        raise unauthorized("the API key is unknown or was revoked", invalid_token=True)
    if row.expired:
        raise unauthorized(f"the API key expired at "
                           f"{row.expires_at.astimezone(timezone.utc).isoformat(timespec='seconds')}; create a new one "
                           "with `backside-caldav apikey add --tenant NAME`", invalid_token=True)
    return keys.api_key(row)
