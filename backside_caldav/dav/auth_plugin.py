"""Radicale auth plugin: Basic credentials checked against the accounts table."""

from __future__ import annotations

import contextlib
import os

from radicale import auth, config

from backside_caldav.dav import outage, throttle
from backside_caldav.db import accounts
from backside_caldav.db import engines as db
from backside_caldav.db.settings import ENV_DATABASE_URL
from backside_caldav.domain import passwords
from backside_caldav.request import (
    READ_METHODS,
    WRITE_METHODS,
    SharedTransaction,
    current_request,
)


def _database_url(configuration: config.Configuration) -> str:
    try:
        url = configuration.get("storage", "database_url")
    except KeyError:
        url = ""
    return url or os.environ.get(ENV_DATABASE_URL, "")


class Auth(auth.BaseAuth):

    def __init__(self, configuration: config.Configuration) -> None:
        super().__init__(configuration)
        self._engine = db.get_app_engine(_database_url(configuration))

    def _login_ext(self, login: str, password: str, context: auth.AuthContext) -> str:
        try:
            ok = self._check(login, password)
        except Exception as exc:
            outage.note_error(exc)
            raise
        throttle.record(self._engine, login, context.remote_addr or "", ok)
        return login if ok else ""

    def _check(self, login: str, password: str) -> bool:
        info = current_request.get()
        writable = info is not None and info.method in WRITE_METHODS
        if info is None or info.shared or not (writable or info.method in READ_METHODS):
            return accounts.verify_login(self._engine, login, password)
        # Check the login inside the transaction the request will use.
        stack = contextlib.ExitStack()
        try:
            conn = stack.enter_context(self._engine.connect())
            if not writable:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            transaction = stack.enter_context(conn.begin())
            # A write by credentials this process verified lately takes the tenant's
            # lock in the login query (one round trip less); never for unknown
            # credentials, which must not be able to hold the lock.
            lock = writable and passwords.recently_verified(login, password)
            found = accounts.login_of(conn, login, lock=lock)
            ok = passwords.check_password(login, found[1] if found else None, password)
        except BaseException:
            stack.close()
            raise
        if not ok or found is None:
            stack.close()
            return False
        info.shared.append(SharedTransaction(login, found[0], conn, transaction, stack, writable,
                                             locked=lock))
        return True
