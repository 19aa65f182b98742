"""Sidecar API: API keys, and the indexes behind event search.

- api_keys: Bearer keys for the JSON API. Only a SHA-256 of each key is kept
  (keys are 32 random bytes; see sidecar/auth.py). Looked up by hash before
  the tenant is known, like accounts by username.
- events_search_fts: GIN over the weighted tsvector of title, location and
  description ('simple' configuration) for word-prefix search.
- events_search_{title,location,description}_trgm: pg_trgm GIN indexes for
  substring (ILIKE) search, created only when the extension can be
  installed. The embedded PostgreSQL (pgserver) ships without pg_trgm: there
  substring search still works, scanning the tenant's rows. To add the
  indexes later, install the extension and create them as below.
All search indexes are partial (live masters only), as search reads only those.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UUID = pg.UUID(as_uuid=False)
TS = sa.TIMESTAMP(timezone=True)
LIVE_MASTERS = "deleted_at IS NULL AND series_id IS NULL"
# Must stay identical to sidecar.queries.SEARCH_VECTOR (without the alias).
SEARCH_VECTOR = (
    "(setweight(to_tsvector('simple'::regconfig, coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('simple'::regconfig, coalesce(location, '')), 'B') || "
    "setweight(to_tsvector('simple'::regconfig, coalesce(description, '')), 'C'))"
)
TRGM_COLUMNS = ("title", "location", "description")


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("tenant_id", UUID, nullable=False),
        sa.Column("id", UUID, nullable=False, server_default=sa.text("gen_random_uuid()")),
        sa.Column("key_hash", sa.Text, nullable=False),
        sa.Column("read_only", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", TS, nullable=False, server_default=sa.text("now()")),
        sa.Column("last_used_at", TS),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint("key_hash", name="api_keys_key_hash"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
    )
    op.execute(f"CREATE INDEX events_search_fts ON events USING gin ({SEARCH_VECTOR}) "
               f"WHERE {LIVE_MASTERS}")
    # pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may
    # install it. Failure (not shipped, no privilege) leaves search unindexed
    # for substrings; the subtransaction keeps the migration going.
    op.execute("""
    DO $$
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'pg_trgm unavailable (%): substring search will not be indexed', SQLERRM;
    END $$
    """)
    statements = "\n".join(
        f"EXECUTE 'CREATE INDEX events_search_{col}_trgm ON events "
        f"USING gin ({col} gin_trgm_ops) WHERE {LIVE_MASTERS}';"
        for col in TRGM_COLUMNS)
    op.execute(f"""
    DO $$
    BEGIN
        IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
            {statements}
        END IF;
    END $$
    """)


def downgrade() -> None:
    for col in TRGM_COLUMNS:
        op.execute(f"DROP INDEX IF EXISTS events_search_{col}_trgm")
    op.execute("DROP INDEX IF EXISTS events_search_fts")
    op.drop_table("api_keys")
