"""`backside-caldav export`: move a tenant's calendars out, as files.

A composer like cli.py: reads the arguments, hands the work to
service/exporter.py, prints what it wrote (to stderr when the calendar
itself goes to stdout).
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

OpenEngine = Callable[[], "Engine"]


def cmd_export(args: argparse.Namespace, engine: OpenEngine) -> int:
    from backside_caldav.service import exporter

    out = args.out
    merged = out == "-" or (out.lower().endswith(".ics") and not Path(out).is_dir())
    if merged and args.format == "folder":
        raise ConfigError(f"--format folder needs a folder, not {out}")
    db = engine()
    tenant_id, tenant, found = exporter.choose(db, args.tenant, args.calendar)
    if not found:
        raise ConfigError(f"tenant {tenant!r} has no calendars")
    if merged and len(found) > 1:
        raise ConfigError(f"tenant {tenant!r} has {len(found)} calendars ("
                          f"{', '.join(c.href for c in found)}): choose one with --calendar, "
                          "or give a folder to write them all")
    report = exporter.Report(tenant)
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
        count = _merged_file(exporter, db, tenant_id, cal, path)
        report.written.append(exporter.Written(cal.name or cal.href, cal.href, count, str(path)))
    else:
        folder = Path(out)
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"cannot write into {folder}: it is a file")
        folder.mkdir(parents=True, exist_ok=True)
        for cal in found:
            if args.format == "ics":
                path = folder / f"{cal.href}.ics"
                exporter.merged_target(path, args.force)
                count = _merged_file(exporter, db, tenant_id, cal, path)
            else:
                path = folder / cal.href
                count = exporter.write_folder(db, tenant_id, cal, path, args.force, nothing)
            report.written.append(exporter.Written(cal.name or cal.href, cal.href, count,
                                                   str(path)))
    shown = sys.stderr if out == "-" else sys.stdout
    total = sum(w.resources for w in report.written)
    print(f"exported {total} resources of {len(report.written)} calendar"
          f"{'s' if len(report.written) != 1 else ''} of tenant {tenant}", file=shown)
    for w in report.written:
        print(f"  {w.href} ({w.calendar}): {w.resources} -> {w.path}", file=shown)
    return 0


def _merged_file(exporter, db: Engine, tenant_id: str, cal, path: Path) -> int:  # noqa: ANN001
    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "wb") as f:
        count = exporter.write_merged(db, tenant_id, cal, f, lambda: None)
    partial.replace(path)
    return count


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
                        help="write over files that are there (same names are replaced)")
    export.set_defaults(func=functools.partial(cmd_export, engine=engine))
