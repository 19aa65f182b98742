"""Radicale auth plugin: Basic credentials checked against the accounts table."""

from __future__ import annotations

import os

from radicale import auth, config

from backside_caldav import accounts, db
from backside_caldav.settings import ENV_DATABASE_URL


def _database_url(configuration: config.Configuration) -> str:
    try:
        url = configuration.get("storage", "database_url")
    except KeyError:
        url = ""
    return url or os.environ.get(ENV_DATABASE_URL, "")


class Auth(auth.BaseAuth):

    def __init__(self, configuration: config.Configuration) -> None:
        super().__init__(configuration)
        self._engine = db.get_engine(_database_url(configuration))

    def _login(self, login: str, password: str) -> str:
        return login if accounts.verify_login(self._engine, login, password) else ""
