"""The event API's rows (/api/v1/events): list a week, read, create, patch.

backside-caldav is asked over HTTP with a Bearer key, as the tenant's
services ask it, on the calendar the CalDAV rows were measured on (so after
them, on the full calendar). Stock Radicale has no such API: where a CalDAV
request does the same job its figure stands in (a week's calendar-query with
calendar-data for the whole week's list, a PUT of a new event for a create),
elsewhere its cell is n/a.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from . import data
from .dav import DavClient, DavError, Response
from .measure import Result, Scenario, sequential_rate, summarize, timed

WEEK = {"start": datetime.strptime(data.WEEK_START, "%Y%m%dT%H%M%SZ").isoformat() + "Z",
        "end": datetime.strptime(data.WEEK_END, "%Y%m%dT%H%M%SZ").isoformat() + "Z"}
JSON_TYPE = "application/json"


class ApiClient(DavClient):
    """The JSON API with a Bearer key: DavClient's connections, bounds and errors."""

    def __init__(self, base_url: str, key: str, timeout: float) -> None:
        super().__init__(base_url, "api", "unused", "unused", timeout)
        self._authorization = f"Bearer {key}"

    def call(self, method: str, path: str, params: dict[str, Any] | None = None,
             body: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
             ok: tuple[int, ...] = (200,)) -> Response:
        url = "/api/v1" + path + ("?" + urlencode(params, doseq=True) if params else "")
        sent = {"Accept": JSON_TYPE, **(headers or {})}
        if body is not None:
            sent["Content-Type"] = JSON_TYPE
        return self.request(method, url, json.dumps(body) if body is not None else None,
                            sent, ok=ok)

    def json(self, *args: Any, **kwargs: Any) -> Any:
        return json.loads(self.call(*args, **kwargs).content)


def create_body(calendar_id: str, n: int) -> dict[str, Any]:
    """A timed event with a reminder and one attendee, a different slot each time."""
    start = data.ANCHOR + timedelta(days=n % 60, hours=8 + n % 9, minutes=15 * (n % 4))
    end = start + timedelta(minutes=45)
    return {"calendar_id": calendar_id, "title": f"API event #{n}",
            "start_time": start.isoformat(), "end_time": end.isoformat(),
            "timezone": "Europe/Berlin", "location": "Room 2",
            "description": "Created over the event API.",
            "reminders": [{"type": "display", "minutes_before": 15}],
            "attendees": [{"email": f"guest{n % 16}@example.com", "name": f"Guest {n % 16}"}]}


class BacksideSteps:
    """The event API steps on backside-caldav, for one calendar."""

    def __init__(self, scenario: Scenario, api: ApiClient, database_url: str = "",
                 base_url: str = "", key: str = "") -> None:
        self.sc, self.api = scenario, api
        self.database_url, self.base_url, self.key = database_url, base_url, key
        self.calendar_id = ""
        self.week: list[dict[str, Any]] = []  # the week's occurrences, from the limit-500 list
        self.created: list[Response] = []  # the create step's answers

    def steps(self) -> dict[str, Callable[[], Result | None]]:
        from . import change_feed, mcp_calls
        return {"api_list_week": lambda: self._list(50),
                "api_list_week_500": lambda: self._list(500), "api_read": self.read,
                "api_create": self.create, "api_patch": self.patch,
                **mcp_calls.steps(self.sc, self.api, self._calendar),
                **change_feed.steps(self.sc, self.api,
                                    lambda: [i["event_id"] for i in self._event_ids()],
                                    self.database_url, self.base_url, self.key)}

    def _calendar(self) -> str:
        if not self.calendar_id:
            wanted = self.sc.c.calendar_path.strip("/").split("/")[-1]
            found = [c["id"] for c in self.api.json("GET", "/calendars")["calendars"]
                     if c["href"] == wanted]
            if not found:
                raise DavError(f"GET /api/v1/calendars does not list {wanted!r}")
            self.calendar_id = found[0]
        return self.calendar_id

    def _list(self, limit: int) -> Result:
        params = {**WEEK, "calendar_id": self._calendar(), "limit": limit}
        pages: list[dict[str, Any]] = []

        def run() -> float:
            seconds, answer = timed(lambda: self.api.json("GET", "/events", params))
            pages.append(answer)
            return seconds

        result = summarize(self.sc._repeat(run), 1000.0, results=len(pages[-1]["data"]),
                           more=pages[-1]["next_cursor"] is not None)
        if limit == 500:
            self.week = pages[-1]["data"]
            self.sc.info["api_week_items"] = len(self.week)
        return result

    def _event_ids(self) -> list[dict[str, Any]]:
        if not self.week:
            self._list(500)
        seen: dict[str, dict[str, Any]] = {}
        for item in self.week:
            seen.setdefault(item["event_id"], item)
        return list(seen.values())

    def read(self) -> Result:
        ids = [item["event_id"] for item in self._event_ids()]
        turn = itertools.count()

        def run() -> float:
            event_id = ids[next(turn) % len(ids)]
            return timed(lambda: self.api.call("GET", f"/events/{event_id}"))[0]

        return summarize(self.sc._repeat(run), 1000.0, events=len(ids))

    def create(self) -> Result:
        calendar = self._calendar()
        return sequential_rate(
            [lambda n=n: self.created.append(self.api.call(
                "POST", "/events", body=create_body(calendar, n), ok=(201,)))
             for n in range(self.sc.s.put_sample)], self.sc.s.put_budget_s, "POST")

    def patch(self) -> Result:
        """A new title for each of the week's events, with the ETag the list gave (then
        the created events, with their answer's ETag, if the week has too few)."""
        made = [json.loads(r.content) for r in self.created]
        items = [*self._event_ids(), *({"event_id": m["id"], **m} for m in made)]
        items = items[:self.sc.s.put_sample]
        return sequential_rate(
            [lambda i=i: self.api.call("PATCH", f"/events/{i['event_id']}",
                                       body={"title": f"{i['title']} (renamed)"},
                                       headers={"If-Match": i["etag"]})
             for i in items], self.sc.s.put_budget_s, "PATCH")


def radicale_steps(scenario: Scenario) -> dict[str, Callable[[], Result | None]]:
    """Radicale's cells: the CalDAV equivalent's figure (measured if it was not yet)."""

    def same_as(key: str, what: str) -> Callable[[], Result]:
        def step() -> Result:
            if key not in scenario.results:
                scenario.attempt(key)
            found = scenario.results.get(key, Result("skipped"))
            return dataclasses.replace(found, note=(found.note + "; " if found.note else "")
                                       + f"CalDAV: {what}", info=dict(found.info))
        return step

    def none(what: str) -> Callable[[], Result]:
        return lambda: Result("n/a", note=f"no API; {what}")

    from . import change_feed
    return {**change_feed.radicale_steps(),
            "api_list_week": none("a calendar-query has no page size (see the limit 500 row)"),
            "api_list_week_500": same_as("week_data", "REPORT calendar-query, one week, "
                                                      "calendar-data"),
            "api_read": none("not measured"),
            "api_create": same_as("put_full", "PUT of new events (If-None-Match: *)"),
            "api_patch": none("not measured"),
            "mcp_list_week": same_as("week_data", "REPORT calendar-query, one week, "
                                                  "calendar-data"),
            "mcp_availability": same_as("week_freebusy", "REPORT free-busy-query, one week")}
