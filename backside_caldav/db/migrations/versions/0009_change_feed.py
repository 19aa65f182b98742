"""The change feed: one commit-ordered list of changes per tenant, from every writer.

- change_feed: one row per changed event or calendar and transaction. The
  events and calendars triggers add a row while the transaction runs, with
  seq NULL; a second change of the same object in the same transaction
  merges into that row (created then updated stays created, deleted then
  created is updated, created then deleted leaves nothing).
- At commit a deferred constraint trigger numbers the transaction's rows
  from one sequence, holding each of its tenants' feed locks (transaction
  advisory locks, taken in one order, so writers of several tenants cannot
  deadlock) until the commit: a tenant's numbers are handed out in commit
  order, and a reader that has seen number N never later finds a smaller
  number of that tenant appear. The lock is held only for the commit
  itself, never while the writer works; being a lock and not a row update,
  it gives REPEATABLE READ and SERIALIZABLE writers no serialization errors.
  Numbers are unique across tenants and have gaps within one.
- The same trigger sends NOTIFY backside_changes '<tenant> <newest number>',
  which PostgreSQL delivers at commit (the streams' and webhooks' wake-up).
  PostgreSQL refuses PREPARE TRANSACTION after a NOTIFY: a writer that uses
  two-phase commit sets `backside.feed_notify` to 'off' for the transaction
  (its changes are then seen at the streams' next look, within their
  heartbeat, and by the webhooks' poll).
- source: caldav | api | sql, from the transaction's `backside.source`
  setting (db/tenancy.lock_tenant sets it for the server's own writes;
  another application's plain SQL is 'sql').
- range_start/range_end: the event's conservative span when it changed, so
  a key limited to a time window can be filtered even after a delete.
- feed_floors.floor_seq: the highest number pruned by maintenance; a
  cursor below it gets 410.
- No foreign key to tenants: deleting a tenant cascades into its events,
  whose triggers write feed rows; a key would make that delete fail. Both
  tables have tenant row-level security like every tenant table.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ROLE = "backside_app"
CURRENT_TENANT = "NULLIF(current_setting('backside.tenant_id', true), '')::uuid"
NOT_APP = f"current_user <> '{ROLE}'"

TABLES = [
    """
    CREATE TABLE change_feed (
        tenant_id uuid NOT NULL,
        id bigint GENERATED ALWAYS AS IDENTITY,
        seq bigint,
        txid bigint NOT NULL DEFAULT txid_current(),
        kind text NOT NULL,
        object_id uuid NOT NULL,
        event_id uuid,
        calendar_id uuid NOT NULL,
        prev_calendar_id uuid,
        revision bigint,
        source text NOT NULL,
        range_start timestamptz,
        range_end timestamptz,
        changed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (tenant_id, id)
    )
    """,
    "CREATE UNIQUE INDEX change_feed_seq ON change_feed (tenant_id, seq)",
    # The transaction's own unnumbered rows: tiny, as rows leave it at commit.
    """
    CREATE UNIQUE INDEX change_feed_pending
    ON change_feed (txid, tenant_id, object_id, (event_id IS NULL)) WHERE seq IS NULL
    """,
    "CREATE SEQUENCE change_feed_numbers",
    """
    CREATE TABLE feed_floors (
        tenant_id uuid PRIMARY KEY,
        floor_seq bigint NOT NULL DEFAULT 0
    )
    """,
]

FUNCTIONS = [
    # What two changes of one object in one transaction amount to ('none': nothing).
    """
    CREATE FUNCTION feed_merge(p_old text, p_new text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE
            WHEN p_old = 'none' THEN p_new
            WHEN p_old LIKE '%.created' THEN
                CASE WHEN p_new LIKE '%.deleted' THEN 'none' ELSE p_old END
            WHEN p_old LIKE '%.deleted' THEN
                CASE WHEN p_new LIKE '%.deleted' THEN p_old
                     ELSE regexp_replace(p_old, 'deleted$', 'updated') END
            WHEN p_old LIKE '%.restored' THEN
                CASE WHEN p_new LIKE '%.deleted' THEN 'none' ELSE p_old END
            ELSE  -- updated
                CASE WHEN p_new LIKE '%.deleted' OR p_new LIKE '%.restored' THEN p_new
                     ELSE p_old END
        END
    $$
    """,
    """
    CREATE FUNCTION feed_source() RETURNS text
    LANGUAGE sql STABLE AS $$
        SELECT coalesce(nullif(current_setting('backside.source', true), ''), 'sql')
    $$
    """,
    # Events: statement triggers (one INSERT per statement, however many rows).
    """
    CREATE FUNCTION feed_events_after() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO change_feed AS f (tenant_id, kind, object_id, event_id, calendar_id,
                                          revision, source, range_start, range_end)
            SELECT tenant_id, 'event.created', id, id, calendar_id, revision, feed_source(),
                   range_start, range_end
              FROM new_rows WHERE series_id IS NULL AND deleted_at IS NULL
            ON CONFLICT (txid, tenant_id, object_id, (event_id IS NULL)) WHERE seq IS NULL DO UPDATE
               SET kind = feed_merge(f.kind, EXCLUDED.kind), calendar_id = EXCLUDED.calendar_id,
                   revision = EXCLUDED.revision, source = EXCLUDED.source,
                   range_start = EXCLUDED.range_start, range_end = EXCLUDED.range_end;
        ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO change_feed AS f (tenant_id, kind, object_id, event_id, calendar_id,
                                          revision, source, range_start, range_end)
            SELECT tenant_id, 'event.deleted', id, id, calendar_id, revision, feed_source(),
                   range_start, range_end
              FROM old_rows WHERE series_id IS NULL AND deleted_at IS NULL
            ON CONFLICT (txid, tenant_id, object_id, (event_id IS NULL)) WHERE seq IS NULL DO UPDATE
               SET kind = feed_merge(f.kind, EXCLUDED.kind), source = EXCLUDED.source;
        ELSE
            INSERT INTO change_feed AS f (tenant_id, kind, object_id, event_id, calendar_id,
                                          prev_calendar_id, revision, source, range_start,
                                          range_end)
            SELECT n.tenant_id,
                   CASE WHEN o.deleted_at IS NULL AND n.deleted_at IS NOT NULL
                            THEN 'event.deleted'
                        WHEN o.deleted_at IS NOT NULL THEN 'event.restored'
                        ELSE 'event.updated' END,
                   n.id, n.id, n.calendar_id,
                   CASE WHEN o.calendar_id <> n.calendar_id THEN o.calendar_id END,
                   n.revision, feed_source(), n.range_start, n.range_end
              FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
             WHERE n.revision <> o.revision AND n.series_id IS NULL
               AND (n.deleted_at IS NULL OR o.deleted_at IS NULL)
            ON CONFLICT (txid, tenant_id, object_id, (event_id IS NULL)) WHERE seq IS NULL DO UPDATE
               SET kind = feed_merge(f.kind, EXCLUDED.kind), calendar_id = EXCLUDED.calendar_id,
                   prev_calendar_id = coalesce(f.prev_calendar_id, EXCLUDED.prev_calendar_id),
                   revision = EXCLUDED.revision, source = EXCLUDED.source,
                   range_start = EXCLUDED.range_start, range_end = EXCLUDED.range_end;
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER feed_events_after_insert AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION feed_events_after()
    """,
    """
    CREATE TRIGGER feed_events_after_update AFTER UPDATE ON events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION feed_events_after()
    """,
    """
    CREATE TRIGGER feed_events_after_delete AFTER DELETE ON events
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION feed_events_after()
    """,
    # Calendars: row triggers; an UPDATE counts only when something a reader
    # sees changed (every event write bumps the calendar's sync counter).
    """
    CREATE FUNCTION feed_calendars_after() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE r record;
    BEGIN
        IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
        INSERT INTO change_feed AS f (tenant_id, kind, object_id, calendar_id, source)
        VALUES (r.tenant_id, 'calendar.' || CASE TG_OP WHEN 'INSERT' THEN 'created'
                                                      WHEN 'DELETE' THEN 'deleted'
                                                      ELSE 'updated' END,
                r.id, r.id, feed_source())
        ON CONFLICT (txid, tenant_id, object_id, (event_id IS NULL)) WHERE seq IS NULL DO UPDATE
           SET kind = feed_merge(f.kind, EXCLUDED.kind), source = EXCLUDED.source;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER feed_calendars_after_insert AFTER INSERT ON calendars
    FOR EACH ROW EXECUTE FUNCTION feed_calendars_after()
    """,
    """
    CREATE TRIGGER feed_calendars_after_delete AFTER DELETE ON calendars
    FOR EACH ROW EXECUTE FUNCTION feed_calendars_after()
    """,
    """
    CREATE TRIGGER feed_calendars_after_update AFTER UPDATE ON calendars
    FOR EACH ROW WHEN ((OLD.name, OLD.color, OLD.description, OLD.timezone,
                        OLD.calendar_order, OLD.components, OLD.href, OLD.props)
                       IS DISTINCT FROM
                       (NEW.name, NEW.color, NEW.description, NEW.timezone,
                        NEW.calendar_order, NEW.components, NEW.href, NEW.props))
    EXECUTE FUNCTION feed_calendars_after()
    """,
    # At commit: number the transaction's rows of every tenant it wrote. The
    # first call of the transaction numbers them all; the later calls (one per
    # row) find nothing left after one index probe.
    """
    CREATE FUNCTION feed_number() RETURNS trigger
    LANGUAGE plpgsql AS $$
    DECLARE r record; v_numbers bigint[]; v_count integer;
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM change_feed WHERE txid = txid_current()
                        AND seq IS NULL) THEN
            RETURN NULL;
        END IF;
        DELETE FROM change_feed WHERE txid = txid_current() AND seq IS NULL
           AND kind = 'none';
        FOR r IN SELECT tenant_id, count(*) AS n FROM change_feed
                  WHERE txid = txid_current() AND seq IS NULL
                  GROUP BY tenant_id ORDER BY hashtext(tenant_id::text), tenant_id LOOP
            PERFORM pg_advisory_xact_lock(1717920100, hashtext(r.tenant_id::text));
            SELECT array_agg(v ORDER BY v) INTO v_numbers
              FROM (SELECT nextval('change_feed_numbers') AS v FROM generate_series(1, r.n)) s;
            UPDATE change_feed f SET seq = v_numbers[o.n], changed_at = clock_timestamp()
              FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM change_feed
                     WHERE txid = txid_current() AND tenant_id = r.tenant_id
                       AND seq IS NULL) o
             WHERE f.tenant_id = r.tenant_id AND f.id = o.id;
            IF coalesce(current_setting('backside.feed_notify', true), '') <> 'off' THEN
                PERFORM pg_notify('backside_changes', r.tenant_id::text || ' '
                                  || v_numbers[r.n]::text);
            END IF;
        END LOOP;
        RETURN NULL;
    END $$
    """,
    """
    CREATE CONSTRAINT TRIGGER feed_number AFTER INSERT ON change_feed
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION feed_number()
    """,
]


def upgrade() -> None:
    for statement in TABLES + FUNCTIONS:
        op.execute(statement)
    for table in ("change_feed", "feed_floors"):
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {ROLE}")
    op.execute(f"GRANT USAGE, SELECT, UPDATE ON SEQUENCE change_feed_numbers TO {ROLE}")
    for table in ("change_feed", "feed_floors"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY other_roles ON {table} "
                   f"USING ({NOT_APP}) WITH CHECK ({NOT_APP})")
        op.execute(f"CREATE POLICY tenant_rows ON {table} TO {ROLE} "
                   f"USING (tenant_id = {CURRENT_TENANT}) "
                   f"WITH CHECK (tenant_id = {CURRENT_TENANT})")


def downgrade() -> None:
    op.execute("DROP TRIGGER feed_calendars_after_update ON calendars")
    op.execute("DROP TRIGGER feed_calendars_after_delete ON calendars")
    op.execute("DROP TRIGGER feed_calendars_after_insert ON calendars")
    op.execute("DROP TRIGGER feed_events_after_delete ON events")
    op.execute("DROP TRIGGER feed_events_after_update ON events")
    op.execute("DROP TRIGGER feed_events_after_insert ON events")
    op.execute("DROP TABLE change_feed")
    op.execute("DROP TABLE feed_floors")
    op.execute("DROP SEQUENCE change_feed_numbers")
    for function in ("feed_number()", "feed_calendars_after()", "feed_events_after()",
                     "feed_source()", "feed_merge(text, text)"):
        op.execute(f"DROP FUNCTION {function}")
