"""Scheduling (RFC 6638, iTIP, iMIP): each login's schedule inbox, and the
queue of iTIP messages waiting to go out.

- schedule_inbox: the iTIP messages delivered to one login (REQUEST, CANCEL,
  REPLY), which its client lists, reads and deletes at /<login>/inbox/. The
  row belongs to the recipient's tenant: a delivery from another tenant
  writes it through scheduling/delivery.py, the one path that crosses.
- itip_queue: every message an organizer's or attendee's change sends,
  written in the writer's own transaction (so a rollback sends nothing) and
  sent after it commits: `server` to a login of this server (inbox and
  calendar), `mail` to anyone else over SMTP (iMIP, RFC 6047). A row is sent
  while its sender holds it locked (FOR UPDATE SKIP LOCKED) and marked sent
  in the same transaction, so a crash before that commit sends it again at
  most once more and a relay that is down loses nothing: attempts and
  next_attempt_at give the backoff. The row belongs to the sender's tenant.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

ROLE = "backside_app"
CURRENT_TENANT = "NULLIF(current_setting('backside.tenant_id', true), '')::uuid"
NOT_APP = f"current_user <> '{ROLE}'"
SEGMENT = "href <> '' AND href !~ '[/\\\\[:cntrl:]]' AND href NOT IN ('.', '..')"


def upgrade() -> None:
    op.execute(f"""
        CREATE TABLE schedule_inbox (
            tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            username text NOT NULL,
            href text NOT NULL CHECK ({SEGMENT}),
            uid text NOT NULL,
            method text NOT NULL CHECK (method IN ('REQUEST', 'CANCEL', 'REPLY', 'ADD',
                                                   'REFRESH', 'COUNTER', 'DECLINECOUNTER')),
            originator text NOT NULL,
            ical_source text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id),
            UNIQUE (tenant_id, username, href)
        )
    """)
    op.execute("""
        CREATE TABLE itip_queue (
            tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            transport text NOT NULL CHECK (transport IN ('server', 'mail')),
            method text NOT NULL,
            originator text NOT NULL,
            recipient text NOT NULL,
            uid text NOT NULL,
            ical_source text NOT NULL,
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            sent_at timestamptz,
            last_error text,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id)
        )
    """)
    op.execute("CREATE INDEX itip_queue_due ON itip_queue (next_attempt_at) "
               "WHERE sent_at IS NULL")
    for table in ("schedule_inbox", "itip_queue"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY other_roles ON {table} USING ({NOT_APP}) "
                   f"WITH CHECK ({NOT_APP})")
        op.execute(f"CREATE POLICY tenant_rows ON {table} TO {ROLE} "
                   f"USING (tenant_id = {CURRENT_TENANT}) "
                   f"WITH CHECK (tenant_id = {CURRENT_TENANT})")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {ROLE}")


def downgrade() -> None:
    op.execute("DROP TABLE itip_queue")
    op.execute("DROP TABLE schedule_inbox")
