"""The production WSGI server: gunicorn with threaded workers, N processes, TLS.

gunicorn because it forks worker processes that share one listening socket,
restarts a worker that dies, speaks TLS, and stops gracefully on SIGTERM
(in-flight requests finish, for up to graceful_timeout seconds). Each worker
builds its own app after the fork, so no database connection crosses a fork,
and the master imports neither the app nor SQLAlchemy.
"""

from __future__ import annotations

import ctypes
import json
import logging
import signal
import socket
import ssl
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gunicorn.util
from gunicorn.app.base import BaseApplication

from backside_caldav.domain.errors import ConfigError

WSGIApp = Callable[[dict, Callable[..., Any]], Iterable[bytes]]

# The longest request line accepted (gunicorn's maximum): a sidecar query
# with 100 calendar ids is about 5,000 bytes.
LIMIT_REQUEST_LINE = 8190


def _write_problem(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's own answer to a request it cannot parse (414, 431, 400 ...), as an
    RFC 9457 problem document like every other error of this server, not HTML."""
    body = json.dumps({"type": "about:blank", "title": reason, "status": status_int,
                       "detail": mesg}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/problem+json\r\nContent-Length: {len(body)}\r\n\r\n")
    gunicorn.util.write_nonblock(sock, head.encode("latin-1") + body)


gunicorn.util.write_error = _write_problem  # gunicorn's workers call it by module attribute


@dataclass(frozen=True)
class ServeOptions:
    host: str
    port: int
    workers: int = 1
    threads: int = 8
    max_streams: int = 256  # change streams per worker, each a thread beside `threads`
    certificate: Path | None = None
    key: Path | None = None
    graceful_timeout: float = 30.0

    @property
    def scheme(self) -> str:
        return "https" if self.certificate else "http"

    @property
    def bind(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def check_options(options: ServeOptions) -> None:
    """Refuse bad options with one line before gunicorn starts (it would only log them)."""
    if not 0 < options.port < 65536:
        raise ConfigError(f"port must be 1-65535, got {options.port}")
    if options.workers < 1 or options.threads < 1:
        raise ConfigError("--workers and --threads must be at least 1")
    if not 0 <= options.max_streams <= 10000:
        raise ConfigError(f"--max-streams must be 0-10000, got {options.max_streams}")
    if bool(options.certificate) != bool(options.key):
        raise ConfigError("TLS needs both --certificate and --key")
    if options.certificate and options.key:
        # ssl names neither file when one cannot be read (a missing key is an
        # SSLError, a missing certificate "cannot read None"): open them first.
        for what, path in (("certificate", options.certificate), ("key", options.key)):
            try:
                with open(path, "rb"):
                    pass
            except OSError as exc:
                raise ConfigError(f"cannot read the {what} {path}: "
                                  f"{exc.strerror or exc}") from exc
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                str(options.certificate), str(options.key))
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"cannot use the certificate and key: {exc}") from exc
    family = socket.AF_INET6 if ":" in options.host else socket.AF_INET
    try:
        with socket.socket(family) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((options.host, options.port))
    except OSError as exc:
        raise ConfigError(f"cannot listen on {options.host}:{options.port}: "
                          f"{exc.strerror or exc}") from exc


M_ARENA_MAX = -8  # glibc's mallopt parameter number


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas in a worker; False where libc has no mallopt.

    glibc gives each thread that allocates while another holds the lock an
    arena of its own (up to 8 per core), and freed memory stays in the arena
    that served it. With 8 request threads that kept 6 MiB more resident
    after a first sync of 10,000 events; the GIL serializes most allocation
    anyway, so two arenas cost no measurable speed.
    """
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False


def _end_streams_on_exit() -> None:
    """gunicorn's worker waits up to graceful_timeout for open requests on SIGTERM;
    open change streams would hold it that long. End them first."""
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        previous = signal.getsignal(signum)
        if not callable(previous):
            continue

        def handler(sig: int, frame: Any, previous: Callable[..., Any] = previous) -> None:
            stream_module = sys.modules.get("backside_caldav.service.change_stream")
            if stream_module is not None:
                stream_module.stop_all()
            previous(sig, frame)

        signal.signal(signum, handler)


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, factory: Callable[[], WSGIApp], settings: dict[str, Any]) -> None:
        self._factory = factory
        self._settings = settings
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._settings.items():
            self.cfg.set(name, value)

    def load(self) -> WSGIApp:
        return self._factory()


def serve(factory: Callable[[], WSGIApp], options: ServeOptions, banner: str,
          on_worker_start: Callable[[], None] | None = None,
          after_fork: Callable[[], None] | None = None) -> None:
    """Run until SIGTERM or SIGINT. factory builds the app inside each worker,
    and on_worker_start runs there once it is built; after_fork runs first in
    a freshly forked worker (to drop what the parent held)."""
    check_options(options)

    def when_ready(_server: Any) -> None:
        print(f"{banner} on {options.scheme}://{options.bind}/ "
              f"({options.workers} worker{'s' if options.workers > 1 else ''})", flush=True)

    def post_fork(_server: Any, _worker: Any) -> None:
        if after_fork is not None:
            after_fork()
        limit_malloc_arenas()

    def post_worker_init(_worker: Any) -> None:
        if on_worker_start is not None:
            on_worker_start()
        _end_streams_on_exit()

    settings: dict[str, Any] = {
        "bind": [options.bind],
        "workers": options.workers,
        "worker_class": "gthread",
        # Open change streams park a thread each (service/change_stream.py): they get
        # threads of their own, so they never take a request's.
        "threads": options.threads + options.max_streams,
        "graceful_timeout": options.graceful_timeout,
        "timeout": 120,
        "keepalive": 5,
        "limit_request_line": LIMIT_REQUEST_LINE,
        "proc_name": "backside-caldav",
        # gunicorn's control socket has one default path per user: several
        # servers on one machine would take it from each other.
        "control_socket_disable": True,
        "accesslog": None,  # dav/access_log.py writes the access log
        "errorlog": "-",
        "loglevel": "warning",
        "when_ready": when_ready,
        "post_fork": post_fork,
        "post_worker_init": post_worker_init,
    }
    if options.certificate and options.key:
        settings["certfile"] = str(options.certificate)
        settings["keyfile"] = str(options.key)
    logging.getLogger("backside_caldav.access").setLevel(logging.INFO)
    sys.argv = sys.argv[:1]  # gunicorn must not read our own options as its own
    _Gunicorn(factory, settings).run()
