"""`backside-caldav account add | passwd | list | delete | email` and
`tenant list | delete`.

A composer like cli_keys.py: reads arguments, calls db/account_admin.py and
db/tenants.py, prints. The database modules are imported inside the
commands (the gunicorn master builds this parser too).
"""

from __future__ import annotations

import argparse
import functools
import getpass
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from backside_caldav.domain.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

OpenEngine = Callable[[], "Engine"]


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "never"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Plain aligned columns, for people; --json is the form for scripts."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in cells)


class _PasswordRule(argparse.HelpFormatter):
    """Puts the password rule into help texts when they are shown: the gunicorn master
    builds the parser too and must not load argon2 (domain/passwords.py) for it."""

    def _format_text(self, text: str) -> str:
        from backside_caldav.domain.passwords import MIN_PASSWORD
        return super()._format_text(text.replace("{min}", str(MIN_PASSWORD)))


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise ConfigError("no terminal to ask for a password: use --password-stdin")
        try:
            password = getpass.getpass("Password: ")
            repeated = getpass.getpass("Repeat password: ")
        except EOFError:  # Ctrl-D
            print(file=sys.stderr)
            raise ConfigError("no password given") from None
        if password != repeated:
            raise ConfigError("the passwords do not match")
    return password


def cmd_account_add(args: argparse.Namespace, engine: OpenEngine) -> int:
    from backside_caldav.db import accounts

    password = _read_password(args)
    tenant_id = accounts.add_account(engine(), args.username, args.tenant, password, args.email)
    print(f"account {args.username} created for tenant {args.tenant} ({tenant_id})")
    return 0


def cmd_account_passwd(args: argparse.Namespace, engine: OpenEngine) -> int:
    from backside_caldav.db import accounts

    password = _read_password(args)
    accounts.set_password(engine(), args.username, password)
    print(f"password of {args.username} changed")
    return 0


def cmd_account_list(args: argparse.Namespace, engine: OpenEngine) -> int:
    from backside_caldav.db import account_admin

    accounts = account_admin.list_accounts(engine(), args.tenant)
    if args.json:
        print(json.dumps([{"login": a.username, "tenant": a.tenant, "email": a.email,
                           "last_login": a.last_login_at and a.last_login_at.isoformat(),
                           "created": a.created_at.isoformat()} for a in accounts], indent=2))
    elif accounts:
        print(table(("LOGIN", "TENANT", "EMAIL", "LAST LOGIN"),
                    [(a.username, a.tenant, a.email or "-", _when(a.last_login_at))
                     for a in accounts]))
    else:
        print("no accounts" + (f" in tenant {args.tenant}" if args.tenant else ""))
    return 0


def cmd_account_delete(args: argparse.Namespace, engine: OpenEngine) -> int:
    from backside_caldav.db import account_admin

    tenant, left = account_admin.delete_account(engine(), args.username)
    print(f"account {args.username} deleted; tenant {tenant} keeps its calendars and events "
          f"({left} login{'s' if left != 1 else ''} left; `tenant delete {tenant} --yes` "
          "removes the tenant with everything in it)")
    return 0


def cmd_account_email(args: argparse.Namespace, engine: OpenEngine) -> int:
    from backside_caldav.db import account_admin

    if args.clear == (args.email is not None):
        raise ConfigError("give either an email address or --clear")
    account_admin.set_email(engine(), args.username, args.email)
    print(f"email of {args.username} " + ("cleared" if args.clear else f"set to {args.email}"))
    return 0


def cmd_tenant_list(args: argparse.Namespace, engine: OpenEngine) -> int:
    from backside_caldav.db import tenants

    rows = tenants.list_tenants(engine())
    if args.json:
        print(json.dumps([{"id": t.id, "name": t.name, "calendars": t.calendars,
                           "events": t.events, "tasks": t.tasks, "logins": t.logins,
                           "api_keys": t.api_keys, "webhooks": t.webhooks} for t in rows],
                         indent=2))
    elif rows:
        print(table(("TENANT", "ID", "CALENDARS", "EVENTS", "TASKS", "LOGINS", "KEYS",
                     "WEBHOOKS"),
                    [(t.name, t.id, t.calendars, t.events, t.tasks, t.logins, t.api_keys,
                      t.webhooks) for t in rows]))
    else:
        print("no tenants")
    return 0


def cmd_tenant_delete(args: argparse.Namespace, engine: OpenEngine) -> int:
    from backside_caldav.db import tenants

    if not args.yes:
        raise ConfigError(f"deleting tenant {args.tenant!r} removes all its calendars, events, "
                          "logins, keys and webhooks for good; add --yes to do it")
    deleted = tenants.delete_tenant(engine(), args.tenant)
    total = sum(deleted.rows.values())
    print(f"tenant {deleted.name} ({deleted.id}) deleted: {total} rows")
    for name, count in sorted(deleted.rows.items()):
        print(f"  {name}: {count}")
    return 0


def add_parsers(sub: argparse._SubParsersAction, engine: OpenEngine) -> None:
    """The account and tenant commands."""
    def bind(command: Callable[[argparse.Namespace, OpenEngine], int]) -> Callable:
        return functools.partial(command, engine=engine)

    account = sub.add_parser("account", help="manage CalDAV logins",
                             description="Manage CalDAV logins.")
    account_sub = account.add_subparsers(dest="account_command", required=True)
    add = account_sub.add_parser("add", help="create a login (and its tenant if needed)",
                                 formatter_class=_PasswordRule,
                                 description="Create the tenant if needed and a CalDAV login "
                                             "for it. The password (at least {min} characters)"
                                             " is stored as an Argon2 hash.")
    add.add_argument("username")
    add.add_argument("--tenant", required=True, help="tenant name")
    add.add_argument("--email", help="the login's email address (its calendar-user address)")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input")
    add.set_defaults(func=bind(cmd_account_add))
    passwd = account_sub.add_parser("passwd", help="change a login's password",
                                    formatter_class=_PasswordRule,
                                    description="Change a login's password (at least {min} "
                                                "characters).")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of standard input")
    passwd.set_defaults(func=bind(cmd_account_passwd))

    listing = account_sub.add_parser("list", help="logins with their tenant, email, last login",
                                     description="List logins: login, tenant, email and when "
                                                 "a password check last succeeded.")
    listing.add_argument("--tenant", help="only this tenant's logins (name or id)")
    listing.add_argument("--json", action="store_true", help="JSON for scripts")
    listing.set_defaults(func=bind(cmd_account_list))

    delete = account_sub.add_parser("delete", help="remove a login (its tenant's data stays)",
                                    description="Remove a login. The tenant and its calendars "
                                                "stay; see `tenant delete`.")
    delete.add_argument("username")
    delete.set_defaults(func=bind(cmd_account_delete))

    email = account_sub.add_parser("email", help="set or clear a login's email address",
                                   description="Set the login's email address (its "
                                               "calendar-user address; one login per address) "
                                               "or clear it.")
    email.add_argument("username")
    email.add_argument("email", nargs="?")
    email.add_argument("--clear", action="store_true", help="remove the address")
    email.set_defaults(func=bind(cmd_account_email))

    tenant = sub.add_parser("tenant", help="list tenants, delete one with everything in it",
                            description="Tenants: what each holds; delete one.")
    tenant_sub = tenant.add_subparsers(dest="tenant_command", required=True)
    tlist = tenant_sub.add_parser("list", help="calendars, events, logins, keys per tenant",
                                  description="Every tenant with its calendars, events (live "
                                              "series), tasks, logins, API keys and webhooks.")
    tlist.add_argument("--json", action="store_true", help="JSON for scripts")
    tlist.set_defaults(func=bind(cmd_tenant_list))
    tdelete = tenant_sub.add_parser(
        "delete", help="delete a tenant and every row of it (--yes)",
        description="Delete the tenant and every row of it (calendars, events, logins, API "
                    "keys, webhooks, its change feed) in one transaction, and print how many "
                    "rows of each table went. Needs --yes.")
    tdelete.add_argument("tenant", help="tenant name or id")
    tdelete.add_argument("--yes", action="store_true", help="really delete")
    tdelete.set_defaults(func=bind(cmd_tenant_delete))
