"""Refusals in CalDAV's own words: a PUT the server will not store is answered
with the RFC 4791 (or RFC 7529) precondition it violates in a DAV:error body,
the reason a person can read beside it, the status RFC 4791 1.3 asks for
(403, or 409 when the user can resolve it), and nothing changed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree

import pytest
from hostile import snapshot

ICS = {"Content-Type": "text/calendar; charset=utf-8"}
C = "{urn:ietf:params:xml:ns:caldav}"
MESSAGE = "{urn:backside-caldav}message"


def ics(body: str = "DTSTART:20260101T090000Z\r\nSUMMARY:x\r\n", uid: str = "refused",
        extra: str = "", head: str = "") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n" + head + "BEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n{body}END:VEVENT\r\n{extra}"
            "END:VCALENDAR\r\n")


def todo(uid: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTODO\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Task\r\nEND:VTODO\r\n"
            "END:VCALENDAR\r\n")


@dataclass
class DavError:
    status: int
    precondition: str  # Clark name of the one child that is not the message
    message: str
    href: str | None


def dav_error(r) -> DavError:
    """The DAV:error of a refusal, parsed (fails on any other body)."""
    assert r.headers["Content-Type"].startswith("application/xml"), (r.status_code, r.text)
    root = ElementTree.fromstring(r.content)
    assert root.tag == "{DAV:}error", r.text
    conditions = [e for e in root if e.tag != MESSAGE]
    assert len(conditions) == 1, r.text
    href = conditions[0].find("{DAV:}href")
    message = root.find(MESSAGE)
    assert message is not None and message.text, r.text
    return DavError(r.status_code, conditions[0].tag, message.text,
                    None if href is None else href.text)


EVENT_ONLY = (
    '<?xml version="1.0"?><c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
    "<d:set><d:prop><c:supported-calendar-component-set><c:comp name=\"VEVENT\"/>"
    "</c:supported-calendar-component-set></d:prop></d:set></c:mkcalendar>")

# name: (body, status, precondition, a phrase of the message)
CASES = {
    "not icalendar": ("hello", 403, "valid-calendar-data", "not valid iCalendar"),
    "dtend before dtstart": (ics("DTSTART:20260102T000000Z\r\nDTEND:20260101T000000Z\r\n"),
                             403, "valid-calendar-data", "DTEND is before DTSTART"),
    "bad rrule": (ics("DTSTART:20260101T090000Z\r\nRRULE:FREQ=SOMETIMES\r\n"), 403,
                  "valid-calendar-data", "FREQ must be one of"),
    "property twice": (ics("DTSTART:20260101T090000Z\r\nSUMMARY:a\r\nSUMMARY:b\r\n"), 403,
                       "valid-calendar-data", "SUMMARY appears more than once"),
    "missing uid": (ics().replace("UID:refused\r\n", ""), 403, "valid-calendar-data",
                    "one has no UID"),
    "invalid utf-8": (b"BEGIN:VCALENDAR\r\n\xff\xfe\r\nEND:VCALENDAR\r\n", 403,
                      "valid-calendar-data", "not valid utf-8"),
    "two uids": (ics(extra="BEGIN:VEVENT\r\nUID:other\r\nDTSTAMP:20260101T000000Z\r\n"
                     "DTSTART:20260101T090000Z\r\nEND:VEVENT\r\n"), 403,
                 "valid-calendar-object-resource", "same UID"),
    "two masters": (ics(extra="BEGIN:VEVENT\r\nUID:refused\r\nDTSTAMP:20260101T000000Z\r\n"
                        "DTSTART:20260102T090000Z\r\nEND:VEVENT\r\n"), 403,
                    "valid-calendar-object-resource", "more than one VEVENT"),
    "two overrides of one instance": (ics(
        "DTSTART:20260101T090000Z\r\nRRULE:FREQ=DAILY;COUNT=3\r\n", extra="".join(
            "BEGIN:VEVENT\r\nUID:refused\r\nRECURRENCE-ID:20260102T090000Z\r\n"
            f"DTSTART:20260102T1{i}0000Z\r\nEND:VEVENT\r\n" for i in range(2))), 403,
        "valid-calendar-object-resource", "same RECURRENCE-ID"),
    "two component types": (ics(extra="BEGIN:VTODO\r\nUID:refused\r\nEND:VTODO\r\n"), 403,
                            "valid-calendar-object-resource", "one component type"),
    "two calendars": (ics() + ics(), 403, "valid-calendar-object-resource",
                      "exactly one VCALENDAR"),
    "only a timezone": ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTIMEZONE\r\n"
                        "TZID:X\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
                        "TZOFFSETFROM:+0000\r\nTZOFFSETTO:+0000\r\nEND:STANDARD\r\n"
                        "END:VTIMEZONE\r\nEND:VCALENDAR\r\n", 403,
                        "valid-calendar-object-resource", "no VEVENT"),
    "vfreebusy": ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VFREEBUSY\r\nUID:f\r\n"
                  "DTSTAMP:20260101T000000Z\r\nEND:VFREEBUSY\r\nEND:VCALENDAR\r\n", 403,
                  "supported-calendar-component", "VFREEBUSY cannot be stored"),
    "unknown rscale": (ics("DTSTART:20260101T090000Z\r\nRRULE:RSCALE=KLINGON;FREQ=YEARLY\r\n"),
                       403, "supported-rscale", "RSCALE=KLINGON"),
    "count over the bound": (ics("DTSTART:20260101T090000Z\r\nRRULE:FREQ=DAILY;COUNT=1000000\r\n"),
                             403, "max-instances", "over the 10000 occurrences"),
    "endless secondly": (ics("DTSTART:20260101T090000Z\r\nRRULE:FREQ=SECONDLY\r\n"), 403,
                         "max-instances", "too many occurrences"),
    "thousands of attendees": (ics("DTSTART:20260101T090000Z\r\n" + "".join(
        f"ATTENDEE:mailto:a{i}@example.com\r\n" for i in range(1001))), 403,
        "max-attendees-per-instance", "more than 1000 ATTENDEEs"),
}


def _as_existing(body: str | bytes) -> str | bytes:
    if isinstance(body, bytes):
        return body
    return body.replace("UID:refused\r\n", "UID:existing\r\n")


@pytest.fixture
def filled(http, account, cal) -> str:
    """The calendar of the cases, already holding one event (existing.ics)."""
    url, _ = cal
    assert http.put(url + "existing.ics", data=ics(uid="existing"), headers=ICS).status_code == 201
    return url


@pytest.mark.parametrize("name", list(CASES))
def test_refused_put_names_its_precondition(name, http, account, sql, filled) -> None:
    body, status, precondition, phrase = CASES[name]
    before = snapshot(sql, account.tenant_id)
    # A create, and a replace of the resource with that UID.
    for target, data in (("new.ics", body), ("existing.ics", _as_existing(body))):
        r = http.put(filled + target, data=data, headers=ICS)
        error = dav_error(r)
        assert (error.status, error.precondition) == (status, C + precondition), r.text
        assert phrase in error.message
        assert "Traceback" not in r.text
    assert snapshot(sql, account.tenant_id) == before
    assert http.get(filled + "new.ics").status_code == 404
    assert "UID:existing" in http.get(filled + "existing.ics").text


def test_component_outside_the_calendars_set(http, server, account, sql) -> None:
    url = f"{server.url}{account.username}/events-only-{account.tenant_id[:6]}/"
    assert http.request("MKCALENDAR", url, data=EVENT_ONLY,
                        headers={"Content-Type": "application/xml"}).status_code == 201
    before = snapshot(sql, account.tenant_id)
    r = http.put(url + "t.ics", data=todo("task-1"), headers=ICS)
    error = dav_error(r)
    assert (error.status, error.precondition) == (403, C + "supported-calendar-component")
    assert error.message == "this calendar accepts VEVENT, not VTODO"
    assert snapshot(sql, account.tenant_id) == before


def test_a_refusal_is_not_held_by_the_login_delay(http, server, account) -> None:
    """Radicale sleeps its [auth] delay (1 s under pytest, config/radicale.conf)
    before every 401 and 403 it sends, meant for denied access. A precondition
    refused by the store (the component set, the instance bound) is not that:
    it must not hold a client for a second per refused PUT."""
    url = f"{server.url}{account.username}/events-only-{account.tenant_id[:6]}/"
    assert http.request("MKCALENDAR", url, data=EVENT_ONLY,
                        headers={"Content-Type": "application/xml"}).status_code == 201
    refused = [todo("task-2"), ics("DTSTART:20260101T090000Z\r\nRRULE:FREQ=SECONDLY\r\n")]
    started = time.monotonic()
    for body in refused:
        assert dav_error(http.put(url + "r.ics", data=body, headers=ICS)).status == 403
    assert time.monotonic() - started < len(refused) * 0.9  # each would be >= 1 s held


def test_uid_in_use_names_the_resource_that_holds_it(http, server, account, sql, filled) -> None:
    before = snapshot(sql, account.tenant_id)
    r = http.put(filled + "copy.ics", data=ics(uid="existing"), headers=ICS)
    error = dav_error(r)
    assert (error.status, error.precondition) == (409, C + "no-uid-conflict")
    assert error.href is not None
    assert unquote(error.href) == urlsplit(filled).path + "existing.ics"
    assert "existing.ics" in error.message
    # The href is one a client can fetch.
    assert "UID:existing" in http.get(server.url.rstrip("/") + error.href).text
    assert snapshot(sql, account.tenant_id) == before


def test_changing_the_uid_of_a_resource_names_that_resource(http, account, sql, filled) -> None:
    before = snapshot(sql, account.tenant_id)
    r = http.put(filled + "existing.ics", data=ics(uid="renamed"), headers=ICS)
    error = dav_error(r)
    assert (error.status, error.precondition) == (409, C + "no-uid-conflict")
    assert unquote(error.href or "") == urlsplit(filled).path + "existing.ics"
    assert "'existing'" in error.message and "'renamed'" in error.message
    assert snapshot(sql, account.tenant_id) == before


def test_server_bounds_no_rfc_names_stay_a_plain_400(http, account, sql, filled) -> None:
    alarm = "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nDESCRIPTION:x\r\n"
    body = ics("DTSTART:20260101T090000Z\r\n" + alarm * 8 + "END:VALARM\r\n" * 8)
    before = snapshot(sql, account.tenant_id)
    r = http.put(filled + "new.ics", data=body, headers=ICS)
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.text == "components nested more than 6 deep\n"
    assert snapshot(sql, account.tenant_id) == before


def test_whole_calendar_put_refused_by_the_store_names_its_precondition(
        http, server, account, sql) -> None:
    """Radicale's own do_PUT (a whole calendar) hands each resource to the store;
    the store's refusal reaches the client as a DAV:error, and the new calendar
    is not created."""
    url = f"{server.url}{account.username}/whole-{account.tenant_id[:6]}/"
    body = ics("DTSTART:20260101T090000Z\r\n", uid="fine").replace(
        "END:VCALENDAR\r\n", "BEGIN:VEVENT\r\nUID:backwards\r\nDTSTAMP:20260101T000000Z\r\n"
        "DTSTART:20260102T000000Z\r\nDTEND:20260101T000000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    before = snapshot(sql, account.tenant_id)
    for encoding in ("gzip, deflate", "identity"):  # Radicale gzips its own answers
        r = http.put(url, data=body, headers={**ICS, "Accept-Encoding": encoding})
        error = dav_error(r)
        assert (error.status, error.precondition) == (403, C + "valid-calendar-data")
        assert error.message == "DTEND is before DTSTART"
    assert snapshot(sql, account.tenant_id) == before
    assert http.request("PROPFIND", url, headers={"Depth": "0"}).status_code == 404


def test_whole_calendar_body_that_is_not_icalendar(http, server, account, sql) -> None:
    url = f"{server.url}{account.username}/whole-bad-{account.tenant_id[:6]}/"
    before = snapshot(sql, account.tenant_id)
    r = http.put(url, data="BEGIN:VCALENDAR\r\nnonsense", headers=ICS)
    error = dav_error(r)
    assert (error.status, error.precondition) == (403, C + "valid-calendar-data")
    assert "never closed" in error.message
    assert snapshot(sql, account.tenant_id) == before


def mkcalendar(timezone: str | None = None) -> str:
    zone = f"<c:calendar-timezone><![CDATA[{timezone}]]></c:calendar-timezone>" \
        if timezone is not None else ""
    return ('<?xml version="1.0"?><c:mkcalendar xmlns:d="DAV:" '
            'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set><d:prop>'
            f"<d:displayname>New</d:displayname>{zone}</d:prop></d:set></c:mkcalendar>")


def proppatch(prop: str) -> str:
    return ('<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" '
            'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set><d:prop>'
            f"{prop}</d:prop></d:set></d:propertyupdate>")


XML = {"Content-Type": "application/xml"}
NO_ZONE = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nEND:VCALENDAR\r\n"


@pytest.mark.parametrize("zone,phrase", [("not a zone at all", "not valid iCalendar"),
                                         (NO_ZONE, "exactly one VTIMEZONE")],
                         ids=["not icalendar", "no vtimezone"])
def test_mkcalendar_with_a_timezone_that_is_not_one(zone, phrase, http, server, account,
                                                    sql) -> None:
    """RFC 4791 5.3.1.1: CALDAV:valid-calendar-data for calendar-timezone."""
    url = f"{server.url}{account.username}/zoned-{account.tenant_id[:6]}/"
    before = snapshot(sql, account.tenant_id)
    error = dav_error(http.request("MKCALENDAR", url, data=mkcalendar(zone), headers=XML))
    assert (error.status, error.precondition) == (403, C + "valid-calendar-data")
    assert "calendar-timezone" in error.message and phrase in error.message
    assert snapshot(sql, account.tenant_id) == before
    assert http.request("PROPFIND", url, headers={"Depth": "0"}).status_code == 404
    # A zone name, as some clients send, is taken.
    r = http.request("MKCALENDAR", url, data=mkcalendar("Europe/Berlin"), headers=XML)
    assert r.status_code == 201


def test_proppatch_of_a_timezone_that_is_not_one(http, account, sql, cal) -> None:
    url, cal_id = cal
    before = snapshot(sql, account.tenant_id)
    r = http.request("PROPPATCH", url, headers=XML, data=proppatch(
        f"<d:displayname>Renamed</d:displayname><c:calendar-timezone>{NO_ZONE}"
        "</c:calendar-timezone>"))
    error = dav_error(r)
    assert (error.status, error.precondition) == (403, C + "valid-calendar-data")
    assert "exactly one VTIMEZONE" in error.message
    assert snapshot(sql, account.tenant_id) == before


def test_a_stored_timezone_does_not_block_other_changes(http, account, sql, cal) -> None:
    """A calendar-timezone stored before it was checked (or by SQL) is not checked
    again when a PROPPATCH changes something else."""
    url, cal_id = cal
    sql.execute("UPDATE calendars SET props = jsonb_build_object('C:calendar-timezone', "
                "'legacy junk') WHERE id = %s", (cal_id,))
    r = http.request("PROPPATCH", url, headers=XML,
                     data=proppatch("<d:displayname>Renamed</d:displayname>"))
    assert r.status_code == 207, r.text
    assert sql.execute("SELECT name FROM calendars WHERE id = %s",
                       (cal_id,)).fetchone() == ("Renamed",)


def test_nested_mkcalendar_names_the_location_precondition(http, account, sql, cal) -> None:
    url, _ = cal
    before = snapshot(sql, account.tenant_id)
    for nested in (url + "inner/", url.rstrip("/") + "-missing/inner/"):
        error = dav_error(http.request("MKCALENDAR", nested, data=mkcalendar(), headers=XML))
        assert (error.status, error.precondition) == (403, C + "calendar-collection-location-ok")
        assert "cannot be nested" in error.message
        assert f"/{account.username}/inner/" in error.message
    # Under another login's home the rights answer first, saying nothing more.
    other = url.replace(f"/{account.username}/", "/someone-else/") + "inner/"
    r = http.request("MKCALENDAR", other, data=mkcalendar(), headers=XML)
    assert r.status_code == 403 and "calendar-collection-location-ok" not in r.text
    assert snapshot(sql, account.tenant_id) == before


def test_move_into_a_calendar_that_does_not_take_the_component(http, server, account, sql,
                                                               cal) -> None:
    """RFC 4791 5.3.2.1: supported-calendar-component holds for a MOVE's target too."""
    url, _ = cal
    events_only = f"{server.url}{account.username}/move-target-{account.tenant_id[:6]}/"
    assert http.request("MKCALENDAR", events_only, data=EVENT_ONLY, headers=XML
                        ).status_code == 201
    assert http.put(url + "t.ics", data=todo("task-m"), headers=ICS).status_code == 201
    before = snapshot(sql, account.tenant_id)
    r = http.request("MOVE", url + "t.ics", headers={"Destination": events_only + "t.ics"})
    error = dav_error(r)
    assert (error.status, error.precondition) == (403, C + "supported-calendar-component")
    assert error.message.endswith("accepts VEVENT, not VTODO")
    assert snapshot(sql, account.tenant_id) == before
    assert "UID:task-m" in http.get(url + "t.ics").text
    # An event moves there as before.
    assert http.put(url + "e.ics", data=ics(uid="event-m"), headers=ICS).status_code == 201
    r = http.request("MOVE", url + "e.ics", headers={"Destination": events_only + "e.ics"})
    assert r.status_code == 201, r.text


def test_move_onto_a_uid_in_use_names_the_resource_that_holds_it(http, server, account, sql,
                                                                  cal) -> None:
    """Radicale's do_MOVE answers the conflict; the D:href and the reason are added."""
    url, _ = cal
    other = f"{server.url}{account.username}/move-uid-{account.tenant_id[:6]}/"
    assert http.request("MKCALENDAR", other, data=mkcalendar(), headers=XML).status_code == 201
    assert http.put(url + "m.ics", data=ics(uid="twin"), headers=ICS).status_code == 201
    assert http.put(other + "held.ics", data=ics(uid="twin"), headers=ICS).status_code == 201
    before = snapshot(sql, account.tenant_id)
    r = http.request("MOVE", url + "m.ics", headers={"Destination": other + "moved.ics"})
    error = dav_error(r)
    assert (error.status, error.precondition) == (409, C + "no-uid-conflict")
    assert unquote(error.href or "") == urlsplit(other).path + "held.ics"
    assert "held.ics" in error.message
    assert snapshot(sql, account.tenant_id) == before
