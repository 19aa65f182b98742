"""`backside-caldav import-htpasswd --tenant T FILE`: Radicale's logins moved
with their passwords.

The file's hashes (bcrypt, SHA-512/SHA-256-crypt, APR1-MD5, Argon2: what
Radicale checks) are stored as they are and replaced by our Argon2 hash at
each login's first sign-in, so nobody has to reset a password. Plain-text
passwords are refused, never stored. A composer like cli_keys.py: it reads
the file, calls domain/htpasswd.py and db/account_import.py, and prints one
line per login and a summary, never a hash. Database modules are imported
inside the command (the gunicorn master builds this parser).
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from backside_caldav.domain.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

OpenEngine = Callable[[], "Engine"]


def _read(path: str) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None


def cmd_import(args: argparse.Namespace, engine: OpenEngine) -> int:
    from backside_caldav.db import account_import
    from backside_caldav.domain import htpasswd

    if not args.tenant.strip():
        raise ConfigError("tenant name must not be empty")
    entries, refusals = htpasswd.parse(_read(args.file))
    result = account_import.import_logins(engine(), args.tenant, entries, replace=args.replace)
    lines = [(entry.line, f"line {entry.line}: {entry.username}: imported")
             for entry in result.imported]
    lines += [(entry.line, f"line {entry.line}: {entry.username}: password replaced")
              for entry in result.replaced]
    lines += [(entry.line, f"line {entry.line}: {entry.username}: skipped: the login exists "
                           "in this tenant (--replace replaces its password)")
              for entry in result.skipped]
    refused = refusals + result.refused
    lines += [(refusal.line, str(refusal)) for refusal in refused]
    for _, text in sorted(lines):
        print(text)
    where = f"tenant {args.tenant}" + (f" ({result.tenant_id})" if result.tenant_id else "")
    print(f"{where}: {len(result.imported)} imported, {len(result.replaced)} replaced, "
          f"{len(result.skipped)} skipped, {len(refused)} refused")
    return 1 if refused else 0


def add_parsers(sub: argparse._SubParsersAction, engine: OpenEngine) -> None:
    """The import-htpasswd command; engine() gives the migrated database."""
    command = sub.add_parser(
        "import-htpasswd", help="import Radicale's htpasswd logins with their passwords",
        description="Create the tenant if needed and a CalDAV login for each user:hash line of "
                    "Radicale's htpasswd file (bcrypt, SHA-512/SHA-256 crypt, APR1-MD5, "
                    "Argon2). Users sign in with their old passwords; each hash is replaced by "
                    "an Argon2 hash at the first successful login. Plain-text passwords and "
                    "other schemes are refused (never stored). Prints one line per login and "
                    "a summary; exits 1 when a line was refused (the rest is imported).")
    command.add_argument("file", metavar="FILE", help="the htpasswd file")
    command.add_argument("--tenant", required=True, help="tenant name")
    command.add_argument("--replace", action="store_true",
                         help="replace the password of a login that exists in this tenant "
                              "(by default it is skipped)")
    command.set_defaults(func=functools.partial(cmd_import, engine=engine))
