"""What an import reads: an .ics file, a folder of them, or a Radicale storage.

Only the file system is looked at here (nothing is written, no database):
the SOURCE becomes a list of target calendars, each with the files that go
into it. Radicale's multifilesystem storage (radicale/storage/multifilesystem)
keeps `collection-root/<user>/<collection>/`, the collection's properties
in `.Radicale.props` (JSON: "tag" VCALENDAR or VADDRESSBOOK, "D:displayname",
"ICAL:calendar-color", "C:calendar-description", ...) and one file per item,
whose name is the item's href. Radicale's own files (`.Radicale.props`,
`.Radicale.cache/`, `.Radicale.lock`, `.Radicale.tmp-*`) start with a dot,
and Radicale ignores every name that does; so does this.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backside_caldav.domain import collection_meta
from backside_caldav.domain.errors import ConfigError, InvalidCalendarData
from backside_caldav.domain.ics_split import href_for_name, safe_href

PROPS = ".Radicale.props"
MAX_PROPERTY = 64 * 1024  # a mapped property kept when the whole set is over the limit
ROOT = "collection-root"


@dataclass
class CalendarSource:
    """One target calendar of the import and the files that go into it."""

    label: str  # how messages name it: a path, or user/collection
    files: list[Path]
    name: str | None = None  # the calendar's name (found by name or href, else created)
    href: str | None = None  # a Radicale collection's folder name: the calendar's href
    values: dict[str, Any] | None = None  # columns for a created calendar (.Radicale.props)
    user: str | None = None  # the Radicale user it belongs to
    file_hrefs: bool = False  # a file of one resource keeps its file name as the href


@dataclass
class Source:
    kind: str  # "file", "folder", "collections" (an export) or "radicale"
    calendars: list[CalendarSource]
    notes: list[str] = field(default_factory=list)  # collections left out, with why


def read_source(path: Path, calendar: str | None, merge_users: bool) -> Source:
    """The calendars and files of SOURCE; merge_users: all Radicale users go into
    one tenant, so collections of the same name are told apart (see _merge)."""
    if not path.exists():
        raise ConfigError(f"no file or folder at {path}")
    if path.is_file():
        return Source("file", [CalendarSource(str(path), [path], name=calendar)])
    if not path.is_dir():
        raise ConfigError(f"{path} is neither a file nor a folder")
    root = path / ROOT if (path / ROOT).is_dir() else path if path.name == ROOT else None
    if root is not None:
        if calendar is not None:
            raise ConfigError("--calendar cannot be used with a Radicale storage folder: its "
                              "calendars are imported as they are")
        return _radicale(root, merge_users)
    props = _props(path) if (path / PROPS).is_file() else None
    files = _items(path) if props is not None else [
        p for p in _entries(path) if p.is_file() and p.suffix.lower() == ".ics"]
    if props is None and not files and any(
            (p / PROPS).is_file() for p in _entries(path) if p.is_dir()):
        # Collection folders side by side (what `export` writes): each a calendar.
        if calendar is not None:
            raise ConfigError("--calendar cannot be used with a folder of calendar folders: "
                              "each is imported as the calendar it is")
        source = Source("collections", [])
        _collections(source, path, None)
        return source
    target = CalendarSource(str(path), files, name=calendar, file_hrefs=True)
    if calendar is None:
        target.name = path.resolve().name or "calendar"
        if isinstance(props, dict) and props.get("tag") == collection_meta.TAG:
            target.href = path.resolve().name if safe_href(path.resolve().name) else None
            target.values = _values(props)
            target.name = target.values.get("name") or target.name
    return Source("folder", [target])


def _entries(folder: Path) -> list[Path]:
    """The folder's entries not starting with a dot, sorted by name."""
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise ConfigError(f"cannot read the folder {folder}: {exc.strerror or exc}") from exc
    return [folder / n for n in names if not n.startswith(".")]


def _items(collection: Path) -> list[Path]:
    return [p for p in _entries(collection) if p.is_file()]


def _props(collection: Path) -> dict[str, Any] | str:
    """The collection's .Radicale.props, or why it cannot be read."""
    try:
        props = json.loads((collection / PROPS).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"its {PROPS} cannot be read: {exc}"
    if not isinstance(props, dict):
        return f"its {PROPS} is not a JSON object"
    # Only text values are properties (a JSON null is none); PostgreSQL text holds no NUL.
    return {str(k).replace("\x00", ""): v.replace("\x00", "")
            for k, v in props.items() if isinstance(v, str)}


def _values(props: dict[str, Any]) -> dict[str, Any]:
    """Column values of a calendar created from these properties."""
    try:
        return collection_meta.columns_from_props(props)
    except InvalidCalendarData:  # too many or too large: keep the mapped ones of sane size
        return collection_meta.columns_from_props(
            {k: v for k, v in props.items()
             if k in collection_meta.COLUMN_OF and len(v) <= MAX_PROPERTY})


def _radicale(root: Path, merge_users: bool) -> Source:
    source = Source("radicale", [])
    for user_dir in _entries(root):
        if user_dir.is_dir():
            _collections(source, user_dir, user_dir.name)
    if merge_users:
        _merge(source.calendars)
    return source


def _collections(source: Source, user_dir: Path, user: str | None) -> None:
    """The calendars among a folder's collection folders (one Radicale user's,
    or an `export` folder's: user None)."""
    for folder in _entries(user_dir):
        if not folder.is_dir():
            continue
        label = f"{user}/{folder.name}" if user else folder.name
        props = _props(folder) if (folder / PROPS).is_file() else {}
        if isinstance(props, str):
            source.notes.append(f"collection {label}: {props}")
            continue
        tag = props.get("tag")
        if tag == "VADDRESSBOOK":
            source.notes.append(f"address book {label} (address books are not supported)")
            continue
        if tag != collection_meta.TAG:
            source.notes.append(f"collection {label}: it is not a calendar "
                                "(no tag VCALENDAR in its .Radicale.props)")
            continue
        href = folder.name
        if not safe_href(href):
            href = href_for_name(folder.name)
            source.notes.append(f"calendar {label}: its folder name cannot be a name in a "
                                f"CalDAV URL here, so its href is {href}")
        for nested in _entries(folder):
            if nested.is_dir():
                source.notes.append(f"collection {label}/{nested.name} (calendars cannot be "
                                    "nested)")
        values = _values(props)
        source.calendars.append(CalendarSource(
            label, _items(folder), name=values.get("name") or folder.name,
            href=href, values=values, user=user, file_hrefs=True))


def _merge(calendars: list[CalendarSource]) -> None:
    """All users' calendars in one tenant: a collection name that several users
    have keeps its href for the first user (by name) and becomes `<user>-<name>`
    for the others, whose display names get ` (<user>)`. Decided from the
    source alone, so a re-run maps every calendar the same way."""
    owners: dict[str, list[CalendarSource]] = {}
    for cal in calendars:
        owners.setdefault(cal.href or "", []).append(cal)
    taken = set(owners)
    for href, same in owners.items():
        for cal in same[1:]:
            new = f"{cal.user}-{href}"
            while new in taken:
                new += "-2"
            taken.add(new)
            cal.href = new
            cal.name = f"{cal.name} ({cal.user})"
            if cal.values is not None:
                cal.values = {**cal.values, "name": cal.name}
