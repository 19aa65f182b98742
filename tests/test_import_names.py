"""Import and export with the names and properties real folders hold: file and
folder names the server must still serve, broken .Radicale.props values, a UID
in two files, CR-only files, hrefs near the file-name limit."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote, unquote

import psycopg
import requests
from conftest import Account, Server, one_line_error, run_cli
from import_data import calendar, event, fetch, hrefs, unique


def cli(database_url: str, *args: str | Path):
    return run_cli([str(a) for a in args], env={"BACKSIDE_DATABASE_URL": database_url})


def test_file_names_the_server_would_refuse_get_names_it_serves(
        server: Server, database_url: str, account: Account, http: requests.Session,
        tmp_path: Path) -> None:
    folder = tmp_path / "names"
    folder.mkdir()
    bodies = {}
    for name in ("a?b.ics", "Bob's party.ics", "10:00 stand-up.ics", "zero\u200bwidth.ics",
                 "plain.ics"):
        uid = unique("n-")
        bodies[uid] = calendar(event(uid)).encode()
        (folder / name).write_bytes(bodies[uid])
    result = cli(database_url, "import", "--tenant", account.tenant, "--calendar", "names",
                 folder)
    assert result.returncode == 0, result.stdout + result.stderr
    base = f"{server.url}{account.username}/names/"
    names = {unquote(h) for h in hrefs(http, base)}
    assert "plain.ics" in names  # a name the server serves is kept
    assert len(names) == 5 and not names & {"a?b.ics", "Bob's party.ics",
                                             "10:00 stand-up.ics", "zero\u200bwidth.ics"}
    served = {fetch(http, base + quote(name)) for name in names}
    assert served == set(bodies.values())


def test_radicale_collections_with_odd_names_and_properties(
        server: Server, database_url: str, account: Account, http: requests.Session,
        tmp_path: Path) -> None:
    user = tmp_path / "collection-root" / "ann"
    cases = {
        "bob's": {"tag": "VCALENDAR", "D:displayname": "Bob's"},
        "nul": {"tag": "VCALENDAR", "D:displayname": "a\u0000b"},
        "nulls": {"tag": "VCALENDAR", "D:displayname": None, "ICAL:calendar-color": None},
        "longzone": {"tag": "VCALENDAR", "C:calendar-timezone": "X" * 300_000},
    }
    for folder, props in cases.items():
        (user / folder).mkdir(parents=True)
        (user / folder / ".Radicale.props").write_text(json.dumps(props))
        uid = unique(f"{folder[:3]}-")
        (user / folder / f"{uid}.ics").write_bytes(calendar(event(uid)).encode())
    result = cli(database_url, "import", "--tenant", account.tenant, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(result.stdout) < 5000  # no 300 KB property echoed back
    assert "its href is bob-s" in result.stdout
    with psycopg.connect(database_url) as conn:
        rows = dict(conn.execute(
            "SELECT href, name FROM calendars WHERE tenant_id = %s", (account.tenant_id,)))
        colors = conn.execute("SELECT count(*) FROM calendars WHERE tenant_id = %s "
                              "AND color IS NOT NULL", (account.tenant_id,)).fetchone()[0]
    assert rows["bob-s"] == "Bob's" and rows["nul"] == "ab" and rows["nulls"] == "nulls"
    assert "longzone" in rows and colors == 0
    for href in ("bob-s", "nul", "nulls", "longzone"):
        assert len(hrefs(http, f"{server.url}{account.username}/{href}/")) == 1


def test_a_uid_in_two_files_and_cr_only_lines_are_refused_with_their_reason(
        database_url: str, account: Account, tmp_path: Path) -> None:
    folder = tmp_path / "clash"
    folder.mkdir()
    uid = unique("dup-")
    (folder / "1.ics").write_bytes(calendar(event(uid, summary="First")).encode())
    (folder / "2.ics").write_bytes(calendar(event(uid, summary="Second")).encode())
    (folder / "3.ics").write_bytes(calendar(event(unique("cr-"))).replace("\r\n", "\r").encode())
    result = cli(database_url, "import", "--tenant", account.tenant, "--calendar", "clash",
                 folder)
    assert result.returncode == 1, result.stdout + result.stderr
    refused = [x for x in result.stdout.splitlines() if x.startswith("refused: ")]
    assert len(refused) == 2, result.stdout
    assert any("2.ics" in x and "1.ics has a resource with this UID too" in x for x in refused)
    assert any("3.ics" in x and "CR alone" in x for x in refused)
    again = cli(database_url, "import", "--tenant", account.tenant, "--calendar", "clash",
                folder)
    # On a re-run the UID is in the calendar: both files are "already there".
    assert "imported 0, skipped 2 (already there), refused 1" in again.stdout


def test_export_of_an_href_near_the_file_name_limit(
        server: Server, database_url: str, account: Account, http: requests.Session,
        tmp_path: Path) -> None:
    folder = tmp_path / "long"
    folder.mkdir()
    name = "x" * 250 + ".ics"
    uid = unique("long-")
    (folder / name).write_bytes(calendar(event(uid)).encode())
    assert cli(database_url, "import", "--tenant", account.tenant, "--calendar", "long",
               folder).returncode == 0
    assert hrefs(http, f"{server.url}{account.username}/long/") == {name}
    out = tmp_path / "out"
    result = cli(database_url, "export", "--tenant", account.tenant, "--calendar", "long", out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (out / "long" / name).read_bytes() == (folder / name).read_bytes()
    too_long = "é" * 130  # 130 characters, 260 bytes: no file name
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO events (tenant_id, calendar_id, title, start_time, uid, href) "
                     "SELECT tenant_id, id, 'odd', '2030-03-01 08:00Z', 'u-long', %s "
                     "FROM calendars WHERE tenant_id = %s AND href = 'long'",
                     (too_long, account.tenant_id))
    again = cli(database_url, "export", "--tenant", account.tenant, "--calendar", "long",
                "--force", out)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "left out: long/" in again.stdout
    assert "already there" in one_line_error(
        cli(database_url, "export", "--tenant", account.tenant, "--calendar", "long", out))
