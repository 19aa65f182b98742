"""`backside-caldav import` of .ics files and folders, over the real database,
checked by fetching every resource over CalDAV from the real server.

The Radicale storage and the interrupted import are in test_import_radicale.py.
"""

from __future__ import annotations

import configparser
import os
import pty
import subprocess
from pathlib import Path

import psycopg
import requests
from conftest import CLI, ROOT, Account, Server, one_line_error, run_cli
from import_data import (
    BERLIN,
    NEW_YORK,
    calendar,
    event,
    fetch,
    hrefs,
    lines,
    series,
    todo,
    unique,
)

from backside_caldav.service.importer import MAX_RESOURCE_SIZE


def run_import(database_url: str, *args: str | Path):
    return run_cli(["import", *map(str, args)], env={"BACKSIDE_DATABASE_URL": database_url})


def test_a_multi_event_file_is_split_into_resources_with_their_own_lines(
        server: Server, database_url: str, account: Account, http: requests.Session,
        sql: psycopg.Connection, tmp_path: Path) -> None:
    master, moved, renamed = series("standup")
    single = event("lunch", "20300108T120000", "Lunch", tz="America/New_York")
    allday = ["BEGIN:VEVENT", "UID:holiday", "DTSTAMP:20300101T000000Z",
              "DTSTART;VALUE=DATE:20300110", "SUMMARY:Holiday", "END:VEVENT"]
    task = todo("milk")
    # The overrides are not next to their master: the split must still join them.
    text = calendar(master, moved, single, task, renamed, allday, zones=(BERLIN, NEW_YORK),
                    extra_header=("METHOD:PUBLISH", "X-WR-CALNAME:Team Plans",
                                  "X-WR-TIMEZONE:Europe/Berlin"))
    source = tmp_path / "export.ics"
    source.write_bytes(text.encode())

    result = run_import(database_url, "--tenant", account.tenant, source)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        f"imported 4, skipped 0 (already there), refused 0 into tenant {account.tenant}")
    assert "created calendar team-plans" in result.stdout

    # Each resource: the calendar's BEGIN/VERSION/PRODID/CALSCALE, the zones it uses,
    # its components in file order, END; METHOD and X-WR-* describe the file only.
    expected = {
        "standup.ics": calendar(master, moved, renamed, zones=(BERLIN,)),
        "lunch.ics": calendar(single, zones=(NEW_YORK,)),
        "milk.ics": calendar(task),
        "holiday.ics": calendar(allday),
    }
    base = f"{server.url}{account.username}/team-plans/"
    assert hrefs(http, base) == set(expected)
    for href, body in expected.items():
        assert fetch(http, base + href) == body.encode(), href
    cal_id, name = sql.execute("SELECT id, name FROM calendars WHERE tenant_id = %s "
                               "AND href = 'team-plans'", (account.tenant_id,)).fetchone()
    assert name == "Team Plans"
    overrides = sql.execute(
        "SELECT count(*) FROM events WHERE tenant_id = %s AND series_id = (SELECT id FROM "
        "events WHERE tenant_id = %s AND uid = 'standup' AND series_id IS NULL)",
        (account.tenant_id, account.tenant_id)).fetchone()[0]
    assert overrides == 2
    sources = {r[0] for r in sql.execute(
        "SELECT DISTINCT kind || ' ' || source FROM change_feed WHERE tenant_id = %s "
        "AND calendar_id = %s", (account.tenant_id, cal_id))}
    assert sources == {"calendar.created import", "event.created import"}

    again = run_import(database_url, "--tenant", account.tenant, source)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [
        f"imported 0, skipped 4 (already there), refused 0 into tenant {account.tenant}"]
    for href, body in expected.items():
        assert fetch(http, base + href) == body.encode(), href


def test_a_folder_keeps_file_names_and_one_resource_files_whole(
        server: Server, database_url: str, account: Account, http: requests.Session,
        tmp_path: Path) -> None:
    folder = tmp_path / "exported"
    folder.mkdir()
    # One resource, LF line endings and file-level properties: stored as it is.
    whole = calendar(event("m1", summary="Whole"), extra_header=("X-WR-CALNAME:Ignored",),
                     eol="\n")
    (folder / "meeting one.ics").write_bytes(whole.encode())
    (folder / "back\\slash.ics").write_bytes(calendar(event("b1")).encode())
    (folder / "Kept-Name.ICS").write_bytes(calendar(event("k1")).encode())
    pair = calendar(event("p1", summary="First"), event("p2", summary="Second"))
    (folder / "pair.ics").write_bytes(pair.encode())
    (folder / "notes.txt").write_text("not a calendar")
    (folder / ".hidden.ics").write_bytes(calendar(event("hidden")).encode())

    result = run_import(database_url, "--tenant", account.tenant, "--calendar", "Personal",
                        folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0].startswith("imported 5, skipped 0")
    base = f"{server.url}{account.username}/personal/"
    # A backslash cannot be in an href: that one is named by its UID instead.
    assert hrefs(http, base) == {"meeting%20one.ics", "Kept-Name.ICS", "b1.ics", "p1.ics",
                                 "p2.ics"}
    assert fetch(http, base + "meeting%20one.ics") == whole.encode()
    assert fetch(http, base + "b1.ics") == calendar(event("b1")).encode()
    assert fetch(http, base + "Kept-Name.ICS") == calendar(event("k1")).encode()
    assert fetch(http, base + "p1.ics") == calendar(event("p1", summary="First")).encode()
    assert fetch(http, base + "p2.ics") == calendar(event("p2", summary="Second")).encode()


def test_an_import_into_a_non_empty_calendar_keeps_what_is_there(
        server: Server, database_url: str, account: Account, http: requests.Session,
        tmp_path: Path) -> None:
    base = f"{server.url}{account.username}/work/"
    assert http.request("MKCALENDAR", base).status_code == 201
    kept, original = calendar(event("keep", summary="Mine")), calendar(event("dup", summary="Old"))
    assert http.put(base + "keep.ics", data=kept.encode()).status_code == 201
    assert http.put(base + "the-dup.ics", data=original.encode()).status_code == 201
    newer = event("dup", summary="New")
    source = tmp_path / "more.ics"
    source.write_bytes(calendar(newer, event("new", summary="Added")).encode())

    result = run_import(database_url, "--tenant", account.tenant_id, "--calendar", "work",
                        source)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("imported 1, skipped 1 (already there)")
    assert hrefs(http, base) == {"keep.ics", "the-dup.ics", "new.ics"}
    assert fetch(http, base + "keep.ics") == kept.encode()
    assert fetch(http, base + "the-dup.ics") == original.encode()

    replaced = run_import(database_url, "--tenant", account.tenant, "--calendar", "work",
                          "--replace", source)
    assert replaced.returncode == 0, replaced.stderr
    assert replaced.stdout.splitlines()[0].startswith("imported 0, replaced 2, skipped 0")
    assert hrefs(http, base) == {"keep.ics", "the-dup.ics", "new.ics"}
    assert fetch(http, base + "keep.ics") == kept.encode()
    assert fetch(http, base + "the-dup.ics") == calendar(newer).encode()  # at its own href


def test_tasks_go_to_a_task_list_when_the_calendar_takes_none(
        server: Server, database_url: str, account: Account, http: requests.Session,
        tmp_path: Path) -> None:
    base = f"{server.url}{account.username}/events-only/"
    only_events = ('<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                   "<D:set><D:prop><C:supported-calendar-component-set>"
                   '<C:comp name="VEVENT"/></C:supported-calendar-component-set>'
                   "</D:prop></D:set></C:mkcalendar>")
    assert http.request("MKCALENDAR", base, data=only_events).status_code == 201
    source = tmp_path / "mixed.ics"
    source.write_bytes(calendar(event("e1"), todo("t1"), todo("t2", "Call Bob")).encode())

    result = run_import(database_url, "--tenant", account.tenant, "--calendar", "events-only",
                        source)
    assert result.returncode == 0, result.stderr
    assert "created calendar events-only-tasks" in result.stdout
    tasks = f"{server.url}{account.username}/events-only-tasks/"
    assert hrefs(http, base) == {"e1.ics"}
    assert hrefs(http, tasks) == {"t1.ics", "t2.ics"}
    assert fetch(http, tasks + "t2.ics") == calendar(todo("t2", "Call Bob")).encode()
    props = http.request("PROPFIND", tasks, headers={"Depth": "0"}, data=(
        '<propfind xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><prop>'
        "<C:supported-calendar-component-set/></prop></propfind>")).text
    assert 'name="VTODO"' in props and 'name="VEVENT"' not in props
    again = run_import(database_url, "--tenant", account.tenant, "--calendar", "events-only",
                       source)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [
        f"imported 0, skipped 3 (already there), refused 0 into tenant {account.tenant}"]


def test_refused_resources_are_listed_with_their_reasons(
        server: Server, database_url: str, account: Account, http: requests.Session,
        tmp_path: Path) -> None:
    folder = tmp_path / "mess"
    folder.mkdir()
    journal = ["BEGIN:VJOURNAL", "UID:j1", "DTSTAMP:20300101T000000Z", "SUMMARY:Diary",
               "END:VJOURNAL"]
    no_uid = [line for line in event("x") if not line.startswith("UID")]
    busy = ["BEGIN:VFREEBUSY", "UID:fb", "DTSTAMP:20300101T000000Z", "END:VFREEBUSY"]
    bad_rule = event("rule", extra=["RRULE:FREQ=SOMETIMES"])
    (folder / "a-mixed.ics").write_bytes(
        calendar(event("good"), journal, no_uid, busy, bad_rule).encode())
    (folder / "b-broken.ics").write_bytes(
        lines(["BEGIN:VCALENDAR", *event("cut")[:4]]).encode())  # no END lines
    (folder / "c-latin1.ics").write_bytes(calendar(event("l1", summary="Café")).encode("latin-1"))
    huge = calendar(event("huge", extra=["X-BLOB:" + "y" * 70 + "\r\n " + ("z" * 74 + "\r\n ")
                                         * (MAX_RESOURCE_SIZE // 77)] + ["X-END:1"]))
    (folder / "d-huge.ics").write_bytes(huge.encode())
    (folder / "e-unreadable.ics").symlink_to("/proc/self/mem")  # read() fails, even as root
    (folder / "f-empty.ics").write_bytes(b"")
    base = f"{server.url}{account.username}/journal-less/"
    only_events = ('<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                   "<D:set><D:prop><C:supported-calendar-component-set>"
                   '<C:comp name="VEVENT"/></C:supported-calendar-component-set>'
                   "</D:prop></D:set></C:mkcalendar>")
    assert http.request("MKCALENDAR", base, data=only_events).status_code == 201

    result = run_import(database_url, "--tenant", account.tenant, "--calendar", "journal-less",
                        folder)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == ""
    out = result.stdout.splitlines()
    assert out[0] == (f"imported 1, skipped 0 (already there), refused 9 "
                      f"into tenant {account.tenant}")
    refused = [line for line in out if line.startswith("refused: ")]
    assert len(refused) == 9, out
    mixed, broken = folder / "a-mixed.ics", folder / "b-broken.ics"
    expectations = [
        f"refused: {mixed}: a VFREEBUSY component (not an event, task or journal) was left out",
        f"refused: {mixed} UID j1: the calendar journal-less takes VEVENT, not VJOURNAL",
        f"refused: {mixed}: a VEVENT without a UID was left out (every calendar object "
        "needs one)",
        f"refused: {mixed} UID rule: ",
        f"refused: {broken}: the file ends inside a component (a missing END line)",
        f"refused: {folder / 'c-latin1.ics'}: the file is not valid utf-8",
        f"refused: {folder / 'd-huge.ics'} UID huge: ",
        f"refused: {folder / 'e-unreadable.ics'}: cannot be read: Input/output error",
        f"refused: {folder / 'f-empty.ics'}: no VEVENT, VTODO or VJOURNAL in the file",
    ]
    for start in expectations:
        assert any(line.startswith(start) for line in refused), (start, refused)
    assert any("FREQ" in line or "SOMETIMES" in line for line in refused
               if "UID rule" in line), refused
    assert any(f"over the limit of {MAX_RESOURCE_SIZE}" in line for line in refused)
    assert hrefs(http, base) == {"good.ics"}
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = run_import(database_url, "--tenant", account.tenant, empty)
    assert nothing.returncode == 1
    assert nothing.stdout.splitlines()[1:] == [f"refused: {empty}: no .ics files in the folder"]


def test_the_size_limit_is_the_servers() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "config" / "radicale.conf")
    assert MAX_RESOURCE_SIZE == config.getint("server", "max_resource_size")


def test_error_paths_are_one_line_with_exit_code_2(
        database_url: str, account: Account, tmp_path: Path, sql: psycopg.Connection) -> None:
    source = tmp_path / "one.ics"
    source.write_bytes(calendar(event("one")).encode())
    storage = tmp_path / "radicale"
    (storage / "collection-root").mkdir(parents=True)
    cases = [
        ([source], "--tenant T"),
        (["--tenant", account.tenant, "--tenant-per-user", source], "not both"),
        (["--tenant-per-user", source], "is for a Radicale storage folder"),
        (["--tenant", account.tenant, "--calendar", "x", storage], "--calendar cannot be used"),
        (["--tenant", unique("nobody-"), source], "no tenant named"),
        (["--tenant", account.tenant, tmp_path / "missing.ics"], "no file or folder at"),
        (["--tenant", "  ", source], "must not be empty"),
    ]
    for args, message in cases:
        result = run_import(database_url, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in one_line_error(result), args
    for _ in range(2):
        sql.execute("INSERT INTO calendars (tenant_id, name, href) VALUES (%s, 'Twice', %s)",
                    (account.tenant_id, unique("twice-")))
    twice = run_import(database_url, "--tenant", account.tenant, "--calendar", "twice", source)
    assert twice.returncode == 2
    assert "2 calendars named 'twice'" in one_line_error(twice)
    if os.geteuid() != 0:  # root reads every folder
        locked = tmp_path / "locked"
        locked.mkdir(mode=0)
        result = run_import(database_url, "--tenant", account.tenant, locked)
        assert "cannot read the folder" in one_line_error(result)
    untouched = sql.execute("SELECT count(*) FROM events WHERE tenant_id = %s",
                            (account.tenant_id,)).fetchone()[0]
    assert untouched == 0


def test_help() -> None:
    result = run_cli(["import", "--help"])
    assert result.returncode == 0
    assert "--tenant-per-user" in result.stdout


def test_a_progress_bar_only_on_a_terminal(database_url: str, account: Account,
                                           tmp_path: Path) -> None:
    source = tmp_path / "many.ics"
    source.write_bytes(calendar(*(event(f"bar-{n}") for n in range(300))).encode())
    terminal, side = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "BACKSIDE_DATABASE_URL"}
    env.update(BACKSIDE_DATABASE_URL=database_url, COLUMNS="100")
    process = subprocess.Popen(CLI + ["import", "--tenant", account.tenant, str(source)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=side)
    os.close(side)
    shown = b""
    while True:
        try:
            chunk = os.read(terminal, 65536)
        except OSError:  # the other side closed (Linux says EIO)
            break
        if not chunk:
            break
        shown += chunk
    os.close(terminal)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0
    assert b"importing" in shown and b"/300" in shown
    assert out.decode().splitlines()[0].startswith("imported 300, skipped 0")
