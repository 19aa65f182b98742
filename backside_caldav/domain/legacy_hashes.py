"""Password hashes from Radicale's htpasswd file, kept until their login's
first successful sign-in (then replaced by our Argon2 hash: domain/passwords.py).

The schemes are the ones Radicale 3.9's htpasswd "autodetect" recognises
(radicale/auth/htpasswd.py): APR1-MD5, bcrypt, Argon2, SHA-256-crypt and
SHA-512-crypt. Radicale treats anything else as a plain-text password; we
refuse it instead (a password must not be stored readable), and likewise
MD5-crypt ($1$) and {SHA}, which no Radicale setting checks as hashes.

No SQL or I/O: the caller hands in the stored string.
"""

from __future__ import annotations

import re
from typing import Any

from argon2 import extract_parameters
from argon2.exceptions import InvalidHashError

ARGON2 = "argon2"
BCRYPT = "bcrypt"
SHA512 = "sha512-crypt"
SHA256 = "sha256-crypt"
APR1 = "apr1-md5"

_SALT = r"[./A-Za-z0-9]"
# Whole-string shapes; Radicale matches the same prefixes. Salts may be shorter
# than the usual 16 (8 for APR1): `openssl passwd -salt` and Radicale's fixed
# "sha512"/"md5" settings accept them.
_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (ARGON2, re.compile(r"^\$argon2(id|i|d)\$\S+$")),
    (BCRYPT, re.compile(r"^\$2[abxy]\$[0-9]{2}\$[./A-Za-z0-9]{53}$")),
    (SHA512, re.compile(rf"^\$6\$(rounds=[0-9]+\$)?{_SALT}{{0,16}}\${_SALT}{{86}}$")),
    (SHA256, re.compile(rf"^\$5\$(rounds=[0-9]+\$)?{_SALT}{{0,16}}\${_SALT}{{43}}$")),
    (APR1, re.compile(rf"^\$apr1\${_SALT}{{0,8}}\${_SALT}{{22}}$")),
)
PASSLIB_SCHEMES = frozenset({SHA512, SHA256, APR1})


def _passlib(scheme: str) -> Any:
    """passlib's handler, imported on first use: only logins imported from an
    htpasswd file need it, until their first sign-in (a worker saves 4 MiB)."""
    from passlib.hash import apr_md5_crypt, sha256_crypt, sha512_crypt
    return {SHA512: sha512_crypt, SHA256: sha256_crypt, APR1: apr_md5_crypt}[scheme]

# bcrypt reads only this many bytes of a password; Radicale cuts longer ones
# there (bcrypt 5 raises instead), so we do too.
BCRYPT_MAX_BYTES = 72


def scheme_of(stored: str) -> str | None:
    """The scheme of a stored hash, None when it is none we check."""
    for scheme, shape in _SHAPES:
        if shape.match(stored):
            return scheme
    return None


def refusal(stored: str) -> str | None:
    """Why this htpasswd hash cannot be imported (a sentence without the hash),
    None when it can."""
    scheme = scheme_of(stored)
    if scheme == ARGON2:
        try:
            extract_parameters(stored)
        except InvalidHashError:
            return "a malformed Argon2 hash"
        return None
    if scheme in PASSLIB_SCHEMES:
        try:
            _passlib(scheme).from_string(stored)
        except ValueError as exc:
            return f"a malformed {scheme} hash ({exc})"
        return None
    if scheme is not None:
        return None
    if stored.startswith("$1$"):
        return "an MD5-crypt ($1$) hash, which Radicale does not check (only $apr1$)"
    if stored.startswith("{SHA}"):
        return "a {SHA} hash, which Radicale does not check"
    if stored.startswith("$"):
        return "not a hash of a scheme Radicale checks, or a malformed one"
    return "a plain-text password (Radicale's fallback), which is never stored"


def verify(stored: str, password: str) -> bool:
    """Check a password against a bcrypt, SHA-crypt or APR1 hash (Argon2 is
    passwords.py's); False for anything else."""
    scheme = scheme_of(stored)
    try:
        if scheme == BCRYPT:
            import bcrypt
            return bcrypt.checkpw(password.encode()[:BCRYPT_MAX_BYTES], stored.encode())
        if scheme in PASSLIB_SCHEMES:
            return bool(_passlib(scheme).verify(password, stored))
    except ValueError:  # a hash these libraries cannot read after all
        return False
    return False
