"""`backside-caldav export`: move a tenant's calendars out, as files.

A composer like cli.py: reads the arguments, hands the work to
service/exporter.py, prints what it wrote (to stderr when the calendar
itself goes to stdout). Exit code 0: all written; 1: written, but something
could not be a file and was left out (listed); 2: an error, one line.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from backside_caldav.domain.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from backside_caldav.domain.records import CalendarRow
    from backside_caldav.service.exporter import Report

OpenEngine = Callable[[], "Engine"]


def cmd_export(args: argparse.Namespace, engine: OpenEngine) -> int:
    from backside_caldav.cli import resolve_database_url
    from backside_caldav.db import engines
    from backside_caldav.service import exporter

    out = args.out
    merged = out == "-" or (out.lower().endswith(".ics") and not Path(out).is_dir())
    if merged and args.format == "folder":
        raise ConfigError(f"--format folder needs a folder, not {out}")
    owner = engine()  # migrated; finds the tenant
    db = engines.get_app_engine(resolve_database_url())  # reads under row-level security
    tenant_id, tenant, found = exporter.choose(owner, db, args.tenant, args.calendar)
    if not found:
        raise ConfigError(f"tenant {tenant!r} has no calendars")
    if merged and len(found) > 1:
        raise ConfigError(f"tenant {tenant!r} has {len(found)} calendars ("
                          f"{', '.join(c.href for c in found)}): choose one with --calendar, "
                          "or give a folder to write them all")
    report = exporter.Report(tenant)
    try:
        _write_all(args, db, tenant_id, found, report)
    except OSError as e:  # a read-only or full disk, a closed pipe: the target, not a file
        raise ConfigError(f"cannot write {out}: {e.strerror or e}") from e
    shown = sys.stderr if out == "-" else sys.stdout
    total = sum(w.resources for w in report.written)
    print(f"exported {total} resources of {len(report.written)} calendar"
          f"{'s' if len(report.written) != 1 else ''} of tenant {tenant}", file=shown)
    for w in report.written:
        print(f"  {w.href} ({w.calendar}): {w.resources} -> {w.path}", file=shown)
    for why in report.left_out:
        print(f"left out: {why}", file=shown)
    return 1 if report.left_out else 0


def _write_all(args: argparse.Namespace, db: Engine, tenant_id: str,
               found: list[CalendarRow], report: Report) -> None:
    """Every calendar in `found` to OUT, each in the form OUT asks for."""
    from backside_caldav.service import exporter

    out = args.out
    merged = out == "-" or (out.lower().endswith(".ics") and not Path(out).is_dir())
    nothing = lambda: None  # noqa: E731 - no progress bar: an export is quick
    if out == "-":
        cal = found[0]
        count = exporter.write_merged(db, tenant_id, cal, sys.stdout.buffer, nothing)
        sys.stdout.flush()
        report.written.append(exporter.Written(cal.name or cal.href, cal.href, count, "-"))
    elif merged:
        cal = found[0]
        path = Path(out)
        exporter.merged_target(path, args.force)
        count = exporter.write_merged_file(db, tenant_id, cal, path, nothing)
        report.written.append(exporter.Written(cal.name or cal.href, cal.href, count, str(path)))
    else:
        folder = Path(out)
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"cannot write into {folder}: it is a file")
        # Every target checked before anything is written: no half-done export.
        plan = []
        for cal in found:
            if args.format == "ics":
                path = folder / f"{cal.href}.ics"
                if len(path.name.encode()) > 255:
                    report.left_out.append(f"calendar {cal.href!r}: too long for a file name; "
                                           "export it with --calendar to a .ics file")
                    continue
                exporter.fresh(path, args.force, is_folder=False)
                plan.append((cal, path))
            else:
                path = folder / cal.href
                why = exporter.folder_check(cal, path, args.force)
                if why:
                    report.left_out.append(why)
                else:
                    plan.append((cal, path))
        folder.mkdir(parents=True, exist_ok=True)
        for cal, path in plan:
            if args.format == "ics":
                count = exporter.write_merged_file(db, tenant_id, cal, path, nothing)
            else:
                count = exporter.write_folder(db, tenant_id, cal, path, args.force, report,
                                              nothing)
            report.written.append(exporter.Written(cal.name or cal.href, cal.href, count,
                                                   str(path)))


def add_parsers(sub: argparse._SubParsersAction, engine: OpenEngine) -> None:
    export = sub.add_parser(
        "export", help="write a tenant's calendars out as files",
        description="Write a tenant's calendars out. OUT ending in .ics (or - for stdout): "
                    "one merged file of one calendar (each VTIMEZONE once). OUT a folder: a "
                    "folder per calendar (named by its href) with one file per resource, the "
                    "bytes a CalDAV GET answers, and a .Radicale.props with its name and "
                    "colour (the layout `import` reads back and Radicale serves); with "
                    "--format ics, one merged <href>.ics per calendar instead.")
    export.add_argument("out", metavar="OUT", help="a folder, a file ending in .ics, or -")
    export.add_argument("--tenant", required=True, help="tenant name or id")
    export.add_argument("--calendar", help="only this calendar (its href or name)")
    export.add_argument("--format", choices=("folder", "ics"),
                        help="for a folder OUT: a folder per calendar (default) or one .ics "
                             "per calendar")
    export.add_argument("--force", action="store_true",
                        help="write over an earlier export: files of the same names are "
                             "replaced, and a calendar folder's .ics files of resources the "
                             "calendar no longer has are removed")
    export.set_defaults(func=functools.partial(cmd_export, engine=engine))
