"""Webhooks end to end: the `webhook` commands, a real server with two workers
delivering from a real PostgreSQL, and a real HTTP receiver on 127.0.0.1.

The module works in a database of its own, so the only deliverers at work
are those of the server it starts, with short retry settings; other tests'
servers never touch its webhooks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
import requests
import standardwebhooks
from conftest import (
    Account,
    Server,
    make_account,
    one_line_error,
    run_cli,
    scratch_database,
    start_server,
)

from backside_caldav.db import engines as db
from backside_caldav.db import keys as apikeys
from backside_caldav.db.settings import libpq_url
from backside_caldav.domain.webhook_urls import WebhookUrlError, check

RETRY_FOR = 4.0  # seconds a change is retried before it is given up, here

ICS = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//webhooks//EN\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20260101T000000Z\r
DTSTART:20260302T090000Z\r
DTEND:20260302T100000Z\r
SUMMARY:From the phone\r
END:VEVENT\r
END:VCALENDAR\r
"""


class Receiver:
    """A webhook receiver on 127.0.0.1: it answers `status` (slowly after `delay`) and
    keeps what it acknowledged with a 2xx; stop() closes its port, start() opens the
    same port again."""

    def __init__(self) -> None:
        self.status = 200
        self.delay = 0.0
        self.got: list[tuple[dict[str, str], str, str]] = []  # (headers, body, path)
        self.tries = 0
        self.arrived = 0  # requests that came in, answered or not yet
        self.lock = threading.Lock()
        self.port = 0
        self._httpd: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                data = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                with receiver.lock:
                    receiver.arrived += 1
                time.sleep(receiver.delay)
                with receiver.lock:
                    receiver.tries += 1
                    status = receiver.status
                    if 200 <= status < 300:
                        receiver.got.append((dict(self.headers.items()), data, self.path))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._httpd.server_port
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def bodies(self) -> list[dict]:
        with self.lock:
            return [json.loads(body) for _, body, _ in self.got]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def wait_for(what: Callable[[], object], timeout: float = 15.0, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if what():
            return
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {getattr(what, '__name__', what)}")


@pytest.fixture(scope="module")
def hook_db(admin_url: str) -> Iterator[str]:
    with scratch_database(admin_url, "backside_test_hooks_") as url:
        yield url


@pytest.fixture(scope="module")
def hook_server(hook_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Two workers, so the lease must keep each webhook to one deliverer."""
    srv = start_server(hook_db, tmp_path_factory.mktemp("webhook-logs"), extra_args=[
        "--workers", "2"], extra_env={
        "BACKSIDE_WEBHOOK_RETRY_BASE": "0.2", "BACKSIDE_WEBHOOK_RETRY_CAP": "0.5",
        "BACKSIDE_WEBHOOK_RETRY_FOR": str(RETRY_FOR), "BACKSIDE_WEBHOOK_POLL": "0.2"})
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def sql(hook_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(libpq_url(hook_db), autocommit=True) as conn:
        yield conn


def cli(hook_db: str, *args: str, stdin: str | None = None):
    return run_cli(["webhook", *args], env={"BACKSIDE_DATABASE_URL": hook_db}, stdin=stdin)


def add_webhook(hook_db: str, url: str, tenant: str, *extra: str,
                stdin: str | None = None) -> tuple[str, str | None]:
    """(id, secret printed) of a new webhook, added with the CLI."""
    result = cli(hook_db, "add", "--tenant", tenant, url, "--allow-private", *extra, stdin=stdin)
    assert result.returncode == 0, result.stderr
    first, *rest = result.stdout.splitlines()
    webhook_id = first.split()[1]
    secret = rest[0].split()[-1] if rest else None
    return webhook_id, secret


def calendar_of(sql: psycopg.Connection, account: Account) -> str:
    return sql.execute("SELECT id::text FROM calendars WHERE tenant_id = %s ORDER BY id LIMIT 1",
                       (account.tenant_id,)).fetchone()[0]


def add_event(sql: psycopg.Connection, account: Account, title: str) -> str:
    """An event written by another application with plain SQL."""
    return sql.execute(
        "INSERT INTO events (tenant_id, calendar_id, title, start_time, end_time) VALUES "
        "(%s, %s, %s, '2026-03-02T09:00:00Z', '2026-03-02T10:00:00Z') RETURNING id::text",
        (account.tenant_id, calendar_of(sql, account), title)).fetchone()[0]


def by_hand(secret: str, headers: dict[str, str], body: str) -> bool:
    """The receiver's check in plain Python, as the README shows it."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{body}".encode()
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest("v1," + expected, sig)
               for sig in headers["webhook-signature"].split())


def test_every_writer_s_change_arrives_signed(hook_db: str, hook_server: Server,
                                              receiver: Receiver, sql) -> None:
    account = make_account(hook_db)
    webhook_id, secret = add_webhook(hook_db, receiver.url + "?from=test", account.tenant)
    assert secret is not None and secret.startswith("whsec_")
    # A CalDAV client makes a calendar and an event in it ...
    with requests.Session() as dav:
        dav.auth = (account.username, account.password)
        cal_url = f"{hook_server.url}{account.username}/work/"
        assert dav.request("MKCALENDAR", cal_url).status_code == 201
        r = dav.put(cal_url + "e1.ics", data=ICS.format(uid=uuid.uuid4()).encode(),
                    headers={"Content-Type": "text/calendar"})
        assert r.status_code == 201, r.text
    # ... the API makes one, and another application renames it with SQL.
    key = apikeys.create_key(db.get_engine(hook_db), account.tenant)
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {key.secret}"
    made = api.post(f"{hook_server.url}api/v1/events", json={
        "title": "From the API", "start_time": "2026-03-04T09:00:00Z"}, timeout=30)
    assert made.status_code == 201, made.text
    sql.execute("UPDATE events SET title = 'From SQL' WHERE id = %s", (made.json()["id"],))

    wait_for(lambda: len(receiver.got) >= 4)
    time.sleep(0.3)  # nothing more, nothing twice
    assert [(b["type"], b["source"]) for b in receiver.bodies()] == [
        ("calendar.created", "caldav"), ("event.created", "caldav"),
        ("event.created", "api"), ("event.updated", "sql")]
    for headers, body, path in receiver.got:
        headers = {k.lower(): v for k, v in headers.items()}
        assert standardwebhooks.Webhook(secret).verify(body, headers) == json.loads(body)
        assert by_hand(secret, headers, body)
        assert not by_hand(secret, headers, body.replace("}", ' }'))
        assert headers["webhook-id"] == f"{webhook_id}:{json.loads(body)['cursor']}"
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
        assert headers["content-type"] == "application/json"
        assert headers["user-agent"].startswith("backside-caldav")
        assert path == "/hooks?from=test"
    # The body is the change as GET /api/v1/changes shows it.
    first = int(receiver.bodies()[0]["cursor"])
    feed = api.get(f"{hook_server.url}api/v1/changes", params={"since": str(first - 1)},
                   timeout=30).json()["changes"]
    assert receiver.bodies() == feed
    api.close()


def test_a_receiver_that_was_down_gets_the_missed_changes_in_order_once(
        hook_db: str, hook_server: Server, receiver: Receiver, sql) -> None:
    account = make_account(hook_db)
    webhook_id, _ = add_webhook(hook_db, receiver.url, account.tenant)
    receiver.status = 500  # up but failing ...
    ids = [add_event(sql, account, f"missed {n}") for n in range(3)]
    wait_for(lambda: receiver.tries >= 2)
    receiver.stop()  # ... then gone altogether
    ids += [add_event(sql, account, f"missed {n}") for n in range(3, 5)]
    wait_for(lambda: sql.execute(
        "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = %s AND status_code IS NULL",
        (webhook_id,)).fetchone()[0] >= 1)
    assert receiver.got == []
    receiver.status = 200
    receiver.start()  # the same port, back
    wait_for(lambda: len(receiver.got) >= 5)
    ids.append(add_event(sql, account, "after"))  # its arrival shows the line moved on
    wait_for(lambda: len(receiver.got) >= 6)
    time.sleep(0.3)
    bodies = receiver.bodies()
    assert [b["event_id"] for b in bodies] == ids
    assert all(b["type"] == "event.created" for b in bodies)
    message_ids = [h["webhook-id"] for h, _, _ in receiver.got]
    assert len(set(message_ids)) == len(message_ids) == 6
    # The failures are on record: HTTP 500, then no answer at all.
    shown = cli(hook_db, "deliveries", "--webhook", webhook_id)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert any("HTTP 500" in line for line in lines), shown.stdout
    assert any("no answer" in line for line in lines), shown.stdout
    assert all(webhook_id in line and "failed" in line for line in lines)
    assert f"cursor {bodies[0]['cursor']}" in lines[-1]  # the oldest shown: the head change
    listed = cli(hook_db, "list", "--tenant", account.tenant).stdout
    assert f"cursor {bodies[-1]['cursor']}" in listed and "ok (last: 200" in listed


def test_a_change_failing_for_too_long_is_given_up(hook_db: str, hook_server: Server,
                                                   receiver: Receiver, sql) -> None:
    account = make_account(hook_db)
    webhook_id, _ = add_webhook(hook_db, receiver.url, account.tenant)
    receiver.status = 503
    lost = add_event(sql, account, "never taken")
    wait_for(lambda: sql.execute(
        "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = %s AND given_up",
        (webhook_id,)).fetchone()[0] == 1, timeout=RETRY_FOR + 10)
    receiver.status = 200
    taken = add_event(sql, account, "taken")
    wait_for(lambda: receiver.got)
    assert [b["event_id"] for b in receiver.bodies()] == [taken]
    shown = cli(hook_db, "deliveries", "--tenant", account.tenant, "--limit", "1").stdout
    assert "given up" in shown and "HTTP 503" in shown and lost not in shown


def test_a_slow_receiver_does_not_slow_caldav(hook_db: str, hook_server: Server,
                                              receiver: Receiver, sql) -> None:
    account = make_account(hook_db)
    add_webhook(hook_db, receiver.url, account.tenant)
    receiver.delay = 2.0
    with requests.Session() as dav:
        dav.auth = (account.username, account.password)
        cal_url = f"{hook_server.url}{account.username}/slow/"
        assert dav.request("MKCALENDAR", cal_url).status_code == 201
        wait_for(lambda: receiver.arrived >= 1)  # the receiver is busy with the first change
        for n in range(3):
            started = time.monotonic()
            r = dav.put(f"{cal_url}e{n}.ics", data=ICS.format(uid=uuid.uuid4()).encode(),
                        headers={"Content-Type": "text/calendar"})
            assert r.status_code == 201
            assert time.monotonic() - started < 1.5
    receiver.delay = 0
    wait_for(lambda: len(receiver.got) == 4)


def test_the_events_filter_and_tenants_apart(hook_db: str, hook_server: Server, sql) -> None:
    a, b = make_account(hook_db), make_account(hook_db)
    calendars_only, of_a, of_b = Receiver().start(), Receiver().start(), Receiver().start()
    try:
        filtered_id, _ = add_webhook(hook_db, calendars_only.url, a.tenant, "--events",
                                     "calendar.*")
        add_webhook(hook_db, of_a.url, a.tenant)
        given = "whsec_" + base64.b64encode(b"0123456789abcdef0123").decode()
        _, printed = add_webhook(hook_db, of_b.url, b.tenant, "--secret-stdin",
                                 stdin=given + "\n")
        assert printed is None  # a secret given is not printed back
        event_a = add_event(sql, a, "of A")
        event_b = add_event(sql, b, "of B")
        cal_a = sql.execute("INSERT INTO calendars (tenant_id, name, href) VALUES "
                            "(%s, 'Team', 'team') RETURNING id::text", (a.tenant_id,)).fetchone()[0]
        wait_for(lambda: len(calendars_only.got) == 1 and len(of_a.got) == 2 and of_b.got)
        time.sleep(0.3)
        assert [(x["type"], x["calendar_id"]) for x in calendars_only.bodies()] == [
            ("calendar.created", cal_a)]
        assert [x["event_id"] for x in of_a.bodies()] == [event_a, None]
        assert [x["event_id"] for x in of_b.bodies()] == [event_b]
        headers, body, _ = of_b.got[0]
        assert standardwebhooks.Webhook(given).verify(body, headers)
        # The filtered-out event moved the filtering webhook's cursor on all the same.
        listed = cli(hook_db, "list").stdout
        line = next(x for x in listed.splitlines() if x.startswith(filtered_id))
        assert f"cursor {calendars_only.bodies()[0]['cursor']}" in line
        assert "events calendar.*" in line
    finally:
        for r in (calendars_only, of_a, of_b):
            r.stop()


def count_webhooks(sql: psycopg.Connection) -> int:
    return sql.execute("SELECT count(*) FROM webhooks").fetchone()[0]


@pytest.mark.parametrize(("args", "stdin", "words"), [
    (["ftp://example.com/x"], None, "only http:// and https://"),
    (["http:///path"], None, "no host"),
    (["http://127.0.0.1:9/x"], None, "loopback"),
    (["http://[::1]/x"], None, "loopback"),
    (["http://10.1.2.3/x"], None, "private"),
    (["http://user:pw@example.com/x"], None, "no user or password"),
    (["http://127.0.0.1:9/x", "--allow-private", "--events", "meeting.*"], None,
     "matches no change type"),
    (["http://127.0.0.1:9/x", "--allow-private", "--secret-stdin"], "hunter2\n",
     "bad webhook secret"),
    (["http://127.0.0.1:9/x", "--allow-private", "--secret-stdin"], "whsec_c2hvcnQ=\n",
     "bad webhook secret"),
])
def test_refusals_are_one_line_and_store_nothing(hook_db: str, sql, args: list[str],
                                                 stdin: str | None, words: str) -> None:
    account = make_account(hook_db)
    before = count_webhooks(sql)
    line = one_line_error(cli(hook_db, "add", "--tenant", account.tenant, *args, stdin=stdin))
    assert words in line, line
    assert count_webhooks(sql) == before


def test_unknown_tenant_and_webhook(hook_db: str, sql) -> None:
    before = count_webhooks(sql)
    line = one_line_error(cli(hook_db, "add", "--tenant", "nobody-" + uuid.uuid4().hex[:6],
                              "http://127.0.0.1:9/x", "--allow-private"))
    assert "no tenant named" in line
    assert count_webhooks(sql) == before
    missing = str(uuid.uuid4())
    assert missing in one_line_error(cli(hook_db, "remove", missing))
    assert "not a webhook id" in one_line_error(cli(hook_db, "remove", "not-an-id"))
    assert "--limit" in one_line_error(cli(hook_db, "deliveries", "--limit", "0"))


def test_remove(hook_db: str, sql) -> None:
    account = make_account(hook_db)
    webhook_id, _ = add_webhook(hook_db, "http://127.0.0.1:9/x", account.tenant)
    assert webhook_id in cli(hook_db, "list", "--tenant", account.tenant).stdout
    removed = cli(hook_db, "remove", webhook_id)
    assert removed.returncode == 0 and "removed" in removed.stdout
    assert webhook_id not in cli(hook_db, "list").stdout


# The URL check alone, with a made-up resolver.

def resolver(*addresses: str):
    def resolve(host: str, port: int, **_kw: object) -> list[tuple]:
        family = socket.AF_INET6
        return [(family, socket.SOCK_STREAM, 6, "", (a, port, 0, 0) if ":" in a else (a, port))
                for a in addresses]
    return resolve


@pytest.mark.parametrize(("address", "why"), [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
    ("10.0.0.1", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"),
    ("fd00::1", "private"), ("169.254.169.254", "link-local"), ("fe80::1%eth0", "link-local"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"), ("0.0.0.0", "unspecified"),
    ("::ffff:127.0.0.1", "loopback"), ("100.64.0.1", "not public"), ("240.0.0.1", "reserved"),
])
def test_private_addresses_are_refused(address: str, why: str) -> None:
    with pytest.raises(WebhookUrlError, match=why):
        check("https://hooks.example.com/x", resolve=resolver("93.184.216.34", address))
    target = check("https://hooks.example.com/x", allow_private=True,
                   resolve=resolver(address))
    assert target.addresses == (address.split("%")[0],)


def test_a_public_url_is_taken_as_checked() -> None:
    target = check("HTTPS://Hooks.Example.com:8443/in?a=1",
                   resolve=resolver("93.184.216.34", "2606:2800:220:1::1"))
    assert (target.scheme, target.host, target.port, target.path) == (
        "https", "hooks.example.com", 8443, "/in?a=1")
    assert target.addresses == ("93.184.216.34", "2606:2800:220:1::1")
    assert check("http://hooks.example.com", resolve=resolver("8.8.8.8")).path == "/"


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "example.com/x",
                                 "http://", "https://:443/x", "http://a b.com/",
                                 "gopher://127.0.0.1:70/", "http://example.com:99999/"])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(WebhookUrlError):
        check(url, resolve=resolver("8.8.8.8"))


def test_a_host_that_does_not_resolve_is_refused() -> None:
    def fails(*_a: object, **_k: object) -> list[tuple]:
        raise socket.gaierror(-2, "Name or service not known")
    with pytest.raises(WebhookUrlError, match="cannot resolve"):
        check("https://nowhere.invalid/", resolve=fails)


def test_readme_receiver_example_runs() -> None:
    """The README's verification snippet, run on a message signed by the library."""
    text = Path(__file__).resolve().parents[1].joinpath("README.md").read_text()
    snippet = next(block for block in text.split("```python\n")
                   if block.startswith("# verify a backside-caldav webhook")).split("```")[0]
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    body = '{"type":"event.created"}'
    from datetime import datetime, timezone
    at = datetime.now(timezone.utc)
    headers = {"webhook-id": "a:1", "webhook-timestamp": str(int(at.timestamp())),
               "webhook-signature": standardwebhooks.Webhook(secret).sign("a:1", at, body)}
    scope: dict = {}
    exec(snippet, scope)  # noqa: S102 - our own README
    assert scope["verify"](secret, headers, body.encode())
    assert not scope["verify"](secret, headers, b'{"type":"event.deleted"}')
