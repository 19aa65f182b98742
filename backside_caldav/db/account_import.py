"""SQL of `import-htpasswd`: logins moved from Radicale with their hashes.

The hashes are stored as they are (domain/legacy_hashes.py names the schemes
allowed) and replaced by Argon2 at each login's first sign-in
(db/accounts.record_login). A login name is one login on the whole server:
one that exists in another tenant is never taken over.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from backside_caldav.db.accounts import ensure_tenant
from backside_caldav.db.engines import statement as _q
from backside_caldav.domain.htpasswd import Entry, Refusal


@dataclass
class ImportResult:
    tenant_id: str | None = None  # None when nothing was to be imported
    imported: list[Entry] = field(default_factory=list)
    replaced: list[Entry] = field(default_factory=list)
    skipped: list[Entry] = field(default_factory=list)  # the login exists in this tenant
    refused: list[Refusal] = field(default_factory=list)


def import_logins(engine: Engine, tenant: str, entries: list[Entry],
                  replace: bool = False) -> ImportResult:
    """Store the entries' logins in the tenant (created if needed), in one
    transaction; an existing login of the tenant keeps its password unless
    `replace`, and one of another tenant is refused."""
    result = ImportResult()
    if not entries:
        return result
    with engine.begin() as conn:
        tenant_id = ensure_tenant(conn, tenant)
        result.tenant_id = tenant_id
        owners = dict(conn.execute(_q(
            "SELECT username, tenant_id::text FROM accounts WHERE username = ANY(:u)"),
            {"u": [entry.username for entry in entries]}).all())
        for entry in entries:
            owner = owners.get(entry.username)
            if owner is None:
                added = conn.execute(_q(
                    "INSERT INTO accounts (tenant_id, username, password_hash) "
                    "VALUES (:t, :u, :h) ON CONFLICT (username) DO NOTHING RETURNING 1"),
                    {"t": tenant_id, "u": entry.username, "h": entry.password_hash}).first()
                if added:
                    result.imported.append(entry)
                else:  # created by someone else since the SELECT above
                    result.refused.append(Refusal(entry.line, entry.username,
                                                  "the login was created meanwhile"))
            elif owner != tenant_id:
                result.refused.append(Refusal(entry.line, entry.username,
                                              "the login belongs to another tenant"))
            elif replace:
                conn.execute(_q(
                    "UPDATE accounts SET password_hash = :h, updated_at = now() "
                    "WHERE tenant_id = :t AND username = :u"),
                    {"t": tenant_id, "u": entry.username, "h": entry.password_hash})
                result.replaced.append(entry)
            else:
                result.skipped.append(entry)
    return result
