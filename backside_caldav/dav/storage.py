"""Radicale's BaseStorage over PostgreSQL.

acquire_lock opens the request's transaction and sets its tenant; a write
lock also takes a per-tenant advisory lock, so Radicale's If-Match check and
the write commit together and two clients can never both win.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from radicale import config, pathutils, types
from radicale import item as radicale_item
from radicale import storage as radicale_storage
from radicale.log import logger

from backside_caldav import request
from backside_caldav.dav.collection import CalendarCollection, PrincipalCollection, RootCollection
from backside_caldav.dav.outage import note_error
from backside_caldav.db import calendars, engines, event_reads, event_writes, tenancy
from backside_caldav.db.settings import ENV_DATABASE_URL
from backside_caldav.domain import collection_meta
from backside_caldav.domain.errors import UnsupportedComponent

PLUGIN_SCHEMA: types.CONFIG_SCHEMA = {"storage": {
    "database_url": {
        "value": "",
        "help": f"PostgreSQL URL (falls back to ${ENV_DATABASE_URL})",
        "type": str},
    "auto_migrate": {
        "value": "True",
        "help": "apply schema migrations when the plugin starts",
        "type": bool},
}}

_migrated: set[str] = set()


def database_url_from(configuration: config.Configuration) -> str:
    plugin_config = configuration.copy(PLUGIN_SCHEMA)
    url = plugin_config.get("storage", "database_url") or os.environ.get(ENV_DATABASE_URL, "")
    if not url:
        raise RuntimeError(f"[storage] database_url is not set and ${ENV_DATABASE_URL} is empty")
    return url


class Storage(radicale_storage.BaseStorage):
    # PostgreSQL text holds any name; without this Radicale refuses non-Latin-1 paths.
    _supports_unicode = True

    def __init__(self, configuration: config.Configuration) -> None:
        super().__init__(configuration)
        plugin_config = configuration.copy(PLUGIN_SCHEMA)
        self.url = database_url_from(configuration)
        if plugin_config.get("storage", "auto_migrate") and self.url not in _migrated:
            # alembic (with mako and pygments) only here: 9 MiB a server never uses.
            from backside_caldav.db import migrate
            migrate.upgrade(engines.get_engine(self.url))
            _migrated.add(self.url)
        self.engine = engines.get_app_engine(self.url)

    # --- locking = the request's transaction -------------------------------

    @types.contextmanager
    def acquire_lock(self, mode: str, user: str = "", *args: Any, **kwargs: Any) -> Iterator[None]:
        if request.held() is not None:  # Radicale nests locks: the outer one rules
            yield
            return
        try:
            with self._transaction(mode, user):
                yield
        except Exception as exc:
            note_error(exc)  # Radicale answers 500; dav/outage.py makes it 503
            raise

    @contextlib.contextmanager
    def _transaction(self, mode: str, user: str) -> Iterator[None]:
        transaction = request.transaction_for(user) if user else None
        if transaction is not None and (mode == "r" or transaction.writable):
            # The transaction the login check opened for this request.
            if mode != "r" and not transaction.locked:
                tenancy.lock_tenant(transaction.conn, transaction.tenant or "", "caldav")
                transaction.locked = True
            with self._held(transaction, mode):
                yield
            return
        # No such transaction (a method the login check does not open one for,
        # or the plugin inside a plain Radicale server): one for this lock.
        own, _ = request.Transaction.begin(self.engine, user, writable=mode != "r",
                                           lock=mode != "r")
        with contextlib.ExitStack() as stack:
            scope = request.current() or stack.enter_context(request.begin())
            outer, scope.transaction = scope.transaction, own
            try:
                with self._held(own, mode):
                    yield
            finally:
                # Radicale turns a storage error into a 4xx and leaves the lock
                # normally: a refused request must write nothing (own.failed).
                scope.transaction = outer
                own.close()

    @staticmethod
    @contextlib.contextmanager
    def _held(transaction: request.Transaction, mode: str) -> Iterator[None]:
        transaction.mode = mode
        try:
            yield
        except BaseException:
            if mode != "r":
                transaction.failed = True  # never commit half a write
            raise
        finally:
            # What a lock read is known only while it is held (a writer's next
            # lock may see other commits).
            transaction.mode = None
            transaction.found.clear()
            transaction.calendars.clear()

    @contextlib.contextmanager
    def connection(self, tenant: str | None) -> Iterator[sa.engine.Connection]:
        """The request's connection, or a short read transaction outside a lock."""
        transaction = request.held() or request.transaction_of(tenant)
        if transaction is not None:  # Radicale renders after the lock: still this request's
            yield transaction.conn
            return
        try:
            with tenancy.transaction(self.engine, tenant, read_only=True) as conn:
                yield conn
        except Exception as exc:
            note_error(exc)
            raise

    # --- discovery ------------------------------------------------------------

    def discover(self, path: str, depth: str = "0",
                 child_context_manager: Callable[[str, str | None],
                                                 contextlib.AbstractContextManager[None]] | None = None,
                 user_groups: set[str] | None = None) -> Iterable[types.CollectionOrItem]:
        s = request.held()
        if s is None:
            return
        sane = pathutils.strip_path(pathutils.sanitize_path(path))
        parts = sane.split("/") if sane else []
        if not parts:
            yield RootCollection(self)
            if depth != "0" and s.tenant is not None:
                yield PrincipalCollection(self, s.user, s.tenant)
            return
        if s.tenant is None or parts[0] != s.user:
            return  # only the logged-in user's own tree exists for them
        principal = PrincipalCollection(self, s.user, s.tenant)
        if len(parts) == 1:
            yield principal
            if depth != "0":
                for row in calendars.list_calendars(s.conn, s.tenant):
                    yield CalendarCollection(self, principal, row)
            return
        row = s.calendars.get(parts[1]) or calendars.get_calendar(s.conn, s.tenant, parts[1])
        if row is None:
            return
        s.calendars[parts[1]] = row  # Radicale discovers an item's parent again
        calendar = CalendarCollection(self, principal, row)
        calendar.loaded_by = s.conn
        if len(parts) == 2:
            yield calendar
            if depth != "0":
                yield from calendar.list_items()
            return
        if len(parts) == 3:
            items = event_reads.get_items(s.conn, s.tenant, row.id, [parts[2]],
                                    for_update=s.mode != "r")
            # upload() asks again for what was here: keep the answer for it.
            s.found[(row.id, parts[2])] = items[0] if items else None
            if items:
                yield calendar.make_item(items[0])

    # --- collections ----------------------------------------------------------

    def create_collection(self, *args: Any, **kwargs: Any
                          ) -> tuple[radicale_storage.BaseCollection,
                                     dict[str, radicale_item.Item], list[str]]:
        with request.failing_writes():
            return self._create_collection(*args, **kwargs)

    def _create_collection(self, href: str,
                          items: Iterable[radicale_item.Item] | None = None,
                          props: Mapping[str, str] | None = None,
                          ) -> tuple[radicale_storage.BaseCollection,
                                     dict[str, radicale_item.Item], list[str]]:
        s = request.holding()
        sane = pathutils.strip_path(pathutils.sanitize_path(href))
        parts = sane.split("/") if sane else []
        if not parts:
            return RootCollection(self), {}, []
        if s.tenant is None or parts[0] != s.user:
            raise ValueError("collections can only be created in your own home")
        principal = PrincipalCollection(self, s.user, s.tenant)
        if len(parts) == 1:
            return principal, {}, []
        if len(parts) != 2:
            raise ValueError("calendars cannot be nested")
        props = dict(props or {})
        existing = calendars.get_calendar(s.conn, s.tenant, parts[1])
        zone = props.get(collection_meta.TIMEZONE)
        if zone is not None and (existing is None or zone != existing.props.get(
                collection_meta.TIMEZONE)):
            collection_meta.check_timezone(zone)
        if existing is not None and items is None and not props:
            return CalendarCollection(self, principal, existing), {}, []
        tag = props.get("tag")
        if tag != "VCALENDAR":
            raise ValueError("only calendars can be created here (address books are not "
                             "supported)")
        values = collection_meta.columns_from_props(props)
        if values["name"] is None:
            values["name"] = parts[1]
        if existing is None:
            row = calendars.create_calendar(s.conn, s.tenant, parts[1], values)
        else:
            calendars.update_calendar(s.conn, s.tenant, existing.id, values)
            row = calendars.get_calendar(s.conn, s.tenant, parts[1])
            assert row is not None
        calendar = CalendarCollection(self, principal, row)
        replaced: dict[str, radicale_item.Item] = {}
        new_hrefs: list[str] = []
        if items is not None:
            old = {i.href: calendar.make_item(i) for i in event_reads.get_items(s.conn, s.tenant, row.id)}
            wanted: set[str] = set()
            for item in items:
                item_href = radicale_item.find_available_uid(
                    lambda h: h in wanted, suffix=".ics") if not item.uid else item.uid + ".ics"
                if not pathutils.is_safe_filesystem_path_component(item_href):
                    item_href = radicale_item.find_available_uid(lambda h: h in wanted, ".ics")
                wanted.add(item_href)
                calendar.store_text(item_href, item.serialize())
                if item_href in old:
                    replaced[item_href] = old[item_href]
                else:
                    new_hrefs.append(item_href)
            for stale in set(old) - wanted:
                event_writes.delete_item(s.conn, s.tenant, row.id, stale)
        return calendar, replaced, new_hrefs

    def move(self, item: radicale_item.Item, to_collection: radicale_storage.BaseCollection,
             to_href: str) -> None:
        with request.failing_writes():
            self._move(item, to_collection, to_href)

    def _move(self, item: radicale_item.Item, to_collection: radicale_storage.BaseCollection,
              to_href: str) -> None:
        s = request.holding()
        source = item.collection
        if not isinstance(source, CalendarCollection) or not isinstance(
                to_collection, CalendarCollection) or item.href is None:
            raise ValueError("only calendar objects can be moved")
        component = item.component_name
        if component not in to_collection.row.components:
            # RFC 4791 5.3.2.1: the precondition holds for a MOVE's target too.
            raise UnsupportedComponent(
                f"the calendar {to_collection.row.href} accepts "
                f"{', '.join(to_collection.row.components)}, not {component}")
        event_writes.move_item(s.conn, s.tenant or "", source.row.id, item.href, to_collection.row.id,
                        to_href)

    def verify(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - verify reports, it does not raise
            logger.error("database check failed: %s", exc)
            return False
        return True

