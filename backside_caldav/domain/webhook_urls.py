"""Which webhook URLs the server may POST to, and at which addresses.

A webhook makes this server send requests on a tenant's say: without a
check, a URL naming 127.0.0.1, 10.0.0.5 or the cloud metadata address
169.254.169.254 would reach services that trust the server's network
position (SSRF). So only http(s) URLs are taken, and every address the host
resolves to must be public, unless the webhook was added with allow_private
(a receiver on the same machine, the tests). The check runs at `webhook add`
and again before each POST, since DNS answers change; the POST then connects
to the very addresses checked here (service/webhook_http.py), so a name that
resolves elsewhere a moment later (DNS rebinding) cannot slip through.

Pure except for the resolver, which is a parameter (socket.getaddrinfo).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from backside_caldav.domain.errors import BacksideError

Resolver = Callable[..., Sequence[tuple[Any, ...]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL = 2000


class WebhookUrlError(BacksideError, ValueError):
    """A webhook URL this server will not POST to (the message says why)."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (addresses) and what to ask for."""
    url: str
    scheme: str
    host: str  # as written (the Host header and TLS server name)
    port: int
    path: str  # path and query, at least "/"
    addresses: tuple[str, ...]


def parse(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an http(s) URL with a host, or WebhookUrlError."""
    if len(url) > MAX_URL or any(c.isspace() or ord(c) < 32 for c in url):
        raise WebhookUrlError(f"bad webhook URL {url[:100]!r}: spaces, control characters or "
                              f"over {MAX_URL} characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise WebhookUrlError(f"bad webhook URL {url!r}: only http:// and https:// URLs")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlError(f"bad webhook URL {url!r}: no user or password in the URL "
                              "(receivers check the signature instead)")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise WebhookUrlError(f"bad webhook URL {url!r}: bad port") from None
    host = parts.hostname
    if not host:
        raise WebhookUrlError(f"bad webhook URL {url!r}: no host")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, host, port, path


def refusal(address: IPAddress) -> str | None:
    """Why a webhook may not reach this address ('loopback', 'private' ...), or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refusal(address.ipv4_mapped)
    for kind in ("unspecified", "loopback", "link_local", "multicast", "reserved", "private"):
        if getattr(address, "is_" + kind):
            return kind.replace("_", "-")
    if not address.is_global:  # shared (100.64/10), documentation ranges ...
        return "not public"
    return None


def check(url: str, allow_private: bool = False,
          resolve: Resolver = socket.getaddrinfo) -> Target:
    """The URL checked and resolved; WebhookUrlError names the first refused address."""
    scheme, host, port, path = parse(url)
    try:
        found = resolve(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise WebhookUrlError(f"cannot resolve the host of webhook URL {url!r}: {exc}") from None
    addresses: list[str] = []
    for *_, sockaddr in found:
        text = str(sockaddr[0]).split("%", 1)[0]  # an IPv6 zone index is no part of the address
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise WebhookUrlError(f"cannot resolve the host of webhook URL {url!r}: no address")
    if not allow_private:
        for text in addresses:
            why = refusal(ipaddress.ip_address(text))
            if why is not None:
                raise WebhookUrlError(
                    f"webhook URL {url!r} refused: {host} resolves to {text}, a {why} address "
                    "(give --allow-private for a receiver inside your own network)")
    return Target(url, scheme, host, port, path, tuple(addresses))
