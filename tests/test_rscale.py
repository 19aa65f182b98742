"""RFC 7529 RSCALE/SKIP over HTTP: stored byte for byte, GREGORIAN expanded with
SKIP in every reader (time-range, expand, free-busy, the JSON API), other CLDR
scales kept findable, a name that is no calendar refused, and the set the
server takes advertised as supported-rscale-set."""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timezone

import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from test_freebusy import freebusy

from backside_caldav.domain import rscale

UTC = timezone.utc


def series(uid: str, rule: str, start: str = "DTSTART;TZID=Europe/Berlin:20260131T090000",
           end: str = "DTEND;TZID=Europe/Berlin:20260131T100000") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//RFC 7529 client//EN\r\n"
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n{start}\r\n{end}\r\n"
            f"SUMMARY:{uid}\r\nRRULE:{rule}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def put(http: requests.Session, url: str, text: str) -> requests.Response:
    return http.put(url, data=text.encode(), headers={"Content-Type": "text/calendar"})


def query(http: requests.Session, cal_url: str, start: str, end: str,
          expand: bool = False) -> str:
    data = ('<C:calendar-data><C:expand start="{0}" end="{1}"/></C:calendar-data>'
            if expand else "").format(start, end)
    body = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/>'
            f'{data}</D:prop><C:filter><C:comp-filter name="VCALENDAR">'
            f'<C:comp-filter name="VEVENT"><C:time-range start="{start}" end="{end}"/>'
            '</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>')
    r = http.request("REPORT", cal_url, data=body,
                     headers={"Depth": "1", "Content-Type": "application/xml"})
    assert r.status_code == 207, (r.status_code, r.text)
    return r.text


def hrefs(text: str) -> list[str]:
    return [h.rsplit("/", 1)[-1] for h in re.findall(r"<[^>]*href>([^<]+)</", text)]


def test_gregorian_skip_forward_is_stored_and_expanded_in_every_reader(http, cal) -> None:
    cal_url, _ = cal
    forward = series("fwd", "RSCALE=GREGORIAN;FREQ=MONTHLY;BYMONTHDAY=31;SKIP=FORWARD")
    omit = series("omit", "RSCALE=GREGORIAN;FREQ=MONTHLY;BYMONTHDAY=31")
    for name, text in (("fwd.ics", forward), ("omit.ics", omit)):
        r = put(http, cal_url + name, text)
        assert r.status_code == 201, (r.status_code, r.text)
        assert http.get(cal_url + name).content == text.encode()
    # February has no 31st: FORWARD moves it to March 1, OMIT leaves it out.
    assert hrefs(query(http, cal_url, "20260301T000000Z", "20260302T000000Z")) == ["fwd.ics"]
    assert hrefs(query(http, cal_url, "20260201T000000Z", "20260301T000000Z")) == []
    expanded = query(http, cal_url, "20260201T000000Z", "20260501T000000Z", expand=True)
    starts = sorted(set(re.findall(r"DTSTART:(\d{8}T\d{6}Z)", expanded)))
    # fwd: Mar 1, Mar 31 (Apr 31 -> May 1 is outside); omit: Mar 31 (08:00Z in CET,
    # 07:00Z from the summer time on)
    assert starts == ["20260301T080000Z", "20260331T070000Z"]
    assert expanded.count("DTSTART:20260331T070000Z") == 2
    busy = freebusy(http, cal_url, "20260301T000000Z", "20260302T000000Z")
    assert busy and "20260301T080000Z/20260301T090000Z" in busy[0]
    # Two years on, past the instance index's horizon: still the moved day.
    assert hrefs(query(http, cal_url, "20280501T000000Z", "20280502T000000Z")) == ["fwd.ics"]
    assert hrefs(query(http, cal_url, "20280502T000000Z", "20280530T000000Z")) == []


def test_gregorian_skip_backward_on_a_leap_day_and_a_leap_month(http, cal) -> None:
    cal_url, _ = cal
    leap_day = series("feb29", "RSCALE=GREGORIAN;FREQ=YEARLY;SKIP=BACKWARD;COUNT=5",
                      "DTSTART;VALUE=DATE:20240229", "DTEND;VALUE=DATE:20240301")
    leap_month = series("june", "RSCALE=GREGORIAN;FREQ=YEARLY;BYMONTH=5L;BYMONTHDAY=8;"
                        "SKIP=FORWARD;COUNT=3", "DTSTART:20260608T120000Z",
                        "DTEND:20260608T130000Z")
    for name, text in (("feb29.ics", leap_day), ("june.ics", leap_month)):
        r = put(http, cal_url + name, text)
        assert r.status_code == 201, (r.status_code, r.text)
        assert http.get(cal_url + name).content == text.encode()
    expanded = query(http, cal_url, "20250101T000000Z", "20260101T000000Z", expand=True)
    assert re.findall(r"DTSTART;VALUE=DATE:(\d{8})", expanded) == ["20250228"]
    # 5L does not exist in the Gregorian calendar: FORWARD makes it June.
    assert hrefs(query(http, cal_url, "20270608T000000Z", "20270609T000000Z")) == ["june.ics"]


def test_the_json_api_lists_the_moved_occurrences(server, database_url, sql) -> None:
    from test_sidecar_api import new_api
    api = new_api(server, database_url, sql)
    try:
        calendars = api.get("/calendars").json()["calendars"]
        url = (f"{api.base.removesuffix('api/v1')}{api.account.username}/"
               f"{calendars[0]['href']}/back.ics")
        auth = (api.account.username, api.account.password)
        text = series("back", "RSCALE=GREGORIAN;FREQ=MONTHLY;BYMONTHDAY=31;SKIP=BACKWARD;"
                      "COUNT=4")
        r = requests.put(url, data=text.encode(), auth=auth, timeout=30,
                         headers={"Content-Type": "text/calendar"})
        assert r.status_code == 201, r.text
        listed = api.get("/events", start="2026-01-01T00:00:00Z", end="2026-06-01T00:00:00Z")
        starts = [d["occurrence_start"] for d in listed.json()["data"]]
        assert starts == ["2026-01-31T08:00:00Z", "2026-02-28T08:00:00Z",
                          "2026-03-31T07:00:00Z", "2026-04-30T07:00:00Z"]
    finally:
        api.session.close()


def test_another_calendar_scale_is_kept_and_found_conservatively(http, cal) -> None:
    cal_url, _ = cal
    text = series("hebrew", "RSCALE=HEBREW;FREQ=YEARLY;BYMONTH=5L;BYMONTHDAY=8;SKIP=FORWARD",
                  "DTSTART:20260208T120000Z", "DTEND:20260208T130000Z")
    r = put(http, cal_url + "hebrew.ics", text)
    assert r.status_code == 201, (r.status_code, r.text)
    assert http.get(cal_url + "hebrew.ics").content == text.encode()
    # The first instance, and any later window (the server cannot tell which
    # days the Hebrew calendar gives: it answers as a server that cannot expand).
    assert hrefs(query(http, cal_url, "20260208T000000Z", "20260209T000000Z")) == ["hebrew.ics"]
    assert hrefs(query(http, cal_url, "20270301T000000Z", "20270302T000000Z")) == ["hebrew.ics"]
    assert hrefs(query(http, cal_url, "20250101T000000Z", "20250102T000000Z")) == []
    expanded = query(http, cal_url, "20270101T000000Z", "20280101T000000Z", expand=True)
    assert "RSCALE=HEBREW" in expanded  # the series as stored, for the client to expand
    assert freebusy(http, cal_url, "20260208T000000Z", "20260209T000000Z")


def test_an_rscale_that_is_no_calendar_is_refused(http, cal) -> None:
    cal_url, _ = cal
    r = put(http, cal_url + "nope.ics", series("nope", "RSCALE=NOPE;FREQ=YEARLY"))
    assert r.status_code == 403 and "supported-rscale" in r.text, (r.status_code, r.text)
    assert "RSCALE=NOPE is not a calendar" in r.text, r.text
    assert http.get(cal_url + "nope.ics").status_code == 404
    r = put(http, cal_url + "skip.ics", series("skip", "FREQ=MONTHLY;SKIP=FORWARD"))
    assert r.status_code == 403 and "valid-calendar-data" in r.text, (r.status_code, r.text)
    assert "SKIP may only be given with RSCALE" in r.text, r.text
    assert http.get(cal_url + "skip.ics").status_code == 404


def test_supported_rscale_set_is_advertised(http, cal) -> None:
    cal_url, _ = cal
    body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:supported-rscale-set/>'
            '<D:displayname/></D:prop></D:propfind>')
    r = http.request("PROPFIND", cal_url, data=body,
                     headers={"Depth": "0", "Content-Type": "application/xml"})
    assert r.status_code == 207, r.text
    names = re.findall(r"<[^>]*supported-rscale>([^<]+)</", r.text)
    assert "GREGORIAN" in names and "HEBREW" in names and "NOPE" not in names
    assert "200 OK" in r.text and "404" not in r.text, r.text
    assert r.text.count("propstat>") == 2, r.text  # one propstat: both found


def test_rscale_rules_expand_as_rfc_7529_says() -> None:
    """The examples of RFC 7529 section 3.2 and Apple's CalendarServer tests."""
    def first(rule: str, start: datetime, n: int) -> list[str]:
        found = []
        for instance in rscale.rule(rule, start):
            found.append(instance.strftime("%Y%m%d"))
            if len(found) == n:
                break
        return found
    leap = datetime(2016, 2, 29)
    assert first("RSCALE=GREGORIAN;FREQ=YEARLY;SKIP=FORWARD;COUNT=5", leap, 5) == [
        "20160229", "20170301", "20180301", "20190301", "20200229"]
    assert first("RSCALE=GREGORIAN;FREQ=YEARLY;SKIP=BACKWARD;COUNT=5", leap, 5) == [
        "20160229", "20170228", "20180228", "20190228", "20200229"]
    assert first("RSCALE=GREGORIAN;FREQ=YEARLY;COUNT=3", leap, 3) == [
        "20160229", "20200229", "20240229"]
    assert first("RSCALE=GREGORIAN;FREQ=MONTHLY;BYMONTHDAY=-31;SKIP=FORWARD;COUNT=3",
                 datetime(2026, 3, 1), 3) == ["20260301", "20260401", "20260501"]
    assert first("RSCALE=GREGORIAN;FREQ=YEARLY;BYMONTH=12L;SKIP=FORWARD;COUNT=2",
                 datetime(2026, 1, 5), 2) == ["20270105", "20280105"]
    assert list(rscale.rule("RSCALE=GREGORIAN;FREQ=YEARLY;BYMONTH=5L;COUNT=2",
                            datetime(2026, 1, 5, tzinfo=UTC))) == []


def test_a_time_range_with_a_text_match_reads_rscale_series(http, cal) -> None:
    """Radicale decides such a query itself with vobject, which cannot read
    RSCALE: one such event made the whole REPORT a 400."""
    cal_url, _ = cal
    for name, rule in (("hebrew", "RSCALE=HEBREW;FREQ=YEARLY"),
                       ("greg", "RSCALE=GREGORIAN;FREQ=MONTHLY;BYMONTHDAY=31;SKIP=FORWARD"),
                       ("plain", "FREQ=MONTHLY;BYMONTHDAY=31")):
        assert put(http, cal_url + f"{name}.ics", series(name, rule)).status_code == 201

    def matching(start: str, end: str, text: str) -> list[str]:
        body = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
                'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>'
                '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
                f'<C:time-range start="{start}" end="{end}"/><C:prop-filter name="SUMMARY">'
                f'<C:text-match>{text}</C:text-match></C:prop-filter></C:comp-filter>'
                '</C:comp-filter></C:filter></C:calendar-query>')
        r = http.request("REPORT", cal_url, data=body,
                         headers={"Depth": "1", "Content-Type": "application/xml"})
        assert r.status_code == 207, (r.status_code, r.text)
        return sorted(hrefs(r.text))

    # March 1: only the FORWARD series (and, conservatively, the Hebrew one).
    assert matching("20260301T000000Z", "20260302T000000Z", "e") == ["greg.ics", "hebrew.ics"]
    assert matching("20260301T000000Z", "20260302T000000Z", "greg") == ["greg.ics"]
    assert matching("20260331T000000Z", "20260401T000000Z", "e") == ["greg.ics", "hebrew.ics"]
    assert matching("20260331T000000Z", "20260401T000000Z", "a") == ["plain.ics"]
    # Past the index's horizon too.
    assert matching("20280501T000000Z", "20280502T000000Z", "greg") == ["greg.ics"]
    assert matching("20280502T000000Z", "20280530T000000Z", "greg") == []



@settings(max_examples=200, deadline=None, database=None)
@given(start=st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 1)),
       day=st.integers(-31, 31).filter(bool), interval=st.integers(1, 3),
       skip=st.sampled_from(["OMIT", "BACKWARD", "FORWARD"]))
def test_monthly_on_a_day_skips_as_rfc_7529_says(start: date, day: int, interval: int,
                                                 skip: str) -> None:
    """Monthly on day `day`: each month of the series gives that day where it
    exists; elsewhere nothing (OMIT), its last day (BACKWARD) or the next
    month's first (FORWARD); for a negative day that misses, the day before
    the month (BACKWARD) or its first (FORWARD). Checked against a month walk."""
    dtstart = datetime(start.year, start.month, 1, 9, 30, tzinfo=UTC)
    rule = f"RSCALE=GREGORIAN;FREQ=MONTHLY;INTERVAL={interval};BYMONTHDAY={day};SKIP={skip}"
    got = []
    for instance in rscale.rule(rule, dtstart):
        got.append(instance)
        if len(got) == 24:
            break
    expected = []
    year, month = dtstart.year, dtstart.month
    while len(expected) < 30:  # some fall before the start
        length = calendar.monthrange(year, month)[1]
        position = day if day > 0 else length + day + 1
        if 1 <= position <= length:
            expected.append(date(year, month, position))
        elif skip == "BACKWARD":
            expected.append(date(year, month, length) if position > length
                            else date.fromordinal(date(year, month, 1).toordinal() - 1))
        elif skip == "FORWARD":
            expected.append(date.fromordinal(date(year, month, length).toordinal() + 1)
                            if position > length else date(year, month, 1))
        month += interval
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    expected = sorted({d for d in expected if d >= start.replace(day=1)})[:24]
    assert [g.date() for g in got] == expected[:len(got)]
    assert len(got) == min(24, len(expected))
    assert all((g.hour, g.minute, g.tzinfo) == (9, 30, UTC) for g in got)


def test_a_multiget_expands_rscale_and_zone_less_series(http, cal, sql) -> None:
    """calendar-multiget with expand gets no occurrences from the index, and
    Radicale's expand cannot read RSCALE (400) or a TZID without zone (500)."""
    cal_url, cal_id = cal
    sql.execute("UPDATE calendars SET timezone = 'Europe/Berlin' WHERE id = %s", (cal_id,))
    tz = '"Western/Central Europe"'
    texts = {"g": series("g", "RSCALE=GREGORIAN;FREQ=MONTHLY;BYMONTHDAY=31;SKIP=FORWARD"),
             "h": series("h", "RSCALE=HEBREW;FREQ=YEARLY"),
             "u": series("u", "FREQ=WEEKLY", f"DTSTART;TZID={tz}:20260317T090000",
                         f"DTEND;TZID={tz}:20260317T100000")}
    for name, text in texts.items():
        assert put(http, cal_url + f"{name}.ics", text).status_code == 201
    path = "/" + cal_url.split("//", 1)[1].split("/", 1)[1]
    found = {}
    for name in texts:
        body = ('<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" '
                'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/>'
                '<C:calendar-data><C:expand start="20260301T000000Z" end="20260401T000000Z"/>'
                f'</C:calendar-data></D:prop><D:href>{path}{name}.ics</D:href>'
                '</C:calendar-multiget>')
        r = http.request("REPORT", cal_url, data=body,
                         headers={"Depth": "1", "Content-Type": "application/xml"})
        assert r.status_code == 207, (name, r.status_code, r.text)
        found[name] = r.text
    assert re.findall(r"DTSTART:(\S+)", found["g"]) == ["20260301T080000Z",
                                                       "20260331T070000Z"]
    assert "RSCALE=HEBREW" in found["h"]
    assert re.findall(r"DTSTART:(\S+)", found["u"]) == [
        "20260317T080000Z", "20260324T080000Z", "20260331T070000Z"]
