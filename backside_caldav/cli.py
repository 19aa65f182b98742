"""The `backside-caldav` command: serve, sidecar, migrate, maintain, mcp, composed with
account and tenant (cli_accounts.py), apikey (cli_keys.py), webhook (cli_webhooks.py),
import (cli_import.py), export (cli_export.py), import-htpasswd (cli_htpasswd.py), db and db-url (cli_db.py).

Every failure is one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from backside_caldav import (
    __version__,
    cli_accounts,
    cli_db,
    cli_export,
    cli_htpasswd,
    cli_imip,
    cli_import,
    cli_keys,
    cli_webhooks,
)
from backside_caldav import server as web_server
from backside_caldav.db.settings import configured_database_url, default_data_dir
from backside_caldav.domain.errors import BacksideError, ConfigError, DatabaseUnavailable
from backside_caldav.server import ServeOptions, WSGIApp, check_options


def resolve_database_url(keep_embedded_running: bool = False) -> str:
    """BACKSIDE_DATABASE_URL if set, else the embedded PostgreSQL (started if needed;
    if started here, stopped again when the command ends: see cli_db.release)."""
    url = configured_database_url()
    if url:
        return url
    from backside_caldav.db.embedded import start_embedded
    return start_embedded(default_data_dir(), keep_running=keep_embedded_running)


def _engine_checked(url: str):
    import sqlalchemy as sa

    from backside_caldav.db import engines
    engine = engines.get_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - reported as one line
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise DatabaseUnavailable(f"cannot reach the database: {reason}") from exc
    return engine


def _serve_options(args: argparse.Namespace) -> ServeOptions:
    return ServeOptions(
        host=args.host, port=args.port, workers=args.workers, threads=args.threads,
        max_streams=args.max_streams,
        certificate=Path(args.certificate) if args.certificate else None,
        key=Path(args.key) if args.key else None, graceful_timeout=args.graceful_timeout)


def in_child_process(job: Callable[[], None]) -> None:
    """Run a start-up job in a forked child; its one-line error is raised here.

    The gunicorn master only forks and watches workers; what it imports it
    holds for the server's lifetime. Checking the database and migrating need
    SQLAlchemy and Alembic (about 45 MiB), so a child does it and exits.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running the parent's cleanup
        os.close(read)
        code, message = 0, ""
        try:
            job()
        except (BacksideError, OSError, ValueError) as exc:
            code, message = 2, str(exc)
        except KeyboardInterrupt:
            code = 130
        except SystemExit as exc:  # SIGTERM (see main)
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # noqa: BLE001 - shown as the parent would show it
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os.write(write, message.encode())
        os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        message = pipe.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if code == 2:
        raise BacksideError(message)
    if code:
        raise SystemExit(code)


def _forget_pools() -> None:
    """In a freshly forked worker: the parent's pools are not this process's."""
    from backside_caldav.db import engines  # not imported by the master (see in_child_process)
    engines.forget_after_fork()


def _check_webhook_settings() -> None:
    """In the start-up child: a bad BACKSIDE_WEBHOOK_* value is one line here, not a
    failure in every worker."""
    from backside_caldav.domain import webhooks

    webhooks.RetryPolicy.from_env()
    webhooks.poll_seconds()


def _start_webhooks(url: str) -> None:
    """In each worker: the webhook deliverer's thread (workers share the work by leases)."""
    from backside_caldav.service import webhook_delivery
    webhook_delivery.start(url)


SHIPPED_CONFIG = Path(__file__).resolve().parents[1] / "config" / "radicale.conf"


def _start_scheduling(url: str, config: Path | None) -> None:
    """In each worker: the scheduling sender's thread (rows are claimed, never shared)."""
    from backside_caldav.scheduling import mail_sender, smtp_settings
    settings = smtp_settings.load(os.environ, config or SHIPPED_CONFIG)
    if settings is None:
        logging.getLogger("backside_caldav").info(
            "BACKSIDE_SMTP_URL is not set: invitations to people without a login here "
            "stay queued (backside-caldav imip queue)")
    mail_sender.Sender(url, settings).start()


def _deliver_after_commit() -> None:
    """Writes of this process deliver to the server's logins right after their
    commit (the `serve` composition does the same in app.py)."""
    from backside_caldav.scheduling import implicit, mail_sender
    implicit.on_commit(mail_sender.after_commit)


def _check_smtp_settings(config: Path | None) -> None:
    """A bad BACKSIDE_SMTP_URL stops `serve` at start, not at the first invitation."""
    from backside_caldav.scheduling import smtp_settings
    smtp_settings.load(os.environ, config or SHIPPED_CONFIG)


def worker_app(url: str, config: Path | None, max_streams: int) -> WSGIApp:
    """The app a `serve` worker builds after the fork. `serve` migrated already,
    so the storage need not check again, and the worker then never imports
    Alembic (with Mako and Pygments: 9 MiB of every worker)."""
    from backside_caldav.app import build_app
    return build_app(url, config, {"storage": {"auto_migrate": "False"}},
                     max_streams=max_streams)


def cmd_serve(args: argparse.Namespace) -> int:
    options = _serve_options(args)
    check_options(options)
    url = resolve_database_url()
    config = Path(args.config) if args.config else None

    def prepare() -> None:
        from backside_caldav.db import migrate
        from backside_caldav.domain import login_limits

        login_limits.configured_limits()  # a bad setting is refused here, not in every worker
        _check_webhook_settings()
        _check_smtp_settings(config)
        migrate.upgrade(_engine_checked(url))
        if config is not None and not config.is_file():
            raise ConfigError(f"no Radicale config file at {config}")

    in_child_process(prepare)

    def app() -> WSGIApp:
        return worker_app(url, config, args.max_streams)

    def start_maintenance() -> None:
        # In each worker (the master stays small); passes take turns by a lock.
        _start_webhooks(url)
        _start_scheduling(url, config)
        if args.maintenance_interval > 0:
            from backside_caldav.db import engines
            from backside_caldav.db.maintenance import PeriodicMaintenance
            PeriodicMaintenance(engines.get_engine(url), interval=args.maintenance_interval).start()

    web_server.serve(app, options, f"backside-caldav {__version__} serving CalDAV",
                     on_worker_start=start_maintenance, after_fork=_forget_pools)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from backside_caldav.db import migrate

    engine = _engine_checked(resolve_database_url())
    applied = migrate.upgrade(engine)
    print(f"schema at {migrate.head_revision()}" + (" (migrated)" if applied else " (up to date)"))
    return 0


def _migrated_engine():
    from backside_caldav.db import migrate

    engine = _engine_checked(resolve_database_url())
    migrate.upgrade(engine)
    return engine


def cmd_mcp(args: argparse.Namespace) -> int:
    """The MCP tools over stdio, for one key (BACKSIDE_API_KEY)."""
    import os

    from backside_caldav.db import engines

    # stdout is the MCP stream: while the database starts, whatever it (or a child
    # process it spawns) prints goes to stderr instead.
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        url = resolve_database_url()
        _migrated_engine()
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
    from backside_caldav.mcp.server import run_stdio
    _deliver_after_commit()
    return run_stdio(engines.get_app_engine(url))


def cmd_sidecar(args: argparse.Namespace) -> int:
    """The JSON API alone (same routes as under `serve`), e.g. on another port."""
    options = _serve_options(args)
    check_options(options)
    url = resolve_database_url()

    def prepare() -> None:
        from backside_caldav.db import migrate
        _check_webhook_settings()
        _check_smtp_settings(None)
        migrate.upgrade(_engine_checked(url))

    in_child_process(prepare)

    def app() -> WSGIApp:
        from backside_caldav.api import build_sidecar
        _deliver_after_commit()
        return build_sidecar(url, max_streams=args.max_streams)

    def start_workers() -> None:
        _start_webhooks(url)
        _start_scheduling(url, None)

    web_server.serve(app, options,
                     f"backside-caldav {__version__} serving the JSON API (/api/v1/)",
                     on_worker_start=start_workers, after_fork=_forget_pools)
    return 0


def cmd_maintain(args: argparse.Namespace) -> int:
    from backside_caldav.db import maintenance, migrate

    if args.trash_days < 0 or args.change_log_days < 0:
        raise ConfigError("retention periods must not be negative")
    engine = _engine_checked(resolve_database_url())
    migrate.upgrade(engine)
    report = maintenance.run_all(engine, args.trash_days, args.change_log_days)
    print(f"purged {report.purged_events} trashed events, "
          f"pruned {report.pruned_changes} change-log entries, "
          f"re-indexed {report.reindexed_series} series, "
          f"pruned {report.pruned_scheduling} old scheduling messages")
    return 0


def _server_arguments(parser: argparse.ArgumentParser, port: int) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=port, help=f"port to listen on ({port})")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes sharing the port (1)")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker (8)")
    parser.add_argument("--max-streams", type=int, default=256,
                        help="open change streams (/api/v1/changes/stream) per worker, each "
                             "on a thread of its own beside --threads (256)")
    parser.add_argument("--certificate", metavar="PEM",
                        help="serve HTTPS with this certificate chain (needs --key)")
    parser.add_argument("--key", metavar="PEM", help="private key of --certificate")
    parser.add_argument("--graceful-timeout", type=float, default=30,
                        help="on SIGTERM, seconds in-flight requests may take to finish (30)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backside-caldav",
        description="CalDAV server over the tenant's PostgreSQL calendar tables. "
                    "Uses $BACKSIDE_DATABASE_URL, or an embedded PostgreSQL under "
                    "$BACKSIDE_DATA_DIR when it is not set.")
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate the schema if needed and serve CalDAV",
                           description="Migrate the schema if needed and serve CalDAV "
                                       "(and the health check at /health) on one port.")
    _server_arguments(serve, port=5232)
    serve.add_argument("--config", help="Radicale config file (default: config/radicale.conf)")
    serve.add_argument("--maintenance-interval", type=float, default=60,
                       help="seconds between re-indexing passes for rows other writers "
                            "changed (60; 0 = off)")
    serve.set_defaults(func=cmd_serve)

    mig = sub.add_parser("migrate", help="bring the database schema up to date",
                         description="Apply pending schema migrations and exit.")
    mig.set_defaults(func=cmd_migrate)

    maintain = sub.add_parser(
        "maintain", help="re-index occurrences, purge the trash, prune the sync log",
        description="Re-index the occurrences and next_occurrence of rows other writers "
                    "changed (or whose next occurrence has passed), remove soft-deleted "
                    "events older than --trash-days and change-log entries older than "
                    "--change-log-days (clients holding older sync tokens then resync fully).")
    maintain.add_argument("--trash-days", type=float, default=30,
                          help="keep deleted events this many days (30)")
    maintain.add_argument("--change-log-days", type=float, default=60,
                          help="keep sync history this many days (60)")
    maintain.set_defaults(func=cmd_maintain)

    cli_accounts.add_parsers(sub, _migrated_engine)
    cli_keys.add_parsers(sub, _migrated_engine)
    cli_webhooks.add_parsers(sub, _migrated_engine)
    cli_imip.add_parsers(sub, _migrated_engine, resolve_database_url)
    cli_import.add_parsers(sub, _migrated_engine)
    cli_export.add_parsers(sub, _migrated_engine)
    cli_htpasswd.add_parsers(sub, _migrated_engine)
    cli_db.add_parsers(sub)

    mcp = sub.add_parser("mcp", help="serve the MCP tools over stdio (BACKSIDE_API_KEY)",
                         description="Serve the MCP tools on stdin/stdout for the API key in "
                                     "BACKSIDE_API_KEY (see README: MCP).")
    mcp.set_defaults(func=cmd_mcp)

    side = sub.add_parser("sidecar", help="serve only the JSON API",
                          description="Migrate the schema if needed and serve only the JSON "
                                      "API (/api/v1/), without CalDAV.")
    _server_arguments(side, port=5233)
    side.set_defaults(func=cmd_sidecar)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    # SIGTERM before gunicorn takes the signal over ends the command like Ctrl-C, so
    # an embedded PostgreSQL started here is stopped (cli_db.release).
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return args.func(args)
    except BacksideError as exc:
        print(f"backside-caldav: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"backside-caldav: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    finally:
        cli_db.release()
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
