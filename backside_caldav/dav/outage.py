"""503 with Retry-After while PostgreSQL cannot serve, instead of Radicale's 500.

Radicale catches every exception from the storage and answers 500. The code
that talks to the database notes a connection failure here (note_error);
this middleware then replaces whatever Radicale answered with a 503, so
clients back off and retry, and service resumes by itself once the pool
reconnects.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterable
from typing import Any

from backside_caldav.db import engines as db

log = logging.getLogger("backside_caldav.outage")

RETRY_AFTER_SECONDS = 5
MESSAGE = b"the database is unavailable right now; retry in a few seconds\n"

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict, StartResponse], Iterable[bytes]]

_noted: contextvars.ContextVar[list[BaseException] | None] = contextvars.ContextVar(
    "backside_database_outage", default=None)


def note_error(exc: BaseException) -> None:
    """Remember that this request failed because the database is unreachable."""
    holder = _noted.get()
    if holder is not None and db.is_unavailable(exc):
        holder.append(exc)


class _QuietOutages(logging.Filter):
    """Radicale logs a traceback for every request a database outage fails; the
    middleware already logs one line for it."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and db.is_unavailable(exc):
            return False
        holder = _noted.get()
        return not (holder and record.levelno >= logging.ERROR
                    and record.name in ("radicale", "root") and not record.exc_info)


# Radicale logs the exception on its logger and the traceback on the root logger.
logging.getLogger("radicale").addFilter(_QuietOutages())
logging.getLogger().addFilter(_QuietOutages())


class OutageMiddleware:
    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        holder: list[BaseException] = []
        token = _noted.set(holder)
        captured: list[tuple[str, list[tuple[str, str]]]] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured.append((status, headers))

        try:
            try:
                answer = list(self.app(environ, capture))
            except Exception as exc:  # noqa: BLE001 - only outages are handled here
                if not db.is_unavailable(exc):
                    raise
                holder.append(exc)
                answer = []
        finally:
            _noted.reset(token)
        if holder:
            log.warning("database unavailable during %s %s: %s", environ.get("REQUEST_METHOD"),
                        environ.get("PATH_INFO"), str(holder[0]).strip().splitlines()[0]
                        if str(holder[0]).strip() else type(holder[0]).__name__)
            start_response("503 Service Unavailable", [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(MESSAGE))),
                ("Retry-After", str(RETRY_AFTER_SECONDS))])
            return [MESSAGE]
        status, headers = captured[-1]
        start_response(status, headers)
        return answer
