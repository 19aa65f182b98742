"""`backside-caldav db url | status | stop` (and `db-url`): the database in use.

The embedded PostgreSQL is started by the commands that need it and stopped
by the one that started it, unless something else still uses it (see
db/embedded.py); `db status` shows who, `db stop` stops it for the rest.
Like cli.py it imports psycopg and pgserver only inside the commands.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from urllib.parse import urlsplit, urlunsplit

from backside_caldav.db import embedded
from backside_caldav.db.settings import configured_database_url, default_data_dir, libpq_url
from backside_caldav.domain.errors import ConfigError

NOT_RUNNING = 3  # `db status` exit code when nothing answers (as `pg_ctl status`)


def cmd_url(args: argparse.Namespace) -> int:
    """The URL for other applications: an embedded server started here stays running."""
    url = configured_database_url() or embedded.start_embedded(default_data_dir(),
                                                               keep_running=True)
    print(libpq_url(url))
    return 0


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _external_status(url: str) -> int:
    import psycopg

    print("database: external (BACKSIDE_DATABASE_URL)")
    print(f"URL: {_without_password(libpq_url(url))}")
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=5, autocommit=True) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
    except psycopg.Error as exc:
        reason = (str(exc).strip().splitlines() or ["no answer"])[0]
        print(f"answers: no ({reason})")
        return NOT_RUNNING
    print(f"answers: yes (PostgreSQL {version})")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    url = configured_database_url()
    if url:
        return _external_status(url)
    status = embedded.inspect(default_data_dir())
    print(f"data folder: {status.pgdata}"
          + ("" if (status.pgdata / "PG_VERSION").exists() else " (not created yet)"))
    if not status.running:
        print("embedded PostgreSQL: not running"
              + (f" (stale postmaster.pid: PID {status.stale_pid} is another process)"
                 if status.stale else ""))
        return NOT_RUNNING
    print(f"embedded PostgreSQL: running, postmaster PID {status.pid}"
          + ("" if status.answers else ", not answering"))
    print(f"socket: {status.socket_dir}/.s.PGSQL.{status.port}")
    print(f"URL: {libpq_url(status.url() or '')}")
    users = status.users()
    print("used by: " + (", ".join(users) if users else "nobody"))
    return 0 if status.answers else NOT_RUNNING


def cmd_stop(args: argparse.Namespace) -> int:
    if configured_database_url():
        raise ConfigError("BACKSIDE_DATABASE_URL names an external server: "
                          "backside-caldav does not stop it")
    try:
        status = embedded.stop_embedded(default_data_dir(), force=args.force)
    except embedded.EmbeddedInUse as exc:
        raise ConfigError(f"the embedded PostgreSQL is in use by {exc}: "
                          "stop those first, or use --force") from None
    if not status.running:
        print(f"the embedded PostgreSQL in {status.pgdata} is not running"
              + (" (stale postmaster.pid)" if status.stale else ""))
    else:
        print(f"stopped the embedded PostgreSQL in {status.pgdata} (PID {status.pid})")
    return 0


def release() -> None:
    """At the end of every command: stop the embedded server if this process started
    it and nothing else uses it, else say on stderr what keeps it running."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        # A second Ctrl-C must not leave the server half stopped.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        users = embedded.stop_if_started_here()
    except Exception as exc:  # noqa: BLE001 - the command's own result stands
        print(f"backside-caldav: could not stop the embedded PostgreSQL: {exc}",
              file=sys.stderr)
        return
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if users:
        print(f"backside-caldav: the embedded PostgreSQL keeps running for "
              f"{', '.join(users)} (`backside-caldav db stop` stops it)", file=sys.stderr)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """`db-url` and the `db` command with its subcommands."""
    url_help = "print the database URL in use"
    url_description = ("Print the PostgreSQL URL in use (starting the embedded database if "
                       "needed, and leaving it running), for other applications and scripts.")
    top = sub.add_parser("db-url", help=url_help, description=url_description)
    top.set_defaults(func=cmd_url)
    db = sub.add_parser("db", help="the database: its URL, status; stop the embedded one",
                        description="The database in use: BACKSIDE_DATABASE_URL, or the "
                                    "embedded PostgreSQL under BACKSIDE_DATA_DIR.")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    url = db_sub.add_parser("url", help=url_help, description=url_description)
    url.set_defaults(func=cmd_url)
    status = db_sub.add_parser(
        "status", help="whether the database runs, and who uses it",
        description="Whether the embedded PostgreSQL runs (without starting it): its data "
                    "folder, socket, URL, postmaster PID and the processes using it. With "
                    f"BACKSIDE_DATABASE_URL: whether that server answers. Exit code "
                    f"{NOT_RUNNING} when it does not run or answer.")
    status.set_defaults(func=cmd_status)
    stop = db_sub.add_parser(
        "stop", help="stop the embedded PostgreSQL",
        description="Stop the embedded PostgreSQL. Refused while other processes use it, "
                    "unless --force (their sessions are ended). `serve`, `sidecar`, `mcp` "
                    "and the other commands stop it themselves when they started it; "
                    "after `db-url` it keeps running.")
    stop.add_argument("--force", action="store_true",
                      help="stop it even while clients are connected")
    stop.set_defaults(func=cmd_stop)
