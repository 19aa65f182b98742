"""A real SMTP server on 127.0.0.1 for the iMIP tests (aiosmtpd), recording
what it accepts; stopped by the test that started it."""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from conftest import free_port


@dataclass
class Received:
    envelope_from: str
    recipients: list[str]
    message: EmailMessage
    raw: bytes = b""


def calendar_text(message: EmailMessage) -> str:
    """The text/calendar part, decoded (the sender may base64 it)."""
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            content = part.get_content()
            return content.decode() if isinstance(content, bytes) else content
    return ""


@dataclass
class Recorder:
    received: list[Received] = field(default_factory=list)
    refuse_rcpt: str | None = None  # e.g. "550 5.1.1 no such user": every RCPT refused

    async def handle_RCPT(self, server, session, envelope, address,  # noqa: ANN001, N802
                          rcpt_options) -> str:  # noqa: ANN001
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message,
                                      envelope.content))
        return "250 OK"

    def with_uid(self, uid: str) -> list[Received]:
        return [r for r in self.received if f"UID:{uid}\r" in calendar_text(r.message)]

    def wait_for(self, uid: str, count: int, timeout: float = 20.0) -> list[Received]:
        """The mails of this UID once there are `count` of them (or the time is up)."""
        deadline = time.monotonic() + timeout
        while len(self.with_uid(uid)) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.with_uid(uid)


@contextmanager
def relay(port: int | None = None, smtputf8: bool = True) -> Iterator[tuple[Recorder, int]]:
    """smtputf8=False: a relay that does not offer SMTPUTF8 (RFC 6531)."""
    recorder = Recorder()
    port = port or free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port,
                            enable_SMTPUTF8=smtputf8)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()
