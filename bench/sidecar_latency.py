"""`python -m bench.sidecar_latency`: latency of the sidecar's search and availability.

Makes a scratch database bench_sidecar_<random> on a PostgreSQL server
(default postgresql://postgres@127.0.0.1:5432/postgres, or --admin-url),
fills it, serves the sidecar API in this process (waitress, loopback) and
times real HTTP requests; the database is dropped at the end.

- search: 100,000 events of one tenant, inserted by one SQL statement from
  varied words; typical queries (two words, a word prefix, a substring).
- availability: another tenant with 10,000 events in one calendar, a
  quarter of them recurring (daily, weekly, monthly; some endless); a check
  and a free-busy over one week.
Each figure is the median (and the slowest) of --runs runs after one warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid
from collections.abc import Callable

import psycopg
import requests
import sqlalchemy as sa

from backside_caldav.api import search
from backside_caldav.api.app import SidecarApp
from backside_caldav.db import engines as db
from backside_caldav.db import keys as apikeys
from backside_caldav.db import maintenance, migrate, search_queries, tenancy
from backside_caldav.db.settings import libpq_url

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

WORDS = [
    "budget", "review", "planning", "standup", "retro", "interview", "onboarding", "sync",
    "roadmap", "design", "kickoff", "workshop", "training", "lunch", "offsite", "launch",
    "customer", "partner", "quarterly", "weekly", "hiring", "security", "audit", "release",
    "marketing", "sales", "pipeline", "forecast", "strategy", "architecture", "database",
    "migration", "incident", "postmortem", "demo", "feedback", "coaching", "mentoring",
    "board", "investor", "contract", "renewal", "support", "escalation", "vendor", "legal",
    "compliance", "finance", "payroll", "benefits", "wellness", "yoga", "dentist", "school",
    "Müller", "Zürich", "café", "größe", "señor", "naïve",
]
PLACES = ["London HQ", "Berlin office", "Room 4.12", "Zoom", "Google Meet", "Café Central",
          "Paris", "New York", "Teams", "Lisbon hub", "Tokyo", "Remote"]

SYLLABLES = ["ka", "lo", "mi", "ren", "sa", "to", "vel", "dor", "in", "bra", "ston", "qui",
             "mar", "el", "zu", "fen", "ha", "gri", "po", "tan"]
# Common words first: titles draw skewed towards the front of the list (like real
# text, a few words are frequent and most are rare); ~8,000 rare made-up words.
VOCABULARY = WORDS + [a + b + c for a in SYLLABLES for b in SYLLABLES for c in SYLLABLES]
RARE = VOCABULARY[len(VOCABULARY) // 4]

SEARCH_SQL = """
INSERT INTO events (tenant_id, calendar_id, title, description, location, start_time, end_time)
SELECT %(t)s, %(c)s,
       initcap(w[1 + floor(nw * power(random(), 3))::int]) || ' '
           || w[1 + floor(nw * power(random(), 3))::int] || ' '
           || w[1 + floor(nw * power(random(), 2))::int],
       'Notes: ' || w[1 + floor(nw * power(random(), 3))::int] || ' '
           || w[1 + floor(nw * random())::int] || ' and '
           || w[1 + floor(nw * power(random(), 2))::int] || ' #' || n,
       p[1 + floor(np * random())::int] || CASE WHEN n %% 3 = 0 THEN ', floor ' || n %% 9 ELSE '' END,
       s, s + (interval '15 minutes' * (1 + n %% 8))
FROM generate_series(1, %(n)s) n,
     LATERAL (SELECT timestamptz '2025-01-01' + (n * 7919 %% 730) * interval '1 day'
                     + (n %% 40) * interval '15 minutes' + interval '7 hours' AS s) st,
     (SELECT %(words)s::text[] AS w, cardinality(%(words)s::text[]) AS nw,
             %(places)s::text[] AS p, cardinality(%(places)s::text[]) AS np) lists
"""

# A calendar of 10,000 events: 7,500 single events over two years around the
# measured week, 2,500 series that started within the year before it.
AVAILABILITY_SQL = """
INSERT INTO events (tenant_id, calendar_id, title, start_time, end_time, rrule, transparency,
                    status)
SELECT %(t)s, %(c)s, 'Event ' || n, s, s + interval '30 minutes' * (1 + n %% 4),
       CASE WHEN n %% 4 = 0 THEN
            (ARRAY['FREQ=DAILY', 'FREQ=WEEKLY;BYDAY=MO,WE', 'FREQ=WEEKLY', 'FREQ=MONTHLY',
                   'FREQ=DAILY;COUNT=200', 'FREQ=WEEKLY;INTERVAL=2'])[1 + (n / 4) %% 6] END,
       CASE WHEN n %% 23 = 0 THEN 'transparent' END,
       CASE WHEN n %% 29 = 0 THEN 'cancelled' END
FROM generate_series(1, %(n)s) n,
     LATERAL (SELECT CASE WHEN n %% 4 = 0
                 THEN timestamptz '2026-03-02' - (n * 7919 %% 365) * interval '1 day'
                 ELSE timestamptz '2025-03-02' + (n * 7919 %% 730) * interval '1 day' END
                 + (8 + n %% 10) * interval '1 hour' AS s) st
"""
WEEK = {"start": "2026-03-02T00:00:00Z", "end": "2026-03-09T00:00:00Z"}


def _database_url(admin_url: str, name: str) -> str:
    head, sep, query = admin_url.partition("?")
    base = head.rsplit("/", 1)[0] if head.count("/") > 2 else head
    return f"{base}/{name}{sep}{query}"


def _time(call: Callable[[], requests.Response], runs: int) -> tuple[float, float]:
    """Median and slowest wall time in milliseconds, after one warm-up call."""
    call().raise_for_status()
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        call().raise_for_status()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), max(times)


def _matches(url: str, tenant: str, q: str) -> int:
    """How many events the query matches in all (the API pages them, best first)."""
    query = search_queries.SearchQuery(
        tenant=tenant, text=q, tsquery=search.tsquery_of(q),
        pattern=f"%{q}%" if len(q) >= search.MIN_SUBSTRING else None, prefix=f"{q}%",
        calendar_id=None, window=None, after=None, limit=1_000_000)
    built = search_queries.search_sql(query)
    if built is None:
        return 0
    with tenancy.transaction(db.get_engine(url), tenant) as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM ({built[0]}) x"),
                            built[1]).scalar_one()


def _tenant(conn: psycopg.Connection, name: str) -> tuple[str, str]:
    tenant = conn.execute("INSERT INTO tenants (name) VALUES (%s) RETURNING id::text",
                          (name,)).fetchone()[0]
    calendar = conn.execute("INSERT INTO calendars (tenant_id, name, href) VALUES (%s, %s, 'c') "
                            "RETURNING id::text", (tenant, name)).fetchone()[0]
    return tenant, calendar


def run(admin_url: str, runs: int, search_events: int, availability_events: int) -> None:
    name = "bench_sidecar_" + uuid.uuid4().hex[:10]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = _database_url(admin_url, name)
    server = None
    try:
        engine = db.get_engine(url)
        migrate.upgrade(engine)
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            trgm = conn.execute("SELECT EXISTS (SELECT 1 FROM pg_extension "
                                "WHERE extname = 'pg_trgm')").fetchone()[0]
            search_tenant, search_cal = _tenant(conn, "search")
            began = time.perf_counter()
            conn.execute("SELECT setseed(0.42)")  # the same data every run
            conn.execute(SEARCH_SQL, {"t": search_tenant, "c": search_cal, "n": search_events,
                                      "words": VOCABULARY, "places": PLACES})
            search_load = time.perf_counter() - began
            avail_tenant, avail_cal = _tenant(conn, "availability")
            conn.execute(AVAILABILITY_SQL, {"t": avail_tenant, "c": avail_cal,
                                            "n": availability_events})
            conn.execute("VACUUM ANALYZE")  # as autovacuum would after a bulk load
        # Rows written with SQL are indexed by the maintenance pass, as `serve`
        # does within a minute (--maintenance-interval).
        began = time.perf_counter()
        indexed = maintenance.reindex(engine)
        index_time = time.perf_counter() - began
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        search_key = apikeys.create_key(engine, "search").secret
        avail_key = apikeys.create_key(engine, "availability").secret

        from waitress.server import create_server
        server = create_server(SidecarApp(engine), host="127.0.0.1", port=0, threads=4)
        threading.Thread(target=server.run, daemon=True).start()
        base = f"http://127.0.0.1:{server.effective_port}/api/v1"
        http = requests.Session()

        print(f"PostgreSQL {version}, pg_trgm {'installed' if trgm else 'NOT available'}; "
              f"median / slowest of {runs} runs over HTTP")
        print(f"search: {search_events:,} events (inserted in {search_load:.1f} s)")
        headers = {"Authorization": f"Bearer {search_key}"}
        for label, params in [
            ("two words 'budget review'", {"q": "budget review"}),
            (f"rare word '{RARE}'", {"q": RARE}),
            ("two words + one-week window", {"q": "budget review", **WEEK}),
            ("common word prefix 'plan'", {"q": "plan"}),
            ("substring 'ondon'", {"q": "ondon"}),
            ("no match 'zebra'", {"q": "zebra"}),
        ]:
            matches = _matches(url, search_tenant, params["q"])
            median, slowest = _time(lambda p=params: http.get(
                base + "/events/search", params=p, headers=headers), runs)
            print(f"  {label:32} {median:7.1f} ms  (slowest {slowest:6.1f} ms; "
                  f"{matches:,} events match)")

        headers = {"Authorization": f"Bearer {avail_key}"}
        print(f"availability: {availability_events:,} events in one calendar, "
              f"{availability_events // 4:,} recurring; one week "
              f"({indexed:,} series indexed in {index_time:.1f} s first)")
        doc = http.post(base + "/availability/check", json=WEEK, headers=headers).json()
        median, slowest = _time(lambda: http.post(base + "/availability/check", json=WEEK,
                                                  headers=headers), runs)
        print(f"  {'POST /availability/check':32} {median:7.1f} ms  (slowest {slowest:6.1f} ms,"
              f" {doc['conflict_count']} conflicting instances)")
        slot = {"start": "2026-03-04T12:00:00Z", "end": "2026-03-04T12:30:00Z"}
        median, slowest = _time(lambda: http.post(base + "/availability/check", json=slot,
                                                  headers=headers), runs)
        print(f"  {'  (a 30-minute slot)':32} {median:7.1f} ms  (slowest {slowest:6.1f} ms)")
        busy = http.get(base + "/freebusy", params=WEEK, headers=headers).json()["busy"]
        median, slowest = _time(lambda: http.get(base + "/freebusy", params=WEEK,
                                                 headers=headers), runs)
        print(f"  {'GET /freebusy':32} {median:7.1f} ms  (slowest {slowest:6.1f} ms, "
              f"{len(busy)} busy intervals)")
    finally:
        if server is not None:
            server.close()
        db.dispose_all()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sidecar_latency",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL,
                        help="a PostgreSQL server to make the scratch database on "
                             f"(default {DEFAULT_ADMIN_URL})")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per figure (20)")
    parser.add_argument("--search-events", type=int, default=100_000)
    parser.add_argument("--availability-events", type=int, default=10_000)
    args = parser.parse_args(argv)
    run(args.admin_url, args.runs, args.search_events, args.availability_events)


if __name__ == "__main__":
    main()
