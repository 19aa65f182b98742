"""Bearer API keys on a request (the check itself is shared with the MCP tools:
service/auth.py)."""

from __future__ import annotations

from backside_caldav.service.auth import authenticate

__all__ = ["authenticate"]
