"""Services over the tenant's rows that the JSON API and the MCP tools share:
validation, errors as problem documents, and the event operations. No HTTP here."""
