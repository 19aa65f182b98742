"""The embedded PostgreSQL (pgserver) used when no database URL is configured.

One postgres process serves a data folder for every process that uses it
(`serve`, `db-url`, other applications). The command that started it stops
it again when it ends, unless something else still uses it: another process
of this product (pgserver lists those in pgdata/.handle_pids.json, and their
connections are named `backside-caldav[PID]`, see engines.py) or any other
client connected to it. `db-url` leaves it running: other applications use
the URL it prints. pgserver's own clean-up is not used: it stops the server
when its list says the last handle is gone, whatever is still connected.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from backside_caldav.domain.errors import BacksideError, ConfigError, DatabaseUnavailable

DATABASE_NAME = "backside_caldav"
PRODUCT_NAME = re.compile(r"^backside-caldav\[(\d+)\]")
STOP_TIMEOUT = 60
CLOSING_GRACE = 1.0  # seconds a closing session may take to leave

# (pid, pgdata) of the server this process started and stops when it ends.
_started: tuple[int, Path] | None = None


class EmbeddedInUse(BacksideError):
    """The embedded server has clients; it is not stopped under them."""


@dataclass
class EmbeddedStatus:
    pgdata: Path
    pid: int | None = None  # the postmaster's, when it runs
    # postmaster.pid's PID when that live process is not the postmaster (stale file)
    stale_pid: int | None = None
    socket_dir: Path | None = None
    port: int | None = None
    answers: bool = False
    # application_name of every other client session ("" if it set none)
    connections: list[str] = field(default_factory=list)
    processes: list[int] = field(default_factory=list)  # product processes holding it

    @property
    def running(self) -> bool:
        return self.pid is not None

    @property
    def stale(self) -> bool:
        return self.stale_pid is not None

    def url(self, database: str = DATABASE_NAME) -> str | None:
        if self.socket_dir is None:
            return None
        return f"postgresql://postgres:@/{database}?host={self.socket_dir}"

    def users(self) -> list[str]:
        """Who uses the server besides this process, as one short phrase each."""
        names = Counter(name or "(no application name)" for name in self.connections)
        named = {int(m.group(1)) for m in map(PRODUCT_NAME.match, names) if m}
        found = [f"backside-caldav[{pid}]" for pid in self.processes if pid not in named]
        return found + [f"{name} ({count})" if count > 1 else name
                        for name, count in sorted(names.items())]


def pgdata_of(data_dir: Path) -> Path:
    """The folder pgserver runs postgres on (resolved: pgserver passes it so)."""
    return (data_dir.expanduser() / "pgdata").resolve()


def _pgserver() -> ModuleType:
    """pgserver, imported without platformdirs' RuntimeDirWarning ("XDG_RUNTIME_DIR is
    not set"): pgserver asks for a runtime folder at import, the fallback under /tmp
    works, and users cannot act on the warning."""
    try:
        with warnings.catch_warnings():
            try:
                from platformdirs import RuntimeDirWarning
                warnings.simplefilter("ignore", RuntimeDirWarning)
            except ImportError:  # an older platformdirs does not warn
                pass
            import pgserver
    except ImportError as exc:  # pragma: no cover - dependency is declared
        raise ConfigError("the embedded database needs the 'pgserver' package") from exc
    return pgserver


def _alive(pid: int) -> bool:
    """Whether pid is a live process (not a zombie waiting for its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not Path("/proc").is_dir()  # /proc exists but had no entry: gone


def _is_postmaster_of(pid: int, pgdata: Path) -> bool:
    """Whether the live process pid is PostgreSQL's postmaster on pgdata, not some other
    process that got the PID of a postmaster that ended without removing postmaster.pid
    (a crash, a kill -9, a reboot). pgserver starts it as `.../bin/postgres -D pgdata
    ...`; a postmaster started otherwise is recognised by its working folder (postgres
    changes into its data folder). Without /proc (not Linux): trusted, as before."""
    proc = Path(f"/proc/{pid}")
    if not Path("/proc").is_dir():
        return True
    try:
        args = [arg.decode(errors="replace")
                for arg in (proc / "cmdline").read_bytes().split(b"\0")]
    except OSError:
        args = []
    if args and Path(args[0]).name.startswith("postgres"):
        data = [args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "-D"]
        data += [arg[2:] for arg in args if arg.startswith("-D") and len(arg) > 2]
        if any(Path(folder).is_absolute() and Path(folder).resolve() == pgdata
               for folder in data):
            return True
    try:
        return Path(os.readlink(proc / "cwd")) == pgdata
    except OSError:
        return False


def _postmaster(pgdata: Path) -> EmbeddedStatus:
    """What postmaster.pid says, if its process is alive and is that postmaster (if
    another process has its PID: stale_pid); never starts anything."""
    status = EmbeddedStatus(pgdata)
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return status
    if not _alive(pid):
        return status
    if not _is_postmaster_of(pid, pgdata):
        status.stale_pid = pid
        return status
    status.pid = pid
    if len(lines) > 4 and lines[4].strip():
        status.socket_dir = Path(lines[4].strip())
    with contextlib.suppress(ValueError, IndexError):
        status.port = int(lines[3])
    return status


def _remove_stale_lock_files(pgdata: Path) -> None:
    """Remove a postmaster.pid whose PID now belongs to another live process, and the
    socket's lock file naming that PID: pgserver would take that process for the
    server and not start one, and postgres refuses lock files of a live PID. Only
    under pgserver's lock (a server starting now would write a new postmaster.pid)."""
    if not _postmaster(pgdata).stale:
        return
    postmaster_pid = pgdata / "postmaster.pid"
    with contextlib.suppress(OSError, ValueError, IndexError):
        lines = postmaster_pid.read_text().splitlines()
        socket_lock = Path(lines[4].strip()) / f".s.PGSQL.{int(lines[3])}.lock"
        if lines[4].strip() and socket_lock.read_text().split()[0] == lines[0].strip():
            socket_lock.unlink()
    with contextlib.suppress(FileNotFoundError):
        postmaster_pid.unlink()


def _handle_pids(pgdata: Path) -> list[int]:
    try:
        pids = json.loads((pgdata / ".handle_pids.json").read_text())
    except (OSError, ValueError):
        return []
    return [pid for pid in pids if isinstance(pid, int)]


def inspect(data_dir: Path) -> EmbeddedStatus:
    """The embedded server under data_dir: running or not, and who uses it (besides
    this process and processes that have ended)."""
    status = _postmaster(pgdata_of(data_dir))
    if not status.running:
        return status
    status.processes = [pid for pid in _handle_pids(status.pgdata)
                        if pid != os.getpid() and _alive(pid)]
    try:
        status.connections = _other_sessions(status)
        status.answers = True
    except Exception:  # noqa: BLE001 - reported as "not answering"
        status.answers = False
    return status


def _other_sessions(status: EmbeddedStatus) -> list[str]:
    import psycopg

    with psycopg.connect(host=str(status.socket_dir), port=status.port, user="postgres",
                         dbname="postgres", connect_timeout=5, autocommit=True,
                         application_name=f"backside-caldav[{os.getpid()}] db") as conn:
        rows = conn.execute("SELECT application_name FROM pg_stat_activity "
                            "WHERE backend_type = 'client backend' "
                            "AND pid <> pg_backend_pid()").fetchall()
    names = []
    for (name,) in rows:
        product = PRODUCT_NAME.match(name or "")
        # This process's own pools, and sessions of product processes that have
        # ended (their backends go a moment later), are not users.
        if product and (int(product.group(1)) == os.getpid() or not _alive(int(product.group(1)))):
            continue
        names.append(name or "")
    return names


def start_embedded(data_dir: Path, keep_running: bool = False) -> str:
    """Start (or join) the embedded server under data_dir and return its URL.

    If this call starts it and keep_running is false, stop_if_started_here
    stops it again at the end of the command.
    """
    global _started
    pgserver = _pgserver()
    pgdata = data_dir / "pgdata"
    try:
        pgdata.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create data folder {pgdata}: {exc.strerror}") from exc
    with pgserver.PostgresServer._lock:
        _remove_stale_lock_files(pgdata.resolve())
        was_running = _postmaster(pgdata.resolve()).running
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                server = pgserver.get_server(str(pgdata), cleanup_mode=None)
        except Exception as exc:
            raise DatabaseUnavailable(
                f"could not start the embedded PostgreSQL in {pgdata}: {exc}"
            ) from exc
    if not was_running and not keep_running:
        _started = (os.getpid(), pgdata.resolve())
    exists = server.psql(
        f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';"
    )
    if "1 row" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    base = server.get_uri()  # postgresql://postgres:@/postgres?host=/socket/dir
    head, _, query = base.partition("?")
    head = head.rsplit("/", 1)[0] + "/" + DATABASE_NAME
    return head + ("?" + query if query else "")


def stop_embedded(data_dir: Path, force: bool = False) -> EmbeddedStatus:
    """Stop the embedded server under data_dir (what it was is returned; not running:
    nothing to do). With clients other than this process it raises EmbeddedInUse,
    unless force: then their sessions are ended."""
    engines = sys.modules.get("backside_caldav.db.engines")
    if engines is not None:
        engines.dispose_all()  # this process's own pools are no reason to stay
    pgserver = _pgserver()
    # pgserver's lock: a process joining now waits, and starts the server again after.
    with pgserver.PostgresServer._lock:
        status = inspect(data_dir)
        if not status.running:
            return status
        users = status.users()
        deadline = time.monotonic() + CLOSING_GRACE
        while users and not force and time.monotonic() < deadline:
            time.sleep(0.1)  # a session just closed takes a moment to leave
            status = inspect(data_dir)
            users = status.users() if status.running else []
        if not status.running:
            return status
        if users and not force:
            raise EmbeddedInUse(", ".join(users))
        _fast_shutdown(status)
        handles = status.pgdata / ".handle_pids.json"
        with contextlib.suppress(OSError):
            handles.write_text(json.dumps(status.processes))  # only the live ones stay
    return status


def _fast_shutdown(status: EmbeddedStatus) -> None:
    """What `pg_ctl stop -m fast` does: SIGINT to the postmaster (it ends the sessions,
    checkpoints, exits), then wait for it. Signalled directly: as root, pg_ctl must run
    as pgserver's user, who may not reach a data folder under a 0700 parent."""
    assert status.pid is not None
    try:
        os.kill(status.pid, signal.SIGINT)
    except ProcessLookupError:
        return
    except PermissionError as exc:
        raise DatabaseUnavailable(f"not allowed to stop the PostgreSQL of {status.pgdata} "
                                  f"(PID {status.pid})") from exc
    deadline = time.monotonic() + STOP_TIMEOUT
    while _alive(status.pid):
        if time.monotonic() > deadline:
            raise DatabaseUnavailable(f"the PostgreSQL of {status.pgdata} (PID {status.pid}) "
                                      f"did not stop within {STOP_TIMEOUT} seconds")
        time.sleep(0.05)


def stop_if_started_here() -> list[str] | None:
    """At the end of a command: stop the server this process started, unless others
    use it. Returns who still uses it, or None when there was nothing to do. Only
    in the process that started it (gunicorn's workers pass through here too)."""
    global _started
    if _started is None or _started[0] != os.getpid():
        return None
    pgdata = _started[1]
    _started = None
    try:
        stop_embedded(pgdata.parent)
    except EmbeddedInUse:
        return inspect(pgdata.parent).users()
    return []
