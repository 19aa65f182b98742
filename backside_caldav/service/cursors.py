"""Opaque page cursors: base64url text without padding, with a length cap.

Search and the reverse link lookup put different things in their cursors
(a JSON object; a start time and an id) and word their refusals
differently, so each endpoint keeps its own content and message; the
wrapping, which clients must treat as opaque, lives here once.
"""

from __future__ import annotations

import base64


def pack(text: str) -> str:
    """The cursor a client gets for text (URL-safe, no '=' padding)."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def unpack(cursor: str, max_length: int) -> bytes:
    """The bytes inside a cursor; ValueError (binascii.Error is one) when it is not one."""
    if len(cursor) > max_length:
        raise ValueError("cursor too long")
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
