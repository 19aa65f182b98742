"""Isolation inside PostgreSQL: the server's own connections see one tenant only.

The queries here deliberately forget their tenant filter; row-level security
on the role the server's connections act as must still hide other tenants.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
import sqlalchemy as sa
from conftest import Account, Server, make_account

from backside_caldav.db import engines as db
from backside_caldav.db import tenancy

TENANT_TABLES = ("calendars", "events", "event_attendees", "event_links", "calendar_objects",
                 "calendar_changes", "event_instances", "api_key_hits", "accounts", "api_keys",
                 "tenants", "schedule_inbox", "itip_queue")

EVENT = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20260101T000000Z\r
DTSTART:20260310T090000Z\r
DTEND:20260310T100000Z\r
RRULE:FREQ=DAILY;COUNT=3\r
SUMMARY:{summary}\r
ATTENDEE;PARTSTAT=ACCEPTED:mailto:someone@example.com\r
END:VEVENT\r
END:VCALENDAR\r
"""


def put_event(server: Server, account: Account, summary: str) -> None:
    import requests
    uid = uuid.uuid4().hex
    response = requests.put(f"{server.url}{account.username}/calendar/{uid}.ics",
                            data=EVENT.format(uid=uid, summary=summary),
                            headers={"Content-Type": "text/calendar"},
                            auth=(account.username, account.password), timeout=30)
    assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
def two_tenants(server: Server, database_url: str) -> tuple[Account, Account]:
    first, second = make_account(database_url), make_account(database_url)
    for account in (first, second):
        for n in range(2):
            put_event(server, account, f"{account.tenant} meeting {n}")
    return first, second


def _unfiltered_counts(conn: sa.engine.Connection) -> dict[str, int]:
    return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in TENANT_TABLES}


def test_query_without_tenant_filter_sees_only_the_current_tenant(
        database_url: str, two_tenants: tuple[Account, Account]) -> None:
    first, second = two_tenants
    with tenancy.transaction(db.get_app_engine(database_url), first.tenant_id) as conn:
        tenants_seen = conn.execute(sa.text(
            "SELECT DISTINCT tenant_id::text FROM events")).scalars().all()
        titles = conn.execute(sa.text("SELECT title FROM events")).scalars().all()
        counts = _unfiltered_counts(conn)
    assert tenants_seen == [first.tenant_id]
    assert sorted(titles) == [f"{first.tenant} meeting 0", f"{first.tenant} meeting 1"]
    assert counts["tenants"] == 1
    assert counts["calendars"] == 1
    assert counts["event_attendees"] == 2
    assert counts["event_instances"] == 6  # two daily series of three
    # The owner (and any other application's role) still sees everything.
    with db.get_engine(database_url).connect() as conn:
        owner_tenants = set(conn.execute(sa.text(
            "SELECT DISTINCT tenant_id::text FROM events")).scalars())
    assert {first.tenant_id, second.tenant_id} <= owner_tenants


def test_no_tenant_set_sees_no_tenant_rows(database_url: str,
                                           two_tenants: tuple[Account, Account]) -> None:
    with tenancy.transaction(db.get_app_engine(database_url)) as conn:
        counts = _unfiltered_counts(conn)
    # Logins are looked up by name before the tenant is known: only those stay readable.
    assert counts.pop("accounts") >= 2
    assert counts.pop("api_keys") >= 0
    assert counts == {t: 0 for t in counts}


def test_writing_into_another_tenant_is_refused(database_url: str,
                                                two_tenants: tuple[Account, Account]) -> None:
    first, second = two_tenants
    engine = db.get_app_engine(database_url)
    with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
        with tenancy.transaction(engine, first.tenant_id) as conn:
            conn.execute(sa.text("INSERT INTO calendars (tenant_id, name, href) "
                                 "VALUES (:t, 'Intruder', 'intruder')"), {"t": second.tenant_id})
    with tenancy.transaction(engine, first.tenant_id) as conn:
        changed = conn.execute(sa.text("UPDATE events SET title = 'hijacked' "
                                       "WHERE tenant_id = :t"), {"t": second.tenant_id}).rowcount
        deleted = conn.execute(sa.text("DELETE FROM event_attendees")).rowcount
        conn.rollback()
    assert changed == 0
    assert deleted == 2  # only the first tenant's own attendees were reachable


def test_the_application_role_owns_nothing_and_cannot_bypass(database_url: str) -> None:
    with tenancy.transaction(db.get_app_engine(database_url)) as conn:
        who = conn.execute(sa.text(
            "SELECT current_user, r.rolsuper, r.rolbypassrls FROM pg_roles r "
            "WHERE r.rolname = current_user")).one()
        owned = conn.execute(sa.text(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
            "AND tableowner = current_user")).scalar_one()
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied|must be owner"):
            with conn.begin_nested():
                conn.execute(sa.text("ALTER TABLE events DISABLE ROW LEVEL SECURITY"))
    assert tuple(who) == (db.APP_ROLE, False, False)
    assert owned == 0


def test_request_connections_come_from_the_application_engine(
        server: Server, database_url: str, two_tenants: tuple[Account, Account]) -> None:
    """Requests run on db.get_app_engine (the sessions above), the owner's pool only
    on start-up and maintenance: the two label their sessions differently."""
    from backside_caldav.db.settings import libpq_url
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        names = {row[0] for row in conn.execute(
            "SELECT application_name FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name LIKE %s", ("backside-caldav[%",))}
    assert any(not name.endswith(" owner") for name in names), names
