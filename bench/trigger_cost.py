"""What the change-tracking triggers cost a plain SQL writer.

Inserts and updates N events with one statement each and one statement per
row, once with the triggers enabled and once with them disabled, in a
scratch database. Run: python -m bench.trigger_cost [--rows N].
"""

from __future__ import annotations

import argparse
import os
import time
import uuid

import psycopg

from backside_caldav.db import engines as db
from backside_caldav.db import migrate
from backside_caldav.db.settings import libpq_url

TRIGGERS = ("caldav_events_before", "caldav_events_after_insert", "caldav_events_after_update",
            "caldav_events_after_delete")


def _timed(conn: psycopg.Connection, fn) -> float:
    start = time.perf_counter()
    fn()
    conn.commit()
    return time.perf_counter() - start


def _run(conn: psycopg.Connection, tenant: object, enabled: bool, rows: int) -> dict[str, float]:
    label = "with triggers" if enabled else "without triggers"
    action = "ENABLE" if enabled else "DISABLE"
    for trigger in TRIGGERS:
        conn.execute(f"ALTER TABLE events {action} TRIGGER {trigger}")
    cal = conn.execute("INSERT INTO calendars (tenant_id, name, href) VALUES (%s, 'b', %s) "
                       "RETURNING id", (tenant, uuid.uuid4().hex)).fetchone()[0]
    conn.commit()
    # Without the row trigger nobody fills uid/href, so the writer must.
    cols = "" if enabled else ", uid, href"
    vals = "" if enabled else ", gen_random_uuid()::text, gen_random_uuid()::text"
    results: dict[str, float] = {}
    bulk = _timed(conn, lambda: conn.execute(
        f"INSERT INTO events (tenant_id, calendar_id, title, start_time, end_time{cols}) "
        f"SELECT %s, %s, 'e' || g, now() + g * interval '1 hour', "
        f"now() + g * interval '1 hour' + interval '30 minutes'{vals} "
        "FROM generate_series(1, %s) g", (tenant, cal, rows)))
    results[f"bulk insert, {label}"] = rows / bulk

    def singles() -> None:
        with conn.cursor() as cur:
            for i in range(rows // 10):
                cur.execute(f"INSERT INTO events (tenant_id, calendar_id, title, start_time{cols}) "
                            f"VALUES (%s, %s, %s, now(){vals})", (tenant, cal, f"s{i}"))
    results[f"single-row inserts, {label}"] = (rows // 10) / _timed(conn, singles)
    upd = _timed(conn, lambda: conn.execute(
        "UPDATE events SET title = title || '!' WHERE tenant_id = %s AND calendar_id = %s",
        (tenant, cal)))
    count = conn.execute("SELECT count(*) FROM events WHERE calendar_id = %s", (cal,)).fetchone()[0]
    results[f"bulk update, {label}"] = count / upd
    return results


def measure(url: str, rows: int) -> dict[str, float]:
    """Rows per second for each write pattern, with and without triggers."""
    results: dict[str, float] = {}
    with psycopg.connect(url) as conn:
        tenant = conn.execute("INSERT INTO tenants (name) VALUES (%s) RETURNING id",
                              ("bench-" + uuid.uuid4().hex[:6],)).fetchone()[0]
        conn.commit()
        try:
            for enabled in (True, False):
                results.update(_run(conn, tenant, enabled, rows))
        finally:
            conn.rollback()
            for trigger in TRIGGERS:
                conn.execute(f"ALTER TABLE events ENABLE TRIGGER {trigger}")
            conn.execute("DELETE FROM tenants WHERE id = %s", (tenant,))
            conn.commit()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10000)
    args = parser.parse_args()
    admin = libpq_url(os.environ.get("BACKSIDE_DATABASE_URL",
                                     "postgresql://postgres@127.0.0.1:5432/postgres"))
    name = "bench_triggers_" + uuid.uuid4().hex[:8]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = admin.rsplit("/", 1)[0] + "/" + name
    try:
        migrate.upgrade(db.get_engine(url))
        for key, value in measure(url, args.rows).items():
            print(f"{key:40s} {value:10.0f} rows/s")
    finally:
        db.dispose_all()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
