"""Plain records exchanged between the iCalendar mapping and the SQL layer.

The field names are the column names of the tenant's tables, so the SQL layer
can bind them directly and a reader can see the mapping at a glance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

RSVP_FROM_PARTSTAT = {
    "NEEDS-ACTION": "pending",
    "ACCEPTED": "accepted",
    "DECLINED": "declined",
    "TENTATIVE": "tentative",
    "DELEGATED": "pending",
}
PARTSTAT_FROM_RSVP = {
    "pending": "NEEDS-ACTION",
    "accepted": "ACCEPTED",
    "declined": "DECLINED",
    "tentative": "TENTATIVE",
}
ENTITY_TYPES = ("contact", "task", "note", "deal")
EVENT_TYPES = ("event", "focus_time", "out_of_office", "working_location", "reminder")
STATUSES = ("confirmed", "tentative", "cancelled")


@dataclass
class AttendeeRecord:
    email: str | None
    name: str | None = None
    rsvp_status: str = "pending"
    role: str | None = None
    contact_id: str | None = None

    def key(self) -> str:
        """Identity used to match an attendee row with an ATTENDEE line."""
        if self.email:
            return "mailto:" + self.email.lower()
        return "urn:uuid:" + (self.contact_id or "")


@dataclass
class EventRecord:
    """One VEVENT: the series master (recurrence_id None) or an override."""

    title: str | None
    description: str | None
    location: str | None
    start_time: datetime
    end_time: datetime | None
    timezone: str | None
    is_all_day: bool
    is_floating: bool
    event_type: str
    rrule: str | None
    rdates: list[datetime] = field(default_factory=list)
    exdates: list[datetime] = field(default_factory=list)
    # RDATE;VALUE=PERIOD: (start, end) in UTC; such an instance ends at its own end.
    rdate_periods: list[tuple[datetime, datetime]] = field(default_factory=list)
    # Whole days of a DURATION (P1D, P1W): nominal, so each instance keeps its
    # wall-clock end across DST (RFC 5545 3.3.6); 0 for DTEND or an hours-only DURATION.
    duration_days: int = 0
    status: str | None = None
    transparency: str | None = None
    organizer: str | None = None
    sequence: int = 0
    recurrence_id: datetime | None = None
    attendees: list[AttendeeRecord] = field(default_factory=list)
    # (entity_type, entity_id) pairs: event_links rows, RFC 9253 LINK properties
    links: list[tuple[str, str]] = field(default_factory=list)
    # Identity columns are filled by the store (id) or shared (uid).
    id: str | None = None

    def mapped(self) -> dict:
        """The column values compared to detect what another writer changed."""
        return {
            "title": self.title,
            "description": self.description,
            "location": self.location,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "timezone": self.timezone,
            "is_all_day": self.is_all_day,
            "event_type": self.event_type,
            "rrule": self.rrule,
            "rdates": sorted(self.rdates),
            "exdates": sorted(self.exdates),
            "status": self.status,
            "transparency": self.transparency,
            "organizer": self.organizer,
            "sequence": self.sequence,
            "recurrence_id": self.recurrence_id,
            "links": sorted(self.links),
        }


@dataclass
class ResourceRecord:
    """One calendar object resource (RFC 4791 4.1): everything under one UID."""

    component: str  # VEVENT, VTODO or VJOURNAL
    uid: str
    events: list[EventRecord] = field(default_factory=list)  # master first, VEVENT only
    range_start: datetime | None = None
    range_end: datetime | None = None


@dataclass
class CalendarRow:
    """One calendars row: a collection and its sync counter."""

    id: str
    href: str
    name: str | None
    color: str | None
    description: str | None
    timezone: str | None
    calendar_order: int | None
    components: list[str]
    props: dict[str, str]
    sync_counter: int
    sync_floor: int
    updated_at: datetime
