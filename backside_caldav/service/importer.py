"""`backside-caldav import`: resources from files into a tenant's calendars.

Each resource is checked as a CalDAV PUT checks its body (the size limit,
ical_guard, the resource parser, the calendar's component set) and written
by the PUT's own functions (event_writes.create_if_new, put_item) in a
transaction of its own, with the tenant entered and locked and the writer
named 'import' for the change feed. So an import cut off at any moment
leaves every resource either complete or absent, and running it again skips
what is in: a resource whose UID the calendar already has is left alone
(or, with replace, replaced at its own href). Calendars are found or
created first, each in its own transaction; nothing is ever deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from backside_caldav.db import calendars, event_writes, imports, tenancy
from backside_caldav.domain.errors import ConfigError, InvalidCalendarData
from backside_caldav.domain.ical_guard import check_ical_body
from backside_caldav.domain.ical_parse import parse_resource
from backside_caldav.domain.ics_split import (
    Piece,
    href_for_name,
    href_for_uid,
    safe_href,
    split_calendar,
)
from backside_caldav.domain.records import CalendarRow
from backside_caldav.service.import_sources import CalendarSource, Source

# config/radicale.conf's [server] max_resource_size: what a PUT may store.
MAX_RESOURCE_SIZE = 8_000_000
SOURCE = "import"  # the change feed's writer
# Statistics are refreshed after this many writes, then twice as many, ...
FIRST_ANALYZE = 100


@dataclass
class Refused:
    source: str  # the file
    uid: str | None
    reason: str


@dataclass
class Report:
    imported: int = 0
    replaced: int = 0
    skipped: int = 0
    refused: list[Refused] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was left out on purpose
    calendars_created: list[str] = field(default_factory=list)
    tenants_created: list[str] = field(default_factory=list)


@dataclass
class Options:
    tenant: str | None  # every calendar into this tenant
    per_user: bool  # a Radicale user's calendars into the tenant of that name
    replace: bool  # a UID already there is replaced instead of skipped


Progress = Callable[[int, int], None]  # (resources or files done, total)


@dataclass
class _Target:
    tenant_id: str
    calendar: CalendarRow
    tasks: CalendarRow | None = None  # the task list beside it, once needed
    # UIDs the calendar had when the import found it, and those written since: a
    # re-run skips them without parsing or a transaction (checked again on writes).
    known: set[str] = field(default_factory=set)
    # UIDs this run wrote, with their file: a second file with one of them is a
    # clash in the source, not a resource that was "already there".
    written: dict[str, str] = field(default_factory=dict)


class Importer:
    """One import run: owner (tenant lookup) and app (tenant data) engines."""

    def __init__(self, owner: Engine, app: Engine, options: Options,
                 progress: Progress | None = None) -> None:
        self.owner, self.app, self.options = owner, app, options
        self.progress = progress or (lambda done, total: None)
        self.report = Report()
        self._tenants: dict[str, str] = {}
        self._next_analyze = FIRST_ANALYZE
        self._written = 0

    def run(self, source: Source) -> Report:
        self.report.notes.extend(source.notes)
        if not self.options.per_user:
            self._tenant(self.options.tenant or "")  # an unknown tenant fails before any write
        total = sum(len(c.files) for c in source.calendars)
        done = 0
        for cal in source.calendars:
            if source.kind == "file":
                self._file_source(cal)
                continue
            if not cal.files and cal.href is None:
                self._refuse(cal.label, None, "no .ics files in the folder")
                continue
            try:
                target = self._target(cal)  # a Radicale calendar is created even when empty
            except sa.exc.DataError as exc:  # a property the database cannot hold
                reason = str(exc.orig).strip().splitlines()[0]
                self._refuse(cal.label, None, f"the calendar cannot be created: {reason}")
                done += len(cal.files)
                continue
            for path in cal.files:
                read = self._read(path)
                if read is not None:
                    pieces, _name, whole = read
                    for piece in pieces:
                        keep = whole and cal.file_hrefs and safe_href(path.name)
                        self._put(target, str(path), piece, path.name if keep else None)
                done += 1
                self.progress(done, total)
        self.finish()
        return self.report

    def finish(self) -> None:
        """Wait until every committed resource is on disk (see db.imports.durable)."""
        with self.owner.begin() as conn:
            if self._written:
                imports.analyze(conn)  # for the server's queries, too
            imports.durable(conn)

    def _file_source(self, cal: CalendarSource) -> None:
        path = cal.files[0]
        pieces = self._read(path)
        if pieces is None or not pieces[0]:
            self.progress(1, 1)
            return
        cal.name = cal.name or pieces[1] or path.stem or "calendar"
        target = self._target(cal)
        for n, piece in enumerate(pieces[0], 1):
            self._put(target, str(path), piece, None)
            self.progress(n, len(pieces[0]))

    def _read(self, path: Path) -> tuple[list[Piece], str | None, bool] | None:
        """(resources, X-WR-CALNAME, the file is one resource) of a file, or None
        (refused, with the reason)."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            self._refuse(path, None, f"cannot be read: {exc.strerror or exc}")
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._refuse(path, None, f"the file is not valid utf-8: {exc}")
            return None
        text = text.removeprefix("\ufeff")  # a byte-order mark is the file's, not the data's
        split = split_calendar(text)
        for problem in split.problems:
            self._refuse(path, None, problem)
        if not split.pieces and not split.problems:
            self._refuse(path, None, "no VEVENT, VTODO or VJOURNAL in the file")
        return split.pieces, split.calendar_name, split.whole

    def _refuse(self, path: Path | str, uid: str | None, reason: str) -> None:
        self.report.refused.append(Refused(str(path), uid, reason))

    def _tenant(self, name: str) -> str:
        if name not in self._tenants:
            with self.owner.begin() as conn:
                tenant_id, created = imports.tenant(conn, name, create=self.options.per_user)
            if created:
                self.report.tenants_created.append(name)
            self._tenants[name] = tenant_id
        return self._tenants[name]

    def _target(self, cal: CalendarSource) -> _Target:
        """The calendar `cal` names, found or created (its own transaction)."""
        name = cal.user if self.options.per_user and cal.user else self.options.tenant or ""
        tenant_id = self._tenant(name)
        with tenancy.transaction(self.app, tenant_id) as conn:
            tenancy.lock_tenant(conn, tenant_id, SOURCE)
            row = self._find_or_create(conn, tenant_id, cal)
            known = imports.uids(conn, tenant_id, row.id)
        return _Target(tenant_id, row, known=known)

    def _find_or_create(self, conn: sa.Connection, tenant_id: str,
                        cal: CalendarSource) -> CalendarRow:
        if cal.href is not None:
            found = calendars.get_calendar(conn, tenant_id, cal.href)
            if found is not None:
                return found  # merged into: its own properties stay
            href = cal.href
        else:
            wanted = cal.name or "calendar"
            found = calendars.get_calendar(conn, tenant_id, wanted)
            if found is not None:
                return found
            named = calendars.calendars_by_name(conn, tenant_id, wanted)
            if len(named) == 1:
                return named[0]
            if named:
                raise ConfigError(f"the tenant has {len(named)} calendars named {wanted!r}: "
                                  "give one's href with --calendar")
            href = _free_href(conn, tenant_id, href_for_name(wanted))
        values = dict(cal.values or {})
        values["name"] = values.get("name") or cal.name or href
        row = calendars.create_calendar(conn, tenant_id, href, values)
        self.report.calendars_created.append(f"{cal.user + ': ' if cal.user else ''}{href}")
        return row

    def _task_list(self, target: _Target) -> CalendarRow:
        """The task list beside a calendar that takes no tasks: `<href>-tasks`."""
        if target.tasks is None:
            base = target.calendar
            with tenancy.transaction(self.app, target.tenant_id) as conn:
                tenancy.lock_tenant(conn, target.tenant_id, SOURCE)
                taken = {c.href: c for c in calendars.list_calendars(conn, target.tenant_id)}
                href, n = f"{base.href}-tasks", 2
                while href in taken and "VTODO" not in taken[href].components:
                    href, n = f"{base.href}-tasks-{n}", n + 1  # the same list on a re-run
                row = taken.get(href)
                if row is None:
                    row = calendars.create_calendar(conn, target.tenant_id, href, {
                        "name": f"{base.name or base.href} tasks", "components": ["VTODO"],
                        "color": base.color})
                    self.report.calendars_created.append(href)
            target.tasks = row
        return target.tasks

    def _put(self, target: _Target, path: str, piece: Piece, wanted: str | None) -> None:
        """One resource, checked as a PUT checks it, in a transaction of its own."""
        text = piece.text
        first = target.written.get(piece.uid)
        if first is not None and first != path:
            self._refuse(path, piece.uid, f"{first} has a resource with this UID too (it is "
                                          "the one imported)")
            return
        if (not self.options.replace and piece.uid in target.known
                and piece.component in target.calendar.components):
            self.report.skipped += 1
            return
        if len(text) > MAX_RESOURCE_SIZE:
            self._refuse(path, piece.uid, f"{len(text)} characters, over the limit of "
                                          f"{MAX_RESOURCE_SIZE} for one resource")
            return
        problem = check_ical_body(text)
        try:
            resource = None if problem else parse_resource(text, target.calendar.timezone)
        except InvalidCalendarData as exc:
            problem = str(exc)
        except Exception as exc:  # noqa: BLE001 - any parser failure is the data's fault
            problem = f"not valid iCalendar: {exc}"
        if problem and "\r" in text and "\n" not in text:
            problem = "its lines end in CR alone; iCalendar lines end in CRLF (or LF)"
        if problem or resource is None:
            self._refuse(path, piece.uid or None, problem or "not valid iCalendar")
            return
        calendar = target.calendar
        if resource.component not in calendar.components:
            if resource.component != "VTODO":
                self._refuse(path, resource.uid, f"the calendar {calendar.href} takes "
                             f"{', '.join(calendar.components)}, not {resource.component}")
                return
            calendar = self._task_list(target)
        try:
            outcome = self._write(target.tenant_id, calendar, text, resource.uid,
                                  wanted or href_for_uid(resource.uid))
        except InvalidCalendarData as exc:
            self._refuse(path, resource.uid, str(exc))
            return
        except (sa.exc.IntegrityError, sa.exc.DataError) as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            self._refuse(path, resource.uid, f"the database refused it: {reason}")
            return
        setattr(self.report, outcome, getattr(self.report, outcome) + 1)
        if calendar is target.calendar:
            target.known.add(resource.uid)
            if outcome != "skipped":
                target.written[resource.uid] = path
        if outcome != "skipped":
            self._written += 1
            if self._written >= self._next_analyze:
                self._next_analyze *= 2
                with self.owner.begin() as conn:
                    imports.analyze(conn)

    def _write(self, tenant_id: str, calendar: CalendarRow, text: str, uid: str,
               href: str) -> str:
        """'imported', 'replaced' or 'skipped', committed on return."""
        with tenancy.transaction(self.app) as conn:
            imports.enter_for_import(conn, tenant_id, SOURCE)
            if event_writes.create_if_new(conn, tenant_id, calendar, href, text) is not None:
                return "imported"  # the common case: one statement
            found = imports.resource_with_uid(conn, tenant_id, calendar.id, uid)
            if found is not None:
                if not self.options.replace:
                    return "skipped"
                event_writes.put_item(conn, tenant_id, calendar, found[0], text, found[1])
                return "replaced"
            for candidate in (href, href_for_uid(uid), f"{uuid.uuid4()}.ics"):
                if not imports.href_in_use(conn, tenant_id, calendar.id, candidate):
                    break
            event_writes.put_item(conn, tenant_id, calendar, candidate, text, None)
            return "imported"


def _free_href(conn: sa.Connection, tenant_id: str, href: str) -> str:
    taken = {c.href for c in calendars.list_calendars(conn, tenant_id)}
    candidate, n = href, 2
    while candidate in taken:
        candidate, n = f"{href}-{n}", n + 1
    return candidate
