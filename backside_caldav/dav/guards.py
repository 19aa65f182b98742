"""Request checks made before Radicale sees a request.

Radicale trusts its input in places: a malformed Basic credential, a
Destination with a bad port or a charset Python does not know raise deep in
its code and come back as 500; an unknown method gets 405 where HTTP asks
for 501. Each check here answers such a request with a 4xx and a reason,
so nothing behind it runs, let alone writes.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from urllib.parse import unquote_to_bytes, urlsplit

from backside_caldav.dav import basic_auth
from backside_caldav.dav.refusal import Refusal
from backside_caldav.domain.ics_split import MAX_SEGMENT, NOT_IN_NAMES

RADICALE_METHODS = frozenset({"DELETE", "GET", "HEAD", "MKCALENDAR", "MKCOL", "MOVE", "OPTIONS",
                              "POST", "PROPFIND", "PROPPATCH", "PUT", "REPORT"})
# Methods HTTP/WebDAV define that this server does not implement: 405, not 501.
KNOWN_UNSUPPORTED = frozenset({"ACL", "BIND", "CHECKIN", "CHECKOUT", "CONNECT", "COPY", "LABEL",
                               "LOCK", "MERGE", "MKACTIVITY", "MKREDIRECTREF", "MKWORKSPACE",
                               "ORDERPATCH", "PATCH", "REBIND", "SEARCH", "TRACE", "UNBIND",
                               "UNCHECKOUT", "UNLOCK", "UPDATE", "UPDATEREDIRECTREF",
                               "VERSION-CONTROL"})
ALLOW = ", ".join(sorted(RADICALE_METHODS))
MAX_PATH = 1024
_ETAG_LIST = re.compile(r'^\s*(\*|(W/)?"[^"\x00-\x1f]*"(\s*,\s*(W/)?"[^"\x00-\x1f]*")*)\s*$')


def check_method(method: str) -> Refusal | None:
    if method in RADICALE_METHODS:
        return None
    if method in KNOWN_UNSUPPORTED:
        return Refusal(405, f"{method} is not supported here; allowed: {ALLOW}",
                       headers=(("Allow", ALLOW),))
    return Refusal(501, f"unknown method {method[:40]!r}; this server implements {ALLOW}",
                   headers=(("Allow", ALLOW),))


def decode_path(raw_path: str) -> str | None:
    """PATH_INFO as text, or None if it is not UTF-8.

    PEP 3333 servers (gunicorn, waitress) pass the percent-decoded bytes as latin-1;
    Radicale's own server passes decoded text, which it expects. Without
    this, "é" would reach the storage as "Ã©".
    """
    try:
        raw = raw_path.encode("latin-1")
    except UnicodeEncodeError:
        return raw_path  # already text
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def check_path(raw_path: str) -> Refusal | None:
    if len(raw_path) > MAX_PATH:
        return Refusal(414, f"the path is {len(raw_path)} characters long; "
                       f"at most {MAX_PATH} are accepted")
    path = decode_path(raw_path)
    if path is None:
        return Refusal(400, "the path is not valid UTF-8 once percent-decoded")
    if any(unicodedata.category(c) == "Cc" for c in path):
        return Refusal(400, "the path contains a control character (such as NUL)")
    if any(unicodedata.category(c)[0] == "C" for c in path):
        return Refusal(400, "the path contains an invisible or unassigned character "
                       "(such as a direction override)")
    if any(c in NOT_IN_NAMES for c in path):
        return Refusal(400, f"names in the path cannot contain any of {NOT_IN_NAMES}")
    segments = path.split("/")
    if any(s in ("..", ".") for s in segments):
        return Refusal(400, "the path contains a '.' or '..' segment; send the resolved path")
    if any(len(s) > MAX_SEGMENT for s in segments):
        return Refusal(414, f"a path segment is longer than {MAX_SEGMENT} characters")
    return None


def check_headers(environ: dict, method: str) -> Refusal | None:
    """Headers Radicale would misread, crash on or silently ignore."""
    for check in (_depth, _preconditions, _authorization, _charset, _overwrite, _script_name):
        refusal = check(environ)
        if refusal:
            return refusal
    if method == "MOVE":
        return _destination(environ)
    return None


def _depth(environ: dict) -> Refusal | None:
    depth = environ.get("HTTP_DEPTH")
    if depth is not None and depth.strip().lower() not in ("0", "1", "infinity"):
        return Refusal(400, f"Depth must be 0, 1 or infinity, not {depth[:40]!r}")
    return None


def _preconditions(environ: dict) -> Refusal | None:
    for header, name in (("HTTP_IF_MATCH", "If-Match"), ("HTTP_IF_NONE_MATCH", "If-None-Match")):
        value = environ.get(header)
        if value is not None and not _ETAG_LIST.match(value):
            return Refusal(400, f"{name} must be * or a list of quoted entity tags "
                           f'such as "abc", not {value[:60]!r}')
    return None


def _authorization(environ: dict) -> Refusal | None:
    """Radicale decodes Basic credentials unguarded (500 on bad base64 or no ':')."""
    value = environ.get("HTTP_AUTHORIZATION")
    try:
        if basic_auth.parse(value) is None:
            return None  # none, or another scheme: Radicale asks for Basic (401)
    except basic_auth.MalformedCredentials as exc:
        return Refusal(400, str(exc))
    # The scheme is case-insensitive (RFC 9110 11.1); Radicale reads only "Basic".
    environ["HTTP_AUTHORIZATION"] = "Basic " + str(value).strip().partition(" ")[2].strip()
    return None


def _charset(environ: dict) -> Refusal | None:
    content_type = environ.get("CONTENT_TYPE", "")
    if "charset=" not in content_type:
        return None
    charset = content_type.split("charset=", 1)[1].split(";")[0].strip().strip('"')
    try:
        codecs.lookup(charset)
    except LookupError:
        return Refusal(415, f"unknown charset {charset[:40]!r} in Content-Type; send utf-8")
    return None


def _overwrite(environ: dict) -> Refusal | None:
    value = environ.get("HTTP_OVERWRITE")
    if value is not None and value.strip().upper() not in ("T", "F"):
        return Refusal(400, f"Overwrite must be T or F, not {value[:20]!r}")
    return None


def _script_name(environ: dict) -> Refusal | None:
    """Radicale takes X-Script-Name from any client as the base of every href."""
    value = environ.get("HTTP_X_SCRIPT_NAME")
    if value is not None and (not value.startswith("/") or check_path(value)):
        return Refusal(400, "X-Script-Name must be an absolute path such as /caldav")
    return None


def _destination(environ: dict) -> Refusal | None:
    value = environ.get("HTTP_DESTINATION")
    if not value:
        return Refusal(400, "MOVE needs a Destination header")
    try:
        url = urlsplit(value)
        port = url.port
    except ValueError as exc:
        return Refusal(400, f"the Destination header is not a valid URL: {exc}")
    if url.scheme not in ("", "http", "https") or not url.path.startswith("/"):
        return Refusal(400, "Destination must be an http(s) URL or an absolute path")
    if url.netloc:
        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
        default = "443" if url.scheme == "https" else "80"
        wanted = f"{(url.hostname or '').lower()}:{port or default}"
        name, _, own_port = host.lower().rpartition(":") if host.count(":") == 1 or \
            "]:" in host else (host.lower(), "", "")
        own = f"{name.strip('[]')}:{own_port or environ.get('SERVER_PORT', default)}"
        if wanted != own:
            return Refusal(403, "Destination must be on this server")
    return check_path(unquote_to_bytes(url.path).decode("latin-1"))
