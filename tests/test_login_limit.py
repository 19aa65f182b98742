"""Credential guessing: failed logins are limited per account and per client
address, and a client that is already signed in is not slowed.

Loopback is a whole /8 on Linux, so each simulated client gets its own
source address in 127.0.0.0/8 while the server listens on 127.0.0.1.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
import requests
from conftest import Account, Server, make_account, start_server
from requests.adapters import HTTPAdapter

from backside_caldav.db.settings import libpq_url

ACCOUNT_LIMIT = 4
ADDRESS_LIMIT = 9


class SourceAddressAdapter(HTTPAdapter):
    def __init__(self, source: str) -> None:
        self._source = source
        super().__init__()

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        kwargs["source_address"] = (self._source, 0)
        super().init_poolmanager(*args, **kwargs)


def client_from(address: str, login: str, password: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", SourceAddressAdapter(address))
    session.auth = (login, password)
    return session


def propfind(session: requests.Session, server: Server, login: str) -> requests.Response:
    return session.request("PROPFIND", f"{server.url}{login}/", headers={"Depth": "0"},
                           timeout=30)


@pytest.fixture(scope="module")
def limited_server(database_url: str, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[Server]:
    # The counters are shared by every server on this database: other test files'
    # wrong passwords from 127.0.0.1 must not count against this module's limits.
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute("DELETE FROM login_failures")
    srv = start_server(database_url, tmp_path_factory.mktemp("limit-logs"), extra_env={
        "BACKSIDE_LOGIN_LIMIT": f"account={ACCOUNT_LIMIT},address={ADDRESS_LIMIT},window=600"})
    try:
        yield srv
    finally:
        srv.stop()


def _fail_in_parallel(server: Server, attempts: list[tuple[str, str]]) -> list[int]:
    """(source address, login) pairs, each with a wrong password."""
    def attempt(pair: tuple[str, str]) -> int:
        address, login = pair
        with client_from(address, login, "wrong " + uuid.uuid4().hex) as s:
            return propfind(s, server, login).status_code
    with ThreadPoolExecutor(len(attempts)) as pool:
        return list(pool.map(attempt, attempts))


def test_guessing_one_account_locks_guessers_out_but_not_the_signed_in_phone(
        limited_server: Server, database_url: str) -> None:
    victim: Account = make_account(database_url)
    phone = client_from("127.0.0.1", victim.username, victim.password)
    assert propfind(phone, limited_server, victim.username).status_code == 207
    statuses = _fail_in_parallel(limited_server, [("127.0.0.2", victim.username)] * ACCOUNT_LIMIT)
    assert statuses == [401] * ACCOUNT_LIMIT

    with client_from("127.0.0.3", victim.username, "yet another guess") as guesser:
        refused = propfind(guesser, limited_server, victim.username)
    assert refused.status_code == 429
    assert "too many failed logins" in refused.text
    assert 0 < int(refused.headers["Retry-After"]) <= 600
    # The phone that signed in before keeps working, at full speed.
    started = time.monotonic()
    assert propfind(phone, limited_server, victim.username).status_code == 207
    assert time.monotonic() - started < 1.0, "no failed-login pause for a known client"
    # The right password from another device passes too: it was verified before
    # the lock, so it cannot be a guess.
    with client_from("127.0.0.4", victim.username, victim.password) as new_device:
        assert propfind(new_device, limited_server, victim.username).status_code == 207
    # Another account from the guesser's address is not affected (address under its limit).
    other = make_account(database_url)
    with client_from("127.0.0.2", other.username, other.password) as neighbour:
        assert propfind(neighbour, limited_server, other.username).status_code == 207
    phone.close()


def test_one_address_guessing_many_accounts_is_locked_out(limited_server: Server,
                                                          database_url: str) -> None:
    guesses = [("127.0.0.5", f"nobody{n}-{uuid.uuid4().hex[:6]}") for n in range(ADDRESS_LIMIT)]
    assert _fail_in_parallel(limited_server, guesses) == [401] * ADDRESS_LIMIT
    honest = make_account(database_url)
    with client_from("127.0.0.5", honest.username, honest.password) as same_address:
        refused = propfind(same_address, limited_server, honest.username)
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    with client_from("127.0.0.6", honest.username, honest.password) as elsewhere:
        assert propfind(elsewhere, limited_server, honest.username).status_code == 207


def test_the_lock_ends_with_its_window(database_url: str, tmp_path: Path) -> None:
    srv = start_server(database_url, tmp_path,
                       extra_env={"BACKSIDE_LOGIN_LIMIT": "account=2,address=100,window=3"})
    try:
        user = make_account(database_url)
        assert _fail_in_parallel(srv, [("127.0.0.7", user.username)] * 2) == [401, 401]
        with client_from("127.0.0.8", user.username, user.password) as s:
            assert propfind(s, srv, user.username).status_code == 429
            time.sleep(3.5)
            assert propfind(s, srv, user.username).status_code == 207
    finally:
        srv.stop()


def test_bad_limit_setting_is_a_one_line_error(database_url: str, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="BACKSIDE_LOGIN_LIMIT: unknown setting 'tries'"):
        start_server(database_url, tmp_path, extra_env={"BACKSIDE_LOGIN_LIMIT": "tries=3"})


@pytest.mark.parametrize(("address", "counted_as"), [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
    ("::ffff:198.51.100.4", "198.51.100.4"),
    ("fe80::1%eth0", "fe80::/64"),
    ("not an address", "not an address"),
])
def test_ipv6_clients_are_counted_per_64(address: str, counted_as: str) -> None:
    from backside_caldav.domain.login_limits import address_key
    assert address_key(address) == counted_as
