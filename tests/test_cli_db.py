"""The embedded PostgreSQL's life: `serve` stops the one it started (SIGTERM or
Ctrl-C) unless something else uses it; `db-url` leaves it running; `db status`
and `db stop` for the rest. And the CLI's messages: Ctrl-D or Ctrl-C at the
password prompt, a missing certificate or key, the password rule in --help.

These tests run the embedded PostgreSQL of their own under one data folder
(created once, by the first test that needs it), whatever BACKSIDE_DATABASE_URL
says for the rest of the suite; each test leaves it stopped.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests
from conftest import CLI, ROOT, free_port, one_line_error, run_cli

from backside_caldav.db import embedded as embedded_db
from backside_caldav.domain.passwords import MIN_PASSWORD


@pytest.fixture(scope="module")
def data_dir() -> Iterator[Path]:
    # Not under pytest's basetemp: as root, pgserver runs postgres as its own user, and
    # every pytest session makes /tmp/pytest-of-root private again (0700).
    with tempfile.TemporaryDirectory(prefix="backside-test-cli-db-") as path:
        yield Path(path)
        _force_stop(Path(path))


@pytest.fixture
def embedded(data_dir: Path) -> Iterator[dict[str, str]]:
    """The environment of a command on the embedded database under data_dir (no
    XDG_RUNTIME_DIR, as under a plain `su` or in a container). Stopped afterwards."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("BACKSIDE_DATABASE_URL", "XDG_RUNTIME_DIR")}
    env["BACKSIDE_DATA_DIR"] = str(data_dir)
    yield env
    _force_stop(data_dir)


def _pgdata(data_dir: Path) -> Path:
    return (data_dir / "pgdata").resolve()


def _postgres_pids(data_dir: Path) -> list[int]:
    """Processes whose command line names this data folder (the postmaster's does)."""
    needle = str(_pgdata(data_dir)).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if needle in cmdline and state != "Z" and b"postgres" in cmdline:
            found.append(int(entry.name))
    return found


def _describe(data_dir: Path) -> str:
    return "; ".join(f"{pid}: {Path(f'/proc/{pid}/cmdline').read_bytes()!r}"
                     for pid in _postgres_pids(data_dir))


def _starts(data_dir: Path) -> int:
    """How often PostgreSQL has started on the data folder (its log says so each time)."""
    try:
        log = (_pgdata(data_dir) / "log").read_text()
    except FileNotFoundError:
        return 0
    return log.count("database system is ready to accept connections")


def _wait_gone(data_dir: Path, timeout: float = 15) -> list[int]:
    deadline = time.monotonic() + timeout
    while (pids := _postgres_pids(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return pids


def _force_stop(data_dir: Path) -> None:
    """Stop what a test left running: through `db stop --force`, else pg_ctl on this
    data folder, else the processes running on it (never by process name)."""
    if not _postgres_pids(data_dir):
        return
    run_cli(["db", "stop", "--force"], env={"BACKSIDE_DATA_DIR": str(data_dir)})
    if _wait_gone(data_dir, timeout=5):
        embedded_db._pgserver()  # imported without its warning
        from pgserver._commands import POSTGRES_BIN_PATH
        subprocess.run([str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(_pgdata(data_dir)),
                        "-m", "immediate", "-w", "stop"], capture_output=True,
                       user="pgserver" if os.geteuid() == 0 else None)
    for pid in _postgres_pids(data_dir):  # its postmaster.pid is gone: by the folder it runs on
        os.kill(pid, signal.SIGQUIT)
    assert not _wait_gone(data_dir), f"the test's PostgreSQL would outlive it: {_describe(data_dir)}"


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + args, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def _serve(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    """`serve` on the embedded database, once /health answers."""
    port = free_port()
    process = subprocess.Popen(CLI + ["serve", "--host", "127.0.0.1", "--port", str(port)],
                               cwd=ROOT, env=env, stdout=log.open("wb"),
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process, log.read_text()
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.1)
    process.kill()
    process.wait()
    raise AssertionError(f"serve did not start:\n{log.read_text()}")


def _stop_serve(process: subprocess.Popen, signum: int) -> int:
    process.send_signal(signum)
    return process.wait(timeout=60)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stops_the_database_it_started(signum: int, embedded: dict[str, str],
                                             data_dir: Path, tmp_path: Path) -> None:
    assert not _postgres_pids(data_dir)
    process, _ = _serve(embedded, tmp_path / "serve.log")
    running = _postgres_pids(data_dir)
    assert running, "serve should run an embedded PostgreSQL on the data folder"
    assert _stop_serve(process, signum) == 0
    log = (tmp_path / "serve.log").read_text()
    assert not _wait_gone(data_dir), f"PostgreSQL outlived serve: {_describe(data_dir)}\n{log}"
    assert "Traceback" not in log and "RuntimeDirWarning" not in log, log
    status = _cli(["db", "status"], embedded)
    assert status.returncode == 3, status
    assert "embedded PostgreSQL: not running" in status.stdout


def test_serve_that_fails_to_start_stops_it_too(embedded: dict[str, str], data_dir: Path,
                                                tmp_path: Path) -> None:
    """The config file is checked after the database started and the schema is migrated."""
    missing = tmp_path / "radicale.conf"
    starts = _starts(data_dir)
    result = _cli(["serve", "--port", str(free_port()), "--config", str(missing)], embedded)
    assert one_line_error(result) == f"backside-caldav: error: no Radicale config file at {missing}"
    assert _starts(data_dir) == starts + 1, "the database was started"
    assert not _wait_gone(data_dir), _describe(data_dir)


def test_db_url_keeps_it_running_for_other_applications(embedded: dict[str, str],
                                                        data_dir: Path, tmp_path: Path) -> None:
    url = _cli(["db-url"], embedded)
    assert url.returncode == 0 and url.stderr == "", url.stderr
    url = url.stdout.strip()
    assert url == f"postgresql://postgres:@/backside_caldav?host={_pgdata(data_dir)}"
    postmaster = _postgres_pids(data_dir)
    assert len(postmaster) == 1, "db-url leaves the server running"
    # serve joins the running server, and leaves it to the one who started it.
    process, _ = _serve(embedded, tmp_path / "serve.log")
    assert _stop_serve(process, signal.SIGTERM) == 0
    assert _postgres_pids(data_dir) == postmaster

    with psycopg.connect(url, application_name="calendar-sync"):
        status = _cli(["db", "status"], embedded)
        assert status.returncode == 0 and status.stderr == "", status
        lines = status.stdout.splitlines()
        assert f"data folder: {_pgdata(data_dir)}" in lines
        assert f"embedded PostgreSQL: running, postmaster PID {postmaster[0]}" in lines
        assert f"URL: {url}" in lines
        assert f"socket: {_pgdata(data_dir)}/.s.PGSQL.5432" in lines
        assert "used by: calendar-sync" in lines
        refused = _cli(["db", "stop"], embedded)
        assert refused.returncode == 2
        assert one_line_error(refused) == (
            "backside-caldav: error: the embedded PostgreSQL is in use by calendar-sync: "
            "stop those first, or use --force")
        assert _postgres_pids(data_dir) == postmaster
        stopped = _cli(["db", "stop", "--force"], embedded)
        assert stopped.returncode == 0, stopped.stderr
        assert stopped.stdout == (f"stopped the embedded PostgreSQL in {_pgdata(data_dir)} "
                                  f"(PID {postmaster[0]})\n")
        assert not _wait_gone(data_dir)
    again = _cli(["db", "stop"], embedded)
    assert again.returncode == 0
    assert again.stdout == f"the embedded PostgreSQL in {_pgdata(data_dir)} is not running\n"


def test_serve_leaves_it_to_another_process_of_the_product(embedded: dict[str, str],
                                                           data_dir: Path,
                                                           tmp_path: Path) -> None:
    """A session named like this product's (here: this test process's pid) still uses
    the server when serve ends: serve says so and leaves it; `db stop` once it is gone."""
    process, _ = _serve(embedded, tmp_path / "serve.log")
    url = _cli(["db-url"], embedded).stdout.strip()
    other = f"backside-caldav[{os.getpid()}]"
    with psycopg.connect(url, application_name=other):
        assert _stop_serve(process, signal.SIGTERM) == 0
        assert _postgres_pids(data_dir), "stopped under another process's feet"
        log = (tmp_path / "serve.log").read_text()
        assert (f"backside-caldav: the embedded PostgreSQL keeps running for {other} "
                "(`backside-caldav db stop` stops it)") in log
        status = _cli(["db", "status"], embedded)
        assert f"used by: {other}" in status.stdout.splitlines()
    stopped = _cli(["db", "stop"], embedded)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.startswith("stopped the embedded PostgreSQL")
    assert not _wait_gone(data_dir)


UNRELATED = """
import signal, sys, time
def interrupted(*_):
    open(sys.argv[1], "w").write("SIGINT")
    sys.exit(0)
signal.signal(signal.SIGINT, interrupted)
print("ready", flush=True)
time.sleep(300)
"""


def test_a_stale_postmaster_pid_names_another_process(embedded: dict[str, str],
                                                      data_dir: Path, tmp_path: Path) -> None:
    """PostgreSQL ended without removing postmaster.pid (a crash, a kill -9) and its PID
    now belongs to an unrelated process: that is no server. `db status` and `db stop`
    say nothing runs and leave the process alone; `serve` starts a server of its own
    and stops it again."""
    assert _cli(["db-url"], embedded).returncode == 0  # the data folder exists
    assert _cli(["db", "stop"], embedded).returncode == 0
    assert not _wait_gone(data_dir)
    interrupted = tmp_path / "interrupted"
    unrelated = subprocess.Popen([sys.executable, "-c", UNRELATED, str(interrupted)],
                                 stdout=subprocess.PIPE, text=True)
    try:
        assert unrelated.stdout is not None and unrelated.stdout.readline() == "ready\n"
        pgdata = _pgdata(data_dir)
        # As a postmaster killed with -9 leaves them: postmaster.pid, the socket's lock.
        (pgdata / "postmaster.pid").write_text(
            f"{unrelated.pid}\n{pgdata}\n{int(time.time())}\n5432\n{pgdata}\n\n"
            "  2189585    426038\nready   \n")
        (pgdata / ".s.PGSQL.5432.lock").write_text(
            f"{unrelated.pid}\n{pgdata}\n{int(time.time())}\n5432\n{pgdata}\n")

        status = _cli(["db", "status"], embedded)
        assert status.returncode == 3, status
        assert (f"embedded PostgreSQL: not running (stale postmaster.pid: PID {unrelated.pid} "
                "is another process)") in status.stdout.splitlines()
        stop = _cli(["db", "stop"], embedded)
        assert stop.returncode == 0, stop.stderr
        assert stop.stdout == (f"the embedded PostgreSQL in {pgdata} is not running "
                               "(stale postmaster.pid)\n")
        time.sleep(0.2)  # a SIGINT would have arrived by now
        assert unrelated.poll() is None and not interrupted.exists(), "it was signalled"

        process, _ = _serve(embedded, tmp_path / "serve.log")
        running = _postgres_pids(data_dir)
        assert running and unrelated.pid not in running
        assert int((pgdata / "postmaster.pid").read_text().split()[0]) in running
        assert _stop_serve(process, signal.SIGTERM) == 0
        log = (tmp_path / "serve.log").read_text()
        assert not _wait_gone(data_dir), f"serve left its server running: {_describe(data_dir)}"
        assert "keeps running" not in log, log
        assert unrelated.poll() is None and not interrupted.exists(), "it was signalled"
    finally:
        unrelated.kill()
        unrelated.wait()


def test_status_of_an_external_database(database_url: str) -> None:
    ok = run_cli(["db", "status"], env={"BACKSIDE_DATABASE_URL": database_url})
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("database: external (BACKSIDE_DATABASE_URL)\n")
    assert "answers: yes (PostgreSQL " in ok.stdout
    port = free_port()
    down = run_cli(["db", "status"], env={
        "BACKSIDE_DATABASE_URL": f"postgresql://u:secret@127.0.0.1:{port}/x?connect_timeout=2"})
    assert down.returncode == 3
    assert f"URL: postgresql://u:***@127.0.0.1:{port}/x?connect_timeout=2" in down.stdout
    assert "secret" not in down.stdout
    assert "answers: no (" in down.stdout
    refused = run_cli(["db", "stop"], env={"BACKSIDE_DATABASE_URL": database_url})
    assert "external server" in one_line_error(refused)


def _at_the_prompt(keys: bytes, database_url: str) -> tuple[int, str]:
    """`account add` on a terminal: type keys at the password prompt; (exit code, screen)."""
    env = {**os.environ, "BACKSIDE_DATABASE_URL": database_url}
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI, on the terminal
        os.chdir(ROOT)
        os.execve(sys.executable, [*CLI, "account", "add", "tty-user", "--tenant", "tty"], env)
    screen = b""
    deadline = time.monotonic() + 60
    sent = False
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                screen += chunk
            if not sent and b"Password: " in screen:
                time.sleep(0.2)  # getpass has turned echo off by now
                os.write(fd, keys)
                sent = True
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), screen.decode(errors="replace")


def test_ctrl_d_at_the_password_prompt_is_one_line(database_url: str) -> None:
    code, screen = _at_the_prompt(b"\x04", database_url)
    assert code == 2, screen
    assert "Traceback" not in screen and "EOFError" not in screen
    assert "backside-caldav: error: no password given" in screen.splitlines()[-1]


def test_ctrl_c_at_the_password_prompt_exits_quietly(database_url: str) -> None:
    code, screen = _at_the_prompt(b"\x03", database_url)
    assert code == 130, screen
    assert "Traceback" not in screen and "KeyboardInterrupt" not in screen


@pytest.mark.parametrize("missing", ["certificate", "key"])
def test_missing_certificate_or_key_is_named(missing: str, tmp_path: Path,
                                             database_url: str) -> None:
    present = tmp_path / "present.pem"
    present.write_text("not read: the missing file is reported first\n")
    absent = tmp_path / "absent.pem"
    files = {"certificate": present, "key": present, missing: absent}
    result = run_cli(["serve", "--port", str(free_port()), "--certificate",
                      str(files["certificate"]), "--key", str(files["key"])],
                     env={"BACKSIDE_DATABASE_URL": database_url})
    assert result.returncode == 2
    assert one_line_error(result) == (
        f"backside-caldav: error: cannot read the {missing} {absent}: No such file or directory")


@pytest.mark.parametrize("command", ["add", "passwd"])
def test_help_states_the_password_rule(command: str) -> None:
    result = run_cli(["account", command, "--help"])
    assert result.returncode == 0
    assert f"at least {MIN_PASSWORD} characters" in " ".join(result.stdout.split())
