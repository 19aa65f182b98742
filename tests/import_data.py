"""iCalendar texts for the import tests, built from parts so that each test
knows the exact bytes every resource must have after a split."""

from __future__ import annotations

import uuid

import requests

CRLF = "\r\n"
HEADER = ["VERSION:2.0", "PRODID:-//Import Test//Exporter 1.0//EN", "CALSCALE:GREGORIAN"]
BERLIN = ["BEGIN:VTIMEZONE", "TZID:Europe/Berlin", "BEGIN:STANDARD",
          "DTSTART:19701025T030000", "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
          "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", "TZNAME:CET", "END:STANDARD",
          "BEGIN:DAYLIGHT", "DTSTART:19700329T020000", "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
          "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200", "TZNAME:CEST", "END:DAYLIGHT",
          "END:VTIMEZONE"]
NEW_YORK = ["BEGIN:VTIMEZONE", "TZID:America/New_York", "BEGIN:STANDARD",
            "DTSTART:19701101T020000", "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU",
            "TZOFFSETFROM:-0400", "TZOFFSETTO:-0500", "TZNAME:EST", "END:STANDARD",
            "BEGIN:DAYLIGHT", "DTSTART:19700308T020000", "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU",
            "TZOFFSETFROM:-0500", "TZOFFSETTO:-0400", "TZNAME:EDT", "END:DAYLIGHT",
            "END:VTIMEZONE"]


def lines(parts: list[str], eol: str = CRLF) -> str:
    return "".join(p + eol for p in parts)


def event(uid: str, start: str = "20300107T100000Z", summary: str = "Meeting",
          extra: list[str] | None = None, tz: str | None = None) -> list[str]:
    dtstart = f"DTSTART;TZID={tz}:{start}" if tz else f"DTSTART:{start}"
    return ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20300101T000000Z", dtstart,
            "DURATION:PT1H", f"SUMMARY:{summary}", *(extra or []), "END:VEVENT"]


def series(uid: str) -> tuple[list[str], list[str], list[str]]:
    """A weekly series in Berlin time (with an alarm and an X- property folded over
    two lines) and two overridden instances."""
    master = ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20300101T000000Z",
              "DTSTART;TZID=Europe/Berlin:20300107T090000",
              "DTEND;TZID=Europe/Berlin:20300107T093000", "RRULE:FREQ=WEEKLY;COUNT=10",
              "SUMMARY:Stand-up", "X-APPLE-STRUCTURED-LOCATION;VALUE=URI;X-TITLE=Office:geo:52.5",
              " 2,13.40", "BEGIN:VALARM", "ACTION:DISPLAY", "TRIGGER:-PT10M",
              "DESCRIPTION:Stand-up", "END:VALARM", "END:VEVENT"]
    moved = ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20300101T000000Z",
             "RECURRENCE-ID;TZID=Europe/Berlin:20300114T090000",
             "DTSTART;TZID=Europe/Berlin:20300114T110000",
             "DTEND;TZID=Europe/Berlin:20300114T113000", "SUMMARY:Stand-up (moved)",
             "END:VEVENT"]
    renamed = ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20300101T000000Z",
               "RECURRENCE-ID;TZID=Europe/Berlin:20300121T090000",
               "DTSTART;TZID=Europe/Berlin:20300121T090000",
               "DTEND;TZID=Europe/Berlin:20300121T093000", "SUMMARY:Retro instead",
               "END:VEVENT"]
    return master, moved, renamed


def todo(uid: str, summary: str = "Buy milk") -> list[str]:
    return ["BEGIN:VTODO", f"UID:{uid}", "DTSTAMP:20300101T000000Z", f"SUMMARY:{summary}",
            "STATUS:NEEDS-ACTION", "END:VTODO"]


def calendar(*components: list[str], zones: tuple[list[str], ...] = (),
             extra_header: tuple[str, ...] = (), eol: str = CRLF) -> str:
    """A VCALENDAR of these components, as an exporter or a PUT would send it."""
    parts = ["BEGIN:VCALENDAR", *HEADER, *extra_header]
    for zone in zones:
        parts += zone
    for component in components:
        parts += component
    return lines(parts + ["END:VCALENDAR"], eol)


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def hrefs(http: requests.Session, collection_url: str) -> set[str]:
    """The member names of a collection, by PROPFIND."""
    answer = http.request("PROPFIND", collection_url, headers={"Depth": "1"},
                          data='<propfind xmlns="DAV:"><prop><getetag/></prop></propfind>')
    assert answer.status_code == 207, answer.text
    import re
    found = re.findall(r"<(?:\w+:)?href>([^<]+)</(?:\w+:)?href>", answer.text)
    path = collection_url.split("/", 3)[3]
    return {h.rsplit("/", 1)[1] for h in found if h.strip("/") != path.strip("/")}


def fetch(http: requests.Session, url: str) -> bytes:
    answer = http.get(url)
    assert answer.status_code == 200, (url, answer.status_code, answer.text)
    return answer.content
