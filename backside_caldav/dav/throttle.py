"""429 for a login or client address that failed too often, before Radicale
spends an Argon2 check and its failed-login pause on it."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.engine import Engine

from backside_caldav.dav import basic_auth
from backside_caldav.db import login_failures
from backside_caldav.domain import passwords
from backside_caldav.domain.login_limits import configured_limits

log = logging.getLogger("backside_caldav.auth")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict, StartResponse], Iterable[bytes]]


def basic_credentials(environ: dict) -> tuple[str, str] | None:
    """The (login, password) of a well-formed Basic header, else None (the guards
    answer a malformed one with 400)."""
    try:
        return basic_auth.parse(environ.get("HTTP_AUTHORIZATION"))
    except basic_auth.MalformedCredentials:
        return None


def record(engine: Engine, login: str, address: str, ok: bool) -> None:
    """Called by the auth plugin after each real password check."""
    if ok:
        return
    limits = configured_limits()
    log.warning("failed login for %r from %s", login, address or "unknown address")
    login_failures.record_failure(engine, login, address, limits)


class LoginLimitMiddleware:
    def __init__(self, app: WSGIApp, engine: Engine) -> None:
        self.app = app
        self.engine = engine
        self.limits = configured_limits()

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        credentials = basic_credentials(environ)
        if credentials is None or passwords.recently_verified(*credentials):
            return self.app(environ, start_response)
        login, _ = credentials
        address = environ.get("REMOTE_ADDR", "")
        wait = login_failures.seconds_blocked(self.engine, login, address, self.limits)
        if wait <= 0:
            return self.app(environ, start_response)
        retry = max(1, math.ceil(wait))
        log.warning("refused login for %r from %s: too many failures", login, address)
        body = (f"too many failed logins for this account or from this address; "
                f"try again in {retry} seconds\n").encode()
        start_response("429 Too Many Requests", [
            ("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
            ("Retry-After", str(retry))])
        return [body]
