"""The instance index: next_occurrence, time-range answers from it, the
maintenance pass for rows other writers changed, and the guard rails."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from backside_caldav.db import engines as db
from backside_caldav.db import maintenance

UTC = timezone.utc


def series(uid: str, rule: str, start: str = "20300107T090000", extra: str = "") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:{start}\r\n"
            f"DURATION:PT1H\r\nRRULE:{rule}\r\nSUMMARY:{uid}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n")


def query(start: str, end: str, expand: bool = False) -> str:
    data = f'<c:calendar-data><c:expand start="{start}" end="{end}"/></c:calendar-data>' \
        if expand else ""
    return ('<?xml version="1.0"?><c:calendar-query xmlns:d="DAV:" '
            f'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/>{data}</d:prop>'
            '<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">'
            f'<c:time-range start="{start}" end="{end}"/></c:comp-filter></c:comp-filter>'
            '</c:filter></c:calendar-query>')


def report(http, url: str, body: str):
    return http.request("REPORT", url, data=body,
                        headers={"Depth": "1", "Content-Type": "application/xml"})


def next_occurrence(sql, tenant: str, uid: str) -> datetime | None:
    return sql.execute("SELECT next_occurrence FROM events WHERE tenant_id = %s AND uid = %s "
                       "AND series_id IS NULL", (tenant, uid)).fetchone()[0]


def test_next_occurrence_after_caldav_write(http, account, sql, cal) -> None:
    url, _ = cal
    r = http.put(url + "w.ics", data=series("occ-w", "FREQ=WEEKLY"),
                 headers={"Content-Type": "text/calendar"})
    assert r.status_code == 201
    assert next_occurrence(sql, account.tenant_id, "occ-w") == datetime(2030, 1, 7, 8, tzinfo=UTC)
    stale, count = sql.execute(
        "SELECT e.occurrence_stale, (SELECT count(*) FROM event_instances i "
        "WHERE i.tenant_id = e.tenant_id AND i.event_id = e.id) FROM events e "
        "WHERE e.tenant_id = %s AND e.uid = 'occ-w'", (account.tenant_id,)).fetchone()
    # Indexed from the start up to a year from now (endless rule).
    assert stale is False and count > 0


def test_sql_written_series_is_found_before_and_after_maintenance(http, account, sql, cal,
                                                                   database_url) -> None:
    url, cal_id = cal
    sql.execute(
        "INSERT INTO events (tenant_id, calendar_id, uid, title, start_time, end_time, timezone, "
        "rrule) VALUES (%s, %s, 'occ-sql', 'From SQL', '2030-01-07 08:00Z', '2030-01-07 09:00Z', "
        "'Europe/Berlin', 'FREQ=WEEKLY;COUNT=10')", (account.tenant_id, cal_id))
    assert next_occurrence(sql, account.tenant_id, "occ-sql") is None
    # Not indexed yet: still found (from its span) in the 5th week, not after the 10th.
    before = report(http, url, query("20300204T000000Z", "20300205T000000Z", expand=True))
    assert before.status_code == 207 and "From SQL" in before.text
    gone = report(http, url, query("20300318T000000Z", "20300319T000000Z", expand=True))
    assert gone.status_code == 207 and "From SQL" not in gone.text
    frozen = datetime(2030, 1, 8, tzinfo=UTC)
    assert maintenance.reindex(db.get_engine(database_url), now=frozen) >= 1
    assert next_occurrence(sql, account.tenant_id, "occ-sql") == datetime(2030, 1, 14, 8,
                                                                           tzinfo=UTC)
    hit = report(http, url, query("20300204T000000Z", "20300205T000000Z", expand=True))
    assert hit.status_code == 207 and "From SQL" in hit.text
    after = report(http, url, query("20300318T000000Z", "20300319T000000Z", expand=True))
    assert after.status_code == 207 and "From SQL" not in after.text


def test_time_passing_moves_next_occurrence_on(http, account, sql, cal, database_url) -> None:
    url, cal_id = cal
    http.put(url + "t.ics", data=series("occ-time", "FREQ=WEEKLY;COUNT=3",
                                        extra="EXDATE;TZID=Europe/Berlin:20300114T090000\r\n"),
             headers={"Content-Type": "text/calendar"}).raise_for_status()
    engine = db.get_engine(database_url)
    maintenance.reindex(engine, now=datetime(2030, 1, 8, tzinfo=UTC))
    # The 14th is excluded: the next one is the 21st.
    assert next_occurrence(sql, account.tenant_id, "occ-time") == datetime(2030, 1, 21, 8,
                                                                            tzinfo=UTC)
    maintenance.reindex(engine, now=datetime(2030, 1, 22, tzinfo=UTC))
    assert next_occurrence(sql, account.tenant_id, "occ-time") is None  # the series is over


def test_dst_is_kept_in_the_index(http, account, sql, cal) -> None:
    url, _ = cal
    http.put(url + "d.ics", data=series("occ-dst", "FREQ=WEEKLY;COUNT=3", start="20300318T090000"),
             headers={"Content-Type": "text/calendar"}).raise_for_status()
    starts = [r[0] for r in sql.execute(
        "SELECT i.start_time FROM event_instances i JOIN events e ON e.tenant_id = i.tenant_id "
        "AND e.id = i.event_id WHERE e.tenant_id = %s AND e.uid = 'occ-dst' ORDER BY 1",
        (account.tenant_id,))]
    # 09:00 in Berlin: CET until 31 March 2030, then CEST.
    assert starts == [datetime(2030, 3, 18, 8, tzinfo=UTC), datetime(2030, 3, 25, 8, tzinfo=UTC),
                      datetime(2030, 4, 1, 7, tzinfo=UTC)]


def test_a_daily_series_since_1970_is_stored_and_found(http, account, sql, cal) -> None:
    """Over 20,000 occurrences because it is old, not because it is dense: it is
    answered from its span (as series other writers leave unindexed), not refused."""
    url, _ = cal
    r = http.put(url + "old.ics", data=series("occ-old", "FREQ=DAILY", start="19700101T090000"),
                 headers={"Content-Type": "text/calendar"})
    assert r.status_code == 201, r.text
    week = report(http, url, query("20300107T000000Z", "20300114T000000Z", expand=True))
    assert week.status_code == 207 and "old.ics" in week.text
    # 09:00 in Berlin in January is 08:00 UTC, one instance a day.
    assert week.text.count("RECURRENCE-ID:") == 7 and "DTSTART:20300110T080000Z" in week.text
    past = report(http, url, query("19800303T000000Z", "19800304T000000Z", expand=True))
    assert past.text.count("RECURRENCE-ID:") == 1 and "DTSTART:19800303T080000Z" in past.text
    upcoming = next_occurrence(sql, account.tenant_id, "occ-old")
    assert upcoming is not None and upcoming.hour in (7, 8) and upcoming > datetime.now(UTC)
    busy = http.request("REPORT", url, headers={"Depth": "1"}, data=(
        '<?xml version="1.0"?><c:free-busy-query xmlns:c="urn:ietf:params:xml:ns:caldav">'
        '<c:time-range start="20300114T000000Z" end="20300115T000000Z"/></c:free-busy-query>'))
    assert busy.status_code == 200 and "20300114T080000Z/PT1H" in busy.text.replace(
        "20300114T080000Z/20300114T090000Z", "20300114T080000Z/PT1H"), busy.text


def test_secondly_rule_is_refused_with_a_reason(http, account, sql, cal) -> None:
    url, _ = cal
    r = http.put(url + "s.ics", data=series("occ-sec", "FREQ=SECONDLY"),
                 headers={"Content-Type": "text/calendar"})
    assert r.status_code == 403  # RFC 4791 1.3 and 5.3.2.1: CALDAV:max-instances
    assert "<C:max-instances/>" in r.text and "too many occurrences" in r.text
    assert sql.execute("SELECT count(*) FROM events WHERE tenant_id = %s AND uid = 'occ-sec'",
                       (account.tenant_id,)).fetchone() == (0,)


def test_hundred_year_queries_are_bounded(http, account, cal) -> None:
    url, _ = cal
    http.put(url + "daily.ics", data=series("occ-daily", "FREQ=DAILY"),
             headers={"Content-Type": "text/calendar"}).raise_for_status()
    began = time.monotonic()
    r = report(http, url, query("20000101T000000Z", "21000101T000000Z"))
    assert r.status_code == 207 and "daily.ics" in r.text
    big = report(http, url, query("20000101T000000Z", "21000101T000000Z", expand=True))
    assert 400 <= big.status_code < 500  # more occurrences than one answer may hold
    assert time.monotonic() - began < 30


def test_free_busy_report(http, account, sql, cal) -> None:
    url, cal_id = cal
    body = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:fb-{0}\r\n"
            "DTSTAMP:20260101T000000Z\r\nDTSTART:20300107T{1}0000Z\r\nDTEND:20300107T{2}0000Z\r\n"
            "{3}END:VEVENT\r\nEND:VCALENDAR\r\n")
    for name, start, end, extra in (
            ("busy", "09", "10", ""),
            ("free", "11", "12", "TRANSP:TRANSPARENT\r\n"),
            ("maybe", "13", "14", "STATUS:TENTATIVE\r\n"),
            ("off", "15", "16", "STATUS:CANCELLED\r\n"),
            ("weekly", "17", "18", "RRULE:FREQ=WEEKLY;COUNT=5\r\n")):
        http.put(url + f"{name}.ics", data=body.format(name, start, end, extra),
                 headers={"Content-Type": "text/calendar"}).raise_for_status()
    # Not indexed yet (written by another application): expanded on the fly.
    sql.execute("INSERT INTO events (tenant_id, calendar_id, title, start_time, end_time, "
                "timezone, rrule) VALUES (%s, %s, 'SQL', '2030-01-01 20:00Z', "
                "'2030-01-01 21:00Z', 'UTC', 'FREQ=DAILY')", (account.tenant_id, cal_id))
    query = ('<?xml version="1.0"?><c:free-busy-query xmlns:c="urn:ietf:params:xml:ns:caldav">'
             '<c:time-range start="20300114T000000Z" end="20300115T000000Z"/></c:free-busy-query>')
    r = report(http, url, query)
    assert r.status_code == 200
    lines = [line for line in r.text.replace("\r\n ", "").splitlines()
             if line.startswith("FREEBUSY")]
    assert lines == ["FREEBUSY;FBTYPE=BUSY:20300114T170000Z/20300114T180000Z",
                     "FREEBUSY;FBTYPE=BUSY:20300114T200000Z/20300114T210000Z"]
    day = query.replace("20300114T000000Z", "20300107T000000Z").replace(
        "20300115T000000Z", "20300108T000000Z")
    lines = [line for line in report(http, url, day).text.splitlines()
             if line.startswith("FREEBUSY")]
    assert lines == ["FREEBUSY;FBTYPE=BUSY:20300107T090000Z/20300107T100000Z",
                     "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20300107T130000Z/20300107T140000Z",
                     "FREEBUSY;FBTYPE=BUSY:20300107T170000Z/20300107T180000Z",
                     "FREEBUSY;FBTYPE=BUSY:20300107T200000Z/20300107T210000Z"]


def test_free_busy_is_answered_from_the_index(database_url) -> None:
    from radicale.app import report

    from backside_caldav.app import build_app
    from backside_caldav.dav import freebusy
    build_app(database_url)
    assert report.freebusy_collection_text is freebusy._freebusy_collection_text
