"""The sidecar: a small JSON API (search, availability, links, RSVP) over the same tables.

Served under /api/v1/ by `backside-caldav serve`, or alone by
`backside-caldav sidecar`. See app.py for the request flow and how the
modules import each other.
"""

from backside_caldav.api.app import SidecarApp, build_sidecar

__all__ = ["SidecarApp", "build_sidecar"]
