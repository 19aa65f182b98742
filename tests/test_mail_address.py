"""Which calendar user addresses the server will mail (domain/mail_address.py):
exactly one mailbox, nothing a relay or a mail header could read as more."""

from __future__ import annotations

import pytest

from backside_caldav.domain.mail_address import mailbox
from backside_caldav.domain.passwords import AccountError, check_email


@pytest.mark.parametrize(("address", "bare"), [
    ("mailto:ann@example.com", "ann@example.com"),
    ("MAILTO:Ann.Lee+work@Example.COM", "Ann.Lee+work@Example.COM"),
    ("mailto:ann%40example.com", "ann@example.com"),  # percent-encoded, as some clients write
    ("ann@example.com", "ann@example.com"),
    ("  mailto:o'brien@sub.example.org ", "o'brien@sub.example.org"),
    ("mailto:joerg@bücher.example", "joerg@xn--bcher-kva.example"),  # IDNA, as relays take it
])
def test_one_mailbox_is_mailed(address: str, bare: str) -> None:
    assert mailbox(address) == bare


@pytest.mark.parametrize("address", [
    "mailto:a@example.com,b@example.org",  # two recipients
    "mailto:a@example.com;b@example.org",
    "mailto:a@example.com%0D%0ABcc:%20victim@example.org",  # a header of its own
    "mailto:a@example.com%0Abcc@example.org",
    "mailto:Ann <ann@example.com>",
    "mailto:ann @example.com",
    "mailto:ann@exa mple.com",
    "mailto:\"a b\"@example.com",  # quoted local parts: no client writes them
    "mailto:ann@[127.0.0.1]",  # address literals
    "mailto:ann@localhost",  # no domain
    "mailto:ann@-example.com",
    "mailto:ann@example..com",
    "mailto:.ann@example.com",
    "mailto:ann..lee@example.com",
    "mailto:ann@example.com?cc=b@example.org",
    "mailto:ann@example.com?subject=hi",
    "mailto:@example.com",
    "mailto:ann@",
    "mailto:",
    "/ann/",
    "http://host/ann/",
    "mailto:" + "a" * 65 + "@example.com",
    "mailto:ann@" + "a" * 64 + ".com",
    "mailto:ann@" + ".".join(["abcdefghi"] * 30) + ".com",
    "mailto:ann\x00@example.com",
    "mailto:ann%00@example.com",
    "mailto:jörg@example.com",  # a UTF-8 local part needs SMTPUTF8 (RFC 6531)
    "mailto:ann@ex\u2028ample.com",
])
def test_anything_else_is_not(address: str) -> None:
    assert mailbox(address) is None


def test_a_login_email_must_be_one_mailbox() -> None:
    assert check_email(" ann@example.com ") == "ann@example.com"
    for bad in ("a,b@example.com", "ann@example.com>", "ann@localhost", "mailto:ann@example.com"):
        with pytest.raises(AccountError):
            check_email(bad)
