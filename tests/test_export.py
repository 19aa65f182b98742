"""`backside-caldav export`: the bytes a GET answers, a Radicale collection folder
that `import` reads back byte for byte, one merged .ics, and its refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import icalendar
import psycopg
import requests
from conftest import Account, Server, make_account, one_line_error, run_cli

ZONE = ("BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
        "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n"
        "END:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\n"
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
        "END:DAYLIGHT\r\nEND:VTIMEZONE\r\n")
SERIES = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Apple Inc.//macOS 15//EN\r\n" + ZONE +
          "BEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20260101T000000Z\r\n"
          "DTSTART;TZID=Europe/Berlin:20300107T090000\r\nDTEND;TZID=Europe/Berlin:20300107T100000\r\n"
          "RRULE:FREQ=WEEKLY;COUNT=6\r\nSUMMARY:Stand-up\r\nX-APPLE-TRAVEL-ADVISORY:1\r\n"
          "END:VEVENT\r\nBEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20260101T000000Z\r\n"
          "RECURRENCE-ID;TZID=Europe/Berlin:20300114T090000\r\n"
          "DTSTART;TZID=Europe/Berlin:20300114T110000\r\nDTEND;TZID=Europe/Berlin:20300114T120000\r\n"
          "SUMMARY:Stand-up (moved)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
# LF line endings and a non-ASCII summary: kept as they are.
ALL_DAY = ("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//t//t//EN\n" + ZONE.replace("\r\n", "\n") +
           "BEGIN:VEVENT\nUID:day-1\nDTSTAMP:20260101T000000Z\nDTSTART;VALUE=DATE:20300110\n"
           "SUMMARY:Fête, all day\nEND:VEVENT\nEND:VCALENDAR\n")
TASK = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VTODO\r\nUID:task-1\r\n"
        "DTSTAMP:20260101T000000Z\r\nSUMMARY:File the report\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
MKCAL = ('<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" '
         'xmlns:I="http://apple.com/ns/ical/"><D:set><D:prop>'
         "<D:displayname>Work &amp; more</D:displayname>"
         "<I:calendar-color>#FF8800FF</I:calendar-color>"
         "<C:calendar-description>Team things</C:calendar-description>"
         "</D:prop></D:set></C:mkcalendar>")


def cli(database_url: str, *args: str | Path):
    return run_cli([str(a) for a in args], env={"BACKSIDE_DATABASE_URL": database_url})


def session(server: Server, account: Account) -> requests.Session:
    s = requests.Session()
    s.auth = (account.username, account.password)
    return s


def fill(server: Server, database_url: str, account: Account) -> None:
    """Two calendars: the default one with a series, an all-day event and a row
    another application wrote; "work" (named, coloured) with a task and a series."""
    home = f"{server.url}{account.username}/"
    with session(server, account) as http:
        assert http.request("MKCALENDAR", home + "work/", data=MKCAL).status_code == 201
        for url, body in ((home + "calendar/series.ics", SERIES),
                          (home + "calendar/day.ics", ALL_DAY),
                          (home + "work/task.ics", TASK),
                          (home + "work/weekly.ics", SERIES.replace("series-1", "weekly-1"))):
            r = http.put(url, data=body.encode(), headers={"Content-Type": "text/calendar"})
            assert r.status_code == 201, r.text
    with psycopg.connect(database_url.replace("postgresql+psycopg", "postgresql"),
                         autocommit=True) as conn:
        conn.execute(
            "INSERT INTO events (tenant_id, calendar_id, title, start_time, end_time, timezone, "
            "uid, href) SELECT tenant_id, id, 'Written by SQL', '2030-02-01 08:00Z', "
            "'2030-02-01 09:00Z', 'Europe/Berlin', 'sql-1', 'sql-1.ics' FROM calendars "
            "WHERE tenant_id = %s AND href = 'calendar'", (account.tenant_id,))


def got(server: Server, account: Account, calendar: str) -> dict[str, bytes]:
    """href -> the bytes GET answers, for every member of the calendar."""
    with session(server, account) as http:
        r = http.request("PROPFIND", f"{server.url}{account.username}/{calendar}/",
                         headers={"Depth": "1"})
        assert r.status_code == 207
        hrefs = sorted({h.rsplit("/", 1)[1] for h in _hrefs(r.text) if not h.endswith("/")})
        out = {}
        for href in hrefs:
            answer = http.get(f"{server.url}{account.username}/{calendar}/{href}")
            assert answer.status_code == 200
            out[href] = answer.content
    return out


def _hrefs(xml: str) -> list[str]:
    import re
    return re.findall(r"<(?:\w+:)?href>([^<]+)</(?:\w+:)?href>", xml)


def test_folder_export_is_what_get_answers_and_imports_back_byte_for_byte(
        server: Server, database_url: str, tmp_path: Path) -> None:
    source = make_account(database_url)
    fill(server, database_url, source)
    out = tmp_path / "out"
    result = cli(database_url, "export", "--tenant", source.tenant, out)
    assert result.returncode == 0, result.stderr
    assert "exported 5 resources of 2 calendars" in result.stdout

    expected = {"calendar": got(server, source, "calendar"), "work": got(server, source, "work")}
    assert sorted(expected["calendar"]) == ["day.ics", "series.ics", "sql-1.ics"]
    assert expected["calendar"]["day.ics"] == ALL_DAY.encode()  # LF endings kept
    assert b"SUMMARY:Written by SQL" in expected["calendar"]["sql-1.ics"]  # rendered
    for calendar, files in expected.items():
        written = {p.name: p.read_bytes() for p in (out / calendar).iterdir()
                   if not p.name.startswith(".")}
        assert written == files
    props = json.loads((out / "work" / ".Radicale.props").read_text())
    assert props["tag"] == "VCALENDAR"
    assert props["D:displayname"] == "Work & more"
    assert props["ICAL:calendar-color"] == "#FF8800FF"
    assert props["C:calendar-description"] == "Team things"

    target = make_account(database_url)  # a fresh tenant: its empty default calendar
    imported = run_cli(["import", "--tenant", target.tenant, str(out)],
                       env={"BACKSIDE_DATABASE_URL": database_url})
    assert imported.returncode == 0, imported.stdout + imported.stderr
    for calendar, files in expected.items():
        assert got(server, target, calendar) == files
    with psycopg.connect(database_url.replace("postgresql+psycopg", "postgresql")) as conn:
        name, color, description = conn.execute(
            "SELECT name, color, description FROM calendars WHERE tenant_id = %s "
            "AND href = 'work'", (target.tenant_id,)).fetchone()
    assert (name, color, description) == ("Work & more", "#FF8800FF", "Team things")

    again = cli(database_url, "export", "--tenant", source.tenant, out)
    assert "already there and not empty" in one_line_error(again)
    forced = cli(database_url, "export", "--tenant", source.tenant, "--force", out)
    assert forced.returncode == 0, forced.stderr


def test_merged_file_has_every_component_and_each_zone_once(
        server: Server, database_url: str, tmp_path: Path) -> None:
    account = make_account(database_url)
    fill(server, database_url, account)
    path = tmp_path / "work.ics"
    result = cli(database_url, "export", "--tenant", account.tenant, "--calendar", "Work & more",
                 path)
    assert result.returncode == 0, result.stderr
    data = path.read_bytes()
    assert data.count(b"BEGIN:VTIMEZONE") == 1
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF throughout
    cal = icalendar.Calendar.from_ical(data)
    assert str(cal["X-WR-CALNAME"]) == "Work & more"
    components = [(c.name, str(c["UID"]), "RECURRENCE-ID" in c) for c in cal.subcomponents
                  if c.name != "VTIMEZONE"]
    assert sorted(components) == [("VEVENT", "weekly-1", False), ("VEVENT", "weekly-1", True),
                                  ("VTODO", "task-1", False)]

    stdout = cli(database_url, "export", "--tenant", account.tenant, "--calendar", "calendar",
                 "-")
    assert stdout.returncode == 0, stdout.stderr
    assert "exported 3 resources of 1 calendar" in stdout.stderr
    merged = icalendar.Calendar.from_ical(stdout.stdout)
    uids = sorted(str(c["UID"]) for c in merged.subcomponents if c.name == "VEVENT")
    assert uids == ["day-1", "series-1", "series-1", "sql-1"]
    assert stdout.stdout.count("BEGIN:VTIMEZONE") == 1  # two resources use Berlin

    folder = tmp_path / "per-calendar"
    each = cli(database_url, "export", "--tenant", account.tenant, "--format", "ics", folder)
    assert each.returncode == 0, each.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["calendar.ics", "work.ics"]
    assert (folder / "work.ics").read_bytes() == data


def test_refusals(server: Server, database_url: str, tmp_path: Path) -> None:
    account = make_account(database_url)
    fill(server, database_url, account)
    assert "no tenant named" in one_line_error(
        cli(database_url, "export", "--tenant", "no-such-tenant-here", tmp_path / "x"))
    line = one_line_error(cli(database_url, "export", "--tenant", account.tenant,
                              "--calendar", "nope", tmp_path / "x"))
    assert "no calendar 'nope'" in line and "calendar, work" in line
    line = one_line_error(cli(database_url, "export", "--tenant", account.tenant,
                              tmp_path / "all.ics"))
    assert "has 2 calendars (calendar, work): choose one with --calendar" in line
    assert not (tmp_path / "all.ics").exists()
    assert "does not exist" in one_line_error(cli(
        database_url, "export", "--tenant", account.tenant, "--calendar", "work",
        tmp_path / "missing" / "work.ics"))
    assert "--format folder needs a folder" in one_line_error(cli(
        database_url, "export", "--tenant", account.tenant, "--format", "folder",
        "--calendar", "work", tmp_path / "w.ics"))
    (tmp_path / "taken.ics").write_text("mine")
    assert "already there" in one_line_error(cli(
        database_url, "export", "--tenant", account.tenant, "--calendar", "work",
        tmp_path / "taken.ics"))
    assert (tmp_path / "taken.ics").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    assert "it is a file" in one_line_error(cli(
        database_url, "export", "--tenant", account.tenant, tmp_path / "file"))


def test_hrefs_that_are_no_file_names_stay_inside_out(
        server: Server, database_url: str, tmp_path: Path) -> None:
    """Other applications write events.href and calendars.href directly. The
    database refuses '../x.ics' and 'a/b.ics' (test_foreign_hrefs.py); these
    are one path segment, but no file name an export may write."""
    account = make_account(database_url)
    fill(server, database_url, account)
    with psycopg.connect(database_url, autocommit=True) as conn:
        for href in ("odd:name.ics", "x" * 300 + ".ics", ".Radicale.props"):
            conn.execute(
                "INSERT INTO events (tenant_id, calendar_id, title, start_time, uid, href) "
                "SELECT tenant_id, id, 'odd', '2030-03-01 08:00Z', %s, %s FROM calendars "
                "WHERE tenant_id = %s AND href = 'calendar'", (href, href, account.tenant_id))
        conn.execute("INSERT INTO calendars (tenant_id, name, href) VALUES (%s, 'Hidden', "
                     "'.hidden')", (account.tenant_id,))
    out = tmp_path / "deep" / "out"
    result = cli(database_url, "export", "--tenant", account.tenant, out)
    assert result.returncode == 1, result.stderr
    left_out = [x for x in result.stdout.splitlines() if x.startswith("left out: ")]
    assert len(left_out) == 4, result.stdout
    assert "calendar '.hidden'" in result.stdout and "'odd:name.ics'" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["calendar", "work"]
    assert sorted(p.name for p in (out / "calendar").iterdir()) == [
        ".Radicale.props", "day.ics", "series.ics", "sql-1.ics"]
    assert json.loads((out / "calendar" / ".Radicale.props").read_text())["tag"] == "VCALENDAR"


def test_force_writes_over_an_earlier_export_without_reviving_deleted_events(
        server: Server, database_url: str, tmp_path: Path) -> None:
    account = make_account(database_url)
    fill(server, database_url, account)
    out = tmp_path / "out"
    assert cli(database_url, "export", "--tenant", account.tenant, out).returncode == 0
    (out / "work" / "notes.txt").write_text("mine")
    with session(server, account) as http:
        gone = http.delete(f"{server.url}{account.username}/calendar/day.ics")
        assert gone.status_code == 200
    # The second calendar's folder is there: refused before the first is written.
    shutil.move(out / "calendar", tmp_path / "calendar-before")
    refused = cli(database_url, "export", "--tenant", account.tenant, out)
    assert "work is already there" in one_line_error(refused)
    assert not (out / "calendar").exists()
    shutil.move(tmp_path / "calendar-before", out / "calendar")
    (out / "calendar" / "series.ics").write_bytes(b"old")
    forced = cli(database_url, "export", "--tenant", account.tenant, "--force", out)
    assert forced.returncode == 0, forced.stderr
    assert sorted(p.name for p in (out / "calendar").iterdir()) == [
        ".Radicale.props", "series.ics", "sql-1.ics"]
    assert (out / "calendar" / "series.ics").read_bytes() == got(
        server, account, "calendar")["series.ics"]
    assert (out / "work" / "notes.txt").read_text() == "mine"  # not an export's file
    assert not [p for p in out.rglob("*.partial")]
