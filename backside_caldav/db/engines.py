"""One connection pool per process, URL and role, and tenant-scoped transactions.

Radicale builds several Storage objects per Application and tests build many
Applications, so pools are shared by URL instead of owned by a Storage.

Two kinds of engine: the owner's (migrations, the CLI, maintenance across
tenants) and the application's, whose connections switch to APP_ROLE right
after connecting. APP_ROLE owns nothing and is subject to the row-level
security policies, so a query that forgets its tenant filter still sees only
the tenant set for the transaction.
"""

from __future__ import annotations

import functools
import os
import threading

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from backside_caldav.db.settings import sqlalchemy_url

APP_ROLE = "backside_app"

_engines: dict[tuple[str, bool], Engine] = {}
_engines_lock = threading.Lock()

# Bounded: at most POOL_SIZE + POOL_OVERFLOW connections per process; a request
# that waits POOL_TIMEOUT for one gets 503 instead of queueing without end.
POOL_SIZE = 8
POOL_OVERFLOW = 8
POOL_TIMEOUT = 10
CONNECT_TIMEOUT = 5


def get_engine(url: str) -> Engine:
    """The owner's engine for this URL (no pre-ping: a round trip per checkout)."""
    return _engine(url, app=False)


def get_app_engine(url: str) -> Engine:
    """The engine requests run on: connections act as APP_ROLE (row-level security)."""
    return _engine(url, app=True)


def _engine(url: str, app: bool) -> Engine:
    with _engines_lock:
        engine = _engines.get((url, app))
        if engine is None:
            engine = sa.create_engine(
                sqlalchemy_url(url),
                pool_size=POOL_SIZE,
                max_overflow=POOL_OVERFLOW,
                pool_timeout=POOL_TIMEOUT,
                pool_recycle=1800,
                # The most recently used connection first: a lone client's requests
                # then keep landing on one backend, whose prepared statements and
                # PL/pgSQL plans are warm, and surplus connections age out.
                pool_use_lifo=True,
                connect_args={
                    "connect_timeout": CONNECT_TIMEOUT,
                    "application_name": f"backside-caldav[{os.getpid()}]"
                                        + ("" if app else " owner"),
                },
            )
            if app:
                sa.event.listen(engine, "connect", _become_app_role)
            _engines[(url, app)] = engine
        return engine


def _become_app_role(dbapi_connection: object, _record: object) -> None:
    with dbapi_connection.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute(f"SET ROLE {APP_ROLE}")
    dbapi_connection.commit()  # type: ignore[attr-defined]


def dispose_all() -> None:
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def forget_after_fork() -> None:
    """In a freshly forked worker: drop the parent's pools without touching their sockets."""
    global _engines_lock
    _engines_lock = threading.Lock()
    for engine in list(_engines.values()):
        engine.dispose(close=False)
    _engines.clear()


def is_unavailable(exc: BaseException) -> bool:
    """Whether an error means the database cannot serve now (-> 503), not a bug.

    Follows the exception's causes: a connection lost mid-request can surface
    as a later "invalid transaction" error from SQLAlchemy.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (sa.exc.TimeoutError,  # pool exhausted
                                sa.exc.PendingRollbackError, sa.exc.ResourceClosedError)):
            return True
        if isinstance(current, sa.exc.DBAPIError) and (
                current.connection_invalidated or isinstance(
                    current, (sa.exc.OperationalError, sa.exc.InterfaceError))):
            return True
        current = current.__cause__ or current.__context__
    return False


@functools.lru_cache(maxsize=1024)
def statement(sql: str) -> sa.TextClause:
    """The statement for this SQL text, built once. Building a TextClause
    (bind parameter parsing) and its cache key on every request was a quarter
    of a getctag poll's CPU; the object is immutable, so threads share it."""
    return sa.text(sql)

