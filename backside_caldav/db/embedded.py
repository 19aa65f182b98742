"""The embedded PostgreSQL (pgserver) used when no database URL is configured."""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

from backside_caldav.domain.errors import ConfigError, DatabaseUnavailable

DATABASE_NAME = "backside_caldav"


def start_embedded(data_dir: Path, keep_running: bool = True) -> str:
    """Start (or join) the embedded server under data_dir and return its URL.

    pgserver shares one postgres process between all processes that use the
    same folder, so `serve`, `db-url` and other applications agree on it.
    """
    try:
        import pgserver
    except ImportError as exc:  # pragma: no cover - dependency is declared
        raise ConfigError("the embedded database needs the 'pgserver' package") from exc
    pgdata = data_dir / "pgdata"
    try:
        pgdata.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create data folder {pgdata}: {exc.strerror}") from exc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                server = pgserver.get_server(
                    str(pgdata), cleanup_mode=None if keep_running else "stop"
                )
        except Exception as exc:
            raise DatabaseUnavailable(
                f"could not start the embedded PostgreSQL in {pgdata}: {exc}"
            ) from exc
    exists = server.psql(
        f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';"
    )
    if "1 row" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    base = server.get_uri()  # postgresql://postgres:@/postgres?host=/socket/dir
    head, _, query = base.partition("?")
    head = head.rsplit("/", 1)[0] + "/" + DATABASE_NAME
    return head + ("?" + query if query else "")
