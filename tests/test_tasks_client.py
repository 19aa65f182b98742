"""Tasks as the `caldav` client library finds them: search(todo=True, ...) with
a range, with the server's expand, and todos() (open tasks only).

The library filters and expands on the client unless told otherwise;
server_expand=True and post_filter=False make it take the server's word
(its open-tasks search then sends no completion filter at all).
"""

from __future__ import annotations

from datetime import datetime, timezone

import caldav
from test_tasks import calendar, vtodo

UTC = timezone.utc
WINDOW = {"start": datetime(2026, 1, 7, tzinfo=UTC), "end": datetime(2026, 1, 10, tzinfo=UTC)}


def _cal(client: caldav.DAVClient) -> caldav.Calendar:
    cal = client.principal().make_calendar(name="Tasks", cal_id="tasks")
    cal.save_todo(calendar(vtodo("daily", "DTSTART:20260105T090000Z", "DUE:20260105T170000Z",
                                 "RRULE:FREQ=DAILY;COUNT=10", summary="Daily")))
    cal.save_todo(calendar(vtodo("later", "DUE:20260301T120000Z", summary="Later")))
    cal.save_todo(calendar(vtodo("done", "DUE:20260108T120000Z", "COMPLETED:20260108T110000Z",
                                 "STATUS:COMPLETED", summary="Done")))
    return cal


def _rows(found: list) -> list[tuple[str, datetime, datetime | None]]:
    rows = []
    for obj in found:
        for todo in obj.icalendar_instance.walk("VTODO"):
            rid = todo.get("RECURRENCE-ID")
            rows.append((str(todo["SUMMARY"]), rid.dt if rid is not None else None,
                         todo["DUE"].dt if "DUE" in todo else None))
    return sorted(rows, key=lambda r: (r[0], str(r[1])))


def test_the_client_library_gets_tasks_in_a_range_expanded_by_the_server(client) -> None:
    cal = _cal(client)
    found = cal.search(todo=True, expand=True, server_expand=True, split_expanded=False,
                       post_filter=False, include_completed=True, **WINDOW)
    assert _rows(found) == [
        ("Daily", datetime(2026, 1, d, 9, tzinfo=UTC), datetime(2026, 1, d, 17, tzinfo=UTC))
        for d in (7, 8, 9)] + [("Done", None, datetime(2026, 1, 8, 12, tzinfo=UTC))]
    plain = cal.search(todo=True, post_filter=False, include_completed=True, **WINDOW)
    assert sorted(str(t.icalendar_component["SUMMARY"]) for t in plain) == ["Daily", "Done"]

    # The library's own paths for open tasks (three queries per search, its
    # own filtering after them) give the same answer on top of the server's.
    assert sorted(str(t.icalendar_component["SUMMARY"]) for t in cal.todos()) == ["Daily", "Later"]
    found = cal.search(todo=True, expand=True, server_expand=True, split_expanded=False,
                       **WINDOW)
    assert _rows(found) == [
        ("Daily", datetime(2026, 1, d, 9, tzinfo=UTC), datetime(2026, 1, d, 17, tzinfo=UTC))
        for d in (7, 8, 9)]
