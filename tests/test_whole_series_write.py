"""A new event written in one statement (event_writes.create_series, migration 0007).

The rows, children and occurrences of a new series go in together, and the
triggers trust that write for that series only: these tests hold the result
to what the statement-by-statement path and other writers get.
"""

from __future__ import annotations

import uuid

import psycopg
import requests
import sqlalchemy as sa
from alembic import command

from backside_caldav.db import engines as db
from backside_caldav.db import migrate
from backside_caldav.db.settings import libpq_url

SERIES = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20260101T000000Z\r
DTSTART:20260105T090000Z\r
DTEND:20260105T100000Z\r
RRULE:FREQ=WEEKLY;COUNT=10\r
SUMMARY:Weekly\r
ORGANIZER:mailto:boss@example.com\r
ATTENDEE;CN=Ann;PARTSTAT=ACCEPTED:mailto:ann@example.com\r
ATTENDEE;CN=Bob:mailto:bob@example.com\r
LINK;LINKREL="related";VALUE=URI:urn:backside:contact:c-17\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20260101T000000Z\r
RECURRENCE-ID:20260112T090000Z\r
DTSTART:20260112T150000Z\r
DTEND:20260112T160000Z\r
SUMMARY:Weekly, moved\r
ATTENDEE;CN=Cy:mailto:cy@example.com\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20260101T000000Z\r
RECURRENCE-ID:20260119T090000Z\r
DTSTART:20260119T090000Z\r
DTEND:20260119T100000Z\r
STATUS:CANCELLED\r
SUMMARY:Weekly, cancelled\r
END:VEVENT\r
END:VCALENDAR\r
"""


def put(http: requests.Session, url: str, body: str, **headers: str) -> requests.Response:
    return http.put(url, data=body, headers={"Content-Type": "text/calendar", **headers})


def master_of(sql: psycopg.Connection, tenant: str, uid: str) -> tuple:
    return sql.execute(
        "SELECT id::text, revision, ical_revision, occurrence_stale FROM events "
        "WHERE tenant_id = %s AND uid = %s AND series_id IS NULL", (tenant, uid)).fetchone()


def test_new_series_rows_index_and_etag_in_one_write(http, account, sql, cal) -> None:
    url, cal_id = cal
    uid = "whole-" + uuid.uuid4().hex[:8]
    counter_before = sql.execute("SELECT sync_counter FROM calendars WHERE id = %s",
                                 (cal_id,)).fetchone()[0]
    r = put(http, url + "w.ics", SERIES.format(uid=uid), **{"If-None-Match": "*"})
    assert r.status_code == 201, r.text
    series, revision, ical_revision, stale = master_of(sql, account.tenant_id, uid)
    # The ETag is final: children written with the series did not bump it later.
    assert r.headers["ETag"] == f'"{revision}"' == http.get(url + "w.ics").headers["ETag"]
    assert ical_revision == revision and stale is False
    rows = sql.execute(
        "SELECT recurrence_id, title, status, occurrence_stale, instances_until = 'infinity' "
        "FROM events WHERE tenant_id = %s AND series_id = %s ORDER BY recurrence_id",
        (account.tenant_id, series)).fetchall()
    # Overrides carry the series' horizon (COUNT=10: every occurrence indexed).
    assert [(str(r[0]), r[1], r[2], r[3], r[4]) for r in rows] == [
        ("2026-01-12 09:00:00+00:00", "Weekly, moved", None, False, True),
        ("2026-01-19 09:00:00+00:00", "Weekly, cancelled", "cancelled", False, True)]
    attendees = sql.execute(
        "SELECT e.recurrence_id IS NULL, a.email, a.name, a.rsvp_status FROM event_attendees a "
        "JOIN events e ON e.id = a.event_id WHERE e.tenant_id = %s "
        "AND (e.id = %s OR e.series_id = %s) ORDER BY a.email",
        (account.tenant_id, series, series)).fetchall()
    assert attendees == [(True, "ann@example.com", "Ann", "accepted"),
                         (True, "bob@example.com", "Bob", "pending"),
                         (False, "cy@example.com", "Cy", "pending")]
    links = sql.execute("SELECT entity_type, entity_id FROM event_links WHERE event_id = %s",
                        (series,)).fetchall()
    assert links == [("contact", "c-17")]
    starts = [str(s) for (s,) in sql.execute(
        "SELECT start_time FROM event_instances WHERE event_id = %s ORDER BY start_time",
        (series,))]
    assert len(starts) == 10  # COUNT=10; the cancelled one is kept, as FREE
    assert "2026-01-12 15:00:00+00:00" in starts and "2026-01-12 09:00:00+00:00" not in starts
    # One change logged, one counter step.
    changes = sql.execute("SELECT href FROM calendar_changes WHERE calendar_id = %s",
                          (cal_id,)).fetchall()
    assert changes == [("w.ics",)]
    assert sql.execute("SELECT sync_counter FROM calendars WHERE id = %s",
                       (cal_id,)).fetchone()[0] == counter_before + 1
    # The client can go on with the ETag it got.
    again = put(http, url + "w.ics", SERIES.format(uid=uid).replace("Weekly\r", "Renamed\r"),
                **{"If-Match": r.headers["ETag"]})
    assert again.status_code == 204, again.text


def test_other_writers_after_a_whole_series_write_still_bump_and_stale(
        http, account, sql, cal) -> None:
    url, cal_id = cal
    uid = "whole-" + uuid.uuid4().hex[:8]
    etag = put(http, url + "o.ics", SERIES.format(uid=uid)).headers["ETag"]
    series, revision, _, _ = master_of(sql, account.tenant_id, uid)
    # The flag was transaction-local: a new session does not carry it.
    assert sql.execute("SELECT current_setting('backside.whole_series', true)"
                       ).fetchone()[0] in (None, "")
    sql.execute("INSERT INTO event_attendees (tenant_id, event_id, email, name) "
                "VALUES (%s, %s, 'dan@example.com', 'Dan')", (account.tenant_id, series))
    _, bumped, ical_revision, _ = master_of(sql, account.tenant_id, uid)
    assert bumped > revision and ical_revision == revision
    got = http.get(url + "o.ics")
    assert got.headers["ETag"] != etag and "dan@example.com" in got.text
    # A series another application inserts stays stale until it is indexed.
    sql.execute("INSERT INTO events (tenant_id, calendar_id, uid, title, start_time, end_time, "
                "rrule) VALUES (%s, %s, 'by-sql', 'SQL', '2026-01-06 09:00Z', "
                "'2026-01-06 10:00Z', 'FREQ=DAILY')", (account.tenant_id, cal_id))
    assert master_of(sql, account.tenant_id, "by-sql")[3] is True


def test_flag_trusts_only_the_series_it_names(account, sql, cal, http) -> None:
    url, _ = cal
    uid = "whole-" + uuid.uuid4().hex[:8]
    put(http, url + "n.ics", SERIES.format(uid=uid))
    series, revision, _, _ = master_of(sql, account.tenant_id, uid)
    with sql.transaction():
        sql.execute("SELECT set_config('backside.whole_series', %s, true)",
                    (str(uuid.uuid4()),))
        sql.execute("INSERT INTO event_attendees (tenant_id, event_id, email) "
                    "VALUES (%s, %s, 'eve@example.com')", (account.tenant_id, series))
        sql.execute("UPDATE events SET title = 'Touched' WHERE id = %s", (series,))
    _, after, ical_revision, stale = master_of(sql, account.tenant_id, uid)
    assert after > revision and ical_revision == revision and stale is True


def test_migration_0007_downgrades_to_the_old_triggers(empty_database_url: str) -> None:
    engine = db.get_engine(empty_database_url)
    migrate.upgrade(engine)

    def trigger_source() -> str:
        with psycopg.connect(libpq_url(empty_database_url)) as conn:
            return conn.execute("SELECT prosrc FROM pg_proc WHERE proname = "
                                "'caldav_events_before'").fetchone()[0]

    assert "caldav_whole_series" in trigger_source()
    with engine.connect() as conn:
        command.downgrade(migrate._config(conn), "0006")
        conn.commit()
    assert "caldav_whole_series" not in trigger_source()
    assert "NEW.occurrence_stale := true" in trigger_source()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM pg_proc WHERE proname = "
                                    "'caldav_whole_series'")).scalar_one() == 0
    assert migrate.upgrade(engine) is True
    assert "caldav_whole_series" in trigger_source()
