"""SQL of whole tenants for the operator: what each holds, and deleting one.

Run on the owner's engine (the CLI's): listing counts every tenant, and a
tenant delete must reach the rows that row-level security would hide. Each
statement still names the one tenant it is about.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection, Engine

from backside_caldav.db import tenancy
from backside_caldav.db.engines import statement as _q
from backside_caldav.db.keys import find_tenant
from backside_caldav.domain.login_limits import keys as failure_keys


@dataclass(frozen=True)
class TenantSummary:
    id: str
    name: str
    created_at: object
    calendars: int
    events: int  # live series: not overrides, not the trash
    tasks: int  # VTODO and VJOURNAL resources
    logins: int
    api_keys: int  # not expired
    webhooks: int


_SUMMARY = """
    SELECT t.id::text, t.name, t.created_at,
        (SELECT count(*) FROM calendars c WHERE c.tenant_id = t.id),
        (SELECT count(*) FROM events e WHERE e.tenant_id = t.id
            AND e.series_id IS NULL AND e.deleted_at IS NULL),
        (SELECT count(*) FROM calendar_objects o WHERE o.tenant_id = t.id),
        (SELECT count(*) FROM accounts a WHERE a.tenant_id = t.id),
        (SELECT count(*) FROM api_keys k WHERE k.tenant_id = t.id
            AND (k.expires_at IS NULL OR k.expires_at > now())),
        (SELECT count(*) FROM webhooks w WHERE w.tenant_id = t.id)
    FROM tenants t
"""


def list_tenants(engine: Engine) -> list[TenantSummary]:
    with engine.connect() as conn:
        rows = conn.execute(_q(_SUMMARY + " ORDER BY t.name")).all()
    return [TenantSummary(*row) for row in rows]


def tenant_tables(conn: Connection) -> list[str]:
    """Every table of the schema with a tenant_id column, found in the catalogue,
    so a table added by a later migration is deleted (and counted) too."""
    return list(conn.execute(_q(
        "SELECT c.table_name FROM information_schema.columns c "
        "JOIN information_schema.tables t USING (table_schema, table_name) "
        "WHERE c.table_schema = current_schema() AND c.column_name = 'tenant_id' "
        "AND t.table_type = 'BASE TABLE' ORDER BY c.table_name")).scalars())


@dataclass(frozen=True)
class DeletedTenant:
    id: str
    name: str
    rows: dict[str, int]  # table -> rows of the tenant that went (the tenant row included)


def delete_tenant(engine: Engine, tenant: str) -> DeletedTenant:
    """Every row of the tenant, in one transaction.

    The tenant's write lock first, so no CalDAV or API write of it is half
    way. Rows are counted, then the tenants row goes and the foreign keys
    cascade; tables without a key to tenants (the change feed, its floor)
    are cleared by tenant_id, including the feed entries that the cascade's
    own deletes just wrote. Logins' failure counters go with their logins.
    """
    with engine.begin() as conn:
        tenant_id, name = find_tenant(conn, tenant)
        tenancy.hold(conn, tenant_id)
        tables = tenant_tables(conn)
        counts = {"tenants": 1}
        for table in tables:
            counts[table] = conn.execute(_q(
                f'SELECT count(*) FROM "{table}" WHERE tenant_id = :t'), {"t": tenant_id}
            ).scalar_one()
        logins = list(conn.execute(_q("SELECT username FROM accounts WHERE tenant_id = :t"),
                                   {"t": tenant_id}).scalars())
        conn.execute(_q("DELETE FROM tenants WHERE id = :t"), {"t": tenant_id})
        for table in tables:
            conn.execute(_q(f'DELETE FROM "{table}" WHERE tenant_id = :t'), {"t": tenant_id})
        if logins:
            conn.execute(_q("DELETE FROM login_failures WHERE key = ANY(:k)"),
                         {"k": [k for login in logins for k in failure_keys(login, "")]})
    return DeletedTenant(tenant_id, name, {t: n for t, n in counts.items() if n})
