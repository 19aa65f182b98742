"""What the current HTTP request carried, for code that runs below Radicale.

Radicale hands the storage an item re-serialized by vobject, which mangles
some client data; the WSGI middleware keeps the original body here so the
storage can keep the client's exact text.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestInfo:
    method: str
    path: str  # sanitized, without leading or trailing "/"
    body: bytes | None
    charset: str


current_request: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar(
    "backside_current_request", default=None)


def original_text_for(method: str, path: str) -> str | None:
    """The decoded request body if the current request is `method` on `path`."""
    info = current_request.get()
    if info is None or info.body is None or info.method != method or info.path != path:
        return None
    try:
        return info.body.decode(info.charset)
    except (LookupError, UnicodeDecodeError):
        return None
