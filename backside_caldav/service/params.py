"""Query parameters as a service function takes them: a parsed query string
({name: [values]}, what the JSON API passes) or plain values ({"q": "x",
"limit": 5}, what an MCP tool passes). The messages are the API's own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backside_caldav.service import validate
from backside_caldav.service.problems import invalid

Params = Mapping[str, Any]


def only(params: Params, *allowed: str) -> None:
    """Refuse parameters the operation does not know, so a typo is not silently ignored."""
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        known = ", ".join(allowed) or "none"
        raise invalid(unknown[0], f"unknown query parameter (this endpoint takes: {known})")


def _text(value: Any) -> Any:
    # Numbers and booleans are given as their query-string text.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return value


def one(params: Params, name: str) -> Any:
    """A parameter given at most once (None: absent)."""
    value = params.get(name)
    if isinstance(value, (list, tuple)):
        if len(value) > 1:
            raise invalid(name, "give this parameter only once")
        value = value[0] if value else None
    return _text(value)


def flag(params: Params, name: str) -> bool:
    """A true/false parameter (also 1/0); absent is false."""
    value = one(params, name)
    if value is None:
        return False
    if str(value).lower() not in ("true", "false", "1", "0"):
        raise invalid(name, "must be true or false")
    return str(value).lower() in ("true", "1")


def many(params: Params, name: str) -> list[Any]:
    """Every value of a repeatable parameter."""
    value = params.get(name)
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [_text(v) for v in value]
    return [_text(value)]


def limit(params: Params, default: int, maximum: int) -> int:
    """The page size: `limit` from 1 to maximum, default when it is not given."""
    text = one(params, "limit")
    if text is None:
        return default
    if not isinstance(text, str):
        raise invalid("limit", f"must be a whole number from 1 to {maximum}")
    return validate.integer("limit", text, 1, maximum)
