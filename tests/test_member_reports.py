"""calendar-multiget and calendar-query answered by dav/member_reports.py,
not Radicale's REPORT.

The reference for every answer is Radicale's own: the same request plus
displayname, a property only Radicale answers (as a 404 propstat), and GET
of each member. Over the shared server, the multiget is told apart from
Radicale's by the order of the members: it answers in the order asked,
Radicale in the order of a Python set of the hrefs. The `spied` server runs
the same application in this process, over HTTP on the loopback, and counts
the calls of Radicale's xml_report (passing each one through), so a test can
say which requests did not reach it.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit
from xml.etree import ElementTree

import pytest
import radicale.app.report
import requests
from conftest import ROOT, make_account, start_server
from test_listing import ICS, XML, event, responses, todo, without

DISPLAYNAME = "{DAV:}displayname"


def multiget_body(hrefs: list[str], props: str = "<d:getetag/><c:calendar-data/>") -> str:
    refs = "".join(f"<d:href>{h}</d:href>" for h in hrefs)
    return ('<?xml version="1.0"?><c:calendar-multiget xmlns:d="DAV:" '
            f'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop>{props}</d:prop>{refs}'
            "</c:calendar-multiget>")


def multiget(http: requests.Session, url: str, hrefs: list[str],
             props: str = "<d:getetag/><c:calendar-data/>") -> requests.Response:
    return http.request("REPORT", url, data=multiget_body(hrefs, props),
                        headers={**XML, "Depth": "1"})


def order(body: bytes) -> list[str]:
    return [r.findtext("{DAV:}href") for r in ElementTree.fromstring(body).iter("{DAV:}response")]


def not_found(body: bytes) -> list[str]:
    """hrefs answered with a response-level 404 (no such member)."""
    return [r.findtext("{DAV:}href") for r in ElementTree.fromstring(body).iter("{DAV:}response")
            if "404" in (r.findtext("{DAV:}status") or "")]


def fill(http: requests.Session, url: str, count: int = 20) -> list[str]:
    """count events, a task and an awkward name; their paths, reverse-sorted."""
    path = urlsplit(url).path
    names = [f"e{i:02d}.ics" for i in range(count)]
    for name in names:
        assert http.put(url + name, data=event(name[:-4]), headers=ICS).status_code == 201
    assert http.put(url + "t.ics", data=todo("t"), headers=ICS).status_code == 201
    assert http.put(url + "b c@d+e.ics", data=event("b"), headers=ICS).status_code == 201
    return sorted((path + quote(n) for n in [*names, "t.ics", "b c@d+e.ics"]), reverse=True)


def test_a_multiget_says_what_radicale_and_get_say_in_the_order_asked(http, cal) -> None:
    url, _ = cal
    hrefs = fill(http, url)
    missing = urlsplit(url).path + "gone.ics"
    asked = [*hrefs, missing, hrefs[0]]  # a missing member, and one asked twice
    ours = multiget(http, url, asked)
    reference = multiget(http, url, asked, "<d:getetag/><c:calendar-data/><d:displayname/>")
    assert ours.status_code == reference.status_code == 207
    assert ours.headers["Content-Type"] == reference.headers["Content-Type"]
    assert order(ours.content) == [missing, *hrefs]  # the order asked, each once
    assert order(reference.content) != [missing, *hrefs]  # Radicale's set order
    answer = responses(ours.content)
    assert answer == without(responses(reference.content), DISPLAYNAME)
    assert not_found(ours.content) == not_found(reference.content) == [missing]
    assert "/b%20c%40d%2Be.ics" in " ".join(answer)
    for href in hrefs:
        got = http.get(urljoin(url, href))
        assert got.status_code == 200
        assert answer[href]["{DAV:}getetag"] == got.headers["ETag"]
        assert answer[href]["{urn:ietf:params:xml:ns:caldav}calendar-data"] == \
            got.text.replace("\r\n", "\n")  # XML parsers end lines with \n


def test_properties_are_answered_in_the_order_asked(http, cal) -> None:
    url, _ = cal
    hrefs = fill(http, url, count=2)
    props = "<d:getcontenttype/><d:getetag/>"
    ours = multiget(http, url, hrefs, props)
    reference = multiget(http, url, hrefs, props + "<d:displayname/>")
    assert responses(ours.content) == without(responses(reference.content), DISPLAYNAME)
    assert order(ours.content) == hrefs
    task = responses(ours.content)[next(h for h in hrefs if h.endswith("/t.ics"))]
    assert list(task) == ["{DAV:}getcontenttype", "{DAV:}getetag"]
    assert task["{DAV:}getcontenttype"] == "text/calendar;charset=utf-8;component=VTODO"
    assert b"calendar-data" not in ours.content  # not asked, not declared


def test_a_row_another_application_changed_is_served_as_get_serves_it(http, cal, sql) -> None:
    url, cal_id = cal
    hrefs = fill(http, url, count=3)
    sql.execute("UPDATE events SET title = 'Changed by SQL' WHERE calendar_id = %s "
                "AND href = 'e01.ics'", (cal_id,))
    inserted = sql.execute(
        "INSERT INTO events (tenant_id, calendar_id, title, start_time, end_time, timezone) "
        "SELECT tenant_id, id, 'Inserted by SQL', '2030-01-01 20:00Z', '2030-01-01 21:00Z', "
        "'UTC' FROM calendars WHERE id = %s RETURNING href", (cal_id,)).fetchone()[0]
    hrefs.append(urlsplit(url).path + inserted)
    answer = responses(multiget(http, url, hrefs).content)
    assert order(multiget(http, url, hrefs).content) == hrefs
    for href in hrefs:
        got = http.get(urljoin(url, href))
        data = answer[href]["{urn:ietf:params:xml:ns:caldav}calendar-data"]
        assert data == got.text.replace("\r\n", "\n")
        assert answer[href]["{DAV:}getetag"] == got.headers["ETag"]
    changed = next(h for h in hrefs if h.endswith("/e01.ics"))
    assert "SUMMARY:Changed by SQL" in answer[changed]["{urn:ietf:params:xml:ns:caldav}calendar-data"]
    assert "SUMMARY:Inserted by SQL" in answer[hrefs[-1]][
        "{urn:ietf:params:xml:ns:caldav}calendar-data"]


def test_gzip_and_identity_give_the_same_answer(http, cal) -> None:
    url, _ = cal
    hrefs = fill(http, url, count=3)
    body = multiget_body(hrefs)
    plain = http.request("REPORT", url, data=body,
                         headers={**XML, "Depth": "1", "Accept-Encoding": "identity"})
    packed = http.request("REPORT", url, data=body,
                          headers={**XML, "Depth": "1", "Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert packed.content == plain.content and order(plain.content) == hrefs


def test_requests_it_does_not_answer_get_radicales_answer(http, cal) -> None:
    url, _ = cal
    hrefs = fill(http, url, count=3)
    path = urlsplit(url).path
    # The collection itself among the hrefs: Radicale answers every member.
    everything = multiget(http, url, [path])
    assert everything.status_code == 207
    assert sorted(order(everything.content)) == sorted(hrefs)
    # A reference outside the calendar: Radicale's 404 for it, the rest found.
    outside = multiget(http, url, [hrefs[0], "/elsewhere/x.ics"])
    assert outside.status_code == 207 and not_found(outside.content) == ["/elsewhere/x.ics"]
    # Expand inside calendar-data: Radicale expands.
    weekly = event("w").replace("SUMMARY:", "RRULE:FREQ=WEEKLY;COUNT=3\r\nSUMMARY:")
    assert http.put(url + "w.ics", data=weekly, headers=ICS).status_code == 201
    expand = ('<d:getetag/><c:calendar-data><c:expand start="20260101T000000Z" '
              'end="20260201T000000Z"/></c:calendar-data>')
    expanded = multiget(http, url, [path + "w.ics"], expand)
    assert expanded.status_code == 207
    assert expanded.content.count(b"RECURRENCE-ID:202601") == 3
    assert b"RRULE" not in expanded.content
    # No hrefs at all: refused (RFC 4791 9.10 asks for one at least).
    empty = multiget(http, url, [])
    assert empty.status_code == 400, empty.text


def test_another_users_calendar_is_refused_without_its_members(http, server, cal,
                                                              database_url) -> None:
    url, _ = cal
    hrefs = fill(http, url, count=2)
    other = make_account(database_url)
    with requests.Session() as intruder:
        intruder.auth = (other.username, other.password)
        r = multiget(intruder, url, hrefs)
    assert r.status_code == 403 and b"BEGIN:VCALENDAR" not in r.content
    anonymous = requests.request("REPORT", url, data=multiget_body(hrefs),
                                 headers={**XML, "Depth": "1"})
    assert anonymous.status_code == 401 and b"BEGIN:VCALENDAR" not in anonymous.content


def test_a_calendar_that_does_not_exist_is_404(http, server, account) -> None:
    path = f"/{account.username}/nothing-{uuid.uuid4().hex[:6]}/"
    r = multiget(http, server.url.rstrip("/") + path, [path + "a.ics"])
    assert r.status_code == 404


def test_broken_xml_is_400(http, cal) -> None:
    url, _ = cal
    fill(http, url, count=1)
    r = http.request("REPORT", url, data=b"<c:calendar-multiget xmlns:c='urn:ietf:params:xml:"
                     b"ns:caldav'><d:href xmlns:d='DAV:'>/a.ics",
                     headers={**XML, "Depth": "1"})
    assert r.status_code == 400


@pytest.fixture(scope="module")
def limited_server(database_url: str, tmp_path_factory: pytest.TempPathFactory):
    """A server whose REPORTs may carry 3 VEVENTs at most (Radicale's setting)."""
    folder = tmp_path_factory.mktemp("limited")
    config = Path(folder) / "radicale.conf"
    config.write_text((ROOT / "config" / "radicale.conf").read_text()
                      + "\n[reporting]\nmax_expand_occurrence = 3\n")
    srv = start_server(database_url, Path(folder), extra_args=["--config", str(config)],
                       extra_env={"BACKSIDE_LOGIN_LIMIT": "address=1000000"})
    try:
        yield srv
    finally:
        srv.stop()


def test_more_events_than_the_report_limit_is_refused_like_radicale(limited_server,
                                                                     database_url) -> None:
    account = make_account(database_url)
    with requests.Session() as http:
        http.auth = (account.username, account.password)
        url = f"{limited_server.url}{account.username}/limited/"
        assert http.request("MKCALENDAR", url).status_code == 201
        hrefs = fill(http, url, count=4)
        events = [h for h in hrefs if not h.endswith("/t.ics")]
        assert multiget(http, url, events[:3]).status_code == 207
        refused = multiget(http, url, events[:4])
        assert refused.status_code == 400 and b"BEGIN:VCALENDAR" not in refused.content
        # Without calendar-data nothing is counted.
        assert multiget(http, url, events, "<d:getetag/>").status_code == 207


# --- which requests reach Radicale's REPORT ----------------------------------------

SPIED = (radicale.app.report, "xml_report")  # counted by conftest's spied fixture


def week_query(start: str = "20260105T000000Z", end: str = "20260112T000000Z",
               props: str = "<d:getetag/><c:calendar-data/>", component: str = "VEVENT",
               extra: str = "") -> str:
    return ('<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" '
            f'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop>{props}</d:prop><c:filter>'
            f'<c:comp-filter name="VCALENDAR"><c:comp-filter name="{component}">'
            f'<c:time-range start="{start}" end="{end}"/>{extra}</c:comp-filter>'
            "</c:comp-filter></c:filter></c:calendar-query>")


def query(http: requests.Session, url: str, body: str) -> requests.Response:
    return http.request("REPORT", url, data=body, headers={**XML, "Depth": "1"})


def fill_week(http: requests.Session, url: str) -> None:
    """Inside the week: a single event, a weekly series from before it, a
    task; outside it: an event the week after and a series that ended."""
    bodies = {
        "in.ics": event("in"),
        "series.ics": event("series").replace("DTSTART:20260105T090000Z", "DTSTART:20251201T090000Z")
        .replace("DTEND:20260105T100000Z", "DTEND:20251201T100000Z")
        .replace("SUMMARY:", "RRULE:FREQ=WEEKLY\r\nSUMMARY:"),
        "later.ics": event("later").replace("20260105T", "20260120T"),
        "ended.ics": event("ended").replace("20260105T", "20251103T")
        .replace("SUMMARY:", "RRULE:FREQ=WEEKLY;COUNT=2\r\nSUMMARY:"),
        "t.ics": todo("t"),
    }
    for name, body in bodies.items():
        assert http.put(url + name, data=body, headers=ICS).status_code == 201


def test_multiget_and_week_query_do_not_reach_radicales_report(spied_cal) -> None:
    url, http, calls = spied_cal
    fill_week(http, url)
    path = urlsplit(url).path
    before = len(calls)
    got = multiget(http, url, [path + "in.ics", path + "t.ics"])
    week = query(http, url, week_query())
    assert got.status_code == week.status_code == 207
    assert len(calls) == before  # neither went through Radicale's REPORT
    assert sorted(order(week.content)) == [path + "in.ics", path + "series.ics"]
    reference = query(http, url, week_query(props="<d:getetag/><c:calendar-data/>"
                                            "<d:displayname/>"))
    assert len(calls) == before + 1  # displayname: Radicale answered
    assert responses(week.content) == without(responses(reference.content), DISPLAYNAME)
    assert order(week.content) == order(reference.content)


def test_week_queries_with_other_properties_and_no_matches(spied_cal) -> None:
    url, http, calls = spied_cal
    fill_week(http, url)
    before = len(calls)
    etags = query(http, url, week_query(props="<d:getcontenttype/><d:getetag/>"))
    empty = query(http, url, week_query("20250106T000000Z", "20250113T000000Z"))
    assert etags.status_code == empty.status_code == 207
    assert len(calls) == before
    # No end: the endless series is indexed only so far ahead, so Radicale checks it.
    open_ended = query(http, url, week_query(end="", props="<d:getetag/>").replace(' end=""', ""))
    assert open_ended.status_code == 207 and len(calls) == before + 1
    answer = responses(etags.content)
    assert len(answer) == 2 and b"calendar-data" not in etags.content
    assert all(list(p) == ["{DAV:}getcontenttype", "{DAV:}getetag"] for p in answer.values())
    assert order(empty.content) == []
    path = urlsplit(url).path
    assert sorted(order(open_ended.content)) == sorted(
        path + n for n in ("in.ics", "series.ics", "later.ics"))
    for href, props in answer.items():
        assert props["{DAV:}getetag"] == http.get(urljoin(url, href)).headers["ETag"]


def test_queries_it_does_not_answer_reach_radicale(spied_cal, database_url) -> None:
    url, http, calls = spied_cal
    fill_week(http, url)
    path = urlsplit(url).path
    before = len(calls)
    todos = query(http, url, week_query(component="VTODO"))
    text_match = query(http, url, week_query(
        extra='<c:prop-filter name="SUMMARY"><c:text-match>Listed</c:text-match></c:prop-filter>'))
    expand = query(http, url, week_query(props='<d:getetag/><c:calendar-data><c:expand '
                                               'start="20260105T000000Z" end="20260112T000000Z"/>'
                                               "</c:calendar-data>"))
    assert todos.status_code == text_match.status_code == expand.status_code == 207
    assert len(calls) == before + 3
    assert sorted(order(text_match.content)) == [path + "in.ics", path + "series.ics"]
    # A bad time-range is Radicale's to refuse.
    bad = query(http, url, week_query(start="yesterday"))
    assert bad.status_code == 400
    # Another user gets 403 and nothing of the calendar.
    other = make_account(database_url)
    with requests.Session() as intruder:
        intruder.auth = (other.username, other.password)
        refused = query(intruder, url, week_query())
    assert refused.status_code == 403 and b"BEGIN:VCALENDAR" not in refused.content


def test_a_series_the_index_cannot_answer_for_goes_to_radicale(spied_cal, database_url) -> None:
    import psycopg

    from backside_caldav.db.settings import libpq_url
    url, http, calls = spied_cal
    fill_week(http, url)
    path = urlsplit(url).path
    with psycopg.connect(libpq_url(database_url), autocommit=True) as sql:
        # Another application moves the series: its index is stale until reindexed.
        sql.execute("UPDATE events SET start_time = start_time + interval '1 hour', "
                    "end_time = end_time + interval '1 hour' WHERE href = 'series.ics' "
                    "AND calendar_id = (SELECT id FROM calendars WHERE href = 'cal' "
                    "AND tenant_id = (SELECT tenant_id FROM accounts WHERE username = %s))",
                    (urlsplit(url).path.split("/")[1],))
    before = len(calls)
    week = query(http, url, week_query())
    assert week.status_code == 207 and len(calls) == before + 1
    assert sorted(order(week.content)) == [path + "in.ics", path + "series.ics"]
    assert "DTSTART:20251201T100000Z" in responses(week.content)[path + "series.ics"][
        "{urn:ietf:params:xml:ns:caldav}calendar-data"]
