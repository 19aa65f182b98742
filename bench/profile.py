"""`python -m bench.profile`: where the time of a multiget, a listing and a PUT goes.

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
from .dav import MKCALENDAR_BODY, listing_query_body, multiget_body

CALENDAR = "cal"

# (label, functions whose cumulative time is the phase, functions it excludes);
# a function is (module path suffix, function name). What is left of a request
# is the WSGI entry, guards, body and XML parse and Radicale's own handling.
Fn = tuple[str, str]
PhaseSpec = list[tuple[str, list[Fn], list[Fn]]]
LOGIN: PhaseSpec = [
    ("login check (password cache, tenant)", [("radicale/auth/__init__.py", "login")],
     [("backside_caldav/request.py", "begin")]),
    ("open the transaction (BEGIN, login row, SET tenant)",
     [("backside_caldav/request.py", "begin")], []),
]
CLOSE: PhaseSpec = [
    ("close the transaction (COMMIT, return the connection)",
     [("backside_caldav/request.py", "close")], []),
]
PHASES: dict[str, PhaseSpec] = {
    "multiget": [*LOGIN,
                 ("read the members (SQL)", [("backside_caldav/db/event_reads.py",
                                              "get_members")], []),
                 ("write the multistatus", [("backside_caldav/dav/member_reports.py",
                                             "render")], []),
                 *CLOSE],
    "listing": [*LOGIN,
                ("read the members (SQL, server-side cursor)",
                 [("backside_caldav/db/event_reads.py", "stream_heads")], []),
                ("write the body (responses, join, encode)",
                 [("backside_caldav/dav/listing.py", "_chunks")],
                 [("backside_caldav/db/event_reads.py", "stream_heads")]),
                *CLOSE],
    "put": [("check and parse the body (middleware)",
             [("backside_caldav/dav/middleware.py", "_put_refusal")], []),
            *LOGIN,
            ("write the rows (SQL: event, attendees, instances, triggers)",
             [("backside_caldav/db/event_writes.py", "create_if_new"),
              ("backside_caldav/db/event_writes.py", "put_item")], []),
            *CLOSE],
}
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


def phases(stats: pstats.Stats, spec: PhaseSpec) -> tuple[float, list[Phase]]:
    """The profiled total and its phases; the remainder is WSGI entry, middleware
    and Radicale's own handling of the request."""
    total = cumulative(stats, [TOTAL])
    found = [Phase(label, cumulative(stats, fns) - cumulative(stats, minus))
             for label, fns, minus in spec]
    rest = total - sum(p.seconds for p in found)
    found.insert(0, Phase("WSGI entry, guards, body and XML parse, Radicale's request "
                          "handling (paths, rights, dispatch)", rest))
    return total, found


Request = tuple[str, str, str, dict[str, str]]


def measure(client: InProcess, requests: list[Request], spec: PhaseSpec, ok: str,
            top: int = 0) -> tuple[float, list[Phase]]:
    """Wall seconds per request (the first half of `requests`, after five of them
    as a warm-up), and the phases of the second half under the profiler."""
    for method, path, body, headers in requests[:5]:
        client.call(method, path, body, headers)
    half = (len(requests) - 5) // 2
    timed, profiled = requests[5:5 + half], requests[5 + half:5 + 2 * half]
    started = time.perf_counter()
    for method, path, body, headers in timed:
        status, _ = client.call(method, path, body, headers)
        assert status.startswith(ok), status
    wall = (time.perf_counter() - started) / len(timed)
    profiler = cProfile.Profile()
    profiler.enable()
    for method, path, body, headers in profiled:
        client.call(method, path, body, headers)
    profiler.disable()
    stats = pstats.Stats(profiler)
    if top:
        stats.sort_stats("tottime").print_stats(top)
    total, found = phases(stats, spec)
    return wall, [Phase(p.label, wall * p.seconds / total) for p in found]


def table(title: str, wall: float, found: list[Phase]) -> str:
    lines = [f"{title}: {wall * 1000:.2f} ms per request", "",
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
        path = f"/{user}/{CALENDAR}/"
        hrefs = [path + e.href for e in events]
        xml = {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"}
        for batch in (10, 100):
            bodies = [multiget_body(hrefs[i:i + batch]) for i in range(0, len(hrefs), batch)]
            bodies = (bodies * (args.rounds // len(bodies) + 1))[:args.rounds]
            wall, found = measure(client, [("REPORT", path, b, xml) for b in bodies],
                                  PHASES["multiget"], "207", args.top)
            print(table(f"calendar-multiget of {batch} hrefs", wall, found) + "\n", flush=True)
        listing = [("REPORT", path, listing_query_body(), xml)] * max(15, args.rounds // 10)
        wall, found = measure(client, listing, PHASES["listing"], "207", args.top)
        print(table(f"calendar-query listing {args.events} events (getetag)", wall, found)
              + "\n", flush=True)
        ics = {"Content-Type": "text/calendar; charset=utf-8", "If-None-Match": "*"}
        puts = [("PUT", path + e.href, e.ics(), ics)
                for e in data.generate(args.rounds + 5, prefix="profiled")]
        wall, found = measure(client, puts, PHASES["put"], "201", args.top)
        print(table(f"PUT of a new event into {args.events} events", wall, found) + "\n",
              flush=True)
        engines.dispose_all()


if __name__ == "__main__":
    main()
