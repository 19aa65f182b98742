"""Rows another application wrote with hrefs no CalDAV URL can name.

events.href is a column any writer may fill. An href with a slash, a
backslash, a control character, '.' or '..' cannot be one path segment of a
URL (a calendar-query with calendar-data answered 500 on '../evil.ics'): the
database refuses such new rows, and migration 0012 renames the ones written
before it to `<id>.ics`, as the insert trigger names a row without an href.
"""

from __future__ import annotations

import psycopg
import pytest
from alembic import command

from backside_caldav.db import engines as db
from backside_caldav.db import migrate
from backside_caldav.db.settings import libpq_url

EVENT = ("INSERT INTO events (tenant_id, calendar_id, uid, href, title, start_time, end_time) "
         "VALUES (%s, %s, %s, %s, 'Foreign', '2026-03-01 09:00+00', '2026-03-01 10:00+00')")

BAD = ("../evil.ics", "a/b.ics", "..", "back\\slash.ics", "tab\there.ics")


@pytest.mark.parametrize("href", ["../evil.ics", "a/b.ics", "a\\b.ics", ".", "..",
                                  "new\nline.ics", "tab\there.ics"])
def test_database_refuses_an_href_that_is_no_path_segment(sql: psycopg.Connection, account,
                                                           cal, href: str) -> None:
    with pytest.raises(psycopg.errors.CheckViolation):
        sql.execute(EVENT, (account.tenant_id, cal[1], "u-" + href, href))


def test_migration_renames_rows_written_before_the_check(empty_database_url: str) -> None:
    engine = db.get_engine(empty_database_url)
    with engine.connect() as conn:
        command.upgrade(migrate._config(conn), "0011")
        conn.commit()
    with psycopg.connect(libpq_url(empty_database_url), autocommit=True) as conn:
        tenant = conn.execute("INSERT INTO tenants (name) VALUES ('t') RETURNING id").fetchone()[0]
        calendar = conn.execute("INSERT INTO calendars (tenant_id, name, href) "
                                "VALUES (%s, 'C', 'c') RETURNING id", (tenant,)).fetchone()[0]
        ids = {href: conn.execute(EVENT + " RETURNING id::text",
                                  (tenant, calendar, "u" + str(n), href)).fetchone()[0]
               for n, href in enumerate(["good.ics", *BAD])}
        task = conn.execute("INSERT INTO calendar_objects (tenant_id, calendar_id, component, uid, "
                            "href, ical_source) VALUES (%s, %s, 'VTODO', 't', '../task.ics', "
                            "'BEGIN:VCALENDAR') RETURNING id::text", (tenant, calendar)).fetchone()[0]
    migrate.upgrade(engine)
    with psycopg.connect(libpq_url(empty_database_url)) as conn:
        hrefs = dict(conn.execute("SELECT id::text, href FROM events UNION ALL "
                                  "SELECT id::text, href FROM calendar_objects").fetchall())
    assert hrefs[ids["good.ics"]] == "good.ics"
    for bad in BAD:
        assert hrefs[ids[bad]] == ids[bad] + ".ics"
    assert hrefs[task] == task + ".ics"
