"""Storage: one contract (`base.Store`), one implementation per backend."""

from __future__ import annotations

from headwater.config import Settings
from headwater.store.base import Store


def open_store(settings: Settings) -> Store:
    """The store the settings select (the embedded SQLite file unless a URL says otherwise)."""
    from headwater.store.sqlite.store import SQLiteStore

    return SQLiteStore(settings.sqlite_path, synchronous=settings.sqlite_synchronous)
