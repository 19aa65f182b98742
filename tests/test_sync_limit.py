"""sync-collection with DAV:limit (RFC 6578 3.6/3.7), over HTTP: pages of at
most nresults members, a 507 response for the collection while more remain,
a token that continues from there, and the current token on the last page."""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree

import caldav
import pytest
import requests
from caldav.elements import dav

from backside_caldav.domain import sync_tokens
from backside_caldav.domain.records import CalendarRow

D = "{DAV:}"
XML = {"Content-Type": "application/xml; charset=utf-8", "Depth": "1"}
TRUNCATED = "HTTP/1.1 507 Insufficient Storage"


def body(token: str = "", limit: str | None = None, props: str = "<d:getetag/>") -> str:
    limit_xml = f"<d:limit><d:nresults>{limit}</d:nresults></d:limit>" if limit is not None else ""
    return ('<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:" '
            'xmlns:c="urn:ietf:params:xml:ns:caldav">'
            f"<d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level>{limit_xml}"
            f"<d:prop>{props}</d:prop></d:sync-collection>")


@dataclass
class Page:
    members: dict[str, str | None]  # href (last segment) -> etag, None when 404
    token: str
    truncated: bool  # a 507 response for the collection itself
    order: list[str]


def page(http: requests.Session, url: str, token: str = "", limit: str | None = None,
         props: str = "<d:getetag/>") -> Page:
    r = http.request("REPORT", url, data=body(token, limit, props), headers=XML)
    assert r.status_code == 207, r.text[:500]
    root = ElementTree.fromstring(r.content)
    members: dict[str, str | None] = {}
    order: list[str] = []
    truncated = False
    collection = unquote(urlsplit(url).path)
    for response in root.iter(f"{D}response"):
        href = unquote(response.findtext(f"{D}href") or "")
        status = response.findtext(f"{D}status")
        if href == collection:
            assert status == TRUNCATED, r.text[:500]
            assert response.find(f"{D}error/{D}number-of-matches-within-limits") is not None
            assert not truncated, "one 507 response at most"
            truncated = True
            continue
        name = href.rsplit("/", 1)[1]
        assert name not in members, f"{name} twice in one answer"
        order.append(name)
        members[name] = None if status and " 404 " in status else \
            response.findtext(f".//{D}getetag")
    token_text = root.findtext(f"{D}sync-token")
    assert token_text
    return Page(members, token_text, truncated, order)


def walk(http: requests.Session, url: str, limit: int, token: str = "",
         between: object = None) -> tuple[list[Page], str]:
    """Every page of a limited sync from `token`; `between(pages)` runs after each page."""
    pages: list[Page] = []
    while True:
        got = page(http, url, token, str(limit))
        assert len(got.members) <= limit
        pages.append(got)
        assert len(pages) < 10_000, "the pages never end"
        if not got.truncated:
            return pages, got.token
        assert got.token != token, "a truncated page must move the token"
        token = got.token
        if callable(between):
            between(pages)


def unlimited_token(http: requests.Session, url: str) -> str:
    return page(http, url).token


def bulk(sql, account, cal_id: str, count: int, prefix: str = "bulk") -> None:
    """`count` events written by another application, 1000 rows a statement
    (a commit numbers its change-feed rows in time that grows faster than the rows)."""
    for first in range(1, count + 1, 1000):
        sql.execute(
            "INSERT INTO events (tenant_id, calendar_id, title, start_time, end_time, "
            "timezone, uid, href) SELECT %s, %s, 'Bulk ' || g, timestamptz '2026-01-01 09:00Z'"
            " + g * interval '1 hour', timestamptz '2026-01-01 10:00Z' + g * interval '1 hour',"
            " 'Europe/Berlin', %s || '-' || g, %s || '-' || g || '.ics' "
            "FROM generate_series(%s::int, %s::int) g",
            (account.tenant_id, cal_id, prefix, prefix, first, min(first + 999, count)))


def test_a_limit_of_10_on_50_events_pages_through_them_all(http, account, sql, cal) -> None:
    url, cal_id = cal
    bulk(sql, account, cal_id, 50)
    first = page(http, url, "", "10")
    assert len(first.members) == 10 and first.truncated
    assert first.token != unlimited_token(http, url)
    pages, final = walk(http, url, 10)
    assert [len(p.members) for p in pages] == [10, 10, 10, 10, 10]
    assert [p.truncated for p in pages] == [True, True, True, True, False]
    seen = [h for p in pages for h in p.order]
    assert len(seen) == len(set(seen)) == 50
    assert set(seen) == {f"bulk-{i}.ics" for i in range(1, 51)}
    assert final == unlimited_token(http, url)
    assert page(http, url, final, "10").members == {}


def test_an_incremental_sync_is_paged_and_reports_removals(http, account, sql, cal) -> None:
    url, cal_id = cal
    bulk(sql, account, cal_id, 40)
    token = unlimited_token(http, url)
    sql.execute("UPDATE events SET title = title || ' (moved)' WHERE calendar_id = %s "
                "AND href IN (SELECT 'bulk-' || g || '.ics' FROM generate_series(1, 20) g)",
                (cal_id,))
    sql.execute("DELETE FROM events WHERE calendar_id = %s "
                "AND href IN (SELECT 'bulk-' || g || '.ics' FROM generate_series(31, 35) g)",
                (cal_id,))
    pages, final = walk(http, url, 10, token)
    assert [len(p.members) for p in pages] == [10, 10, 5]
    members = {h: e for p in pages for h, e in p.members.items()}
    assert sum(len(p.members) for p in pages) == len(members) == 25
    assert {h for h, e in members.items() if e is None} == {f"bulk-{i}.ics"
                                                             for i in range(31, 36)}
    assert {h for h, e in members.items() if e} == {f"bulk-{i}.ics" for i in range(1, 21)}
    assert final == unlimited_token(http, url)


def test_changes_between_pages_are_neither_lost_nor_repeated(http, account, sql, cal) -> None:
    """Between the pages of a first sync: an already sent event is changed, a
    not yet sent one is deleted, a new one is created."""
    url, cal_id = cal
    bulk(sql, account, cal_id, 30)
    changed: dict[str, str] = {}

    def meddle(pages: list[Page]) -> None:
        if len(pages) != 1:
            return
        sent = pages[0].order
        unsent = sorted({f"bulk-{i}.ics" for i in range(1, 31)} - set(sent))
        changed["updated"], changed["deleted"] = sent[3], unsent[-1]
        sql.execute("UPDATE events SET title = 'Changed' WHERE calendar_id = %s AND href = %s",
                    (cal_id, changed["updated"]))
        sql.execute("DELETE FROM events WHERE calendar_id = %s AND href = %s",
                    (cal_id, changed["deleted"]))
        bulk(sql, account, cal_id, 1, prefix="late")

    pages, final = walk(http, url, 10, between=meddle)
    seen = [h for p in pages for h in p.order]
    updated, deleted = changed["updated"], changed["deleted"]
    # The changed event comes again, with its new ETag; nothing else twice.
    assert seen.count(updated) == 2
    assert [h for h in set(seen) if seen.count(h) > 1] == [updated]
    etags = [p.members[updated] for p in pages if updated in p.members]
    assert etags[0] != etags[1] and etags[1] is not None
    # The deleted one was never sent with an ETag: at most a harmless 404
    # (RFC 6578 3.5.2: added and removed between two syncs is reported removed).
    assert all(p.members.get(deleted) is None for p in pages)
    assert "late-1.ics" in seen and seen.count("late-1.ics") == 1
    alive = {f"bulk-{i}.ics" for i in range(1, 31)} - {deleted} | {"late-1.ics"}
    assert {h for p in pages for h, e in p.members.items() if e} == alive
    assert final == unlimited_token(http, url)
    assert page(http, url, final).members == {}


def test_a_member_sent_then_deleted_mid_sync_is_reported_removed(http, account, sql,
                                                                   cal) -> None:
    url, cal_id = cal
    bulk(sql, account, cal_id, 20)
    first = page(http, url, "", "5")
    assert first.truncated and len(first.members) == 5
    gone = first.order[0]
    sql.execute("DELETE FROM events WHERE calendar_id = %s AND href = %s", (cal_id, gone))
    pages, final = walk(http, url, 5, first.token)
    removed = [h for p in pages for h, e in p.members.items() if e is None]
    assert removed == [gone]
    assert final == unlimited_token(http, url)


def test_10000_events_in_pages_of_100_each_href_once(http, account, sql, cal,
                                                      capsys: pytest.CaptureFixture) -> None:
    url, cal_id = cal
    started = time.perf_counter()
    bulk(sql, account, cal_id, 10_000)
    inserted = time.perf_counter() - started
    started = time.perf_counter()
    pages, final = walk(http, url, 100)
    elapsed = time.perf_counter() - started
    seen = [h for p in pages for h in p.order]
    assert len(pages) == 100
    assert len(seen) == len(set(seen)) == 10_000
    assert all(e for p in pages for e in p.members.values())
    assert final == unlimited_token(http, url)
    with capsys.disabled():
        print(f"\n10,000 events (inserted in {inserted:.1f} s) paged by 100: "
              f"{len(pages)} requests in {elapsed:.2f} s")


def test_other_properties_are_rendered_for_a_page(http, account, sql, cal) -> None:
    url, cal_id = cal
    bulk(sql, account, cal_id, 12)
    r = http.request("REPORT", url, data=body("", "5", "<d:getetag/><c:calendar-data/>"),
                     headers=XML)
    assert r.status_code == 207
    datas = [e.text for e in ElementTree.fromstring(r.content).iter(
        "{urn:ietf:params:xml:ns:caldav}calendar-data")]
    assert len(datas) == 5 and all(d and "BEGIN:VEVENT" in d for d in datas)
    got = page(http, url, "", "5", "<d:getetag/><c:calendar-data/>")
    assert got.truncated and len(got.members) == 5
    pages = [got]
    while pages[-1].truncated:
        pages.append(page(http, url, pages[-1].token, "5", "<d:getetag/><c:calendar-data/>"))
    assert sorted(h for p in pages for h in p.order) == sorted(f"bulk-{i}.ics"
                                                               for i in range(1, 13))
    assert pages[-1].token == unlimited_token(http, url)


def test_a_calendar_whose_history_was_pruned_is_paged_too(http, account, sql, cal) -> None:
    """Resources with no change-log entry left (pruned, `maintain`) sort at the
    sync floor; a change between pages gives one a newer entry."""
    url, cal_id = cal
    bulk(sql, account, cal_id, 30)
    sql.execute("DELETE FROM calendar_changes WHERE calendar_id = %s", (cal_id,))
    sql.execute("UPDATE calendars SET sync_floor = sync_counter WHERE id = %s", (cal_id,))
    first = page(http, url, "", "10")
    assert first.truncated and len(first.members) == 10
    sql.execute("UPDATE events SET title = 'Changed' WHERE calendar_id = %s AND href = %s",
                (cal_id, first.order[0]))
    pages, final = walk(http, url, 10, first.token)
    seen = first.order + [h for p in pages for h in p.order]
    assert sorted(set(seen)) == sorted(f"bulk-{i}.ics" for i in range(1, 31))
    assert len(seen) == 31 and seen.count(first.order[0]) == 2
    assert final == unlimited_token(http, url)


@pytest.mark.parametrize("nresults", ["many", "-1", "1.5", "+3", "", " ", "\u00b3"])
def test_a_limit_that_is_not_a_number_is_400(http, account, sql, cal, nresults) -> None:
    url, cal_id = cal
    bulk(sql, account, cal_id, 3)
    r = http.request("REPORT", url, data=body("", nresults), headers=XML)
    assert r.status_code == 400 and "nresults" in r.text


@pytest.mark.parametrize("limit", [
    "<d:limit/>", "<d:limit><d:nresults>1</d:nresults><d:nresults>2</d:nresults></d:limit>",
    "<d:limit><d:nresults>1</d:nresults></d:limit><d:limit><d:nresults>2</d:nresults>"
    "</d:limit>"], ids=["empty", "two nresults", "two limits"])
def test_a_limit_of_the_wrong_shape_is_400(http, cal, limit) -> None:
    url, _ = cal
    xml = body().replace("<d:prop>", limit + "<d:prop>")
    r = http.request("REPORT", url, data=xml, headers=XML)
    assert r.status_code == 400 and "DAV:limit" in r.text


def test_a_limit_of_0_fails_only_when_there_is_something_to_report(http, account, sql,
                                                                   cal) -> None:
    """RFC 6578 3.7: a limit the server cannot truncate to fails with the
    DAV:number-of-matches-within-limits postcondition."""
    url, cal_id = cal
    bulk(sql, account, cal_id, 3)
    r = http.request("REPORT", url, data=body("", "0"), headers=XML)
    assert r.status_code == 403
    assert ElementTree.fromstring(r.content).find(
        f"{D}number-of-matches-within-limits") is not None
    current = unlimited_token(http, url)
    empty = page(http, url, current, "0")
    assert empty.members == {} and not empty.truncated and empty.token == current


@pytest.mark.parametrize("nresults", ["1" + "0" * 40, "9" * 5000],
                         ids=["10^40", "5000 digits"])
def test_a_huge_limit_is_honoured_as_the_servers_page_size(http, account, sql, cal,
                                                           nresults) -> None:
    url, cal_id = cal
    bulk(sql, account, cal_id, 50)
    got = page(http, url, "", nresults)
    assert len(got.members) == 50 and not got.truncated
    assert got.token == unlimited_token(http, url)


def test_a_paged_token_is_refused_once_the_history_is_pruned(http, account, sql,
                                                             cal) -> None:
    url, cal_id = cal
    bulk(sql, account, cal_id, 10)
    first = page(http, url, "", "3")
    assert first.truncated and len(first.members) == 3
    bulk(sql, account, cal_id, 1, prefix="later")
    sql.execute("DELETE FROM calendar_changes WHERE calendar_id = %s", (cal_id,))
    sql.execute("UPDATE calendars SET sync_floor = sync_counter WHERE id = %s", (cal_id,))
    r = http.request("REPORT", url, data=body(first.token, "3"), headers=XML)
    assert r.status_code == 403 and "valid-sync-token" in r.text


def test_a_paged_token_followed_without_a_limit_gets_the_rest(http, account, sql,
                                                             cal) -> None:
    url, cal_id = cal
    bulk(sql, account, cal_id, 25)
    first = page(http, url, "", "10")
    rest = page(http, url, first.token)
    assert not rest.truncated and len(rest.members) == 15
    assert set(rest.members) | set(first.members) == {f"bulk-{i}.ics" for i in range(1, 26)}
    assert rest.token == unlimited_token(http, url)


def test_the_caldav_client_follows_pages_and_reads_the_507(server, account, sql,
                                                          http) -> None:
    with caldav.DAVClient(url=server.url, username=account.username,
                          password=account.password) as client:
        cal = client.principal().make_calendar(name="Paged", cal_id="paged")
        cal_id = sql.execute("SELECT id::text FROM calendars WHERE tenant_id = %s AND "
                             "href = 'paged'", (account.tenant_id,)).fetchone()[0]
        bulk(sql, account, cal_id, 30)
        url = str(cal.url)
        first = page(http, url, "", "10")
        # The client's own parser takes our 507 for the truncation marker of this calendar.
        xml = body("", "10").encode()
        response, objects = cal._request_report_build_resultlist(
            xml, props=[dav.GetEtag()], no_calendardata=True)
        assert len(objects) == 10 and cal._sync_page_truncated(response)
        # Its sync from a page's token reports the rest and ends at the current token.
        rest = cal.objects_by_sync_token(sync_token=first.token, load_objects=True)
        assert len(list(rest)) == 20 and rest.sync_token == unlimited_token(http, url)
        again = cal.objects_by_sync_token(sync_token=rest.sync_token, load_objects=False)
        assert list(again) == []


def _calendar(counter: int = 7, floor: int = 2) -> CalendarRow:
    from datetime import datetime, timezone
    return CalendarRow("c0ffee00-0000-0000-0000-000000000000", "cal", None, None, None, None,
                       None, [], {}, counter, floor, datetime.now(timezone.utc))


@pytest.mark.parametrize("href", ["a.ics", "a/b c%.ics", "ünï 😀.ics"])
def test_a_page_token_names_its_position(href: str) -> None:
    calendar = _calendar()
    position = sync_tokens.Position(5, href, 3)
    token = sync_tokens.page_token(calendar, position)
    assert token.isascii() and " " not in token
    assert sync_tokens.parse_position(calendar, token) == position
    plain = sync_tokens.page_token(calendar, sync_tokens.Position(4))
    assert plain == f"{sync_tokens.SYNC_TOKEN_PREFIX}{calendar.id}/4"
    assert sync_tokens.parse_sync_token(calendar, plain) == 4


@pytest.mark.parametrize("tail", ["1/3/a.ics", "8/3/a.ics", "5/9/a.ics", "5/-2/a.ics",
                                  "5/3/", "5/x/a.ics", "5/3", "x"],
                         ids=["below floor", "past counter", "hidden past counter",
                              "hidden below -1", "no href", "hidden not a number",
                              "no href part", "not a number"])
def test_a_page_token_that_cannot_be_is_invalid(tail: str) -> None:
    calendar = _calendar()
    with pytest.raises(ValueError):
        sync_tokens.parse_position(calendar,
                                   f"{sync_tokens.SYNC_TOKEN_PREFIX}{calendar.id}/{tail}")


def test_a_page_of_etags_says_what_radicale_says_for_it(http, account, sql, cal) -> None:
    """Etags only: written without rendering the members (dav/sync_limit.py);
    with one more property Radicale renders the same page: same members, same
    statuses, same token, the removed ones written alike."""
    url, cal_id = cal
    bulk(sql, account, cal_id, 10)
    token = unlimited_token(http, url)
    sql.execute("UPDATE events SET title = 'x' WHERE calendar_id = %s AND href IN "
                "('bulk-1.ics', 'bulk-2.ics', 'bulk-3.ics')", (cal_id,))
    sql.execute("DELETE FROM events WHERE calendar_id = %s AND href IN "
                "('bulk-4.ics', 'bulk-5.ics')", (cal_id,))
    for start in (token, page(http, url, token, "4").token):
        fast = http.request("REPORT", url, data=body(start, "4"), headers=XML)
        slow = http.request("REPORT", url, data=body(start, "4", "<d:getetag/>"
                                                     "<d:getlastmodified/>"), headers=XML)
        assert fast.status_code == slow.status_code == 207
        quick, full = page(http, url, start, "4"), Page({}, "", False, [])
        root = ElementTree.fromstring(slow.content)
        for response in root.iter(f"{D}response"):
            href = unquote(response.findtext(f"{D}href") or "")
            if response.findtext(f"{D}status") == TRUNCATED:
                full.truncated = True
                continue
            name = href.rsplit("/", 1)[1]
            full.members[name] = response.findtext(f".//{D}getetag")
            full.order.append(name)
        full.token = root.findtext(f"{D}sync-token") or ""
        assert len(quick.members) == (4 if start == token else 1)
        assert quick.truncated == (start == token)
        assert (quick.members, quick.order, quick.token, quick.truncated) == \
            (full.members, full.order, full.token, full.truncated)
        gone = [ElementTree.tostring(r) for r in ElementTree.fromstring(fast.content).iter(
            f"{D}response") if r.find(f"{D}propstat") is None and " 404 " in
            (r.findtext(f"{D}status") or "")]
        assert gone == [ElementTree.tostring(r) for r in root.iter(f"{D}response")
                        if r.find(f"{D}propstat") is None and " 404 " in
                        (r.findtext(f"{D}status") or "")]
