"""Paths of hrefs as Radicale reads and writes them, without its slow steps
for the hrefs clients send.

A multiget of 100 hrefs spent a third of its time in urlparse, unquote and
Radicale's sanitize_path (a posixpath.join per segment) for each href, and
in quote and escape for each href it wrote back. An href that is already a
plain absolute path with safe characters is its own answer to all of them;
anything else takes Radicale's own steps, so the result is always the same
(tests/test_hrefs.py checks that on generated hrefs).
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlparse

from radicale import pathutils

# Characters quote() leaves alone (and escape() too), "/" included.
_PLAIN = re.compile(r"[A-Za-z0-9_.~/-]*")


def member_path(href: str) -> str:
    """sanitize_path(unquote(urlparse(href).path)), as Radicale reads an href."""
    if (href.startswith("/") and plain(href) and "//" not in href
            and "/./" not in href + "/" and "/../" not in href + "/"):
        return href
    return pathutils.sanitize_path(unquote(urlparse(href).path))


def plain(text: str) -> bool:
    """Whether quote() and escape() leave text as it is."""
    return _PLAIN.fullmatch(text) is not None


def quoted(path: str) -> str:
    """quote(path), as Radicale writes an href (which needs no XML escaping)."""
    return path if plain(path) else quote(path)
