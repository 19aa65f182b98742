"""Whether an address can be one SMTP recipient (RFC 5321 4.1.2, RFC 6531).

A calendar user address comes from whoever wrote the object: a comma, a
space, angle brackets or a line break in it would make the relay read a
second recipient or the mail a second header. Only a plain ASCII dot-atom
local part and a host name pass; quoted local parts, address literals and
non-ASCII local parts (which need a relay with SMTPUTF8, RFC 6531), do
not. A non-ASCII domain is given in its IDNA (punycode) form, which every
relay takes.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]"
_LOCAL = re.compile(rf"{_ATEXT}+(\.{_ATEXT}+)*")
_LABEL = re.compile(r"[A-Za-z0-9\u0080-\U0010ffff]([A-Za-z0-9\-\u0080-\U0010ffff]*"
                    r"[A-Za-z0-9\u0080-\U0010ffff])?")
_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029]")


def mailbox(address: str) -> str | None:
    """The bare address to mail (without mailto:, percent-decoded, the domain
    in ASCII), or None when it is not exactly one deliverable mailbox."""
    value = address.strip()
    if value[:7].lower() == "mailto:":
        value = unquote(value[7:])
    if len(value) > 254 or _CONTROL.search(value) or value.count("@") != 1:
        return None
    local, domain = value.split("@")
    if len(local.encode("utf-8")) > 64 or not _LOCAL.fullmatch(local):
        return None
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return None
    try:
        ascii_domain = domain.encode("idna").decode("ascii") if not domain.isascii() \
            else domain
    except UnicodeError:
        return None
    if any(len(label) > 63 for label in ascii_domain.split(".")) or len(
            local) + 1 + len(ascii_domain) > 254:
        return None
    return f"{local}@{ascii_domain}"
