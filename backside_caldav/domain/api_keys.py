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
from dataclasses import dataclass
from datetime import datetime

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


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)
