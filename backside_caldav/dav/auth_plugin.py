"""Radicale auth plugin: Basic credentials checked against the accounts table."""

from __future__ import annotations

from radicale import auth, config

from backside_caldav import request
from backside_caldav.dav import outage, throttle
from backside_caldav.dav.storage import database_url_from
from backside_caldav.db import accounts, engines
from backside_caldav.domain import passwords
from backside_caldav.request import READ_METHODS, WRITE_METHODS


class Auth(auth.BaseAuth):

    def __init__(self, configuration: config.Configuration) -> None:
        super().__init__(configuration)
        self._engine = engines.get_app_engine(database_url_from(configuration))

    def _login_ext(self, login: str, password: str, context: auth.AuthContext) -> str:
        try:
            ok = self._check(login, password)
        except Exception as exc:
            outage.note_error(exc)
            raise
        throttle.record(self._engine, login, context.remote_addr or "", ok)
        return login if ok else ""

    def _check(self, login: str, password: str) -> bool:
        scope = request.current()
        writable = scope is not None and scope.method in WRITE_METHODS
        if (scope is None or scope.transaction is not None
                or not (writable or scope.method in READ_METHODS)):
            return accounts.verify_login(self._engine, login, password)
        # Check the login inside the transaction the request will use. A write
        # by credentials this process verified lately takes the tenant's lock in
        # the login query (one round trip less); never for unknown credentials,
        # which must not be able to hold the lock.
        lock = writable and passwords.recently_verified(login, password)
        transaction, password_hash = request.Transaction.begin(self._engine, login, writable,
                                                               lock=lock)
        try:
            verdict = passwords.verify_password(login, password_hash, password)
        except BaseException:
            transaction.close()
            raise
        if not verdict.ok or transaction.tenant is None or password_hash is None:
            transaction.close()
            return False
        scope.transaction = transaction
        # last_login_at, and the Argon2 hash replacing an imported one: in a
        # short transaction of its own (see record_login).
        accounts.record_login(self._engine, login, transaction.tenant, password_hash, verdict)
        return True
