"""A webhook's rules: its secret, which changes it takes, the retry policy, and
the signed message.

The signature is the Standard Webhooks scheme (the one Svix, OpenAI, Twilio
and others send): headers webhook-id, webhook-timestamp and
webhook-signature = "v1," + base64(HMAC-SHA256(secret, f"{id}.{timestamp}.{body}")),
so a receiver verifies with its library or a few lines of hmac. The id stays
the same across retries (receivers drop repeats by it); the timestamp is the
attempt's, so a receiver may refuse old replays.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from standardwebhooks import Webhook

from backside_caldav.domain.changes import KINDS, Change, present
from backside_caldav.domain.errors import BacksideError

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24
MIN_SECRET_BYTES = 16
USER_AGENT = "backside-caldav"


class WebhookError(BacksideError, ValueError):
    """A webhook setting refused (the message says why)."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def check_secret(text: str) -> str:
    """A secret given by the user: whsec_ and the base64 of at least 16 bytes."""
    text = text.strip()
    body = text.removeprefix(SECRET_PREFIX)
    try:
        raw = base64.b64decode(body, validate=True) if text.startswith(SECRET_PREFIX) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) < MIN_SECRET_BYTES:
        raise WebhookError(f"bad webhook secret: give whsec_ followed by the base64 of at "
                           f"least {MIN_SECRET_BYTES} random bytes (or leave out "
                           "--secret-stdin and one is made)")
    return text


def check_patterns(given: list[str] | None) -> list[str] | None:
    """--events values (repeated or comma-separated): each must match a change type."""
    if not given:
        return None
    patterns = [p.strip() for item in given for p in item.split(",") if p.strip()]
    for pattern in patterns:
        if not fnmatch.filter(KINDS, pattern):
            raise WebhookError(f"bad --events pattern {pattern!r}: it matches no change type "
                               f"({', '.join(KINDS)}; 'event.*' takes all event changes)")
    return list(dict.fromkeys(patterns)) or None


def wanted(patterns: list[str] | None, kind: str) -> bool:
    return patterns is None or any(fnmatch.fnmatchcase(kind, p) for p in patterns)


def seconds_setting(name: str, default: float) -> float:
    """A positive number of seconds from the environment, or WebhookError."""
    text = os.environ.get(name)
    try:
        value = float(text) if text else default
    except ValueError:
        raise WebhookError(f"{name} must be a number of seconds, got {text!r}") from None
    if not value > 0:
        raise WebhookError(f"{name} must be positive, got {text!r}")
    return value


def poll_seconds() -> float:
    """BACKSIDE_WEBHOOK_POLL: how often a deliverer looks for retries that came due."""
    return seconds_setting("BACKSIDE_WEBHOOK_POLL", 1.0)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff from `base` seconds, doubling up to `cap`, for `give_up_after`
    seconds after a change's first failure; then it is given up and the next one goes."""
    base: float = 1.0
    cap: float = 600.0
    give_up_after: float = 86400.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """BACKSIDE_WEBHOOK_RETRY_BASE, _RETRY_CAP, _RETRY_FOR (seconds); the tests
        shorten them."""
        return cls(seconds_setting("BACKSIDE_WEBHOOK_RETRY_BASE", cls.base),
                   seconds_setting("BACKSIDE_WEBHOOK_RETRY_CAP", cls.cap),
                   seconds_setting("BACKSIDE_WEBHOOK_RETRY_FOR", cls.give_up_after))

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the attempt-th failed try of one change (1-based)."""
        return min(self.cap, self.base * 2 ** min(max(attempt - 1, 0), 40))

    def gives_up(self, failing_since: datetime | None, now: datetime) -> bool:
        return (failing_since is not None
                and now - failing_since >= timedelta(seconds=self.give_up_after))


def message_id(webhook_id: str, seq: int) -> str:
    """webhook-id: the same for every try of one change to one webhook."""
    return f"{webhook_id}:{seq}"


def body(change: Change) -> str:
    """The POST body: the change as GET /api/v1/changes shows it (the webhook belongs
    to the tenant: no key limits)."""
    return json.dumps(present(change), ensure_ascii=False, separators=(",", ":"))


def headers(secret: str, msg_id: str, payload: str, now: datetime) -> dict[str, str]:
    """The request headers of one try, signed at `now`."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, payload),
    }
