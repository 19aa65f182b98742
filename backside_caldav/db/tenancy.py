"""The one way into a tenant's data: the row-level-security setting and the
tenant's write lock, written once here and used by every transaction.

APP_ROLE's policies (migration 0004) show only the rows whose tenant_id is
`backside.tenant_id`, set per transaction (set_config(..., true) is SET
LOCAL). Writers of one tenant take one transaction-scoped advisory lock, so
a CalDAV precondition check and its write commit together. Login and key
lookups set the tenant in the same statement that finds it (one round trip):
they splice ENTER (and LOCK) into their SELECT.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection, Engine

from backside_caldav.db import post_commit
from backside_caldav.db.engines import statement as _q

SETTING = "backside.tenant_id"
SOURCE_SETTING = "backside.source"


def enter(tenant: str) -> str:
    """SQL: set the transaction's tenant to `tenant` (an SQL expression)."""
    return f"set_config('{SETTING}', {tenant}, true)"


SOURCES = ("caldav", "api", "import")  # who writes; the change feed says it (migration 0009)


def write_lock(tenant: str) -> str:
    """SQL: the tenant's write lock until the transaction ends (an SQL expression)."""
    return f"pg_advisory_xact_lock(hashtext({tenant}))"


def lock(tenant: str, source: str) -> str:
    """SQL: take the tenant's write lock until the transaction ends, and name the
    writer for the change feed (plain SQL from other applications is 'sql')."""
    if source not in SOURCES:
        raise ValueError(f"unknown writer {source!r}")
    return (f"{write_lock(tenant)}, "
            f"set_config('{SOURCE_SETTING}', '{source}', true)")


@contextmanager
def transaction(engine: Engine, tenant: str | None = None,
                read_only: bool = False) -> Iterator[Connection]:
    """A transaction that knows its tenant from the start (for row-level security)."""
    with engine.connect() as conn:
        if read_only:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        try:
            with conn.begin():
                if read_only:
                    conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                if tenant is not None:
                    conn.execute(_q(f"SELECT {enter(':t')}"), {"t": tenant})
                yield conn
        except BaseException:
            post_commit.take(conn)
            raise
        work = post_commit.take(conn)
    post_commit.run(work)


def hold(conn: Connection, tenant: str) -> None:
    """The tenant's write lock until the transaction ends, naming no writer: for
    an operator's command whose changes leave no feed entries (a tenant delete)."""
    conn.execute(_q(f"SELECT {write_lock(':t')}"), {"t": tenant})


def lock_tenant(conn: Connection, tenant: str, source: str) -> None:
    """The tenant's write lock until the transaction ends; source names the writer."""
    conn.execute(_q(f"SELECT {lock(':t', source)}"), {"t": tenant})


def name_writer(conn: Connection, source: str) -> None:
    """Name the writer for the change feed without the write lock (row-locked writes)."""
    if source not in SOURCES:
        raise ValueError(f"unknown writer {source!r}")
    conn.execute(_q(f"SELECT set_config('{SOURCE_SETTING}', :s, true)"), {"s": source})
