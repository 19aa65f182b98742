"""Property-based fuzzing of request bodies against the live server.

Hypothesis builds WebDAV/CalDAV XML bodies from the real vocabulary (and
mutates their bytes), and iCalendar bodies from a valid event (and mutates
its lines). Whatever comes, the server must not answer 5xx or show a
traceback, and a refused request must not change a row.

A few seconds by default; BACKSIDE_FUZZ_EXAMPLES=500 (say) for a long run.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta, timezone

import icalendar
import pytest
from hostile import basic, send, snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backside_caldav.domain.ical_parse import parse_resource

EXAMPLES = int(os.environ.get("BACKSIDE_FUZZ_EXAMPLES", "25"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])

DAV = ["propfind", "prop", "allprop", "propname", "displayname", "getetag", "getctag",
       "resourcetype", "collection", "href", "sync-collection", "sync-token", "sync-level",
       "limit", "nresults", "propertyupdate", "set", "remove", "include", "owner",
       "current-user-principal", "expand-property", "property"]
CALDAV = ["calendar-query", "calendar-multiget", "free-busy-query", "filter", "comp-filter",
          "prop-filter", "param-filter", "text-match", "time-range", "is-not-defined",
          "calendar-data", "expand", "limit-recurrence-set", "comp", "calendar-description",
          "supported-calendar-component-set", "calendar-timezone", "mkcalendar"]
ROOTS = {"PROPFIND": ["D:propfind"], "PROPPATCH": ["D:propertyupdate"],
         "REPORT": ["C:calendar-query", "C:calendar-multiget", "C:free-busy-query",
                    "D:sync-collection", "D:expand-property"]}
DATES = st.one_of(
    st.sampled_from(["20260101T000000Z", "00010101T000000Z", "99991231T235959Z",
                     "20261301T000000Z", "", "yesterday", "2026-01-01T00:00:00Z"]),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(
        lambda d: d.strftime("%Y%m%dT%H%M%SZ")))
ATTRS = st.dictionaries(
    st.sampled_from(["name", "start", "end", "collation", "negate-condition", "test",
                     "content-type", "version"]),
    st.one_of(DATES, st.sampled_from(["VCALENDAR", "VEVENT", "VTODO", "SUMMARY", "UID",
                                      "i;octet", "yes", "anyof", ""]),
              st.text(max_size=10)), max_size=3)
TEXT = st.one_of(st.just(""), st.text(max_size=30), st.sampled_from(
    ["/", "../../etc/passwd", "http://127.0.0.1:9/x", "  ", "1", "infinite", "-1",
     "\u202e", "x" * 200]))

NAMES = st.one_of(st.sampled_from(DAV).map(lambda n: "D:" + n),
                  st.sampled_from(CALDAV).map(lambda n: "C:" + n),
                  st.sampled_from(["X:unknown", "displayname", "D:", "C:comp-filter "]))
NS = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:X="urn:x"'


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(value: str) -> str:
    return _escape(value).replace('"', "&quot;")


@st.composite
def element(draw: st.DrawFn, depth: int = 0) -> str:
    name = draw(NAMES).strip() or "D:prop"
    attrs = "".join(f' {k}="{_attr(v)}"' for k, v in draw(ATTRS).items())
    if depth >= 5 or draw(st.integers(0, 3)) == 0:
        text = draw(TEXT)
        return f"<{name}{attrs}>{_escape(text)}</{name}>" if text else f"<{name}{attrs}/>"
    children = draw(st.lists(element(depth + 1), max_size=4))
    return f"<{name}{attrs}>{''.join(children)}</{name}>"


@st.composite
def xml_request(draw: st.DrawFn) -> tuple[str, bytes, str]:
    method = draw(st.sampled_from(sorted(ROOTS)))
    root = draw(st.sampled_from(ROOTS[method]))
    children = "".join(draw(st.lists(element(1), max_size=4)))
    body = f'<?xml version="1.0" encoding="utf-8"?><{root} {NS}>{children}</{root}>'.encode()
    body = draw(mutated(body))
    depth = draw(st.sampled_from(["0", "1", "infinity"]))
    return method, body, depth


MUTATIONS = [b"<!DOCTYPE x [<!ENTITY e 'e'>]>", b"&e;", b"<", b">", b"\x00", b"\xff",
             b"]]>", b"<![CDATA[", b"<D:x>" * 50, b'"', b"xmlns:D='urn:other'"]


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    for _ in range(draw(st.integers(0, 3))):
        position = draw(st.integers(0, len(data)))
        kind = draw(st.integers(0, 3))
        if kind == 0:
            data = data[:position]
        elif kind == 1:
            data = data[:position] + draw(st.sampled_from(MUTATIONS)) + data[position:]
        elif kind == 2:
            data = data[:position] + draw(st.binary(max_size=8)) + data[position:]
        else:
            end = draw(st.integers(position, len(data)))
            data = data[:position] + data[end:]
    return data


BASE_EVENT = [
    "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//fuzz//EN", "BEGIN:VEVENT",
    "UID:fuzz-event", "DTSTAMP:20260101T000000Z", "DTSTART;TZID=Europe/Berlin:20260105T090000",
    "DTEND;TZID=Europe/Berlin:20260105T100000", "SUMMARY:Standup",
    "RRULE:FREQ=WEEKLY;BYDAY=MO,WE", "EXDATE;TZID=Europe/Berlin:20260107T090000",
    "ATTENDEE;PARTSTAT=ACCEPTED:mailto:a@example.com", "ORGANIZER:mailto:o@example.com",
    "BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT10M", "DESCRIPTION:x", "END:VALARM",
    "END:VEVENT", "END:VCALENDAR"]
ICAL_NOISE = st.sampled_from([
    "BEGIN:VEVENT", "END:VEVENT", "BEGIN:VALARM", "END:VCALENDAR", "BEGIN:VTODO",
    "DTSTART:99999999T999999Z", "DTSTART;VALUE=DATE:20260230", "DTEND:20250101T000000Z",
    "RRULE:FREQ=SECONDLY;INTERVAL=0", "RRULE:FREQ=DAILY;BYHOUR=25", "RRULE:FREQ=YEARLY;COUNT=-1",
    "RECURRENCE-ID:20260105T080000Z", "UID:", "UID:other", "DURATION:P1X",
    "DTSTART;TZID=Nowhere/Special:20260101T090000", "SEQUENCE:99999999999999999999",
    "ATTENDEE;PARTSTAT=MAYBE:mailto:", "X-LINK;X-TYPE=deal:not-a-uuid", "CATEGORIES:a,,b",
    "SUMMARY:" + "\u202e" * 10, "GEO:abc;def", ";;;;", ":", "SUMMARY;FOO=\"bar:x",
])


@st.composite
def ical_body(draw: st.DrawFn) -> bytes:
    lines = list(BASE_EVENT)
    for _ in range(draw(st.integers(0, 4))):
        position = draw(st.integers(0, len(lines)))
        kind = draw(st.integers(0, 3))
        if kind == 0 and lines:
            del lines[min(position, len(lines) - 1)]
        elif kind == 1:
            lines.insert(position, draw(ICAL_NOISE))
        elif kind == 2 and lines:
            index = min(position, len(lines) - 1)
            head = lines[index].split(":", 1)[0]
            lines[index] = head + ":" + draw(st.text(max_size=20).map(
                lambda t: t.replace("\r", "").replace("\n", "")))
        else:
            lines.insert(position, lines[min(position, len(lines) - 1)] if lines else "")
    text = "\r\n".join(lines) + "\r\n"
    return draw(st.one_of(st.just(text.encode()), mutated(text.encode())))


def _check(reply, before, after) -> None:
    assert reply.status < 500, reply.text[:300]
    assert "Traceback" not in reply.text
    if reply.status >= 400:
        assert after == before, f"{reply.status} {reply.text[:200]} yet rows changed"


@pytest.fixture
def fuzz_target(server, account, cal, http):
    url, _ = cal
    path = "/" + url.split("/", 3)[3]
    assert send(server.url, "PUT", path + "seed.ics",
                {"Content-Type": "text/calendar", "Authorization":
                 basic(account.username, account.password)},
                "\r\n".join(BASE_EVENT).replace("fuzz-event", "seed").encode() + b"\r\n",
                hostile=False).status == 201
    return path


@FUZZ
@given(request=xml_request())
def test_fuzzed_xml_bodies_never_5xx_and_refusals_write_nothing(
        request, server, account, sql, fuzz_target) -> None:
    method, body, depth = request
    headers = {"Content-Type": "application/xml; charset=utf-8", "Depth": depth,
               "Authorization": basic(account.username, account.password)}
    before = snapshot(sql, account.tenant_id)
    reply = send(server.url, method, fuzz_target, headers, body)
    _check(reply, before, snapshot(sql, account.tenant_id))


@FUZZ
@given(body=ical_body(), href=st.sampled_from(["seed.ics", "new.ics", "other.ics"]))
def test_fuzzed_icalendar_puts_never_5xx_and_refusals_write_nothing(
        body, href, server, account, sql, fuzz_target) -> None:
    headers = {"Content-Type": "text/calendar; charset=utf-8",
               "Authorization": basic(account.username, account.password)}
    before = snapshot(sql, account.tenant_id)
    reply = send(server.url, "PUT", fuzz_target + href, headers, body)
    _check(reply, before, snapshot(sql, account.tenant_id))


# --- what goes in comes out, through the live server -------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]
SUMMARIES = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60)


@st.composite
def client_event(draw: st.DrawFn) -> tuple[bytes, dict]:
    """A client's event and the row values it must map to."""
    zone = draw(st.sampled_from(ZONES))
    start_local = datetime(2025, 1, 1) + timedelta(minutes=15 * draw(st.integers(0, 4 * 24 * 800)))
    length = timedelta(minutes=15 * draw(st.integers(1, 4 * 24)))
    summary = draw(SUMMARIES).strip() or "x"
    rrule = draw(st.sampled_from([None, "FREQ=DAILY;COUNT=3", "FREQ=WEEKLY;BYDAY=TU,TH",
                                  "FREQ=MONTHLY;BYMONTHDAY=-1"]))
    emails = draw(st.lists(st.from_regex(r"[a-z]{1,8}@[a-z]{1,6}\.org", fullmatch=True),
                           max_size=3, unique=True))
    from zoneinfo import ZoneInfo
    cal = icalendar.Calendar()
    cal.add("VERSION", "2.0")
    cal.add("PRODID", "-//fuzz//EN")
    event = icalendar.Event()
    event.add("UID", str(uuid.uuid4()))
    event.add("DTSTAMP", datetime(2026, 1, 1, tzinfo=timezone.utc))
    start = start_local.replace(tzinfo=ZoneInfo(zone))
    event.add("DTSTART", start)
    event.add("DTEND", start + length)
    event.add("SUMMARY", summary)
    event.add("X-FUZZ-KEEP", "kept;as,sent")
    if rrule:
        event.add("RRULE", icalendar.vRecur.from_ical(rrule))
    for email in emails:
        event.add("ATTENDEE", f"mailto:{email}")
    cal.add_component(event)
    expected = {"title": summary, "start": start.astimezone(timezone.utc),
                "end": (start + length).astimezone(timezone.utc), "rrule": rrule,
                "emails": sorted(emails)}
    return cal.to_ical(), expected


@settings(max_examples=max(5, EXAMPLES // 2), deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(item=client_event())
def test_what_goes_in_comes_out(item, server, account, sql, fuzz_target) -> None:
    """PUT a client's event: the rows hold its values and GET gives its bytes back."""
    body, expected = item
    auth = {"Authorization": basic(account.username, account.password)}
    href = uuid.uuid4().hex + ".ics"
    put = send(server.url, "PUT", fuzz_target + href, {"Content-Type": "text/calendar", **auth},
               body, hostile=False)
    assert put.status == 201, put.text
    row = sql.execute(
        "SELECT id, title, start_time, end_time, rrule FROM events "
        "WHERE tenant_id = %s AND href = %s", (account.tenant_id, href)).fetchone()
    assert row[1:] == (expected["title"], expected["start"], expected["end"], expected["rrule"])
    emails = sorted(r[0] for r in sql.execute(
        "SELECT email FROM event_attendees WHERE tenant_id = %s AND event_id = %s",
        (account.tenant_id, row[0])))
    assert emails == expected["emails"]
    got = send(server.url, "GET", fuzz_target + href, auth, hostile=False)
    assert got.status == 200
    assert got.text.replace("\r\n", "\n") == body.decode().replace("\r\n", "\n")
    assert parse_resource(got.text).events[0].title == expected["title"]
