"""A PUT's VTIMEZONEs come from a cache of parsed blocks: the records must not change.

The reference for every comparison is the same text parsed whole, with the
cache switched off, as before the cache existed.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from backside_caldav.domain import ical_parse, timezone_blocks
from backside_caldav.domain.errors import InvalidCalendarData

CORPUS = sorted((Path(__file__).parent / "corpus").glob("*.ics"))
WITH_ZONES = [p for p in CORPUS if "BEGIN:VTIMEZONE" in p.read_text()]

BERLIN = ("BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\n"
          "TZOFFSETTO:+0200\r\nDTSTART:19810329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU"
          "\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n"
          "DTSTART:19961027T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\n"
          "END:VTIMEZONE\r\n")
# A zone no database knows: only the resource's own VTIMEZONE says what it means.
CUSTOM = ("BEGIN:VTIMEZONE\r\nTZID:Backside Test Standard Time\r\nBEGIN:STANDARD\r\n"
          "DTSTART:16010101T000000\r\nTZOFFSETFROM:+0530\r\nTZOFFSETTO:+0530\r\n"
          "END:STANDARD\r\nEND:VTIMEZONE\r\n")
EVENT = ("BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
         "DTSTART;TZID={tzid}:20260305T090000\r\nDTEND;TZID={tzid}:20260305T100000\r\n"
         "RRULE:FREQ=WEEKLY;COUNT=4\r\nSUMMARY:s\r\nEND:VEVENT\r\n")
HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
TAIL = "END:VCALENDAR\r\n"


def event(tzid: str, uid: str = "tz-1") -> str:
    return EVENT.format(uid=uid, tzid=tzid)


def whole_parse(text: str, monkeypatch: pytest.MonkeyPatch) -> object:
    """parse_resource as it was before the cache: the whole text, every time."""
    with monkeypatch.context() as m:
        m.setattr(timezone_blocks, "split", lambda _text: None)
        ical_parse.forget_last_parse()
        return ical_parse.parse_resource(text)


def cached_parse(text: str) -> object:
    ical_parse.forget_last_parse()
    return ical_parse.parse_resource(text)


@pytest.mark.parametrize("path", WITH_ZONES, ids=[p.stem for p in WITH_ZONES])
def test_corpus_records_do_not_change(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = path.read_text()
    assert timezone_blocks.split(text) is not None, "the corpus file is not cut"
    reference = whole_parse(text, monkeypatch)
    assert cached_parse(text) == reference  # blocks parsed now
    assert cached_parse(text) == reference  # blocks from the cache


def test_corpus_has_zones_to_cut() -> None:
    assert len(WITH_ZONES) >= 10


def test_blocks_are_cut_out_and_parsed_once() -> None:
    text = HEAD + BERLIN + event("Europe/Berlin") + TAIL
    rest, zones = timezone_blocks.split(text)
    assert rest == HEAD + event("Europe/Berlin") + TAIL
    assert [str(z["TZID"]) for z in zones] == ["Europe/Berlin"]
    again = timezone_blocks.split(text.replace("tz-1", "tz-2"))
    assert again is not None and again[1][0] is zones[0]


def test_the_calendar_keeps_its_zones() -> None:
    ical_parse.forget_last_parse()
    calendar = ical_parse.parse_calendar(HEAD + BERLIN + CUSTOM + event("Europe/Berlin") + TAIL,
                                         reuse=True)
    assert [c.name for c in calendar.subcomponents] == ["VTIMEZONE", "VTIMEZONE", "VEVENT"]


def test_a_custom_zone_means_the_same_from_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    # icalendar remembers custom zones process-wide: a name of its own for this
    # test, and the cached parse first, so that it alone makes the zone known.
    name = f"Backside Test {uuid.uuid4().hex} Time"
    text = HEAD + CUSTOM.replace("Backside Test Standard Time", name) + event(name) + TAIL
    first = cached_parse(text)
    assert first.events[0].start_time.isoformat() == "2026-03-05T03:30:00+00:00"  # 09:00 +05:30
    assert cached_parse(text) == first == whole_parse(text, monkeypatch)


def test_a_zone_after_the_event_and_bare_newlines(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (HEAD + event("Europe/Berlin") + BERLIN + TAIL).replace("\r\n", "\n")
    assert timezone_blocks.split(text) is not None
    reference = whole_parse(text, monkeypatch)
    assert cached_parse(text) == reference
    assert reference.events[0].start_time.isoformat() == "2026-03-05T08:00:00+00:00"


@pytest.mark.parametrize("text", [
    HEAD + event("UTC") + TAIL,  # no VTIMEZONE at all
    HEAD + event("Europe/Berlin") + TAIL + BERLIN,  # the zone outside the calendar
    BERLIN + HEAD + event("Europe/Berlin") + TAIL,  # ... or before it
    HEAD + BERLIN + event("Europe/Berlin") + TAIL + HEAD + TAIL,  # two calendars
    HEAD + "X-NOTE:" + BERLIN + event("Europe/Berlin") + TAIL,  # not at a line start
    HEAD + BERLIN.replace("END:VTIMEZONE\r\n", "") + event("Europe/Berlin") + TAIL,  # no end
    HEAD + BERLIN.replace("END:VTIMEZONE", "END:VTIMEZONE x") + event("Europe/Berlin") + TAIL,
    HEAD + BERLIN.replace("TZOFFSETTO:+0200", "TZOFFSETTO:two") + event("Europe/Berlin") + TAIL,
    HEAD + BERLIN.replace("TZID:Europe/Berlin\r\n", "") + event("Europe/Berlin") + TAIL,
    HEAD + BERLIN.replace("BEGIN:DAYLIGHT", BERLIN + "BEGIN:DAYLIGHT", 1)
    + event("Europe/Berlin") + TAIL,  # a block inside a block
], ids=["none", "after", "before", "two calendars", "mid-line", "no end", "end with more",
        "broken offset", "no tzid", "nested"])
def test_unusual_text_is_parsed_whole(text: str) -> None:
    assert timezone_blocks.split(text) is None


def test_a_large_block_is_parsed_inline() -> None:
    filler = "".join(f"X-FILLER-{n}:{'y' * 60}\r\n" for n in range(300))
    block = BERLIN.replace("TZID:Europe/Berlin\r\n", "TZID:Europe/Berlin\r\n" + filler)
    assert len(block) > timezone_blocks.MAX_CACHED_BLOCK
    assert timezone_blocks.split(HEAD + block + event("Europe/Berlin") + TAIL) is None


@pytest.mark.parametrize("text, reason", [
    (HEAD + event("Europe/Berlin") + TAIL + BERLIN, "exactly one VCALENDAR"),
    (HEAD + BERLIN.replace("TZOFFSETFROM:+0100", "TZOFFSETFROM:+01\x0000")
     + event("Europe/Berlin") + TAIL, "NUL"),
])
def test_bad_text_around_zones_is_still_refused(text: str, reason: str) -> None:
    ical_parse.forget_last_parse()
    with pytest.raises(InvalidCalendarData, match=reason):
        ical_parse.parse_resource(text)


def test_the_same_text_and_zone_give_the_same_record() -> None:
    text = HEAD + BERLIN + event("Europe/Berlin") + TAIL
    ical_parse.forget_last_parse()
    first = ical_parse.parse_resource(text)
    assert ical_parse.parse_resource(text) is first
    in_berlin = ical_parse.parse_resource(text, "Europe/Berlin")
    assert in_berlin is not first and in_berlin == first  # no all-day date to place
    assert ical_parse.parse_resource(text.replace("tz-1", "tz-2")).uid == "tz-2"
