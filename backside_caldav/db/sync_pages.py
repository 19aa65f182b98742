"""The hrefs a sync reports after a position, in key order.

domain/sync_tokens.py says what the keys and positions mean. Each page is
one statement in the request's snapshot whose work grows with the page, not
with the calendar: a first sync walks the resources by href on the href
indexes, leaving out those changed since it started (they come after the
walk, keyed by their change); an incremental sync reads the change log from
its counter on.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import TextClause
from sqlalchemy.engine import Connection

from backside_caldav.db.engines import statement as _q
from backside_caldav.db.event_reads import ItemHead
from backside_caldav.domain.records import CalendarRow
from backside_caldav.domain.sync_tokens import Position

# The newest change of each href changed at or after :x, after the position.
_CHANGED = ("SELECT href, c, NULL AS uid, NULL AS component, NULL::bigint AS revision, "
            "NULL::timestamptz AS updated_at FROM (SELECT href, max(counter) AS c "
            "FROM calendar_changes WHERE tenant_id = :t AND calendar_id = :cal "
            "AND counter >= :x GROUP BY href) log "
            "WHERE c > :x OR (c = :x AND href > CAST(:k AS text)) ORDER BY c, href LIMIT :n")

# A first sync that started at :hidden: the resources unchanged since then,
# by href after :after ('' at the start: hrefs are never empty), then every
# href changed since (removed ones included).
_SINCE = ("href NOT IN (SELECT href FROM calendar_changes WHERE tenant_id = :t "
          "AND calendar_id = :cal AND counter > :hidden)")
_FIRST = (
    "(SELECT href, CAST(:hidden AS bigint) AS c, uid, 'VEVENT' AS component, revision, "
    "updated_at FROM events WHERE tenant_id = :t AND calendar_id = :cal "
    f"AND series_id IS NULL AND deleted_at IS NULL AND href > :after AND {_SINCE} "
    "ORDER BY href LIMIT :n) "
    "UNION ALL (SELECT href, CAST(:hidden AS bigint), uid, component, revision, updated_at "
    f"FROM calendar_objects WHERE tenant_id = :t AND calendar_id = :cal AND href > :after "
    f"AND {_SINCE} ORDER BY href LIMIT :n) "
    "UNION ALL (SELECT href, max(counter) AS c, NULL, NULL, NULL, NULL FROM calendar_changes "
    "WHERE tenant_id = :t AND calendar_id = :cal AND counter > :hidden GROUP BY href "
    "ORDER BY c, href LIMIT :n) ORDER BY c, href LIMIT :n")


def _with_heads(page: str) -> TextClause:
    """The page with what a listing needs of each resource (none: removed): a
    changed href's resource is looked up by href once the page is chosen."""
    return _q(
        f"WITH page AS ({page}) SELECT p.href, p.c, coalesce(p.uid, h.uid) AS uid, "
        "coalesce(p.component, h.component) AS component, "
        "coalesce(p.revision, h.revision) AS revision, "
        "coalesce(p.updated_at, h.updated_at) AS updated_at FROM page p LEFT JOIN LATERAL ("
        "SELECT uid, 'VEVENT' AS component, revision, updated_at FROM events e "
        "WHERE p.revision IS NULL AND e.tenant_id = :t AND e.calendar_id = :cal "
        "AND e.href = p.href AND e.series_id IS NULL AND e.deleted_at IS NULL "
        "UNION ALL SELECT uid, component, revision, updated_at FROM calendar_objects o "
        "WHERE p.revision IS NULL AND o.tenant_id = :t AND o.calendar_id = :cal "
        "AND o.href = p.href) h ON true ORDER BY p.c, p.href")


_CHANGED_PAGE, _FIRST_PAGE = _with_heads(_CHANGED), _with_heads(_FIRST)


@dataclass(frozen=True)
class Entry:
    """One href of a page: its key, and its resource (None: removed)."""

    href: str
    key: int
    head: ItemHead | None


def after(conn: Connection, tenant: str, calendar: CalendarRow, position: Position,
          limit: int | None) -> list[Entry]:
    """Up to `limit` hrefs after `position` (None: all), each once, in order; a
    removed href is among them unless the first sync hides it."""
    walking = position.counter < position.hidden or (
        position.counter == position.hidden and position.href is not None)
    params = {"t": tenant, "cal": calendar.id, "x": position.counter, "k": position.href,
              "after": position.href or "", "hidden": position.hidden, "n": limit}
    rows = conn.execute(_FIRST_PAGE if walking else _CHANGED_PAGE, params)
    return [Entry(r.href, r.c, None if r.revision is None else
                  ItemHead(r.href, r.uid, r.component, r.revision, r.updated_at)) for r in rows]
