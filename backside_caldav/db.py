"""One connection pool per process and URL, and tenant-scoped transactions.

Radicale builds several Storage objects per Application and tests build many
Applications, so pools are shared by URL instead of owned by a Storage.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .settings import sqlalchemy_url

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()

POOL_SIZE = 8
POOL_OVERFLOW = 8


def get_engine(url: str) -> Engine:
    """The process-wide engine for this URL (bounded pool; no pre-ping: a round trip per checkout)."""
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = sa.create_engine(
                sqlalchemy_url(url),
                pool_size=POOL_SIZE,
                max_overflow=POOL_OVERFLOW,
                pool_timeout=10,
                pool_recycle=1800,
            )
            _engines[url] = engine
        return engine


def dispose_all() -> None:
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@contextmanager
def transaction(engine: Engine, tenant_id: str | None = None,
                read_only: bool = False) -> Iterator[Connection]:
    """A transaction that knows its tenant from the start (for row-level security)."""
    with engine.connect() as conn:
        if read_only:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            if read_only:
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            if tenant_id is not None:
                set_tenant(conn, tenant_id)
            yield conn


def set_tenant(conn: Connection, tenant_id: str) -> None:
    conn.execute(sa.text("SELECT set_config('backside.tenant_id', :t, true)"), {"t": tenant_id})
