"""Expanded REPORTs rendered from the instance index, checked against the
recurrence engine and the independent oracle of test_recurrence_oracle.

The fast path (expand_render.render, wired in by dav.expand) must give the
same occurrences as `recurrence.expand` on the parsed resource, and where
the oracle (or a hand-written RFC 5545 result) is the reference for a
window, the same as that reference. It is checked twice: on the renderer
directly, for every corpus window the index answers for, and end to end
over HTTP on the real server for the same windows.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone

import icalendar
import pytest
from test_recurrence_oracle import CASES, Row, Window, _show, _text, oracle, ours

from backside_caldav.domain import instance_index
from backside_caldav.domain.expand_render import Expansion, render
from backside_caldav.domain.ical_parse import parse_resource

UTC = timezone.utc
NOW = datetime.now(UTC)


def _utc(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return datetime.combine(value, time(0), tzinfo=UTC)


def expansion_of(text: str) -> tuple[Expansion, datetime]:
    """What occurrences.get_filtered attaches for this resource, and the index horizon."""
    events = parse_resource(text, default_zone=None).events
    master = events[0]
    built = instance_index.build(events, NOW)
    overrides = frozenset(e.recurrence_id for e in events[1:] if e.recurrence_id is not None)
    return Expansion(recurring=bool(master.rrule or master.rdates or overrides),
                     all_day=master.is_all_day, day_zone=master.timezone,
                     override_ids=overrides,
                     instances=[(r[0], r[1], r[2]) for r in built.rows]), built.instances_until


def rows_of(expanded: str) -> list[Row]:
    """(recurrence-id, start, end, summary, cancelled) of each expanded VEVENT."""
    found: list[Row] = []
    for calendar in icalendar.Calendar.from_ical(expanded, multiple=True):
        assert not calendar.walk("VTIMEZONE"), "expanded data must be in UTC, without VTIMEZONE"
        for event in calendar.walk("VEVENT"):
            assert "RRULE" not in event and "RDATE" not in event and "EXDATE" not in event
            begin = _utc(event["DTSTART"].dt)
            if isinstance(event["DTSTART"].dt, datetime):
                assert event["DTSTART"].dt.tzinfo == UTC or str(event["DTSTART"].dt.tzinfo) \
                    == "UTC", "RFC 4791 9.6.5: expanded date-times are in UTC"
            finish = _utc(event["DTEND"].dt) if "DTEND" in event else begin
            rid = event.get("RECURRENCE-ID")
            found.append((_utc(rid.dt) if rid is not None else begin, begin, finish,
                          str(event.get("SUMMARY", "")),
                          str(event.get("STATUS", "")).upper() == "CANCELLED"))
    return sorted(found)


def _answered_windows() -> list[object]:
    """Corpus windows the index answers for (inside the horizon of the series)."""
    params: list[object] = []
    for case, windows in CASES.items():
        _, until = expansion_of(_text(case))
        for index, window in enumerate(windows):
            if window.bounds[1] <= until:
                params.append(pytest.param(case, window, id=f"{case}-w{index}"))
    return params


ANSWERED = _answered_windows()


def reference(case: str, window: Window) -> list[Row] | None:
    """The oracle's (or the hand-written) result, unless the window shows a known bug."""
    if window.xfail:
        return None
    if window.expected is not None:
        return sorted(window.expected)
    return oracle(case, *window.bounds)


def test_most_corpus_windows_are_answered_by_the_index() -> None:
    total = sum(len(w) for w in CASES.values())
    assert len(ANSWERED) >= total * 3 // 4, f"only {len(ANSWERED)} of {total} windows"


@pytest.mark.parametrize(("case", "window"), ANSWERED)
def test_render_matches_engine_and_oracle(case: str, window: Window) -> None:
    start, end = window.bounds
    expansion, _ = expansion_of(_text(case))
    rendered = render(_text(case), expansion, start, end, start, end)
    assert rendered is not None, "the fast path gave up on a corpus resource"
    text, count = rendered
    got = rows_of(text) if text else []
    assert count == len(got)
    engine = ours(case, start, end)
    assert got == engine, f"{case} {window.span}\nrendered:\n{_show(got)}\nengine:\n{_show(engine)}"
    want = reference(case, window)
    if want is not None:
        assert got == want, f"{case} {window.span}\nrendered:\n{_show(got)}\nref:\n{_show(want)}"


def test_render_keeps_client_properties_and_drops_rules() -> None:
    text = _text("01-ny-weekly-spring-forward")
    expansion, _ = expansion_of(text)
    start, end = datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 5, 1, tzinfo=UTC)
    out, count = render(text, expansion, start, end) or ("", 0)
    assert count > 5
    assert out.count("BEGIN:VEVENT") == count and out.count("UID:") == count
    for line in ("RRULE", "EXDATE", "RDATE", "TZID=", "BEGIN:VTIMEZONE"):
        assert line not in out
    assert "PRODID:" in out and out.endswith("END:VCALENDAR\r\n")


def test_render_refuses_text_that_disagrees_with_the_rows() -> None:
    """An override in the text that the rows do not know: leave it to Radicale."""
    text = _text("01-ny-weekly-spring-forward")
    expansion, _ = expansion_of(text)
    expansion.override_ids = frozenset({datetime(2024, 3, 10, 14, tzinfo=UTC)})
    assert render(text, expansion, datetime(2024, 2, 1, tzinfo=UTC),
                  datetime(2024, 5, 1, tzinfo=UTC)) is None


# Every corpus resource is stored: PUT no longer goes through Radicale's vobject,
# which refused RDATE;VALUE=PERIOD (dav/put.py).
REFUSED_ON_PUT: frozenset[str] = frozenset()


def _report(http, url: str, start: datetime, end: datetime):
    s, e = f"{start:%Y%m%dT%H%M%SZ}", f"{end:%Y%m%dT%H%M%SZ}"
    body = ('<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" '
            'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data>'
            f'<c:expand start="{s}" end="{e}"/></c:calendar-data></d:prop>'
            '<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">'
            f'<c:time-range start="{s}" end="{e}"/></c:comp-filter></c:comp-filter>'
            '</c:filter></c:calendar-query>')
    return http.request("REPORT", url, data=body,
                        headers={"Depth": "1", "Content-Type": "application/xml"})


def test_http_expand_matches_engine_for_the_corpus(http, cal) -> None:
    """End to end: PUT every corpus resource, REPORT every answered window."""
    import xml.etree.ElementTree as ET
    url, _ = cal
    for case in CASES:
        r = http.put(url + f"{case}.ics", data=_text(case).encode(),
                     headers={"Content-Type": "text/calendar"})
        assert r.status_code == (400 if case in REFUSED_ON_PUT else 201), (case, r.text)
    for param in ANSWERED:
        case, window = param.values  # type: ignore[attr-defined]
        if case in REFUSED_ON_PUT:
            continue
        start, end = window.bounds
        r = _report(http, url, start, end)
        assert r.status_code == 207, r.text
        got: list[Row] = []
        for response in ET.fromstring(r.content).iter("{DAV:}response"):
            if not response.findtext("{DAV:}href", "").endswith(f"/{case}.ics"):
                continue
            data = response.findtext(".//{urn:ietf:params:xml:ns:caldav}calendar-data")
            assert response.findtext(".//{DAV:}getetag"), "getetag and expand together"
            got = rows_of(data or "")
        engine = ours(case, start, end)
        assert got == engine, f"{case} {window.span}\nHTTP:\n{_show(got)}\nengine:\n{_show(engine)}"





def test_occurrence_starting_at_the_window_end_is_not_expanded(http, cal) -> None:
    """RFC 4791 9.9: a component overlaps [start, end) when it starts before
    end. Radicale 3.9's own expand also returns an occurrence that starts
    exactly at end; the index-rendered expand must not."""
    url, _ = cal
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
            "UID:edge@t\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20300107T000000Z\r\n"
            "DTEND:20300107T020000Z\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:Edge\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")
    assert http.put(url + "edge.ics", data=text,
                    headers={"Content-Type": "text/calendar"}).status_code == 201
    r = _report(http, url, datetime(2030, 1, 7, tzinfo=UTC), datetime(2030, 1, 14, tzinfo=UTC))
    assert r.status_code == 207
    assert r.text.count("BEGIN:VEVENT") == 1
    assert "RECURRENCE-ID:20300107T000000Z" in r.text
    assert "20300114T000000Z" not in r.text


def test_rdate_period_from_a_client_survives_every_read(http, cal) -> None:
    """The reads that still parse with Radicale's vobject answer, not 500."""
    url, _ = cal
    text = _text("44-rdate-period")
    assert http.put(url + "p.ics", data=text.encode(),
                    headers={"Content-Type": "text/calendar"}).status_code == 201
    got = http.get(url + "p.ics")
    assert got.status_code == 200 and "VALUE=PERIOD" in got.text
    xml = {"Content-Type": "application/xml", "Depth": "1"}

    def query(condition: str) -> str:
        return ('<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" '
                'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/>'
                '</d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">'
                f"{condition}</c:comp-filter></c:comp-filter></c:filter></c:calendar-query>")

    for condition in ('<c:time-range start="20240507T000000Z" end="20240508T000000Z"/>',
                      '<c:prop-filter name="SUMMARY"><c:text-match>Sessions</c:text-match>'
                      "</c:prop-filter>"):
        r = http.request("REPORT", url, data=query(condition), headers=xml)
        assert r.status_code == 207 and "p.ics" in r.text and "VALUE=PERIOD" in r.text, r.text
    freebusy = (
        '<?xml version="1.0"?><c:free-busy-query xmlns:c="urn:ietf:params:xml:ns:caldav">'
        '<c:time-range start="20240503T000000Z" end="20240504T000000Z"/></c:free-busy-query>')
    r = http.request("REPORT", url, data=freebusy, headers=xml)
    # The period's own end (16:00), not the master's one-hour length.
    assert r.status_code == 200 and "20240503T130000Z/20240503T160000Z" in r.text, r.text
