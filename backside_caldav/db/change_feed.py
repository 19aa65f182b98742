"""SQL of the change feed (migration 0009): a tenant's changes after a number.

The numbers are handed out at commit under the tenant's feed lock, so once
a change numbered N of a tenant is visible, every change of that tenant
numbered below N is too: a page that reads fewer rows than asked may move
its cursor to the newest number it could see.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from backside_caldav.db.engines import statement as _q
from backside_caldav.domain.changes import Change

COLS = ("seq, kind, event_id::text, calendar_id::text, prev_calendar_id::text, revision, "
        "source, changed_at, range_start, range_end")


def bounds(conn: Connection, tenant: str) -> tuple[int, int]:
    """(floor, last): numbers up to floor were pruned; last is the newest committed."""
    row = conn.execute(_q(
        "SELECT coalesce((SELECT floor_seq FROM feed_floors WHERE tenant_id = :t), 0), "
        "(SELECT max(seq) FROM change_feed WHERE tenant_id = :t)"), {"t": tenant}).one()
    floor = int(row[0])
    return floor, max(floor, int(row[1] or 0))


def after(conn: Connection, tenant: str, since: int, upto: int, limit: int,
          calendar_ids: list[str] | None = None,
          window: tuple[datetime, datetime] | None = None) -> list[Change]:
    """Up to `limit` changes numbered above `since` and at most `upto` (the counter
    read before: later commits wait for the next page), oldest first, inside an API key's
    calendars (a move out of them counts) and time window when it has them."""
    params: dict[str, Any] = {"t": tenant, "s": since, "u": upto, "n": limit}
    limits = ""
    if calendar_ids is not None:
        params["cals"] = calendar_ids
        limits += (" AND (calendar_id = ANY(CAST(:cals AS uuid[])) "
                   "OR prev_calendar_id = ANY(CAST(:cals AS uuid[])))")
    if window is not None:
        params["ws"], params["we"] = window
        limits += (" AND (event_id IS NULL OR (coalesce(range_start, '-infinity') < :we "
                   "AND coalesce(range_end, 'infinity') >= :ws))")
    rows = conn.execute(_q(
        f"SELECT {COLS} FROM change_feed WHERE tenant_id = :t AND seq > :s AND seq <= :u{limits} "
        "ORDER BY seq LIMIT :n"), params)
    return [Change(*row) for row in rows]


def prune(conn: Connection, tenant: str, older_than_days: float) -> int:
    """Drop the changes up to the newest one older than the given age (a prefix of
    the numbers), and raise the tenant's floor to it."""
    floor = conn.execute(_q(  # in number order (no index on the time: writers pay for each)
        "SELECT max(seq) FROM change_feed WHERE tenant_id = :t AND seq IS NOT NULL "
        "AND changed_at < now() - make_interval(secs => :s)"),
        {"t": tenant, "s": older_than_days * 86400}).scalar()
    if floor is None:
        return 0
    gone = conn.execute(_q("DELETE FROM change_feed WHERE tenant_id = :t AND seq <= :f"),
                        {"t": tenant, "f": floor}).rowcount
    conn.execute(_q("INSERT INTO feed_floors AS f (tenant_id, floor_seq) VALUES (:t, :f) "
                    "ON CONFLICT (tenant_id) DO UPDATE "
                    "SET floor_seq = greatest(f.floor_seq, EXCLUDED.floor_seq)"),
                 {"t": tenant, "f": floor})
    return int(gone)
