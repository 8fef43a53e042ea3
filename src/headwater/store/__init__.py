"""Storage: one contract (`base.Store`), written once in SQL (`sql.SQLStore`), two backends."""

from __future__ import annotations

from headwater.config import Settings
from headwater.store.base import Store


def open_store(settings: Settings) -> Store:
    """The store the settings select: the embedded SQLite file unless a PostgreSQL URL is given."""
    backend, location = settings.store
    if backend == "postgres":
        from headwater.store.postgres.store import PostgresStore

        return PostgresStore(
            location,
            min_size=settings.pg_pool_min_size,
            max_size=settings.pg_pool_max_size,
            timeout=settings.pg_pool_timeout,
        )
    from headwater.store.sqlite.store import SQLiteStore

    return SQLiteStore(location, synchronous=settings.sqlite_synchronous)
