"""Login names and passwords: Argon2 hashing, the checks a new login must
pass, and a short-lived cache of verified credentials.

A stored hash may also be one imported from Radicale's htpasswd file
(domain/legacy_hashes.py): it is checked as it is, and the check tells the
caller to store our Argon2 hash of the same password instead.

No SQL here: the caller reads the stored hash (db.accounts) and hands it in.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from backside_caldav.domain import legacy_hashes
from backside_caldav.domain.errors import BacksideError
from backside_caldav.domain.mail_address import mailbox

# OWASP's Argon2id setting (19 MiB, 2 passes, 1 lane). The library default
# takes 64 MiB per check: 8 threads checking at once held half a GiB.
# Hashes stored with other settings still verify with their own, and are
# replaced by one with these at the next login that really checks them.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# Argon2 computations at once per process: bounds memory and CPU under a
# storm of logins; credentials already in the cache never wait here.
_ARGON2_SLOTS = threading.BoundedSemaphore(2)
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
MIN_PASSWORD = 8


class AccountError(BacksideError):
    pass


def check_username(username: str) -> None:
    if not USERNAME_RE.match(username):
        raise AccountError(
            "username must be 1-128 characters of letters, digits and . _ @ + - "
            "(it becomes the first segment of the CalDAV path)")


def check_email(email: str) -> str:
    """A login's calendar-user address, as stored (the database keeps it unique
    without regard to case)."""
    email = email.strip()
    found = mailbox(email)
    if found is None or email[:7].lower() == "mailto:":
        raise AccountError(f"bad email {email[:80]!r}: give an address such as ann@example.com")
    return found  # a non-ASCII domain as IDNA, the form mail goes to


def hash_password(password: str) -> str:
    """The Argon2 hash to store; AccountError for a password too short."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password must be at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


class CredentialCache:
    """Verified credentials for a short while, keyed by the stored hash.

    Argon2 costs tens of milliseconds and clients send Basic credentials with
    every request. A changed password changes the stored hash, which misses
    the cache at once.
    """

    def __init__(self, ttl: float = 300.0, max_entries: int = 10000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._key = os.urandom(32)
        self._entries: dict[tuple[str, str], tuple[bytes, float]] = {}
        self._by_user: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()

    def _digest(self, password: str) -> bytes:
        return hmac.new(self._key, password.encode(), hashlib.sha256).digest()

    def hit(self, username: str, stored_hash: str, password: str) -> bool:
        with self._lock:
            entry = self._entries.get((username, stored_hash))
        return bool(entry and entry[1] > time.monotonic()
                    and hmac.compare_digest(entry[0], self._digest(password)))

    def seen(self, username: str, password: str) -> bool:
        """Whether these exact credentials passed a check here lately (whatever the
        hash is now): enough to exempt them from login limiting, never to log in."""
        with self._lock:
            entry = self._by_user.get(username)
        return bool(entry and entry[1] > time.monotonic()
                    and hmac.compare_digest(entry[0], self._digest(password)))

    def remember(self, username: str, stored_hash: str, password: str) -> None:
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
                self._by_user.clear()
            entry = (self._digest(password), time.monotonic() + self._ttl)
            self._entries[(username, stored_hash)] = entry
            self._by_user[username] = entry


_cache = CredentialCache()


def recently_verified(username: str, password: str) -> bool:
    """These credentials were verified by this process within the cache's lifetime."""
    return _cache.seen(username, password)


@dataclass(frozen=True)
class Verdict:
    """The outcome of a password check, and the bookkeeping it asks of the caller."""

    ok: bool
    # The hash was really computed (not a cached credential): record the login.
    checked: bool = False
    # Store this hash instead of the one checked (same password, our Argon2 settings):
    # the stored one is an htpasswd import or Argon2 with other settings.
    new_hash: str | None = None


_REFUSED = Verdict(False)


def verify_password(username: str, stored: str | None, password: str) -> Verdict:
    """Check a password against the stored hash the caller already read (None: no account)."""
    if not username or not password or len(password) > 1024:
        return _REFUSED
    if stored is None:
        with _ARGON2_SLOTS:
            _hasher.hash(password)  # same cost as a real check: no user-existence oracle
        return _REFUSED
    if _cache.hit(username, stored, password):
        return Verdict(True)
    scheme = legacy_hashes.scheme_of(stored)
    with _ARGON2_SLOTS:  # the other schemes cost CPU too (bcrypt, SHA-crypt rounds)
        if scheme is None or scheme == legacy_hashes.ARGON2:
            try:
                _hasher.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return _REFUSED
        elif not legacy_hashes.verify(stored, password):
            return _REFUSED
    new_hash = None
    if scheme not in (None, legacy_hashes.ARGON2) or _hasher.check_needs_rehash(stored):
        with _ARGON2_SLOTS:
            new_hash = _hasher.hash(password)  # no length rule: the password is the user's
        _cache.remember(username, new_hash, password)
    _cache.remember(username, stored, password)
    return Verdict(True, checked=True, new_hash=new_hash)
