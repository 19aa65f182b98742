"""Row-level security for the server's own connections, and the login limiter.

- Role backside_app (NOLOGIN, owns nothing): the server's request
  connections SET ROLE to it right after connecting (db.get_app_engine). The
  migrating user is made a member so it may do so. Roles are cluster-wide:
  several databases on one server share it.
- Every tenant table gets row-level security. For backside_app a row is
  visible and writable only when its tenant is the one set for the
  transaction (backside.tenant_id, see db/tenancy.py); with no tenant set it
  sees nothing. Other roles (the owner bypasses RLS anyway; other
  applications may connect with their own roles) keep full access through a
  second policy, so turning RLS on changes nothing for them.
- accounts and api_keys stay readable to backside_app without a tenant: a
  login is looked up by name (an API key by hash) before its tenant is known.
  Writing them still needs the tenant.
- login_failures: failed-login counters shared by all worker processes
  (web/login_limit.py). UNLOGGED: losing them in a crash only forgives.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ROLE = "backside_app"
CURRENT_TENANT = "NULLIF(current_setting('backside.tenant_id', true), '')::uuid"
NOT_APP = f"current_user <> '{ROLE}'"
TENANT_TABLES = ("calendars", "events", "event_attendees", "event_links", "calendar_objects",
                 "calendar_changes", "event_instances")
LOOKUP_TABLES = ("accounts", "api_keys")  # read before the tenant is known


def upgrade() -> None:
    op.execute(f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN
                CREATE ROLE {ROLE} NOLOGIN NOSUPERUSER NOINHERIT NOBYPASSRLS;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- another database on this server created it just now
        END $$;
    """)
    op.execute(f"""
        DO $$
        BEGIN
            IF NOT pg_has_role(current_user, '{ROLE}', 'MEMBER') THEN
                EXECUTE format('GRANT {ROLE} TO %I', current_user);
            END IF;
        END $$;
    """)
    op.execute("""
        CREATE UNLOGGED TABLE login_failures (
            key text PRIMARY KEY,
            failures integer NOT NULL,
            window_start timestamptz NOT NULL DEFAULT now()
        )
    """)
    op.execute(f"GRANT USAGE ON SCHEMA public TO {ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {ROLE}")
    op.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {ROLE}")
    op.execute(f"REVOKE ALL ON alembic_version FROM {ROLE}")
    op.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public "
               f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {ROLE}")

    for table in TENANT_TABLES:
        _isolate(table, "tenant_id")
    _isolate("tenants", "id")
    for table in LOOKUP_TABLES:
        _isolate(table, "tenant_id", readable_without_tenant=True)


def _isolate(table: str, column: str, readable_without_tenant: bool = False) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY other_roles ON {table} USING ({NOT_APP}) WITH CHECK ({NOT_APP})")
    op.execute(f"CREATE POLICY tenant_rows ON {table} TO {ROLE} "
               f"USING ({column} = {CURRENT_TENANT}) WITH CHECK ({column} = {CURRENT_TENANT})")
    if readable_without_tenant:
        op.execute(f"CREATE POLICY lookup ON {table} FOR SELECT TO {ROLE} USING (true)")


def downgrade() -> None:
    for table in (*TENANT_TABLES, "tenants", *LOOKUP_TABLES):
        op.execute(f"DROP POLICY IF EXISTS lookup ON {table}")
        op.execute(f"DROP POLICY IF EXISTS tenant_rows ON {table}")
        op.execute(f"DROP POLICY IF EXISTS other_roles ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP TABLE login_failures")
    op.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public "
               f"REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM {ROLE}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {ROLE}")
    op.execute(f"REVOKE ALL ON SCHEMA public FROM {ROLE}")
