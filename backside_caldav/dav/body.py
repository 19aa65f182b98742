"""Reading a request body with a bound, before anything parses it."""

from __future__ import annotations

import io

from backside_caldav.dav.refusal import Refusal

CHUNK = 64 * 1024


def read_body(environ: dict, limit: int) -> bytes | Refusal:
    """The whole body, never more than `limit` bytes read (0: no limit).

    With Content-Length the limit is checked before reading; without one
    (chunked transfer under a server that passes it through) reading stops
    one chunk past the limit. The body is put back so Radicale can read it.
    """
    raw_length = (environ.get("CONTENT_LENGTH") or "").strip()
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    stream = environ["wsgi.input"]
    if raw_length:
        if not (raw_length.isascii() and raw_length.isdigit()):
            return Refusal(400, f"Content-Length must be a number of bytes, not {raw_length[:20]!r}")
        length = int(raw_length)
        if limit and length > limit:
            return Refusal(413, f"the request body ({length} bytes) is over the {limit} byte limit")
        body = stream.read(length) if length else b""
        if len(body) < length:
            return Refusal(400, f"the body ended after {len(body)} of {length} bytes")
    elif chunked or environ.get("wsgi.input_terminated"):
        parts: list[bytes] = []
        size = 0
        while chunk := stream.read(CHUNK):
            parts.append(chunk)
            size += len(chunk)
            if limit and size > limit:
                return Refusal(413, f"the request body is over the {limit} byte limit")
        body = b"".join(parts)
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body
