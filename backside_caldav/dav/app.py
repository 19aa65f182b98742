"""CalDAV: Radicale with this storage, its fast paths, and the middleware in
front of it, composed.

Which code answers a request is decided in one table (FAST_PATHS): for a
PROPFIND, REPORT, PUT or MKCALENDAR each fast path is asked in turn and the first answer
wins; when none answers, Radicale's own do_<METHOD> does. A fast path answers
only what it can answer exactly as Radicale would (see dav/fast_path.py),
except the principal ones, which answer what Radicale leaves empty or
refuses: the principal searches and expand-property (dav/principal_reports.py)
and a colleague's principal (dav/colleague.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import radicale
from radicale import config as radicale_config
from radicale import httputils, types

from backside_caldav.dav import (
    calendar_transp,
    colleague,
    expand,
    freebusy,
    item_filter,
    listing,
    listing_query,
    member_reports,
    mkcalendar,
    outbox_post,
    poll,
    principal_reports,
    propfind_hook,
    put,
    schedule_boxes,
    scheduling_hooks,
    self_description,
    sync_limit,
    vtimezone_cache,
    whole_put,
)
from backside_caldav.dav.fast_path import Call, FastPath
from backside_caldav.dav.middleware import BacksideMiddleware
from backside_caldav.dav.outage import OutageMiddleware
from backside_caldav.dav.throttle import LoginLimitMiddleware
from backside_caldav.db import engines

CONFIG_FILE = Path(__file__).resolve().parents[2] / "config" / "radicale.conf"

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict, StartResponse], Iterable[bytes]]

FAST_PATHS: dict[str, tuple[FastPath, ...]] = {
    # the getctag / sync-token poll, a Depth 1 etag listing (streamed), then a
    # colleague's principal (Radicale refuses other logins' paths)
    "PROPFIND": (schedule_boxes.answer_propfind, poll.answer, listing.answer_propfind,
                 colleague.answer),
    # a listing query (streamed), the common multiget and one-time-range query,
    # a first sync-collection, one page of a sync-collection with a DAV:limit,
    # then the principal searches and expand-property (Radicale answers them empty)
    "REPORT": (schedule_boxes.answer_report, listing_query.answer, member_reports.answer,
               listing.answer_initial_sync, sync_limit.answer, principal_reports.answer),
    # a whole calendar onto one that holds events (refused unless meant), then
    # one calendar object, with the client's own bytes
    "PUT": (schedule_boxes.refuse_write, whole_put.answer, put.answer),
    # a calendar where none can be: the precondition RFC 4791 names
    "MKCALENDAR": (mkcalendar.answer,),
    # scheduling (RFC 6638): the schedule inbox's messages, the outbox's free-busy
    "GET": (schedule_boxes.answer_get, scheduling_hooks.answer_get),
    "DELETE": (schedule_boxes.answer_delete,),
    "POST": (outbox_post.answer,),
    # the boxes are the server's: a sentence, not Radicale's 404
    **{m: (schedule_boxes.refuse_change,) for m in ("PROPPATCH", "MKCOL", "MOVE")},
}


class Application(radicale.Application):
    """Radicale, with the fast paths of FAST_PATHS in front of its own methods,
    and the DAV header of dav/self_description.py on its answers."""

    def __call__(self, environ: types.WSGIEnviron,
                 start_response: StartResponse) -> Iterable[bytes]:
        return super().__call__(environ, self_description.with_dav_header(start_response))

    def _answer(self, method: str, environ: types.WSGIEnviron, base_prefix: str, path: str,
                user: str, user_groups: set, request_info: dict) -> types.WSGIResponse:
        call = Call(self, method, environ, base_prefix, path, user, user_groups, request_info)
        if not user and schedule_boxes.box_of(call) is not None:
            return httputils.NOT_ALLOWED  # Radicale turns it into 401 with a challenge
        for fast_path in FAST_PATHS[method]:
            answer = fast_path(call)
            if answer is not None:
                return answer
        return call.radicale()

    def do_PROPFIND(self, *args: Any) -> types.WSGIResponse:
        return self._answer("PROPFIND", *args)

    def do_REPORT(self, *args: Any) -> types.WSGIResponse:
        return self._answer("REPORT", *args)

    def do_PUT(self, *args: Any) -> types.WSGIResponse:
        return self._answer("PUT", *args)

    def do_MKCALENDAR(self, *args: Any) -> types.WSGIResponse:
        return self._answer("MKCALENDAR", *args)

    def do_GET(self, *args: Any) -> types.WSGIResponse:
        return self._answer("GET", *args)

    def do_DELETE(self, *args: Any) -> types.WSGIResponse:
        return self._answer("DELETE", *args)

    def do_POST(self, *args: Any) -> types.WSGIResponse:
        return self._answer("POST", *args)

    def do_PROPPATCH(self, *args: Any) -> types.WSGIResponse:
        return self._answer("PROPPATCH", *args)

    def do_MKCOL(self, *args: Any) -> types.WSGIResponse:
        return self._answer("MKCOL", *args)

    def do_MOVE(self, *args: Any) -> types.WSGIResponse:
        return self._answer("MOVE", *args)


def load_configuration(database_url: str, config_file: Path | None = None,
                       overrides: dict[str, dict[str, str]] | None = None
                       ) -> radicale_config.Configuration:
    configuration = radicale_config.load()
    path = config_file or CONFIG_FILE
    if path.exists():
        configuration = radicale_config.load([(str(path), False)])
    values = {"storage": {"database_url": database_url}}
    for section, options in (overrides or {}).items():
        values.setdefault(section, {}).update(options)
    configuration.update(values, "backside-caldav", privileged=True)
    return configuration


def build_dav_app(database_url: str, config_file: Path | None = None,
                  overrides: dict[str, dict[str, str]] | None = None) -> WSGIApp:
    """CalDAV: Radicale with this storage, behind the guards, the login limits
    and the outage answer (outermost first: 503 on an outage, 429 for a login
    that failed too often, then the guards)."""
    configuration = load_configuration(database_url, config_file, overrides)
    freebusy.install()
    expand.install()
    item_filter.install()
    vtimezone_cache.install()
    propfind_hook.install()
    calendar_transp.install()
    application = Application(configuration)
    max_length = configuration.get("server", "max_content_length")
    max_resource = configuration.get("server", "max_resource_size")
    engine = engines.get_app_engine(database_url)
    return OutageMiddleware(LoginLimitMiddleware(
        BacksideMiddleware(application, max_length, max_resource), engine))
