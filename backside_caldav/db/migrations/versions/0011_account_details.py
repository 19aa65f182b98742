"""Accounts carry an email address and the time of their last login.

- email: the login's calendar-user address when the login name is not one
  (`account add --email`, `account email`); unique without regard to case,
  so an address names one login on the server.
- last_login_at: when a password check last succeeded for the login. Set when
  the hash is really checked, not for credentials the process verified within
  the last five minutes, so a busy client does not write on every request.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE accounts ADD COLUMN email text, "
               "ADD COLUMN last_login_at timestamptz")
    op.execute("ALTER TABLE accounts ADD CONSTRAINT accounts_email_shape "
               "CHECK (email IS NULL OR email ~ '^[^@\\s]+@[^@\\s]+$')")
    op.execute("CREATE UNIQUE INDEX accounts_email_unique ON accounts (lower(email)) "
               "WHERE email IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX accounts_email_unique")
    op.execute("ALTER TABLE accounts DROP CONSTRAINT accounts_email_shape, "
               "DROP COLUMN email, DROP COLUMN last_login_at")
