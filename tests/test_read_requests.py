"""Read requests (PROPFIND, REPORT, GET) run in the one transaction the login
check opens (request.Transaction). These tests hold the guarantees
that shortcut must keep: a wrong or changed password, no credentials, or
another tenant's path get nothing, and each request sees the rows as they
are when it starts."""

from __future__ import annotations

import requests
from conftest import make_account

EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
         "UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20300107T090000\r\n"
         "DURATION:PT1H\r\nRRULE:FREQ=WEEKLY\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\n"
         "END:VCALENDAR\r\n")
EXPAND = ('<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" '
          'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data>'
          '<c:expand start="20300101T000000Z" end="20300201T000000Z"/></c:calendar-data>'
          '</d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">'
          '<c:time-range start="20300101T000000Z" end="20300201T000000Z"/></c:comp-filter>'
          '</c:comp-filter></c:filter></c:calendar-query>')
MULTIGET = ('<?xml version="1.0"?><c:calendar-multiget xmlns:d="DAV:" '
            'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/>'
            '</d:prop><d:href>{href}</d:href></c:calendar-multiget>')
POLL = ('<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">'
        '<d:prop><cs:getctag/><d:sync-token/></d:prop></d:propfind>')


def _put(http: requests.Session, url: str, uid: str, summary: str) -> None:
    r = http.put(url + f"{uid}.ics", data=EVENT.format(uid=uid, summary=summary),
                 headers={"Content-Type": "text/calendar"})
    assert r.status_code in (201, 204), r.text


def _reads(url: str, path: str) -> dict[str, tuple[str, str, dict[str, str], str]]:
    return {
        "expand": ("REPORT", url, {"Depth": "1", "Content-Type": "application/xml"}, EXPAND),
        "multiget": ("REPORT", url, {"Depth": "1", "Content-Type": "application/xml"},
                     MULTIGET.format(href=path)),
        "poll": ("PROPFIND", url, {"Depth": "0", "Content-Type": "application/xml"}, POLL),
        "get": ("GET", url + "secret.ics", {}, ""),
    }


def test_reads_without_valid_credentials_are_refused(server, http, cal) -> None:
    url, _ = cal
    _put(http, url, "secret", "Secret meeting")
    path = requests.utils.urlparse(url).path + "secret.ics"
    user = http.auth[0]
    for name, (method, target, headers, body) in _reads(url, path).items():
        for auth in (None, (user, "wrong password!")):
            r = requests.request(method, target, data=body, headers=headers, auth=auth)
            assert r.status_code == 401, (name, auth, r.status_code)
            assert "Secret meeting" not in r.text


def test_other_tenant_reads_nothing(server, http, cal, database_url) -> None:
    url, _ = cal
    _put(http, url, "secret", "Secret meeting")
    path = requests.utils.urlparse(url).path + "secret.ics"
    other = make_account(database_url)
    for name, (method, target, headers, body) in _reads(url, path).items():
        r = requests.request(method, target, data=body, headers=headers,
                             auth=(other.username, other.password))
        assert r.status_code in (403, 404), (name, r.status_code)
        assert "Secret meeting" not in r.text and "Secret" not in r.text


def test_each_read_sees_rows_changed_in_between(server, http, cal, sql) -> None:
    url, cal_id = cal
    _put(http, url, "seen", "Before")
    headers = {"Depth": "1", "Content-Type": "application/xml"}
    first = http.request("REPORT", url, data=EXPAND, headers=headers)
    assert first.status_code == 207 and "Before" in first.text
    poll1 = http.request("PROPFIND", url, data=POLL, headers={"Depth": "0"})
    sql.execute("UPDATE events SET title = 'After' WHERE calendar_id = %s AND uid = 'seen' "
                "AND series_id IS NULL", (cal_id,))
    second = http.request("REPORT", url, data=EXPAND, headers=headers)
    assert second.status_code == 207 and "After" in second.text and "Before" not in second.text
    poll2 = http.request("PROPFIND", url, data=POLL, headers={"Depth": "0"})
    assert poll1.status_code == poll2.status_code == 207
    assert poll1.text != poll2.text  # getctag and sync-token moved on


def test_listing_loads_texts_only_when_asked(server, http, cal, sql) -> None:
    """PROPFIND Depth 1 lists etags without texts; getcontentlength still
    gets every item's real length (texts loaded in one go), also for a row
    another writer changed (its text rendered from the rows)."""
    import xml.etree.ElementTree as ET
    url, cal_id = cal
    for n in range(3):
        _put(http, url, f"len{n}", "x" * (10 + n))
    sql.execute("UPDATE events SET title = 'Changed by SQL' WHERE calendar_id = %s "
                "AND uid = 'len1' AND series_id IS NULL", (cal_id,))
    body = ('<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/>'
            '<d:getcontentlength/></d:prop></d:propfind>')
    r = http.request("PROPFIND", url, data=body, headers={"Depth": "1"})
    assert r.status_code == 207
    lengths: dict[str, tuple[str, int]] = {}
    for response in ET.fromstring(r.content).iter("{DAV:}response"):
        href = response.findtext("{DAV:}href", "")
        length = response.findtext(".//{DAV:}getcontentlength")
        if href.endswith(".ics"):
            lengths[href.rsplit("/", 1)[1]] = (response.findtext(".//{DAV:}getetag", ""),
                                               int(length or -1))
    assert sorted(lengths) == ["len0.ics", "len1.ics", "len2.ics"]
    for name, (etag, length) in lengths.items():
        got = http.get(url + name)
        assert got.status_code == 200
        assert got.headers["ETag"] == etag
        assert length == len(got.content), name
    assert "Changed by SQL" in http.get(url + "len1.ics").text
