"""Index for the series the instance index cannot answer for.

Every time-range REPORT and free-busy query asks which series were changed
by another writer (occurrence_stale) or were never indexed (instances_until
NULL). The OR of the two could only be answered by a sequential scan of the
tenant's events (13 ms per query at 10,000 events); this partial index holds
exactly those rows, normally none.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("events_unindexed", "events", ["tenant_id", "calendar_id"],
                    postgresql_where=sa.text(
                        "deleted_at IS NULL AND series_id IS NULL "
                        "AND (occurrence_stale OR instances_until IS NULL)"))


def downgrade() -> None:
    op.drop_index("events_unindexed", table_name="events")
