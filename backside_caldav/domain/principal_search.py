"""Who a principal is, and whether it matches a principal search (RFC 3744
section 9.4 DAV:principal-property-search).

A principal is a login. Its display name is the login name (accounts carry
no other name); its calendar-user addresses are `mailto:` of its email and of
the login name when that is an address, then its principal URL, the
preferred address first as RFC 6638 2.4.1 has clients take the first.

Matching is caseless (str.casefold) and by default "contains", the example
RFC 3744 gives ("doE" finds "John Doe"); the `match-type` attribute Apple
and sabre/dav use (starts-with, ends-with, equals) narrows it. An address
also matches without its `mailto:` scheme, so "ann" typed into an attendee
field starts-with `mailto:ann@example.com`. Several property-search elements
must all match (RFC 3744), or any of them with `test="anyof"` (the attribute
Apple Calendar sends); a property that cannot be searched matches nothing,
so Apple's first-name and last-name searches beside an email search still
find by email.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"
CALSERVER = "{http://calendarserver.org/ns/}"

DISPLAYNAME = f"{DAV}displayname"
CALENDAR_USER_ADDRESS_SET = f"{CALDAV}calendar-user-address-set"
EMAIL_ADDRESS_SET = f"{CALSERVER}email-address-set"

# What can be searched, with the description RFC 3744 9.5 asks for (English).
SEARCHABLE: dict[str, str] = {
    DISPLAYNAME: "Name",
    CALENDAR_USER_ADDRESS_SET: "Calendar user address (mailto: email, or principal URL)",
    EMAIL_ADDRESS_SET: "Email address",
}
MATCH_TYPES = frozenset({"contains", "starts-with", "ends-with", "equals"})
TESTS = frozenset({"allof", "anyof"})
# At most this many principals answer one search; the rest is a 507 (see dav/).
MAX_MATCHES = 50


@dataclass(frozen=True)
class Principal:
    """A login as its tenant's colleagues see it."""

    username: str
    email: str | None
    default_calendar: str | None = None  # the tenant's calendar invitations land in (href)

    def emails(self) -> list[str]:
        """Its email addresses: the account's email, and the login name when it is one."""
        found = [self.email] if self.email else []
        if "@" in self.username.strip("@") and all(
                self.username.casefold() != e.casefold() for e in found):
            found.append(self.username)
        return found

    def addresses(self, principal_href: str) -> list[str]:
        """calendar-user-address-set: mailto: addresses first, then the principal URL."""
        return [f"mailto:{e}" for e in self.emails()] + [principal_href]


@dataclass(frozen=True)
class Criterion:
    """One DAV:property-search: any of `props` matches `text` by `match_type`."""

    props: tuple[str, ...]
    text: str
    match_type: str = "contains"


def _value_matches(value: str, text: str, match_type: str) -> bool:
    """text is casefolded already."""
    value = value.casefold()
    if match_type == "equals":
        return value == text
    if match_type == "starts-with":
        return value.startswith(text)
    if match_type == "ends-with":
        return value.endswith(text)
    return text in value


def searched_values(principal: Principal, prop: str, principal_href: str) -> list[str]:
    """The values of a searchable property ([] for one that cannot be searched)."""
    if prop == DISPLAYNAME:
        return [principal.username]
    if prop == EMAIL_ADDRESS_SET:
        return principal.emails()
    if prop == CALENDAR_USER_ADDRESS_SET:
        values = principal.addresses(principal_href)
        return values + [v.split(":", 1)[1] for v in values if v.startswith("mailto:")]
    return []


def _hit(principal: Principal, criterion: Criterion, principal_href: str) -> bool:
    text = criterion.text.casefold()
    for prop in criterion.props:
        for value in searched_values(principal, prop, principal_href):
            if _value_matches(value, text, criterion.match_type):
                return True
    return False


def matches(principal: Principal, criteria: Iterable[Criterion], test: str,
            principal_href: str) -> bool:
    """Whether the principal answers the search (see the module doc)."""
    anyof = test == "anyof"
    for criterion in criteria:
        if _hit(principal, criterion, principal_href) is anyof:
            return anyof
    return not anyof
