"""The hrefs a sync reports after a position, in (last change, href) order.

domain/sync_tokens.py says what a position means. One statement, in the
request's snapshot: the newest calendar_changes entry of each href after the
position, and, while the position is still within the sync floor, the
resources the log holds nothing newer for (they sort at the floor). Hrefs are
compared byte-wise (COLLATE "C") so the order is the same on every database.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from backside_caldav.db.engines import statement as _q
from backside_caldav.db.event_reads import ItemHead
from backside_caldav.domain.records import CalendarRow
from backside_caldav.domain.sync_tokens import Position

_AFTER = '(c > :x OR (c = :x AND href COLLATE "C" > CAST(:k AS text)))'
_ORDER = 'ORDER BY c, href COLLATE "C" LIMIT :n'

# Changes only: the position is past the floor and past the first sync's
# start, so every href after it has a log entry and none is hidden.
_CHANGED = _q(
    "SELECT href, c FROM (SELECT href, max(counter) AS c FROM calendar_changes "
    "WHERE tenant_id = :t AND calendar_id = :cal AND counter >= :x GROUP BY href) log "
    f"WHERE {_AFTER} {_ORDER}")

# A first sync, or a position within the floor: the resources themselves too.
_ALL = _q(
    "WITH log AS (SELECT href, max(counter) AS c FROM calendar_changes "
    "WHERE tenant_id = :t AND calendar_id = :cal AND counter > :floor GROUP BY href), "
    "live AS (SELECT href FROM events WHERE tenant_id = :t AND calendar_id = :cal "
    "AND series_id IS NULL AND deleted_at IS NULL "
    "UNION ALL SELECT href FROM calendar_objects WHERE tenant_id = :t AND calendar_id = :cal), "
    "known AS (SELECT coalesce(log.href, live.href) AS href, coalesce(log.c, :floor) AS c, "
    "live.href IS NOT NULL AS present FROM log FULL JOIN live ON live.href = log.href) "
    f"SELECT href, c FROM known WHERE {_AFTER} AND (present OR c > :hidden) {_ORDER}")


def after(conn: Connection, tenant: str, calendar: CalendarRow, position: Position,
          limit: int | None) -> list[tuple[str, int]]:
    """(href, last change) of up to `limit` hrefs after `position` (None: all),
    each once, in order; a removed href is among them unless hidden."""
    params = {"t": tenant, "cal": calendar.id, "x": position.counter, "k": position.href,
              "floor": calendar.sync_floor, "hidden": position.hidden, "n": limit}
    changes_only = (position.counter > calendar.sync_floor
                    and position.hidden < position.counter)
    rows = conn.execute(_CHANGED if changes_only else _ALL, params)
    return [(r.href, r.c) for r in rows]


_HEADS = _q(
    "SELECT href, uid, 'VEVENT', revision, updated_at FROM events WHERE tenant_id = :t "
    "AND calendar_id = :cal AND series_id IS NULL AND deleted_at IS NULL AND href = ANY(:hrefs) "
    "UNION ALL SELECT href, uid, component, revision, updated_at FROM calendar_objects "
    "WHERE tenant_id = :t AND calendar_id = :cal AND href = ANY(:hrefs)")


def heads(conn: Connection, tenant: str, calendar_id: str,
          hrefs: list[str]) -> dict[str, ItemHead]:
    """The page's resources without their text (a removed href has none): what
    a page asking only for etags and content types needs."""
    if not hrefs:
        return {}
    rows = conn.execute(_HEADS, {"t": tenant, "cal": calendar_id, "hrefs": hrefs})
    return {r[0]: ItemHead(*r) for r in rows}
