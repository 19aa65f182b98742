"""How many failed logins are allowed, per account and per client address.

The counters themselves live in PostgreSQL (db/login_failures.py), so that N
worker processes do not give a guesser N times the allowance.
"""

from __future__ import annotations

import functools
import ipaddress
import os
from dataclasses import dataclass


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


def keys(login: str, address: str) -> list[str]:
    keys = [f"account:{login}"] if login else []
    return keys + ([f"address:{address_key(address)}"] if address else [])
