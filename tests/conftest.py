"""Real parts only: a real PostgreSQL and the real server over HTTP.

The database is the embedded PostgreSQL (pgserver) unless BACKSIDE_DATABASE_URL
names a server; either way the suite works in a fresh database of its own
that it drops at the end.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import caldav
import psycopg
import pytest
import requests

from backside_caldav.db import accounts, migrate
from backside_caldav.db import engines as db
from backside_caldav.db.settings import libpq_url

ROOT = Path(__file__).resolve().parents[1]


def _with_database(url: str, name: str) -> str:
    head, sep, query = url.partition("?")
    base = head.rsplit("/", 1)[0] if head.count("/") > 2 else head
    return f"{base}/{name}{sep}{query}"


@pytest.fixture(scope="session")
def admin_url() -> Iterator[str]:
    url = os.environ.get("BACKSIDE_DATABASE_URL")
    if url:
        yield libpq_url(url)
        return
    import pgserver
    with tempfile.TemporaryDirectory(prefix="backside-test-pg-") as tmp:
        server = pgserver.get_server(tmp, cleanup_mode="stop")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


@contextlib.contextmanager
def scratch_database(admin_url: str, prefix: str, migrated: bool = True) -> Iterator[str]:
    """A new database on the test server (migrated to head unless told not to:
    a migration test moves it itself); dropped again afterwards."""
    name = prefix + uuid.uuid4().hex[:10]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = _with_database(admin_url, name)
    if migrated:
        migrate.upgrade(db.get_engine(url))
    try:
        yield url
    finally:
        db.get_engine(url).dispose()
        db.get_app_engine(url).dispose()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def empty_database_url(admin_url: str) -> Iterator[str]:
    """A database of the test's own with no tables yet, for migration tests."""
    with scratch_database(admin_url, "backside_mig_", migrated=False) as url:
        yield url


@pytest.fixture(scope="session")
def database_url(admin_url: str) -> Iterator[str]:
    with scratch_database(admin_url, "backside_test_") as url:
        yield url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def calendar_session(base_url: str, database_url: str
                     ) -> Iterator[tuple[str, requests.Session, Account]]:
    """(URL of a new calendar "cal", a session logged in, its account) on the
    server at base_url, for a fresh account."""
    account = make_account(database_url)
    with requests.Session() as http:
        http.auth = (account.username, account.password)
        url = f"{base_url}{account.username}/cal/"
        assert http.request("MKCALENDAR", url).status_code == 201
        yield url, http, account


@pytest.fixture(scope="module")
def spied(request: pytest.FixtureRequest, database_url: str) -> Iterator[tuple[str, list[str]]]:
    """counting_server for the test module, counting the calls of the function
    its SPIED names: (module, attribute name)."""
    module, name = request.module.SPIED
    with counting_server(database_url, module, name) as served:
        yield served


@pytest.fixture
def spied_cal(spied: tuple[str, list[str]], database_url: str
              ) -> Iterator[tuple[str, requests.Session, list[str]]]:
    """(calendar URL, a session logged in, the counted calls) on the spied server."""
    base, calls = spied
    with calendar_session(base, database_url) as (url, http, _account):
        yield url, http, calls


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def counting_server(database_url: str, module: Any, name: str
                    ) -> Iterator[tuple[str, list[str]]]:
    """(URL, calls of module.name) of the application served in this process,
    over HTTP on the loopback; each call is counted (its second argument, a
    path) and passed through, so a test can say which requests reached it."""
    from backside_caldav.app import build_app
    calls: list[str] = []
    real = getattr(module, name)

    def counted(base_prefix: str, path: str, *args: object, **kwargs: object) -> object:
        calls.append(path)
        return real(base_prefix, path, *args, **kwargs)

    setattr(module, name, counted)
    try:
        with serve_wsgi(build_app(database_url)) as url:
            yield url, calls
    finally:
        setattr(module, name, real)


@contextlib.contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    """The URL of `app` served over HTTP on the loopback by this process."""
    httpd = make_server("127.0.0.1", free_port(), app, handler_class=_Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    database_url: str
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def worker_pids(master_pid: int) -> set[int]:
    """Children of the gunicorn master, as the kernel lists them."""
    try:
        text = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text()
    except OSError:
        return set()
    return {int(pid) for pid in text.split()}


def start_server(database_url: str, log_dir: Path, extra_env: dict[str, str] | None = None,
                 extra_args: list[str] | None = None, scheme: str = "http",
                 verify: str | bool = True) -> Server:
    """`backside-caldav serve` on a free loopback port, once /health answers."""
    port = free_port()
    log = log_dir / f"server-{port}.log"
    env = {**os.environ, "BACKSIDE_DATABASE_URL": database_url, **(extra_env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "backside_caldav", "serve", "--host", "127.0.0.1",
         "--port", str(port), *(extra_args or [])],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"{scheme}://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{log.read_text()}")
            try:
                if requests.get(url + "/health", timeout=1, verify=verify).status_code == 200:
                    return Server(url + "/", process, database_url, log)
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or a worker still importing the app
            time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{log.read_text()}")
    except BaseException:
        # Whatever went wrong, the server this call started must not outlive it.
        Server(url + "/", process, database_url, log).stop()
        raise


@pytest.fixture(scope="session")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Every test is a client on 127.0.0.1, and several log in wrongly on purpose:
    # the per-address login limit would let one test lock the next ones out.
    # test_login_limit.py checks the limits on servers of its own.
    srv = start_server(database_url, tmp_path_factory.mktemp("logs"),
                       extra_env={"BACKSIDE_LOGIN_LIMIT": "address=1000000"})
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def two_workers(database_url: str, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[Server]:
    """The server with 2 worker processes, for what must hold across workers (races,
    rate limits)."""
    srv = start_server(database_url, tmp_path_factory.mktemp("two-workers-logs"),
                       extra_args=["--workers", "2"])
    try:
        yield srv
    finally:
        srv.stop()


@dataclass
class Account:
    username: str
    password: str
    tenant: str
    tenant_id: str


def make_account(database_url: str) -> Account:
    suffix = uuid.uuid4().hex[:8]
    username, tenant, password = f"user{suffix}", f"tenant-{suffix}", "correct horse " + suffix
    tenant_id = accounts.add_account(db.get_engine(database_url), username, tenant, password)
    return Account(username, password, tenant, tenant_id)


@pytest.fixture
def account(database_url: str) -> Account:
    return make_account(database_url)


@pytest.fixture
def client(server: Server, account: Account) -> Iterator[caldav.DAVClient]:
    with caldav.DAVClient(url=server.url, username=account.username,
                          password=account.password) as c:
        yield c


@pytest.fixture
def http(server: Server, account: Account) -> Iterator[requests.Session]:
    """Raw HTTP as the account, for requests the caldav client cannot make."""
    session = requests.Session()
    session.auth = (account.username, account.password)
    yield session
    session.close()


@pytest.fixture
def sql(database_url: str) -> Iterator[psycopg.Connection]:
    """Another application writing the tables with plain SQL (autocommit)."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        yield conn


@pytest.fixture
def cal(server: Server, account: Account, sql: psycopg.Connection) -> tuple[str, str]:
    """A fresh calendar inserted with plain SQL: (collection URL, calendar id)."""
    href = "c" + uuid.uuid4().hex[:8]
    cal_id = sql.execute("INSERT INTO calendars (tenant_id, name, href) VALUES (%s, 'Shared', %s) "
                         "RETURNING id::text", (account.tenant_id, href)).fetchone()[0]
    return f"{server.url}{account.username}/{href}/", cal_id


def wait_for_lock_wait(conn: psycopg.Connection) -> None:
    """Until one of the server's sessions waits for a lock held by the test."""
    deadline = time.monotonic() + 30
    with psycopg.connect(conn.info.dsn, autocommit=True) as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND application_name LIKE 'backside-caldav[%%' AND datname = current_database()").fetchone()[0]
            if waiting:
                return
            time.sleep(0.05)
    raise AssertionError("the PUT never reached the database")

def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The figure the hardening work is judged by: hostile requests and 5xx answers."""
    from hostile import TALLY  # tests/ is on sys.path (rootdir conftest)
    if TALLY.sent:
        terminalreporter.write_line(
            f"hostile requests: {TALLY.sent} sent, {TALLY.server_errors} got a 5xx (501 for unknown methods aside), "
            f"{TALLY.tracebacks} showed a traceback")
        for example in TALLY.examples:
            terminalreporter.write_line(f"  5xx: {example}")


CLI = [sys.executable, "-m", "backside_caldav"]


def run_cli(args: list[str], env: dict[str, str] | None = None, stdin: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """The CLI as a user runs it; env is added to ours without BACKSIDE_DATABASE_URL."""
    full_env = {k: v for k, v in os.environ.items() if k != "BACKSIDE_DATABASE_URL"}
    full_env.update(env or {})
    return subprocess.run(CLI + args, cwd=ROOT, env=full_env, input=stdin, capture_output=True,
                          text=True, timeout=timeout)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The single stderr line of a failed command (no traceback, no other output)."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("backside-caldav: error: ")
    return lines[0]


@pytest.fixture(scope="module")
def people(database_url: str) -> Any:
    """Two tenants, three logins with emails and a guest without one, for the
    scheduling tests (tests/scheduling_people.py); a module may define its own."""
    from scheduling_people import make_people
    return make_people(database_url)
