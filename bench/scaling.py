"""Throughput against 8 concurrent clients with `serve --workers` 1, 2 and 4.

Run by `bench.run` after the sizes, on the smallest size's calendar (already
loaded in both servers' storage): each server configuration is started on
it in turn and 8 client threads, each with its own keep-alive connection,
send one kind of request as fast as answers come back for a fixed time.
Stock Radicale (one process, a thread per connection) answers the same
clients on the same calendar for comparison. The clients run on the same
machine and take CPU too: the curve is what this machine serves, not what
the server would on cores of its own.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import servers
from .dav import DavClient, parse_multistatus
from .measure import percentile

WORKERS = (1, 2, 4)
CLIENTS = 8
SECONDS = 5.0
KINDS = ("poll", "multiget10")
LABELS = {"poll": "poll (PROPFIND getctag)", "multiget10": "calendar-multiget of 10"}


@dataclass
class Point:
    server: str
    workers: int | None  # None: Radicale, one process
    kind: str
    rate: float  # answers per second, all clients together
    median_ms: float
    p95_ms: float
    answers: int


def _hammer(kind: str, client: DavClient, hrefs: list[str], seconds: float
            ) -> tuple[int, list[float]]:
    """CLIENTS threads sending `kind` until the time is up: answers and latencies."""
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS + 1)
    stop_at: list[float] = []

    def work(seed: int) -> None:
        pick = random.Random(seed)
        mine: list[float] = []
        start.wait()
        while time.perf_counter() < stop_at[0]:
            began = time.perf_counter()
            if kind == "poll":
                client.poll()
            else:
                client.multiget(pick.sample(hrefs, 10))
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    stop_at.append(time.perf_counter() + seconds)
    start.wait()
    for t in threads:
        t.join(seconds * 10 + 60)
    return len(latencies), latencies


def _measure(name: str, workers: int | None, url: str, user: str, password: str,
             calendar: str, seconds: float, timeout_s: float) -> Iterator[Point]:
    client = DavClient(url, user, password, calendar, timeout_s)
    try:
        own = client.calendar_path.rstrip("/")
        hrefs = [h for h in parse_multistatus(client.list_etags().content).etags
                 if client.href_path(h).rstrip("/") != own]
        for kind in KINDS:
            _hammer(kind, client, hrefs, min(1.0, seconds))  # warm every connection
            started = time.perf_counter()
            answers, latencies = _hammer(kind, client, hrefs, seconds)
            elapsed = time.perf_counter() - started
            yield Point(name, workers, kind, answers / elapsed,
                        statistics.median(latencies) * 1000,
                        percentile(latencies, 95) * 1000, answers)
    finally:
        client.close()


def run(database_url: str, workdir: Path, calendar: str, login: tuple[str, str, str],
        seconds: float = SECONDS, timeout_s: float = 120.0,
        log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """The points of the curve, Radicale's last."""
    points: list[Point] = []
    configs: list[tuple[str, int | None, Callable[[], AbstractContextManager[Any]]]] = [
        ("backside", w, lambda w=w: servers.backside(database_url, workdir, workers=w))
        for w in WORKERS]
    configs.append(("radicale", None, lambda: servers.radicale(workdir)))
    for name, workers, start in configs:
        log(f"scaling: {name}" + (f" with {workers} worker(s)" if workers else "")
            + f", {CLIENTS} clients")
        with start() as server:
            user, password = (login[0], login[1]) if name == "backside" else \
                (servers.BENCH_USER, "any-password")
            points += _measure(name, workers, server.url, user, password, calendar, seconds,
                               timeout_s)
    return [asdict(p) for p in points]


def markdown(points: list[dict[str, Any]], events: int) -> list[str]:
    """The curve as a table: one row per server configuration."""
    if not points:
        return []
    out = [f"## More cores: {CLIENTS} concurrent clients, {events:,} events", "",
           "| server | " + " | ".join(LABELS[k] for k in KINDS) + " |",
           "|---|" + "---:|" * len(KINDS)]
    base = {p["kind"]: p["rate"] for p in points
            if p["server"] == "backside" and p["workers"] == WORKERS[0]}
    rows: dict[tuple[str, int | None], dict[str, dict[str, Any]]] = {}
    for p in points:
        rows.setdefault((p["server"], p["workers"]), {})[p["kind"]] = p
    for (server, workers), kinds in rows.items():
        title = (f"backside-caldav, --workers {workers}" if server == "backside"
                 else "Radicale 3.9 (one process)")
        cells = []
        for kind in KINDS:
            p = kinds.get(kind)
            if p is None:
                cells.append("-")
                continue
            scale = f", {p['rate'] / base[kind]:.2f}x of 1 worker" if server == "backside" \
                and base.get(kind) else ""
            cells.append(f"{p['rate']:,.0f} req/s (p50 {p['median_ms']:.1f} ms, "
                         f"p95 {p['p95_ms']:.1f}{scale})")
        out.append(f"| {title} | " + " | ".join(cells) + " |")
    return out
