"""Implicit scheduling over real HTTP (RFC 6638 3.2): an organizer's PUT and
DELETE, an attendee's answer, across two tenants of one server, with the
external guest's mail queued for the iMIP sender.

Alice (organizer) and Bob share tenant one; Dave is a user of tenant two;
the guest has no login. The session server has no SMTP relay: mail stays
queued (tests/test_imip_*.py send it).
"""

from __future__ import annotations

import re
import uuid

import psycopg
from conftest import Server
from scheduling_people import (
    People,
    attendee_line,
    invitation,
    set_partstat,
)

ICS = {"Content-Type": "text/calendar; charset=utf-8"}




def _inbox(sql: psycopg.Connection, tenant: str, username: str, uid: str) -> list[str]:
    return [r[0] for r in sql.execute(
        "SELECT method FROM schedule_inbox WHERE tenant_id = %s AND username = %s AND uid = %s "
        "ORDER BY created_at", (tenant, username, uid))]


def _copy(sql: psycopg.Connection, tenant: str, uid: str) -> tuple[str, str] | None:
    """(calendar href, href) of the tenant's event with this UID."""
    row = sql.execute(
        "SELECT c.href, e.href FROM events e JOIN calendars c ON c.id = e.calendar_id "
        "WHERE e.tenant_id = %s AND e.uid = %s AND e.series_id IS NULL "
        "AND e.deleted_at IS NULL", (tenant, uid)).fetchone()
    return (row[0], row[1]) if row else None


def _mail(sql: psycopg.Connection, tenant: str, uid: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in sql.execute(
        "SELECT method, recipient FROM itip_queue WHERE tenant_id = %s AND uid = %s "
        "AND transport = 'mail' ORDER BY created_at", (tenant, uid))]


def _organize(server: Server, people: People, uid: str) -> str:
    """Alice's PUT of a new meeting; returns the URL of her object."""
    url = f"{server.url}{people.alice.username}/{people.alice.calendar}/{uid}.ics"
    r = people.alice.session().put(url, data=invitation(people, uid).encode(), headers=ICS)
    assert r.status_code == 201, r.text
    # The server wrote SCHEDULE-STATUS into what it stored: no ETag, so the
    # client reads it again (RFC 4791 5.3.4); a Schedule-Tag for If-Schedule-Tag-Match.
    assert "ETag" not in r.headers and r.headers["Schedule-Tag"]
    return url


def test_organizer_put_reaches_each_kind_of_attendee(server: Server, people: People,
                                                     sql: psycopg.Connection) -> None:
    uid = f"meet-{uuid.uuid4()}"
    url = _organize(server, people, uid)
    text = people.alice.session().get(url).text
    assert "SCHEDULE-STATUS=1.2" in attendee_line(text, people.bob.address)  # shared object
    assert "SCHEDULE-STATUS=1.2" in attendee_line(text, people.dave.address)  # delivered
    assert "SCHEDULE-STATUS=1.1" in attendee_line(text, people.outsider)  # sent by mail
    # Dave, in tenant two: the REQUEST in his inbox, the event in his calendar.
    d = people.dave
    assert _inbox(sql, d.tenant_id, d.username, uid) == ["REQUEST"]
    calendar, href = _copy(sql, d.tenant_id, uid)
    assert calendar == d.calendar
    copy = d.session().get(f"{server.url}{d.username}/{calendar}/{href}")
    assert copy.status_code == 200 and "SUMMARY:Planning" in copy.text
    assert "METHOD" not in copy.text and "SCHEDULE-STATUS" not in copy.text
    assert copy.headers["Schedule-Tag"]
    # Bob shares Alice's tenant: no second copy, no inbox message.
    assert _inbox(sql, people.bob.tenant_id, people.bob.username, uid) == []
    # The guest's invitation waits for the iMIP sender.
    assert _mail(sql, people.alice.tenant_id, uid) == [("REQUEST", people.outsider)]
    # Nobody of tenant two sees tenant one's event, nor the other way round.
    assert d.session().get(url).status_code in (403, 404)


def test_attendee_answer_updates_organizer_and_other_copies(server: Server, people: People,
                                                            sql: psycopg.Connection) -> None:
    uid = f"meet-{uuid.uuid4()}"
    url = _organize(server, people, uid)
    alice = people.alice.session()
    before = alice.get(url)
    d = people.dave
    calendar, href = _copy(sql, d.tenant_id, uid)
    dave_url = f"{server.url}{d.username}/{calendar}/{href}"
    dave = d.session()
    got = dave.get(dave_url)
    accepted = set_partstat(got.text, d.address, "ACCEPTED")
    r = dave.put(dave_url, data=accepted.encode(),
                 headers={**ICS, "If-Schedule-Tag-Match": got.headers["Schedule-Tag"]})
    assert r.status_code == 204, r.text
    after = alice.get(url)
    assert "PARTSTAT=ACCEPTED" in attendee_line(after.text, d.address)
    assert after.headers["ETag"] != before.headers["ETag"]
    # An answer is no change of the meeting: the organizer's Schedule-Tag stays.
    assert after.headers["Schedule-Tag"] == before.headers["Schedule-Tag"]
    assert _inbox(sql, people.alice.tenant_id, people.alice.username, uid) == ["REPLY"]
    # Bob answers on the shared object: Dave's copy (tenant two) shows it.
    bob = people.bob.session()
    bob_url = url.replace(f"/{people.alice.username}/", f"/{people.bob.username}/")
    shared = bob.get(bob_url)
    r = bob.put(bob_url, data=set_partstat(shared.text, people.bob.address, "DECLINED").encode(),
                headers={**ICS, "If-Match": shared.headers["ETag"]})
    assert r.status_code == 204, r.text
    refreshed = dave.get(dave_url).text
    assert "PARTSTAT=DECLINED" in attendee_line(refreshed, people.bob.address)
    assert "PARTSTAT=ACCEPTED" in attendee_line(refreshed, d.address)
    # A stale Schedule-Tag: 412, nothing written.
    r = dave.put(dave_url, data=accepted.encode(),
                 headers={**ICS, "If-Schedule-Tag-Match": '"s-stale"'})
    assert r.status_code == 412


def test_organizer_delete_cancels_everywhere(server: Server, people: People,
                                             sql: psycopg.Connection) -> None:
    uid = f"meet-{uuid.uuid4()}"
    url = _organize(server, people, uid)
    assert people.alice.session().delete(url).status_code in (200, 204)
    d = people.dave
    assert _inbox(sql, d.tenant_id, d.username, uid) == ["REQUEST", "CANCEL"]
    calendar, href = _copy(sql, d.tenant_id, uid)
    text = d.session().get(f"{server.url}{d.username}/{calendar}/{href}").text
    assert "STATUS:CANCELLED" in text
    assert _mail(sql, people.alice.tenant_id, uid) == [("REQUEST", people.outsider),
                                                      ("CANCEL", people.outsider)]


def test_removed_attendee_gets_cancel_and_schedule_reply_f_sends_nothing(
        server: Server, people: People, sql: psycopg.Connection) -> None:
    uid = f"meet-{uuid.uuid4()}"
    url = _organize(server, people, uid)
    alice = people.alice.session()
    text = alice.get(url).text
    d = people.dave
    without_dave = "\r\n".join(line for line in text.replace("\r\n ", "").split("\r\n")
                               if d.email.lower() not in line.lower())
    r = alice.put(url, data=without_dave.encode(), headers=ICS)
    assert r.status_code == 204, r.text
    assert _inbox(sql, d.tenant_id, d.username, uid) == ["REQUEST", "CANCEL"]
    # Dave deletes his cancelled copy with Schedule-Reply: F: no REPLY.
    calendar, href = _copy(sql, d.tenant_id, uid)
    r = d.session().delete(f"{server.url}{d.username}/{calendar}/{href}",
                           headers={"Schedule-Reply": "F"})
    assert r.status_code in (200, 204)
    assert _inbox(sql, people.alice.tenant_id, people.alice.username, uid) == []


def test_attendee_delete_declines(server: Server, people: People,
                                  sql: psycopg.Connection) -> None:
    uid = f"meet-{uuid.uuid4()}"
    url = _organize(server, people, uid)
    d = people.dave
    calendar, href = _copy(sql, d.tenant_id, uid)
    r = d.session().delete(f"{server.url}{d.username}/{calendar}/{href}")
    assert r.status_code in (200, 204)
    text = people.alice.session().get(url).text
    assert "PARTSTAT=DECLINED" in attendee_line(text, d.address)


def test_a_writer_who_is_neither_organizer_nor_attendee_sends_nothing(
        server: Server, people: People, sql: psycopg.Connection) -> None:
    """Dave stores an event organized by someone he does not invite himself to."""
    uid = f"meet-{uuid.uuid4()}"
    d = people.dave
    text = invitation(people, uid).replace(f"ATTENDEE;CN=Dave;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:"
                                           f"{d.address}\r\n", "")
    r = d.session().put(f"{server.url}{d.username}/{d.calendar}/{uid}.ics", data=text.encode(),
                        headers=ICS)
    assert r.status_code == 201 and r.headers.get("ETag"), "stored as sent"
    assert _inbox(sql, people.alice.tenant_id, people.alice.username, uid) == []
    assert sql.execute("SELECT count(*) FROM itip_queue WHERE uid = %s", (uid,)).fetchone()[0] == 0


def test_multiget_answers_the_schedule_tag(server: Server, people: People,
                                           sql: psycopg.Connection) -> None:
    """RFC 6638 3.3: CALDAV:schedule-tag on scheduling objects, 404 on others
    (the `caldav` client asks for it in every multiget)."""
    uid = f"meet-{uuid.uuid4()}"
    url = _organize(server, people, uid)
    alice = people.alice.session()
    plain = f"plain-{uuid.uuid4()}"
    collection = url.rsplit("/", 1)[0] + "/"
    r = alice.put(f"{collection}{plain}.ics", headers=ICS, data=(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{plain}\r\nDTSTAMP:20270101T000000Z\r\nDTSTART:20270102T100000Z\r\n"
        "DTEND:20270102T110000Z\r\nSUMMARY:alone\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").encode())
    assert r.status_code == 201
    path = collection.split("://", 1)[1].split("/", 1)[1]
    body = ('<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            "<D:prop><D:getetag/><C:calendar-data/><C:schedule-tag/></D:prop>"
            f"<D:href>/{path}{uid}.ics</D:href><D:href>/{path}{plain}.ics</D:href>"
            "</C:calendar-multiget>")
    r = alice.request("REPORT", collection, data=body,
                      headers={"Content-Type": "application/xml", "Depth": "1"})
    assert r.status_code == 207, r.text
    from xml.etree import ElementTree as ET
    root = ET.fromstring(r.content)
    tags: dict[str, tuple[str | None, str]] = {}
    for response in root.iter("{DAV:}response"):
        href = response.findtext("{DAV:}href")
        for propstat in response.iter("{DAV:}propstat"):
            found = propstat.find("{DAV:}prop/{urn:ietf:params:xml:ns:caldav}schedule-tag")
            if found is not None:
                tags[href.rsplit("/", 1)[1]] = (found.text, propstat.findtext("{DAV:}status"))
    assert tags[f"{uid}.ics"] == (alice.get(url).headers["Schedule-Tag"], "HTTP/1.1 200 OK")
    assert tags[f"{plain}.ics"] == (None, "HTTP/1.1 404 Not Found")


def test_a_message_cannot_overwrite_another_event_with_the_same_uid(
        server: Server, people: People, sql: psycopg.Connection) -> None:
    """Dave's own event (no organizer) keeps its text when Alice invites him to
    a meeting that reuses its UID: UID and ORGANIZER must both match."""
    uid = f"taken-{uuid.uuid4()}"
    d = people.dave
    own = (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
           "DTSTAMP:20270101T000000Z\r\nDTSTART:20270601T100000Z\r\nDTEND:20270601T110000Z\r\n"
           "SUMMARY:Dave's own\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    dave_url = f"{server.url}{d.username}/{d.calendar}/{uid}.ics"
    assert d.session().put(dave_url, data=own.encode(), headers=ICS).status_code == 201
    _organize(server, people, uid)
    assert "SUMMARY:Dave's own" in d.session().get(dave_url).text
    assert _inbox(sql, d.tenant_id, d.username, uid) == []
    # Deleting the meeting does not cancel Dave's event either.
    url = f"{server.url}{people.alice.username}/{people.alice.calendar}/{uid}.ics"
    people.alice.session().delete(url)
    assert "STATUS:CANCELLED" not in d.session().get(dave_url).text


def test_a_login_without_email_organizes_inside_the_server_only(
        server: Server, people: People, database_url: str, sql: psycopg.Connection) -> None:
    """Its address is its principal URL: logins of the server get the
    invitation, the guest gets none (5.1), as the README says."""
    from backside_caldav.db import accounts
    from backside_caldav.db import engines as engines_
    name = f"noemail{uuid.uuid4().hex[:8]}"
    tenant = accounts.add_account(engines_.get_engine(database_url), name,
                                  f"noemail-{name}", "correct horse staple")
    calendar = sql.execute("SELECT href FROM calendars WHERE tenant_id = %s",
                          (tenant,)).fetchone()[0]
    uid = f"meet-{uuid.uuid4()}"
    text = (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
            "DTSTAMP:20270101T000000Z\r\nDTSTART:20270601T100000Z\r\nDTEND:20270601T110000Z\r\n"
            f"SUMMARY:Path organizer\r\nORGANIZER:{server.url}{name}/\r\n"
            f"ATTENDEE;PARTSTAT=NEEDS-ACTION:{people.dave.address}\r\n"
            f"ATTENDEE;PARTSTAT=NEEDS-ACTION:{people.outsider}\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")
    s = __import__("requests").Session()
    s.auth = (name, "correct horse staple")
    r = s.put(f"{server.url}{name}/{calendar}/{uid}.ics", data=text.encode(), headers=ICS)
    assert r.status_code == 201, r.text
    stored = s.get(f"{server.url}{name}/{calendar}/{uid}.ics").text
    assert "SCHEDULE-STATUS=1.2" in attendee_line(stored, people.dave.address)
    assert "SCHEDULE-STATUS=5.1" in attendee_line(stored, people.outsider)
    assert _inbox(sql, people.dave.tenant_id, people.dave.username, uid) == ["REQUEST"]
    assert _mail(sql, tenant, uid) == []


def test_a_colleague_moving_the_meeting_acts_for_the_organizer(
        server: Server, people: People, sql: psycopg.Connection) -> None:
    """Bob shares Alice's tenant, so Alice's object is the one he edits: his
    change of the time reaches Dave as an update from Alice."""
    uid = f"meet-{uuid.uuid4()}"
    url = _organize(server, people, uid)
    bob = people.bob.session()
    bob_url = url.replace(f"/{people.alice.username}/", f"/{people.bob.username}/")
    current = bob.get(bob_url)
    moved = current.text.replace("20270310T100000Z", "20270312T100000Z").replace(
        "20270310T110000Z", "20270312T110000Z")
    r = bob.put(bob_url, data=moved.encode(),
                headers={**ICS, "If-Match": current.headers["ETag"]})
    assert r.status_code == 204, r.text
    d = people.dave
    assert _inbox(sql, d.tenant_id, d.username, uid) == ["REQUEST", "REQUEST"]
    calendar, href = _copy(sql, d.tenant_id, uid)
    assert "20270312T100000Z" in d.session().get(f"{server.url}{d.username}/{calendar}/{href}").text


def test_an_unchanged_put_keeps_the_clients_bytes(server: Server, people: People,
                                                  sql: psycopg.Connection) -> None:
    """A PUT that sends nothing stores the client's text as sent and answers its ETag."""
    uid = f"meet-{uuid.uuid4()}"
    url = _organize(server, people, uid)
    alice = people.alice.session()
    current = alice.get(url)
    text = current.text.replace("\r\n", "\n")  # the same object, other line ends
    r = alice.put(url, data=text.encode(), headers={**ICS, "If-Match": current.headers["ETag"]})
    assert r.status_code == 204 and r.headers.get("ETag"), r.headers
    assert alice.get(url).text == text


def test_an_attendee_address_that_is_not_one_mailbox_is_not_mailed(
        server: Server, people: People, sql: psycopg.Connection) -> None:
    """Two recipients in one address, or a line break that would start a mail
    header: 3.7 on the organizer's copy, nothing queued for it."""
    uid = f"meet-{uuid.uuid4()}"
    hostile = ["mailto:a@outside.example,b@outside.example",
               "mailto:c@outside.example%0D%0ABcc:%20victim@outside.example",
               "mailto:Eve <eve@outside.example>"]
    extra = "".join(f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:{a}\r\n" for a in hostile)
    url = f"{server.url}{people.alice.username}/{people.alice.calendar}/{uid}.ics"
    alice = people.alice.session()
    r = alice.put(url, data=invitation(people, uid, extra_attendees=extra).encode(), headers=ICS)
    assert r.status_code == 201, r.text
    text = alice.get(url).text
    for address in hostile:
        assert "SCHEDULE-STATUS=3.7" in attendee_line(text, address)
    assert "SCHEDULE-STATUS=1.1" in attendee_line(text, people.outsider)
    assert _mail(sql, people.alice.tenant_id, uid) == [("REQUEST", people.outsider)]


def test_an_answer_for_an_invented_occurrence_adds_nothing(
        server: Server, people: People, sql: psycopg.Connection) -> None:
    """Dave adds to his copy of a weekly meeting an override at an instant the
    rule does not make, declined, and one for a real occurrence: the
    organizer's object gets the real answer only, no extra instance."""
    uid = f"meet-{uuid.uuid4()}"
    url = f"{server.url}{people.alice.username}/{people.alice.calendar}/{uid}.ics"
    alice = people.alice.session()
    weekly = invitation(people, uid).replace("SEQUENCE:0\r\n",
                                             "SEQUENCE:0\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\n")
    assert alice.put(url, data=weekly.encode(), headers=ICS).status_code == 201
    d = people.dave
    calendar, href = _copy(sql, d.tenant_id, uid)
    dave_url = f"{server.url}{d.username}/{calendar}/{href}"
    dave = d.session()
    copy = dave.get(dave_url).text
    master = copy[copy.index("BEGIN:VEVENT"):copy.index("END:VEVENT") + len("END:VEVENT\r\n")]

    def override(when: str) -> str:
        body = master.replace("RRULE:FREQ=WEEKLY;COUNT=4\r\n", "")
        body = re.sub(r"DTSTART[^\r\n]*", f"RECURRENCE-ID:{when}\r\nDTSTART:{when}", body, count=1)
        body = re.sub(r"DTEND[^\r\n]*", f"DTEND:{when[:9]}235900Z", body, count=1)
        return set_partstat(body, d.address, "DECLINED")

    answered = copy.replace("END:VCALENDAR", override("20270317T100000Z")     # real: week 2
                            + override("20270318T100000Z") + "END:VCALENDAR")  # invented
    r = dave.put(dave_url, data=answered.encode(), headers=ICS)
    assert r.status_code == 204, r.text
    text = alice.get(url).text
    assert "RECURRENCE-ID:20270317T100000Z" in text.replace("\r\n ", "")
    assert "20270318T100000Z" not in text.replace("\r\n ", "")
    assert text.count("BEGIN:VEVENT") == 2


def test_a_colleagues_own_answer_survives_if_schedule_tag_match(
        server: Server, people: People) -> None:
    """Apple Calendar answers with If-Schedule-Tag-Match. Bob shares Alice's
    tenant, so his PUT acts for the organizer and keeps the answers the
    server holds, but not over his own new answer, nor Alice's over hers."""
    uid = f"meet-{uuid.uuid4()}"
    url = _organize(server, people, uid)
    bob = people.bob.session()
    bob_url = url.replace(f"/{people.alice.username}/", f"/{people.bob.username}/")
    for session, target, who, answer in ((bob, bob_url, people.bob, "ACCEPTED"),
                                         (people.alice.session(), url, people.alice,
                                          "TENTATIVE")):
        got = session.get(target)
        r = session.put(target, data=set_partstat(got.text, who.address, answer).encode(),
                        headers={**ICS, "If-Match": got.headers["ETag"],
                                 "If-Schedule-Tag-Match": got.headers["Schedule-Tag"]})
        assert r.status_code == 204, r.text
        assert f"PARTSTAT={answer}" in attendee_line(session.get(target).text, who.address)
    text = people.alice.session().get(url).text
    assert "PARTSTAT=ACCEPTED" in attendee_line(text, people.bob.address)


def test_a_re_serialized_put_sends_nothing(server: Server, people: People,
                                           sql: psycopg.Connection) -> None:
    """A client that writes the same meeting back with a quoted CN and its
    lines in another order: no second REQUEST, the Schedule-Tag stays."""
    uid = f"meet-{uuid.uuid4()}"
    url = _organize(server, people, uid)
    alice = people.alice.session()
    got = alice.get(url)
    lines = got.text.replace("\r\n ", "").split("\r\n")
    first, end = lines.index("BEGIN:VEVENT"), lines.index("END:VEVENT")
    body = [x.replace("ORGANIZER;CN=Alice", 'ORGANIZER;CN="Alice"')
            for x in reversed(lines[first + 1:end])]
    again = "\r\n".join([*lines[:first + 1], *body, *lines[end:]])
    r = alice.put(url, data=again.encode(), headers={**ICS, "If-Match": got.headers["ETag"]})
    assert r.status_code == 204, r.text
    assert r.headers["Schedule-Tag"] == got.headers["Schedule-Tag"]
    assert _mail(sql, people.alice.tenant_id, uid) == [("REQUEST", people.outsider)]
