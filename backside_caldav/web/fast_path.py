"""When a request may be answered by this server's own code instead of Radicale's.

The fast paths (web/listing.py, web/multiget.py) answer only what they can
answer exactly as Radicale would: a calendar of the logged-in user, through
the request's shared transaction, without sharing (which remaps paths and
users) and in UTF-8 (the only encoding they write).
"""

from __future__ import annotations

from typing import Any

from radicale import pathutils

from backside_caldav.request_context import RequestInfo, current_request, shared_transaction


def own_calendar(app: Any, path: str, user: str) -> tuple[str, Any, RequestInfo] | None:
    """(path without slashes, shared transaction, request) when `path` is a
    calendar of `user` and `app` (a radicale.Application) may be bypassed."""
    info = current_request.get()
    sane = pathutils.strip_path(path)
    shared = shared_transaction(user)
    if (sane.count("/") != 1 or sane.split("/")[0] != user or info is None or shared is None
            or app._sharing._enabled or app._encoding != "utf-8"):
        return None
    return sane, shared, info
