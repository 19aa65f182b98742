"""The schedule inbox and outbox over real HTTP (RFC 6638 2, 5): the
principal's scheduling properties, the inbox's messages (PROPFIND, multiget,
GET, DELETE), free-busy through the outbox within the caller's tenant only,
schedule-calendar-transp, and the `caldav` client's scheduling calls."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from xml.etree import ElementTree as ET

import caldav
import pytest
import requests
from conftest import Server
from scheduling_people import People, invitation

D, C, CS = "{DAV:}", "{urn:ietf:params:xml:ns:caldav}", "{http://calendarserver.org/ns/}"
ICS = {"Content-Type": "text/calendar; charset=utf-8"}
XML = {"Content-Type": "application/xml; charset=utf-8"}




def _props(r, status: int = 200) -> dict[str, ET.Element]:  # noqa: ANN001
    assert r.status_code == 207, (r.status_code, r.text)
    found = {}
    for propstat in ET.fromstring(r.content).iter(f"{D}propstat"):
        if f" {status} " in propstat.findtext(f"{D}status", ""):
            for prop in propstat.find(f"{D}prop"):
                found[prop.tag] = prop
    return found


def _propfind(session, url: str, props: list[str], depth: str = "0"):  # noqa: ANN001, ANN202
    inner = "".join(f'<x:{p.split("}")[1]} xmlns:x="{p[1:].split("}")[0]}"/>' for p in props)
    return session.request("PROPFIND", url, headers={**XML, "Depth": depth},
                           data=f'<d:propfind xmlns:d="DAV:"><d:prop>{inner}</d:prop></d:propfind>')


def _invite(server: Server, people: People) -> str:
    uid = f"box-{uuid.uuid4()}"
    url = f"{server.url}{people.alice.username}/{people.alice.calendar}/{uid}.ics"
    assert people.alice.session().put(url, data=invitation(people, uid).encode(),
                                      headers=ICS).status_code == 201
    return uid


def test_the_principal_names_its_boxes(server: Server, people: People) -> None:
    d = people.dave
    r = _propfind(d.session(), f"{server.url}{d.username}/",
                  [f"{C}schedule-inbox-URL", f"{C}schedule-outbox-URL",
                   f"{C}schedule-default-calendar-URL", f"{C}calendar-user-type"])
    props = _props(r)
    assert props[f"{C}schedule-inbox-URL"].findtext(f"{D}href") == f"/{d.username}/inbox/"
    assert props[f"{C}schedule-outbox-URL"].findtext(f"{D}href") == f"/{d.username}/outbox/"
    assert props[f"{C}schedule-default-calendar-URL"].findtext(f"{D}href") == \
        f"/{d.username}/{d.calendar}/"
    r = d.session().request("OPTIONS", server.url)
    assert "calendar-auto-schedule" in r.headers["DAV"]


def test_the_inbox_lists_reads_and_deletes_messages(server: Server, people: People) -> None:
    uid = _invite(server, people)
    d = people.dave
    dave = d.session()
    inbox = f"{server.url}{d.username}/inbox/"
    r = _propfind(dave, inbox, [f"{D}resourcetype", f"{CS}getctag", f"{D}getetag"], depth="1")
    root = ET.fromstring(r.content)
    responses = root.findall(f"{D}response")
    box = responses[0]
    types = {e.tag for e in box.find(f"{D}propstat/{D}prop/{D}resourcetype")}
    assert types == {f"{D}collection", f"{C}schedule-inbox"}
    ctag = box.find(f"{D}propstat/{D}prop/{CS}getctag").text
    members = [x.findtext(f"{D}href") for x in responses[1:]]
    assert members and all(m.startswith(f"/{d.username}/inbox/") for m in members)
    texts = {m: dave.get(server.url.rstrip("/") + m) for m in members}
    [(href, got)] = [(m, g) for m, g in texts.items() if f"UID:{uid}" in g.text]
    assert got.status_code == 200 and "METHOD:REQUEST" in got.text and got.headers["ETag"]
    # The same through calendar-multiget, as Apple Calendar reads it.
    body = ('<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            f"<D:prop><D:getetag/><C:calendar-data/></D:prop><D:href>{href}</D:href>"
            f"<D:href>/{d.username}/inbox/nothing.ics</D:href></C:calendar-multiget>")
    r = dave.request("REPORT", inbox, data=body, headers={**XML, "Depth": "1"})
    assert f"UID:{uid}" in _props(r)[f"{C}calendar-data"].text
    assert "404" in r.text
    # Processed: the client deletes it; the inbox's ctag moves.
    assert dave.delete(server.url.rstrip("/") + href).status_code == 204
    assert dave.get(server.url.rstrip("/") + href).status_code == 404
    assert dave.delete(server.url.rstrip("/") + href).status_code == 404
    after = _propfind(dave, inbox, [f"{CS}getctag"])
    assert _props(after)[f"{CS}getctag"].text != ctag


def test_boxes_refuse_what_they_do_not_do(server: Server, people: People) -> None:
    d = people.dave
    dave = d.session()
    base = f"{server.url}{d.username}/"
    event = invitation(people, "x")
    r = dave.put(base + "inbox/x.ics", data=event.encode(), headers=ICS)
    assert r.status_code == 403 and "delivers" in r.text
    r = dave.put(base + "outbox/x.ics", data=event.encode(), headers=ICS)
    assert r.status_code == 403
    r = dave.request("MKCALENDAR", base + "inbox/")
    assert r.status_code == 403 and "schedule inbox" in r.text
    r = dave.delete(base + "inbox/")
    assert r.status_code == 403
    r = dave.request("REPORT", base + "inbox/", headers={**XML, "Depth": "1"},
                     data='<D:sync-collection xmlns:D="DAV:"><D:sync-token/>'
                          "<D:prop><D:getetag/></D:prop></D:sync-collection>")
    assert r.status_code == 403 and "supported-report" in r.text
    # PROPPATCH, MKCOL and MOVE on the boxes or a message: 403 with a sentence.
    for method, path in (("PROPPATCH", "inbox/"), ("PROPPATCH", "outbox/"), ("MKCOL", "inbox/"),
                         ("MOVE", "inbox/x.ics"), ("MKCOL", "outbox/x/")):
        r = dave.request(method, base + path, headers={**XML, "Destination": base + "y.ics"},
                         data=b"")
        assert r.status_code == 403 and "the server keeps it" in r.text, (method, path, r.text)
    # A POST of a free-busy request to the own inbox: 405, naming the outbox.
    cal = ICS["Content-Type"]
    for url in (base + "inbox/", base + "outbox/x.ics"):
        r = dave.post(url, data=b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
                      headers={"Content-Type": cal})
        assert r.status_code == 405 and f"/{d.username}/outbox/" in r.text, (url, r.text)
    # Another login's boxes: the same 404 as a path nobody has.
    alice = people.alice.session()
    for url in (base + "inbox/", base + "outbox/"):
        assert _propfind(alice, url, [f"{D}resourcetype"]).status_code == 404
    assert alice.get(base + "inbox/whatever.ics").status_code == 404
    assert alice.request("PROPPATCH", base + "inbox/", data=b"").status_code == 404
    assert alice.post(base + "outbox/", data=b"x", headers={"Content-Type": cal}
                      ).status_code == 404
    assert alice.post(base + "inbox/", data=b"x", headers={"Content-Type": cal}
                      ).status_code == 404


def _freebusy(people: People, attendees: list[str], organizer: str | None = None,
              start: str = "20270310T000000Z", end: str = "20270311T000000Z") -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "METHOD:REQUEST",
             "BEGIN:VFREEBUSY", f"UID:fb-{uuid.uuid4()}", "DTSTAMP:20270101T000000Z",
             f"DTSTART:{start}", f"DTEND:{end}",
             f"ORGANIZER:{organizer or people.alice.address}"]
    lines += [f"ATTENDEE:{a}" for a in attendees]
    lines += ["END:VFREEBUSY", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def _answers(r) -> dict[str, tuple[str, str | None]]:  # noqa: ANN001
    assert r.status_code == 200, (r.status_code, r.text)
    root = ET.fromstring(r.content)
    assert root.tag == f"{C}schedule-response"
    return {x.findtext(f"{C}recipient/{D}href"): (x.findtext(f"{C}request-status"),
                                                  x.findtext(f"{C}calendar-data"))
            for x in root.findall(f"{C}response")}


def test_outbox_free_busy_within_the_tenant_only(server: Server, people: People) -> None:
    _invite(server, people)  # Alice's tenant is busy 10:00-11:00 on 10 March 2027
    alice = people.alice.session()
    outbox = f"{server.url}{people.alice.username}/outbox/"
    stranger = f"mailto:nobody-{uuid.uuid4().hex[:6]}@nowhere.example"
    r = alice.post(outbox, headers=ICS, data=_freebusy(
        people, [people.bob.address, people.dave.address, stranger]).encode())
    answers = _answers(r)
    status, data = answers[people.bob.address]
    assert status.startswith("2.0")
    assert "FREEBUSY;FBTYPE=BUSY:20270310T100000Z/20270310T110000Z" in data
    assert "METHOD:REPLY" in data
    # Another tenant's login and an address nobody has: word for word the same.
    assert answers[people.dave.address] == answers[stranger] == ("3.7;Invalid calendar user", None)


def test_a_transparent_calendar_is_free(server: Server, people: People) -> None:
    d = people.dave
    dave = d.session()
    cal = f"{server.url}{d.username}/fb{uuid.uuid4().hex[:6]}/"
    assert dave.request("MKCALENDAR", cal).status_code == 201
    r = _propfind(dave, cal, [f"{C}schedule-calendar-transp"])
    assert _props(r)[f"{C}schedule-calendar-transp"][0].tag == f"{C}opaque"
    event = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
             f"UID:tr-{uuid.uuid4()}\r\nDTSTAMP:20270101T000000Z\r\nDTSTART:20270320T080000Z\r\n"
             "DTEND:20270320T090000Z\r\nSUMMARY:holidays feed\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    assert dave.put(cal + "e.ics", data=event.encode(), headers=ICS).status_code == 201
    ask = _freebusy(people, [d.address], organizer=d.address, start="20270320T000000Z",
                    end="20270321T000000Z")
    outbox = f"{server.url}{d.username}/outbox/"
    assert "20270320T080000Z" in _answers(dave.post(outbox, data=ask.encode(), headers=ICS)
                                          )[d.address][1]
    r = dave.request("PROPPATCH", cal, headers=XML, data=(
        '<d:propertyupdate xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set>'
        "<d:prop><c:schedule-calendar-transp><c:transparent/></c:schedule-calendar-transp>"
        "</d:prop></d:set></d:propertyupdate>"))
    assert r.status_code == 207, r.text
    r = _propfind(dave, cal, [f"{C}schedule-calendar-transp"])
    assert _props(r)[f"{C}schedule-calendar-transp"][0].tag == f"{C}transparent"
    assert "20270320T080000Z" not in _answers(dave.post(outbox, data=ask.encode(),
                                                        headers=ICS))[d.address][1]


@pytest.mark.parametrize(("body", "content_type", "status", "reason"), [
    ("not a calendar", "text/calendar", 400, "not iCalendar"),
    ("{people}", "application/json", 415, "text/calendar"),
    ("event", "text/calendar", 403, "free-busy requests only"),
    ("no-method", "text/calendar", 403, "METHOD:REQUEST"),
    ("not-mine", "text/calendar", 403, "not one of your addresses"),
    ("no-attendee", "text/calendar", 403, "at least one ATTENDEE"),
    ("backwards", "text/calendar", 403, "end after it starts"),
    ("two-years", "text/calendar", 403, "within 366 days"),
    ("crowd", "text/calendar", 403, "at most 100"),
    ("two-organizers", "text/calendar", 403, "names one ORGANIZER"),
])
def test_bad_free_busy_requests_are_refused(server: Server, people: People, body: str,
                                           content_type: str, status: int, reason: str) -> None:
    fb = _freebusy(people, [people.bob.address])
    text = {
        "event": invitation(people, "p").replace("VERSION:2.0", "VERSION:2.0\r\nMETHOD:REQUEST"),
        "no-method": fb.replace("METHOD:REQUEST\r\n", ""),
        "not-mine": _freebusy(people, [people.bob.address], organizer=people.bob.address),
        "no-attendee": _freebusy(people, []),
        "backwards": _freebusy(people, [people.bob.address], start="20270311T000000Z",
                               end="20270310T000000Z"),
        "two-years": _freebusy(people, [people.bob.address], end="20290311T000000Z"),
        "crowd": _freebusy(people, [f"mailto:p{n}@x.example" for n in range(101)]),
        "two-organizers": fb.replace("ORGANIZER:", f"ORGANIZER:{people.bob.address}\r\n"
                                     "ORGANIZER:"),
    }.get(body, body)
    r = people.alice.session().post(f"{server.url}{people.alice.username}/outbox/",
                                    data=text.encode(), headers={"Content-Type": content_type})
    assert r.status_code == status, (r.status_code, r.text)
    assert reason in r.text
    # Someone else's outbox, or a POST to the inbox: no such outbox.
    r = people.bob.session().post(f"{server.url}{people.alice.username}/outbox/",
                                  data=fb.encode(), headers=ICS)
    assert r.status_code == 404


def test_the_caldav_clients_scheduling_calls(server: Server, people: People) -> None:
    uid = _invite(server, people)
    d = people.dave
    with caldav.DAVClient(url=server.url, username=d.username, password=d.password) as client:
        principal = client.principal()
        assert principal.calendar_user_address_set()[0] == d.address
        inbox = principal.schedule_inbox()
        outbox = principal.schedule_outbox()
        assert str(inbox.url).endswith(f"/{d.username}/inbox/")
        assert str(outbox.url).endswith(f"/{d.username}/outbox/")
        invites = [i for i in inbox.get_items() if uid in i.data]
        assert len(invites) == 1
        invites[0].accept_invite()
    with caldav.DAVClient(url=server.url, username=people.alice.username,
                          password=people.alice.password) as client:
        principal = client.principal()
        event = principal.calendar(cal_id=people.alice.calendar).event_by_uid(uid)
        line = [x for x in event.data.replace("\r\n ", "").splitlines() if d.email in x][0]
        assert "PARTSTAT=ACCEPTED" in line
        answer = principal.freebusy_request(
            datetime(2027, 3, 10, tzinfo=timezone.utc), datetime(2027, 3, 11, tzinfo=timezone.utc),
            [people.bob.address])
        assert answer["errors"] == {}
        busy = answer[people.bob.address].icalendar_instance
        [fb] = busy.walk("VFREEBUSY")
        periods = fb.get("FREEBUSY")
        periods = periods if isinstance(periods, list) else [periods]
        assert any(p.dt[0] == datetime(2027, 3, 10, 10, tzinfo=timezone.utc) for p in periods)


def test_free_busy_at_the_ends_of_the_calendar_and_odd_addresses(server: Server,
                                                                  people: People) -> None:
    """Year 1 and year 9999 ranges (outbox and free-busy-query) and a NUL in
    an address: an answer or a 4xx, never a 500."""
    alice = people.alice.session()
    outbox = f"{server.url}{people.alice.username}/outbox/"
    for start, end in (("00010101T000000Z", "00010102T000000Z"),
                       ("99991230T000000Z", "99991231T000000Z")):
        r = alice.post(outbox, data=_freebusy(people, [people.bob.address], start=start,
                                              end=end).encode(), headers=ICS)
        assert r.status_code < 500, r.text
        if r.status_code == 200:
            assert _answers(r)[people.bob.address][0] == "2.0;Success"
        r = alice.request("REPORT", f"{server.url}{people.alice.username}/"
                          f"{people.alice.calendar}/", headers={**XML, "Depth": "1"}, data=(
            '<c:free-busy-query xmlns:c="urn:ietf:params:xml:ns:caldav">'
            f'<c:time-range start="{start}" end="{end}"/></c:free-busy-query>'))
        assert r.status_code < 500, r.text
    r = alice.post(outbox, data=_freebusy(people, ["mailto:x%00@y.example"]).encode(),
                   headers=ICS)
    assert _answers(r)["mailto:x%00@y.example"][0].startswith("3.7")
    uid = f"nul-{uuid.uuid4()}"
    nul = invitation(people, uid, extra_attendees="ATTENDEE;RSVP=TRUE:mailto:x@y.example%00\r\n")
    r = alice.put(f"{server.url}{people.alice.username}/{people.alice.calendar}/{uid}.ics",
                  data=nul.encode(), headers=ICS)
    assert r.status_code < 500, r.text
    organizer = nul.replace(f"ORGANIZER;CN=Alice:{people.alice.address}",
                            "ORGANIZER:mailto:alice%00@one.example")
    r = alice.put(f"{server.url}{people.alice.username}/{people.alice.calendar}/{uid}-2.ics",
                  data=organizer.encode(), headers=ICS)
    assert r.status_code < 500, r.text


def test_boxes_challenge_a_request_without_credentials(server: Server, people: People) -> None:
    """Clients that send credentials only when challenged must get the 401, as
    on the principal, not a 404 that says the box does not exist."""
    base = f"{server.url}{people.alice.username}/"
    for method, path in (("PROPFIND", "inbox/"), ("PROPFIND", "outbox/"), ("GET", "inbox/x.ics"),
                         ("POST", "outbox/"), ("DELETE", "inbox/x.ics"), ("REPORT", "inbox/")):
        r = requests.request(method, base + path, headers={"Depth": "0"})
        assert r.status_code == 401, (method, path, r.status_code)
        assert r.headers["WWW-Authenticate"].startswith("Basic")


def test_the_answer_writes_back_no_line_the_request_smuggled(server: Server,
                                                             people: People) -> None:
    """A UID with an escaped line break would add a FREEBUSY line of the
    caller's making to the answer's calendar-data; it is one line."""
    fb = _freebusy(people, [people.bob.address]).replace(
        "UID:fb-", "UID:x\\nFREEBUSY:20270310T000000Z/20270310T010000Z\\nX-A:fb-")
    r = people.alice.session().post(f"{server.url}{people.alice.username}/outbox/",
                                    data=fb.encode(), headers=ICS)
    status, data = _answers(r)[people.bob.address]
    assert status.startswith("2.0")
    assert not [x for x in data.splitlines() if x.startswith("FREEBUSY:20270310T000000Z")]
    # A POST to the own inbox: one charset parameter.
    r = people.alice.session().post(f"{server.url}{people.alice.username}/inbox/",
                                    data=fb.encode(), headers=ICS)
    assert r.status_code == 405 and r.headers["Content-Type"].count("charset") == 1


def test_the_outbox_reads_the_declared_charset(server: Server, people: People) -> None:
    """As a calendar PUT: latin-1 when the Content-Type says so; bytes that
    are not UTF-8 without a charset, or an unknown charset, get a 4xx."""
    outbox = f"{server.url}{people.alice.username}/outbox/"
    alice = people.alice.session()
    fb = _freebusy(people, [people.bob.address]).replace("PRODID:-//t//EN", "PRODID:-//Caf\u00e9//EN")
    r = alice.post(outbox, data=fb.encode("latin-1"),
                   headers={"Content-Type": "text/calendar; charset=ISO-8859-1"})
    assert _answers(r)[people.bob.address][0].startswith("2.0")
    r = alice.post(outbox, data=fb.encode("latin-1"), headers={"Content-Type": "text/calendar"})
    assert r.status_code == 400 and "charset" in r.text
    r = alice.post(outbox, data=fb.encode(), headers={"Content-Type": "text/calendar; charset=x-nope"})
    assert r.status_code == 415 and "x-nope" in r.text

