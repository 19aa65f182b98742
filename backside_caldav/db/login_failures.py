"""Failed-login counting per account and per client address, shared by all workers.

Counters live in PostgreSQL (the UNLOGGED table login_failures) so that N
worker processes do not give a guesser N times the allowance. Only failures
write; a correct login never touches the table, and a client whose
credentials this process has already verified is never checked at all
(web/login_limit.py), so the phone that is already signed in keeps working
while someone guesses its password.
"""

from __future__ import annotations

import functools
import ipaddress
import os
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine


@dataclass(frozen=True)
class Limits:
    per_account: int = 10     # failures per account within the window
    per_address: int = 100    # per client address (an office behind one NAT makes typos)
    window_seconds: float = 900.0


def limits_from_env() -> Limits:
    """BACKSIDE_LOGIN_LIMIT='account=10,address=30,window=900' (any subset)."""
    raw = os.environ.get("BACKSIDE_LOGIN_LIMIT", "").strip()
    values = {"account": Limits.per_account, "address": Limits.per_address,
              "window": Limits.window_seconds}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        name, _, value = part.partition("=")
        if name.strip() not in values:
            raise ValueError(f"BACKSIDE_LOGIN_LIMIT: unknown setting {name.strip()!r} "
                             "(use account=, address=, window=)")
        try:
            values[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"BACKSIDE_LOGIN_LIMIT: {name.strip()} must be a number") from None
    return Limits(int(values["account"]), int(values["address"]), values["window"])


@functools.cache
def configured_limits() -> Limits:
    """This process's limits: the environment is read once, not on every failed login."""
    return limits_from_env()


def address_key(address: str) -> str:
    """The client address as counted: an IPv6 client owns a whole /64, so it is
    counted as one; an IPv4 address (or one mapped into IPv6) as itself."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _keys(login: str, address: str) -> list[str]:
    keys = [f"account:{login}"] if login else []
    return keys + ([f"address:{address_key(address)}"] if address else [])


_RECORD = sa.text("""
    INSERT INTO login_failures AS f (key, failures, window_start) VALUES (:k, 1, now())
    ON CONFLICT (key) DO UPDATE SET
        failures = CASE WHEN f.window_start < now() - make_interval(secs => :w)
                        THEN 1 ELSE f.failures + 1 END,
        window_start = CASE WHEN f.window_start < now() - make_interval(secs => :w)
                            THEN now() ELSE f.window_start END
""")

_READ = sa.text("""
    SELECT key, failures,
           extract(epoch FROM window_start + make_interval(secs => :w) - now()) AS remaining
    FROM login_failures WHERE key = ANY(:keys)
""")


def record_failure(engine: Engine, login: str, address: str, limits: Limits) -> None:
    with engine.begin() as conn:
        for key in _keys(login, address):
            conn.execute(_RECORD, {"k": key, "w": limits.window_seconds})


def seconds_blocked(engine: Engine, login: str, address: str, limits: Limits) -> float:
    """How long this login or address must wait before trying again (0: may try now)."""
    keys = _keys(login, address)
    if not keys:
        return 0.0
    with engine.connect() as conn:
        rows = conn.execute(_READ, {"keys": keys, "w": limits.window_seconds}).all()
    wait = 0.0
    for key, failures, remaining in rows:
        limit = limits.per_account if key.startswith("account:") else limits.per_address
        if failures >= limit and remaining > 0:
            wait = max(wait, float(remaining))
    return wait


def prune(engine: Engine, limits: Limits) -> int:
    """Forget counters whose window has passed (run by maintenance)."""
    with engine.begin() as conn:
        return conn.execute(sa.text(
            "DELETE FROM login_failures WHERE window_start < now() - make_interval(secs => :w)"),
            {"w": limits.window_seconds}).rowcount
