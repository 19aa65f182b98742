"""Radicale's BaseCollection for the root, a principal and a calendar."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

import vobject
from radicale import item as radicale_item
from radicale import storage as radicale_storage
from radicale.item import filter as radicale_filter

from backside_caldav import request
from backside_caldav.dav import scheduling_hooks, task_reports
from backside_caldav.db import (
    busy_queries,
    calendars,
    event_reads,
    event_writes,
    occurrences,
    principals,
    sync_pages,
)
from backside_caldav.domain import busy, collection_meta, records, sync_tokens
from backside_caldav.domain.errors import BacksideError
from backside_caldav.domain.matcher_view import matcher_view
from backside_caldav.domain.principal_search import Principal
from backside_caldav.domain.recurrence import TooManyInstances

if TYPE_CHECKING:
    from backside_caldav.dav.storage import Storage

HTTP_DATE = "%a, %d %b %Y %H:%M:%S GMT"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def http_date(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime(HTTP_DATE)


def from_epoch(seconds: int) -> datetime:
    # Radicale uses TIMESTAMP_MIN/MAX sentinels far outside datetime's range.
    seconds = max(min(seconds, 253402300799), -62135596800)
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


class Item(radicale_item.Item):
    """Radicale's item whose copies parse their own vobject.

    Radicale's expand works on copy.copy(item) and edits the parsed vobject
    in place; with getetag and calendar-data both asked for, the second copy
    would see the first one's edits whenever the filter had already parsed
    the item ("does not have a vevent without a recurrence_id").
    """

    def __copy__(self) -> Item:
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._vobject_item = None
        return clone

    @classmethod
    def of(cls, collection: CalendarCollection, href: str, last_modified: str,
           text: str | None, etag: str, uid: str, component: str,
           texts: _Texts | None = None) -> Item:
        """What Radicale 3.9's __init__ sets, without its per-item path
        sanitizing (a third of a 10,000-item listing); the collection path was
        sanitized when the collection was made."""
        item = object.__new__(cls)
        item.__dict__.update(
            _collection_path=collection.path, collection=collection, href=href,
            last_modified=last_modified, _text=text, _vobject_item=None, _etag=etag,
            _uid=uid, _name="VCALENDAR", _component_name=component, _time_range=None,
            backside_expansion=None, backside_text=None, _texts=texts,
            _window=None)
        return item

    def serialize(self) -> str:
        """The text; in an expand REPORT, a task's expanded text (dav/task_reports)."""
        if self.backside_text is not None:
            return self.backside_text
        if self._text is None and self._texts is not None:
            self._texts.load()
        return super().serialize()

    @property
    def vobject_item(self) -> Any:
        if self._text is None and self._texts is not None:
            self._texts.load()
        window = getattr(self, "_window", None)
        if window is not None and self._vobject_item is None and self._text is not None:
            # An RSCALE rule or a TZID without zone, which vobject cannot read
            # right: Radicale's filter reads the occurrences in the window.
            view = matcher_view(self._text, *window)
            if view is not None:
                self._vobject_item = vobject.readOne(view)
        return radicale_item.Item.vobject_item.fget(self)  # type: ignore[attr-defined]


class _Texts:
    """The texts of a listing's items, loaded all at once on first need.

    A PROPFIND listing asks for etags only; getcontentlength needs the texts,
    and then one query fetches them all (not one query per item).
    """

    def __init__(self, collection: CalendarCollection) -> None:
        self.collection = collection
        self.items: dict[str, Item] = {}

    def load(self) -> None:
        if not self.items:
            return
        with self.collection._conn() as conn:
            stored = event_reads.get_items(conn, self.collection.tenant, self.collection.row.id)
        for found in stored:
            item = self.items.get(found.href)
            if item is not None:
                item._text = found.text
        for item in self.items.values():
            if item._text is None:  # gone since the listing: serve an empty calendar
                item._text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"
            item._texts = None
        self.items = {}


class _Plain(radicale_storage.BaseCollection):
    """Root and principal: collections without a tag and without items."""

    def __init__(self, storage: Storage, path: str) -> None:
        self._storage = storage
        self._path = path

    @property
    def path(self) -> str:
        return self._path

    def get_meta(self, key: str | None = None) -> Any:
        return None if key is not None else {}

    def set_meta(self, props: Mapping[str, str]) -> None:
        if any(k != "tag" for k in props):
            raise ValueError("properties of this collection cannot be changed")

    @property
    def etag(self) -> str:
        return '"home"'

    @property
    def last_modified(self) -> str:
        return http_date(_EPOCH)

    def get_multi(self, hrefs: Iterable[str]) -> Iterable[tuple[str, radicale_item.Item | None]]:
        return ((h, None) for h in hrefs)

    def get_all(self) -> Iterable[radicale_item.Item]:
        return iter(())

    def has_uid(self, uid: str) -> bool:
        return False

    def upload(self, href: str, item: radicale_item.Item) -> tuple[radicale_item.Item, None]:
        raise ValueError("events belong in a calendar, not in this collection")

    def delete(self, href: str | None = None) -> None:
        raise ValueError("this collection cannot be deleted")

    def sync(self, old_token: str = "") -> tuple[str, Iterable[str]]:
        if old_token:
            raise ValueError("this collection has no sync history")
        return "http://backside-caldav.invalid/sync/home/0", iter(())


class RootCollection(_Plain):
    def __init__(self, storage: Storage) -> None:
        super().__init__(storage, "")


class PrincipalCollection(_Plain):
    def __init__(self, storage: Storage, user: str, tenant: str) -> None:
        super().__init__(storage, user)
        self.tenant = tenant
        self._login: Principal | None = None

    def login(self) -> Principal:
        """The login this principal is (its email), read on first need: most
        requests that discover a principal never render its properties."""
        if self._login is None:
            with self._storage.connection(self.tenant) as conn:
                found = principals.principal(conn, self.tenant, self.path)
            self._login = found or Principal(self.path, None)
        return self._login


def collection_etag(row: records.CalendarRow) -> str:
    """A calendar's ETag (its getctag): changes whenever a member changes."""
    return f'"{row.id}-{row.sync_counter}"'


class CalendarCollection(radicale_storage.BaseCollection):

    def __init__(self, storage: Storage, principal: PrincipalCollection,
                 row: records.CalendarRow) -> None:
        self._storage = storage
        self.tenant = principal.tenant
        self.row = row
        self._path = f"{principal.path}/{row.href}"
        self.loaded_by: Any = None  # the connection that read `row`

    @property
    def path(self) -> str:
        return self._path

    # --- helpers -------------------------------------------------------------

    def _conn(self) -> Any:
        return self._storage.connection(self.tenant)

    def _refresh(self, conn: Any) -> None:
        s = request.held()
        if conn is self.loaded_by and (s is None or s.mode == "r"):
            return  # the same read snapshot: the row cannot have changed
        row = calendars.get_calendar(conn, self.tenant, self.row.href)
        if row is not None:
            self.row = row

    def make_item(self, stored: event_reads.StoredItem) -> radicale_item.Item:
        item = Item.of(self, stored.href, http_date(stored.updated_at), stored.text,
                       stored.etag, stored.uid, stored.component)
        # dav.expand renders C:expand from these instead of parsing the text.
        item.backside_expansion = stored.expansion
        item._window = stored.window
        return item

    def list_items(self) -> list[radicale_item.Item]:
        """Every item, its text loaded only if someone asks (see _Texts)."""
        with self._conn() as conn:
            heads = event_reads.list_item_heads(conn, self.tenant, self.row.id)
        texts = _Texts(self)
        dates: dict[datetime, str] = {}
        for head in heads:
            when = dates.get(head.updated_at) or dates.setdefault(head.updated_at,
                                                                   http_date(head.updated_at))
            texts.items[head.href] = Item.of(self, head.href, when, None, head.etag, head.uid,
                                             head.component, texts)
        return list(texts.items.values())

    def store_text(self, href: str, text: str, replaces: str | None = "?") -> event_reads.StoredItem:
        s = request.holding()
        with request.failing_writes():
            try:
                return event_writes.put_item(s.conn, self.tenant, self.row, href, text, replaces)
            except BacksideError as exc:
                raise ValueError(str(exc)) from exc

    # --- metadata --------------------------------------------------------------

    def get_meta(self, key: str | None = None) -> Any:
        meta = collection_meta.meta_of(self.row)
        return meta if key is None else meta.get(key)

    def set_meta(self, props: Mapping[str, str]) -> None:
        s = request.holding()
        with request.failing_writes():
            zone = props.get(collection_meta.TIMEZONE)
            if zone is not None and zone != self.row.props.get(collection_meta.TIMEZONE):
                collection_meta.check_timezone(zone)
            values = collection_meta.columns_from_props(dict(props), self.row)
            calendars.update_calendar(s.conn, self.tenant, self.row.id, values)
            self._refresh(s.conn)

    @property
    def etag(self) -> str:
        return collection_etag(self.row)

    @property
    def last_modified(self) -> str:
        return http_date(self.row.updated_at)

    # --- reading ----------------------------------------------------------------

    def sync(self, old_token: str = "") -> tuple[str, Iterable[str]]:
        page = request.sync_page()
        if page is not None and page.calendar_id == self.row.id:
            return page.token, page.hrefs  # a DAV:limit page (dav/sync_limit.py)
        with self._conn() as conn:
            self._refresh(conn)
            token = sync_tokens.sync_token(self.row)
            if not old_token:
                # PROPFIND asks for the token alone on every poll: list lazily.
                return token, self._all_hrefs()
            position = sync_tokens.parse_position(self.row, old_token)
            if not position.plain:  # a page's token, followed without a limit
                return token, [e.href for e in sync_pages.after(conn, self.tenant, self.row,
                                                                position, None)]
            return token, event_reads.changed_hrefs(conn, self.tenant, self.row.id,
                                                    position.counter)

    def _all_hrefs(self) -> Iterator[str]:
        with self._conn() as conn:
            hrefs = event_reads.all_hrefs(conn, self.tenant, self.row.id)
        yield from hrefs

    def get_multi(self, hrefs: Iterable[str]) -> Iterable[tuple[str, radicale_item.Item | None]]:
        wanted = list(dict.fromkeys(hrefs))
        with self._conn() as conn:
            found = {i.href: i for i in event_reads.get_items(conn, self.tenant, self.row.id, wanted)}
        return [(h, self.make_item(found[h]) if h in found else None) for h in wanted]

    def get_all(self) -> Iterator[radicale_item.Item]:
        with self._conn() as conn:
            items = event_reads.get_items(conn, self.tenant, self.row.id)
        return iter([self.make_item(i) for i in items])

    def get_filtered(self, filters: Iterable[ET.Element]
                     ) -> Iterable[tuple[radicale_item.Item, bool]]:
        tag, start, end, simple = radicale_filter.simplify_prefilters(filters, "VCALENDAR")
        window = (from_epoch(start), from_epoch(end))
        expanding = request.expand_window()
        if start == radicale_filter.TIMESTAMP_MIN and end == radicale_filter.TIMESTAMP_MAX:
            # Radicale strips the time-range of an expand REPORT before asking;
            # the request itself still says which window will be expanded.
            window = expanding or window
        with self._conn() as conn:
            found = occurrences.get_filtered(conn, self.tenant, self.row.id, tag, *window,
                                             expand=expanding is not None,
                                             day_zone=self.row.timezone)
        # "Certain" is only final when the filter is nothing but component + range.
        items = [(self.make_item(i), certain and simple) for i, certain in found]
        if tag == "VTODO" and not simple:
            # The storage decided the time-range; Radicale tests the rest.
            task_reports.strip_time_ranges(filters)
        expand_window = request.expand_range()
        if expand_window is not None:
            limit = self._storage.configuration.get("reporting", "max_expand_occurrence")
            bounded = window if tag == "VTODO" and expanding is not None else None
            items = task_reports.expand(items, self.row.timezone, expand_window, bounded, limit)
        return items

    def has_uid(self, uid: str) -> bool:
        with self._conn() as conn:
            holder = event_reads.href_of_uid(conn, self.tenant, self.row.id, uid)
        if holder is not None:  # Radicale answers no-uid-conflict: name the resource
            request.note_uid_holder(posixpath.join(self.path, holder))
        return holder is not None

    def busy_periods(self, start: datetime, end: datetime,
                     limit: int) -> list[tuple[datetime, datetime, str]]:
        """Free-busy periods clipped to [start, end), by the one policy of
        domain/busy.py (dav/freebusy.py hooks this into Radicale's REPORT);
        the people asked about are the calendar's owners."""
        with self._conn() as conn:
            try:
                found = busy_queries.candidates(conn, self.tenant, [self.row.id], start, end,
                                                limit=limit, expand_limit=limit)
            except TooManyInstances as exc:
                raise ValueError(str(exc)) from exc  # Radicale answers 400
        return [(max(b.start, start), min(b.end, end), b.fbtype)
                for b in busy.blocks(found, start, end)]

    # --- writing ------------------------------------------------------------------

    def upload(self, href: str, item: radicale_item.Item
               ) -> tuple[radicale_item.Item, radicale_item.Item | None]:
        s = request.holding()
        key = (self.row.id, href)
        if key in s.found:
            previous = s.found.pop(key)
        else:
            found = event_reads.get_items(s.conn, self.tenant, self.row.id, [href], for_update=True)
            previous = found[0] if found else None
        text = request.original_text_for("PUT", posixpath.join(self.path, href)) or item.serialize()
        with request.failing_writes():
            text = scheduling_hooks.stored_text(s.conn, self.tenant, s.user,
                                                previous.text if previous else None, text)
        stored = self.store_text(href, text, previous.component if previous else None)
        return self.make_item(stored), (self.make_item(previous) if previous else None)

    def delete(self, href: str | None = None) -> None:
        s = request.holding()
        with request.failing_writes():
            if href is None:
                calendars.delete_calendar(s.conn, self.tenant, self.row.id)
                return
            found = event_reads.get_items(s.conn, self.tenant, self.row.id, [href],
                                          for_update=True)
            if not found or not event_writes.delete_item(s.conn, self.tenant, self.row.id, href):
                raise radicale_storage.ComponentNotFoundError(href)
            scheduling_hooks.deleted(s.conn, self.tenant, s.user, found[0].text)
            self._refresh(s.conn)
