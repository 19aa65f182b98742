"""Start and stop the two servers under test, and the database backside needs.

Every process and database made here is torn down by the context managers,
also on errors and Ctrl-C, so a benchmark run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[1]
BENCH_USER = "bench"
BENCH_PASSWORD = "bench-password-2026"
START_TIMEOUT = 90.0


def free_port() -> int:
    """A port on the loopback nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _vm_hwm_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc status (process gone, or not Linux)")


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@dataclass
class ServerProcess:
    """A server child process and where it answers."""

    name: str
    url: str
    process: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def peak_rss_mib(self) -> float:
        """VmHWM, the resident-set high-water mark, of the server process plus its
        child processes: backside-caldav's gunicorn master serves nothing itself,
        its worker does; Radicale is a single process."""
        return sum(_vm_hwm_kib(pid) for pid in (self.pid, *_children(self.pid))) / 1024

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Stop via our own handle: terminate, then kill if it lingers."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _wait_ready(server: ServerProcess, path: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"{server.name} exited at start:\n{server.log_tail()}")
        try:
            requests.get(server.url + path, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{server.name} did not answer within {START_TIMEOUT:g} s:\n"
                       f"{server.log_tail()}")


@contextlib.contextmanager
def radicale(workdir: Path) -> Iterator[ServerProcess]:
    """Stock Radicale on the filesystem storage: no auth, owner_only rights."""
    port = free_port()
    folder = workdir / "radicale-data"
    folder.mkdir(parents=True, exist_ok=True)
    config = workdir / "radicale.conf"
    config.write_text(
        "[server]\n"
        f"hosts = 127.0.0.1:{port}\n"
        "[auth]\ntype = none\n"
        "[rights]\ntype = owner_only\n"
        f"[storage]\nfilesystem_folder = {folder}\n"
        "[web]\ntype = none\n"
        "[logging]\nlevel = warning\n")
    log = workdir / f"radicale-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "radicale", "--config", str(config)],
                                   cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    server = ServerProcess("radicale", f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_ready(server, "/")
        yield server
    finally:
        server.stop()


def radicale_calendar_folder(workdir: Path, user: str, calendar: str) -> Path:
    """Where Radicale keeps a calendar's .ics files (its documented layout)."""
    return workdir / "radicale-data" / "collection-root" / user / calendar


@contextlib.contextmanager
def backside(database_url: str, workdir: Path, workers: int = 1) -> Iterator[ServerProcess]:
    """`python -m backside_caldav serve` on the given database, default settings
    but for the number of worker processes."""
    port = free_port()
    log = workdir / f"backside-{port}.log"
    env = {**os.environ, "BACKSIDE_DATABASE_URL": database_url}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "backside_caldav", "serve", "--host", "127.0.0.1",
             "--port", str(port), "--workers", str(workers)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = ServerProcess("backside", f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_ready(server, "/health")
        yield server
    finally:
        server.stop()


def _with_database(url: str, name: str) -> str:
    head, sep, query = url.partition("?")
    base = head.rsplit("/", 1)[0] if head.count("/") > 2 else head
    return f"{base}/{name}{sep}{query}"


@dataclass
class Database:
    """A fresh database for one run and facts about its server."""

    url: str
    name: str
    server_version: str
    where: str  # "external" or "embedded"
    autovacuum: str

    def analyze(self) -> None:
        """ANALYZE, as autovacuum would after many inserts (some dev servers turn it off)."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("ANALYZE")


@contextlib.contextmanager
def bench_database(admin_url: str | None) -> Iterator[Database]:
    """A new bench_<random> database on admin_url's server, or on an embedded one.

    The database is dropped at the end, and an embedded server is stopped.
    """
    if admin_url:
        from backside_caldav.db.settings import libpq_url
        with _created_database(libpq_url(admin_url), "external") as database:
            yield database
        return
    import pgserver
    with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            pg = pgserver.get_server(tmp, cleanup_mode="stop")
        try:
            with _created_database(pg.get_uri(), "embedded") as database:
                yield database
        finally:
            pg.cleanup()


@contextlib.contextmanager
def _created_database(admin_url: str, where: str) -> Iterator[Database]:
    name = "bench_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        autovacuum = str(conn.execute("SHOW autovacuum").fetchone()[0])  # type: ignore[index]
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield Database(_with_database(admin_url, name), name, version, where, autovacuum)
    finally:
        from backside_caldav.db import engines as db
        db.dispose_all()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def create_account(database_url: str) -> tuple[str, str, str]:
    """Schema plus the benchmark's login and an API key of its tenant (read-write);
    returns (username, password, key)."""
    from backside_caldav.db import accounts, keys, migrate
    from backside_caldav.db import engines as db
    engine = db.get_engine(database_url)
    migrate.upgrade(engine)
    from . import scheduling
    accounts.add_account(engine, BENCH_USER, "bench", BENCH_PASSWORD, scheduling.EMAIL)
    scheduling.logins(engine)
    key = keys.create_key(engine, "bench").secret
    db.dispose_all()
    return BENCH_USER, BENCH_PASSWORD, key
