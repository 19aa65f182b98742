"""SQL of the search: ranked full-text and substring matches over masters.

Search reads masters only (series_id IS NULL): an override row belongs to
its series and is never an answer of its own. See api/search.py for the
ranking and the cursor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Row

from backside_caldav.db.engines import statement as _q

_WORD_RE = re.compile(r"[^\W_]+")
MAX_WORDS = 16
MIN_SUBSTRING = 3


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def tsquery_of(text: str) -> str | None:
    """'word:* & word:*' from the words of q; only letters and digits reach to_tsquery."""
    words = _WORD_RE.findall(text.lower())[:MAX_WORDS]
    return " & ".join(f"{w}:*" for w in words) if words else None


def match_sql(text: str, alias: str) -> tuple[str, dict[str, Any]]:
    """The search's match (word prefixes, or a substring of 3+ characters) over the
    events row `alias`, for other queries to filter by; its parameters are prefixed."""
    vector = SEARCH_VECTOR.replace("e.", f"{alias}.")
    params: dict[str, Any] = {}
    matches = []
    tsq = tsquery_of(text)
    if tsq is not None:
        params["m_tsq"] = tsq
        matches.append(f"{vector} @@ to_tsquery('simple'::regconfig, :m_tsq)")
    if len(text) >= MIN_SUBSTRING:
        params["m_pat"] = f"%{like_escape(text)}%"
        matches.append(" OR ".join(f"{alias}.{c} ILIKE :m_pat"
                                   for c in ("title", "location", "description")))
    return (" OR ".join(f"({m})" for m in matches) or "false"), params

# The same expression as the GIN index events_search_fts (migration 0003):
# PostgreSQL uses the index only when the query repeats it exactly.
SEARCH_VECTOR = (
    "(setweight(to_tsvector('simple'::regconfig, coalesce(e.title, '')), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, coalesce(e.location, '')), 'B') || "
    "setweight(to_tsvector('simple'::regconfig, coalesce(e.description, '')), 'C'))"
)


@dataclass(frozen=True)
class SearchQuery:
    tenant: str
    text: str  # the trimmed query
    tsquery: str | None  # 'word:* & word:*', None when q has no words
    pattern: str | None  # '%q%' (LIKE-escaped), None when substring matching is off
    prefix: str  # 'q%' (LIKE-escaped)
    calendar_id: str | None
    window: tuple[datetime, datetime] | None
    after: tuple[str, str] | None  # (score, id) of the last hit of the previous page
    limit: int
    calendar_ids: list[str] | None = None  # only these calendars (an API key's limit)


def search(conn: Connection, q: SearchQuery) -> list[Row]:
    """Masters matching the words (prefixes) or containing the text, best first."""
    built = search_sql(q)
    if built is None:
        return []
    return list(conn.execute(_q(built[0]), built[1]))


def search_sql(q: SearchQuery) -> tuple[str, dict[str, Any]] | None:
    """The search statement and its parameters (None: nothing can match).

    The SQL text is assembled from fixed pieces only (values are bound), so a
    query without words or without substring matching plans without the
    branch it does not need.
    """
    params: dict[str, Any] = {"t": q.tenant, "q": q.text, "prefix": q.prefix, "n": q.limit}
    matches = []
    rank = "0"
    if q.tsquery is not None:
        params["tsq"] = q.tsquery
        matches.append(f"{SEARCH_VECTOR} @@ to_tsquery('simple'::regconfig, :tsq)")
        rank = f"ts_rank({SEARCH_VECTOR}, to_tsquery('simple'::regconfig, :tsq))"
    if q.pattern is not None:
        params["pat"] = q.pattern
        matches.append("e.title ILIKE :pat OR e.location ILIKE :pat OR e.description ILIKE :pat")
        bonus = ("CASE WHEN lower(coalesce(e.title, '')) = lower(:q) THEN 1.0 "
                 "WHEN e.title ILIKE :prefix THEN 0.6 WHEN e.title ILIKE :pat THEN 0.4 ELSE 0 END"
                 " + CASE WHEN e.location ILIKE :pat THEN 0.2 ELSE 0 END"
                 " + CASE WHEN e.description ILIKE :pat THEN 0.1 ELSE 0 END")
    else:
        bonus = ("CASE WHEN lower(coalesce(e.title, '')) = lower(:q) THEN 1.0 "
                 "WHEN e.title ILIKE :prefix THEN 0.6 ELSE 0 END")
    if not matches:
        return None
    filters = ""
    if q.calendar_id is not None:
        params["c"] = q.calendar_id
        filters += " AND e.calendar_id = :c"
    if q.calendar_ids is not None:
        params["cs"] = q.calendar_ids
        filters += " AND e.calendar_id = ANY(CAST(:cs AS uuid[]))"
    if q.window is not None:
        params["ws"], params["we"] = q.window
        filters += (" AND e.id IN (SELECT coalesce(w.series_id, w.id) FROM events w "
                    "WHERE w.tenant_id = :t AND w.deleted_at IS NULL "
                    "AND w.range_start < :we AND w.range_end > :ws)")
    page = ""
    if q.after is not None:
        params["as"], params["ai"] = q.after
        page = ("WHERE m.score < CAST(:as AS numeric) OR (m.score = CAST(:as AS numeric) "
                "AND m.id > CAST(:ai AS uuid))")
    sql = (
        "SELECT m.id::text AS id, m.calendar_id::text AS calendar_id, m.title, m.description, "
        "m.location, m.start_time, m.end_time, m.timezone, m.is_all_day, m.rrule, m.rdates, "
        "m.status, m.score FROM ("
        "  SELECT e.id, e.calendar_id, e.title, e.description, e.location, e.start_time, "
        "  e.end_time, e.timezone, e.is_all_day, e.rrule, e.rdates, e.status, "
        f"  round(CAST({rank} + {bonus} AS numeric), 6) AS score "
        "  FROM events e WHERE e.tenant_id = :t AND e.deleted_at IS NULL "
        f"  AND e.series_id IS NULL AND ({' OR '.join(matches)}){filters}"
        f") m {page} ORDER BY m.score DESC, m.id LIMIT :n")
    return sql, params
