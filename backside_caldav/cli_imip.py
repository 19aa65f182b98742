"""`backside-caldav imip send | queue | receive`: the iMIP side of scheduling
(scheduling/mail_sender.py, scheduling/imip_message.py).

`receive` is for an MTA pipe (Postfix `| backside-caldav imip receive`):
one RFC 5322 message on stdin; a REPLY from an outside attendee is applied
to the organizer's event when the mail's sender is that attendee. Exit 0
when applied, 65 (EX_DATAERR) with one sentence on stderr for a message
that is not such a reply: the MTA then bounces or logs it. Like the other
cli_*.py modules, everything heavy is imported inside the commands.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

OpenEngine = Callable[[], "Engine"]
DatabaseUrl = Callable[[], str]
EX_DATAERR = 65


def _settings(args: argparse.Namespace):  # noqa: ANN202 - SmtpSettings, imported lazily
    from backside_caldav.scheduling import smtp_settings

    shipped = Path(__file__).resolve().parents[1] / "config" / "radicale.conf"
    return smtp_settings.load(os.environ, Path(args.config) if args.config else shipped)


def cmd_send(args: argparse.Namespace, engine: OpenEngine, url: DatabaseUrl) -> int:
    from backside_caldav.db import engines
    from backside_caldav.scheduling import mail_sender

    settings = _settings(args)
    owner = engine()
    sent = mail_sender.send_due(engines.get_app_engine(url()), owner, settings)
    print(f"sent {sent} message(s)" + ("" if settings else
                                        "; BACKSIDE_SMTP_URL is not set: mail stays queued"))
    return 0


def cmd_queue(args: argparse.Namespace, engine: OpenEngine, url: DatabaseUrl) -> int:
    from backside_caldav.db import itip_queue
    from backside_caldav.db.keys import find_tenant

    owner = engine()
    tenant = None
    if args.tenant:
        with owner.connect() as conn:
            tenant = find_tenant(conn, args.tenant)[0]
    for row in itip_queue.listing(owner, tenant, args.limit):
        last = f", last: {row.last_error}" if row.last_error else ""
        state = (f"sent {row.sent_at.isoformat(timespec='seconds')}" if row.sent_at
                 else f"given up{last}" if row.attempts >= itip_queue.GIVE_UP_ATTEMPTS
                 else f"queued, {row.attempts} tries{last}")
        print(f"{row.id} {row.transport} {row.method} to {row.recipient} "
              f"from {row.originator}: {state}")
    return 0


def cmd_receive(args: argparse.Namespace, engine: OpenEngine, url: DatabaseUrl) -> int:
    from backside_caldav.db import engines
    from backside_caldav.scheduling import delivery, imip_message

    raw = sys.stdin.buffer.read(imip_message.MAX_INBOUND + 1)
    try:
        sender, text = imip_message.inbound(raw)
        engine()  # migrated
        outcome = delivery.receive_reply(engines.get_app_engine(url()), text, sender)
    except (imip_message.NotImip, delivery.Refused) as exc:
        print(f"backside-caldav: not applied: {exc}", file=sys.stderr)
        return EX_DATAERR
    print(outcome)
    return 0


def add_parsers(sub: argparse._SubParsersAction, engine: OpenEngine, url: DatabaseUrl) -> None:
    imip = sub.add_parser("imip", help="scheduling mail (iMIP): send, list, receive",
                          description="Invitations, cancellations and replies for people "
                                      "without a login here go out as mail through "
                                      "BACKSIDE_SMTP_URL (see README: Scheduling).")
    imip_sub = imip.add_subparsers(dest="imip_command", required=True)
    for name, func, text in (
            ("send", cmd_send, "send the queued messages that are due now"),
            ("queue", cmd_queue, "list queued (and recently sent) messages"),
            ("receive", cmd_receive, "apply a REPLY mail read on stdin (an MTA pipe)")):
        command = imip_sub.add_parser(name, help=text, description=text[0].upper() + text[1:]
                                      + ".")
        command.add_argument("--config", help="config file with [storage] smtp_url etc.")
        if name == "queue":
            command.add_argument("--tenant", help="only this tenant's (name or id)")
            command.add_argument("--limit", type=int, default=200)
        command.set_defaults(func=functools.partial(func, engine=engine, url=url))
