"""An event's or object's href is one URL path segment, checked by the database.

Other applications write events.href directly. An href with a slash or a
backslash, '.', '..', or a control character cannot be served as one
member of a calendar: Radicale joined '../x.ics' onto the calendar's path
and a calendar-query with calendar-data answered 500. calendars.href has
had this check since 0001; events and calendar_objects get it now. Rows that
break it are given the href the insert trigger gives a row without one
(`<id>.ics`), since no client could ever have fetched them by the old one.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

SEGMENT = "href <> '' AND href !~ '[/\\\\[:cntrl:]]' AND href NOT IN ('.', '..')"


def upgrade() -> None:
    op.execute(f"UPDATE events SET href = id::text || '.ics' "
               f"WHERE href IS NOT NULL AND NOT ({SEGMENT})")
    op.execute(f"ALTER TABLE events ADD CONSTRAINT events_href_segment "
               f"CHECK (href IS NULL OR ({SEGMENT}))")
    op.execute(f"UPDATE calendar_objects SET href = id::text || '.ics' WHERE NOT ({SEGMENT})")
    op.execute(f"ALTER TABLE calendar_objects ADD CONSTRAINT calendar_objects_href_segment "
               f"CHECK ({SEGMENT})")


def downgrade() -> None:
    op.execute("ALTER TABLE calendar_objects DROP CONSTRAINT calendar_objects_href_segment")
    op.execute("ALTER TABLE events DROP CONSTRAINT events_href_segment")
