"""`backside-caldav export`: a tenant's calendars out as files.

Each resource's text is what a CalDAV GET of it answers (event_reads.get_items:
the client's stored text, or the rendering of rows another application
changed). Each calendar is read in one read-only REPEATABLE READ transaction as the
app role (engines.get_app_engine: row-level security shows only the
tenant's rows), so a file set is one moment of the calendar even while
clients write.

Two forms:
- a folder per calendar (named by its href) with one file per resource
  (named by its href) and a `.Radicale.props`: the layout of one user's
  collections in Radicale's storage, which `import` reads back with names
  and colours, and stock Radicale can serve;
- one merged .ics per calendar (domain/ics_merge.py), for other tools.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.engine import Engine

from backside_caldav.db import calendars, event_reads, tenancy
from backside_caldav.db.keys import find_tenant
from backside_caldav.domain import collection_meta, ics_merge
from backside_caldav.domain.errors import ConfigError
from backside_caldav.domain.ics_split import safe_href
from backside_caldav.domain.records import CalendarRow

BATCH = 200  # resources read per statement
PROPS = ".Radicale.props"


@dataclass
class Written:
    calendar: str  # its name (or href)
    href: str
    resources: int
    path: str


@dataclass
class Report:
    tenant: str
    written: list[Written] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)  # what could not be a file, with why


def choose(owner: Engine, app: Engine, tenant: str,
           calendar: str | None) -> tuple[str, str, list[CalendarRow]]:
    """(tenant id, tenant name, the calendars to export): all of them, or the one
    whose href or name (without regard to case) is `calendar`. The tenant is
    found with the owner's engine; its calendars are read as the app role, so
    row-level security keeps the export to that tenant's rows."""
    with owner.connect() as conn:
        tenant_id, name = find_tenant(conn, tenant)
    with tenancy.transaction(app, tenant_id, read_only=True) as conn:
        if calendar is None:
            found = calendars.list_calendars(conn, tenant_id)
        else:
            one = calendars.get_calendar(conn, tenant_id, calendar)
            found = [one] if one else calendars.calendars_by_name(conn, tenant_id, calendar)
            if not found:
                names = ", ".join(c.href for c in calendars.list_calendars(conn, tenant_id))
                raise ConfigError(f"tenant {name!r} has no calendar {calendar!r} "
                                  f"(its calendars: {names or 'none'})")
            if len(found) > 1:
                raise ConfigError(f"several calendars of tenant {name!r} are named {calendar!r}:"
                                  f" give the href ({', '.join(c.href for c in found)})")
    return tenant_id, name, found


def texts(engine: Engine, tenant_id: str, calendar: CalendarRow) -> Iterator[tuple[str, str]]:
    """(href, text as GET answers it) of every resource of the calendar, by href,
    from one snapshot."""
    with tenancy.transaction(engine, tenant_id, read_only=True) as conn:
        hrefs = sorted(event_reads.all_hrefs(conn, tenant_id, calendar.id))
        for i in range(0, len(hrefs), BATCH):
            items = event_reads.get_items(conn, tenant_id, calendar.id, hrefs[i:i + BATCH])
            for item in sorted(items, key=lambda it: it.href):
                yield item.href, item.text


def props_of(calendar: CalendarRow) -> dict[str, str]:
    """What Radicale keeps in the collection's .Radicale.props."""
    meta = collection_meta.meta_of(calendar)
    if "C:supported-calendar-component-set" not in meta:
        meta["C:supported-calendar-component-set"] = ",".join(calendar.components)
    return meta


def folder_check(calendar: CalendarRow, folder: Path, force: bool) -> str | None:
    """Why the calendar cannot be written as this folder (None: it can); raises
    for a target that is there and not to be written over. Checked for every
    calendar before any is written."""
    if not safe_href(calendar.href):
        return (f"calendar {calendar.href!r}: its href cannot be a folder name that import "
                "and Radicale read; export it with --calendar to a .ics file")
    fresh(folder, force, is_folder=True)
    return None


def write_folder(engine: Engine, tenant_id: str, calendar: CalendarRow, folder: Path,
                 force: bool, report: Report, progress: Callable[[], None]) -> int:
    """The calendar as a Radicale collection folder; returns the resources written.

    A resource href that is not a plain file name (other applications write
    events.href directly: "../x", "a/b", ".Radicale.props") is left out and
    reported, never followed outside the folder. With force, resource files of
    an earlier export that the calendar no longer has are removed, so an
    import of the folder does not bring deleted events back."""
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    written: set[str] = set()
    for href, text in texts(engine, tenant_id, calendar):
        if not safe_href(href) or href == PROPS:
            report.left_out.append(f"{calendar.href}/{href!r}: not a file name import and "
                                   "Radicale read (written by another application)")
            continue
        _write(folder / href, text.encode("utf-8"))
        written.add(href)
        count += 1
        progress()
    _write(folder / PROPS, json.dumps(props_of(calendar), ensure_ascii=False,
                                      sort_keys=True).encode("utf-8"))
    if force:
        for old in folder.iterdir():
            if (old.name not in written and old.suffix.lower() == ".ics" and old.is_file()
                    and safe_href(old.name)):
                old.unlink()
    return count


def write_merged(engine: Engine, tenant_id: str, calendar: CalendarRow, out: BinaryIO,
                 progress: Callable[[], None]) -> int:
    """The calendar as one .ics to `out`; returns the resources in it.

    The VTIMEZONEs go first but are known only once every resource was read,
    so the components wait in a temporary file, not in memory: a calendar of
    100k resources is written in the memory of one batch."""
    zones: dict[str, str] = {}
    count = 0
    with tempfile.TemporaryFile() as spool:
        for _href, text in texts(engine, tenant_id, calendar):
            parts = ics_merge.parts_of(text)
            for tzid, zone in parts.zones.items():
                zones.setdefault(tzid, zone)
            for component in parts.objects:
                spool.write(component.encode("utf-8"))
            count += 1
            progress()
        out.write(ics_merge.head(calendar.name or calendar.href, zones).encode("utf-8"))
        spool.seek(0)
        shutil.copyfileobj(spool, out)
        out.write(ics_merge.TAIL.encode("utf-8"))
    return count


def merged_target(path: Path, force: bool) -> None:
    """Refuse to overwrite a file that is there, unless forced."""
    fresh(path, force, is_folder=False)
    if path.parent and not path.parent.is_dir():
        raise ConfigError(f"cannot write {path}: the folder {path.parent} does not exist")


def fresh(path: Path, force: bool, is_folder: bool) -> None:
    """Refuse a target that is there and not empty, unless forced."""
    if is_folder and path.exists() and not path.is_dir():
        raise ConfigError(f"cannot write the folder {path}: a file of that name is there")
    if not is_folder and path.is_dir():
        raise ConfigError(f"cannot write {path}: it is a folder")
    full = path.exists() and (not path.is_dir() or any(path.iterdir()))
    if full and not force:
        raise ConfigError(f"{path} is already there and not empty; add --force to write "
                          "over it")


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[BinaryIO]:
    """A file that takes path's place only once complete. Its temporary name is
    short: a name near the 255-byte limit must not fail for its suffix."""
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.replace(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)


def _write(path: Path, data: bytes) -> None:
    """The file's bytes in place of any old ones, never half written."""
    with _replacing(path) as f:
        f.write(data)


def write_merged_file(engine: Engine, tenant_id: str, calendar: CalendarRow, path: Path,
                      progress: Callable[[], None]) -> int:
    """The merged calendar as the file at path, which appears only when complete."""
    with _replacing(path) as f:
        return write_merged(engine, tenant_id, calendar, f, progress)
