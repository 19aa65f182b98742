"""The benchmark's HTTP client (bench/dav.py) against a loopback server that
closes idle connections, answers gzip, and can be slow."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.dav import DavClient, DavError, ServerTimeout


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: list[int] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/slow":
            time.sleep(1.0)
        body = f"{self.headers['Authorization']} {self.path}".encode()
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body)
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
        else:
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.connections.append(self.client_address[1])  # the client port
        # Keep-alive was promised, then the connection is dropped, as a server
        # does when its keep-alive timeout ends between two requests.
        self.close_connection = self.path == "/drop"

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_keep_alive_gzip_and_a_dropped_connection(local: str) -> None:
    client = DavClient(local, "u", "p", "cal", timeout=5)
    Handler.connections.clear()
    try:
        first = client.request("GET", "/a")
        assert first.text == "Basic dTpw /a"  # base64 of u:p, body decompressed
        client.request("GET", "/drop")
        time.sleep(0.1)  # the server has closed it by now
        assert client.request("GET", "/b").text.endswith("/b")
        assert client.request("GET", "/c").text.endswith("/c")
    finally:
        client.close()
    a, dropped, b, c = Handler.connections
    assert a == dropped and b == c and b != a  # reused, reopened once, reused


def test_slow_answers_and_bad_statuses_are_errors(local: str) -> None:
    client = DavClient(local, "u", "p", "cal", timeout=0.3)
    try:
        with pytest.raises(ServerTimeout):
            client.request("GET", "/slow")
        with pytest.raises(DavError, match="HTTP 404"):
            client.request("GET", "/x", headers={"Accept-Encoding": "identity"})
    finally:
        client.close()


def test_a_server_that_is_gone_is_an_error() -> None:
    client = DavClient("http://127.0.0.1:9", "u", "p", "cal", timeout=1)
    with pytest.raises(DavError):
        client.request("GET", "/")
