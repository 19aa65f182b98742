"""`backside-caldav import`: move calendars in from an .ics file, a folder of
them, or a Radicale storage folder, in one command.

A composer like cli.py: it checks the arguments, hands the work to
service/importer.py, shows a progress bar on a terminal and prints the
summary. Exit codes: 0 when every resource is in (imported, replaced or
already there), 1 when the import finished but refused some resources (each
is listed with its reason), 2 on an error that stops it before or while it
runs (one line on stderr, as for every command), 130 on Ctrl-C (what was
committed stays; a re-run skips it).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from backside_caldav.domain.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from backside_caldav.service.importer import Progress, Report

OpenEngine = Callable[[], "Engine"]


def cmd_import(args: argparse.Namespace, engine: OpenEngine) -> int:
    from backside_caldav.cli import resolve_database_url
    from backside_caldav.db import engines
    from backside_caldav.service import import_sources, importer

    if args.tenant is not None and args.tenant_per_user:
        raise ConfigError("give either --tenant T or --tenant-per-user, not both")
    if args.tenant is None and not args.tenant_per_user:
        raise ConfigError("say where to import: --tenant T (or --tenant-per-user for a "
                          "Radicale storage folder)")
    if args.tenant is not None and not args.tenant.strip():
        raise ConfigError("--tenant must not be empty")
    source = import_sources.read_source(Path(args.source), args.calendar,
                                        merge_users=not args.tenant_per_user)
    if args.tenant_per_user and source.kind != "radicale":
        raise ConfigError("--tenant-per-user is for a Radicale storage folder (with "
                          "collection-root/); give --tenant T for an .ics file or folder")
    owner = engine()
    app = engines.get_app_engine(resolve_database_url())
    options = importer.Options(args.tenant, args.tenant_per_user, args.replace)
    with _progress_bar() as progress:
        run = importer.Importer(owner, app, options, progress)
        try:
            report = run.run(source)
        except KeyboardInterrupt:
            with contextlib.suppress(Exception):  # a second failure must not hide the first
                run.finish()
            _print_summary(run.report, args)
            print("interrupted: what is above was committed; run the same command again "
                  "to import the rest", file=sys.stderr)
            return 130
    _print_summary(report, args)
    return 1 if report.refused else 0


@contextmanager
def _progress_bar() -> Iterator[Progress | None]:
    """A rich progress bar on stderr when it is a terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("importing", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("import", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _print_summary(report: Report, args: argparse.Namespace) -> None:
    into = f"tenant {args.tenant}" if args.tenant else "one tenant per user"
    counts = (f"imported {report.imported}, skipped {report.skipped} (already there), "
              f"refused {len(report.refused)}")
    if args.replace:
        counts = (f"imported {report.imported}, replaced {report.replaced}, "
                  f"skipped {report.skipped}, refused {len(report.refused)}")
    print(f"{counts} into {into}")
    for name in report.tenants_created:
        print(f"created tenant {name}")
    for href in report.calendars_created:
        print(f"created calendar {href}")
    for note in report.notes:
        print(f"left out: {note}")
    for refused in report.refused:
        uid = f" UID {refused.uid}" if refused.uid else ""
        print(f"refused: {refused.source}{uid}: {refused.reason}")


def add_parsers(sub: argparse._SubParsersAction, engine: OpenEngine) -> None:
    """The import command; engine() gives the migrated database."""
    imp = sub.add_parser(
        "import", help="import an .ics file, a folder of them or a Radicale storage",
        description="Import calendar data: an .ics file (split into one resource per UID), "
                    "a folder of .ics files, or a Radicale storage folder (the one holding "
                    "collection-root/, or collection-root/ itself). Existing calendars are "
                    "merged into, never wiped: a UID already there is skipped (--replace: "
                    "replaced). Each resource is its own transaction; a re-run skips what "
                    "is in. Exit code 0: all in; 1: some refused (listed); 2: error.")
    imp.add_argument("source", metavar="SOURCE", help="an .ics file, a folder, or a Radicale "
                                                      "storage folder")
    imp.add_argument("--tenant", metavar="T", help="the tenant (name or id) to import into")
    imp.add_argument("--tenant-per-user", action="store_true",
                     help="Radicale storage: each user's calendars into the tenant named "
                          "after the user (created if needed)")
    imp.add_argument("--calendar", metavar="NAME",
                     help="file or folder: the calendar (by href or name; created if "
                          "missing). Default: the file's X-WR-CALNAME, else its name")
    imp.add_argument("--replace", action="store_true",
                     help="replace resources whose UID is already in the calendar "
                          "(default: skip them)")
    imp.set_defaults(func=functools.partial(cmd_import, engine=engine))
