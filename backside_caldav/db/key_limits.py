"""Rate-limit counters of API keys, shared by every worker process (table
api_key_hits, migration 0008).

Fixed windows aligned to the epoch (a minute window starts at :00): one row
per key and window length, reused when the window passes. A burst straddling
a boundary can reach twice a limit in a window's length; in exchange a hit
is one statement, for all of a key's limits at once.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from backside_caldav.db import tenancy
from backside_caldav.db.engines import statement as _q

# The tenant is set in a materialized CTE the INSERT reads first, so the rows
# are checked against row-level security under the key's tenant, in the one
# statement (and one implicit transaction) of an autocommit connection.
_HIT = _q(f"""
    WITH tenant AS MATERIALIZED (SELECT {tenancy.enter(':t')} AS entered)
    INSERT INTO api_key_hits AS h (tenant_id, key_id, window_seconds, window_start, hits)
    SELECT CAST(:t AS uuid), CAST(:k AS uuid), s,
           to_timestamp(floor(extract(epoch FROM now()) / s) * s), 1
    FROM unnest(CAST(:secs AS integer[])) AS s, tenant
    ON CONFLICT (tenant_id, key_id, window_seconds) DO UPDATE SET
        hits = CASE WHEN h.window_start = EXCLUDED.window_start THEN h.hits + 1 ELSE 1 END,
        window_start = EXCLUDED.window_start
    RETURNING window_seconds, hits,
        extract(epoch FROM window_start + make_interval(secs => window_seconds) - now())
            AS remaining
""")


def hit(engine: Engine, tenant: str, key_id: str, window_lengths: list[int]
        ) -> dict[int, tuple[int, float]]:
    """Count one request in each window: {window seconds: (hits so far, seconds left)}.

    Its own short transaction (autocommit) on another connection of the pool:
    see service/access.py rate_limit for why not the request's.
    """
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        rows = conn.execute(_HIT, {"t": tenant, "k": key_id, "secs": window_lengths}).all()
    return {int(r.window_seconds): (int(r.hits), float(r.remaining)) for r in rows}


def prune(engine: Engine) -> int:
    """Drop counters whose window has passed (the maintenance pass runs it)."""
    with engine.begin() as conn:
        return conn.execute(_q(
            "DELETE FROM api_key_hits "
            "WHERE window_start + make_interval(secs => window_seconds) < now()")).rowcount
