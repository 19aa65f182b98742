"""Tasks (VTODO) in calendar-query: RFC 4791 9.9's time-range table and 9.6.5's
expand, over real HTTP, as task apps ask for them.

tasks.org and jtx Board (through DAVx5) and Thunderbird send a calendar-query
with a VTODO comp-filter, sometimes with a time-range, an expand, or
Thunderbird's "open tasks" prop-filter (COMPLETED is-not-defined). Every
expected value here is written from the RFCs, not read from the server.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree

import icalendar
import pytest
import requests
from import_data import BERLIN

UTC = timezone.utc
ICS = {"Content-Type": "text/calendar"}
XML = {"Content-Type": "application/xml", "Depth": "1"}
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
OPEN_TASKS = '<c:prop-filter name="COMPLETED"><c:is-not-defined/></c:prop-filter>'


def calendar(*blocks: str, head: str = "") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" + head
            + "".join(blocks) + "END:VCALENDAR\r\n")


def vtodo(uid: str, *lines: str, summary: str = "Task") -> str:
    body = "".join(line + "\r\n" for line in lines)
    return (f"BEGIN:VTODO\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n{body}"
            f"SUMMARY:{summary}\r\nEND:VTODO\r\n")


def put(http: requests.Session, url: str, name: str, text: str) -> None:
    r = http.put(url + name, data=text.encode(), headers=ICS)
    assert r.status_code == 201, (r.status_code, r.text)


def query_body(start: str | None, end: str | None, expand: tuple[str, str] | None = None,
               extra: str = "", component: str = "VTODO") -> str:
    data = "<c:calendar-data/>"
    if expand is not None:
        data = f'<c:calendar-data><c:expand start="{expand[0]}" end="{expand[1]}"/></c:calendar-data>'
    bounds = "".join(f' {k}="{v}"' for k, v in (("start", start), ("end", end)) if v)
    time_range = f"<c:time-range{bounds}/>" if bounds else ""
    return ('<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" '
            f'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/>{data}</d:prop>'
            f'<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="{component}">'
            f"{time_range}{extra}</c:comp-filter></c:comp-filter></c:filter></c:calendar-query>")


def report(http: requests.Session, url: str, body: str) -> dict[str, str]:
    """member name -> calendar-data of a calendar-query's answer."""
    r = http.request("REPORT", url, data=body, headers=XML)
    assert r.status_code == 207, (r.status_code, r.text)
    found: dict[str, str] = {}
    for response in ElementTree.fromstring(r.content).iter("{DAV:}response"):
        name = unquote(urlsplit(response.findtext("{DAV:}href")).path.rsplit("/", 1)[-1])
        found[name] = response.findtext(f".//{CALDAV}calendar-data") or ""
    return found


def matched(http: requests.Session, url: str, start: str | None, end: str | None,
            expand: bool = False, extra: str = "") -> set[str]:
    """Members a VTODO time-range query returns, plain or with an expand of the same range."""
    window = (start or "19700101T000000Z", end or "21000101T000000Z") if expand else None
    return set(report(http, url, query_body(start, end, window, extra)))


def _utc(value: date | datetime) -> datetime | date:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return value


def instances(text: str) -> list[tuple]:
    """(RECURRENCE-ID, DTSTART, DUE, SUMMARY) of each VTODO of an expanded answer,
    checking RFC 4791 9.6.5: no rules, no VTIMEZONE, date-times in UTC."""
    cal = icalendar.Calendar.from_ical(text)
    assert not cal.walk("VTIMEZONE"), "expanded data carries no VTIMEZONE"
    rows = []
    for todo in cal.walk("VTODO"):
        assert not {"RRULE", "RDATE", "EXDATE"} & set(todo), todo.to_ical()
        values = []
        for name in ("RECURRENCE-ID", "DTSTART", "DUE"):
            prop = todo.get(name)
            if prop is not None and isinstance(prop.dt, datetime):
                assert prop.dt.tzinfo is not None and prop.dt.utcoffset().total_seconds() == 0 \
                    and "TZID" not in prop.params, f"{name} must be in UTC: {todo.to_ical()}"
            values.append(None if prop is None else _utc(prop.dt))
        rows.append((*values, str(todo.get("SUMMARY"))))
    return sorted(rows, key=lambda r: str(r[0]))


def at(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


# --- expand -----------------------------------------------------------------


def test_a_daily_task_is_expanded_with_its_due_moved(http, cal) -> None:
    url, _ = cal
    put(http, url, "daily.ics", calendar(vtodo(
        "daily", "DTSTART:20260105T090000Z", "DUE:20260105T170000Z",
        "RRULE:FREQ=DAILY;COUNT=10", "X-APP-MARK:kept", "BEGIN:VALARM", "ACTION:DISPLAY",
        "DESCRIPTION:Due", "TRIGGER;RELATED=END:-PT15M", "END:VALARM")))
    found = report(http, url, query_body("20260107T000000Z", "20260110T000000Z",
                                         ("20260107T000000Z", "20260110T000000Z")))
    assert list(found) == ["daily.ics"]
    assert instances(found["daily.ics"]) == [
        (at(f"202601{d:02d}T090000Z"), at(f"202601{d:02d}T090000Z"),
         at(f"202601{d:02d}T170000Z"), "Task") for d in (7, 8, 9)]
    # Each instance keeps the client's other lines, its alarm included.
    text = found["daily.ics"].replace("\r\n", "\n")
    assert text.count("X-APP-MARK:kept\n") == text.count("TRIGGER;RELATED=END:-PT15M\n") == 3


def test_a_zoned_task_is_expanded_in_utc_across_a_dst_change(http, cal) -> None:
    url, _ = cal
    tz = "".join(line + "\r\n" for line in BERLIN)
    put(http, url, "zoned.ics", calendar(vtodo(
        "zoned", "DTSTART;TZID=Europe/Berlin:20260327T090000",
        "DUE;TZID=Europe/Berlin:20260327T180000", "RRULE:FREQ=DAILY;COUNT=4"), head=tz))
    found = report(http, url, query_body("20260328T000000Z", "20260331T000000Z",
                                         ("20260328T000000Z", "20260331T000000Z")))
    # 09:00 Berlin is 08:00Z before 29 March 2026 and 07:00Z from then on.
    assert instances(found["zoned.ics"]) == [
        (at("20260328T080000Z"), at("20260328T080000Z"), at("20260328T170000Z"), "Task"),
        (at("20260329T070000Z"), at("20260329T070000Z"), at("20260329T160000Z"), "Task"),
        (at("20260330T070000Z"), at("20260330T070000Z"), at("20260330T160000Z"), "Task")]


def test_overrides_and_exdates_apply_to_an_expanded_task(http, cal) -> None:
    url, _ = cal
    text = calendar(
        vtodo("series", "DTSTART:20260105T090000Z", "DUE:20260105T100000Z",
              "RRULE:FREQ=DAILY;COUNT=10", "EXDATE:20260107T090000Z"),
        # the 8th moved to the afternoon, with its own DUE and title
        vtodo("series", "RECURRENCE-ID:20260108T090000Z", "DTSTART:20260108T140000Z",
              "DUE:20260108T160000Z", summary="Moved"),
        # the 12th moved into the window from outside it, the 6th out of it
        vtodo("series", "RECURRENCE-ID:20260112T090000Z", "DTSTART:20260109T200000Z",
              "DUE:20260109T210000Z", summary="Early"),
        vtodo("series", "RECURRENCE-ID:20260106T090000Z", "DTSTART:20260120T090000Z",
              "DUE:20260120T100000Z", summary="Late"))
    put(http, url, "series.ics", text)
    window = ("20260106T000000Z", "20260110T000000Z")
    found = report(http, url, query_body(*window, expand=window))
    assert instances(found["series.ics"]) == [
        (at("20260108T090000Z"), at("20260108T140000Z"), at("20260108T160000Z"), "Moved"),
        (at("20260109T090000Z"), at("20260109T090000Z"), at("20260109T100000Z"), "Task"),
        (at("20260112T090000Z"), at("20260109T200000Z"), at("20260109T210000Z"), "Early")]
    # Only an excluded day in the range: the task is not returned at all.
    assert matched(http, url, "20260107T000000Z", "20260108T000000Z") == set()
    assert matched(http, url, "20260107T000000Z", "20260108T000000Z", expand=True) == set()
    # The 6th moved away: its original day is empty, its new day is not.
    assert matched(http, url, "20260106T000000Z", "20260107T000000Z") == set()
    assert matched(http, url, "20260120T000000Z", "20260121T000000Z") == {"series.ics"}


def test_a_recurring_task_with_due_and_no_dtstart_recurs_from_its_due(http, cal) -> None:
    """RFC 5545 wants DTSTART with RRULE; tasks.org writes a repeating task with
    DUE alone. DUE is then the anchor of the rule (as vobject and tasks.org read
    it), so each instance has its DUE moved and no DTSTART."""
    url, _ = cal
    put(http, url, "weekly.ics", calendar(vtodo(
        "weekly", "DUE;VALUE=DATE:20260105", "RRULE:FREQ=WEEKLY;COUNT=5")))
    put(http, url, "timed.ics", calendar(vtodo(
        "timed", "DUE:20260105T170000Z", "RRULE:FREQ=WEEKLY;COUNT=5")))
    window = ("20260110T000000Z", "20260125T000000Z")
    found = report(http, url, query_body(*window, expand=window))
    assert set(found) == {"weekly.ics", "timed.ics"}
    assert instances(found["weekly.ics"]) == [
        (date(2026, 1, 12), None, date(2026, 1, 12), "Task"),
        (date(2026, 1, 19), None, date(2026, 1, 19), "Task")]
    assert instances(found["timed.ics"]) == [
        (at("20260112T170000Z"), None, at("20260112T170000Z"), "Task"),
        (at("20260119T170000Z"), None, at("20260119T170000Z"), "Task")]
    # After the last instance (2 February) nothing is due.
    assert matched(http, url, "20260203T000000Z", "20260301T000000Z") == set()
    assert matched(http, url, "20260203T000000Z", "20260301T000000Z", expand=True) == set()


def test_a_task_due_outside_the_range_is_not_returned(http, cal) -> None:
    url, _ = cal
    put(http, url, "march.ics", calendar(vtodo("march", "DUE:20260301T120000Z")))
    put(http, url, "january.ics", calendar(vtodo("january", "DUE:20260110T120000Z")))
    for expand in (False, True):
        assert matched(http, url, "20260105T000000Z", "20260112T000000Z",
                       expand=expand) == {"january.ics"}


# --- RFC 4791 9.9, the VTODO table: one row each ------------------------------

ROWS = {
    # row: (properties, [(start, end, matches)]); boundaries as the table says
    "DTSTART+DURATION": (["DTSTART:20260110T090000Z", "DURATION:PT2H"], [
        ("20260110T100000Z", "20260110T103000Z", True),   # inside
        ("20260110T110000Z", "20260110T120000Z", True),   # start == DTSTART+DURATION
        ("20260110T080000Z", "20260110T090000Z", False),  # end == DTSTART
        ("20260110T110001Z", "20260111T000000Z", False)]),
    "DTSTART+DUE": (["DTSTART:20260110T090000Z", "DUE:20260110T110000Z"], [
        ("20260110T100000Z", "20260110T103000Z", True),
        ("20260110T080000Z", "20260110T090001Z", True),
        ("20260110T110000Z", "20260110T120000Z", False),  # start == DUE
        ("20260110T080000Z", "20260110T090000Z", False)]),  # end == DTSTART
    "DTSTART": (["DTSTART:20260110T090000Z"], [
        ("20260110T090000Z", "20260110T090001Z", True),   # start == DTSTART
        ("20260110T080000Z", "20260110T090000Z", False),  # end == DTSTART
        ("20260110T090001Z", "20260111T000000Z", False)]),
    "DUE": (["DUE:20260110T090000Z"], [
        ("20260110T080000Z", "20260110T090000Z", True),   # end == DUE
        ("20260110T090000Z", "20260110T100000Z", False),  # start == DUE
        ("20260109T000000Z", "20260110T085959Z", False)]),
    "COMPLETED+CREATED": (["CREATED:20260105T090000Z", "COMPLETED:20260110T090000Z"], [
        ("20260107T000000Z", "20260108T000000Z", True),   # between them
        ("20260104T000000Z", "20260105T090000Z", True),   # end == CREATED
        ("20260110T090000Z", "20260111T000000Z", True),   # start == COMPLETED
        ("20260110T090001Z", "20260111T000000Z", False),
        ("20260101T000000Z", "20260105T085959Z", False)]),
    "COMPLETED": (["COMPLETED:20260110T090000Z"], [
        ("20260110T080000Z", "20260110T090000Z", True),   # end == COMPLETED
        ("20260110T090000Z", "20260110T100000Z", True),   # start == COMPLETED
        ("20260110T090001Z", "20260111T000000Z", False),
        ("20260109T000000Z", "20260110T085959Z", False)]),
    "CREATED": (["CREATED:20260110T090000Z"], [
        ("20260110T080000Z", "20260110T090001Z", True),
        ("20270101T000000Z", "20270102T000000Z", True),   # any time after it
        ("20260110T080000Z", "20260110T090000Z", False)]),  # end == CREATED
    "none": ([], [
        ("20000101T000000Z", "20000102T000000Z", True),
        ("20260110T080000Z", "20260110T090000Z", True)]),
}


@pytest.mark.parametrize("row", list(ROWS))
def test_each_row_of_the_vtodo_time_range_table(http, cal, row: str) -> None:
    url, _ = cal
    lines, cases = ROWS[row]
    put(http, url, "row.ics", calendar(vtodo("row", *lines)))
    for start, end, expected in cases:
        for expand in (False, True):
            got = matched(http, url, start, end, expand=expand)
            assert got == ({"row.ics"} if expected else set()), (row, start, end, expand)


def test_a_recurring_task_matches_by_its_instances(http, cal) -> None:
    """Every row applies to each instance, with DTSTART, DUE and DURATION moved."""
    url, _ = cal
    put(http, url, "dur.ics", calendar(vtodo(
        "dur", "DTSTART:20260105T090000Z", "DURATION:PT1H", "RRULE:FREQ=WEEKLY;COUNT=3")))
    put(http, url, "due.ics", calendar(vtodo(
        "due", "DTSTART:20260105T090000Z", "DUE:20260105T110000Z", "RRULE:FREQ=WEEKLY;COUNT=3")))
    # Second instance: 12 January 09:00 to 10:00 (dur) or 11:00 (due).
    for expand in (False, True):
        assert matched(http, url, "20260112T100001Z", "20260112T103000Z",
                       expand=expand) == {"due.ics"}
        assert matched(http, url, "20260112T095959Z", "20260112T100000Z",
                       expand=expand) == {"dur.ics", "due.ics"}
        assert matched(http, url, "20260113T000000Z", "20260119T000000Z", expand=expand) == set()
        assert matched(http, url, "20260126T000000Z", "20260201T000000Z",
                       expand=expand) == set()  # after COUNT


def test_date_values_are_days_in_the_calendars_zone(http, cal, sql) -> None:
    """RFC 4791 9.9: DATE values are read in the calendar's timezone."""
    url, cal_id = cal
    sql.execute("UPDATE calendars SET timezone = 'Pacific/Auckland' WHERE id = %s", (cal_id,))
    put(http, url, "dated.ics", calendar(vtodo("dated", "DUE;VALUE=DATE:20260110")))
    # Midnight of 10 January in Auckland (+13:00) is 11:00Z on the 9th.
    for expand in (False, True):
        assert matched(http, url, "20260109T100000Z", "20260109T110000Z",
                       expand=expand) == {"dated.ics"}
        assert matched(http, url, "20260109T110000Z", "20260110T000000Z",
                       expand=expand) == set()


# --- Thunderbird's open tasks ---------------------------------------------------


def test_open_tasks_filter_keeps_working_with_and_without_a_range(http, cal) -> None:
    url, _ = cal
    put(http, url, "open.ics", calendar(vtodo("open", "DUE:20260110T090000Z")))
    put(http, url, "undated.ics", calendar(vtodo("undated")))
    put(http, url, "later.ics", calendar(vtodo("later", "DUE:20260310T090000Z")))
    put(http, url, "done.ics", calendar(vtodo(
        "done", "DUE:20260110T090000Z", "COMPLETED:20260109T090000Z", "STATUS:COMPLETED")))
    everything = set(report(http, url, query_body(None, None, extra=OPEN_TASKS)))
    assert everything == {"open.ics", "undated.ics", "later.ics"}
    for expand in (False, True):
        assert matched(http, url, "20260105T000000Z", "20260112T000000Z", expand=expand,
                       extra=OPEN_TASKS) == {"open.ics", "undated.ics"}
    completed = '<c:prop-filter name="COMPLETED"/>'
    assert matched(http, url, "20260105T000000Z", "20260112T000000Z",
                   extra=completed) == {"done.ics"}




def test_a_time_range_after_the_prop_filter_counts_the_same(http, cal) -> None:
    """RFC 4791's DTD puts time-range first in a comp-filter; a client that
    writes it after the prop-filter means the same, and Radicale's matcher
    (which reads the comp-filter's first child as the range) found nothing."""
    url, _ = cal
    put(http, url, "open.ics", calendar(vtodo("open", "DUE:20260110T090000Z")))
    put(http, url, "later.ics", calendar(vtodo("later", "DUE:20260310T090000Z")))
    body = query_body(None, None).replace(
        '<c:comp-filter name="VTODO">',
        '<c:comp-filter name="VTODO">' + OPEN_TASKS
        + '<c:time-range start="20260105T000000Z" end="20260112T000000Z"/>')
    assert set(report(http, url, body)) == {"open.ics"}

# --- bounds and rows written before ------------------------------------------------


def test_an_expand_past_the_occurrence_limit_is_refused(http, cal) -> None:
    """Radicale's [reporting] max_expand_occurrence (10,000) holds for tasks as
    for events: two years of an hourly task is a 400, not 17,520 instances."""
    url, _ = cal
    put(http, url, "hourly.ics", calendar(vtodo("hourly", "DUE:20260105T170000Z",
                                                "RRULE:FREQ=HOURLY")))
    window = ("20260101T000000Z", "20280101T000000Z")
    r = http.request("REPORT", url, data=query_body(*window, expand=window), headers=XML)
    assert r.status_code == 400, (r.status_code, r.text[:300])
    # A week of it is fine: every hour from the first DUE on, and the one due
    # at the range's end (9.9: end >= DUE).
    week = ("20260101T000000Z", "20260108T000000Z")
    assert len(instances(report(http, url, query_body(*week, expand=week))["hourly.ics"])) \
        == 7 + 2 * 24 + 1


def test_a_task_stored_without_a_span_is_still_answered_exactly(http, cal, sql) -> None:
    """Rows written before tasks had a span (NULL: every range) are candidates
    of every query, and the table still decides."""
    url, cal_id = cal
    put(http, url, "old.ics", calendar(vtodo("old", "DUE:20260301T120000Z")))
    sql.execute("UPDATE calendar_objects SET range_start = NULL, range_end = NULL "
                "WHERE calendar_id = %s", (cal_id,))
    for expand in (False, True):
        assert matched(http, url, "20260105T000000Z", "20260112T000000Z", expand=expand) == set()
        assert matched(http, url, "20260301T000000Z", "20260302T000000Z",
                       expand=expand) == {"old.ics"}
