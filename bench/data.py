"""A deterministic calendar that looks like a busy real one.

Both servers get byte-identical objects, so any difference in the numbers
comes from the servers and not from the data. The mix exercises what makes
CalDAV servers slow: time zones, recurrence (endless, COUNT, UNTIL, moved
instances), all-day events, attendees and alarms.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

ANCHOR = datetime(2026, 1, 5)  # a Monday; the measured week starts here
WEEK_START = "20260105T000000Z"
WEEK_END = "20260112T000000Z"
SPREAD_DAYS = 365  # events fall within one year either side of the anchor
DTSTAMP = "20251201T120000Z"

TIMEZONES = {
    "Europe/Berlin": (
        "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"
        "BEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\n"
        "DTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n"
        "BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\n"
        "DTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\n"
        "END:VTIMEZONE\r\n"),
    "America/New_York": (
        "BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\n"
        "BEGIN:DAYLIGHT\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nTZNAME:EDT\r\n"
        "DTSTART:19700308T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nEND:DAYLIGHT\r\n"
        "BEGIN:STANDARD\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nTZNAME:EST\r\n"
        "DTSTART:19701101T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nEND:STANDARD\r\n"
        "END:VTIMEZONE\r\n"),
}

TOPICS = ["Standup", "Planning", "Review", "1:1", "Lunch", "Dentist", "Workshop",
          "Customer call", "Retro", "Interview", "Board meeting", "Gym", "Flight",
          "Budget", "Offsite", "Demo", "Training", "Doctor", "Concert", "Dinner"]
PLACES = ["Room 1", "Room 2", "Berlin office", "Zoom", "Cafe", "Main hall", ""]
PEOPLE = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
          "ivan", "judy", "mallory", "olivia", "peggy", "trent", "victor", "walter"]


@dataclass
class Event:
    """One calendar object resource; rendered on demand to keep memory small."""

    uid: str
    kind: str  # "single", "allday" or "weekly"
    start: datetime  # local wall time in tzid (a date for all-day events)
    minutes: int
    tzid: str
    summary: str
    location: str
    rrule: str = ""
    override_shift_h: int = 0  # >0: one instance moved by this many hours
    attendees: list[str] = field(default_factory=list)
    alarm_min: int = 0

    @property
    def href(self) -> str:
        return self.uid + ".ics"

    def ics(self, revision: int = 0) -> str:
        """The iCalendar text; a revision > 0 is an edit (new SUMMARY, SEQUENCE)."""
        summary = self.summary + (f" (edit {revision})" if revision else "")
        parts = ["BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//backside-caldav//bench//EN\r\n"]
        if self.kind != "allday":
            parts.append(TIMEZONES[self.tzid])
        parts.append(self._vevent(summary, revision, None))
        if self.override_shift_h:
            second = self.start + timedelta(weeks=1)
            parts.append(self._vevent(summary + " (moved)", revision, second))
        parts.append("END:VCALENDAR\r\n")
        return "".join(parts)

    def _vevent(self, summary: str, revision: int, recurrence_id: datetime | None) -> str:
        lines = ["BEGIN:VEVENT", f"UID:{self.uid}", f"DTSTAMP:{DTSTAMP}",
                 f"SEQUENCE:{revision}"]
        if self.kind == "allday":
            day = self.start.date()
            lines += [f"DTSTART;VALUE=DATE:{_d(day)}",
                      f"DTEND;VALUE=DATE:{_d(day + timedelta(days=max(1, self.minutes // 1440)))}",
                      "TRANSP:TRANSPARENT"]
        else:
            start = self.start
            if recurrence_id is not None:
                lines.append(f"RECURRENCE-ID;TZID={self.tzid}:{_dt(recurrence_id)}")
                start = recurrence_id + timedelta(hours=self.override_shift_h)
            end = start + timedelta(minutes=self.minutes)
            lines += [f"DTSTART;TZID={self.tzid}:{_dt(start)}",
                      f"DTEND;TZID={self.tzid}:{_dt(end)}"]
            if self.rrule and recurrence_id is None:
                lines.append(f"RRULE:{self.rrule}")
        lines.append(f"SUMMARY:{summary}")
        if self.location:
            lines.append(f"LOCATION:{self.location}")
        lines.append(f"DESCRIPTION:Agenda for {self.summary.lower()}\\, see the notes.")
        if self.attendees:
            lines.append("ORGANIZER;CN=Bench Owner:mailto:owner@example.com")
            for who in self.attendees:
                lines.append(f"ATTENDEE;CN={who.title()};ROLE=REQ-PARTICIPANT;"
                             f"PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{who}@example.com")
        if self.alarm_min:
            lines += ["BEGIN:VALARM", "ACTION:DISPLAY", f"DESCRIPTION:{summary}",
                      f"TRIGGER:-PT{self.alarm_min}M", "END:VALARM"]
        lines.append("END:VEVENT")
        return "\r\n".join(lines) + "\r\n"


def _d(day: date) -> str:
    return day.strftime("%Y%m%d")


def _dt(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S")


def generate(count: int, seed: int = 2026, prefix: str = "ev") -> list[Event]:
    """count events from a seeded generator: same arguments, same calendar."""
    rng = random.Random(f"{seed}-{prefix}")
    events = []
    for i in range(count):
        uid = f"bench-{prefix}-{i:06d}-{rng.getrandbits(32):08x}"
        day = ANCHOR + timedelta(days=rng.randint(-SPREAD_DAYS, SPREAD_DAYS))
        start = day.replace(hour=rng.randint(7, 19), minute=rng.choice([0, 15, 30, 45]))
        tzid = rng.choice(list(TIMEZONES))
        summary = f"{rng.choice(TOPICS)} #{i}"
        location = rng.choice(PLACES)
        roll = rng.random()
        event = Event(uid, "single", start, rng.choice([30, 45, 60, 90, 120]), tzid, summary,
                      location)
        if roll < 0.25:  # a quarter are weekly series
            event.kind = "weekly"
            flavour = rng.random()
            if flavour < 0.1:
                event.rrule = "FREQ=WEEKLY"  # endless
            elif flavour < 0.55:
                event.rrule = f"FREQ=WEEKLY;COUNT={rng.randint(2, 12)}"
            else:
                until = start + timedelta(weeks=rng.randint(2, 16))
                event.rrule = f"FREQ=WEEKLY;UNTIL={until.strftime('%Y%m%dT235959Z')}"
            if rng.random() < 0.3:  # the second instance moved a few hours
                event.override_shift_h = rng.randint(1, 5)
        elif roll < 0.35:
            event.kind = "allday"
            event.minutes = 1440 * rng.randint(1, 3)
        if event.kind != "allday":
            if rng.random() < 0.25:
                event.attendees = rng.sample(PEOPLE, rng.randint(2, 5))
            if rng.random() < 0.4:
                event.alarm_min = rng.choice([5, 10, 15, 30, 60])
        events.append(event)
    return events
