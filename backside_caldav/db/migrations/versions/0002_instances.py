"""Instance index: every occurrence of every event up to a horizon.

Time-range queries, free-busy and next_occurrence read occurrences from here
instead of expanding rules per request. A series is indexed up to
events.instances_until (infinity when all of it is indexed); rows that
another writer changed are marked occurrence_stale by the trigger and are
answered conservatively until the maintenance pass re-indexes them.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

UUID = pg.UUID(as_uuid=False)
TS = sa.TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.add_column("events", sa.Column("instances_until", TS))
    op.create_table(
        "event_instances",
        sa.Column("tenant_id", UUID, nullable=False),
        sa.Column("calendar_id", UUID, nullable=False),
        sa.Column("event_id", UUID, nullable=False),  # the series (master) row
        sa.Column("recurrence_id", TS, nullable=False),
        sa.Column("start_time", TS, nullable=False),
        sa.Column("end_time", TS, nullable=False),
        # exact: a fixed instant (not a floating time or a date), so a range
        # match here is final; long: over 7 days, found by a separate index.
        sa.Column("exact", sa.Boolean, nullable=False),
        sa.Column("is_long", sa.Boolean, nullable=False),
        sa.Column("busy", sa.Text, nullable=False),  # BUSY, BUSY-TENTATIVE, FREE
        sa.PrimaryKeyConstraint("tenant_id", "event_id", "recurrence_id"),
        sa.ForeignKeyConstraint(["tenant_id", "event_id"], ["events.tenant_id", "events.id"],
                                ondelete="CASCADE"),
    )
    op.create_index("event_instances_start", "event_instances",
                    ["tenant_id", "calendar_id", "start_time"])
    op.create_index("event_instances_long", "event_instances",
                    ["tenant_id", "calendar_id", "end_time"], postgresql_where=sa.text("is_long"))
    op.create_index("events_stale", "events", ["tenant_id", "calendar_id"],
                    postgresql_where=sa.text("occurrence_stale AND deleted_at IS NULL"))
    op.create_index("events_horizon", "events", ["tenant_id", "calendar_id", "instances_until"],
                    postgresql_where=sa.text("instances_until < 'infinity' AND deleted_at IS NULL"))
    op.create_index("events_stale_all", "events", ["occurrence_stale"],
                    postgresql_where=sa.text("occurrence_stale"))
    # Moving a series to another calendar moves its instances with it.
    op.execute("""
    CREATE FUNCTION caldav_instances_follow() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.calendar_id <> OLD.calendar_id AND NEW.series_id IS NULL THEN
            UPDATE event_instances SET calendar_id = NEW.calendar_id
             WHERE tenant_id = NEW.tenant_id AND event_id = NEW.id;
        END IF;
        RETURN NULL;
    END $$
    """)
    op.execute("CREATE TRIGGER caldav_instances_follow AFTER UPDATE OF calendar_id ON events "
               "FOR EACH ROW EXECUTE FUNCTION caldav_instances_follow()")


def downgrade() -> None:
    op.execute("DROP TRIGGER caldav_instances_follow ON events")
    op.execute("DROP FUNCTION caldav_instances_follow()")
    op.drop_index("events_stale_all", "events")
    op.drop_index("events_horizon", "events")
    op.drop_index("events_stale", "events")
    op.drop_table("event_instances")
    op.drop_column("events", "instances_until")
