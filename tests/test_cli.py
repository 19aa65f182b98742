"""The command line: help, one-line errors, accounts, db-url, and the embedded
database surviving a restart of both the server and PostgreSQL."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import psycopg
import pytest
import requests
from conftest import Server, free_port, one_line_error, run_cli, start_server

from backside_caldav.db.settings import libpq_url


@pytest.mark.parametrize("args", [[], ["serve"], ["migrate"], ["db-url"], ["account", "add"],
                                  ["account", "passwd"], ["webhook", "add"],
                                  ["webhook", "deliveries"]])
def test_help(args: list[str]) -> None:
    result = run_cli(args + ["--help"])
    assert result.returncode == 0
    assert "usage: backside-caldav" in result.stdout


def test_bad_database_url_is_one_line() -> None:
    line = one_line_error(run_cli(["migrate"], env={"BACKSIDE_DATABASE_URL": "mysql://x@y/z"}))
    assert "postgresql://" in line


def test_unreachable_database_is_one_line() -> None:
    port = free_port()
    line = one_line_error(run_cli(["migrate"], env={
        "BACKSIDE_DATABASE_URL": f"postgresql://nobody@127.0.0.1:{port}/nothing?connect_timeout=2"}))
    assert "cannot reach the database" in line


def test_port_taken_is_one_line(database_url: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        line = one_line_error(run_cli(["serve", "--port", str(port)],
                                   env={"BACKSIDE_DATABASE_URL": database_url}))
    assert f"cannot listen on 127.0.0.1:{port}" in line


def test_account_add_and_errors(database_url: str) -> None:
    env = {"BACKSIDE_DATABASE_URL": database_url}
    ok = run_cli(["account", "add", "cli-user", "--tenant", "cli-tenant", "--password-stdin"],
             env=env, stdin="a good password\n")
    assert ok.returncode == 0, ok.stderr
    assert "cli-user" in ok.stdout
    with psycopg.connect(libpq_url(database_url)) as conn:
        stored = conn.execute("SELECT password_hash FROM accounts WHERE username = 'cli-user'"
                              ).fetchone()[0]
    assert stored.startswith("$argon2") and "a good password" not in stored
    again = run_cli(["account", "add", "cli-user", "--tenant", "cli-tenant", "--password-stdin"],
                env=env, stdin="a good password\n")
    assert "already exists" in one_line_error(again)
    short = run_cli(["account", "add", "cli-user2", "--tenant", "cli-tenant", "--password-stdin"],
                env=env, stdin="short\n")
    assert "at least 8" in one_line_error(short)
    bad_name = run_cli(["account", "add", "bad/name", "--tenant", "cli-tenant", "--password-stdin"],
                   env=env, stdin="a good password\n")
    assert "username" in one_line_error(bad_name)


def test_db_url_prints_the_configured_url(database_url: str) -> None:
    result = run_cli(["db-url"], env={"BACKSIDE_DATABASE_URL": database_url})
    assert result.returncode == 0
    assert result.stdout.strip() == libpq_url(database_url)


def test_password_change_takes_effect_at_once(server: Server, database_url: str) -> None:
    env = {"BACKSIDE_DATABASE_URL": database_url}
    run_cli(["account", "add", "pw-user", "--tenant", "pw-tenant", "--password-stdin"], env=env,
        stdin="first password\n").check_returncode()
    url = server.url + "pw-user/"
    assert requests.request("PROPFIND", url, auth=("pw-user", "first password")).status_code == 207
    run_cli(["account", "passwd", "pw-user", "--password-stdin"], env=env,
        stdin="second password\n").check_returncode()
    assert requests.request("PROPFIND", url, auth=("pw-user", "first password")).status_code == 401
    assert requests.request("PROPFIND", url, auth=("pw-user", "second password")).status_code == 207


def test_embedded_database_survives_restart(tmp_path: Path) -> None:
    import pgserver
    data_dir = tmp_path / "data"
    env = {"BACKSIDE_DATA_DIR": str(data_dir)}
    try:
        url = run_cli(["db-url"], env=env).stdout.strip()
        assert url.startswith("postgresql://")
        run_cli(["account", "add", "emb", "--tenant", "emb", "--password-stdin"], env=env,
            stdin="embedded password\n").check_returncode()
        event = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
                 "UID:persist-1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T090000Z\r\n"
                 "SUMMARY:Still here\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
        auth = ("emb", "embedded password")
        srv = start_server_embedded(tmp_path, env)
        try:
            r = requests.put(srv.url + "emb/calendar/p.ics", data=event, auth=auth,
                             headers={"Content-Type": "text/calendar"})
            assert r.status_code == 201
        finally:
            srv.stop()
        # Stop PostgreSQL too, so the next start reads the data from disk.
        pgserver.get_server(str(data_dir / "pgdata"), cleanup_mode="stop").cleanup()
        srv = start_server_embedded(tmp_path, env)
        try:
            r = requests.get(srv.url + "emb/calendar/p.ics", auth=auth)
            assert r.status_code == 200 and r.text == event
        finally:
            srv.stop()
    finally:
        if (data_dir / "pgdata").exists():
            pgserver.get_server(str(data_dir / "pgdata"), cleanup_mode="stop").cleanup()


def start_server_embedded(tmp_path: Path, env: dict[str, str]) -> Server:
    saved = os.environ.pop("BACKSIDE_DATABASE_URL", None)
    try:
        return start_server("", tmp_path, extra_env=env)
    finally:
        if saved is not None:
            os.environ["BACKSIDE_DATABASE_URL"] = saved
