"""SQL of `backside-caldav import`: the tenant, the target calendars, and
where a UID or an href already lives in a calendar.

The resources themselves are written by event_writes (create_if_new,
put_item), the PUT's own functions, so an imported resource is stored as a
PUT of the same bytes would be.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from backside_caldav.db import tenancy
from backside_caldav.db.engines import statement as _q
from backside_caldav.db.keys import find_tenant
from backside_caldav.domain.api_keys import ApiKeyError
from backside_caldav.domain.errors import ConfigError


def tenant(conn: Connection, name: str, create: bool) -> tuple[str, bool]:
    """(id, created) of the tenant named `name` (or with that id); with create, a
    missing one is made. On the owner's connection: tenants are looked up before
    any tenant is set."""
    try:
        return find_tenant(conn, name)[0], False
    except ApiKeyError:
        if not create:
            raise ConfigError(f"no tenant named {name!r} (create it with `backside-caldav "
                              "account add USER --tenant NAME`, or import with "
                              "--tenant-per-user)") from None
    if not name.strip():
        raise ConfigError("a tenant name must not be empty")
    conn.execute(_q("INSERT INTO tenants (name) VALUES (:n) ON CONFLICT (name) DO NOTHING"),
                 {"n": name})
    return conn.execute(_q("SELECT id::text FROM tenants WHERE name = :n"),
                        {"n": name}).scalar_one(), True


def enter_for_import(conn: Connection, tenant_id: str, source: str) -> None:
    """Enter and lock the tenant, name the writer, and commit without waiting for
    the disk, in one round trip (tenancy.transaction's own entry costs one more).

    An import writes thousands of small transactions; waiting for each one's WAL
    flush was most of its time. An asynchronous commit is still atomic: after a
    crash a resource is whole or absent, and a re-run puts in what is missing.
    `durable` ends the run by waiting for the flush of everything before it.
    """
    conn.execute(_q(f"SELECT {tenancy.enter(':t')}, {tenancy.lock(':t', source)}, "
                    "set_config('synchronous_commit', 'off', true)"), {"t": tenant_id})


def durable(conn: Connection) -> None:
    """A transaction with a commit record, committed synchronously: it returns
    once every earlier (asynchronous) commit is on disk too."""
    conn.execute(_q("SELECT txid_current()"))


# The tables an import fills, whose statistics it refreshes as they grow.
FILLED = ("events", "event_instances", "event_attendees", "event_links", "calendar_objects",
          "calendar_changes", "change_feed")


def analyze(conn: Connection) -> None:
    """Fresh planner statistics for the tables an import fills (as the owner).

    A database that was empty has statistics saying so until autovacuum next
    looks (never, where it is off); with them the UID look-ups of every write
    scan the tenant's events instead of using the UID index, and an import of
    10,000 events slowed down as it went."""
    conn.execute(_q(f"ANALYZE {', '.join(FILLED)}"))


def uids(conn: Connection, tenant_id: str, calendar_id: str) -> set[str]:
    """The UIDs of the calendar's live resources."""
    return set(conn.execute(_q(
        "SELECT uid FROM events WHERE tenant_id = :t AND calendar_id = :c "
        "AND series_id IS NULL AND deleted_at IS NULL UNION ALL SELECT uid FROM "
        "calendar_objects WHERE tenant_id = :t AND calendar_id = :c"),
        {"t": tenant_id, "c": calendar_id}).scalars())


def resource_with_uid(conn: Connection, tenant_id: str, calendar_id: str,
                      uid: str) -> tuple[str, str] | None:
    """(href, component) of the calendar's live resource with this UID, or None."""
    row = conn.execute(_q(
        "SELECT href, 'VEVENT' FROM events WHERE tenant_id = :t AND calendar_id = :c "
        "AND uid = :u AND series_id IS NULL AND deleted_at IS NULL "
        "UNION ALL SELECT href, component FROM calendar_objects WHERE tenant_id = :t "
        "AND calendar_id = :c AND uid = :u LIMIT 1"),
        {"t": tenant_id, "c": calendar_id, "u": uid}).first()
    return (row[0], row[1]) if row else None


def href_in_use(conn: Connection, tenant_id: str, calendar_id: str, href: str) -> bool:
    """Whether a live resource of the calendar has this href."""
    return bool(conn.execute(_q(
        "SELECT EXISTS (SELECT 1 FROM events WHERE tenant_id = :t AND calendar_id = :c "
        "AND href = :h AND series_id IS NULL AND deleted_at IS NULL) OR EXISTS (SELECT 1 "
        "FROM calendar_objects WHERE tenant_id = :t AND calendar_id = :c AND href = :h)"),
        {"t": tenant_id, "c": calendar_id, "h": href}).scalar_one())
