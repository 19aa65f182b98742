"""An event API write answers with the event it just stored without parsing
that text again: the answer's reminders and custom fields come from the parse
the store made (ical_parse's per-thread memo, asked for by
service/event_view.py). Parsing was a third of a create's and a patch's CPU.

The application runs in this process (serve_wsgi, one thread) so its parses
can be counted; the requests go over HTTP as everywhere else."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from conftest import serve_wsgi
from test_sidecar_api import Api, new_api

from backside_caldav.app import build_app
from backside_caldav.domain import ical_parse


@pytest.fixture
def counted(database_url: str, sql, monkeypatch: pytest.MonkeyPatch
            ) -> Iterator[tuple[Api, list[str]]]:
    """An API caller on an in-process server, and the texts icalendar parsed."""
    parsed: list[str] = []
    real = ical_parse._parse_one

    def counting(text: str):  # noqa: ANN202 - icalendar's Calendar
        parsed.append(text)
        return real(text)

    monkeypatch.setattr(ical_parse, "_parse_one", counting)
    with serve_wsgi(build_app(database_url)) as url:
        api = new_api(SimpleNamespace(url=url), database_url, sql)
        try:
            yield api, parsed
        finally:
            api.session.close()


def test_a_write_answers_from_the_parse_of_its_store(counted: tuple[Api, list[str]]) -> None:
    api, parsed = counted
    parsed.clear()
    r = api.post("/events", {"title": "Review", "start_time": "2026-03-02T09:00:00",
                             "timezone": "Europe/Berlin",
                             "attendees": [{"email": "ann@example.com"}],
                             "reminders": [{"minutes_before": 15}],
                             "custom_fields": {"x-deal-stage": "won"}})
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["reminders"] == [{"type": "display", "minutes_before": 15}]
    assert made["custom_fields"] == {"x-deal-stage": "won"}
    assert len(parsed) == 1  # the store's; the answer reads the same parse

    parsed.clear()
    r = api.session.patch(f"{api.base}/events/{made['id']}", json={"title": "Review 2"},
                          headers={"If-Match": made["etag"]}, timeout=30)
    assert r.status_code == 200, r.text
    patched = r.json()
    assert patched["title"] == "Review 2" and patched["etag"] != made["etag"]
    assert patched["reminders"] == made["reminders"]
    assert patched["custom_fields"] == made["custom_fields"]
    assert len(parsed) == 2  # the text to edit (a private copy), and the store's

    # The memo is a read-only view: the next edit starts from the stored text, and
    # its answer is what a fresh parse of that text shows.
    r = api.session.patch(f"{api.base}/events/{made['id']}",
                          json={"reminders": [{"minutes_before": 30}]},
                          headers={"If-Match": patched["etag"]}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["reminders"] == [{"type": "display", "minutes_before": 30}]
    assert r.json()["title"] == "Review 2"
    other = api.post("/events", {"title": "Other", "start_time": "2026-03-03T09:00:00Z"})
    assert other.status_code == 201, other.text  # the memo holds another text now
    parsed.clear()
    read = api.get(f"/events/{made['id']}")
    assert read.status_code == 200 and read.json() == r.json()
    assert len(parsed) == 1
