"""Basic credentials (RFC 7617), read the same way by every layer that needs them."""

from __future__ import annotations

import base64
import binascii
import unicodedata


class MalformedCredentials(ValueError):
    """A Basic header that cannot be read; the message says why."""


def parse(header: str | None) -> tuple[str, str] | None:
    """(user, password) of a Basic Authorization header, None when the header is
    absent or names another scheme; MalformedCredentials when it is Basic but unreadable."""
    if header is None:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        text = base64.b64decode(credentials.strip().encode("ascii"), validate=True).decode("utf-8")
    except (UnicodeError, binascii.Error, ValueError):
        raise MalformedCredentials("the Authorization header is not Basic "
                                   "base64(user:password) in UTF-8") from None
    user, colon, password = text.partition(":")
    if not colon:
        raise MalformedCredentials("the Basic credentials have no ':' between user and password")
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise MalformedCredentials("the Basic credentials contain a control character")
    return user, password
