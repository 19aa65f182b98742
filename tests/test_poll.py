"""The getctag / sync-token poll is answered without Radicale's PROPFIND, as Radicale would.

The reference for an answer is Radicale's own: the same request plus
displayname, which the fast path leaves to Radicale, with the displayname
taken out. The `spied` server runs the application in this
process and counts the calls of Radicale's xml_propfind.
"""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
import radicale.app.propfind
import requests
from conftest import make_account
from test_listing import ICS, XML, event, propfind

CTAG = "cs:getctag"
TOKEN = "d:sync-token"
DAV = "{DAV:}"


SPIED = (radicale.app.propfind, "xml_propfind")  # counted by conftest's spied fixture


def canonical(root: ElementTree.Element) -> str:
    return ElementTree.canonicalize(ElementTree.tostring(root))


def without_displayname(body: bytes) -> str:
    """The answer without its displayname, and without a propstat left empty."""
    root = ElementTree.fromstring(body)
    for response in root.iter(f"{DAV}response"):
        for propstat in list(response.iter(f"{DAV}propstat")):
            prop = propstat.find(f"{DAV}prop")
            assert prop is not None
            for name in prop.findall(f"{DAV}displayname"):
                prop.remove(name)
            if not len(prop):
                response.remove(propstat)
    return canonical(root)


def values(body: bytes) -> dict[str, str | None]:
    prop = ElementTree.fromstring(body).find(f"{DAV}response/{DAV}propstat/{DAV}prop")
    assert prop is not None
    return {child.tag: child.text for child in prop}


@pytest.mark.parametrize("props", [(CTAG,), (TOKEN,), (CTAG, TOKEN), (TOKEN, CTAG)],
                         ids=["getctag", "sync-token", "both", "both reversed"])
@pytest.mark.parametrize("depth", ["0", None], ids=["depth 0", "no depth header"])
def test_the_poll_is_radicales_answer(spied_cal, props, depth) -> None:
    url, http, calls = spied_cal
    assert http.put(url + "a.ics", data=event("a"), headers=ICS).status_code == 201
    headers = {**XML, **({"Depth": depth} if depth else {})}
    body = ('<?xml version="1.0"?><d:propfind xmlns:d="DAV:" '
            'xmlns:cs="http://calendarserver.org/ns/"><d:prop>{}</d:prop></d:propfind>')
    asked = "".join(f"<{p}/>" for p in props)
    before = len(calls)
    fast = http.request("PROPFIND", url, data=body.format(asked), headers=headers)
    assert len(calls) == before, "the poll reached Radicale's PROPFIND"
    reference = http.request("PROPFIND", url, data=body.format(asked + "<d:displayname/>"),
                             headers=headers)
    assert len(calls) == before + 1
    assert fast.status_code == reference.status_code == 207
    assert fast.headers["Content-Type"] == reference.headers["Content-Type"]
    assert fast.headers["DAV"] == reference.headers["DAV"]
    assert canonical(ElementTree.fromstring(fast.content)) == without_displayname(reference.content)
    names = {CTAG: "{http://calendarserver.org/ns/}getctag", TOKEN: f"{DAV}sync-token"}
    assert list(values(fast.content)) == [names[p] for p in props]


def test_the_values_follow_every_change(http, cal, account, sql) -> None:
    url, cal_id = cal

    def poll() -> dict[str, str | None]:
        answer = propfind(http, url, CTAG, TOKEN, depth="0")
        assert answer.status_code == 207
        return values(answer.content)

    first = poll()
    assert poll() == first
    assert http.put(url + "a.ics", data=event("a"), headers=ICS).status_code == 201
    after_put = poll()
    assert set(after_put.values()).isdisjoint(first.values())
    # Another application edits the row: the poll must see it too.
    sql.execute("UPDATE events SET title = 'moved by SQL' WHERE tenant_id = %s "
                "AND calendar_id = %s", (account.tenant_id, cal_id))
    after_sql = poll()
    assert set(after_sql.values()).isdisjoint(after_put.values())
    report = http.request("REPORT", url, headers=XML, data=(
        '<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token/>'
        "<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"))
    assert report.status_code == 207
    assert ElementTree.fromstring(report.content).findtext(f"{DAV}sync-token") \
        == after_sql[f"{DAV}sync-token"]


@pytest.mark.parametrize("body, depth", [
    ('<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop>'
     "<cs:getctag/><d:displayname/></d:prop></d:propfind>", "0"),
    ('<d:propfind xmlns:d="DAV:"><d:allprop/></d:propfind>', "0"),
    ("", "0"),
    ('<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop>'
     "<cs:getctag/></d:prop></d:propfind>", "1"),
    ('<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop>'
     "<cs:getctag/><cs:getctag/></d:prop></d:propfind>", "0"),
], ids=["another property", "allprop", "no body", "depth 1", "twice"])
def test_other_propfinds_reach_radicale(spied_cal, body, depth) -> None:
    url, http, calls = spied_cal
    before = len(calls)
    answer = http.request("PROPFIND", url, data=body, headers={**XML, "Depth": depth})
    assert answer.status_code == 207
    assert len(calls) == before + 1


def test_the_home_collection_gets_radicales_answer(spied_cal) -> None:
    url, http, calls = spied_cal
    home = url.rsplit("/", 2)[0] + "/"
    before = len(calls)
    answer = propfind(http, home, CTAG, TOKEN, depth="0")
    assert answer.status_code == 207 and len(calls) == before + 1
    statuses = [s.text for s in ElementTree.fromstring(answer.content).iter(f"{DAV}status")]
    assert statuses == ["HTTP/1.1 404 Not Found"]  # a home has neither property


def test_another_users_calendar_is_refused_without_data(http, server, database_url) -> None:
    other = make_account(database_url)
    with requests.Session() as owner:
        owner.auth = (other.username, other.password)
        url = f"{server.url}{other.username}/private/"
        assert owner.request("MKCALENDAR", url).status_code == 201
    answer = propfind(http, url, CTAG, TOKEN, depth="0")
    assert answer.status_code == 403
    assert b"getctag" not in answer.content and b"sync" not in answer.content


def test_anonymous_is_asked_to_log_in(server, account) -> None:
    url = f"{server.url}{account.username}/calendar/"
    answer = propfind(requests.Session(), url, CTAG, depth="0")
    assert answer.status_code == 401
    assert b"getctag" not in answer.content


def test_a_missing_calendar_is_404(http, server, account) -> None:
    answer = propfind(http, f"{server.url}{account.username}/nothing-here/", CTAG, TOKEN,
                      depth="0")
    assert answer.status_code == 404


def test_broken_xml_is_400(http, cal) -> None:
    url, _ = cal
    answer = http.request("PROPFIND", url, data="<d:propfind xmlns:d='DAV:'><d:prop>",
                          headers={**XML, "Depth": "0"})
    assert answer.status_code == 400
    assert "Traceback" not in answer.text
