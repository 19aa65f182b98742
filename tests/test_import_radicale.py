"""`backside-caldav import` of a stock Radicale storage folder (written by a
real Radicale 3.9 with its multifilesystem storage, in the test), and an
import killed mid-way that a re-run completes to the clean end state (and one
stopped by Ctrl-C, with its summary)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import radicale
import radicale.config
import requests
from conftest import CLI, ROOT, Account, Server, make_account, run_cli, serve_wsgi
from import_data import BERLIN, calendar, event, fetch, hrefs, series, todo, unique

from backside_caldav.db import accounts
from backside_caldav.db import engines as db
from backside_caldav.db.settings import libpq_url

MKCALENDAR = ('<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" '
              'xmlns:I="http://apple.com/ns/ical/"><D:set><D:prop>'
              "<D:displayname>{name}</D:displayname><I:calendar-color>{color}</I:calendar-color>"
              "<C:calendar-description>{description}</C:calendar-description>"
              "<C:supported-calendar-component-set><C:comp name=\"{comp}\"/>"
              "</C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>")
MKADDRESSBOOK = ('<D:mkcol xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:set>'
                 "<D:prop><D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype>"
                 "<D:displayname>Contacts</D:displayname></D:prop></D:set></D:mkcol>")


def run_import(database_url: str, *args: str | Path):
    return run_cli(["import", *map(str, args)], env={"BACKSIDE_DATABASE_URL": database_url})


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, str]]:
    """(storage folder, alice, bob): two users, three calendars (a task list among
    them), a recurring series with overrides, and an address book, as stock
    Radicale stores them."""
    folder = tmp_path_factory.mktemp("radicale-storage")
    config = radicale.config.load([])
    config.update({"storage": {"type": "multifilesystem", "filesystem_folder": str(folder)},
                   "auth": {"type": "none"}, "rights": {"type": "owner_only"},
                   "web": {"type": "none"}}, "test", privileged=True)
    alice, bob = unique("alice"), unique("bob")
    master, moved, renamed = series("standup-series")
    with serve_wsgi(radicale.Application(config)) as url, requests.Session() as http:
        def put(user: str, path: str, body: str) -> None:
            http.auth = (user, "any")
            answer = http.put(f"{url}{user}/{path}", data=body.encode(),
                              headers={"Content-Type": "text/calendar"})
            assert answer.status_code == 201, answer.text

        def make(user: str, path: str, method: str, body: str) -> None:
            http.auth = (user, "any")
            assert http.request(method, f"{url}{user}/{path}/", data=body).status_code == 201
        make(alice, "work", "MKCALENDAR", MKCALENDAR.format(
            name="Work", color="#FF0000FF", description="Alice's job", comp="VEVENT"))
        make(alice, "chores", "MKCALENDAR", MKCALENDAR.format(
            name="Chores", color="#0000FFFF", description="To do", comp="VTODO"))
        make(bob, "work", "MKCALENDAR", MKCALENDAR.format(
            name="Work", color="#00FF00FF", description="Bob's job", comp="VEVENT"))
        make(bob, "contacts", "MKCOL", MKADDRESSBOOK)
        put(alice, "work/a7f3c2.ics", calendar(master, moved, renamed, zones=(BERLIN,)))
        put(alice, "work/lunch.ics", calendar(event("alice-lunch", summary="Lunch")))
        put(alice, "chores/t-1.ics", calendar(todo("chore-1", "Laundry")))
        put(alice, "chores/t-2.ics", calendar(todo("chore-2", "Dishes")))
        put(bob, "work/bob-1.ics", calendar(event("bob-1", summary="Bob's review")))
    root = folder / "collection-root"
    stray = root / alice / "work" / ".Radicale.tmp-x1y2"  # an upload Radicale never finished
    stray.mkdir()
    (stray / "half.ics").write_text("BEGIN:VCALENDAR\r\n")
    assert (root / alice / "work" / ".Radicale.props").is_file()
    assert (root / alice / "work" / ".Radicale.cache").is_dir()
    yield folder, alice, bob


def items(storage: Path, user: str, collection: str) -> dict[str, bytes]:
    """The item files Radicale wrote: name -> bytes."""
    where = storage / "collection-root" / user / collection
    return {p.name: p.read_bytes() for p in where.iterdir() if not p.name.startswith(".")}


def props(http: requests.Session, url: str) -> str:
    return http.request("PROPFIND", url, headers={"Depth": "0"}, data=(
        '<propfind xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" '
        'xmlns:I="http://apple.com/ns/ical/"><prop><displayname/><I:calendar-color/>'
        "<C:calendar-description/><C:supported-calendar-component-set/></prop></propfind>")).text


def login(server: Server, database_url: str, user: str, tenant: str) -> requests.Session:
    accounts.add_account(db.get_engine(database_url), user, tenant, "password " + user)
    http = requests.Session()
    http.auth = (user, "password " + user)
    return http


def test_a_tenant_per_radicale_user(server: Server, database_url: str,
                                    storage: tuple[Path, str, str]) -> None:
    folder, alice, bob = storage
    result = run_import(database_url, "--tenant-per-user", folder)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout.splitlines()
    assert out[0] == "imported 5, skipped 0 (already there), refused 0 into one tenant per user"
    assert {f"created tenant {alice}", f"created tenant {bob}",
            f"left out: address book {bob}/contacts (address books are not supported)"} <= set(out)

    as_alice = login(server, database_url, alice, alice)
    as_bob = login(server, database_url, bob, bob)
    for http, user, collection in ((as_alice, alice, "work"), (as_alice, alice, "chores"),
                                   (as_bob, bob, "work")):
        url = f"{server.url}{user}/{collection}/"
        on_disk = items(folder, user, collection)
        assert hrefs(http, url) == set(on_disk)
        for href, data in on_disk.items():
            assert fetch(http, url + href) == data, (user, collection, href)
    series_text = items(folder, alice, "work")["a7f3c2.ics"].decode()
    assert "SUMMARY:Stand-up (moved)" in series_text and "RECURRENCE-ID" in series_text
    work = props(as_alice, f"{server.url}{alice}/work/")
    assert all(v in work for v in ("Work", "#FF0000FF", "Alice's job", 'name="VEVENT"'))
    assert 'name="VTODO"' not in work
    chores = props(as_alice, f"{server.url}{alice}/chores/")
    assert all(v in chores for v in ("Chores", "#0000FFFF", 'name="VTODO"'))
    assert 'name="VEVENT"' not in chores
    assert "Bob's job" in props(as_bob, f"{server.url}{bob}/work/")
    assert as_bob.get(f"{server.url}{bob}/contacts/").status_code == 404


def test_all_users_into_one_tenant(server: Server, database_url: str, account: Account,
                                   storage: tuple[Path, str, str]) -> None:
    folder, alice, bob = storage
    http = requests.Session()
    http.auth = (account.username, account.password)
    result = run_import(database_url, "--tenant", account.tenant, folder / "collection-root")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[0].startswith("imported 5, skipped 0")
    base = f"{server.url}{account.username}/"
    # Both users have "work": the first user by name keeps it, the other is renamed.
    targets = {"work": (alice, "work"), "chores": (alice, "chores"),
               f"{bob}-work": (bob, "work")}
    for href, (user, collection) in targets.items():
        on_disk = items(folder, user, collection)
        assert hrefs(http, base + href + "/") == set(on_disk)
        for name, data in on_disk.items():
            assert fetch(http, f"{base}{href}/{name}") == data
    assert f"Work ({bob})" in props(http, f"{base}{bob}-work/")

    again = run_import(database_url, "--tenant", account.tenant, folder)
    assert again.returncode == 0
    assert again.stdout.splitlines()[0].startswith("imported 0, skipped 5 (already there)")


def big_file(path: Path, count: int) -> dict[str, tuple[str, int]]:
    """count resources (every tenth a series with two overrides) in one file;
    returns uid -> (its resource text after the split, its overrides)."""
    components, expected = [], {}
    for n in range(count):
        if n % 10 == 0:
            parts = series(f"big-{n}")
            expected[f"big-{n}"] = (calendar(*parts, zones=(BERLIN,)), 2)
        else:
            parts = (event(f"big-{n}", f"2030{1 + n % 12:02}{1 + n % 28:02}T100000Z",
                           f"Event {n}"),)
            expected[f"big-{n}"] = (calendar(*parts), 0)
        components.extend(parts)
    path.write_bytes(calendar(*components, zones=(BERLIN,)).encode())
    return expected


def stored(sql: psycopg.Connection, tenant_id: str) -> dict[str, tuple[str, str, int]]:
    """uid -> (href, text, overrides) of the tenant's imported calendar."""
    rows = sql.execute(
        "SELECT m.uid, m.href, m.ical_source, (SELECT count(*) FROM events o WHERE "
        "o.tenant_id = m.tenant_id AND o.series_id = m.id) FROM events m JOIN calendars c "
        "ON c.tenant_id = m.tenant_id AND c.id = m.calendar_id WHERE m.tenant_id = %s "
        "AND c.href = 'big' AND m.series_id IS NULL AND m.deleted_at IS NULL", (tenant_id,))
    return {uid: (href, text, overrides) for uid, href, text, overrides in rows}


def test_an_interrupted_import_reruns_to_the_same_end_state(
        database_url: str, account: Account, sql: psycopg.Connection, tmp_path: Path) -> None:
    count = 3000
    source = tmp_path / "big.ics"
    expected = big_file(source, count)
    env = {k: v for k, v in os.environ.items() if k != "BACKSIDE_DATABASE_URL"}
    env["BACKSIDE_DATABASE_URL"] = database_url
    process = subprocess.Popen(
        CLI + ["import", "--tenant", account.tenant, "--calendar", "big", str(source)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and len(stored(sql, account.tenant_id)) < 200:
            assert process.poll() is None, process.communicate()
            time.sleep(0.01)
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate()
    before = stored(sql, account.tenant_id)
    assert 200 <= len(before) < count, "the import was not killed mid-way"
    for uid, (href, text, overrides) in before.items():  # each resource whole, or absent
        assert (text, overrides) == expected[uid], uid
        assert href == f"{uid}.ics"

    rerun = run_import(database_url, "--tenant", account.tenant, "--calendar", "big", source)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.splitlines()[0].startswith(
        f"imported {count - len(before)}, skipped {len(before)} (already there), refused 0")

    clean = make_account(database_url)
    fresh = run_import(database_url, "--tenant", clean.tenant, "--calendar", "big", source)
    assert fresh.returncode == 0, fresh.stderr
    after, reference = stored(sql, account.tenant_id), stored(sql, clean.tenant_id)
    assert len(reference) == count
    assert after == reference
    assert {uid: (text, n) for uid, (_href, text, n) in after.items()} == expected
    with psycopg.connect(libpq_url(database_url)) as conn:
        feed = conn.execute("SELECT count(*) FROM change_feed WHERE tenant_id = %s AND "
                            "kind = 'event.created' AND source = 'import'",
                            (account.tenant_id,)).fetchone()[0]
    assert feed == count


def test_ctrl_c_stops_with_a_summary_of_what_is_in(
        database_url: str, account: Account, sql: psycopg.Connection, tmp_path: Path) -> None:
    source = tmp_path / "big.ics"
    expected = big_file(source, 1500)
    env = {k: v for k, v in os.environ.items() if k != "BACKSIDE_DATABASE_URL"}
    env["BACKSIDE_DATABASE_URL"] = database_url
    process = subprocess.Popen(
        CLI + ["import", "--tenant", account.tenant, "--calendar", "big", str(source)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and len(stored(sql, account.tenant_id)) < 50:
            assert process.poll() is None, process.communicate()
            time.sleep(0.01)
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 130, (out, err)
    assert "Traceback" not in err
    assert "interrupted: what is above was committed" in err
    imported = int(out.splitlines()[0].split()[1].rstrip(","))
    now = stored(sql, account.tenant_id)
    # A commit can land between the database's answer and the count going up.
    assert len(now) in (imported, imported + 1)
    assert 50 <= len(now) < len(expected)
    for uid, (_href, text, overrides) in now.items():
        assert (text, overrides) == expected[uid]
