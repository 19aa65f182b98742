"""What the API key's restrictions add to the OpenAPI document, on every operation.

Applied once to the assembled paths and schemas (openapi.py ends with it), so
the event paths and the sidecar's get it alike:
- every GET answered with a JSON object may carry `accessInfo` (api/app.py
  adds it to each such answer under a restricted key);
- every operation behind a key may answer 429 with Retry-After (the key's
  rate limit, service/access.py).
"""

from __future__ import annotations

from typing import Any

ACCESS_INFO = {
    "type": "string",
    "description": "Present when the API key has restrictions: one sentence naming each "
                   "(its time window, its calendars, read-only access). Absent otherwise.",
}
TOO_MANY = {
    "description": "The API key's rate limit is used up (counted across all workers).",
    "headers": {"Retry-After": {"description": "Seconds until the window frees.",
                                "schema": {"type": "string", "pattern": "^[0-9]+$"}}},
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def _object_schema(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any] | None:
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        schema = schemas[ref.rsplit("/", 1)[1]]
    types = schema.get("type")
    is_object = types == "object" or (isinstance(types, list) and "object" in types)
    return schema if is_object and "properties" in schema else None


def apply(paths: dict[str, Any], schemas: dict[str, Any]) -> None:
    for operations in paths.values():
        for method, operation in operations.items():
            if operation.get("security") == []:
                continue  # served without a key
            responses = operation["responses"]
            responses.setdefault("429", TOO_MANY)
            if method != "get":
                continue
            for status, response in responses.items():
                if not status.startswith("2"):
                    continue
                content = response.get("content", {}).get("application/json")
                target = _object_schema(content["schema"], schemas) if content else None
                if target is not None:
                    target["properties"].setdefault("accessInfo", ACCESS_INFO)
