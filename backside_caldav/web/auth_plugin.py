"""Radicale auth plugin: Basic credentials checked against the accounts table."""

from __future__ import annotations

import os

from radicale import auth, config

from backside_caldav import accounts, db
from backside_caldav.settings import ENV_DATABASE_URL
from backside_caldav.web import login_limit, outage


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
            ok = accounts.verify_login(self._engine, login, password)
        except Exception as exc:
            outage.note_error(exc)
            raise
        login_limit.record(self._engine, login, context.remote_addr or "", ok)
        return login if ok else ""
