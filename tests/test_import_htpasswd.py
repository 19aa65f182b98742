"""`import-htpasswd`: Radicale's logins move with their passwords.

Hashes are made here with the libraries Radicale uses (libpass, bcrypt,
argon2-cffi), by `openssl passwd` in a subprocess, and taken from published
test vectors, so the server is checked against hashes it did not make. Logins
go over real HTTP to the `serve` fixture; the stored hash is read with SQL.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import bcrypt
import psycopg
import pytest
import requests
from argon2 import PasswordHasher, Type, extract_parameters
from conftest import Account, Server, one_line_error, run_cli
from passlib.hash import apr_md5_crypt, sha256_crypt, sha512_crypt
from passlib.hash import bcrypt as passlib_bcrypt

from backside_caldav.db import accounts
from backside_caldav.db import engines as db
from backside_caldav.domain.passwords import Verdict

# Published vectors: Ulrich Drepper's SHA-crypt specification ("Hello world!")
# and Openwall's crypt_blowfish test vectors ("U*U").
DREPPER_SHA512 = ("$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OT"
                  "LiBFdcbYEdFCoEOfaS35inz1")
DREPPER_SHA512_ROUNDS = ("$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbb"
                         "MCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.")
DREPPER_SHA256 = "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"
OPENWALL_BCRYPT = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"
OUR_ARGON2 = {"type": Type.ID, "time_cost": 2, "memory_cost": 19456, "parallelism": 1}


def openssl_passwd(*args: str) -> str:
    return subprocess.run(["openssl", "passwd", *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def status(server: Server, username: str, password: str) -> int:
    """A PROPFIND of the login's home with Basic credentials: 207 signed in, 401 not."""
    response = requests.request("PROPFIND", f"{server.url}{username}/", headers={"Depth": "0"},
                                auth=(username.encode(), password.encode()), timeout=30)
    return response.status_code


def stored(sql: psycopg.Connection, username: str) -> tuple[str, object, str] | None:
    """(password_hash, last_login_at, tenant name) of a login, None without one."""
    return sql.execute(
        "SELECT a.password_hash, a.last_login_at, t.name FROM accounts a "
        "JOIN tenants t ON t.id = a.tenant_id WHERE a.username = %s", (username,)).fetchone()


def write(tmp_path: Path, lines: list[str], name: str = "htpasswd") -> str:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def run_import(database_url: str, *args: str) -> subprocess.CompletedProcess:
    return run_cli(["import-htpasswd", *args], env={"BACKSIDE_DATABASE_URL": database_url})


def test_htpasswd_logins_sign_in_with_old_passwords_and_get_argon2(
        server: Server, database_url: str, sql: psycopg.Connection, tmp_path: Path) -> None:
    s = uuid.uuid4().hex[:8]
    long_password = "seventy-two bytes are all bcrypt reads, and this one is longer: " + s * 3
    assert len(long_password.encode()) > 72
    logins: dict[str, tuple[str, str]] = {  # login -> (password, hash in the file)
        f"drepper512-{s}": ("Hello world!", DREPPER_SHA512),
        f"drepper512r-{s}": ("Hello world!", DREPPER_SHA512_ROUNDS),
        f"drepper256-{s}": ("Hello world!", DREPPER_SHA256),
        f"openwall-{s}": ("U*U", OPENWALL_BCRYPT),  # 3 characters: no length rule on import
        f"ossl512-{s}": ("openssl six " + s, openssl_passwd("-6", "-salt", s, "openssl six " + s)),
        f"ossl256-{s}": ("openssl five " + s, openssl_passwd("-5", "-salt", s,
                                                             "openssl five " + s)),
        f"apr1-{s}": ("apache md5 " + s, openssl_passwd("-apr1", "-salt", s, "apache md5 " + s)),
        f"bcrypt-{s}": ("bcrypt pw " + s,
                        bcrypt.hashpw(("bcrypt pw " + s).encode(), bcrypt.gensalt(5)).decode()),
        # htpasswd -B writes $2y$.
        f"bcrypt2y-{s}": ("two y " + s, passlib_bcrypt.using(rounds=5, ident="2y")
                          .hash("two y " + s)),
        # Radicale cuts bcrypt passwords at 72 bytes; so does the check here.
        f"bcryptlong-{s}": (long_password, bcrypt.hashpw(long_password.encode()[:72],
                                                         bcrypt.gensalt(4)).decode()),
        f"sha512-{s}": ("libpass 512 " + s, sha512_crypt.using(rounds=5000).hash("libpass 512 " + s)),
        f"sha256-{s}": ("libpass 256 " + s, sha256_crypt.using(rounds=5000).hash("libpass 256 " + s)),
        f"md5-{s}": ("libpass apr1 " + s, apr_md5_crypt.hash("libpass apr1 " + s)),
        f"argon2i-{s}": ("argon i " + s, PasswordHasher(time_cost=1, memory_cost=8192,
                                                        parallelism=2, type=Type.I)
                         .hash("argon i " + s)),
        f"argon2id-{s}": ("argon id " + s, PasswordHasher(time_cost=3, memory_cost=8192,
                                                          parallelism=1).hash("argon id " + s)),
    }
    assert logins[f"ossl256-{s}"][1].startswith("$5$") and logins[f"apr1-{s}"][1].startswith("$apr1$")
    tenant = f"moved-{s}"
    lines = ["# exported from Radicale", ""]
    lines += [f"{login}:{hashed}" for login, (_pw, hashed) in logins.items()]
    result = run_import(database_url, "--tenant", tenant, write(tmp_path, lines))
    assert result.returncode == 0, result.stdout + result.stderr
    tenant_id = sql.execute("SELECT id::text FROM tenants WHERE name = %s", (tenant,)).fetchone()[0]
    assert result.stdout.splitlines()[-1] == (
        f"tenant {tenant} ({tenant_id}): {len(logins)} imported, 0 replaced, 0 skipped, 0 refused")
    for number, login in enumerate(logins, start=3):
        assert f"line {number}: {login}: imported" in result.stdout
    for password, hashed in logins.values():
        assert hashed not in result.stdout and password not in result.stdout
    # The tenant got its default calendar, like `account add`.
    assert sql.execute("SELECT href FROM calendars WHERE tenant_id = %s",
                       (tenant_id,)).fetchall() == [("calendar",)]

    for login, (password, hashed) in logins.items():
        assert stored(sql, login) == (hashed, None, tenant), login  # kept as it was
        assert status(server, login, password) == 207, login
        new_hash, last_login, _ = stored(sql, login)
        assert new_hash != hashed and new_hash.startswith("$argon2id$"), login
        assert PasswordHasher().verify(new_hash, password)
        params = extract_parameters(new_hash)
        assert {k: getattr(params, k) for k in OUR_ARGON2} == OUR_ARGON2
        assert last_login is not None
        assert status(server, login, password) == 207, login  # again, on the Argon2 hash
        assert stored(sql, login)[0] == new_hash  # not rehashed a second time

    # A wrong password neither signs in nor changes the hash (old or new).
    untouched = f"sha512-{s}"
    other = f"drepper256-{s}"
    before = stored(sql, untouched)[0]
    assert status(server, untouched, "libpass 512 wrong") == 401
    assert stored(sql, untouched)[0] == before
    assert status(server, f"bcryptlong-{s}", long_password[:60]) == 401
    # bcrypt read 72 bytes; the Argon2 hash made at login holds the whole password.
    assert PasswordHasher().verify(stored(sql, f"bcryptlong-{s}")[0], long_password)
    assert status(server, other, "Hello world") == 401


def test_refused_lines_are_reported_and_nothing_of_them_is_stored(
        database_url: str, sql: psycopg.Connection, tmp_path: Path) -> None:
    s = uuid.uuid4().hex[:8]
    good = sha512_crypt.using(rounds=5000).hash("fine " + s)
    lines = [
        f"plain-{s}:my plain password {s}",                    # 1: plain text
        f"md5crypt-{s}:{openssl_passwd('-1', '-salt', s, 'x' + s)}",  # 2: $1$
        f"sha1-{s}:{{SHA}}qUqP5cyxm6YcTAhz05Hph5gvu9M=",       # 3: {SHA}
        f"no colon {s}",                                        # 4
        f"empty-{s}:",                                          # 5
        f"bad/name-{s}:{good}",                                 # 6
        f"short-{s}:{good[:-3]}",                               # 7: $6$ cut short
        f"bcryptcut-{s}:{OPENWALL_BCRYPT[:40]}",                # 8: bcrypt cut short
        f"good-{s}:{good}",                                     # 9
        f"good-{s}:{DREPPER_SHA256}",                           # 10: the same login again
        "   ",                                                  # 11: blank
        "# a comment",                                          # 12
    ]
    tenant = f"refusing-{s}"
    result = run_import(database_url, "--tenant", tenant, write(tmp_path, lines))
    assert result.returncode == 1, result.stderr
    assert result.stderr == ""
    out = result.stdout.splitlines()
    assert out[-1].endswith(": 1 imported, 0 replaced, 0 skipped, 9 refused")
    expected = {
        1: f"line 1: plain-{s}: refused: a plain-text password",
        2: f"line 2: md5crypt-{s}: refused: an MD5-crypt ($1$) hash",
        3: f"line 3: sha1-{s}: refused: a {{SHA}} hash",
        4: "line 4: refused: not a login:hash line",
        5: f"line 5: empty-{s}: refused: no hash after the ':'",
        6: "line 6: refused: the login is not a valid user name",
        7: f"line 7: short-{s}: refused: not a hash of a scheme Radicale checks",
        8: f"line 8: bcryptcut-{s}: refused: not a hash of a scheme Radicale checks",
        9: f"line 9: good-{s}: imported",
        10: f"line 10: good-{s}: refused: the login is already on line 9",
    }
    assert len(out) == len(expected) + 1
    for line, (number, start) in zip(out[:-1], sorted(expected.items()), strict=True):
        assert line.startswith(start), (number, line)
    for secret in ("my plain password", "{SHA}qUqP", good, good[:-3], "no colon"):
        assert secret not in result.stdout
    names = [f"{n}-{s}" for n in ("plain", "md5crypt", "sha1", "empty", "short", "bcryptcut")]
    assert sql.execute("SELECT count(*) FROM accounts WHERE username = ANY(%s)",
                       (names,)).fetchone()[0] == 0
    assert stored(sql, f"good-{s}") == (good, None, tenant)


def test_existing_logins_are_skipped_replaced_or_refused(
        server: Server, database_url: str, sql: psycopg.Connection, account: Account,
        tmp_path: Path) -> None:
    s = uuid.uuid4().hex[:8]
    tenant = f"again-{s}"
    first = sha256_crypt.using(rounds=5000).hash("first " + s)
    second = apr_md5_crypt.hash("second " + s)
    file1 = write(tmp_path, [f"kept-{s}:{first}"], "one")
    assert run_import(database_url, "--tenant", tenant, file1).returncode == 0

    # Another tenant's login (the `account` fixture's) is never taken over.
    file2 = write(tmp_path, [f"kept-{s}:{second}", f"{account.username}:{second}"], "two")
    skipped = run_import(database_url, "--tenant", tenant, file2)
    assert skipped.returncode == 1
    assert skipped.stdout.splitlines() == [
        f"line 1: kept-{s}: skipped: the login exists in this tenant "
        "(--replace replaces its password)",
        f"line 2: {account.username}: refused: the login belongs to another tenant",
        skipped.stdout.splitlines()[-1]]
    assert skipped.stdout.splitlines()[-1].endswith(
        ": 0 imported, 0 replaced, 1 skipped, 1 refused")
    assert stored(sql, f"kept-{s}")[0] == first

    replaced = run_import(database_url, "--tenant", tenant, "--replace", file2)
    assert replaced.returncode == 1
    assert f"line 1: kept-{s}: password replaced" in replaced.stdout
    assert f"line 2: {account.username}: refused: the login belongs to another tenant" \
        in replaced.stdout
    assert stored(sql, f"kept-{s}")[0] == second
    hijacked = stored(sql, account.username)
    assert hijacked[0].startswith("$argon2id$") and hijacked[2] == account.tenant
    assert status(server, account.username, "second " + s) == 401
    assert status(server, account.username, account.password) == 207
    assert status(server, f"kept-{s}", "first " + s) == 401
    assert status(server, f"kept-{s}", "second " + s) == 207


def test_last_login_is_set_by_a_real_check_not_by_a_cached_one(
        server: Server, sql: psycopg.Connection, account: Account) -> None:
    assert stored(sql, account.username)[1] is None
    assert status(server, account.username, account.password + "x") == 401
    assert stored(sql, account.username)[1] is None
    assert status(server, account.username, account.password) == 207
    first = stored(sql, account.username)[1]
    assert first is not None
    # Verified a moment ago by this process: no second write.
    assert status(server, account.username, account.password) == 207
    assert stored(sql, account.username)[1] == first


def test_a_password_changed_meanwhile_is_not_overwritten(
        database_url: str, sql: psycopg.Connection, tmp_path: Path) -> None:
    """The rehash is a compare-and-set: the hash checked must still be the one stored."""
    s = uuid.uuid4().hex[:8]
    old = sha512_crypt.using(rounds=5000).hash("old " + s)
    assert run_import(database_url, "--tenant", f"cas-{s}",
                      write(tmp_path, [f"cas-{s}:{old}"])).returncode == 0
    accounts.set_password(db.get_engine(database_url), f"cas-{s}", "changed " + s)
    changed = stored(sql, f"cas-{s}")[0]
    tenant_id = sql.execute("SELECT tenant_id::text FROM accounts WHERE username = %s",
                            (f"cas-{s}",)).fetchone()[0]
    rehash = PasswordHasher().hash("old " + s)
    accounts.record_login(db.get_app_engine(database_url), f"cas-{s}", tenant_id, old,
                          Verdict(True, checked=True, new_hash=rehash))
    now_hash, last_login, _ = stored(sql, f"cas-{s}")
    assert now_hash == changed and last_login is not None
    # Without the compare-and-set conflict the same call replaces it (app role, RLS).
    accounts.record_login(db.get_app_engine(database_url), f"cas-{s}", tenant_id, changed,
                          Verdict(True, checked=True, new_hash=rehash))
    assert stored(sql, f"cas-{s}")[0] == rehash


def test_file_errors_are_one_line(database_url: str, tmp_path: Path) -> None:
    missing = one_line_error(run_import(database_url, "--tenant", "t", str(tmp_path / "none")))
    assert "cannot read" in missing and "No such file" in missing
    binary = tmp_path / "latin1"
    binary.write_bytes("jürgen:$apr1$x$y\n".encode("latin-1"))
    assert "not UTF-8" in one_line_error(run_import(database_url, "--tenant", "t", str(binary)))
    assert "tenant" in one_line_error(run_import(database_url, "--tenant", " ",
                                                 write(tmp_path, ["a:b"])))


@pytest.mark.parametrize("hashed", [DREPPER_SHA512, OPENWALL_BCRYPT])
def test_verify_login_outside_a_request_rehashes_too(
        hashed: str, database_url: str, sql: psycopg.Connection, tmp_path: Path) -> None:
    """The plugin inside a plain Radicale server checks logins without a request scope."""
    s = uuid.uuid4().hex[:8]
    password = "Hello world!" if hashed == DREPPER_SHA512 else "U*U"
    assert run_import(database_url, "--tenant", f"plain-{s}",
                      write(tmp_path, [f"p-{s}:{hashed}"])).returncode == 0
    engine = db.get_app_engine(database_url)
    assert not accounts.verify_login(engine, f"p-{s}", password + "!")
    assert stored(sql, f"p-{s}")[:2] == (hashed, None)
    assert accounts.verify_login(engine, f"p-{s}", password)
    new_hash, last_login, _ = stored(sql, f"p-{s}")
    assert new_hash.startswith("$argon2id$") and last_login is not None
    assert PasswordHasher().verify(new_hash, password)
