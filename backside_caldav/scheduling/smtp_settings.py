"""Where iMIP mail goes: the SMTP relay, read once at start-up.

BACKSIDE_SMTP_URL is `smtp://host:port` (STARTTLS when the relay offers it)
or `smtps://host:port` (TLS from the first byte), with credentials as
`smtp://user:password@host:port` or the password in BACKSIDE_SMTP_PASSWORD;
BACKSIDE_SMTP_FROM is the envelope sender (default: the organizer's or
attendee's own address). The same options may stand in the config file's
[storage] section as smtp_url, smtp_password and smtp_from; the environment
wins. Unset: no mail is sent and messages wait in the queue.
"""

from __future__ import annotations

import configparser
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from backside_caldav.domain.errors import ConfigError

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
DEFAULT_RETRY_SECONDS = 30.0


class SmtpSettingsError(ConfigError):
    """A setting that cannot work; the sentence says which and why."""


@dataclass(frozen=True)
class SmtpSettings:
    scheme: str  # smtp or smtps
    host: str
    port: int
    username: str | None
    password: str | None
    envelope_from: str | None
    retry_seconds: float = DEFAULT_RETRY_SECONDS  # the first retry; it doubles, up to an hour

    def describe(self) -> str:
        """The relay without its password, for logs and `imip queue`."""
        who = f"{self.username}@" if self.username else ""
        return f"{self.scheme}://{who}{self.host}:{self.port}"


def _file_values(config_file: Path | None) -> dict[str, str]:
    if config_file is None or not config_file.is_file():
        return {}
    parser = configparser.RawConfigParser()
    parser.read(config_file)
    if not parser.has_section("storage"):
        return {}
    return {k: v for k, v in parser.items("storage") if k.startswith("smtp_")}


def load(env: Mapping[str, str], config_file: Path | None = None) -> SmtpSettings | None:
    """The relay settings, or None when no relay is set."""
    file_values = _file_values(config_file)

    def value(name: str) -> str | None:
        found = env.get(f"BACKSIDE_{name.upper()}") or file_values.get(name)
        return found.strip() if found and found.strip() else None

    url = value("smtp_url")
    if url is None:
        return None
    return parse(url, value("smtp_password"), value("smtp_from"),
                 env.get("BACKSIDE_SMTP_RETRY_SECONDS"))


def parse(url: str, password: str | None = None, envelope_from: str | None = None,
          retry: str | None = None) -> SmtpSettings:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise SmtpSettingsError(f"BACKSIDE_SMTP_URL must start with smtp:// or smtps://, "
                                f"not {parts.scheme or 'nothing'}://")
    if not parts.hostname:
        raise SmtpSettingsError("BACKSIDE_SMTP_URL names no host (smtp://host:port)")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        raise SmtpSettingsError("BACKSIDE_SMTP_URL has a port that is not a number "
                                "from 1 to 65535") from None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise SmtpSettingsError("BACKSIDE_SMTP_URL is scheme://[user[:password]@]host[:port] "
                                "and nothing more")
    if envelope_from is not None and ("@" not in envelope_from
                                      or any(c in envelope_from for c in "\r\n <>")):
        raise SmtpSettingsError(f"BACKSIDE_SMTP_FROM must be one address, not {envelope_from!r}")
    try:
        retry_seconds = float(retry) if retry else DEFAULT_RETRY_SECONDS
    except ValueError:
        raise SmtpSettingsError("BACKSIDE_SMTP_RETRY_SECONDS must be a number") from None
    if not 0 < retry_seconds <= 3600:
        raise SmtpSettingsError("BACKSIDE_SMTP_RETRY_SECONDS must be above 0 and at most 3600")
    username = unquote(parts.username) if parts.username else None
    secret = unquote(parts.password) if parts.password else password
    return SmtpSettings(scheme, parts.hostname, port, username, secret, envelope_from,
                        retry_seconds)
