"""Webhooks: the change feed POSTed to a tenant's receivers, and a record of each try.

- webhooks: one row per receiver. `cursor` is the last feed number handled
  (delivered, filtered out or given up); a new webhook starts at the tenant's
  newest number, so it gets the changes from then on. `events` holds patterns
  ('event.*', 'calendar.deleted'; NULL = every change). `secret` is the
  Standard Webhooks signing secret (whsec_<base64>), kept readable because
  every POST is signed with it. lease_owner/lease_until: the one process that
  delivers for the webhook right now (the lease runs out when it dies).
  failing_since/attempts/next_attempt_at: the retry state of the change at
  the head of the line (cursor + 1 onwards); NULL/0/NULL when nothing fails.
- webhook_deliveries: one row per POST (and per change given up), for
  `webhook deliveries`; maintenance keeps it bounded by age.

Both tables have tenant row-level security like every tenant table; the
webhook row goes with its tenant, the deliveries with their webhook.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ROLE = "backside_app"
CURRENT_TENANT = "NULLIF(current_setting('backside.tenant_id', true), '')::uuid"
NOT_APP = f"current_user <> '{ROLE}'"

TABLES = [
    """
    CREATE TABLE webhooks (
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        url text NOT NULL,
        events text[],
        secret text NOT NULL,
        allow_private boolean NOT NULL DEFAULT false,
        cursor bigint NOT NULL,
        lease_owner text,
        lease_until timestamptz,
        failing_since timestamptz,
        next_attempt_at timestamptz,
        attempts integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, id)
    )
    """,
    "CREATE INDEX webhooks_id ON webhooks (id)",
    """
    CREATE TABLE webhook_deliveries (
        tenant_id uuid NOT NULL,
        id bigint GENERATED ALWAYS AS IDENTITY,
        webhook_id uuid NOT NULL,
        seq bigint NOT NULL,
        type text NOT NULL,
        attempt integer NOT NULL,
        status_code integer,
        error text,
        delivered boolean NOT NULL,
        given_up boolean NOT NULL DEFAULT false,
        at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, id),
        FOREIGN KEY (tenant_id, webhook_id) REFERENCES webhooks (tenant_id, id)
            ON DELETE CASCADE
    )
    """,
    "CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (tenant_id, webhook_id, id)",
    "CREATE INDEX webhook_deliveries_at ON webhook_deliveries (at)",
]


def upgrade() -> None:
    for statement in TABLES:
        op.execute(statement)
    for table in ("webhooks", "webhook_deliveries"):
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {ROLE}")
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY other_roles ON {table} "
                   f"USING ({NOT_APP}) WITH CHECK ({NOT_APP})")
        op.execute(f"CREATE POLICY tenant_rows ON {table} TO {ROLE} "
                   f"USING (tenant_id = {CURRENT_TENANT}) "
                   f"WITH CHECK (tenant_id = {CURRENT_TENANT})")


def downgrade() -> None:
    op.execute("DROP TABLE webhook_deliveries")
    op.execute("DROP TABLE webhooks")
