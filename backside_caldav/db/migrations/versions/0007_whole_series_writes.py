"""Triggers that let one statement write a whole new series and its index.

A new event reached the database in several statements: the rows, then the
occurrence index, then an UPDATE that marked the rows indexed and the text
current (ical_revision). The UPDATE ran every events trigger a second time,
and each inserted override, attendee or link made the triggers bump the
series' revision once more.

The plugin now writes a new series, its children and its occurrences in one
statement after setting `backside.whole_series` (transaction-local) to the
series' id. For that series' rows only, the triggers trust the writer:
- caldav_events_before leaves occurrence_stale false and sets the master's
  ical_revision to its revision (the stored text is the client's own);
- the statement triggers do not bump its revision for children written in
  the same statement (the master row is itself new, its change is logged).
Every other writer, and the plugin's other writes, keep the old behaviour.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

WHOLE_SERIES = """
CREATE FUNCTION caldav_whole_series(p_id uuid, p_series uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('backside.whole_series', true), '')
                    IN (p_id::text, p_series::text), false)
$$
"""

EVENTS_BEFORE = """
CREATE OR REPLACE FUNCTION caldav_events_before() RETURNS trigger
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
    IF caldav_whole_series(NEW.id, NEW.series_id) THEN
        -- The plugin wrote this series' rows, text and occurrences together.
        NEW.occurrence_stale := false;
        IF NEW.series_id IS NULL THEN NEW.ical_revision := NEW.revision; END IF;
    ELSE
        NEW.occurrence_stale := true;
    END IF;
    RETURN NEW;
END $$
"""

# Only the INSERT branch changes: an override inserted with its new master.
EVENTS_AFTER = """
CREATE OR REPLACE FUNCTION caldav_events_after() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        FOR r IN SELECT tenant_id, calendar_id, array_agg(DISTINCT href) AS hrefs
                   FROM new_rows WHERE series_id IS NULL GROUP BY 1, 2 LOOP
            PERFORM caldav_log_changes(r.tenant_id, r.calendar_id, r.hrefs);
        END LOOP;
        IF EXISTS (SELECT 1 FROM new_rows WHERE series_id IS NOT NULL
                    AND NOT caldav_whole_series(id, series_id)) THEN
            UPDATE events e SET revision = nextval('caldav_revision_seq')
              FROM (SELECT DISTINCT tenant_id, series_id FROM new_rows
                     WHERE series_id IS NOT NULL AND NOT caldav_whole_series(id, series_id)) s
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
"""

# Only the INSERT branch changes: attendees and links of a whole new series.
CHILDREN_AFTER = """
CREATE OR REPLACE FUNCTION caldav_event_children_after() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE events e SET revision = nextval('caldav_revision_seq')
          FROM (SELECT DISTINCT tenant_id, event_id FROM new_rows) c
         WHERE e.tenant_id = c.tenant_id AND e.id = c.event_id
           AND NOT caldav_whole_series(e.id, e.series_id);
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
"""


def upgrade() -> None:
    op.execute(WHOLE_SERIES)
    for body in (EVENTS_BEFORE, EVENTS_AFTER, CHILDREN_AFTER):
        op.execute(body)


def downgrade() -> None:
    from importlib import import_module
    initial = import_module("backside_caldav.db.migrations.versions.0001_initial")
    replaced = [f"CREATE FUNCTION {name}()" for name in
                ("caldav_events_before", "caldav_events_after", "caldav_event_children_after")]
    for body in initial.TRIGGER_SQL:
        if body.strip().startswith(tuple(replaced)):
            op.execute(body.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    op.execute("DROP FUNCTION caldav_whole_series(uuid, uuid)")
