"""The storage plugin inside a plain Radicale 3.9 server, as the README's
Configuration section sets it up: `[storage] type = storage_plugin` and the
auth plugin, without backside's middleware or fast paths.

There is no request scope then: every storage lock opens its own transaction
(request.Transaction.begin) and ends it. These tests hold that path to what
a client needs: a calendar, a PUT, reads, a time-range query, a sync, a
refused write that writes nothing, and tenants kept apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import caldav
import psycopg
import pytest
import radicale
import requests
from conftest import make_account, serve_wsgi

from backside_caldav.dav.app import load_configuration
from backside_caldav.db.settings import libpq_url

EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//plain//EN\r\nBEGIN:VEVENT\r\n"
         "UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20300107T090000Z\r\n"
         "DTEND:20300107T100000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


@pytest.fixture(scope="module")
def plain_url(database_url: str) -> Iterator[str]:
    configuration = load_configuration(database_url, overrides={
        "auth": {"type": "backside_caldav.dav.auth_plugin", "delay": "0"},
        "rights": {"type": "owner_only"},
        "storage": {"type": "storage_plugin"},
    })
    with serve_wsgi(radicale.Application(configuration)) as url:  # Radicale's own, no fast paths
        yield url


def test_a_client_syncs_through_plain_radicale(plain_url: str, database_url: str) -> None:
    account = make_account(database_url)
    client = caldav.DAVClient(plain_url, username=account.username, password=account.password)
    calendar = client.principal().make_calendar(name="plain", cal_id="plain")
    calendar.save_event(EVENT.format(uid="plain-1", summary="Standup"))
    [event] = calendar.events()
    assert "SUMMARY:Standup" in event.data
    found = calendar.search(start=datetime(2030, 1, 7), end=datetime(2030, 1, 8), event=True)
    assert [e.icalendar_component["UID"] for e in found] == ["plain-1"]
    assert calendar.search(start=datetime(2030, 2, 1), end=datetime(2030, 2, 2), event=True) == []
    with psycopg.connect(libpq_url(database_url)) as sql:
        title = sql.execute("SELECT title FROM events WHERE tenant_id = %s AND uid = 'plain-1'",
                            (account.tenant_id,)).fetchone()
    assert title == ("Standup",)


def test_a_change_made_in_sql_moves_the_sync_token(plain_url: str, database_url: str) -> None:
    account = make_account(database_url)
    client = caldav.DAVClient(plain_url, username=account.username, password=account.password)
    calendar = client.principal().make_calendar(name="sync", cal_id="sync")
    calendar.save_event(EVENT.format(uid="sync-1", summary="Before"))
    first = calendar.objects_by_sync_token(load_objects=False)
    with psycopg.connect(libpq_url(database_url)) as sql:
        sql.execute("UPDATE events SET title = 'After' WHERE tenant_id = %s AND uid = 'sync-1'",
                    (account.tenant_id,))
    changed = calendar.objects_by_sync_token(sync_token=first.sync_token, load_objects=True)
    assert changed.sync_token != first.sync_token
    assert [o.icalendar_component["SUMMARY"] for o in changed] == ["After"]


def test_a_refused_put_writes_nothing(plain_url: str, database_url: str) -> None:
    account = make_account(database_url)
    url = f"{plain_url}{account.username}/calendar/bad.ics"
    # A VTODO in a calendar that only takes VEVENTs: the storage refuses it.
    with psycopg.connect(libpq_url(database_url), autocommit=True) as sql:
        sql.execute("UPDATE calendars SET components = ARRAY['VEVENT'] WHERE tenant_id = %s",
                    (account.tenant_id,))
        todo = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//plain//EN\r\nBEGIN:VTODO\r\n"
                "UID:todo-1\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Task\r\nEND:VTODO\r\n"
                "END:VCALENDAR\r\n")
        r = requests.put(url, data=todo, auth=(account.username, account.password),
                         headers={"Content-Type": "text/calendar"})
        assert r.status_code == 400
        counts = sql.execute(
            "SELECT (SELECT count(*) FROM events WHERE tenant_id = %s), "
            "(SELECT count(*) FROM calendar_objects WHERE tenant_id = %s)",
            (account.tenant_id, account.tenant_id)).fetchone()
    assert counts == (0, 0)


def test_another_tenants_calendar_is_not_there(plain_url: str, database_url: str) -> None:
    owner, other = make_account(database_url), make_account(database_url)
    r = requests.request("PROPFIND", f"{plain_url}{owner.username}/calendar/",
                         auth=(other.username, other.password), headers={"Depth": "0"})
    assert r.status_code in (403, 404)
    r = requests.put(f"{plain_url}{owner.username}/calendar/x.ics",
                     data=EVENT.format(uid="x", summary="Intruder"),
                     auth=(other.username, other.password),
                     headers={"Content-Type": "text/calendar"})
    assert r.status_code in (403, 404, 409)
    with psycopg.connect(libpq_url(database_url)) as sql:
        count = sql.execute("SELECT count(*) FROM events WHERE tenant_id = %s",
                            (owner.tenant_id,)).fetchone()[0]
    assert count == 0
