"""Initial schema: tenants, accounts, calendars, events, attendees, links,
CalDAV bookkeeping, and the triggers that keep ETags and sync tokens right
whoever writes the rows.

Every key leads with tenant_id so the tables can be distributed by tenant
(Citus) later; no foreign key crosses tenants.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UUID = pg.UUID(as_uuid=False)
TS = sa.TIMESTAMP(timezone=True)


def _id() -> sa.Column:
    return sa.Column("id", UUID, nullable=False, server_default=sa.text("gen_random_uuid()"))


def _tenant() -> sa.Column:
    return sa.Column("tenant_id", UUID, nullable=False)


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", TS, nullable=False, server_default=sa.text("now()")),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.text("now()")),
    ]


def upgrade() -> None:
    op.execute("CREATE SEQUENCE caldav_revision_seq")

    op.create_table(
        "tenants",
        _id(),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.text("now()")),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    # Logins are looked up by name before the tenant is known: a small table
    # that would be a Citus reference table.
    op.create_table(
        "accounts",
        _tenant(),
        _id(),
        sa.Column("username", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint("username"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
    )

    op.create_table(
        "calendars",
        _tenant(),
        _id(),
        sa.Column("name", sa.Text, nullable=False, server_default="Calendar"),
        sa.Column("color", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("timezone", sa.Text),
        sa.Column("calendar_order", sa.Integer),
        sa.Column(
            "components", pg.ARRAY(sa.Text), nullable=False,
            server_default=sa.text("ARRAY['VEVENT','VTODO','VJOURNAL']"),
        ),
        # CalDAV: the path segment, other WebDAV properties, sync bookkeeping.
        sa.Column("href", sa.Text, nullable=False),
        sa.Column("props", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("sync_counter", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("sync_floor", sa.BigInteger, nullable=False, server_default="0"),
        *_stamps(),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.UniqueConstraint("tenant_id", "href"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.CheckConstraint("href <> '' AND href !~ '[/\\\\]' AND href NOT IN ('.', '..')",
                           name="calendars_href_segment"),
    )

    op.create_table(
        "events",
        _tenant(),
        _id(),
        sa.Column("calendar_id", UUID, nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("location", sa.Text),
        sa.Column("start_time", TS, nullable=False),
        sa.Column("end_time", TS),
        sa.Column("timezone", sa.Text),
        sa.Column("is_all_day", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("event_type", sa.Text, nullable=False, server_default="event"),
        sa.Column("rrule", sa.Text),
        sa.Column("rdates", pg.ARRAY(TS)),
        sa.Column("exdates", pg.ARRAY(TS)),
        sa.Column("next_occurrence", TS),
        sa.Column("status", sa.Text),
        sa.Column("transparency", sa.Text),
        sa.Column("organizer", sa.Text),
        # CalDAV identity; an override row carries series_id + recurrence_id
        # and shares its series' resource (no href of its own).
        sa.Column("uid", sa.Text, nullable=False),
        sa.Column("href", sa.Text),
        sa.Column("sequence", sa.Integer, nullable=False, server_default="0"),
        sa.Column("series_id", UUID),
        sa.Column("recurrence_id", TS),
        sa.Column("deleted_at", TS),
        *_stamps(),
        # Bookkeeping: ETag revision, the client's own text and the revision it
        # belongs to, the conservative time span for range pre-filtering.
        sa.Column("revision", sa.BigInteger, nullable=False,
                  server_default=sa.text("nextval('caldav_revision_seq')")),
        sa.Column("ical_source", sa.Text),
        sa.Column("ical_revision", sa.BigInteger),
        sa.Column("range_start", TS),
        sa.Column("range_end", TS),
        sa.Column("occurrence_stale", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id", "calendar_id"],
                                ["calendars.tenant_id", "calendars.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tenant_id", "series_id"],
                                ["events.tenant_id", "events.id"], ondelete="CASCADE"),
        sa.CheckConstraint(
            "event_type IN ('event','focus_time','out_of_office','working_location','reminder')",
            name="events_event_type"),
        sa.CheckConstraint("status IS NULL OR status IN ('confirmed','tentative','cancelled')",
                           name="events_status"),
        sa.CheckConstraint("transparency IS NULL OR transparency IN ('opaque','transparent')",
                           name="events_transparency"),
        sa.CheckConstraint("end_time IS NULL OR end_time >= start_time", name="events_end_after_start"),
        sa.CheckConstraint("(series_id IS NULL) = (recurrence_id IS NULL) OR series_id IS NULL",
                           name="events_override_has_recurrence_id"),
    )
    op.create_index("events_href", "events", ["tenant_id", "calendar_id", "href"], unique=True,
                    postgresql_where=sa.text("deleted_at IS NULL AND series_id IS NULL"))
    op.create_index("events_uid", "events", ["tenant_id", "calendar_id", "uid"],
                    postgresql_where=sa.text("deleted_at IS NULL AND series_id IS NULL"))
    op.create_index("events_series", "events", ["tenant_id", "series_id"],
                    postgresql_where=sa.text("series_id IS NOT NULL"))
    op.create_index("events_range", "events",
                    ["tenant_id", "calendar_id", "range_start", "range_end"],
                    postgresql_where=sa.text("deleted_at IS NULL"))
    op.create_index("events_next_occurrence", "events", ["tenant_id", "next_occurrence"],
                    postgresql_where=sa.text("deleted_at IS NULL"))
    op.create_index("events_deleted", "events", ["deleted_at"],
                    postgresql_where=sa.text("deleted_at IS NOT NULL"))

    op.create_table(
        "event_attendees",
        _tenant(),
        _id(),
        sa.Column("event_id", UUID, nullable=False),
        sa.Column("contact_id", UUID),
        sa.Column("email", sa.Text),
        sa.Column("name", sa.Text),
        sa.Column("rsvp_status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("role", sa.Text),
        *_stamps(),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.ForeignKeyConstraint(["tenant_id", "event_id"], ["events.tenant_id", "events.id"],
                                ondelete="CASCADE"),
        sa.CheckConstraint("rsvp_status IN ('pending','accepted','declined','tentative')",
                           name="event_attendees_rsvp_status"),
        sa.CheckConstraint("contact_id IS NOT NULL OR email IS NOT NULL",
                           name="event_attendees_identity"),
    )
    op.create_index("event_attendees_event", "event_attendees", ["tenant_id", "event_id"])
    op.create_index("event_attendees_email", "event_attendees", ["tenant_id", sa.text("lower(email)")])
    op.create_index("event_attendees_contact", "event_attendees", ["tenant_id", "contact_id"])

    op.create_table(
        "event_links",
        _tenant(),
        _id(),
        sa.Column("event_id", UUID, nullable=False),
        sa.Column("entity_type", sa.Text, nullable=False),
        sa.Column("entity_id", sa.Text, nullable=False),
        *_stamps(),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.ForeignKeyConstraint(["tenant_id", "event_id"], ["events.tenant_id", "events.id"],
                                ondelete="CASCADE"),
        sa.CheckConstraint("entity_type IN ('contact','task','note','deal')",
                           name="event_links_entity_type"),
    )
    op.create_index("event_links_event", "event_links", ["tenant_id", "event_id"])
    op.create_index("event_links_entity", "event_links", ["tenant_id", "entity_type", "entity_id"])

    # VTODO / VJOURNAL resources: stored losslessly, not mapped to events.
    op.create_table(
        "calendar_objects",
        _tenant(),
        _id(),
        sa.Column("calendar_id", UUID, nullable=False),
        sa.Column("component", sa.Text, nullable=False),
        sa.Column("uid", sa.Text, nullable=False),
        sa.Column("href", sa.Text, nullable=False),
        sa.Column("ical_source", sa.Text, nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False,
                  server_default=sa.text("nextval('caldav_revision_seq')")),
        sa.Column("range_start", TS),
        sa.Column("range_end", TS),
        *_stamps(),
        sa.PrimaryKeyConstraint("tenant_id", "id"),
        sa.ForeignKeyConstraint(["tenant_id", "calendar_id"],
                                ["calendars.tenant_id", "calendars.id"], ondelete="CASCADE"),
        sa.CheckConstraint("component IN ('VTODO','VJOURNAL')", name="calendar_objects_component"),
    )
    op.create_index("calendar_objects_href", "calendar_objects",
                    ["tenant_id", "calendar_id", "href"], unique=True)
    op.create_index("calendar_objects_uid", "calendar_objects", ["tenant_id", "calendar_id", "uid"])

    # Change log for RFC 6578 sync: one counter per calendar, taken under the
    # calendar row's lock, so counters are commit-ordered per calendar.
    op.create_table(
        "calendar_changes",
        _tenant(),
        sa.Column("calendar_id", UUID, nullable=False),
        sa.Column("counter", sa.BigInteger, nullable=False),
        sa.Column("href", sa.Text, nullable=False),
        sa.Column("changed_at", TS, nullable=False, server_default=sa.text("now()")),
        sa.ForeignKeyConstraint(["tenant_id", "calendar_id"],
                                ["calendars.tenant_id", "calendars.id"], ondelete="CASCADE"),
    )
    op.create_index("calendar_changes_counter", "calendar_changes",
                    ["tenant_id", "calendar_id", "counter"])

    for statement in TRIGGER_SQL:
        op.execute(statement)


TRIGGER_SQL = [
    # Record hrefs as changed in one calendar: bump its counter once per call.
    """
    CREATE FUNCTION caldav_log_changes(p_tenant uuid, p_calendar uuid, p_hrefs text[])
    RETURNS void LANGUAGE plpgsql AS $$
    DECLARE v_counter bigint;
    BEGIN
        IF p_hrefs IS NULL OR cardinality(p_hrefs) = 0 THEN RETURN; END IF;
        UPDATE calendars SET sync_counter = sync_counter + 1
         WHERE tenant_id = p_tenant AND id = p_calendar
        RETURNING sync_counter INTO v_counter;
        IF v_counter IS NULL THEN RETURN; END IF;  -- calendar is being deleted
        INSERT INTO calendar_changes (tenant_id, calendar_id, counter, href)
        SELECT p_tenant, p_calendar, v_counter, h FROM unnest(p_hrefs) AS h
         WHERE h IS NOT NULL;
    END $$
    """,
    # Conservative time span used to pre-filter time-range queries.
    """
    CREATE FUNCTION caldav_event_span(e events) RETURNS tstzrange
    LANGUAGE plpgsql IMMUTABLE AS $$
    DECLARE
        v_slack interval := CASE WHEN e.is_all_day OR e.timezone IS NULL
                                 THEN interval '14 hours' ELSE interval '0' END;
        v_end timestamptz;
    BEGIN
        IF e.rrule IS NOT NULL OR coalesce(cardinality(e.rdates), 0) > 0 THEN
            v_end := 'infinity';
        ELSE
            v_end := greatest(coalesce(e.end_time, e.start_time),
                              e.start_time + CASE WHEN e.is_all_day THEN interval '1 day'
                                                  ELSE interval '0' END) + v_slack;
        END IF;
        RETURN tstzrange(e.start_time - v_slack, v_end, '[]');
    END $$
    """,
    # Row trigger: defaults for rows born outside CalDAV, revision bump only
    # when something a client could see changed.
    """
    CREATE FUNCTION caldav_events_before() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE v_span tstzrange;
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            IF NEW.revision = OLD.revision AND
               (to_jsonb(NEW) - ARRAY['revision','ical_revision','updated_at','next_occurrence',
                                      'range_start','range_end','occurrence_stale',
                                      'instances_until'])
               = (to_jsonb(OLD) - ARRAY['revision','ical_revision','updated_at','next_occurrence',
                                        'range_start','range_end','occurrence_stale',
                                        'instances_until']) THEN
                RETURN NEW;
            END IF;
            IF NEW.revision = OLD.revision THEN
                NEW.revision := nextval('caldav_revision_seq');
            END IF;
            IF NEW.updated_at = OLD.updated_at THEN NEW.updated_at := now(); END IF;
        END IF;
        IF NEW.uid IS NULL OR NEW.uid = '' THEN NEW.uid := NEW.id::text; END IF;
        IF NEW.series_id IS NULL AND (NEW.href IS NULL OR NEW.href = '') THEN
            NEW.href := NEW.id::text || '.ics';
        END IF;
        IF NEW.series_id IS NOT NULL THEN NEW.href := NULL; END IF;
        -- CalDAV writes bring an exact span (computed with dateutil); other
        -- writers get a conservative one whenever the times change.
        IF (TG_OP = 'INSERT' AND (NEW.range_start IS NULL OR NEW.range_end IS NULL))
           OR (TG_OP = 'UPDATE'
               AND NEW.range_start IS NOT DISTINCT FROM OLD.range_start
               AND NEW.range_end IS NOT DISTINCT FROM OLD.range_end
               AND (NEW.start_time, NEW.end_time, NEW.rrule, NEW.rdates, NEW.exdates,
                    NEW.is_all_day, NEW.timezone)
                   IS DISTINCT FROM (OLD.start_time, OLD.end_time, OLD.rrule, OLD.rdates,
                                     OLD.exdates, OLD.is_all_day, OLD.timezone)) THEN
            v_span := caldav_event_span(NEW);
            NEW.range_start := lower(v_span);
            NEW.range_end := upper(v_span);
        END IF;
        NEW.occurrence_stale := true;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER caldav_events_before BEFORE INSERT OR UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION caldav_events_before()
    """,
    # Statement triggers: log changed hrefs per calendar; a changed override
    # row changes its series' resource.
    """
    CREATE FUNCTION caldav_events_after() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE r record;
    BEGIN
        IF TG_OP = 'INSERT' THEN
            FOR r IN SELECT tenant_id, calendar_id, array_agg(DISTINCT href) AS hrefs
                       FROM new_rows WHERE series_id IS NULL GROUP BY 1, 2 LOOP
                PERFORM caldav_log_changes(r.tenant_id, r.calendar_id, r.hrefs);
            END LOOP;
            IF EXISTS (SELECT 1 FROM new_rows WHERE series_id IS NOT NULL) THEN
                UPDATE events e SET revision = nextval('caldav_revision_seq')
                  FROM (SELECT DISTINCT tenant_id, series_id FROM new_rows
                         WHERE series_id IS NOT NULL) s
                 WHERE e.tenant_id = s.tenant_id AND e.id = s.series_id;
            END IF;
        ELSIF TG_OP = 'DELETE' THEN
            FOR r IN SELECT tenant_id, calendar_id, array_agg(DISTINCT href) AS hrefs
                       FROM old_rows WHERE series_id IS NULL GROUP BY 1, 2 LOOP
                PERFORM caldav_log_changes(r.tenant_id, r.calendar_id, r.hrefs);
            END LOOP;
            IF EXISTS (SELECT 1 FROM old_rows WHERE series_id IS NOT NULL) THEN
                UPDATE events e SET revision = nextval('caldav_revision_seq')
                  FROM (SELECT DISTINCT tenant_id, series_id FROM old_rows
                         WHERE series_id IS NOT NULL) s
                 WHERE e.tenant_id = s.tenant_id AND e.id = s.series_id;
            END IF;
        ELSE
            FOR r IN SELECT tenant_id, calendar_id, array_agg(DISTINCT href) AS hrefs FROM (
                        SELECT n.tenant_id, n.calendar_id, n.href
                          FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
                         WHERE n.revision <> o.revision AND n.series_id IS NULL
                        UNION ALL
                        SELECT o.tenant_id, o.calendar_id, o.href
                          FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
                         WHERE n.revision <> o.revision AND o.series_id IS NULL
                           AND (o.calendar_id <> n.calendar_id OR o.href IS DISTINCT FROM n.href)
                     ) c GROUP BY 1, 2 LOOP
                PERFORM caldav_log_changes(r.tenant_id, r.calendar_id, r.hrefs);
            END LOOP;
            IF EXISTS (SELECT 1 FROM new_rows WHERE series_id IS NOT NULL) THEN
            UPDATE events e SET revision = nextval('caldav_revision_seq')
              FROM (SELECT DISTINCT n.tenant_id, n.series_id
                      FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
                     WHERE n.revision <> o.revision AND n.series_id IS NOT NULL) s
             WHERE e.tenant_id = s.tenant_id AND e.id = s.series_id;
            END IF;
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER caldav_events_after_insert AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION caldav_events_after()
    """,
    """
    CREATE TRIGGER caldav_events_after_update AFTER UPDATE ON events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION caldav_events_after()
    """,
    """
    CREATE TRIGGER caldav_events_after_delete AFTER DELETE ON events
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION caldav_events_after()
    """,
    # Attendees and links belong to their event's resource: a real change to
    # them bumps the event's revision (which the events triggers then log).
    """
    CREATE FUNCTION caldav_event_children_after() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            UPDATE events e SET revision = nextval('caldav_revision_seq')
              FROM (SELECT DISTINCT tenant_id, event_id FROM new_rows) c
             WHERE e.tenant_id = c.tenant_id AND e.id = c.event_id;
        ELSIF TG_OP = 'DELETE' THEN
            UPDATE events e SET revision = nextval('caldav_revision_seq')
              FROM (SELECT DISTINCT tenant_id, event_id FROM old_rows) c
             WHERE e.tenant_id = c.tenant_id AND e.id = c.event_id;
        ELSE
            UPDATE events e SET revision = nextval('caldav_revision_seq')
              FROM (SELECT DISTINCT n.tenant_id, n.event_id FROM new_rows n
                      JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
                     WHERE (to_jsonb(n) - 'updated_at') <> (to_jsonb(o) - 'updated_at')
                    UNION
                    SELECT DISTINCT o.tenant_id, o.event_id FROM new_rows n
                      JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
                     WHERE o.event_id <> n.event_id) c
             WHERE e.tenant_id = c.tenant_id AND e.id = c.event_id;
        END IF;
        RETURN NULL;
    END $$
    """,
    *[
        stmt.format(table=table)
        for table in ("event_attendees", "event_links")
        for stmt in (
            "CREATE TRIGGER caldav_{table}_after_insert AFTER INSERT ON {table} "
            "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
            "EXECUTE FUNCTION caldav_event_children_after()",
            "CREATE TRIGGER caldav_{table}_after_update AFTER UPDATE ON {table} "
            "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT "
            "EXECUTE FUNCTION caldav_event_children_after()",
            "CREATE TRIGGER caldav_{table}_after_delete AFTER DELETE ON {table} "
            "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
            "EXECUTE FUNCTION caldav_event_children_after()",
        )
    ],
    # VTODO/VJOURNAL resources.
    """
    CREATE FUNCTION caldav_objects_before() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            IF NEW.revision = OLD.revision AND
               (to_jsonb(NEW) - ARRAY['revision','updated_at'])
               = (to_jsonb(OLD) - ARRAY['revision','updated_at']) THEN
                RETURN NEW;
            END IF;
            IF NEW.revision = OLD.revision THEN
                NEW.revision := nextval('caldav_revision_seq');
            END IF;
            NEW.updated_at := now();
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER caldav_objects_before BEFORE UPDATE ON calendar_objects
    FOR EACH ROW EXECUTE FUNCTION caldav_objects_before()
    """,
    """
    CREATE FUNCTION caldav_objects_after() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE r record;
    BEGIN
        IF TG_OP = 'INSERT' THEN
            FOR r IN SELECT tenant_id, calendar_id, array_agg(DISTINCT href) AS hrefs
                       FROM new_rows GROUP BY 1, 2 LOOP
                PERFORM caldav_log_changes(r.tenant_id, r.calendar_id, r.hrefs);
            END LOOP;
        ELSE
            FOR r IN SELECT tenant_id, calendar_id, array_agg(DISTINCT href) AS hrefs
                       FROM old_rows GROUP BY 1, 2 LOOP
                PERFORM caldav_log_changes(r.tenant_id, r.calendar_id, r.hrefs);
            END LOOP;
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE FUNCTION caldav_objects_after_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE r record;
    BEGIN
        FOR r IN
            SELECT tenant_id, calendar_id, array_agg(DISTINCT href) AS hrefs FROM (
                SELECT n.tenant_id, n.calendar_id, n.href
                  FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
                 WHERE n.revision <> o.revision
                UNION ALL
                SELECT o.tenant_id, o.calendar_id, o.href
                  FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
                 WHERE n.revision <> o.revision
                   AND (o.calendar_id <> n.calendar_id OR o.href <> n.href)
            ) c GROUP BY tenant_id, calendar_id
        LOOP
            PERFORM caldav_log_changes(r.tenant_id, r.calendar_id, r.hrefs);
        END LOOP;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER caldav_objects_after_insert AFTER INSERT ON calendar_objects
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION caldav_objects_after()
    """,
    """
    CREATE TRIGGER caldav_objects_after_delete AFTER DELETE ON calendar_objects
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION caldav_objects_after()
    """,
    """
    CREATE TRIGGER caldav_objects_after_update AFTER UPDATE ON calendar_objects
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION caldav_objects_after_update()
    """,
    # Calendars: default href; any visible property change moves the CTag.
    """
    CREATE FUNCTION caldav_calendars_before() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            IF NEW.href IS NULL OR NEW.href = '' THEN NEW.href := NEW.id::text; END IF;
            RETURN NEW;
        END IF;
        IF (to_jsonb(NEW) - ARRAY['sync_counter','sync_floor','updated_at'])
           <> (to_jsonb(OLD) - ARRAY['sync_counter','sync_floor','updated_at']) THEN
            NEW.sync_counter := greatest(NEW.sync_counter, OLD.sync_counter + 1);
            NEW.updated_at := now();
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER caldav_calendars_before BEFORE INSERT OR UPDATE ON calendars
    FOR EACH ROW EXECUTE FUNCTION caldav_calendars_before()
    """,
]


def downgrade() -> None:
    for table in ("calendar_changes", "calendar_objects", "event_links", "event_attendees",
                  "events", "calendars", "accounts", "tenants"):
        op.drop_table(table)
    for fn in ("caldav_log_changes(uuid, uuid, text[])", "caldav_event_span(events)",
               "caldav_events_before()", "caldav_events_after()",
               "caldav_event_children_after()", "caldav_objects_before()",
               "caldav_objects_after()", "caldav_objects_after_update()",
               "caldav_calendars_before()"):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    op.execute("DROP SEQUENCE caldav_revision_seq")
