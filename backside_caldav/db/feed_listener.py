"""One LISTEN connection per process for the change feed's wake-ups.

The feed's commit trigger (migration 0009) sends NOTIFY backside_changes
'<tenant> <newest number>'; PostgreSQL delivers it when the writer commits,
whoever the writer is. One connection per worker process hears it for all
that process's listeners (every stream, the webhook deliverer): `subscribe`
starts it on first use, so open streams cost no database connection.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import Engine

CHANNEL = "backside_changes"
log = logging.getLogger(__name__)

# (tenant, newest number), or (None, 0) after a (re)connect: anything may have
# been missed, so every listener should look again.
OnChange = Callable[[str | None, int], None]


def conninfo(engine: Engine) -> str:
    """The engine's URL in the form psycopg connects with."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def listen(engine: Engine, on_change: OnChange, stop: threading.Event,
           poll: float = 1.0, retry: float = 1.0) -> None:
    """Call on_change for each notification until stop is set; reconnects after a
    failure (retry seconds later, doubling to 30 s)."""
    wait = retry
    while not stop.is_set():
        try:
            with psycopg.connect(conninfo(engine), autocommit=True,
                                 application_name=f"backside-caldav[{os.getpid()}] feed listener",
                                 connect_timeout=5) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                on_change(None, 0)
                wait = retry
                while not stop.is_set():
                    for note in conn.notifies(timeout=poll):
                        tenant, _, seq = note.payload.partition(" ")
                        on_change(tenant, int(seq) if seq.isdigit() else 0)
        except psycopg.Error as exc:
            log.warning("change feed listener lost its connection (%s); retrying in %.0f s",
                        exc, wait)
            stop.wait(wait)
            wait = min(wait * 2, 30.0)


class _Shared:
    """The process's listening connection and who is told."""

    def __init__(self, engine: Engine) -> None:
        self.callbacks: list[OnChange] = []
        self.heard_once = False
        self._lock = threading.Lock()
        threading.Thread(target=listen, args=(engine, self._tell, threading.Event()),
                         name="backside-feed-listener", daemon=True).start()

    def add(self, on_change: OnChange) -> None:
        with self._lock:
            self.callbacks.append(on_change)
            connected = self.heard_once
        if connected:
            on_change(None, 0)  # it may have missed what came before it subscribed

    def _tell(self, tenant: str | None, seq: int) -> None:
        with self._lock:
            if tenant is None:
                self.heard_once = True
            callbacks = list(self.callbacks)
        for callback in callbacks:
            callback(tenant, seq)


_shared: dict[tuple[int, str], _Shared] = {}
_shared_lock = threading.Lock()


def subscribe(engine: Engine, on_change: OnChange) -> None:
    """Call on_change for every notification heard by this process's one listening
    connection to the engine's database (started on the first subscription; a
    daemon, it ends with the process). Subscribers stay for the process's life."""
    key = (os.getpid(), engine.url.render_as_string(hide_password=True))
    with _shared_lock:
        shared = _shared.get(key)
        if shared is None:
            shared = _shared[key] = _Shared(engine)
    shared.add(on_change)
