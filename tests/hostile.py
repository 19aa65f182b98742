"""Shared helpers for the hostile-input and fuzz tests: raw HTTP and table snapshots.

Requests go through http.client so paths and headers reach the server byte
for byte (requests would normalise them). Every response is tallied, so the
run can report how many hostile requests were sent and how many got a 5xx.
"""

from __future__ import annotations

import base64
import http.client
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import psycopg

TABLES = ("calendars", "events", "event_attendees", "event_links", "calendar_objects",
          "calendar_changes")


@dataclass
class Tally:
    sent: int = 0
    server_errors: int = 0
    tracebacks: int = 0
    examples: list[str] = field(default_factory=list)  # the first few 5xx, for the summary


TALLY = Tally()


@dataclass
class Reply:
    status: int
    text: str
    headers: dict[str, str]


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def send(base_url: str, method: str, path: str, headers: dict[str, str] | None = None,
         body: bytes | None = None, timeout: float = 60, chunked: bool = False,
         hostile: bool = True) -> Reply:
    """One raw request; the path is sent exactly as given. hostile=False keeps a
    set-up or check request out of the tally (its own test asserts its status)."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        elif body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        if body is not None:
            try:
                if chunked:
                    for i in range(0, len(body), 1 << 20):
                        piece = body[i:i + (1 << 20)]
                        conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
                    conn.send(b"0\r\n\r\n")
                else:
                    conn.send(body)
            except (BrokenPipeError, ConnectionResetError):
                # The server answered early (413) and closed while the body was
                # still on its way, as RFC 9112 9.6 allows: read that answer.
                pass
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        reply = Reply(response.status, text, {k.lower(): v for k, v in response.getheaders()})
    finally:
        conn.close()
    if not hostile:
        return reply
    TALLY.sent += 1
    # 501 is what RFC 9110 15.6.2 requires for an unknown method: not a server error.
    if reply.status >= 500 and reply.status != 501:
        TALLY.server_errors += 1
        if len(TALLY.examples) < 5:
            TALLY.examples.append(f"{method} {path[:80]} -> {reply.status} {reply.text[:80]!r}")
    if "Traceback" in reply.text:
        TALLY.tracebacks += 1
    return reply


def snapshot(sql: psycopg.Connection, tenant_id: str) -> dict[str, tuple[int, str]]:
    """Row count and a checksum of every row of the tenant, per table."""
    result = {}
    for table in TABLES:
        result[table] = sql.execute(
            f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
            f"FROM {table} t WHERE tenant_id = %s", (tenant_id,)).fetchone()
    return result
