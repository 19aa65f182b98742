"""service/meetings.prepare_for_meeting in-process, on the real database: it has
no HTTP endpoint (the MCP tools call it), so the test calls the service with an
ApiKey inside the tenant's transaction, as a tool does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from backside_caldav.db import engines, tenancy
from backside_caldav.domain.api_keys import ApiKey
from backside_caldav.service import calendars, events, links
from backside_caldav.service.meetings import prepare_for_meeting
from backside_caldav.service.problems import Problem
from tests.conftest import Account, make_account

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def key(account: Account, **limits: Any) -> ApiKey:
    return ApiKey(tenant_id=account.tenant_id, id=str(uuid.uuid4()), scope="admin", **limits)


class Tenant:
    def __init__(self, database_url: str) -> None:
        self.engine = engines.get_engine(database_url)
        self.account = make_account(database_url)
        self.key = key(self.account)

    def run(self, fn: Any, *args: Any, api_key: ApiKey | None = None) -> Any:
        with tenancy.transaction(self.engine, self.account.tenant_id) as conn:
            return fn(events.Caller(conn, api_key or self.key), *args)

    def calendar(self, name: str) -> str:
        with tenancy.transaction(self.engine, self.account.tenant_id) as conn:
            return calendars.create(conn, self.key, {"name": name}).id

    def event(self, calendar_id: str, title: str, days_ago: float,
              emails: tuple[str, ...] = (), contacts: tuple[str, ...] = (),
              **extra: Any) -> str:
        start = NOW - timedelta(days=days_ago)
        doc = {"calendar_id": calendar_id, "title": title,
               "start_time": start.isoformat().replace("+00:00", "Z"),
               "end_time": (start + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
               "attendees": [{"email": e} for e in emails], **extra}
        _, body = self.run(events.create, doc)
        for contact in contacts:
            self.run(links.add_link, body["id"], {"entity_type": "contact", "entity_id": contact})
        return body["id"]


@pytest.fixture
def tenant(database_url: str) -> Iterator[Tenant]:
    yield Tenant(database_url)


def related(result: dict[str, Any]) -> dict[str, list[str]]:
    return {r["title"]: r["shared"] for r in result["related_events"]}


def test_brief_of_an_event(tenant: Tenant, database_url: str) -> None:
    work, home = tenant.calendar("Work"), tenant.calendar("Home")
    contact = str(uuid.uuid4())
    meeting = tenant.event(work, "Planning", -1, ("Ann@Example.com", "bob@example.com"),
                           (contact,))
    tenant.run(links.add_link, meeting, {"entity_type": "deal", "entity_id": "D-7"})
    tenant.event(work, "Ann earlier", 3, ("ann@example.COM",))
    tenant.event(home, "Bob at home", 10, ("BOB@example.com", "ann@example.com"))
    tenant.event(work, "Contact call", 30, contacts=(contact,))
    tenant.event(work, "Too old", 120, ("ann@example.com",))
    tenant.event(work, "Nobody shared", 2, ("carol@example.com",))
    tenant.event(work, "Future", -5, ("ann@example.com",))
    trashed = tenant.event(work, "Trashed", 4, ("ann@example.com",))
    tenant.run(events.delete, trashed, False, None)
    weekly = tenant.event(work, "Weekly since last year", 400, ("bob@example.com",),
                          rrule="FREQ=WEEKLY", timezone="UTC")
    # Another tenant's event with the same people is never listed.
    other = Tenant(database_url)
    other.event(other.calendar("Work"), "Other tenant", 1, ("ann@example.com",), (contact,))

    result = tenant.run(prepare_for_meeting, meeting)
    assert result["event"]["id"] == meeting and result["event"]["title"] == "Planning"
    assert sorted(a["email"].lower() for a in result["attendees"]) == \
        ["ann@example.com", "bob@example.com"]
    assert all("rsvp_status" in a for a in result["attendees"])
    assert [link["entity_id"] for link in result["links"]["contact"]] == [contact]
    assert [link["entity_id"] for link in result["links"]["deal"]] == ["D-7"]
    assert result["links"]["task"] == [] and result["links"]["note"] == []
    assert related(result) == {
        "Ann earlier": ["ann@example.com"],
        "Bob at home": ["ann@example.com", "bob@example.com"],
        "Contact call": [contact],
        "Weekly since last year": ["bob@example.com"],
    }
    # Newest start first.
    assert [r["title"] for r in result["related_events"]] == \
        ["Ann earlier", "Bob at home", "Contact call", "Weekly since last year"]
    first = result["related_events"][0]
    assert first["calendar_id"] == work and set(first) == \
        {"id", "title", "start_time", "calendar_id", "shared"}
    assert weekly in {r["id"] for r in result["related_events"]}

    # A key limited to the Work calendar does not see the Home event.
    work_key = key(tenant.account, calendar_ids=(work,), calendar_names=("Work",))
    limited = tenant.run(prepare_for_meeting, meeting, api_key=work_key)
    assert set(related(limited)) == {"Ann earlier", "Contact call", "Weekly since last year"}
    # A key limited to the last 7 days (and next 7) sees only the events in its window.
    recent_key = key(tenant.account, window_days=(7, 7))
    recent = tenant.run(prepare_for_meeting, meeting, api_key=recent_key)
    assert set(related(recent)) == {"Ann earlier", "Weekly since last year"}

    # An event outside the key's calendars is a 404, as for a read.
    home_key = key(tenant.account, calendar_ids=(home,), calendar_names=("Home",))
    with pytest.raises(Problem) as caught:
        tenant.run(prepare_for_meeting, meeting, api_key=home_key)
    assert caught.value.status == 404
    # Another tenant's key does not find it either.
    with pytest.raises(Problem) as caught:
        other.run(prepare_for_meeting, meeting)
    assert caught.value.status == 404


def test_at_most_fifty_newest_first(tenant: Tenant) -> None:
    work = tenant.calendar("Work")
    meeting = tenant.event(work, "Review", -1, ("dan@example.com",))
    for n in range(55):
        tenant.event(work, f"Past {n:02d}", 1 + n, ("dan@example.com",))
    result = tenant.run(prepare_for_meeting, meeting)
    assert [r["title"] for r in result["related_events"]] == [f"Past {n:02d}" for n in range(50)]


def test_shared_services_take_plain_values(tenant: Tenant) -> None:
    """The other services the MCP tools call take plain values as well as a parsed
    query string (limit as an int, one calendar id as a string)."""
    from backside_caldav.service import availability, search

    work = tenant.calendar("Work")
    meeting = tenant.event(work, "Quarterly planning", 1, ("eve@example.com",))
    found = tenant.run(search.search, {"q": "planning", "limit": 5, "calendar_id": work})
    assert [h["id"] for h in found["hits"]] == [meeting]
    assert tenant.run(search.search, {"q": ["planning"], "limit": ["5"]}) == found
    start = (NOW - timedelta(days=2)).isoformat().replace("+00:00", "Z")
    end = NOW.isoformat().replace("+00:00", "Z")
    busy = tenant.run(availability.freebusy, {"start": start, "end": end, "calendar_id": work})
    assert len(busy["busy"]) == 1
    check = tenant.run(availability.check, {"start": start, "end": end})
    assert check["available"] is False and check["conflicts"][0]["event_id"] == meeting
    linked = tenant.run(links.reverse, {"entity_type": "contact", "entity_id": "eve@example.com"})
    assert [e["id"] for e in linked["events"]] == [meeting]
    answer = tenant.run(links.respond, meeting, {"email": "eve@example.com",
                                                 "status": "accepted"})
    assert answer["attendee"]["rsvp_status"] == "accepted"
    with pytest.raises(Problem) as caught:
        tenant.run(search.search, {"q": "x", "limit": 0})
    assert caught.value.status == 400
    with pytest.raises(Problem) as caught:
        tenant.run(links.list_links, "not-a-uuid")
    assert caught.value.status == 404
