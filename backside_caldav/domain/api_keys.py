"""API keys: Bearer tokens that stand for one tenant, with their restrictions.

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
from backside_caldav.domain.mail_address import mailbox

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
    expires_at: datetime | None = None

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


def describe(key: ApiKey) -> str:
    """The key's restrictions in one line, for `apikey list` and `apikey add`."""
    parts = [f"scope {key.scope if key.can_write else 'read'}"]
    if key.calendar_ids is not None:
        parts.append("calendars " + ", ".join(key.calendar_names or key.calendar_ids))
    if key.window_days is not None:
        parts.append(f"window {key.window_days[0]} days back, {key.window_days[1]} ahead")
    if key.rate_limits:
        parts.append("rate " + ", ".join(rate_text(n, s) for n, s in key.rate_limits))
    if key.owner_email:
        parts.append(f"owner {key.owner_email}")
    if key.expires_at is not None:
        parts.append(f"expires {key.expires_at.isoformat(timespec='seconds')}")
    return "; ".join(parts)


PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE_RE = re.compile(r"^(\d{1,9})/(second|minute|hour|day)s?$")
MAX_WINDOW_DAYS = 36600


def rate_text(requests: int, seconds: int) -> str:
    for name, length in PERIODS.items():
        if seconds == length:
            return f"{requests}/{name}"
    return f"{requests}/{seconds}s"


def parse_rate_limits(text: str) -> tuple[tuple[int, int], ...]:
    """'100/minute,500/hour' -> ((100, 60), (500, 3600)); ApiKeyError names a bad part."""
    limits: dict[int, int] = {}
    for part in text.split(","):
        match = _RATE_RE.match(part.strip().lower())
        if not match or int(match[1]) < 1:
            raise ApiKeyError(f"bad rate limit {part.strip()!r}: write REQUESTS/PERIOD with "
                              "PERIOD second, minute, hour or day, e.g. 100/minute,500/hour")
        seconds = PERIODS[match[2]]
        if seconds in limits:
            raise ApiKeyError(f"two rate limits per {match[2]}: give one")
        limits[seconds] = int(match[1])
    return tuple(sorted((n, s) for s, n in limits.items()))


def parse_window(text: str) -> tuple[int, int]:
    """'30,7' -> (30, 7): days before and after now."""
    past, sep, future = text.partition(",")
    try:
        days = (int(past), int(future)) if sep else None
    except ValueError:
        days = None
    if days is None or min(days) < 0 or max(days) > MAX_WINDOW_DAYS:
        raise ApiKeyError(f"bad window {text!r}: write PAST,FUTURE in whole days "
                          f"(0 to {MAX_WINDOW_DAYS}), e.g. 30,30")
    return days


def check_email(text: str) -> str:
    found = mailbox(text)
    if found is None or text != text.strip() or text[:7].lower() == "mailto:":
        raise ApiKeyError(f"bad owner email {text!r}: give an address such as ann@example.com")
    return found


@dataclass(frozen=True)
class NewKey:
    id: str
    tenant_id: str
    tenant_name: str
    read_only: bool
    secret: str  # shown once, never stored
    key: ApiKey | None = None  # with its restrictions


@dataclass(frozen=True)
class KeyInfo:
    id: str
    read_only: bool
    created_at: datetime
    last_used_at: datetime | None
    key: ApiKey | None = None  # with its restrictions


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)
