"""PUT of one calendar object, answered by dav/put.py with Radicale's rules.

Each refusal must change nothing; what the fast path does not handle (a
whole-calendar PUT) must still reach Radicale.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
import requests
from conftest import ROOT, Server, start_server, wait_for_lock_wait

ICS = {"Content-Type": "text/calendar"}
VEVENT_ONLY = (
    '<?xml version="1.0"?><c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
    "<d:set><d:prop><c:supported-calendar-component-set><c:comp name=\"VEVENT\"/>"
    "</c:supported-calendar-component-set></d:prop></d:set></c:mkcalendar>")


def event(uid: str, summary: str = "Meeting") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T090000Z\r\n"
            f"DTEND:20260105T100000Z\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def todo(uid: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VTODO\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Task\r\nEND:VTODO\r\n"
            "END:VCALENDAR\r\n")


def resources(sql: psycopg.Connection, tenant: str) -> list[tuple[str, str]]:
    """Every stored resource of the tenant: (href, uid), events and objects alike."""
    return sorted(sql.execute(
        "SELECT href, uid FROM events WHERE tenant_id = %s AND series_id IS NULL "
        "AND deleted_at IS NULL UNION ALL SELECT href, uid FROM calendar_objects "
        "WHERE tenant_id = %s", (tenant, tenant)).fetchall())


def test_changing_the_uid_at_an_href_is_no_uid_conflict(http, account, sql, cal) -> None:
    url, _ = cal
    assert http.put(url + "a.ics", data=event("first"), headers=ICS).status_code == 201
    before = resources(sql, account.tenant_id)
    r = http.put(url + "a.ics", data=event("second"), headers=ICS)
    assert r.status_code == 409 and "no-uid-conflict" in r.text
    assert resources(sql, account.tenant_id) == before == [("a.ics", "first")]


def test_put_into_a_calendar_that_does_not_exist_is_409(http, server, account, sql) -> None:
    url = f"{server.url}{account.username}/no-such-calendar/x.ics"
    r = http.put(url, data=event("orphan"), headers=ICS)
    assert r.status_code == 409
    assert resources(sql, account.tenant_id) == []


def test_component_the_calendar_does_not_take_is_403_with_reason(
        http, server, account, sql) -> None:
    url = f"{server.url}{account.username}/events-only/"
    assert http.request("MKCALENDAR", url, data=VEVENT_ONLY,
                        headers={"Content-Type": "application/xml"}).status_code == 201
    # requests accepts gzip, and Radicale compresses its "Bad Request": the reason
    # replaces it either way.
    for encoding in ("gzip, deflate", "identity"):
        r = http.put(url + "t.ics", data=todo("task-1"),
                     headers={**ICS, "Accept-Encoding": encoding})
        # RFC 4791 1.3 and 5.3.2.1: 403 CALDAV:supported-calendar-component
        assert r.status_code == 403
        assert r.headers["Content-Type"].startswith("application/xml")
        assert "<C:supported-calendar-component/>" in r.text
        assert "<B:message>this calendar accepts VEVENT, not VTODO</B:message>" in r.text
    assert resources(sql, account.tenant_id) == []


def test_precondition_on_a_missing_resource_is_412(http, account, sql, cal) -> None:
    url, _ = cal
    r = http.put(url + "gone.ics", data=event("gone"), headers={**ICS, "If-Match": '"7"'})
    assert r.status_code == 412
    assert resources(sql, account.tenant_id) == []


def test_a_whole_calendar_put_still_goes_to_radicale(http, server, account, sql) -> None:
    body = event("whole-1").replace("END:VCALENDAR\r\n", "") + event("whole-2").split(
        "PRODID:-//test//EN\r\n", 1)[1]
    r = http.put(f"{server.url}{account.username}/imported/", data=body, headers=ICS)
    assert r.status_code == 201, r.text
    assert resources(sql, account.tenant_id) == [("whole-1.ics", "whole-1"),
                                                 ("whole-2.ics", "whole-2")]


@pytest.fixture(scope="module")
def strict_server(database_url: str, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[Server]:
    """A server whose Radicale config asks for strict preconditions and a 600-byte
    resource limit (the shipped config with two settings changed)."""
    folder = tmp_path_factory.mktemp("strict")
    shipped = (ROOT / "config" / "radicale.conf").read_text()
    assert "max_resource_size = 8000000" in shipped and "[storage]\n" in shipped
    config = Path(folder / "radicale.conf")
    config.write_text(shipped.replace("max_resource_size = 8000000", "max_resource_size = 600")
                      .replace("[storage]\n", "[storage]\nstrict_preconditions = True\n"))
    server = start_server(database_url, folder, extra_args=["--config", str(config)])
    try:
        yield server
    finally:
        server.process.terminate()
        server.process.wait(timeout=30)


def test_resource_over_the_size_limit_is_403_max_resource_size(strict_server, account, sql
                                                               ) -> None:
    """RFC 4791 5.3.2.1 names CALDAV:max-resource-size, and 1.3 asks for 403: a 412
    says an If-Match failed, which DAVx5 takes for an edit conflict and ignores."""
    url = f"{strict_server.url}{account.username}/calendar/"
    auth = (account.username, account.password)
    small = event("small")
    large = event("large", "x" * (700 - len(small)))
    assert len(small) <= 600 < len(large)
    r = requests.put(url + "l.ics", data=large, headers=ICS, auth=auth)
    assert r.status_code == 403
    assert r.headers["Content-Type"].startswith("application/xml")
    assert "<C:max-resource-size/>" in r.text
    assert f"is {len(large)} bytes" in r.text and "at most 600 bytes" in r.text
    assert requests.put(url + "s.ics", data=small, headers=ICS, auth=auth).status_code == 201
    assert resources(sql, account.tenant_id) == [("s.ics", "small")]


def test_strict_preconditions_want_if_match_to_replace(strict_server, account, sql) -> None:
    url = f"{strict_server.url}{account.username}/calendar/r.ics"
    auth = (account.username, account.password)
    created = requests.put(url, data=event("strict", "v1"), headers=ICS, auth=auth)
    assert created.status_code == 201
    r = requests.put(url, data=event("strict", "v2"), headers=ICS, auth=auth)
    assert r.status_code == 412
    assert "v1" in requests.get(url, auth=auth).text
    r = requests.put(url, data=event("strict", "v2"), auth=auth,
                     headers={**ICS, "If-Match": created.headers["ETag"]})
    assert r.status_code == 204 and "v2" in requests.get(url, auth=auth).text


def test_each_new_put_is_one_change_for_sync(http, account, sql, cal) -> None:
    url, cal_id = cal
    hrefs = [f"n{i}-{uuid.uuid4().hex[:6]}.ics" for i in range(3)]
    for i, href in enumerate(hrefs):
        assert http.put(url + href, data=event(f"n{i}-" + href), headers=ICS).status_code == 201
    logged = [h for (h,) in sql.execute(
        "SELECT href FROM calendar_changes WHERE calendar_id = %s ORDER BY counter", (cal_id,))]
    assert logged == hrefs


def test_tenant_lock_is_taken_with_the_login_only_for_known_credentials(
        http, server, account, sql, cal) -> None:
    """Verified credentials take the write lock in the login query; a wrong
    password must never wait for (or hold) it."""
    url, _ = cal
    assert http.put(url + "warm.ics", data=event("warm"), headers=ICS).status_code == 201
    with psycopg.connect(sql.info.dsn) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (account.tenant_id,))
        # Another writer holds the tenant: a wrong password is answered at once.
        r = requests.put(url + "bad.ics", data=event("bad"), headers=ICS, timeout=20,
                         auth=(account.username, account.password + "x"))
        assert r.status_code == 401
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(http.put, url + "good.ics", data=event("good"),
                                  headers=ICS, timeout=30)
            wait_for_lock_wait(holder)
            assert not waiting.done()
            holder.rollback()
            assert waiting.result().status_code == 201
    assert ("good.ics", "good") in resources(sql, account.tenant_id)
    assert ("bad.ics", "bad") not in resources(sql, account.tenant_id)
