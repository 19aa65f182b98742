"""How fast `backside-caldav import` moves a calendar in: resources per second.

Writes one .ics file of N events (every tenth a weekly series with an
overridden instance, the rest single events, as a calendar export looks),
then runs the real command twice in a scratch database: the import, and the
re-run that finds everything there and skips it. The time is the command's
wall clock, start-up included. Uses $BACKSIDE_DATABASE_URL's server, else a
throwaway embedded PostgreSQL (pgserver).
Run: .venv/bin/python -m bench.import_rate [--events N].
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

from backside_caldav.db import engines as db
from backside_caldav.db import migrate
from backside_caldav.db.settings import libpq_url

ROOT = Path(__file__).resolve().parents[1]


def ics(count: int) -> str:
    """One VCALENDAR of `count` resources (CRLF, as exporters write)."""
    out = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//bench//import//EN",
           "X-WR-CALNAME:Bench"]
    for n in range(count):
        day = f"2030{1 + n % 12:02}{1 + n % 28:02}"
        common = [f"UID:bench-{n}@example.com", "DTSTAMP:20300101T000000Z",
                  f"SUMMARY:Event number {n}", "LOCATION:Room 4",
                  "DESCRIPTION:Imported by the benchmark\\, with a comma."]
        if n % 10:
            out += ["BEGIN:VEVENT", *common, f"DTSTART:{day}T{9 + n % 8:02}0000Z",
                    "DURATION:PT1H", "END:VEVENT"]
            continue
        out += ["BEGIN:VEVENT", *common, f"DTSTART:{day}T090000Z", "DURATION:PT30M",
                "RRULE:FREQ=WEEKLY;COUNT=20", "END:VEVENT",
                "BEGIN:VEVENT", f"UID:bench-{n}@example.com", "DTSTAMP:20300101T000000Z",
                f"RECURRENCE-ID:{day}T090000Z", f"DTSTART:{day}T110000Z", "DURATION:PT30M",
                "SUMMARY:Moved once", "END:VEVENT"]
    return "\r\n".join(out + ["END:VCALENDAR"]) + "\r\n"


@contextlib.contextmanager
def admin_url() -> Iterator[str]:
    url = os.environ.get("BACKSIDE_DATABASE_URL")
    if url:
        yield libpq_url(url)
        return
    import pgserver
    with tempfile.TemporaryDirectory(prefix="backside-bench-pg-") as tmp:
        server = pgserver.get_server(tmp, cleanup_mode="stop")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


def timed_import(url: str, tenant: str, source: Path) -> tuple[float, str]:
    env = {**os.environ, "BACKSIDE_DATABASE_URL": url}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "backside_caldav", "import", "--tenant",
                             tenant, str(source)], cwd=ROOT, env=env, capture_output=True,
                            text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"import failed ({result.returncode}): {result.stderr or result.stdout}")
    return elapsed, result.stdout.splitlines()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args()
    with admin_url() as admin, tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "bench.ics"
        source.write_text(ics(args.events), newline="")
        name = "bench_import_" + uuid.uuid4().hex[:8]
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
            version = conn.execute("SHOW server_version").fetchone()[0]
        head, sep, query = admin.partition("?")
        url = f"{head.rsplit('/', 1)[0]}/{name}{sep}{query}"
        try:
            migrate.upgrade(db.get_engine(url))
            db.dispose_all()
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("INSERT INTO tenants (name) VALUES ('bench')")
            print(f"PostgreSQL {version}, {args.events} resources "
                  f"({source.stat().st_size / 1e6:.1f} MB file)")
            for label in ("import", "re-run (all skipped)"):
                elapsed, summary = timed_import(url, "bench", source)
                print(f"{label:22s} {elapsed:7.1f} s {args.events / elapsed:8.0f} resources/s"
                      f"   [{summary}]")
        finally:
            db.dispose_all()
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
