"""Two tenants and three logins for the scheduling tests: Alice (organizer)
and Bob share tenant one, Dave has tenant two; each tenant has a calendar."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import psycopg
import requests

from backside_caldav.db import accounts
from backside_caldav.db import engines as db
from backside_caldav.db.settings import libpq_url


@dataclass
class Login:
    username: str
    password: str
    email: str
    tenant_id: str
    calendar: str  # the tenant's calendar href

    def session(self) -> requests.Session:
        s = requests.Session()
        s.auth = (self.username, self.password)
        return s

    @property
    def address(self) -> str:
        return f"mailto:{self.email}"


@dataclass
class People:
    alice: Login
    bob: Login
    dave: Login
    outsider: str  # an address no login has
    suffix: str


def make_people(database_url: str) -> People:
    sfx = uuid.uuid4().hex[:8]
    engine = db.get_engine(database_url)
    hrefs: dict[str, str] = {}

    def add(name: str, tenant: str) -> Login:
        username, password = f"{name}{sfx}", f"correct horse {sfx}"
        email = f"{name}.{sfx}@{tenant}.example"
        tenant_id = accounts.add_account(engine, username, f"{tenant}-{sfx}", password, email)
        if tenant_id not in hrefs:  # a new tenant's first login gets a calendar
            with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
                hrefs[tenant_id] = conn.execute(
                    "SELECT href FROM calendars WHERE tenant_id = %s", (tenant_id,)).fetchone()[0]
        return Login(username, password, email, tenant_id, hrefs[tenant_id])

    alice, bob, dave = add("alice", "one"), add("bob", "one"), add("dave", "two")
    return People(alice, bob, dave, f"mailto:guest.{sfx}@outside.example", sfx)


def invitation(people: People, uid: str, summary: str = "Planning",
               start: str = "20270310T100000Z", end: str = "20270310T110000Z",
               extra_attendees: str = "") -> str:
    a, b, d = people.alice, people.bob, people.dave
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20270101T000000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\n"
        f"SUMMARY:{summary}\r\nSEQUENCE:0\r\nORGANIZER;CN=Alice:{a.address}\r\n"
        f"ATTENDEE;CN=Alice;PARTSTAT=ACCEPTED:{a.address}\r\n"
        f"ATTENDEE;CN=Bob;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:{b.address}\r\n"
        f"ATTENDEE;CN=Dave;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:{d.address}\r\n"
        f"ATTENDEE;CN=Guest;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:{people.outsider}\r\n"
        f"{extra_attendees}END:VEVENT\r\nEND:VCALENDAR\r\n")


def unfolded(text: str) -> str:
    return re.sub(r"\r?\n[ \t]", "", text)


def attendee_line(text: str, address: str) -> str:
    """The ATTENDEE line of an address, unfolded."""
    for line in unfolded(text).splitlines():
        if line.upper().startswith("ATTENDEE") and line.lower().endswith(address.lower()):
            return line
    raise AssertionError(f"no ATTENDEE {address} in:\n{text}")


def set_partstat(text: str, address: str, partstat: str) -> str:
    line = attendee_line(text, address)
    changed = re.sub(r"PARTSTAT=[A-Z-]+", f"PARTSTAT={partstat}", line)
    return unfolded(text).replace(line, changed)
