"""`python -m bench.profile`: where the time of one calendar-multiget goes.

The server's WSGI app runs in this process (no HTTP, no other process), on a
fresh calendar of --events events in a scratch database, exactly as `serve`
builds it. Each multiget is timed without a profiler first (the wall time
per request), then again under cProfile, whose cumulative times are split
into the phases of a request: WSGI entry and middleware, the login check,
opening the transaction, Radicale's own request handling, reading the
members (SQL), writing the multistatus, and closing the transaction.
cProfile slows small calls more than large ones, so the phases are given as
shares of the profiled time, applied to the unprofiled wall time.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import io
import os
import pstats
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from . import data, servers
from .dav import MKCALENDAR_BODY, multiget_body

CALENDAR = "cal"

# (label, functions whose cumulative time is the phase, functions it excludes)
# A function is (module path suffix, function name).
Fn = tuple[str, str]
PHASES: list[tuple[str, list[Fn], list[Fn]]] = [
    ("login check (password cache, tenant)", [("radicale/auth/__init__.py", "login")],
     [("backside_caldav/request.py", "begin")]),
    ("open the transaction (BEGIN, login row, SET tenant)",
     [("backside_caldav/request.py", "begin")], []),
    ("read the members (SQL)", [("backside_caldav/db/event_reads.py", "get_members")], []),
    ("write the multistatus", [("backside_caldav/dav/member_reports.py", "render")], []),
    ("close the transaction (COMMIT, return the connection)",
     [("backside_caldav/request.py", "close")], []),
]
TOTAL: Fn = ("backside_caldav/dav/access_log.py", "__call__")


@dataclass
class Phase:
    label: str
    seconds: float


class InProcess:
    """The app and a Basic login, called as a WSGI server would."""

    def __init__(self, app: Callable[..., Iterable[bytes]], user: str, password: str) -> None:
        self.app = app
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.user = user

    def call(self, method: str, path: str, body: str = "", headers: dict[str, str] | None = None
             ) -> tuple[str, bytes]:
        raw = body.encode()
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "",
            "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "5232",
            "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
            "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(raw), "wsgi.errors": sys.stderr,
            "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
            "CONTENT_LENGTH": str(len(raw)), "HTTP_AUTHORIZATION": self.auth,
            "HTTP_HOST": "127.0.0.1:5232"}
        for name, value in (headers or {}).items():
            key = name.upper().replace("-", "_")
            environ[key if key in ("CONTENT_TYPE",) else "HTTP_" + key] = value
        status: list[str] = []

        def start_response(s: str, _headers: list, _exc: Any = None) -> None:
            status.append(s)

        answer = self.app(environ, start_response)
        out = b"".join(answer)
        close = getattr(answer, "close", None)
        if close is not None:
            close()
        return status[0], out


def cumulative(stats: pstats.Stats, wanted: list[Fn]) -> float:
    total = 0.0
    for (path, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        if any(path.endswith(suffix) and name == fn for suffix, fn in wanted):
            total += row[3]
    return total


def phases(stats: pstats.Stats) -> tuple[float, list[Phase]]:
    """The profiled total and its phases; the remainder is WSGI entry, middleware
    and Radicale's own handling of the request."""
    total = cumulative(stats, [TOTAL])
    found = [Phase(label, cumulative(stats, fns) - cumulative(stats, minus))
             for label, fns, minus in PHASES]
    rest = total - sum(p.seconds for p in found)
    found.insert(0, Phase("WSGI entry, guards, body and XML parse, Radicale's request "
                          "handling (paths, rights, dispatch)", rest))
    return total, found


def measure(client: InProcess, hrefs: list[str], batch: int, rounds: int, top: int = 0
            ) -> tuple[float, list[Phase]]:
    """Wall seconds per multiget of `batch` hrefs, and the profiled phases."""
    path = f"/{client.user}/{CALENDAR}/"
    headers = {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"}
    bodies = [multiget_body(hrefs[i:i + batch]) for i in range(0, len(hrefs), batch)]
    bodies = (bodies * (rounds // len(bodies) + 1))[:rounds]
    for body in bodies[:5]:
        client.call("REPORT", path, body, headers)  # warm-up
    started = time.perf_counter()
    for body in bodies:
        status, _ = client.call("REPORT", path, body, headers)
        assert status.startswith("207"), status
    wall = (time.perf_counter() - started) / len(bodies)
    profiler = cProfile.Profile()
    profiler.enable()
    for body in bodies:
        client.call("REPORT", path, body, headers)
    profiler.disable()
    stats = pstats.Stats(profiler)
    if top:
        stats.sort_stats("tottime").print_stats(top)
    total, found = phases(stats)
    return wall, [Phase(p.label, wall * p.seconds / total) for p in found]


def table(batch: int, wall: float, found: list[Phase]) -> str:
    lines = [f"calendar-multiget of {batch} hrefs: {wall * 1000:.2f} ms per request "
             f"({wall / batch * 1e6:.0f} us per member)", "",
             "| phase | ms per request | share |", "|---|---:|---:|"]
    for p in found:
        lines.append(f"| {p.label} | {p.seconds * 1000:.2f} | {p.seconds / wall:.0%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=200, help="multigets per batch size")
    parser.add_argument("--top", type=int, default=0,
                        help="also print the N functions with the most time of their own")
    args = parser.parse_args(argv)
    from backside_caldav.app import build_app
    from backside_caldav.db import engines
    with servers.bench_database(os.environ.get("BACKSIDE_DATABASE_URL")) as database:
        user, password, _key = servers.create_account(database.url)
        client = InProcess(build_app(database.url), user, password)
        client.call("PROPFIND", f"/{user}/", "", {"Depth": "0"})
        client.call("MKCALENDAR", f"/{user}/{CALENDAR}/", MKCALENDAR_BODY,
                    {"Content-Type": "application/xml"})
        events = data.generate(args.events)
        started = time.perf_counter()
        for event in events:
            status, _ = client.call("PUT", f"/{user}/{CALENDAR}/{event.href}", event.ics(),
                                    {"Content-Type": "text/calendar; charset=utf-8",
                                     "If-None-Match": "*"})
            assert status.startswith("201"), status
        print(f"{args.events} events loaded in {time.perf_counter() - started:.1f} s", flush=True)
        database.analyze()
        hrefs = [f"/{user}/{CALENDAR}/{e.href}" for e in events]
        for batch in (10, 100):
            wall, found = measure(client, hrefs, batch, args.rounds, args.top)
            print(table(batch, wall, found) + "\n", flush=True)
        engines.dispose_all()


if __name__ == "__main__":
    main()
