"""Bad calendar data gets a 403 DAV:error (RFC 4791 1.3: a violated precondition) with a
reason a person can act on, and writes nothing."""

from __future__ import annotations

import pytest


def ics(body: str, uid: str = "bad") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n{body}END:VEVENT\r\nEND:VCALENDAR\r\n")


CASES = {
    "not icalendar": (b"hello", "not valid iCalendar"),
    "bad rrule": (ics("DTSTART:20260101T090000Z\r\nRRULE:FREQ=SOMETIMES\r\n").encode(), "RRULE"),
    "garbage dtstart": (ics("DTSTART:notadate\r\n").encode(), "DTSTART"),
    "no dtstart": (ics("SUMMARY:x\r\n").encode(), "without DTSTART"),
    "huge sequence": (ics("DTSTART:20260101T090000Z\r\nSEQUENCE:99999999999999\r\n").encode(),
                      "SEQUENCE"),
    "date vs date-time": (ics("DTSTART;VALUE=DATE:20260101\r\nDTEND:20260102T000000Z\r\n").encode(),
                          "must both be dates or both date-times"),
    "end before start": (ics("DTSTART:20260102T000000Z\r\nDTEND:20260101T000000Z\r\n").encode(),
                         "before DTSTART"),
    "bad duration": (ics("DTSTART:20260101T090000Z\r\nDURATION:P1X\r\n").encode(), "DURATION"),
    "bad exdate": (ics("DTSTART:20260101T090000Z\r\nRRULE:FREQ=DAILY\r\nEXDATE:xx\r\n").encode(),
                   "EXDATE"),
    "nul character": (ics("DTSTART:20260101T090000Z\r\nSUMMARY:a\x00b\r\n").encode(), "NUL"),
    "invalid utf-8": (b"BEGIN:VCALENDAR\r\n\xff\xfe\r\nEND:VCALENDAR\r\n", "not valid utf-8"),
    "no uid": (ics("DTSTART:20260101T090000Z\r\n").replace("UID:bad\r\n", "").encode(), "UID"),
    "two uids": (ics("DTSTART:20260101T090000Z\r\n").replace(
        "END:VCALENDAR", "BEGIN:VEVENT\r\nUID:other\r\nDTSTART:20260101T090000Z\r\nEND:VEVENT\r\n"
        "END:VCALENDAR").encode(), "same UID"),
    "two masters": (ics("DTSTART:20260101T090000Z\r\n").replace(
        "END:VCALENDAR", "BEGIN:VEVENT\r\nUID:bad\r\nDTSTART:20260102T090000Z\r\nEND:VEVENT\r\n"
        "END:VCALENDAR").encode(), "more than one VEVENT"),
    "mixed components": (ics("DTSTART:20260101T090000Z\r\n").replace(
        "END:VCALENDAR", "BEGIN:VTODO\r\nUID:bad\r\nEND:VTODO\r\nEND:VCALENDAR").encode(),
        "one component type"),
    "zone outside the calendar": ((ics("DTSTART;TZID=Europe/Berlin:20260101T090000\r\n")
                                   + "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\n"
                                   "DTSTART:19701025T030000\r\nTZOFFSETFROM:+0200\r\n"
                                   "TZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
                                   ).encode(), "exactly one VCALENDAR"),
    "empty calendar": (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nEND:VCALENDAR\r\n",
                       "no VEVENT"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_event_is_403_with_reason_and_writes_nothing(name, http, server, account, sql) -> None:
    body, reason = CASES[name]
    url = f"{server.url}{account.username}/calendar/bad.ics"
    count = "SELECT (SELECT count(*) FROM events WHERE tenant_id = %s), " \
            "(SELECT count(*) FROM calendar_changes WHERE tenant_id = %s)"
    before = sql.execute(count, (account.tenant_id, account.tenant_id)).fetchone()
    r = http.put(url, data=body, headers={"Content-Type": "text/calendar; charset=utf-8"})
    assert r.status_code == 403
    assert r.headers["Content-Type"].startswith("application/xml")
    assert reason in r.text
    assert "Traceback" not in r.text
    assert sql.execute(count, (account.tenant_id, account.tenant_id)).fetchone() == before
    assert http.get(url).status_code == 404


def test_non_numeric_content_length_is_400(server, account) -> None:
    import socket
    host, port = server.url.split("//")[1].rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"PUT /x/calendar/a.ics HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
        reply = s.recv(200)
    assert reply.split(b" ")[1].startswith(b"4")


def test_todo_into_an_events_only_calendar_is_refused(http, server, account, sql) -> None:
    sql.execute("INSERT INTO calendars (tenant_id, name, href, components) "
                "VALUES (%s, 'E', 'eonly', ARRAY['VEVENT'])", (account.tenant_id,))
    todo = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTODO\r\nUID:t1\r\n"
            "SUMMARY:x\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
    r = http.put(f"{server.url}{account.username}/eonly/t1.ics", data=todo,
                 headers={"Content-Type": "text/calendar"})
    assert r.status_code in (400, 403)
    assert sql.execute("SELECT count(*) FROM calendar_objects WHERE tenant_id = %s",
                       (account.tenant_id,)).fetchone() == (0,)
