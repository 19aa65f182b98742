"""One webhook POST, to the addresses the URL check approved.

http.client rather than a client library because of one detail: the
connection must go to an address that domain/webhook_urls.check has just
approved, while the Host header and the TLS server name (SNI, certificate
check) stay the URL's host name. http.client resolves through one
overridable function (`_create_connection`), so the pinned addresses are
swapped in there, and nothing else changes. Redirects are not followed (a
3xx counts as a failure): a redirect could point anywhere.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from backside_caldav.domain.webhook_urls import Target

TIMEOUT = 10.0
MAX_READ = 64 * 1024  # of the answer, read and dropped so the connection closes cleanly


@dataclass(frozen=True)
class Outcome:
    status: int | None  # None when no answer came
    error: str | None  # why it failed, for the delivery record

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _pinned(addresses: tuple[str, ...], port: int):  # noqa: ANN202 - http.client's own hook
    def connect(_address: Any, timeout: Any = None, source_address: Any = None) -> socket.socket:
        last: OSError | None = None
        for address in addresses:
            try:
                return socket.create_connection((address, port), timeout, source_address)
            except OSError as exc:
                last = exc
        raise last or OSError("no address to connect to")
    return connect


def post(target: Target, body: bytes, headers: dict[str, str],
         timeout: float = TIMEOUT) -> Outcome:
    """POST the body; any 2xx is delivered, anything else (or no answer) a failure."""
    conn: http.client.HTTPConnection
    if target.scheme == "https":
        conn = http.client.HTTPSConnection(target.host, target.port, timeout=timeout,
                                           context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
    conn._create_connection = _pinned(target.addresses, target.port)  # type: ignore[attr-defined]
    try:
        conn.request("POST", target.path, body=body, headers=headers)
        answer = conn.getresponse()
        answer.read(MAX_READ)
        status = answer.status
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(None, f"{type(exc).__name__}: {exc}"[:500])
    finally:
        conn.close()
    if 200 <= status < 300:
        return Outcome(status, None)
    return Outcome(status, f"HTTP {status}")
