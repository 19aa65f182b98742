"""Two writers, one truth: a CalDAV client syncing while "another application"
writes the tables with plain SQL (psycopg, knowing nothing of this project)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import datetime, timezone
from xml.etree import ElementTree as ET

import icalendar
import requests
from conftest import ROOT

UTC = timezone.utc
NS = {"d": "DAV:", "c": "urn:ietf:params:xml:ns:caldav"}


class Syncer:
    """A minimal RFC 6578 client, like the phone's background sync."""

    def __init__(self, http: requests.Session, url: str) -> None:
        self.http = http
        self.url = url
        self.token = ""

    def sync(self) -> dict[str, int]:
        """Href -> status (200 changed, 404 deleted) since the last token."""
        body = ('<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:">'
                f'<d:sync-token>{self.token}</d:sync-token><d:sync-level>1</d:sync-level>'
                '<d:prop><d:getetag/></d:prop></d:sync-collection>')
        r = self.http.request("REPORT", self.url, data=body,
                              headers={"Content-Type": "application/xml"})
        assert r.status_code == 207, r.text
        root = ET.fromstring(r.content)
        self.token = root.findtext("d:sync-token", namespaces=NS)
        out = {}
        for resp in root.findall("d:response", NS):
            href = resp.findtext("d:href", namespaces=NS).rsplit("/", 1)[1]
            status = resp.findtext("d:status", namespaces=NS) or resp.findtext(
                "d:propstat/d:status", namespaces=NS)
            out[href] = int(status.split()[1])
        return out


def ics(uid: str, summary: str = "Meeting", extra: str = "") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T090000Z\r\n"
            f"DTEND:20260105T100000Z\r\nSUMMARY:{summary}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n")


def put(http, url: str, body: str, **headers: str) -> requests.Response:
    return http.put(url, data=body, headers={"Content-Type": "text/calendar", **headers})


def test_calendar_inserted_with_sql_appears_in_home(http, server, account, cal) -> None:
    url, _ = cal
    r = http.request("PROPFIND", f"{server.url}{account.username}/", headers={"Depth": "1"})
    assert url.replace(server.url, "/") in r.text


def test_sql_update_reaches_the_next_sync_and_get(http, account, sql, cal) -> None:
    url, cal_id = cal
    etag = put(http, url + "a.ics", ics("tw-a")).headers["ETag"]
    put(http, url + "b.ics", ics("tw-b"))
    syncer = Syncer(http, url)
    assert set(syncer.sync()) == {"a.ics", "b.ics"}
    sql.execute("UPDATE events SET title = 'From the API', location = 'Room 9' "
                "WHERE tenant_id = %s AND calendar_id = %s AND uid = 'tw-a'",
                (account.tenant_id, cal_id))
    assert syncer.sync() == {"a.ics": 200}
    got = http.get(url + "a.ics")
    assert got.headers["ETag"] != etag
    vevent = icalendar.Calendar.from_ical(got.content).walk("VEVENT")[0]
    assert (str(vevent["SUMMARY"]), str(vevent["LOCATION"])) == ("From the API", "Room 9")


def test_update_that_changes_nothing_changes_nothing(http, account, sql, cal) -> None:
    url, cal_id = cal
    etag = put(http, url + "a.ics", ics("tw-noop")).headers["ETag"]
    syncer = Syncer(http, url)
    syncer.sync()
    token = syncer.token
    sql.execute("UPDATE events SET title = title WHERE tenant_id = %s AND calendar_id = %s",
                (account.tenant_id, cal_id))
    sql.execute("UPDATE event_attendees SET rsvp_status = rsvp_status WHERE tenant_id = %s",
                (account.tenant_id,))
    assert syncer.sync() == {}
    assert syncer.token == token
    assert http.get(url + "a.ics").headers["ETag"] == etag


def test_attendee_rows_show_up_as_attendee_lines(http, account, sql, cal) -> None:
    url, cal_id = cal
    extra = ("X-KEEP:me\r\nATTENDEE;CN=Ann;PARTSTAT=NEEDS-ACTION;X-CUSTOM=1:mailto:ann@example.com\r\n"
             "ATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@example.com\r\n")
    put(http, url + "att.ics", ics("tw-att", extra=extra))
    syncer = Syncer(http, url)
    syncer.sync()
    event_id = sql.execute("SELECT id FROM events WHERE tenant_id = %s AND uid = 'tw-att'",
                           (account.tenant_id,)).fetchone()[0]
    sql.execute("UPDATE event_attendees SET rsvp_status = 'accepted' WHERE tenant_id = %s "
                "AND event_id = %s AND email = 'ann@example.com'", (account.tenant_id, event_id))
    sql.execute("DELETE FROM event_attendees WHERE tenant_id = %s AND event_id = %s "
                "AND email = 'bob@example.com'", (account.tenant_id, event_id))
    sql.execute("INSERT INTO event_attendees (tenant_id, event_id, email, name, rsvp_status) "
                "VALUES (%s, %s, 'cy@example.com', 'Cy', 'tentative')", (account.tenant_id, event_id))
    assert syncer.sync() == {"att.ics": 200}
    vevent = icalendar.Calendar.from_ical(http.get(url + "att.ics").content).walk("VEVENT")[0]
    attendees = {str(a): a.params for a in vevent["ATTENDEE"]}
    assert set(attendees) == {"mailto:ann@example.com", "mailto:cy@example.com"}
    assert attendees["mailto:ann@example.com"]["PARTSTAT"] == "ACCEPTED"
    assert attendees["mailto:ann@example.com"]["X-CUSTOM"] == "1"  # unmapped parameter kept
    assert attendees["mailto:cy@example.com"]["PARTSTAT"] == "TENTATIVE"
    assert attendees["mailto:cy@example.com"]["CN"] == "Cy"
    assert str(vevent["X-KEEP"]) == "me"


def test_event_born_in_sql_is_served_as_valid_icalendar(http, account, sql, cal) -> None:
    url, cal_id = cal
    syncer = Syncer(http, url)
    syncer.sync()
    event_id = sql.execute(
        "INSERT INTO events (tenant_id, calendar_id, title, start_time, end_time, timezone, rrule, "
        "status) VALUES (%s, %s, 'Planning', '2026-03-02 08:00Z', '2026-03-02 09:00Z', "
        "'Europe/Berlin', 'FREQ=WEEKLY;BYDAY=MO', 'confirmed') RETURNING id::text",
        (account.tenant_id, cal_id)).fetchone()[0]
    sql.execute("INSERT INTO event_attendees (tenant_id, event_id, email, rsvp_status) "
                "VALUES (%s, %s, 'ann@example.com', 'declined')", (account.tenant_id, event_id))
    day_id = sql.execute(
        "INSERT INTO events (tenant_id, calendar_id, title, start_time, end_time, timezone, "
        "is_all_day) VALUES (%s, %s, 'Offsite', '2026-06-30 22:00Z', '2026-07-01 22:00Z', "
        "'Europe/Berlin', true) RETURNING id::text", (account.tenant_id, cal_id)).fetchone()[0]
    changed = syncer.sync()
    assert changed == {f"{event_id}.ics": 200, f"{day_id}.ics": 200}
    cal_obj = icalendar.Calendar.from_ical(http.get(url + f"{event_id}.ics").content)
    vevent = cal_obj.walk("VEVENT")[0]
    assert str(vevent["UID"]) == event_id
    assert vevent["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert vevent["DTSTART"].dt.replace(tzinfo=None) == datetime(2026, 3, 2, 9, 0)
    assert [str(t["TZID"]) for t in cal_obj.walk("VTIMEZONE")] == ["Europe/Berlin"]
    assert vevent["RRULE"].to_ical() == b"FREQ=WEEKLY;BYDAY=MO"
    assert vevent["STATUS"] == "CONFIRMED"
    assert vevent["ATTENDEE"].params["PARTSTAT"] == "DECLINED"
    day = icalendar.Calendar.from_ical(http.get(url + f"{day_id}.ics").content).walk("VEVENT")[0]
    assert str(day["DTSTART"].to_ical().decode()) == "20260701"
    assert day["DTSTART"].params.get("VALUE", "DATE") == "DATE"
    # The href is stable: the row kept it.
    assert sql.execute("SELECT href FROM events WHERE id = %s", (event_id,)).fetchone() == (
        f"{event_id}.ics",)


def test_deletes_and_the_trash(http, account, sql, cal) -> None:
    url, cal_id = cal
    put(http, url + "gone.ics", ics("tw-gone"))
    put(http, url + "trash.ics", ics("tw-trash"))
    syncer = Syncer(http, url)
    syncer.sync()
    sql.execute("DELETE FROM events WHERE tenant_id = %s AND uid = 'tw-gone'", (account.tenant_id,))
    assert syncer.sync() == {"gone.ics": 404}
    etag = http.get(url + "trash.ics").headers["ETag"]
    assert http.delete(url + "trash.ics").status_code in (200, 204)
    assert syncer.sync() == {"trash.ics": 404}
    assert http.get(url + "trash.ics").status_code == 404
    # Restore from the trash with SQL: back on every client, with a new ETag.
    sql.execute("UPDATE events SET deleted_at = NULL WHERE tenant_id = %s AND uid = 'tw-trash'",
                (account.tenant_id,))
    assert syncer.sync() == {"trash.ics": 200}
    restored = http.get(url + "trash.ics")
    assert restored.status_code == 200 and restored.headers["ETag"] != etag


def test_moving_an_event_with_sql_is_delete_here_add_there(http, server, account, sql, cal) -> None:
    url, cal_id = cal
    other_href = "o" + uuid.uuid4().hex[:8]
    other_id = sql.execute("INSERT INTO calendars (tenant_id, name, href) VALUES (%s, 'O', %s) "
                           "RETURNING id::text", (account.tenant_id, other_href)).fetchone()[0]
    other_url = f"{server.url}{account.username}/{other_href}/"
    put(http, url + "m.ics", ics("tw-move"))
    here, there = Syncer(http, url), Syncer(http, other_url)
    here.sync()
    there.sync()
    sql.execute("UPDATE events SET calendar_id = %s WHERE tenant_id = %s AND uid = 'tw-move'",
                (other_id, account.tenant_id))
    assert here.sync() == {"m.ics": 404}
    assert there.sync() == {"m.ics": 200}


def test_if_match_after_sql_update_is_412_and_nothing_is_lost(http, account, sql, cal) -> None:
    url, cal_id = cal
    etag = put(http, url + "c.ics", ics("tw-conf")).headers["ETag"]
    sql.execute("UPDATE events SET location = 'Set by the API' WHERE tenant_id = %s "
                "AND uid = 'tw-conf'", (account.tenant_id,))
    r = put(http, url + "c.ics", ics("tw-conf", "Client edit"), **{"If-Match": etag})
    assert r.status_code == 412
    vevent = icalendar.Calendar.from_ical(http.get(url + "c.ics").content).walk("VEVENT")[0]
    assert str(vevent["LOCATION"]) == "Set by the API" and str(vevent["SUMMARY"]) == "Meeting"


def test_old_token_after_pruning_is_403_then_full_resync(http, server, account, sql, cal,
                                                          database_url) -> None:
    url, cal_id = cal
    put(http, url + "p.ics", ics("tw-prune"))
    syncer = Syncer(http, url)
    syncer.sync()
    old_token = syncer.token
    put(http, url + "q.ics", ics("tw-prune-2"))
    sql.execute("UPDATE calendar_changes SET changed_at = now() - interval '90 days' "
                "WHERE tenant_id = %s AND calendar_id = %s", (account.tenant_id, cal_id))
    result = subprocess.run([sys.executable, "-m", "backside_caldav", "maintain"], cwd=ROOT,
                            env={"BACKSIDE_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    body = ('<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:">'
            f'<d:sync-token>{old_token}</d:sync-token><d:sync-level>1</d:sync-level>'
            '<d:prop><d:getetag/></d:prop></d:sync-collection>')
    r = http.request("REPORT", url, data=body, headers={"Content-Type": "application/xml"})
    assert r.status_code == 403 and "valid-sync-token" in r.text
    fresh = Syncer(http, url)
    assert set(fresh.sync()) == {"p.ics", "q.ics"}


def test_purge_removes_old_trash_only(http, account, sql, cal, database_url) -> None:
    url, _ = cal
    put(http, url + "old.ics", ics("tw-old"))
    put(http, url + "new.ics", ics("tw-new"))
    http.delete(url + "old.ics")
    http.delete(url + "new.ics")
    sql.execute("UPDATE events SET deleted_at = now() - interval '40 days' WHERE tenant_id = %s "
                "AND uid = 'tw-old'", (account.tenant_id,))
    result = subprocess.run([sys.executable, "-m", "backside_caldav", "maintain",
                             "--trash-days", "30"], cwd=ROOT,
                            env={"BACKSIDE_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    uids = [r[0] for r in sql.execute("SELECT uid FROM events WHERE tenant_id = %s AND uid LIKE "
                                      "'tw-%%' ORDER BY uid", (account.tenant_id,))]
    assert "tw-old" not in uids and "tw-new" in uids


def test_thousand_rows_from_one_statement_reach_initial_sync(http, account, sql, cal) -> None:
    url, cal_id = cal
    sql.execute(
        "INSERT INTO events (tenant_id, calendar_id, title, start_time, end_time, timezone) "
        "SELECT %s, %s, 'Bulk ' || g, timestamptz '2026-01-01 09:00Z' + g * interval '1 hour', "
        "timestamptz '2026-01-01 10:00Z' + g * interval '1 hour', 'America/New_York' "
        "FROM generate_series(1, 1000) g", (account.tenant_id, cal_id))
    hrefs = list(Syncer(http, url).sync())
    assert len(hrefs) == 1000
    for start in range(0, 1000, 250):
        batch = hrefs[start:start + 250]
        body = ('<?xml version="1.0"?><c:calendar-multiget xmlns:d="DAV:" '
                'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/>'
                '</d:prop>' + "".join(f"<d:href>{url}{h}</d:href>" for h in batch)
                + "</c:calendar-multiget>")
        r = http.request("REPORT", url, data=body, headers={"Content-Type": "application/xml"})
        assert r.status_code == 207
        datas = [e.text for e in ET.fromstring(r.content).iter("{urn:ietf:params:xml:ns:caldav}"
                                                               "calendar-data")]
        assert len(datas) == len(batch)
        for data in datas:
            vevent = icalendar.Calendar.from_ical(data).walk("VEVENT")[0]
            assert str(vevent["SUMMARY"]).startswith("Bulk ")
            assert vevent["DTSTART"].params["TZID"] == "America/New_York"


def test_link_rows_change_the_etag(http, account, sql, cal) -> None:
    url, _ = cal
    etag = put(http, url + "l.ics", ics("tw-link")).headers["ETag"]
    syncer = Syncer(http, url)
    syncer.sync()
    sql.execute("INSERT INTO event_links (tenant_id, event_id, entity_type, entity_id) "
                "SELECT tenant_id, id, 'deal', 'D-42' FROM events WHERE tenant_id = %s "
                "AND uid = 'tw-link'", (account.tenant_id,))
    assert syncer.sync() == {"l.ics": 200}
    assert http.get(url + "l.ics").headers["ETag"] != etag


def test_override_row_edited_with_sql_changes_its_series(http, account, sql, cal) -> None:
    url, _ = cal
    body = ics("tw-ovr", extra="RRULE:FREQ=DAILY;COUNT=3\r\n").replace(
        "END:VCALENDAR", "BEGIN:VEVENT\r\nUID:tw-ovr\r\nDTSTAMP:20260101T000000Z\r\n"
        "RECURRENCE-ID:20260106T090000Z\r\nDTSTART:20260106T110000Z\r\n"
        "DTEND:20260106T120000Z\r\nSUMMARY:Later\r\nEND:VEVENT\r\nEND:VCALENDAR")
    put(http, url + "o.ics", body).raise_for_status()
    syncer = Syncer(http, url)
    syncer.sync()
    sql.execute("UPDATE events SET title = 'Later still' WHERE tenant_id = %s AND uid = 'tw-ovr' "
                "AND series_id IS NOT NULL", (account.tenant_id,))
    assert syncer.sync() == {"o.ics": 200}
    comps = icalendar.Calendar.from_ical(http.get(url + "o.ics").content).walk("VEVENT")
    titles = {str(c.get("RECURRENCE-ID").to_ical().decode()) if c.get("RECURRENCE-ID") else None:
              str(c["SUMMARY"]) for c in comps}
    assert titles == {None: "Meeting", "20260106T090000Z": "Later still"}


def test_time_range_follows_sql_moves_and_finite_series_are_bounded(http, account, sql,
                                                                     cal) -> None:
    url, cal_id = cal
    put(http, url + "s.ics", ics("tw-span", extra="RRULE:FREQ=DAILY;COUNT=3\r\n"))
    start, end = sql.execute("SELECT range_start, range_end FROM events WHERE tenant_id = %s "
                             "AND uid = 'tw-span'", (account.tenant_id,)).fetchone()
    assert (start, end) == (datetime(2026, 1, 5, 9, tzinfo=UTC), datetime(2026, 1, 7, 10, tzinfo=UTC))
    # Another writer moves the series a year ahead: the span moves with it.
    sql.execute("UPDATE events SET start_time = start_time + interval '1 year', "
                "end_time = end_time + interval '1 year' WHERE tenant_id = %s AND uid = 'tw-span'",
                (account.tenant_id,))
    body = ('<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" '
            'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop><c:filter>'
            '<c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">'
            '<c:time-range start="{}" end="{}"/></c:comp-filter></c:comp-filter></c:filter>'
            '</c:calendar-query>')
    hits = http.request("REPORT", url, data=body.format("20270105T000000Z", "20270106T000000Z"),
                        headers={"Depth": "1", "Content-Type": "application/xml"})
    assert hits.status_code == 207 and "s.ics" in hits.text
    old = http.request("REPORT", url, data=body.format("20260105T000000Z", "20260106T000000Z"),
                       headers={"Depth": "1", "Content-Type": "application/xml"})
    assert old.status_code == 207 and "s.ics" not in old.text


def test_links_travel_both_ways_as_link_properties(http, account, sql, cal) -> None:
    url, _ = cal
    extra = ("LINK;VALUE=URI;LINKREL=related:urn:backside:contact:c%2F42\r\n"
             "LINK;VALUE=URI;LINKREL=alternate:https://example.com/elsewhere\r\n")
    put(http, url + "lk.ics", ics("tw-lk", extra=extra)).raise_for_status()
    rows = sql.execute("SELECT l.entity_type, l.entity_id FROM event_links l JOIN events e ON "
                       "e.tenant_id = l.tenant_id AND e.id = l.event_id WHERE e.tenant_id = %s "
                       "AND e.uid = 'tw-lk'", (account.tenant_id,)).fetchall()
    assert rows == [("contact", "c/42")]
    sql.execute("INSERT INTO event_links (tenant_id, event_id, entity_type, entity_id) "
                "SELECT tenant_id, id, 'deal', 'D 7' FROM events WHERE tenant_id = %s "
                "AND uid = 'tw-lk'", (account.tenant_id,))
    vevent = icalendar.Calendar.from_ical(http.get(url + "lk.ics").content).walk("VEVENT")[0]
    values = sorted(str(v) for v in vevent["LINK"])
    assert values == ["https://example.com/elsewhere", "urn:backside:contact:c%2F42",
                      "urn:backside:deal:D%207"]
