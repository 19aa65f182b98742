"""503 with Retry-After while PostgreSQL cannot serve, instead of Radicale's 500.

Radicale catches every exception from the storage and answers 500. The code
that talks to the database notes a connection failure here (note_error);
this middleware then replaces whatever Radicale answered with a 503, so
clients back off and retry, and service resumes by itself once the pool
reconnects.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from backside_caldav import request
from backside_caldav.db import engines

log = logging.getLogger("backside_caldav.outage")

RETRY_AFTER_SECONDS = 5
MESSAGE = b"the database is unavailable right now; retry in a few seconds\n"

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict, StartResponse], Iterable[bytes]]


def note_error(exc: BaseException) -> None:
    """Remember that this request failed because the database is unreachable."""
    request.note_outage(exc, engines.is_unavailable(exc))


class _QuietOutages(logging.Filter):
    """Radicale logs a traceback for every request a database outage fails; the
    middleware already logs one line for it."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and engines.is_unavailable(exc):
            return False
        scope = request.current()
        return not (scope is not None and scope.outages and record.levelno >= logging.ERROR
                    and record.name in ("radicale", "root") and not record.exc_info)


# Radicale logs the exception on its logger and the traceback on the root logger.
logging.getLogger("radicale").addFilter(_QuietOutages())
logging.getLogger().addFilter(_QuietOutages())


class OutageMiddleware:
    """The outermost CalDAV middleware: it opens the request's scope (see
    backside_caldav/request.py) and answers 503 when the database failed it."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        captured: list[tuple[str, list[tuple[str, str]]]] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured.append((status, headers))

        with request.begin() as scope:
            try:
                inner = self.app(environ, capture)
                try:
                    answer = list(inner)  # a streamed listing reads its rows here
                finally:
                    close = getattr(inner, "close", None)
                    if close is not None:
                        close()
                scope.close()  # the commit: a database that fails it still gets its 503
            except Exception as exc:  # noqa: BLE001 - only outages are handled here
                scope.abort()
                if not engines.is_unavailable(exc):
                    raise
                scope.outages.append(exc)
                answer = []
        if scope.outages:
            first = scope.outages[0]
            log.warning("database unavailable during %s %s: %s", environ.get("REQUEST_METHOD"),
                        environ.get("PATH_INFO"), str(first).strip().splitlines()[0]
                        if str(first).strip() else type(first).__name__)
            start_response("503 Service Unavailable", [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(MESSAGE))),
                ("Retry-After", str(RETRY_AFTER_SECONDS))])
            return [MESSAGE]
        status, headers = captured[-1]
        start_response(status, headers)
        return answer
