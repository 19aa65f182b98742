"""The merged .ics of an export: its pieces (domain/ics_merge.py) and a big
calendar written without holding its resources in memory."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tracemalloc
from pathlib import Path

import icalendar
import psycopg
import requests
from conftest import CLI, ROOT, Server, make_account, one_line_error, run_cli

from backside_caldav.db import engines
from backside_caldav.domain import ics_merge
from backside_caldav.service import exporter

ZONE_LF = ("BEGIN:VTIMEZONE\nTZID:Europe/Berlin\nBEGIN:STANDARD\nDTSTART:19701025T030000\n"
           "TZOFFSETFROM:+0200\nTZOFFSETTO:+0100\nEND:STANDARD\nEND:VTIMEZONE\n")
RESOURCE = ("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//t//t//EN\nMETHOD:PUBLISH\n"
            "X-WR-TIMEZONE:Europe/Berlin\n" + ZONE_LF +
            "BEGIN:VEVENT\nUID:a-1\nDTSTART;TZID=Europe/Berlin:20300107T090000\n"
            "DESCRIPTION:a long line folded by the client, kept as it \n was folded\n"
            "BEGIN:VALARM\nACTION:DISPLAY\nTRIGGER:-PT5M\nEND:VALARM\nEND:VEVENT\n"
            "END:VCALENDAR\n")


def test_parts_keep_the_components_lines_and_leave_the_calendar_properties() -> None:
    parts = ics_merge.parts_of(RESOURCE)
    assert list(parts.zones) == ["Europe/Berlin"]
    assert parts.zones["Europe/Berlin"] == ZONE_LF.replace("\n", "\r\n")
    assert parts.objects == [
        "BEGIN:VEVENT\r\nUID:a-1\r\nDTSTART;TZID=Europe/Berlin:20300107T090000\r\n"
        "DESCRIPTION:a long line folded by the client, kept as it \r\n was folded\r\n"
        "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\nEND:VEVENT\r\n"]


def test_head_names_the_calendar_escaped_and_folded() -> None:
    name = "Équipe; plans, " + "x" * 80
    text = ics_merge.head(name, {"Europe/Berlin": "ZONE\r\n"})
    lines = text.split("\r\n")
    assert lines[:3] == ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//backside-caldav//export//EN"]
    assert all(len(line.encode()) <= 75 for line in lines)
    assert text.endswith("ZONE\r\n")
    # TEXT escaping (RFC 5545 3.3.11), the line unfolded again by removing CRLF + space:
    assert "X-WR-CALNAME:Équipe\\; plans\\, " + "x" * 80 + "\r\n" in text.replace("\r\n ", "")
    assert ics_merge.head(None, {}) == ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
                                        "PRODID:-//backside-caldav//export//EN\r\n")


def test_a_big_calendar_is_merged_in_the_memory_of_a_batch(database_url: str) -> None:
    """4000 resources of ~3 kB each, rendered from rows another application
    wrote: the peak of Python's allocations stays far below the file's size."""
    account = make_account(database_url)
    count, words = 4000, "lorem ipsum dolor sit amet " * 110
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO events (tenant_id, calendar_id, title, description, start_time, "
            "end_time, timezone, uid, href) SELECT c.tenant_id, c.id, 'Bulk ' || g, "
            "%s || g, timestamptz '2030-01-01 08:00Z' + g * interval '1 hour', "
            "timestamptz '2030-01-01 09:00Z' + g * interval '1 hour', 'Europe/Berlin', "
            "'bulk-' || g, 'bulk-' || g || '.ics' FROM calendars c, generate_series(1, %s) g "
            "WHERE c.tenant_id = %s AND c.href = 'calendar'",
            (words, count, account.tenant_id))
    owner, app = engines.get_engine(database_url), engines.get_app_engine(database_url)
    tenant_id, _name, [calendar] = exporter.choose(owner, app, account.tenant, "calendar")
    assert tenant_id == account.tenant_id

    class Sink(io.RawIOBase):
        """Counts what is written and keeps only the start and the end."""

        def __init__(self) -> None:
            self.size, self.start, self.end = 0, b"", b""

        def write(self, data: bytes) -> int:  # type: ignore[override]
            data = bytes(data)
            self.start = self.start or data[:200]
            self.end = (self.end + data)[-200:]
            self.size += len(data)
            return len(data)

    out = io.BytesIO()  # the whole file once, which also warms the caches up
    assert exporter.write_merged(app, tenant_id, calendar, out, lambda: None) == count
    cal = icalendar.Calendar.from_ical(out.getvalue())
    uids = {str(c["UID"]) for c in cal.walk("VEVENT")}
    assert uids == {f"bulk-{i}" for i in range(1, count + 1)}
    assert len(cal.walk("VTIMEZONE")) == 1
    size = len(out.getvalue())
    del out, cal

    sink = Sink()
    tracemalloc.start()
    try:
        written = exporter.write_merged(app, tenant_id, calendar, sink, lambda: None)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert written == count
    assert sink.size == size > count * len(words)  # every description is in the file
    assert sink.start.startswith(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert sink.end.endswith(b"END:VEVENT\r\nEND:VCALENDAR\r\n")
    # Holding the components until the head is written would take the whole
    # file (13 MB); a batch of 200 resources with its copies is about 3 MB.
    assert peak < size / 2, (peak, size)


def test_an_unwritable_target_is_one_line(database_url: str, tmp_path: Path) -> None:
    """/proc takes no new files, not even from root (tests may run as root)."""
    account = make_account(database_url)
    env = {"BACKSIDE_DATABASE_URL": database_url}
    for out in ("/proc/backside-export-test", "/proc/backside-export-test.ics"):
        result = run_cli(["export", "--tenant", account.tenant, out], env=env)
        assert result.returncode == 2
        line = one_line_error(result)
        assert line.startswith(f"backside-caldav: error: cannot write {out}: "), line
    assert not Path("/proc/backside-export-test").exists()


def test_a_reader_that_stops_early_gets_one_line(database_url: str) -> None:
    """`export - | head -1`: the pipe closes while the calendar is written."""
    account = make_account(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO events (tenant_id, calendar_id, title, description, start_time, uid, "
            "href) SELECT c.tenant_id, c.id, 'Bulk', repeat('x', 2000), "
            "timestamptz '2030-01-01 08:00Z', 'pipe-' || g, 'pipe-' || g || '.ics' "
            "FROM calendars c, generate_series(1, 300) g WHERE c.tenant_id = %s",
            (account.tenant_id,))
    env = {k: v for k, v in os.environ.items() if k != "BACKSIDE_DATABASE_URL"}
    env["BACKSIDE_DATABASE_URL"] = database_url
    with subprocess.Popen(CLI + ["export", "--tenant", account.tenant, "-"], cwd=ROOT,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout.readline() == b"BEGIN:VCALENDAR\r\n"
        proc.stdout.close()
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 2
    assert stderr.splitlines() == ["backside-caldav: error: cannot write -: Broken pipe"]


JOURNAL = ("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//t//t//EN\nBEGIN:VJOURNAL\nUID:journal-1\n"
           "DTSTAMP:20260101T000000Z\nDTSTART;VALUE=DATE:20300110\nSUMMARY:Notes\n"
           "DESCRIPTION:first line\\nsecond line\nEND:VJOURNAL\nEND:VCALENDAR\n")
TASK = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VTODO\r\nUID:task-2\r\n"
        "DTSTAMP:20260101T000000Z\r\nDUE:20300111T170000Z\r\nSUMMARY:Send it\r\n"
        "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT1H\r\nDESCRIPTION:soon\r\nEND:VALARM\r\n"
        "END:VTODO\r\nEND:VCALENDAR\r\n")


def test_tasks_and_journals_are_exported_as_get_answers(
        server: Server, database_url: str, tmp_path: Path) -> None:
    account = make_account(database_url)
    base = f"{server.url}{account.username}/calendar/"
    with requests.Session() as http:
        http.auth = (account.username, account.password)
        for href, body in (("journal.ics", JOURNAL), ("task.ics", TASK)):
            r = http.put(base + href, data=body.encode(), headers={"Content-Type": "text/calendar"})
            assert r.status_code == 201, r.text
        answers = {href: http.get(base + href).content for href in ("journal.ics", "task.ics")}
    assert answers == {"journal.ics": JOURNAL.encode(), "task.ics": TASK.encode()}
    env = {"BACKSIDE_DATABASE_URL": database_url}
    result = run_cli(["export", "--tenant", account.tenant, str(tmp_path / "out")], env=env)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "out" / "calendar"
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name != ".Radicale.props"} \
        == answers
    with psycopg.connect(database_url) as conn:
        components, = conn.execute("SELECT components FROM calendars WHERE tenant_id = %s",
                                   (account.tenant_id,)).fetchone()
    props = json.loads((folder / ".Radicale.props").read_text())
    assert props["C:supported-calendar-component-set"] == ",".join(components)
    assert "VJOURNAL" in props["C:supported-calendar-component-set"]

    merged = run_cli(["export", "--tenant", account.tenant, "-"], env=env)
    assert merged.returncode == 0, merged.stderr
    text = merged.stdout.replace("\r\n", "\n")  # text mode: Python reads CRLF as \n
    assert JOURNAL[JOURNAL.index("BEGIN:VJOURNAL"):JOURNAL.index("END:VCALENDAR")] in text
    task = TASK.replace("\r\n", "\n")
    assert task[task.index("BEGIN:VTODO"):task.index("END:VCALENDAR")] in text
    assert "BEGIN:VTIMEZONE" not in text
    cal = icalendar.Calendar.from_ical(merged.stdout)
    assert [c.name for c in cal.subcomponents] == ["VJOURNAL", "VTODO"]  # by href
