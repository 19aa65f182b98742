"""`backside-caldav apikey add | list | revoke`: API keys and their restrictions.

A composer like cli.py (which adds these commands to its parser): it only
reads arguments, calls db/keys.py and prints. Every bad value is one line on
stderr (an ApiKeyError that cli.main prints) and a non-zero exit; so values
are checked here and in db/keys.py, not by argparse (whose errors are a usage
block). Like cli.py it imports the database modules only inside the
commands: the gunicorn master of `serve` builds this parser and must not
load SQLAlchemy.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from backside_caldav.domain.api_keys import (
    ApiKeyError,
    describe,
    parse_rate_limits,
    parse_window,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

OpenEngine = Callable[[], "Engine"]


def cmd_add(args: argparse.Namespace, engine: OpenEngine) -> int:
    from backside_caldav.db import keys as apikeys

    window = parse_window(args.window_days) if args.window_days is not None else None
    rates = parse_rate_limits(args.rate_limit) if args.rate_limit is not None else ()
    expires = None
    if args.expires_in_days is not None:
        try:
            expires = int(args.expires_in_days)
        except ValueError:
            raise ApiKeyError(f"bad --expires-in-days {args.expires_in_days!r}: "
                              "a whole number of days") from None
    key = apikeys.create_key(
        engine(), args.tenant, read_only=args.read_only, scope=args.scope,
        calendars=args.calendar, window_days=window, rate_limits=rates,
        owner_email=args.owner_email, expires_in_days=expires)
    kind = "read-only API key" if key.read_only else "API key"
    limits = f" [{describe(key.key)}]" if key.key is not None else ""
    print(f"{kind} {key.id} created for tenant {key.tenant_name} ({key.tenant_id}){limits}; "
          f"it is shown only this once: {key.secret}")
    return 0


def cmd_list(args: argparse.Namespace, engine: OpenEngine) -> int:
    from backside_caldav.db import keys as apikeys

    for key in apikeys.list_keys(engine(), args.tenant):
        used = key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "never"
        limits = describe(key.key) if key.key is not None else ""
        print(f"{key.id}  {'read-only ' if key.read_only else 'read-write'}  "
              f"created {key.created_at.isoformat(timespec='seconds')}  last used {used}  "
              f"{limits}")
    return 0


def cmd_revoke(args: argparse.Namespace, engine: OpenEngine) -> int:
    from backside_caldav.db import keys as apikeys

    apikeys.revoke_key(engine(), args.tenant, args.key_id)
    print(f"API key {args.key_id} revoked")
    return 0


def add_parsers(sub: argparse._SubParsersAction, engine: OpenEngine) -> None:
    """The apikey command and its subcommands; engine() gives the migrated database."""
    apikey = sub.add_parser("apikey", help="manage API keys for the JSON API (/api/v1/)",
                            description="Manage Bearer API keys for the JSON API.")
    apikey_sub = apikey.add_subparsers(dest="apikey_command", required=True)
    add = apikey_sub.add_parser(
        "add", help="create an API key for a tenant",
        description="Create an API key for the tenant and print it once (the last word of "
                    "the output); only its SHA-256 is stored.")
    add.add_argument("--tenant", required=True, help="tenant name (or id)")
    add.add_argument("--scope", help="read, write (the default: events, links, RSVP, "
                                     "calendars) or admin (also permanent deletes)")
    add.add_argument("--read-only", action="store_true", help="the same as --scope read")
    add.add_argument("--calendar", action="extend", nargs="+", metavar="ID_OR_NAME",
                     help="limit the key to these calendars (repeatable)")
    add.add_argument("--window-days", metavar="PAST,FUTURE",
                     help="limit the key to events within PAST days ago and FUTURE days ahead")
    add.add_argument("--rate-limit", metavar="N/PERIOD,...",
                     help="requests per second, minute, hour or day, e.g. 100/minute,500/hour "
                          "(counted across all workers)")
    add.add_argument("--owner-email", metavar="EMAIL",
                     help="the key owner's address (organizer of the events it creates)")
    add.add_argument("--expires-in-days", metavar="N", help="the key stops working after N days")
    add.set_defaults(func=functools.partial(cmd_add, engine=engine))
    listing = apikey_sub.add_parser("list", help="list a tenant's API keys (ids, not secrets)",
                                    description="List a tenant's API keys and their "
                                                "restrictions.")
    listing.add_argument("--tenant", required=True, help="tenant name (or id)")
    listing.set_defaults(func=functools.partial(cmd_list, engine=engine))
    revoke = apikey_sub.add_parser("revoke", help="revoke an API key by its id",
                                   description="Revoke an API key by its id.")
    revoke.add_argument("key_id")
    revoke.add_argument("--tenant", required=True, help="tenant name (or id)")
    revoke.set_defaults(func=functools.partial(cmd_revoke, engine=engine))
