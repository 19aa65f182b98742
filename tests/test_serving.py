"""Serving for production: TLS, graceful shutdown, the access log, and the
one-line refusals of bad serving options."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from pathlib import Path

import caldav
import psycopg
import pytest
import requests
from conftest import (
    Account,
    Server,
    free_port,
    make_account,
    one_line_error,
    run_cli,
    start_server,
    wait_for_lock_wait,
    worker_pids,
)

from backside_caldav.db.settings import libpq_url

EVENT = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//serving//EN\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20260101T000000Z\r
DTSTART:20260501T090000Z\r
DTEND:20260501T100000Z\r
SUMMARY:Served\r
END:VEVENT\r
END:VCALENDAR\r
"""


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    import trustme
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_file, chain, key = folder / "ca.pem", folder / "chain.pem", folder / "key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.private_key_pem.write_to_path(str(key))
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    return ca_file, chain, key


def test_tls_serves_caldav_to_a_verifying_client(database_url: str, tmp_path: Path,
                                                 tls_files: tuple[Path, Path, Path]) -> None:
    ca_file, chain, key = tls_files
    account = make_account(database_url)
    srv = start_server(database_url, tmp_path, scheme="https", verify=str(ca_file),
                       extra_args=["--certificate", str(chain), "--key", str(key)])
    try:
        assert srv.url.startswith("https://127.0.0.1:")
        with caldav.DAVClient(url=srv.url, username=account.username,
                              password=account.password, ssl_verify_cert=str(ca_file)) as client:
            calendars = client.principal().calendars()
            assert [c.name for c in calendars] == ["Calendar"]
            calendars[0].save_event(EVENT.format(uid=uuid.uuid4().hex))
            assert len(calendars[0].events()) == 1
        # Plain HTTP on the TLS port gets no calendar data: a 400 or a closed connection.
        try:
            status: int | None = requests.get(srv.url.replace("https", "http") + "health",
                                              timeout=5).status_code
        except requests.ConnectionError:
            status = None
        assert status in (None, 400)
    finally:
        srv.stop()


@pytest.mark.parametrize(("args", "message"), [
    (["--certificate", "{chain}"], "TLS needs both --certificate and --key"),
    (["--certificate", "{missing}", "--key", "{key}"], "cannot read the certificate"),
    (["--certificate", "{key}", "--key", "{key}"], "cannot use the certificate and key"),
    (["--workers", "0"], "--workers and --threads must be at least 1"),
])
def test_bad_serving_options_are_one_line(args: list[str], message: str, database_url: str,
                                          tls_files: tuple[Path, Path, Path],
                                          tmp_path: Path) -> None:
    _, chain, key = tls_files
    values = {"chain": str(chain), "key": str(key), "missing": str(tmp_path / "nope.pem")}
    result = run_cli(["serve", "--host", "127.0.0.1", "--port", str(free_port()),
                      *(a.format(**values) for a in args)],
                     env={"BACKSIDE_DATABASE_URL": database_url}, timeout=60)
    assert result.returncode == 2
    assert message in one_line_error(result)


def test_sigterm_lets_the_request_in_flight_finish(database_url: str, tmp_path: Path) -> None:
    """A PUT held up inside the database when SIGTERM arrives still completes."""
    account = make_account(database_url)
    srv = start_server(database_url, tmp_path, extra_args=["--workers", "2"])
    url = f"{srv.url}{account.username}/calendar/graceful.ics"
    result: dict[str, int] = {}
    with psycopg.connect(libpq_url(database_url)) as blocker:
        blocker.execute("SELECT 1 FROM calendars WHERE tenant_id = %s FOR UPDATE",
                        (account.tenant_id,))

        def put() -> None:
            result["status"] = requests.put(url, data=EVENT.format(uid=uuid.uuid4().hex),
                                            auth=(account.username, account.password),
                                            headers={"Content-Type": "text/calendar"},
                                            timeout=60).status_code

        thread = threading.Thread(target=put)
        thread.start()
        wait_for_lock_wait(blocker)
        srv.process.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert srv.process.poll() is None, "the server waits for the request in flight"
        blocker.rollback()  # let the PUT go on
        thread.join(timeout=60)
    assert result["status"] == 201
    assert srv.process.wait(timeout=40) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(srv.url + "health", timeout=2)


def test_access_log_names_who_did_what_without_the_password(server: Server,
                                                            account: Account) -> None:
    href = f"logged-{uuid.uuid4().hex[:8]}.ics"
    response = requests.put(f"{server.url}{account.username}/calendar/{href}",
                            data=EVENT.format(uid=uuid.uuid4().hex),
                            auth=(account.username, account.password),
                            headers={"Content-Type": "text/calendar"}, timeout=30)
    assert response.status_code == 201
    wrong = requests.request("PROPFIND", f"{server.url}{account.username}/",
                             auth=(account.username, "not the password " + href), timeout=30)
    assert wrong.status_code == 401
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        log = server.log.read_text(errors="replace")
        if f'/calendar/{href}" 201' in log and "not the password" not in log and \
                f'{account.username} "PROPFIND /{account.username}/" 401' in log:
            break
        time.sleep(0.1)
    assert f'{account.username} "PUT /{account.username}/calendar/{href}" 201' in log
    assert f'{account.username} "PROPFIND /{account.username}/" 401' in log
    assert account.password not in log
    assert "not the password" not in log


def _mapped_files(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def test_the_master_holds_no_database_or_radicale_code(server: Server) -> None:
    """The start-up check and migration ran in a child that exited; the master
    only forks and watches workers, so it never loads psycopg or SQLAlchemy."""
    master = server.process.pid
    workers = sorted(worker_pids(master))
    assert workers, "gunicorn has a worker"
    assert "psycopg" in _mapped_files(workers[0])
    assert "psycopg" not in _mapped_files(master)
    assert "sqlalchemy" not in _mapped_files(master)


def test_start_up_errors_from_the_child_are_one_line(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    unreachable = run_cli(["serve", "--port", str(free_port())], env={
        "BACKSIDE_DATABASE_URL": f"postgresql://nobody@127.0.0.1:{port}/x?connect_timeout=2"})
    assert unreachable.returncode == 2
    assert "cannot reach the database" in one_line_error(unreachable)
    missing = run_cli(["serve", "--port", str(free_port()), "--config", str(tmp_path / "no.conf")],
                      env={"BACKSIDE_DATABASE_URL": database_url})
    assert missing.returncode == 2
    assert "no Radicale config file at" in one_line_error(missing)
    for bad, reason in (("ftp://relay.example", "smtp:// or smtps://"),
                        ("smtp://relay.example:port", "not a number")):
        refused = run_cli(["serve", "--port", str(free_port())],
                          env={"BACKSIDE_DATABASE_URL": database_url, "BACKSIDE_SMTP_URL": bad})
        assert refused.returncode == 2
        assert reason in one_line_error(refused)


def test_workers_run_the_periodic_maintenance(database_url: str, tmp_path: Path) -> None:
    """A series another application wrote is indexed by a worker's pass, without
    a request; with two workers the passes take turns."""
    account = make_account(database_url)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as sql:
        cal_id = sql.execute("INSERT INTO calendars (tenant_id, name, href) VALUES (%s, 'M', 'm') "
                             "RETURNING id::text", (account.tenant_id,)).fetchone()[0]
        series = sql.execute(
            "INSERT INTO events (tenant_id, calendar_id, title, start_time, end_time, timezone, "
            "rrule) VALUES (%s, %s, 'SQL', '2026-11-01 20:00Z', '2026-11-01 21:00Z', 'UTC', "
            "'FREQ=DAILY') RETURNING id::text", (account.tenant_id, cal_id)).fetchone()[0]

        def indexed() -> int:
            stale, = sql.execute("SELECT occurrence_stale FROM events WHERE id = %s",
                                 (series,)).fetchone()
            count, = sql.execute("SELECT count(*) FROM event_instances WHERE event_id = %s",
                                 (series,)).fetchone()
            return 0 if stale else count

        assert indexed() == 0
        srv = start_server(database_url, tmp_path,
                           extra_args=["--workers", "2", "--maintenance-interval", "0.5"])
        try:
            deadline = time.monotonic() + 30
            while indexed() == 0 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert indexed() > 300  # the daily series, indexed for the coming year
            assert srv.process.poll() is None
        finally:
            srv.stop()


def test_workers_cap_malloc_arenas_where_libc_allows_it() -> None:
    import platform

    from backside_caldav.server import limit_malloc_arenas
    expected = platform.libc_ver()[0] == "glibc"
    assert limit_malloc_arenas() is expected
