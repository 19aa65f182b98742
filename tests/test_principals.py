"""Principals over real HTTP: what the server says about itself (the DAV
header, supported-report-set, a principal's properties) and principal search
(RFC 3744 principal-property-search and principal-search-property-set) within
the caller's tenant, never across tenants.

Two tenants, three logins: Alice and Bob share a tenant, Carol has her own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from xml.etree import ElementTree as ET

import psycopg
import pytest
import requests
from conftest import Server

from backside_caldav.db import accounts
from backside_caldav.db import engines as db

D, C, CS = "{DAV:}", "{urn:ietf:params:xml:ns:caldav}", "{http://calendarserver.org/ns/}"
CR = "{urn:ietf:params:xml:ns:carddav}"
XML = {"Content-Type": "application/xml; charset=utf-8"}


@dataclass
class Login:
    username: str
    password: str
    email: str | None
    tenant_id: str

    def session(self) -> requests.Session:
        s = requests.Session()
        s.auth = (self.username, self.password)
        return s


@dataclass
class People:
    alice: Login
    bob: Login
    carol: Login
    suffix: str


@pytest.fixture(scope="module")
def people(database_url: str) -> People:
    sfx = uuid.uuid4().hex[:8]
    engine = db.get_engine(database_url)

    def add(name: str, tenant: str, email: str | None) -> Login:
        username, password = f"{name}{sfx}", f"correct horse {sfx}"
        tenant_id = accounts.add_account(engine, username, tenant, password, email)
        return Login(username, password, email, tenant_id)

    alice = add("alice", f"acme-{sfx}", f"Alice.Smith{sfx}@acme.example")
    bob = add("bob", f"acme-{sfx}", f"bjones{sfx}@acme.example")
    carol = add("carol", f"other-{sfx}", f"carol.smith{sfx}@other.example")
    return People(alice, bob, carol, sfx)


def _multistatus(r: requests.Response) -> ET.Element:
    assert r.status_code == 207, (r.status_code, r.text)
    return ET.fromstring(r.content)


def _props(response: ET.Element, status: int = 200) -> dict[str, ET.Element]:
    found: dict[str, ET.Element] = {}
    for propstat in response.iter(f"{D}propstat"):
        if f" {status} " in propstat.findtext(f"{D}status", ""):
            for prop in propstat.find(f"{D}prop"):
                found[prop.tag] = prop
    return found


def _propfind(s: requests.Session, url: str, props: list[str] | None, depth: str = "0",
              body: str | None = None) -> ET.Element:
    if body is None:
        inner = "".join(f'<x:{p.split("}")[1]} xmlns:x="{p[1:].split("}")[0]}"/>'
                        for p in props or [])
        body = f'<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop>{inner}</d:prop></d:propfind>'
    return _multistatus(s.request("PROPFIND", url, data=body,
                                  headers={**XML, "Depth": depth}))


def _search(s: requests.Session, url: str, searches: list[tuple[str, str, str | None]],
            props: list[str], test: str | None = None, apply: bool = False,
            depth: str = "0") -> requests.Response:
    """A principal-property-search: (property, text, match-type) per property-search."""
    parts = []
    for prop, text, match_type in searches:
        ns, name = prop[1:].split("}")
        mt = f' match-type="{match_type}"' if match_type else ""
        parts.append(f'<d:property-search><d:prop><x:{name} xmlns:x="{ns}"/></d:prop>'
                     f"<d:match{mt}>{text}</d:match></d:property-search>")
    wanted = "".join(f'<x:{p.split("}")[1]} xmlns:x="{p[1:].split("}")[0]}"/>' for p in props)
    body = ('<?xml version="1.0" encoding="utf-8"?><d:principal-property-search xmlns:d="DAV:"'
            + (f' test="{test}"' if test else "") + ">" + "".join(parts)
            + f"<d:prop>{wanted}</d:prop>"
            + ("<d:apply-to-principal-collection-set/>" if apply else "")
            + "</d:principal-property-search>")
    return s.request("REPORT", url, data=body, headers={**XML, "Depth": depth})


def _hrefs(root: ET.Element) -> list[str]:
    return [r.findtext(f"{D}href") for r in root.findall(f"{D}response")]


def _dav_tokens(r: requests.Response) -> set[str]:
    return {t.strip() for t in r.headers.get("DAV", "").split(",") if t.strip()}


# --- what the server says about itself -------------------------------------------------

SERVED_TOKENS = {"1", "3", "calendar-access", "extended-mkcol", "calendar-auto-schedule"}


def test_dav_header_lists_only_what_is_served(server: Server, people: People) -> None:
    s = people.alice.session()
    options = s.options(server.url)
    assert options.status_code == 200
    assert _dav_tokens(options) == SERVED_TOKENS
    anonymous = requests.options(server.url + people.alice.username + "/calendar/")
    assert _dav_tokens(anonymous) == SERVED_TOKENS, anonymous.headers
    # Class 2 would promise LOCK; address books (CardDAV) are refused.
    assert s.request("LOCK", server.url + people.alice.username + "/calendar/").status_code == 405
    assert s.request("MKCOL", server.url + people.alice.username + "/book/", data=(
        '<d:mkcol xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:set><d:prop>'
        '<d:resourcetype><d:collection/><c:addressbook/></d:resourcetype></d:prop></d:set>'
        "</d:mkcol>"), headers=XML).status_code == 403
    propfind = s.request("PROPFIND", server.url + people.alice.username + "/",
                         headers={"Depth": "0"})
    assert propfind.status_code == 207
    assert _dav_tokens(propfind) == SERVED_TOKENS


PRINCIPAL_REPORTS = {f"{D}principal-property-search", f"{D}principal-search-property-set",
                     f"{D}expand-property"}
CALENDAR_REPORTS = {f"{D}sync-collection", f"{C}calendar-multiget", f"{C}calendar-query",
                    f"{C}free-busy-query"}


def _reports(response: ET.Element) -> set[str]:
    value = _props(response)[f"{D}supported-report-set"]
    return {report[0].tag for report in value.iter(f"{D}report")}


def test_supported_report_set_per_collection_kind(server: Server, people: People) -> None:
    s = people.alice.session()
    home = server.url + people.alice.username + "/"
    by_kind = {
        "root": _propfind(s, server.url, [f"{D}supported-report-set"]),
        "principal": _propfind(s, home, [f"{D}supported-report-set"]),
        "calendar": _propfind(s, home + "calendar/", [f"{D}supported-report-set"]),
    }
    answers = {kind: _reports(root.find(f"{D}response")) for kind, root in by_kind.items()}
    assert answers == {"root": PRINCIPAL_REPORTS - {f"{D}expand-property"},
                       "principal": PRINCIPAL_REPORTS, "calendar": CALENDAR_REPORTS}
    # Depth 1 on the home: the home and each calendar say the same as above.
    listing = _propfind(s, home, [f"{D}supported-report-set"], depth="1")
    for response in listing.findall(f"{D}response"):
        expected = PRINCIPAL_REPORTS if response.findtext(f"{D}href").rstrip("/").endswith(
            people.alice.username) else CALENDAR_REPORTS
        assert _reports(response) == expected


EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:rep-1\r\n"
         "DTSTAMP:20260101T000000Z\r\nDTSTART:20300107T090000Z\r\nDURATION:PT1H\r\n"
         "SUMMARY:Report probe\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
RANGE = '<c:time-range start="20300101T000000Z" end="20300201T000000Z"/>'
SANE = {
    f"{D}sync-collection": ('<d:sync-collection xmlns:d="DAV:"><d:sync-token/>'
                            "<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop>"
                            "</d:sync-collection>"),
    f"{C}calendar-multiget": ('<c:calendar-multiget xmlns:d="DAV:" '
                              'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/>'
                              "</d:prop><d:href>{path}rep-1.ics</d:href></c:calendar-multiget>"),
    f"{C}calendar-query": ('<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
                           '<d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR">'
                           f'<c:comp-filter name="VEVENT">{RANGE}</c:comp-filter></c:comp-filter>'
                           "</c:filter></c:calendar-query>"),
    f"{C}free-busy-query": ('<c:free-busy-query xmlns:c="urn:ietf:params:xml:ns:caldav">'
                            f"{RANGE}</c:free-busy-query>"),
    f"{D}principal-search-property-set": '<d:principal-search-property-set xmlns:d="DAV:"/>',
    f"{D}principal-property-search": (
        '<d:principal-property-search xmlns:d="DAV:"><d:property-search><d:prop>'
        "<d:displayname/></d:prop><d:match>{user}</d:match></d:property-search>"
        "<d:prop><d:displayname/></d:prop><d:apply-to-principal-collection-set/>"
        "</d:principal-property-search>"),
    f"{D}expand-property": ('<d:expand-property xmlns:d="DAV:"><d:property name="principal-URL">'
                            '<d:property name="displayname"/></d:property></d:expand-property>'),
}


def test_every_advertised_report_answers(server: Server, people: People) -> None:
    s = people.alice.session()
    home = server.url + people.alice.username + "/"
    r = s.put(home + "calendar/rep-1.ics", data=EVENT, headers={"Content-Type": "text/calendar"})
    assert r.status_code in (201, 204), r.text
    path = requests.utils.urlparse(home + "calendar/").path
    # A calendar object answers no report of its own (its calendar does).
    assert _reports(_propfind(s, home + "calendar/rep-1.ics", [f"{D}supported-report-set"]).find(
        f"{D}response")) == set()
    for url in (server.url, home, home + "calendar/"):
        for report in _reports(_propfind(s, url, [f"{D}supported-report-set"]).find(
                f"{D}response")):
            body = SANE[report].replace("{path}", path).replace("{user}", people.alice.username)
            answer = s.request("REPORT", url, data=body, headers={**XML, "Depth": (
                "1" if report.startswith(C) else "0")})
            assert answer.status_code in (200, 207), (url, report, answer.status_code, answer.text)
            if report == f"{C}free-busy-query":
                assert "BEGIN:VFREEBUSY" in answer.text and "FREEBUSY" in answer.text.replace(
                    "BEGIN:VFREEBUSY", "")
            elif report == f"{D}principal-search-property-set":
                assert ET.fromstring(answer.content).find(f"{D}principal-search-property")
            else:
                assert ET.fromstring(answer.content).find(f"{D}response") is not None, (
                    url, report, answer.text)


def test_principal_has_no_addressbook_home_set(server: Server, people: People) -> None:
    s = people.alice.session()
    home = server.url + people.alice.username + "/"
    allprop = _propfind(s, home, None, body='<d:propfind xmlns:d="DAV:"><d:allprop/></d:propfind>')
    propname = _propfind(s, home, None, body='<d:propfind xmlns:d="DAV:"><d:propname/></d:propfind>')
    asked = _propfind(s, home, [f"{CR}addressbook-home-set", f"{D}displayname"])
    for root in (allprop, propname):
        names = set(_props(root.find(f"{D}response")))
        assert f"{CR}addressbook-home-set" not in names
        # What is listed is what is served: the principal's own properties are there.
        assert {f"{D}displayname", f"{C}calendar-user-address-set", f"{C}calendar-home-set",
                f"{D}principal-URL", f"{D}supported-report-set"} <= names
    response = asked.find(f"{D}response")
    assert f"{CR}addressbook-home-set" in _props(response, 404)
    assert _props(response)[f"{D}displayname"].text == people.alice.username


def test_calendar_user_address_set_has_the_email_and_the_principal(server: Server,
                                                                   people: People) -> None:
    s = people.alice.session()
    home = server.url + people.alice.username + "/"
    root = _propfind(s, home, [f"{C}calendar-user-address-set", f"{CS}email-address-set"])
    props = _props(root.find(f"{D}response"))
    addresses = [h.text for h in props[f"{C}calendar-user-address-set"].iter(f"{D}href")]
    assert addresses[0] == f"mailto:{people.alice.email}"  # the preferred one first
    assert requests.utils.urlparse(addresses[1]).path == f"/{people.alice.username}/"
    assert [e.text for e in props[f"{CS}email-address-set"]] == [people.alice.email]


# --- another principal ---------------------------------------------------------------

def test_propfind_of_a_colleague_answers_name_and_address(server: Server,
                                                          people: People) -> None:
    s = people.alice.session()
    root = _propfind(s, server.url + people.bob.username + "/",
                     [f"{D}displayname", f"{C}calendar-user-address-set", f"{D}resourcetype",
                      f"{CR}addressbook-home-set"])
    response = root.find(f"{D}response")
    props = _props(response)
    assert response.findtext(f"{D}href") == f"/{people.bob.username}/"
    assert props[f"{D}displayname"].text == people.bob.username
    assert [h.text for h in props[f"{C}calendar-user-address-set"].iter(f"{D}href")][0] == \
        f"mailto:{people.bob.email}"
    assert props[f"{D}resourcetype"].find(f"{D}principal") is not None
    assert f"{CR}addressbook-home-set" in _props(response, 404)
    # Bob's calendars stay his: the principal answers, his home's members are not listed.
    listing = _propfind(s, server.url + people.bob.username + "/", [f"{D}displayname"],
                        depth="1")
    assert _hrefs(listing) == [f"/{people.bob.username}/"]
    assert s.request("PROPFIND", server.url + people.bob.username + "/calendar/",
                     headers={"Depth": "0"}).status_code in (403, 404)


def test_another_tenants_login_looks_like_nobody(server: Server, people: People) -> None:
    s = people.alice.session()
    other = s.request("PROPFIND", server.url + people.carol.username + "/",
                      data='<d:propfind xmlns:d="DAV:"><d:prop><d:displayname/></d:prop>'
                           "</d:propfind>", headers={**XML, "Depth": "0"})
    nobody = s.request("PROPFIND", server.url + f"nobody{people.suffix}/",
                       data='<d:propfind xmlns:d="DAV:"><d:prop><d:displayname/></d:prop>'
                            "</d:propfind>", headers={**XML, "Depth": "0"})
    assert other.status_code == nobody.status_code == 404
    assert other.text.replace(people.carol.username, "X") == \
        nobody.text.replace(f"nobody{people.suffix}", "X")
    expand = ('<d:expand-property xmlns:d="DAV:"><d:property name="displayname"/>'
              "</d:expand-property>")
    answers = [s.request("REPORT", server.url + name + "/", data=expand,
                         headers={**XML, "Depth": "0"})
               for name in (people.carol.username, f"nobody{people.suffix}")]
    assert [a.status_code for a in answers] == [404, 404]
    assert answers[0].text == answers[1].text
    # Nor can a search be sent into her tree.
    r = _search(s, server.url + people.carol.username + "/",
                [(f"{D}displayname", "carol", None)], [f"{D}displayname"], apply=True)
    assert r.status_code == 403 and "carol" not in r.text


# --- principal search ------------------------------------------------------------------

WANTED = [f"{D}displayname", f"{C}calendar-user-address-set", f"{C}calendar-home-set",
          f"{D}principal-URL", f"{D}resourcetype", f"{CS}first-name"]


def test_search_by_name_within_the_tenant(server: Server, people: People) -> None:
    s = people.alice.session()
    # "BOB" in the middle of the name, in another case: contains, caseless.
    r = _search(s, server.url, [(f"{D}displayname", f"B{people.suffix[:4]}".upper()[1:], None)],
                WANTED)
    assert sorted(_hrefs(_multistatus(r))) == sorted(
        [f"/{people.alice.username}/", f"/{people.bob.username}/"])
    r = _search(s, server.url, [(f"{D}displayname", "ob" + people.suffix, None)], WANTED)
    root = _multistatus(r)
    assert _hrefs(root) == [f"/{people.bob.username}/"]
    response = root.find(f"{D}response")
    props = _props(response)
    assert props[f"{D}displayname"].text == people.bob.username
    assert [h.text for h in props[f"{C}calendar-user-address-set"].iter(f"{D}href")][0] == \
        f"mailto:{people.bob.email}"
    assert props[f"{C}calendar-home-set"].findtext(f"{D}href") == f"/{people.bob.username}/"
    assert props[f"{D}principal-URL"].findtext(f"{D}href") == f"/{people.bob.username}/"
    assert props[f"{D}resourcetype"].find(f"{D}principal") is not None
    assert f"{CS}first-name" in _props(response, 404)


def test_search_by_email_prefix_as_apple_calendar_asks(server: Server, people: People) -> None:
    """Apple Calendar's attendee lookup: anyof, starts-with, on the principal URL
    with apply-to-principal-collection-set."""
    s = people.bob.session()
    typed = "alice.SMITH" + people.suffix[:3]
    searches = [(f"{D}displayname", typed, "starts-with"),
                (f"{CS}email-address-set", typed, "starts-with"),
                (f"{CS}first-name", typed, "starts-with"),
                (f"{CS}last-name", typed, "starts-with"),
                (f"{C}calendar-user-address-set", typed, "starts-with")]
    r = _search(s, server.url + people.bob.username + "/", searches,
                [f"{CS}email-address-set", f"{C}calendar-user-address-set", f"{D}displayname",
                 f"{C}calendar-user-type", f"{D}principal-URL"], test="anyof", apply=True)
    root = _multistatus(r)
    assert _hrefs(root) == [f"/{people.alice.username}/"]
    props = _props(root.find(f"{D}response"))
    assert [e.text for e in props[f"{CS}email-address-set"]] == [people.alice.email]
    assert props[f"{C}calendar-user-type"].text == "INDIVIDUAL"
    # The same prefix does not match in the middle of the address.
    r = _search(s, server.url, [(f"{C}calendar-user-address-set", "smith" + people.suffix,
                                 "starts-with")], [f"{D}displayname"])
    assert _hrefs(_multistatus(r)) == []
    # ... but it does as a (default) contains, and with the mailto: scheme typed.
    r = _search(s, server.url, [(f"{C}calendar-user-address-set", "smith" + people.suffix, None)],
                [f"{D}displayname"])
    assert _hrefs(_multistatus(r)) == [f"/{people.alice.username}/"]
    r = _search(s, server.url, [(f"{C}calendar-user-address-set",
                                 f"mailto:{people.alice.email.upper()}", "equals")],
                [f"{D}displayname"])
    assert _hrefs(_multistatus(r)) == [f"/{people.alice.username}/"]


def test_search_allof_and_anyof(server: Server, people: People) -> None:
    s = people.alice.session()
    both = [(f"{D}displayname", "alice" + people.suffix, None),
            (f"{C}calendar-user-address-set", "bjones" + people.suffix, None)]
    assert _hrefs(_multistatus(_search(s, server.url, both, [f"{D}displayname"]))) == []
    assert _hrefs(_multistatus(_search(s, server.url, both, [f"{D}displayname"],
                                       test="allof"))) == []
    assert sorted(_hrefs(_multistatus(_search(s, server.url, both, [f"{D}displayname"],
                                              test="anyof")))) == sorted(
        [f"/{people.alice.username}/", f"/{people.bob.username}/"])
    same = [(f"{D}displayname", "alice", None),
            (f"{C}calendar-user-address-set", "acme.example", "ends-with")]
    assert _hrefs(_multistatus(_search(s, server.url, same, [f"{D}displayname"]))) == [
        f"/{people.alice.username}/"]


def test_search_never_crosses_tenants(server: Server, people: People) -> None:
    alice, carol = people.alice.session(), people.carol.session()
    # Carol's name, her email, and "smith" (both Alice's and Carol's addresses).
    for s, text, expected in (
            (alice, "carol" + people.suffix, []),
            (alice, f"carol.smith{people.suffix}@other.example", []),
            (alice, "smith" + people.suffix, [f"/{people.alice.username}/"]),
            (carol, "smith" + people.suffix, [f"/{people.carol.username}/"]),
            (carol, "alice" + people.suffix, []),
            (carol, people.suffix, [f"/{people.carol.username}/"])):
        r = _search(s, server.url, [(f"{D}displayname", text, None),
                                    (f"{C}calendar-user-address-set", text, None)],
                    [f"{D}displayname", f"{C}calendar-user-address-set"], test="anyof")
        assert _hrefs(_multistatus(r)) == expected, (text, r.text)
        assert "carol" not in r.text or s is carol


def test_principal_search_property_set(server: Server, people: People) -> None:
    s = people.alice.session()
    r = s.request("REPORT", server.url, data='<d:principal-search-property-set xmlns:d="DAV:"/>',
                  headers={**XML, "Depth": "0"})
    assert r.status_code == 200, r.text
    root = ET.fromstring(r.content)
    assert root.tag == f"{D}principal-search-property-set"
    listed = {}
    for entry in root.findall(f"{D}principal-search-property"):
        listed[entry.find(f"{D}prop")[0].tag] = entry.findtext(f"{D}description")
    assert set(listed) == {f"{D}displayname", f"{C}calendar-user-address-set",
                           f"{CS}email-address-set"}
    assert all(listed.values())
    assert root.find(f"{D}principal-search-property/{D}description").get(
        "{http://www.w3.org/XML/1998/namespace}lang") == "en"


def test_search_is_capped_with_507(server: Server, people: People, database_url: str,
                                   sql: psycopg.Connection) -> None:
    from backside_caldav.domain.principal_search import MAX_MATCHES
    hash_ = sql.execute("SELECT password_hash FROM accounts WHERE username = %s",
                        (people.carol.username,)).fetchone()[0]
    names = [f"crowd{people.suffix}{n:04d}" for n in range(MAX_MATCHES + 5)]
    with sql.cursor() as cur:
        cur.executemany("INSERT INTO accounts (tenant_id, username, password_hash) "
                        "VALUES (%s, %s, %s)", [(people.carol.tenant_id, n, hash_) for n in names])
    s = people.carol.session()
    r = _search(s, server.url, [(f"{D}displayname", "crowd" + people.suffix, "starts-with")],
                [f"{D}displayname"])
    root = _multistatus(r)
    responses = root.findall(f"{D}response")
    assert len(responses) == MAX_MATCHES + 1
    assert _hrefs(root)[:MAX_MATCHES] == [f"/{n}/" for n in names[:MAX_MATCHES]]
    last = responses[-1]
    assert last.findtext(f"{D}href") == "/"
    assert "507" in last.findtext(f"{D}status")
    assert last.find(f"{D}error/{D}number-of-matches-within-limits") is not None
    # Alice's tenant sees none of them.
    r = _search(people.alice.session(), server.url,
                [(f"{D}displayname", "crowd" + people.suffix, None)], [f"{D}displayname"])
    assert _hrefs(_multistatus(r)) == []


@pytest.mark.parametrize(("body", "depth", "reason"), [
    ('<d:principal-property-search xmlns:d="DAV:"><d:property-search><d:prop><d:displayname/>'
     "</d:prop><d:match>a</d:match></d:property-search></d:principal-property-search>",
     "1", "Depth"),
    ('<d:principal-property-search xmlns:d="DAV:"><d:property-search><d:prop><d:displayname/>'
     '</d:prop><d:match match-type="sounds-like">a</d:match></d:property-search>'
     "</d:principal-property-search>", "0", "match-type"),
    ('<d:principal-property-search xmlns:d="DAV:" test="mostof"><d:property-search><d:prop>'
     "<d:displayname/></d:prop><d:match>a</d:match></d:property-search>"
     "</d:principal-property-search>", "0", "test"),
    ('<d:principal-property-search xmlns:d="DAV:"><d:property-search><d:prop/>'
     "<d:match>a</d:match></d:property-search></d:principal-property-search>", "0", "prop"),
    ('<d:principal-property-search xmlns:d="DAV:"><d:property-search><d:prop><d:displayname/>'
     "</d:prop></d:property-search></d:principal-property-search>", "0", "match"),
    ('<d:principal-search-property-set xmlns:d="DAV:"/>', "1", "Depth"),
])
def test_bad_searches_are_refused_with_a_reason(server: Server, people: People, body: str,
                                               depth: str, reason: str) -> None:
    r = people.alice.session().request("REPORT", server.url, data=body,
                                       headers={**XML, "Depth": depth})
    assert r.status_code == 400, (r.status_code, r.text)
    assert reason in r.text


def test_expand_property_on_the_principal(server: Server, people: People) -> None:
    """RFC 3253 3.8, as Apple Calendar asks at start-up: the hrefs of a property
    replaced by the properties of the resources they name."""
    s = people.alice.session()
    body = ('<d:expand-property xmlns:d="DAV:">'
            '<d:property name="principal-URL"><d:property name="displayname"/>'
            '<d:property name="calendar-user-address-set" '
            'namespace="urn:ietf:params:xml:ns:caldav"/></d:property>'
            '<d:property name="calendar-proxy-read-for" namespace="http://calendarserver.org/ns/">'
            '<d:property name="displayname"/></d:property>'
            '<d:property name="displayname"/>'
            "</d:expand-property>")
    r = s.request("REPORT", server.url + people.alice.username + "/", data=body,
                  headers={**XML, "Depth": "0"})
    root = _multistatus(r)
    [response] = root.findall(f"{D}response")
    assert response.findtext(f"{D}href") == f"/{people.alice.username}/"
    props = _props(response)
    assert props[f"{D}displayname"].text == people.alice.username
    inner = props[f"{D}principal-URL"].find(f"{D}response")
    assert inner.findtext(f"{D}href") == f"/{people.alice.username}/"
    inner_props = _props(inner)
    assert inner_props[f"{D}displayname"].text == people.alice.username
    assert [h.text for h in inner_props[f"{C}calendar-user-address-set"].iter(f"{D}href")][0] \
        == f"mailto:{people.alice.email}"
    assert f"{CS}calendar-proxy-read-for" in _props(response, 404)
    # An address expands where it names a principal; a mailto: address stays as it is.
    body = ('<d:expand-property xmlns:d="DAV:"><d:property name="calendar-user-address-set" '
            'namespace="urn:ietf:params:xml:ns:caldav"><d:property name="displayname"/>'
            "</d:property></d:expand-property>")
    r = s.request("REPORT", server.url + people.bob.username + "/", data=body,
                  headers={**XML, "Depth": "0"})
    value = _props(_multistatus(r).find(f"{D}response"))[f"{C}calendar-user-address-set"]
    assert [h.text for h in value.findall(f"{D}href")] == [f"mailto:{people.bob.email}"]
    [inner] = value.findall(f"{D}response")
    assert _props(inner)[f"{D}displayname"].text == people.bob.username


@pytest.mark.parametrize(("body", "depth", "reason"), [
    ('<d:expand-property xmlns:d="DAV:"><d:property name="displayname"/></d:expand-property>',
     "1", "Depth"),
    ('<d:expand-property xmlns:d="DAV:"><d:property namespace="DAV:"/></d:expand-property>',
     "0", "name"),
    # Names and namespaces that cannot be written back as an XML element.
    ('<d:expand-property xmlns:d="DAV:"><d:property name="1bad"/></d:expand-property>',
     "0", "cannot be an XML element"),
    ('<d:expand-property xmlns:d="DAV:"><d:property name="a b"/></d:expand-property>',
     "0", "cannot be an XML element"),
    ('<d:expand-property xmlns:d="DAV:"><d:property name="x:y"/></d:expand-property>',
     "0", "cannot be an XML element"),
    ('<d:expand-property xmlns:d="DAV:"><d:property name="a&lt;b"/></d:expand-property>',
     "0", "cannot be an XML element"),
    ('<d:expand-property xmlns:d="DAV:"><d:property name="x" namespace="a}b"/>'
     "</d:expand-property>", "0", "not a namespace URI"),
    ('<d:expand-property xmlns:d="DAV:"><d:property name="principal-URL">'
     '<d:property name="-x"/></d:property></d:expand-property>', "0", "cannot be an XML element"),
])
def test_bad_expand_property_is_refused(server: Server, people: People, body: str, depth: str,
                                        reason: str) -> None:
    r = people.alice.session().request("REPORT", server.url + people.alice.username + "/",
                                       data=body, headers={**XML, "Depth": depth})
    assert r.status_code == 400, (r.status_code, r.text)
    assert reason in r.text


def test_expand_property_of_an_unknown_name_is_well_formed(server: Server,
                                                          people: People) -> None:
    """Unknown but valid names come back as 404 propstat elements, in a body
    that parses; an empty namespace is the default one, DAV:."""
    body = ('<d:expand-property xmlns:d="DAV:"><d:property name="caf\u00e9"/>'
            '<d:property name="plain" namespace=""/><d:property name="x" namespace="urn:x"/>'
            "</d:expand-property>")
    r = people.alice.session().request("REPORT", server.url + people.alice.username + "/",
                                       data=body.encode(), headers={**XML, "Depth": "0"})
    missing = _props(_multistatus(r).find(f"{D}response"), 404)
    assert set(missing) == {f"{D}caf\u00e9", f"{D}plain", "{urn:x}x"}


def test_the_caldav_client_finds_colleagues(server: Server, people: People) -> None:
    """The `caldav` library's own principal search and address lookup."""
    import caldav
    with caldav.DAVClient(url=server.url, username=people.alice.username,
                          password=people.alice.password) as client:
        found = client.search_principals(name="bob" + people.suffix)
        assert [requests.utils.urlparse(str(p.url)).path for p in found] == [
            f"/{people.bob.username}/"]
        assert client.search_principals(name="carol" + people.suffix) == []
        # No name: every colleague (the search has no property-search at all).
        assert sorted(requests.utils.urlparse(str(p.url)).path
                      for p in client.search_principals()) == sorted(
            [f"/{people.alice.username}/", f"/{people.bob.username}/"])
        me = client.principal()
        assert me.calendar_user_address_set()[0] == f"mailto:{people.alice.email}"
        assert str(me.get_vcal_address()) == f"mailto:{people.alice.email}"
