"""`account list | delete | email`, `account add --email`, `tenant list | delete`:
over the real database and the real server."""

from __future__ import annotations

import json

import psycopg
import pytest
import requests
from conftest import Account, Server, make_account, one_line_error, run_cli

from backside_caldav.db.settings import libpq_url

SERIES = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\n"
          "UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20300107T090000\r\n"
          "DTEND;TZID=Europe/Berlin:20300107T100000\r\nRRULE:FREQ=DAILY;COUNT=5\r\n"
          "SUMMARY:Series\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:ann@example.com\r\nEND:VEVENT\r\n"
          "BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
          "RECURRENCE-ID;TZID=Europe/Berlin:20300108T090000\r\n"
          "DTSTART;TZID=Europe/Berlin:20300108T110000\r\nDTEND;TZID=Europe/Berlin:20300108T120000\r\n"
          "SUMMARY:Moved\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
TASK = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VTODO\r\nUID:{uid}\r\n"
        "DTSTAMP:20260101T000000Z\r\nSUMMARY:Task\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")


def cli(database_url: str, *args: str, stdin: str | None = None):
    return run_cli(list(args), env={"BACKSIDE_DATABASE_URL": database_url}, stdin=stdin)


def propfind(server: Server, username: str, password: str) -> int:
    return requests.request("PROPFIND", f"{server.url}{username}/", auth=(username, password),
                            headers={"Depth": "0"}, timeout=30).status_code


def fill(server: Server, database_url: str, account: Account) -> str:
    """Events (a series with an override and an attendee, a task), a webhook, an
    API key, a failed login: rows in every kind of table. Returns the key."""
    auth = (account.username, account.password)
    base = f"{server.url}{account.username}/calendar/"
    for i in range(3):
        r = requests.put(f"{base}s{i}.ics", data=SERIES.format(uid=f"s{i}-{account.tenant}"),
                         auth=auth, headers={"Content-Type": "text/calendar"}, timeout=30)
        assert r.status_code == 201, r.text
    r = requests.put(f"{base}t.ics", data=TASK.format(uid=f"t-{account.tenant}"), auth=auth,
                     headers={"Content-Type": "text/calendar"}, timeout=30)
    assert r.status_code == 201, r.text
    assert requests.delete(f"{base}s2.ics", auth=auth, timeout=30).status_code == 200  # to the trash (Radicale answers 200)
    assert propfind(server, account.username, "not the password") == 401
    made = cli(database_url, "apikey", "add", "--tenant", account.tenant)
    assert made.returncode == 0, made.stderr
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        # Its cursor is past every change, so the server's deliverer leaves it alone
        # (no rows appear while the test counts); one delivery record by hand.
        hook = conn.execute("INSERT INTO webhooks (tenant_id, url, secret, cursor) "
                            "VALUES (%s, 'https://hooks.example.com/x', 'whsec_x', 2^62) "
                            "RETURNING id", (account.tenant_id,)).fetchone()[0]
        conn.execute("INSERT INTO webhook_deliveries (tenant_id, webhook_id, seq, type, "
                     "attempt, delivered) VALUES (%s, %s, 1, 'event.created', 1, true)",
                     (account.tenant_id, hook))
    return made.stdout.split()[-1]


def rows_by_table(database_url: str, tenant_id: str) -> dict[str, int]:
    """Rows of the tenant in every table that has a tenant_id column (and its tenants row)."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'tenant_id' "
            "AND table_schema = current_schema() AND table_name IN (SELECT table_name FROM "
            "information_schema.tables WHERE table_type = 'BASE TABLE')")]
        counts = {t: conn.execute(f'SELECT count(*) FROM "{t}" WHERE tenant_id = %s',
                                  (tenant_id,)).fetchone()[0] for t in tables}
        counts["tenants"] = conn.execute("SELECT count(*) FROM tenants WHERE id = %s",
                                         (tenant_id,)).fetchone()[0]
        counts["login_failures"] = conn.execute(
            "SELECT count(*) FROM login_failures l JOIN accounts a ON l.key = "
            "'account:' || a.username WHERE a.tenant_id = %s", (tenant_id,)).fetchone()[0]
    return counts


def test_tenant_delete_removes_every_row_and_nothing_else(server: Server,
                                                          database_url: str) -> None:
    doomed, kept = make_account(database_url), make_account(database_url)
    doomed_key, kept_key = fill(server, database_url, doomed), fill(server, database_url, kept)
    before = rows_by_table(database_url, doomed.tenant_id)
    for table in ("events", "event_instances", "event_attendees", "calendar_objects",
                  "calendars", "accounts", "api_keys", "webhooks", "change_feed",
                  "calendar_changes", "login_failures", "webhook_deliveries"):
        assert before[table] > 0, table  # the test reaches every kind of row
    kept_before = rows_by_table(database_url, kept.tenant_id)

    refused = cli(database_url, "tenant", "delete", doomed.tenant)
    assert "--yes" in one_line_error(refused)
    assert rows_by_table(database_url, doomed.tenant_id) == before

    done = cli(database_url, "tenant", "delete", doomed.tenant, "--yes")
    assert done.returncode == 0, done.stderr
    assert f"tenant {doomed.tenant} ({doomed.tenant_id}) deleted" in done.stdout
    printed = dict(line.strip().split(": ") for line in done.stdout.splitlines()[1:])
    # Events: 3 series + 3 overrides (s2 is in the trash), calendars: the default one.
    assert printed["events"] == str(before["events"]) == "6"
    assert printed["calendars"] == "1" and printed["accounts"] == "1"
    assert printed["api_keys"] == "1" and printed["webhooks"] == "1"

    after = rows_by_table(database_url, doomed.tenant_id)
    assert set(after.values()) == {0}, after
    assert rows_by_table(database_url, kept.tenant_id) == kept_before

    assert propfind(server, doomed.username, doomed.password) == 401
    assert propfind(server, kept.username, kept.password) == 207
    api = server.url + "api/v1/calendars"
    assert requests.get(api, headers={"Authorization": f"Bearer {doomed_key}"},
                        timeout=30).status_code == 401
    assert requests.get(api, headers={"Authorization": f"Bearer {kept_key}"},
                        timeout=30).status_code == 200

    again = cli(database_url, "tenant", "delete", doomed.tenant, "--yes")
    assert "no tenant named" in one_line_error(again)


def test_tenant_list_counts(server: Server, database_url: str) -> None:
    account = make_account(database_url)
    fill(server, database_url, account)
    listed = cli(database_url, "tenant", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    mine = next(t for t in json.loads(listed.stdout) if t["name"] == account.tenant)
    assert mine == {"id": account.tenant_id, "name": account.tenant, "calendars": 1,
                    "events": 2, "tasks": 1, "logins": 1, "api_keys": 1, "webhooks": 1}
    table = cli(database_url, "tenant", "list")
    line = next(x for x in table.stdout.splitlines() if x.startswith(account.tenant + " "))
    assert line.split() == [account.tenant, account.tenant_id, "1", "2", "1", "1", "1", "1"]
    assert table.stdout.splitlines()[0].split()[:3] == ["TENANT", "ID", "CALENDARS"]


def test_account_list_email_and_last_login(server: Server, database_url: str) -> None:
    tenant = make_account(database_url).tenant
    added = cli(database_url, "account", "add", "mail-user-1", "--tenant", tenant,
                "--email", "Mail.User@Example.com", "--password-stdin", stdin="a good password\n")
    assert added.returncode == 0, added.stderr
    taken = cli(database_url, "account", "add", "mail-user-2", "--tenant", tenant,
                "--email", "mail.user@example.COM", "--password-stdin", stdin="a good password\n")
    assert "already the address of login 'mail-user-1'" in one_line_error(taken)
    bad = cli(database_url, "account", "add", "mail-user-2", "--tenant", tenant,
              "--email", "not-an-address", "--password-stdin", stdin="a good password\n")
    assert "bad email" in one_line_error(bad)

    def listed() -> dict[str, dict]:
        result = cli(database_url, "account", "list", "--tenant", tenant, "--json")
        assert result.returncode == 0, result.stderr
        return {a["login"]: a for a in json.loads(result.stdout)}

    rows = listed()
    assert set(rows) == {"mail-user-1", next(iter(set(rows) - {"mail-user-1"}))}
    assert rows["mail-user-1"]["email"] == "Mail.User@Example.com"
    assert rows["mail-user-1"]["last_login"] is None
    assert rows["mail-user-1"]["tenant"] == tenant
    assert propfind(server, "mail-user-1", "a good password") == 207
    assert listed()["mail-user-1"]["last_login"] is not None

    text = cli(database_url, "account", "list", "--tenant", tenant).stdout.splitlines()
    assert text[0].split() == ["LOGIN", "TENANT", "EMAIL", "LAST", "LOGIN"]
    assert any(x.split()[:3] == ["mail-user-1", tenant, "Mail.User@Example.com"] for x in text)

    assert cli(database_url, "account", "email", "mail-user-1", "--clear").returncode == 0
    assert listed()["mail-user-1"]["email"] is None
    assert cli(database_url, "account", "email", "mail-user-1", "ann@example.org"
               ).returncode == 0
    assert listed()["mail-user-1"]["email"] == "ann@example.org"
    assert "either an email address or --clear" in one_line_error(
        cli(database_url, "account", "email", "mail-user-1"))
    assert "no account 'nobody-here'" in one_line_error(
        cli(database_url, "account", "email", "nobody-here", "x@example.org"))
    assert "no tenant named" in one_line_error(
        cli(database_url, "account", "list", "--tenant", "no-such-tenant-x"))
    everyone = json.loads(cli(database_url, "account", "list", "--json").stdout)
    assert {"mail-user-1"} <= {a["login"] for a in everyone}


@pytest.mark.parametrize("email", ["two@at@example.com", "spaces in@example.com", "x@y"])
def test_account_email_refuses_malformed(database_url: str, email: str) -> None:
    account = make_account(database_url)
    assert "bad email" in one_line_error(
        cli(database_url, "account", "email", account.username, email))


def test_account_delete_keeps_the_tenant(server: Server, database_url: str) -> None:
    account = make_account(database_url)
    fill(server, database_url, account)
    assert propfind(server, account.username, account.password) == 207
    done = cli(database_url, "account", "delete", account.username)
    assert done.returncode == 0, done.stderr
    assert "keeps its calendars" in done.stdout and "0 logins left" in done.stdout
    assert propfind(server, account.username, account.password) == 401
    counts = rows_by_table(database_url, account.tenant_id)
    assert counts["accounts"] == 0 and counts["events"] == 6 and counts["tenants"] == 1
    assert "no account" in one_line_error(cli(database_url, "account", "delete",
                                              account.username))
