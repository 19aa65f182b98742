"""Failed-login counting per account and per client address, shared by all workers.

Counters live in PostgreSQL (the UNLOGGED table login_failures) so that N
worker processes do not give a guesser N times the allowance. Only failures
write; a correct login never touches the table, and a client whose
credentials this process has already verified is never checked at all
(dav/throttle.py), so the phone that is already signed in keeps working
while someone guesses its password.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from backside_caldav.db.engines import statement as _q
from backside_caldav.domain.login_limits import Limits, keys

_RECORD = _q("""
    INSERT INTO login_failures AS f (key, failures, window_start) VALUES (:k, 1, now())
    ON CONFLICT (key) DO UPDATE SET
        failures = CASE WHEN f.window_start < now() - make_interval(secs => :w)
                        THEN 1 ELSE f.failures + 1 END,
        window_start = CASE WHEN f.window_start < now() - make_interval(secs => :w)
                            THEN now() ELSE f.window_start END
""")

_READ = _q("""
    SELECT key, failures,
           extract(epoch FROM window_start + make_interval(secs => :w) - now()) AS remaining
    FROM login_failures WHERE key = ANY(:keys)
""")


def record_failure(engine: Engine, login: str, address: str, limits: Limits) -> None:
    with engine.begin() as conn:
        for key in keys(login, address):
            conn.execute(_RECORD, {"k": key, "w": limits.window_seconds})


def seconds_blocked(engine: Engine, login: str, address: str, limits: Limits) -> float:
    """How long this login or address must wait before trying again (0: may try now)."""
    names = keys(login, address)
    if not names:
        return 0.0
    with engine.connect() as conn:
        rows = conn.execute(_READ, {"keys": names, "w": limits.window_seconds}).all()
    wait = 0.0
    for key, failures, remaining in rows:
        limit = limits.per_account if key.startswith("account:") else limits.per_address
        if failures >= limit and remaining > 0:
            wait = max(wait, float(remaining))
    return wait


def prune(engine: Engine, limits: Limits) -> int:
    """Forget counters whose window has passed (run by maintenance)."""
    with engine.begin() as conn:
        return conn.execute(_q(
            "DELETE FROM login_failures WHERE window_start < now() - make_interval(secs => :w)"),
            {"w": limits.window_seconds}).rowcount
