"""`python -m bench.run`: backside-caldav against stock Radicale 3.9, same calendar.

Both servers run on this machine on loopback ports; each size gets a fresh
calendar and freshly started server processes (so peak memory is per size).
The database is a new bench_<random> database on $BACKSIDE_DATABASE_URL's
server, or an embedded PostgreSQL when that is unset; it is dropped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg

from . import data, events_api, report, scaling, scheduling, servers
from .dav import DavClient
from .measure import (
    GROUPS,
    MEASURED_STEPS,
    SLOW_RUN_S,
    SPECS,
    Result,
    Scenario,
    Settings,
    write_files,
)

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results"
BACKSIDE_MIN_TIMEOUT = 600.0  # backside is bounded too, just more generously
ENV_URL = "BACKSIDE_DATABASE_URL"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark backside-caldav against stock Radicale 3.9 with the requests "
                    "real CalDAV clients send. Uses $BACKSIDE_DATABASE_URL's server for a "
                    "scratch database (else an embedded PostgreSQL).")
    parser.add_argument("--sizes", default="1000,10000",
                        help="comma-separated calendar sizes in events (1000,10000)")
    parser.add_argument("--large", action="store_true", help="add 100000 to --sizes")
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT,
                        help="where latest.json and latest.md go (bench/results)")
    parser.add_argument("--radicale-timeout", type=float, default=120.0,
                        help="seconds per Radicale request (and per multi-request run) before "
                             "it counts as a timeout and larger sizes skip Radicale (120)")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny run (30 events, few repetitions) for the smoke test")
    parser.add_argument("--seed", type=int, default=2026, help="data generator seed (2026)")
    parser.add_argument("--no-scaling", action="store_true",
                        help="skip the --workers 1/2/4 curve against 8 clients (run at the "
                             "smallest size after the sizes; about 1 minute)")
    parser.add_argument("--only", choices=sorted(GROUPS),
                        help="measure one group of rows (after the same loading): caldav, "
                             "events (the event API, /api/v1/events), scheduling (invitations "
                             "and outbox free-busy) or feed (the change stream)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = "30"
    try:
        sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        parser.error("--sizes takes numbers, e.g. 1000,10000")
    if args.large:
        sizes = sorted({*sizes, 100000})
    if not sizes or min(sizes) < 20:
        parser.error("every size must be at least 20 events")
    if args.radicale_timeout <= 0:
        parser.error("--radicale-timeout must be positive")
    args.size_list = sizes
    args.steps = GROUPS[args.only] if args.only else MEASURED_STEPS
    return args


def settings_for(args: argparse.Namespace) -> Settings:
    if args.quick:
        return Settings(put_sample=10, put_budget_s=5.0, min_runs=2, max_runs=3, budget_s=0.5,
                        sync_max_runs=2, sync_budget_s=1.0, timeout_s=args.radicale_timeout)
    return Settings(put_sample=min(100, min(args.size_list) // 2),
                    timeout_s=args.radicale_timeout)


def machine_info(database: servers.Database) -> dict[str, Any]:
    import radicale

    import backside_caldav
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.1f}"
    return {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "cpu_count": os.cpu_count(), "cpu_model": model, "memory_gib": memory,
            "platform": platform.platform(), "python": platform.python_version(),
            "radicale": radicale.VERSION, "backside": backside_caldav.__version__,
            "postgres": database.server_version, "postgres_where": database.where,
            "database": database.name, "autovacuum": database.autovacuum,
            "code": code_version(),
            "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg())}


def code_version() -> str:
    """The commit measured, and whether the work tree had changes on top of it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=servers.ROOT,
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=servers.ROOT, capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + (" + uncommitted changes" if dirty else "")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def database_mib(url: str) -> float:
    with psycopg.connect(url) as conn:
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return round(int(size[0]) / 2**20, 1) if size else 0.0


def folder_mib(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20, 1)


def _summarize_info(scenario: Scenario) -> dict[str, Any]:
    info = dict(scenario.info)
    results = scenario.results
    etag = results["week_etag"].info.get("results", "-")
    expanded = results["week_expand"].info.get("results", "-")
    info["week_results"] = f"{etag} / {expanded}"
    info["first_sync_items"] = results["first_sync_davx5"].info.get("items")
    info["sync_after_edits_changed"] = results["sync_after_edits"].info.get("changed")
    info["sync_initial_listed"] = results["sync_initial"].info.get("listed")
    return info


def skipped(note: str) -> dict[str, Result]:
    return {s.key: Result("skipped", note=note) for s in SPECS}


def bench_size(size: int, events: list[data.Event], database: servers.Database,
               login: tuple[str, str, str], workdir: Path, settings: Settings,
               with_radicale: bool, steps: list[str] = MEASURED_STEPS
               ) -> tuple[dict[str, dict[str, Result]], dict[str, dict[str, Any]]]:
    """One size on freshly started servers (so peak memory is per size).

    Measurements run one server at a time. Only the unmeasured bulk loading and
    warm-up of the two servers overlap, which keeps the run short.
    """
    backside_settings = dataclasses.replace(
        settings, timeout_s=max(settings.timeout_s, BACKSIDE_MIN_TIMEOUT))
    calendar = f"cal{size}"
    radicale_folder = servers.radicale_calendar_folder(workdir, servers.BENCH_USER, calendar)
    with contextlib.ExitStack() as stack:
        b_server = stack.enter_context(servers.backside(database.url, workdir))
        b_client = DavClient(b_server.url, login[0], login[1], calendar,
                             backside_settings.timeout_s)
        stack.callback(b_client.close)
        b = Scenario("backside", b_client, events, backside_settings,
                     maintenance=database.analyze)
        b_api = events_api.ApiClient(b_server.url, login[2], backside_settings.timeout_s)
        stack.callback(b_api.close)
        b.extra_steps = {**events_api.BacksideSteps(b, b_api, database.url, b_server.url,
                                                    login[2]).steps(),
                         **scheduling.steps(b, database.url)}
        scenarios = [b]
        r: Scenario | None = None
        if with_radicale:
            r_server = stack.enter_context(servers.radicale(workdir))
            r_client = DavClient(r_server.url, servers.BENCH_USER, "any-password", calendar,
                                 settings.timeout_s)
            stack.callback(r_client.close)
            r = Scenario("radicale", r_client, events, settings,
                         bulk_loader=lambda evs: write_files(radicale_folder, evs, r.cancel))
            r.extra_steps = {**events_api.radicale_steps(r), **scheduling.radicale_steps(r)}
            scenarios.append(r)
        for scenario in scenarios:
            scenario.c.mkcalendar()
            scenario.attempt("put_empty")
        log(f"{size:>6} events: loading backside-caldav by PUT ({settings.load_threads} "
            "threads)" + (" while Radicale gets its files and warms up" if r else ""))
        pool = ThreadPoolExecutor(len(scenarios))
        try:
            for future in [pool.submit(sc.attempt, "load") for sc in scenarios]:
                future.result()
        except BaseException:
            # Stop the loaders and do not wait for a request in flight: stopping the
            # servers (the ExitStack, next) ends it.
            for scenario in scenarios:
                scenario.cancel.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        log(f"{size:>6} events: measuring backside-caldav (pid {b_server.pid})")
        b.measure_all(steps)
        b.finish(b_server.peak_rss_mib)
        if r is not None:
            log(f"{size:>6} events: measuring Radicale (pid {r_server.pid})")
            r.measure_all(steps)
            r.finish(r_server.peak_rss_mib)
    results = {"backside": b.results}
    info = {"backside": _summarize_info(b)}
    info["backside"]["disk_mib"] = database_mib(database.url)
    if r is not None:
        results["radicale"] = r.results
        info["radicale"] = _summarize_info(r)
        info["radicale"]["disk_mib"] = folder_mib(radicale_folder)
    return results, info


def notes_for(settings: Settings) -> list[str]:
    """What every reader of the numbers should know about how they were made."""
    return [
        "Times are client-side round trips over loopback (request sent to body fully "
        "received). Each value is the median of repeated runs with p95 (nearest rank) beside "
        f"it: up to {settings.max_runs} runs, at least {settings.min_runs} unless one run is so "
        f"slow that more would pass {3 * settings.budget_s:g} s; first syncs up to "
        f"{settings.sync_max_runs} runs within about {settings.sync_budget_s:g} s. A warm-up "
        f"run is discarded when it is fast; requests slower than {SLOW_RUN_S:g} s count their "
        "first run (the caches were warmed after loading). JSON has the run counts.",
        f"PUT rates: {settings.put_sample} new events PUT one after another by one client "
        f"(If-None-Match: *), stopping early after {settings.put_budget_s:g} s; 'empty' is "
        "into the new calendar, 'full' after loading and all other CalDAV measurements.",
        "Event API rows (/api/v1/events, a Bearer key of the login's tenant) run after the "
        "CalDAV rows, on the same calendar (filtered by calendar_id): the week's list with "
        "limit 50 (a first page, next_cursor set) and 500 (the whole week); a read cycling "
        "through the week's events; up to "
        f"{settings.put_sample} creates (a timed event in Europe/Berlin with a reminder and "
        "one attendee) and as many title patches of the week's events with the ETag the "
        "list gave (If-Match), one after another, with the PUT rates' time bound. Radicale "
        "has no such API: the limit-500 row shows its week calendar-query with calendar-data "
        "(the same figure as that row), the create row its PUT rate into the full calendar, "
        "the others n/a.",
        f"Scheduling rows run after the event API rows: up to {settings.put_sample} new "
        "meetings PUT one after another (If-None-Match: *), each organized by the bench "
        "login with a colleague of its tenant, a login of another tenant (its inbox message "
        "and calendar copy are written before the PUT answers; the row checks each arrived) "
        "and an outside guest (mail queued, no relay set), with the PUT rates' time bound; "
        "then the outbox free-busy POST for the week, asking for the organizer and the "
        "colleague. Radicale stores the same meetings and sends nothing; it has no outbox, "
        "so its week free-busy-query stands in.",
        f"Radicale gets its first {settings.put_sample} events by PUT (the 'empty calendar' "
        "rate); the rest are written straight into its filesystem layout "
        "(collection-root/<user>/<calendar>/<uid>.ics with .Radicale.props from MKCALENDAR, "
        "which is how Radicale stores them), because Radicale's PUT scans the whole "
        "collection for UID clashes and loading 10,000 events by PUT would take too long. "
        "Loading is not measured; the PUT rates are real PUTs.",
        f"backside-caldav is loaded by PUT ({settings.load_threads} client threads), the "
        "same path clients use. Its loading overlaps Radicale's file writing and warm-up; "
        "the measurements never overlap (one server at a time).",
        "After loading, each server answers one full PROPFIND Depth 1 listing and one "
        "getctag/sync-token poll, unmeasured: Radicale builds its item cache and sync "
        "history there when its files were written directly.",
        "backside-caldav's scratch database gets ANALYZE each time the calendar has doubled "
        "during loading and after it, as autovacuum's auto-analyze would; the JSON records "
        "whether the server has autovacuum on.",
        "Peak RSS is the VmHWM of the server process plus its children (backside-caldav: "
        "the gunicorn master and its worker); PostgreSQL's memory is "
        "separate (its own processes) and not included.",
        "Radicale runs with auth type none; backside-caldav checks real Basic credentials "
        "(an account lookup per request, Argon2 verification cached), so it does a little "
        "more work per request. The first verification of a password takes 19 MiB (Argon2id "
        "with OWASP's parameters), part of backside-caldav's peak at every size.",
        "'sync-collection without a token' is the listing a client gets when it starts "
        "syncing a calendar with sync-collection (DAVx5 does where it is offered), asking "
        "getetag; the DAVx5-style first sync row uses PROPFIND Depth 1 instead.",
        "The week is " + data.WEEK_START + " to " + data.WEEK_END + "; 'week results' is "
        "the number of resources / expanded VEVENT instances returned.",
        "The expand measurement asks for calendar-data (with C:expand) only. The column "
        "'getetag + expand' shows whether asking for getetag as well works: Radicale 3.9 "
        "expands once per requested property on a shallow copy of the parsed item, which "
        "breaks when the item was parsed before (backside's get_filtered returns items "
        "unconfirmed, so Radicale's filter parses them first).",
        f"The 'more cores' table: after the sizes, on the {scaling.CLIENTS}-client curve's "
        "calendar (the smallest size, as loaded), backside-caldav is started with --workers "
        f"{', '.join(map(str, scaling.WORKERS))} in turn and stock Radicale once; "
        f"{scaling.CLIENTS} client threads (each its own keep-alive connection) send one kind "
        f"of request as fast as answers come back for {scaling.SECONDS:g} s after a 1 s "
        "warm-up; the multiget asks 10 random members. The clients share the machine's "
        "cores with the servers and PostgreSQL.",
        "Each ratio is how many times better backside-caldav is (Radicale time / backside "
        "time, backside rate / Radicale rate, Radicale memory / backside memory); "
        "'>Nx' means Radicale timed out, so N is a lower bound.",
    ]


def findings_for(report_data: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """Disagreements between the servers and timeouts in this run."""
    notes: list[str] = []
    for size, per_server in sorted(report_data["info"].items(), key=lambda kv: int(kv[0])):
        b, r = per_server.get("backside", {}), per_server.get("radicale", {})
        for key, label in (("week_results", "week query results"),
                           ("first_sync_items", "first-sync item count"),
                           ("sync_after_edits_changed", "sync-after-edits changes"),
                           ("sync_initial_listed", "members listed by a tokenless sync")):
            if r.get(key) not in (None, "- / -") and b.get(key) != r.get(key):
                notes.append(f"At {size} events the servers disagree on the {label}: "
                             f"backside {b.get(key)}, Radicale {r.get(key)}.")
        if r.get("timed_out"):
            notes.append(f"Radicale hit the {args.radicale_timeout:g} s bound at {size} events "
                         f"({r['timed_out']}); its later measurements at this size and all "
                         "larger sizes were skipped.")
        for name, i in (("backside-caldav", b), ("Radicale", r)):
            if i.get("error"):
                notes.append(f"{name} failed a request at {size} events ({i['error']}); "
                             "its later measurements at this size were skipped.")
        if b.get("timed_out"):
            notes.append(f"backside-caldav hit its {BACKSIDE_MIN_TIMEOUT:g} s bound at {size} "
                         f"events ({b['timed_out']}).")
    return notes


def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = settings_for(args)
    started = time.monotonic()
    results: dict[int, dict[str, dict[str, Result]]] = {}
    info: dict[int, dict[str, Any]] = {}
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        admin_url = os.environ.get(ENV_URL, "").strip() or None
        log("database: " + ("a bench_* database on $" + ENV_URL if admin_url
                            else "an embedded PostgreSQL (pgserver)"))
        database = stack.enter_context(servers.bench_database(admin_url))
        machine = machine_info(database)
        login = servers.create_account(database.url)
        radicale_gave_up = ""
        for size in args.size_list:
            events = data.generate(size, seed=args.seed)
            results[size], info[size] = bench_size(size, events, database, login, workdir,
                                                   settings, not radicale_gave_up, args.steps)
            if radicale_gave_up:
                results[size]["radicale"] = skipped(radicale_gave_up)
                info[size]["radicale"] = {}
            elif info[size]["radicale"].get("timed_out"):
                radicale_gave_up = f"skipped: Radicale timed out at {size} events"
        curve: list[dict[str, Any]] = []
        if not (args.no_scaling or args.only not in (None, "caldav")):
            size = args.size_list[0]
            curve = scaling.run(database.url, workdir, f"cal{size}", login,
                                seconds=0.5 if args.quick else scaling.SECONDS,
                                timeout_s=settings.timeout_s, log=log)
    machine["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    report_data: dict[str, Any] = {
        "machine": machine,
        "settings": {**dataclasses.asdict(settings), "sizes": args.size_list, "quick": args.quick,
                     "seed": args.seed, "radicale_timeout_s": args.radicale_timeout,
                     "only": args.only,
                     "backside_timeout_s": max(settings.timeout_s, BACKSIDE_MIN_TIMEOUT)},
        "rows": report.build_rows(results, args.radicale_timeout,
                                  {*args.steps, "put_empty", "peak_rss"}),
        "info": {str(k): v for k, v in info.items()},
        "wall_time_s": round(time.monotonic() - started, 1),
        "scaling": {"events": args.size_list[0], "clients": scaling.CLIENTS,
                    "seconds": 0.5 if args.quick else scaling.SECONDS, "points": curve},
    }
    report_data["notes"] = notes_for(settings)
    report_data["findings"] = findings_for(report_data, args)
    return report_data


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def on_sigterm(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)  # unwinds the context managers: servers, database

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        report_data = run(args)
    except KeyboardInterrupt:
        log("interrupted; servers stopped and the scratch database dropped")
        return 130
    except SystemExit:
        log("terminated; servers stopped and the scratch database dropped")
        raise
    json_path, md_path = report.write(report_data, args.output_dir)
    print(report.console_table(report_data["rows"]))
    print("backside advantage: how many times faster (or leaner) backside-caldav is; "
          "below 1x Radicale is better")
    print()
    for finding in report_data["findings"]:
        print("finding:", finding)
    print(f"wall time {report_data['wall_time_s']:.0f} s; wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
