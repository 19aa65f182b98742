"""Reading Radicale's htpasswd file for `import-htpasswd`: one `login:hash`
a line, blank lines and `#` comments skipped (as Radicale reads it).

Each line becomes an Entry to import or a Refusal with its line number and a
reason. Neither a refusal nor anything printed from here repeats a hash or a
line that may hold a password.
"""

from __future__ import annotations

from dataclasses import dataclass

from backside_caldav.domain import legacy_hashes
from backside_caldav.domain.passwords import AccountError, check_username


@dataclass(frozen=True)
class Entry:
    line: int
    username: str
    password_hash: str


@dataclass(frozen=True)
class Refusal:
    line: int
    username: str | None  # None when the line has no login to name safely
    reason: str

    def __str__(self) -> str:
        who = f"{self.username}: " if self.username else ""
        return f"line {self.line}: {who}refused: {self.reason}"


def parse(text: str) -> tuple[list[Entry], list[Refusal]]:
    """The file's logins to import and its lines refused, in file order."""
    entries: list[Entry] = []
    refusals: list[Refusal] = []
    first_line: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        username, colon, stored = line.partition(":")
        stored = stored.strip()
        if not colon or not username:
            refusals.append(Refusal(number, None, "not a login:hash line"))
            continue
        try:
            check_username(username)
        except AccountError:
            refusals.append(Refusal(number, None, "the login is not a valid user name here "
                                                  "(letters, digits and . _ @ + -, at most 128)"))
            continue
        if username in first_line:
            refusals.append(Refusal(number, username,
                                    f"the login is already on line {first_line[username]}"))
            continue
        first_line[username] = number
        if not stored:
            refusals.append(Refusal(number, username, "no hash after the ':'"))
            continue
        reason = legacy_hashes.refusal(stored)
        if reason is not None:
            refusals.append(Refusal(number, username, reason))
            continue
        entries.append(Entry(number, username, stored))
    return entries, refusals
