"""One log line per request: who did what to which calendar, and how it ended.

The login comes from the Basic header (the password never is logged); the
path names the calendar and the event. Radicale's own request log is kept at
warning level, so this is the line to grep.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from backside_caldav.dav.throttle import basic_credentials

log = logging.getLogger("backside_caldav.access")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict, StartResponse], Iterable[bytes]]


class AccessLogMiddleware:
    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        status_seen: list[str] = []

        def recording(status: str, headers: list, exc_info: Any = None) -> Any:
            status_seen.append(status)
            return start_response(status, headers, exc_info) if exc_info else \
                start_response(status, headers)

        try:
            return self.app(environ, recording)
        finally:
            credentials = basic_credentials(environ)
            login = credentials[0] if credentials else "-"
            path = quote(environ.get("PATH_INFO", ""), safe="/@:+,;=-._~")[:500]
            log.info('%s %s "%s %s" %s %.1fms', environ.get("REMOTE_ADDR", "-"),
                     quote(login, safe="@.+-_")[:128], quote(environ.get("REQUEST_METHOD", "-"), safe="")[:20],
                     path, (status_seen[-1].split(" ", 1)[0] if status_seen else "-"),
                     (time.perf_counter() - started) * 1000)
