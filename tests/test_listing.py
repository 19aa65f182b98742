"""PROPFIND Depth 1 of a calendar's etags, streamed by dav/listing.py.

The streamed answer must say what Radicale's own answer says (the reference
is the same request plus getlastmodified, which only Radicale answers), be
refused where Radicale refuses, and give the request's transaction back.
"""

from __future__ import annotations

import uuid
from xml.etree import ElementTree

import requests

ICS = {"Content-Type": "text/calendar"}
XML = {"Content-Type": "application/xml"}
PROPS = ("d:getetag", "d:resourcetype", "d:getcontenttype")


def propfind_body(*props: str) -> str:
    inner = "".join(f"<{p}/>" for p in props)
    return (f'<?xml version="1.0"?><d:propfind xmlns:d="DAV:" '
            f'xmlns:cs="http://calendarserver.org/ns/"><d:prop>{inner}</d:prop></d:propfind>')


def event(uid: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T090000Z\r\n"
            "DTEND:20260105T100000Z\r\nSUMMARY:Listed\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def todo(uid: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VTODO\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Task\r\nEND:VTODO\r\n"
            "END:VCALENDAR\r\n")


def propfind(http: requests.Session, url: str, *props: str, depth: str = "1",
             headers: dict[str, str] | None = None) -> requests.Response:
    return http.request("PROPFIND", url, data=propfind_body(*props),
                        headers={**XML, "Depth": depth, **(headers or {})})


def responses(body: bytes) -> dict[str, dict[str, str | None]]:
    """href -> {property tag: text} of the 200 propstats, from an answer."""
    found: dict[str, dict[str, str | None]] = {}
    for response in ElementTree.fromstring(body).iter("{DAV:}response"):
        values: dict[str, str | None] = {}
        for propstat in response.iter("{DAV:}propstat"):
            if "200" in (propstat.findtext("{DAV:}status") or ""):
                for prop in propstat.find("{DAV:}prop"):
                    values[prop.tag] = prop.text if len(prop) == 0 else \
                        "".join(child.tag for child in prop)
        href = response.findtext("{DAV:}href")
        assert href not in found, f"{href} listed twice"
        found[href] = values
    return found


def without(answer: dict[str, dict[str, str | None]], tag: str) -> dict[str, dict]:
    return {h: {k: v for k, v in props.items() if k != tag} for h, props in answer.items()}


def fill(http: requests.Session, url: str) -> None:
    for href, body in (("a.ics", event("a")), ("b c@d+e.ics", event("b")), ("t.ics", todo("t"))):
        assert http.put(url + href, data=body, headers=ICS).status_code == 201


def test_the_streamed_listing_says_what_radicale_says(http, cal) -> None:
    url, _ = cal
    fill(http, url)
    streamed = propfind(http, url, *PROPS, headers={"Accept-Encoding": "identity"})
    reference = propfind(http, url, *PROPS, "d:getlastmodified",
                         headers={"Accept-Encoding": "identity"})
    assert streamed.status_code == reference.status_code == 207
    # Streamed (no length known in advance) versus Radicale's one string.
    assert "Content-Length" not in streamed.headers
    assert "Content-Length" in reference.headers
    ours = responses(streamed.content)
    theirs = without(responses(reference.content), "{DAV:}getlastmodified")
    assert ours == theirs
    members = {h: p for h, p in ours.items() if not h.endswith("/")}
    assert len(members) == 3
    todo_href = next(h for h in members if h.endswith("/t.ics"))
    assert members[todo_href]["{DAV:}getcontenttype"] == \
        "text/calendar;charset=utf-8;component=VTODO"
    quoted = next(h for h in members if "b" in h.rsplit("/", 1)[1])
    assert quoted.endswith("/b%20c%40d%2Be.ics")
    for href, props in members.items():
        got = http.get(requests.compat.urljoin(url, href))
        assert got.status_code == 200 and props["{DAV:}getetag"] == got.headers["ETag"]


def test_the_listing_is_gzipped_for_clients_that_accept_it(http, cal) -> None:
    url, _ = cal
    fill(http, url)
    plain = propfind(http, url, "d:getetag", headers={"Accept-Encoding": "identity"})
    packed = propfind(http, url, "d:getetag", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in plain.headers
    assert packed.headers["Content-Encoding"] == "gzip"
    assert packed.content == plain.content  # requests decompressed it


def test_an_empty_calendar_lists_only_itself(http, cal) -> None:
    url, _ = cal
    answer = responses(propfind(http, url, *PROPS).content)
    assert list(answer) == [requests.utils.urlparse(url).path]


def insert_rows(sql, tenant_id: str, cal_id: str, count: int) -> dict[str, str]:
    """count events written by another application (plain SQL): href -> ETag."""
    with sql.cursor() as cur:
        cur.executemany(
            "INSERT INTO events (tenant_id, calendar_id, title, start_time, end_time, timezone) "
            "VALUES (%s, %s, %s, '2030-01-01 20:00Z', '2030-01-01 21:00Z', 'UTC')",
            [(tenant_id, cal_id, f"row {i} " + "x" * 40) for i in range(count)])
    return {h: f'"{r}"' for h, r in sql.execute(
        "SELECT href, revision FROM events WHERE calendar_id = %s", (cal_id,)).fetchall()}


def test_many_members_arrive_in_several_chunks_each_once(http, cal, account, sql) -> None:
    url, cal_id = cal
    expected = insert_rows(sql, account.tenant_id, cal_id, 1500)
    r = propfind(http, url, "d:getetag", "d:resourcetype")
    answer = responses(r.content)
    members = {h.rsplit("/", 1)[1]: p["{DAV:}getetag"] for h, p in answer.items()
               if not h.endswith("/")}
    assert len(r.content) > 2 * 64 * 1024  # more than one chunk
    assert members == expected


def test_a_listing_gives_its_transaction_back(http, cal, account, sql) -> None:
    url, _ = cal
    fill(http, url)
    for _ in range(20):  # more than the pool holds (8 + 8)
        assert propfind(http, url, "d:getetag").status_code == 207
    assert http.put(url + "after.ics", data=event("after"), headers=ICS).status_code == 201
    open_transactions = sql.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%%' "
        "AND query LIKE '%%calendar_objects%%'").fetchone()[0]
    assert open_transactions == 0


def test_another_users_calendar_is_refused_without_a_listing(http, server, cal, database_url
                                                             ) -> None:
    from conftest import make_account
    url, _ = cal
    fill(http, url)
    other = make_account(database_url)
    with requests.Session() as intruder:
        intruder.auth = (other.username, other.password)
        r = propfind(intruder, url, *PROPS)
    assert r.status_code == 403 and b"a.ics" not in r.content
    anonymous = requests.request("PROPFIND", url, data=propfind_body("d:getetag"),
                                 headers={**XML, "Depth": "1"})
    assert anonymous.status_code == 401 and b"a.ics" not in anonymous.content


def test_a_calendar_that_does_not_exist_is_404(http, server, account) -> None:
    r = propfind(http, f"{server.url}{account.username}/nothing-{uuid.uuid4().hex[:6]}/",
                 *PROPS)
    assert r.status_code == 404


def test_requests_it_does_not_stream_still_get_radicales_answer(http, cal) -> None:
    url, _ = cal
    fill(http, url)
    for props in (("d:getetag", "d:displayname"), ("cs:getctag",)):
        r = propfind(http, url, *props)
        assert r.status_code == 207 and "Content-Length" in r.headers
        assert len(responses(r.content)) == 4
    allprop = http.request("PROPFIND", url, headers={"Depth": "1"})
    assert allprop.status_code == 207 and len(responses(allprop.content)) == 4
    broken = http.request("PROPFIND", url, data=b"<d:propfind xmlns:d='DAV:'><d:prop>",
                          headers={**XML, "Depth": "1"})
    assert broken.status_code == 400


def sync_body(token: str = "", *props: str, extra: str = "") -> str:
    inner = "".join(f"<{p}/>" for p in props)
    return ('<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:">'
            f"<d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level>{extra}"
            f"<d:prop>{inner}</d:prop></d:sync-collection>")


def sync(http: requests.Session, url: str, body: str,
         headers: dict[str, str] | None = None) -> requests.Response:
    return http.request("REPORT", url, data=body,
                        headers={**XML, "Depth": "1", **(headers or {})})


def token_of(body: bytes) -> str | None:
    return ElementTree.fromstring(body).findtext("{DAV:}sync-token")


def test_a_first_sync_is_streamed_and_says_what_radicale_says(http, cal) -> None:
    url, _ = cal
    fill(http, url)
    streamed = sync(http, url, sync_body("", "d:getetag", "d:getcontenttype"))
    reference = sync(http, url, sync_body("", "d:getetag", "d:getcontenttype",
                                          "d:getlastmodified"))
    assert streamed.status_code == reference.status_code == 207
    assert "Content-Length" not in streamed.headers and "Content-Length" in reference.headers
    assert token_of(streamed.content) == token_of(reference.content) is not None
    assert responses(streamed.content) == responses(reference.content)
    assert len(responses(streamed.content)) == 3
    # The token it gave is a real one: nothing changed since, then one edit.
    token = token_of(streamed.content)
    assert responses(sync(http, url, sync_body(token, "d:getetag")).content) == {}
    edited = event("a").replace("Listed", "Edited")
    assert http.put(url + "a.ics", data=edited, headers=ICS).status_code == 204
    changed = responses(sync(http, url, sync_body(token, "d:getetag")).content)
    assert [h.rsplit("/", 1)[1] for h in changed] == ["a.ics"]


def test_sync_requests_it_does_not_stream_get_radicales_answer(http, cal) -> None:
    url, _ = cal
    fill(http, url)
    token = token_of(sync(http, url, sync_body("", "d:getetag")).content)
    for body in (sync_body(token, "d:getetag"),
                 sync_body("", "d:getetag", extra="<d:limit><d:nresults>1</d:nresults></d:limit>"),
                 sync_body("", "d:getetag", "d:resourcetype")):
        r = sync(http, url, body)
        assert "Content-Length" in r.headers, body
    bad = sync(http, url, sync_body("http://example.com/not-ours", "d:getetag"))
    assert bad.status_code == 403 and b"valid-sync-token" in bad.content


def test_a_first_sync_of_another_users_calendar_is_refused(http, cal, database_url) -> None:
    from conftest import make_account
    url, _ = cal
    fill(http, url)
    other = make_account(database_url)
    with requests.Session() as intruder:
        intruder.auth = (other.username, other.password)
        r = sync(intruder, url, sync_body("", "d:getetag"))
    assert r.status_code == 403 and b"a.ics" not in r.content
    missing = sync(http, url.rstrip("/") + "-gone/", sync_body("", "d:getetag"))
    assert missing.status_code == 404
