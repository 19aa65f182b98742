"""Another application's bulk insert: the change feed numbers it at commit
with work in proportion to the rows, not to their square (migration 0013)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from conftest import scratch_database

from backside_caldav.db.settings import libpq_url

ROWS = 2000
INSERT = ("INSERT INTO events (tenant_id, calendar_id, title, start_time, end_time) "
          "SELECT %s, %s, 'bulk ' || g, '2030-01-01'::timestamptz + g * interval '1 hour', "
          "'2030-01-01'::timestamptz + g * interval '1 hour' + interval '30 minutes' "
          "FROM generate_series(1, %s) g")


@pytest.fixture
def scratch_url(admin_url: str) -> Iterator[str]:
    """A database of its own, so index statistics count this test's work only."""
    with scratch_database(admin_url, "backside_feed_") as url:
        yield url


def _pending_index_reads(conn: psycopg.Connection) -> int:
    conn.execute("SELECT pg_stat_force_next_flush()")
    conn.execute("SELECT 1")
    conn.execute("SELECT pg_stat_clear_snapshot()")
    return conn.execute("SELECT idx_tup_read FROM pg_stat_user_indexes "
                        "WHERE indexrelname = 'change_feed_pending'").fetchone()[0]


def test_a_bulk_insert_of_two_tenants_is_numbered_once(scratch_url: str) -> None:
    with psycopg.connect(libpq_url(scratch_url), autocommit=True) as conn:
        cals = []
        for name in ("a", "b"):
            tenant = conn.execute("INSERT INTO tenants (name) VALUES (%s) RETURNING id",
                                  (name,)).fetchone()[0]
            cals.append((tenant, conn.execute(
                "INSERT INTO calendars (tenant_id, name, href) VALUES (%s, 'C', 'c') "
                "RETURNING id", (tenant,)).fetchone()[0]))
        before = _pending_index_reads(conn)
        with conn.transaction():
            for tenant, calendar in cals:
                conn.execute(INSERT, (tenant, calendar, ROWS))
        work = _pending_index_reads(conn) - before
        rows = conn.execute("SELECT tenant_id, count(*), count(seq), min(seq), max(seq) "
                            "FROM change_feed WHERE kind = 'event.created' "
                            "GROUP BY tenant_id").fetchall()
    assert sorted(r[1] for r in rows) == [ROWS, ROWS]
    for _, count, numbered, low, high in rows:
        assert numbered == count and high - low == count - 1  # each tenant's run is unbroken
    # Each of the 2 x ROWS commit-time calls used to walk every row already
    # numbered: about (2 x ROWS)^2 / 2 = 8,000,000 index entries read.
    assert work < 20 * ROWS, work
