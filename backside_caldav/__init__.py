"""backside-caldav: CalDAV over the tenant's own PostgreSQL calendar tables."""

__version__ = "0.1.0"
