"""CalDAV's side of implicit scheduling (RFC 6638 3.2): a PUT or DELETE of a
calendar object hands its before and after to scheduling/implicit.py, in the
request's transaction; and the Schedule-Tag of a scheduling object on GET
and PUT answers (3.2.10), with If-Schedule-Tag-Match on PUT.

A whole-calendar PUT (an import) schedules nothing: replaying a calendar
file must not re-invite everyone in it.
"""

from __future__ import annotations

from radicale import types
from sqlalchemy.engine import Connection

from backside_caldav import request
from backside_caldav.dav.fast_path import Call
from backside_caldav.domain.itip_parts import schedule_tag
from backside_caldav.scheduling import implicit


def stored_text(conn: Connection, tenant: str, user: str, old_text: str | None,
                new_text: str, tag_matched: bool = False) -> str:
    """The text to store for a PUT of new_text over old_text, with what it
    sends queued."""
    if not implicit.is_scheduling(new_text) and not implicit.is_scheduling(old_text):
        return new_text
    writer = implicit.writer_for_login(conn, tenant, user, request.schedule_reply())
    return implicit.on_put(conn, writer, old_text, new_text, tag_matched)


def deleted(conn: Connection, tenant: str, user: str, old_text: str | None) -> None:
    """Queue what deleting old_text sends (CANCEL, or a DECLINED REPLY)."""
    if implicit.is_scheduling(old_text):
        writer = implicit.writer_for_login(conn, tenant, user, request.schedule_reply())
        implicit.on_delete(conn, writer, old_text)


def tag_headers(text: str | None) -> dict[str, str]:
    tag = schedule_tag(text) if text is not None else None
    return {"Schedule-Tag": tag} if tag else {}


def answer_get(call: Call) -> types.WSGIResponse | None:
    """Radicale's GET of a calendar object, with its Schedule-Tag when it is a
    scheduling object (clients send it back in If-Schedule-Tag-Match)."""
    if call.path.endswith("/") or call.path.strip("/").count("/") != 2:
        return None
    status, headers, body, *rest = call.radicale()
    if status == 200 and body is not None:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        extra = tag_headers(text)
        if extra:
            headers = {**dict(headers), **extra}
    return (status, headers, body, *rest)  # type: ignore[return-value]
