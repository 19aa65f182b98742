"""Instance lengths that start and end times alone cannot carry.

- events.duration_days: the whole days of a client's DURATION (P1D, P1W).
  RFC 5545 3.3.6 makes them nominal: every instance keeps its wall-clock end
  across a DST change, unlike a DTEND, whose exact length applies to every
  instance (3.8.5.3). 0 for DTEND, hours-only durations and rows written by
  others; a value that no longer fits start_time/end_time (another writer
  changed them) is ignored by the expansion.
- events.rdate_periods: RDATE;VALUE=PERIOD values; such an instance ends at
  its period's end (3.8.5.2), not after the master's duration. The starts
  stay in rdates, so writers that know only rdates keep working; a period
  whose start is not an instance is ignored.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("duration_days", sa.Integer, nullable=False,
                                      server_default="0"))
    op.add_column("events", sa.Column("rdate_periods", pg.ARRAY(pg.TSTZRANGE)))
    op.create_check_constraint("events_duration_days", "events", "duration_days >= 0")


def downgrade() -> None:
    op.drop_constraint("events_duration_days", "events")
    op.drop_column("events", "rdate_periods")
    op.drop_column("events", "duration_days")
