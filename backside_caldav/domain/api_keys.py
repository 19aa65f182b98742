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
from datetime import datetime, timedelta

from backside_caldav.domain.errors import BacksideError

KEY_PREFIX = "bsk_"
KEY_RE = re.compile(r"^bsk_[A-Za-z0-9_-]{43}$")


class ApiKeyError(BacksideError):
    pass


SCOPES = ("read", "write", "admin")


@dataclass(frozen=True)
class ApiKey:
    """A key as a request sees it, with its restrictions.

    scope: read (no writes), write (events, links, RSVP, calendars), admin
    (also permanent deletes). calendar_ids None: every calendar of the tenant.
    window_days (past, future): only events overlapping [now - past, now + future].
    rate_limits: (requests, seconds) pairs, each counted across all workers.
    """

    tenant_id: str
    id: str
    read_only: bool = False
    scope: str = "write"
    calendar_ids: tuple[str, ...] | None = None
    calendar_names: tuple[str, ...] = ()  # for accessInfo, in calendar_ids' order
    window_days: tuple[int, int] | None = None
    owner_email: str | None = None
    rate_limits: tuple[tuple[int, int], ...] = ()

    @property
    def can_write(self) -> bool:
        return not self.read_only and self.scope in ("write", "admin")

    @property
    def is_admin(self) -> bool:
        return not self.read_only and self.scope == "admin"

    def window(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The instants this key may see, or None when it is not limited in time."""
        if self.window_days is None:
            return None
        past, future = self.window_days
        return now - timedelta(days=past), now + timedelta(days=future)

    def sees_calendar(self, calendar_id: str) -> bool:
        return self.calendar_ids is None or calendar_id in self.calendar_ids

    @property
    def restricted(self) -> bool:
        return (self.calendar_ids is not None or self.window_days is not None
                or not self.can_write)

    def access_info(self) -> str | None:
        """The sentence every GET answered under a restriction carries; None without one."""
        parts = []
        if self.window_days is not None:
            past, future = self.window_days
            parts.append(f"Results limited to time window: {_days(past, 'last')} to "
                         f"{_days(future, 'next')}.")
        if self.calendar_ids is not None:
            names = ", ".join(self.calendar_names or self.calendar_ids) or "none"
            parts.append(f"Results limited to calendars: {names}.")
        if not self.can_write:
            parts.append("Read-only access, cannot create or modify events.")
        return " ".join(parts) or None


def _days(count: int, word: str) -> str:
    if count == 0:
        return "now"
    return f"{word} {count} day{'s' if count != 1 else ''}"


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
