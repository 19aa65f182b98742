"""A calendar-query that only names a component, streamed by dav/listing_query.py.

The reference for every answer is Radicale's own: the same query plus
displayname, a property only Radicale answers (as a 404 propstat). The
`spied` server counts the calls of Radicale's xml_report, so a test can say
which requests did not reach it.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import caldav
import radicale.app.report
import requests
from conftest import make_account
from test_listing import ICS, XML, event, insert_rows, responses, todo, without
from test_member_reports import limited_server  # noqa: F401 - a fixture

SPIED = (radicale.app.report, "xml_report")  # counted by conftest's spied fixture
DISPLAYNAME = "{DAV:}displayname"
ETAG = "{DAV:}getetag"
DATA = "{urn:ietf:params:xml:ns:caldav}calendar-data"


def listing(component: str = "VEVENT", props: str = "<d:getetag/>", inner: str = "") -> str:
    return ('<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" '
            f'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop>{props}</d:prop><c:filter>'
            f'<c:comp-filter name="VCALENDAR"><c:comp-filter name="{component}">{inner}'
            "</c:comp-filter></c:comp-filter></c:filter></c:calendar-query>")


def report(http: requests.Session, url: str, body: str,
           headers: dict[str, str] | None = None) -> requests.Response:
    return http.request("REPORT", url, data=body, headers={**XML, "Depth": "1",
                                                           **(headers or {})})


def fill(http: requests.Session, url: str) -> None:
    """Three events (one with an awkward name), a series with an override, two tasks."""
    series = event("series").replace("SUMMARY:", "RRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:")
    moved = ("BEGIN:VEVENT\r\nUID:series\r\nDTSTAMP:20260101T000000Z\r\n"
             "RECURRENCE-ID:20260112T090000Z\r\nDTSTART:20260112T110000Z\r\n"
             "DTEND:20260112T120000Z\r\nSUMMARY:Moved\r\nEND:VEVENT\r\n")
    series = series.replace("END:VCALENDAR", moved + "END:VCALENDAR")
    bodies = {"a.ics": event("a"), "b c@d+e.ics": event("b"), "c.ics": event("c"),
              "series.ics": series, "t1.ics": todo("t1"), "t2.ics": todo("t2")}
    for name, body in bodies.items():
        assert http.put(url + name, data=body, headers=ICS).status_code == 201


def test_the_events_listing_says_what_radicale_says_without_reaching_it(spied_cal) -> None:
    url, http, calls = spied_cal
    fill(http, url)
    path = urlsplit(url).path
    for props in ("<d:getetag/>", "<d:getetag/><c:calendar-data/>",
                  "<d:getcontenttype/><d:getetag/>", "<c:calendar-data/><c:schedule-tag/>"):
        before = len(calls)
        ours = report(http, url, listing(props=props))
        assert ours.status_code == 207 and len(calls) == before, props
        reference = report(http, url, listing(props=props + "<d:displayname/>"))
        assert len(calls) == before + 1  # displayname: Radicale answered
        assert ours.headers["Content-Type"] == reference.headers["Content-Type"]
        answer = responses(ours.content)
        assert answer == without(responses(reference.content), DISPLAYNAME), props
        assert sorted(answer) == sorted(path + n for n in (
            "a.ics", "b%20c%40d%2Be.ics", "c.ics", "series.ics"))
    for href, props in responses(report(http, url, listing(
            props="<d:getetag/><c:calendar-data/>")).content).items():
        got = http.get(urljoin(url, href))
        # XML reads a CRLF as LF
        assert props[ETAG] == got.headers["ETag"] and props[DATA] == got.text.replace("\r\n", "\n")


def test_the_tasks_listing_lists_the_tasks_only(spied_cal) -> None:
    url, http, calls = spied_cal
    fill(http, url)
    before = len(calls)
    ours = report(http, url, listing("VTODO", "<d:getetag/><c:calendar-data/>"))
    assert ours.status_code == 207 and len(calls) == before
    reference = report(http, url, listing("VTODO", "<d:getetag/><c:calendar-data/>"
                                          "<d:displayname/>"))
    answer = responses(ours.content)
    assert answer == without(responses(reference.content), DISPLAYNAME)
    assert sorted(h.rsplit("/", 1)[1] for h in answer) == ["t1.ics", "t2.ics"]
    assert all("BEGIN:VTODO" in p[DATA] for p in answer.values())
    empty = report(http, url, listing("VJOURNAL"))
    assert empty.status_code == 207 and responses(empty.content) == {}


def test_a_row_another_application_changed_is_listed_as_get_serves_it(spied_cal, sql) -> None:
    url, http, calls = spied_cal
    fill(http, url)
    path = urlsplit(url).path
    user = path.split("/")[1]
    sql.execute("UPDATE events SET title = 'Renamed by the CRM' WHERE href = 'a.ics' "
                "AND tenant_id = (SELECT tenant_id FROM accounts WHERE username = %s)", (user,))
    before = len(calls)
    answer = responses(report(http, url, listing(props="<d:getetag/><c:calendar-data/>"))
                       .content)
    assert len(calls) == before
    assert "SUMMARY:Renamed by the CRM" in answer[path + "a.ics"][DATA]
    got = http.get(url + "a.ics")
    assert answer[path + "a.ics"] == {ETAG: got.headers["ETag"],
                                      DATA: got.text.replace("\r\n", "\n")}


def test_many_members_are_streamed_each_once_and_gzip_says_the_same(http, cal, account,
                                                                     sql) -> None:
    url, cal_id = cal
    expected = insert_rows(sql, account.tenant_id, cal_id, 1200)
    plain = report(http, url, listing(props="<d:getetag/><c:calendar-data/>"),
                   {"Accept-Encoding": "identity"})
    zipped = report(http, url, listing(props="<d:getetag/><c:calendar-data/>"),
                    {"Accept-Encoding": "gzip"})
    assert plain.status_code == zipped.status_code == 207
    assert zipped.headers["Content-Encoding"] == "gzip" and "Content-Encoding" not in plain.headers
    assert len(plain.content) > 2 * 64 * 1024  # more than one chunk
    assert "Content-Length" not in plain.headers  # streamed, not built whole first
    assert plain.content == zipped.content  # requests undoes the gzip
    answer = responses(plain.content)
    assert {h.rsplit("/", 1)[1]: p[ETAG] for h, p in answer.items()} == expected
    assert all("SUMMARY:row " in p[DATA] for p in answer.values())


def test_queries_it_does_not_answer_reach_radicale(spied_cal) -> None:
    url, http, calls = spied_cal
    fill(http, url)
    before = len(calls)
    text_match = report(http, url, listing(inner='<c:prop-filter name="SUMMARY"><c:text-match>'
                                                 "Listed</c:text-match></c:prop-filter>"))
    not_defined = report(http, url, listing(inner="<c:is-not-defined/>"))
    partial = report(http, url, listing(props='<c:calendar-data><c:comp name="VCALENDAR"/>'
                                              "</c:calendar-data>"))
    assert text_match.status_code == not_defined.status_code == partial.status_code == 207
    assert len(calls) == before + 3
    assert len(responses(text_match.content)) == 4
    # No VEVENT in them: the tasks.
    assert sorted(h.rsplit("/", 1)[1] for h in responses(not_defined.content)) == [
        "t1.ics", "t2.ics"]


def test_another_users_calendar_and_a_missing_one_are_refused(spied_cal, database_url) -> None:
    url, http, _calls = spied_cal
    fill(http, url)
    other = make_account(database_url)
    with requests.Session() as intruder:
        intruder.auth = (other.username, other.password)
        refused = report(intruder, url, listing(props="<d:getetag/><c:calendar-data/>"))
    assert refused.status_code == 403 and b"BEGIN:VCALENDAR" not in refused.content
    assert b"a.ics" not in refused.content
    missing = report(http, url.replace("/cal/", "/nothing/"), listing())
    assert missing.status_code == 404


def test_calendar_data_over_the_report_limit_is_refused_like_radicale(
        limited_server, database_url) -> None:  # noqa: F811 - the imported fixture
    account = make_account(database_url)
    with requests.Session() as http:
        http.auth = (account.username, account.password)
        url = f"{limited_server.url}{account.username}/limited/"
        assert http.request("MKCALENDAR", url).status_code == 201
        for name in ("a", "b", "c"):
            assert http.put(url + f"{name}.ics", data=event(name), headers=ICS).status_code == 201
        assert http.put(url + "t.ics", data=todo("t"), headers=ICS).status_code == 201
        at_limit = report(http, url, listing(props="<d:getetag/><c:calendar-data/>"))
        assert at_limit.status_code == 207 and len(responses(at_limit.content)) == 3
        assert http.put(url + "d.ics", data=event("d"), headers=ICS).status_code == 201
        refused = report(http, url, listing(props="<d:getetag/><c:calendar-data/>"))
        assert refused.status_code == 400 and b"BEGIN:VCALENDAR" not in refused.content
        # Etags alone carry no VEVENT: listed at any size.
        etags = report(http, url, listing())
        assert etags.status_code == 207 and len(responses(etags.content)) == 4


def test_the_caldav_clients_listing_of_events_and_tasks(client) -> None:
    calendar = client.principal().make_calendar(name="Listed")
    calendar.save_event(event("one"))
    calendar.save_event(event("two"))
    calendar.save_todo(todo("task"))
    assert sorted(e.icalendar_component["UID"] for e in calendar.events()) == ["one", "two"]
    assert [t.icalendar_component["UID"] for t in calendar.todos()] == ["task"]
    assert isinstance(calendar, caldav.Calendar)
