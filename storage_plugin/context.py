"""The transaction of the request being served (set by acquire_lock)."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

from sqlalchemy.engine import Connection


@dataclass
class Session:
    conn: Connection
    user: str
    tenant: str | None
    mode: str
    depth: int = 1


current: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
    "backside_storage_session", default=None)


def session() -> Session:
    s = current.get()
    if s is None:
        raise RuntimeError("storage used outside acquire_lock()")
    return s
