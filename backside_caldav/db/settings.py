"""Where the database is: an explicit URL, or the embedded PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from backside_caldav.domain.errors import ConfigError

ENV_DATABASE_URL = "BACKSIDE_DATABASE_URL"
ENV_DATA_DIR = "BACKSIDE_DATA_DIR"


def default_data_dir() -> Path:
    """Per-user data folder (XDG), so the embedded database survives restarts."""
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "backside-caldav"


def validate_database_url(url: str) -> str:
    """Refuse a URL that is not PostgreSQL before anything tries to connect."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
        raise ConfigError(
            f"database URL must start with postgresql:// (got scheme {parts.scheme!r})"
        )
    return url


def sqlalchemy_url(url: str) -> str:
    """SQLAlchemy needs the driver named; plain libpq URLs are what users have."""
    validate_database_url(url)
    scheme, rest = url.split("://", 1)
    return "postgresql+psycopg://" + rest


def libpq_url(url: str) -> str:
    """The form other applications (psql, psycopg) accept."""
    validate_database_url(url)
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest


def configured_database_url() -> str | None:
    url = os.environ.get(ENV_DATABASE_URL, "").strip()
    return validate_database_url(url) if url else None
