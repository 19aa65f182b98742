"""Bearer API keys on a request: 401 without a known, unexpired key. The rule
lives in service/auth.py, shared with the MCP tools."""

from __future__ import annotations

from backside_caldav.service.auth import authenticate, authenticate_key

__all__ = ["authenticate", "authenticate_key"]
