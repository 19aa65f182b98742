"""`backside-caldav webhook add | list | remove | deliveries`: the tenant's receivers
of the change feed (delivery: service/webhook_delivery.py).

A composer like cli_keys.py: it reads arguments, checks them with domain/,
calls db/webhooks.py and prints. Every bad value is one line on stderr (a
BacksideError that cli.main prints) and a non-zero exit, and nothing is
stored. Everything else is imported inside the commands only: the gunicorn
master of `serve` builds this parser and must stay small (no SQLAlchemy, no
signing library).
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

OpenEngine = Callable[[], "Engine"]
MAX_LIMIT = 1000


def _when(at: datetime | None) -> str:
    return at.isoformat(timespec="seconds") if at is not None else "-"


def cmd_add(args: argparse.Namespace, engine: OpenEngine) -> int:
    from backside_caldav.db import webhooks
    from backside_caldav.domain.webhook_urls import check
    from backside_caldav.domain.webhooks import check_patterns, check_secret, new_secret

    events = check_patterns(args.events)
    check(args.url, args.allow_private)
    if args.secret_stdin:
        secret = check_secret(sys.stdin.readline())
    else:
        secret = new_secret()
    webhook_id, tenant_id, name = webhooks.add(engine(), args.tenant, args.url, events, secret,
                                               args.allow_private)
    what = ", ".join(events) if events else "all changes"
    print(f"webhook {webhook_id} added for tenant {name} ({tenant_id}): {what} -> {args.url}")
    if not args.secret_stdin:
        print(f"signing secret (shown only this once): {secret}")
    return 0


def cmd_list(args: argparse.Namespace, engine: OpenEngine) -> int:
    from backside_caldav.db import webhooks

    for hook in webhooks.listing(engine(), args.tenant):
        if hook.failing_since is not None:
            state = (f"failing since {_when(hook.failing_since)} ({hook.attempts} tries, "
                     f"last: {hook.last_error or hook.last_status})")
        elif hook.last_at is not None:
            state = f"ok (last: {hook.last_status or hook.last_error} at {_when(hook.last_at)})"
        else:
            state = "nothing sent yet"
        events = ",".join(hook.events) if hook.events else "*"
        print(f"{hook.id}  {hook.tenant_name}  {hook.url}  events {events}  "
              f"cursor {hook.cursor}  {state}")
    return 0


def cmd_remove(args: argparse.Namespace, engine: OpenEngine) -> int:
    from backside_caldav.db import webhooks

    url = webhooks.remove(engine(), args.webhook_id, args.tenant)
    print(f"webhook {args.webhook_id} ({url}) removed")
    return 0


def cmd_deliveries(args: argparse.Namespace, engine: OpenEngine) -> int:
    from backside_caldav.db import webhooks
    from backside_caldav.domain.webhooks import WebhookError

    try:
        limit = int(args.limit)
    except ValueError:
        limit = 0
    if not 0 < limit <= MAX_LIMIT:
        raise WebhookError(f"bad --limit {args.limit!r}: 1-{MAX_LIMIT}")
    for d in webhooks.deliveries(engine(), args.tenant, args.webhook, limit,
                                 failures_only=not args.all):
        outcome = ("delivered" if d.delivered else "given up" if d.given_up else "failed")
        detail = f"HTTP {d.status_code}" if d.status_code is not None else "no answer"
        if d.error and d.status_code is None:
            detail += f": {d.error}"
        print(f"{_when(d.at)}  {d.webhook_id}  {d.tenant_name}  cursor {d.seq}  {d.type}  "
              f"attempt {d.attempt}  {outcome}  {detail}")
    return 0


def add_parsers(sub: argparse._SubParsersAction, engine: OpenEngine) -> None:
    """The webhook command and its subcommands; engine() gives the migrated database."""
    webhook = sub.add_parser("webhook", help="POST the change feed to a tenant's receivers",
                             description="Manage webhooks: each change of a tenant's events "
                                         "and calendars is POSTed as signed JSON (Standard "
                                         "Webhooks), in order, retried for 24 hours.")
    webhook_sub = webhook.add_subparsers(dest="webhook_command", required=True)
    add = webhook_sub.add_parser(
        "add", help="add a receiver URL for a tenant",
        description="Add a webhook for the tenant; it gets the changes from now on. Prints "
                    "its id and (unless --secret-stdin) the signing secret, once.")
    add.add_argument("url", help="http:// or https:// URL of the receiver")
    add.add_argument("--tenant", required=True, help="tenant name (or id)")
    add.add_argument("--events", action="extend", nargs="+", metavar="PATTERN",
                     help="change types to send, e.g. 'event.*' calendar.deleted (default: all)")
    add.add_argument("--secret-stdin", action="store_true",
                     help="read the signing secret (whsec_<base64>) from standard input")
    add.add_argument("--allow-private", action="store_true",
                     help="allow a receiver on a loopback or private address")
    add.set_defaults(func=functools.partial(cmd_add, engine=engine))
    listing = webhook_sub.add_parser("list", help="list webhooks and how their deliveries go",
                                     description="List webhooks (not their secrets).")
    listing.add_argument("--tenant", help="only this tenant's (name or id)")
    listing.set_defaults(func=functools.partial(cmd_list, engine=engine))
    remove = webhook_sub.add_parser("remove", help="remove a webhook by its id",
                                    description="Remove a webhook and its delivery record.")
    remove.add_argument("webhook_id")
    remove.add_argument("--tenant", help="the webhook's tenant (name or id), as a check")
    remove.set_defaults(func=functools.partial(cmd_remove, engine=engine))
    shown = webhook_sub.add_parser(
        "deliveries", help="the last failed deliveries",
        description="The newest failed tries (time, webhook, tenant, cursor, type, attempt, "
                    "status or error); --all also shows the delivered ones.")
    shown.add_argument("--tenant", help="only this tenant's (name or id)")
    shown.add_argument("--webhook", metavar="ID", help="only this webhook's")
    shown.add_argument("--limit", default="20", help="how many (20)")
    shown.add_argument("--all", action="store_true", help="delivered tries too")
    shown.set_defaults(func=functools.partial(cmd_deliveries, engine=engine))
