"""A PUT of a whole .ics onto a calendar's URL replaces the calendar (Radicale's
upload semantics): refused with 409 and a reason while the calendar holds
anything, unless If-Match carries the calendar's current ETag."""

from __future__ import annotations

from xml.etree import ElementTree

from hostile import snapshot

from backside_caldav.domain.errors import ExceedsLimit
from backside_caldav.domain.ical_guard import find_problem

ICS = {"Content-Type": "text/calendar"}
PROPFIND_ETAG = ('<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/>'
                 "</d:prop></d:propfind>")


def event(uid: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T090000Z\r\n"
            f"DTEND:20260105T100000Z\r\nSUMMARY:{uid}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def todo(uid: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VTODO\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Task\r\nEND:VTODO\r\n"
            "END:VCALENDAR\r\n")


def whole(*uids: str) -> str:
    """One .ics holding an event per UID, as a calendar export is."""
    body = "".join(event(u).split("PRODID:-//test//EN\r\n", 1)[1].replace(
        "END:VCALENDAR\r\n", "") for u in uids)
    return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" + body + "END:VCALENDAR\r\n"


def collection_etag(http, url: str) -> str:
    """The calendar's DAV:getetag, as the server answers it."""
    r = http.request("PROPFIND", url, data=PROPFIND_ETAG,
                     headers={"Depth": "0", "Content-Type": "application/xml"})
    assert r.status_code == 207, r.text
    etag = ElementTree.fromstring(r.content).find(".//{DAV:}getetag")
    assert etag is not None and etag.text
    return etag.text


def hrefs(http, url: str) -> set[str]:
    r = http.request("PROPFIND", url, data=PROPFIND_ETAG,
                     headers={"Depth": "1", "Content-Type": "application/xml"})
    return {h.text.rstrip("/").rsplit("/", 1)[1]
            for h in ElementTree.fromstring(r.content).iter("{DAV:}href") if h.text
            and h.text.endswith(".ics")}


def filled(http, cal) -> str:
    url, _ = cal
    assert http.put(url + "a.ics", data=event("a"), headers=ICS).status_code == 201
    assert http.put(url + "t.ics", data=todo("t"), headers=ICS).status_code == 201
    return url


def test_whole_put_onto_a_calendar_with_events_is_409_and_changes_nothing(
        http, account, sql, cal) -> None:
    url = filled(http, cal)
    before = snapshot(sql, account.tenant_id)
    for headers in (ICS, {**ICS, "If-Match": "*"}):
        r = http.put(url, data=whole("new-1", "new-2"), headers=headers)
        assert r.status_code == 409, r.text
        assert r.headers["Content-Type"].startswith("text/plain")
        assert "holds 1 event and 1 task or journal entry" in r.text
        assert f"If-Match: {collection_etag(http, url)}" in r.text
    assert snapshot(sql, account.tenant_id) == before
    assert hrefs(http, url) == {"a.ics", "t.ics"}
    assert "UID:a" in http.get(url + "a.ics").text


def test_whole_put_with_a_stale_if_match_is_412(http, account, sql, cal) -> None:
    url = filled(http, cal)
    stale = collection_etag(http, url)
    assert http.put(url + "b.ics", data=event("b"), headers=ICS).status_code == 201
    assert collection_etag(http, url) != stale
    before = snapshot(sql, account.tenant_id)
    r = http.put(url, data=whole("new-1"), headers={**ICS, "If-Match": stale})
    assert r.status_code == 412
    assert "not the calendar's current ETag" in r.text
    assert snapshot(sql, account.tenant_id) == before
    assert hrefs(http, url) == {"a.ics", "b.ics", "t.ics"}


def test_whole_put_with_the_current_etag_replaces_the_calendar(http, cal) -> None:
    url = filled(http, cal)
    r = http.put(url, data=whole("new-1", "new-2"),
                 headers={**ICS, "If-Match": collection_etag(http, url)})
    assert r.status_code == 201, r.text
    assert hrefs(http, url) == {"new-1.ics", "new-2.ics"}
    assert http.get(url + "a.ics").status_code == 404


def test_whole_put_onto_an_empty_calendar_or_a_new_url_still_works(
        http, server, account, cal) -> None:
    url, _ = cal
    assert http.put(url, data=whole("e-1"), headers=ICS).status_code == 201
    assert hrefs(http, url) == {"e-1.ics"}
    new = f"{server.url}{account.username}/fresh-{account.tenant_id[:6]}/"
    assert http.put(new, data=whole("f-1", "f-2"), headers=ICS).status_code == 201
    assert hrefs(http, new) == {"f-1.ics", "f-2.ics"}



def test_the_component_bound_is_per_object_not_per_calendar() -> None:
    """5,000 components bound one calendar object, not a whole calendar's file (the
    middleware checks a whole-calendar PUT body with whole=True; a PUT of 5,001
    events over HTTP takes half a minute)."""
    text = whole(*(f"b-{i}" for i in range(5001)))
    assert isinstance(find_problem(text), ExceedsLimit)
    assert find_problem(text, whole=True) is None
