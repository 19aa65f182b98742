"""Radicale storage plugin: `[storage] type = storage_plugin`.

Radicale imports `storage_plugin.Storage` by this module name; the adapter
itself lives in backside_caldav.dav.storage.
"""

from backside_caldav.dav.storage import Storage

__all__ = ["Storage"]
