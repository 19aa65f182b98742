"""The sender: queued iTIP messages out, after their writer's commit and
again until they go.

'mail' rows go to the SMTP relay as iMIP (scheduling/imip_message.py),
'server' rows that could not be delivered at commit time to
scheduling/delivery.py. A daemon thread in each worker process wakes when a
commit queued something (wake()) and every POLL seconds for retries.

Each row is claimed in its own tenant's transaction (FOR UPDATE SKIP
LOCKED: two workers never hold one row), sent with that transaction open,
and marked sent in it. A relay that is down or refuses: the row stays, its
next try after 30 s, doubling to an hour, for about three days. A crash
between the relay's "250 OK" and the commit sends that one message once
more; nothing is lost.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
import threading
from email.message import EmailMessage

from sqlalchemy.engine import Engine

from backside_caldav.db import engines, itip_queue, tenancy
from backside_caldav.scheduling import delivery, imip_message
from backside_caldav.scheduling.smtp_settings import SmtpSettings

log = logging.getLogger(__name__)

POLL = 5.0  # seconds between looks for retries that came due
TIMEOUT = 20.0  # seconds for one conversation with the relay
MAX_RETRY = 3600.0

_wake = threading.Event()


def wake() -> None:
    """Look at the queue now (cheap, from any thread)."""
    _wake.set()


def after_commit(engine: Engine, tenant: str, ids: list[str]) -> None:
    """What a commit that queued messages runs (scheduling/implicit.on_commit):
    logins of this server get theirs before the writer's request returns;
    mail is the sender thread's."""
    for message_id in ids:
        delivery.deliver(engine, tenant, message_id)
    wake()


def send_due(engine: Engine, owner: Engine, settings: SmtpSettings | None,
             limit: int = 100) -> int:
    """Send what is due now; returns how many went. Without settings, mail waits."""
    sent = 0
    for tenant, message_id, transport in itip_queue.due(owner, limit):
        if transport == "server":
            sent += delivery.deliver(engine, tenant, message_id)
        elif settings is not None:
            sent += send_one(engine, settings, tenant, message_id)
    return sent


def send_one(engine: Engine, settings: SmtpSettings, tenant: str, message_id: str) -> bool:
    with tenancy.transaction(engine, tenant) as conn:
        queued = itip_queue.claim(conn, tenant, message_id)
        if queued is None or queued.transport != "mail":
            return False
        try:
            message = imip_message.build(queued, settings.envelope_from)
        except ValueError as exc:  # a text that no longer parses: it never will
            itip_queue.give_up(conn, tenant, message_id, f"cannot be mailed: {exc}")
            return False
        envelope = settings.envelope_from or message["From"].addresses[0].addr_spec
        try:
            _send(settings, message, envelope, message["To"].addresses[0].addr_spec)
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            if _permanent(exc):  # 5xx for this recipient or this message: never
                itip_queue.give_up(conn, tenant, message_id, _reason(exc))
                log.warning("iMIP to %s refused for good: %s", queued.recipient, _reason(exc))
                return False
            delay = min(settings.retry_seconds * 2 ** queued.attempts, MAX_RETRY)
            itip_queue.mark_failed(conn, tenant, message_id, _reason(exc), delay)
            log.warning("iMIP to %s not sent (try %d, next in %.0f s): %s", queued.recipient,
                        queued.attempts + 1, delay, _reason(exc))
            return False
        itip_queue.mark_sent(conn, tenant, message_id)
        return True


def _permanent(exc: BaseException) -> bool:
    """A 5xx refusal of the recipient or of the message (RFC 5321 4.2.1): the
    same mail would be refused again. A refused sender or login (a setting
    to fix) and 4xx answers stay queued."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPDataError) and exc.smtp_code >= 500


def _reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(
            exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"relay answered {exc.smtp_code}: {text}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return f"relay refused the recipient: {exc.recipients}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _send(settings: SmtpSettings, message: EmailMessage, envelope_from: str,
          recipient: str) -> None:
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=TIMEOUT, context=context)
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=TIMEOUT)
    with smtp:
        smtp.ehlo(socket.getfqdn())
        if settings.scheme == "smtp" and smtp.has_extn("starttls"):
            smtp.starttls(context=context)
            smtp.ehlo(socket.getfqdn())
        if settings.username:
            smtp.login(settings.username, settings.password or "")
        # Bytes as built (7-bit headers, encoded words): send_message would
        # flatten again, with raw UTF-8 headers on a relay offering SMTPUTF8.
        smtp.sendmail(envelope_from, [recipient], message.as_bytes())


class Sender:
    """The sender thread of one worker process."""

    def __init__(self, database_url: str, settings: SmtpSettings | None,
                 poll: float = POLL) -> None:
        self.engine = engines.get_app_engine(database_url)
        self.owner = engines.get_engine(database_url)
        self.settings = settings
        self.poll = poll
        self._thread = threading.Thread(target=self._run, name="backside-imip", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while True:
            _wake.wait(self.poll)
            _wake.clear()
            try:
                while send_due(self.engine, self.owner, self.settings) >= 100:
                    pass  # a full batch went: look again at once
            except Exception:  # noqa: BLE001 - the next pass retries
                log.warning("the scheduling sender's pass failed", exc_info=True)
