"""Scoped, time-limited and rate-limited API keys.

- api_keys gains its restrictions (domain/api_keys.py says what each means):
  scope (read | write | admin; keys made --read-only become 'read', and
  read_only keeps working: either one makes a key read-only), calendar_ids
  (NULL: every calendar), window_past_days / window_future_days (both or
  neither), rate_limits (a JSON array of [requests, seconds] pairs, NULL: no
  limit), owner_email and expires_at. api_keys stays a lookup table: read by
  hash before the tenant is known (migration 0004's `lookup` policy).
- api_key_hits: one counter per key and window length, shared by every
  worker process. The row of a window length is reused when its window
  passes (window_start moves on, hits starts again at 1), so a key has at
  most one row per limit; rows of limits a key no longer has are pruned by
  the maintenance pass (db/maintenance.py). UNLOGGED like login_failures:
  losing the counters in a crash only forgives. Tenant row-level security
  like every tenant table; the rows go with their key (ON DELETE CASCADE).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ROLE = "backside_app"
CURRENT_TENANT = "NULLIF(current_setting('backside.tenant_id', true), '')::uuid"
NOT_APP = f"current_user <> '{ROLE}'"
UUID = pg.UUID(as_uuid=False)
TS = sa.TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("scope", sa.Text, nullable=False,
                                        server_default="write"))
    op.add_column("api_keys", sa.Column("calendar_ids", pg.ARRAY(UUID)))
    op.add_column("api_keys", sa.Column("window_past_days", sa.Integer))
    op.add_column("api_keys", sa.Column("window_future_days", sa.Integer))
    op.add_column("api_keys", sa.Column("rate_limits", pg.JSONB))
    op.add_column("api_keys", sa.Column("owner_email", sa.Text))
    op.add_column("api_keys", sa.Column("expires_at", TS))
    op.execute("UPDATE api_keys SET scope = 'read' WHERE read_only")
    op.create_check_constraint("api_keys_scope", "api_keys",
                               "scope IN ('read', 'write', 'admin')")
    op.create_check_constraint(
        "api_keys_window", "api_keys",
        "(window_past_days IS NULL) = (window_future_days IS NULL) "
        "AND coalesce(window_past_days, 0) >= 0 AND coalesce(window_future_days, 0) >= 0")
    op.create_check_constraint("api_keys_rate_limits", "api_keys",
                               "rate_limits IS NULL OR jsonb_typeof(rate_limits) = 'array'")

    op.execute("""
        CREATE UNLOGGED TABLE api_key_hits (
            tenant_id uuid NOT NULL,
            key_id uuid NOT NULL,
            window_seconds integer NOT NULL CHECK (window_seconds > 0),
            window_start timestamptz NOT NULL,
            hits integer NOT NULL,
            PRIMARY KEY (tenant_id, key_id, window_seconds),
            FOREIGN KEY (tenant_id, key_id) REFERENCES api_keys (tenant_id, id)
                ON DELETE CASCADE
        )
    """)
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON api_key_hits TO {ROLE}")
    op.execute("ALTER TABLE api_key_hits ENABLE ROW LEVEL SECURITY")
    op.execute("CREATE POLICY other_roles ON api_key_hits "
               f"USING ({NOT_APP}) WITH CHECK ({NOT_APP})")
    op.execute(f"CREATE POLICY tenant_rows ON api_key_hits TO {ROLE} "
               f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})")


def downgrade() -> None:
    op.execute("DROP TABLE api_key_hits")
    op.drop_constraint("api_keys_rate_limits", "api_keys")
    op.drop_constraint("api_keys_window", "api_keys")
    op.drop_constraint("api_keys_scope", "api_keys")
    for column in ("expires_at", "owner_email", "rate_limits", "window_future_days",
                   "window_past_days", "calendar_ids", "scope"):
        op.drop_column("api_keys", column)
