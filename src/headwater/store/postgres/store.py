"""The PostgreSQL store: psycopg 3, a connection pool, set-based inserts.

Many server processes (and hosts) share one database: the dedup key is a unique index, so
the same batch written concurrently by two processes is stored once.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from headwater.errors import StoreDataError, StoreError, StoreUnavailable
from headwater.model.event import STORED_COLUMNS, EventRow, stored
from headwater.store.base import Horizon
from headwater.store.privacy import PERSONAL_TABLES, Policy
from headwater.store.sql import SQLStore
from headwater.store.statements import Connection

log = logging.getLogger("headwater.store")

_INTEGER_COLUMNS = {"project_id", "line", "timestamp", "received_at"}
_ARRAYS = ", ".join(
    f"%b::{'bigint' if c in _INTEGER_COLUMNS else 'text'}[]" for c in STORED_COLUMNS
)
_COPY_EVENTS = f"COPY events ({', '.join(STORED_COLUMNS)}) FROM STDIN"
# The fallback when some rows are stored already: one statement, one array per column,
# ordered by the key so that concurrent writers take index locks in the same order and
# cannot deadlock; conflicts are skipped and reported by their absence from RETURNING.
_INSERT_EVENTS = (
    f"INSERT INTO events ({', '.join(STORED_COLUMNS)}) "
    f"SELECT * FROM unnest({_ARRAYS}) AS t ({', '.join(STORED_COLUMNS)}) "
    'ORDER BY project_id, event_id COLLATE "C", event_name COLLATE "C", line '  # as COPY
    "ON CONFLICT (project_id, event_id, event_name, line) DO NOTHING "
    "RETURNING project_id, event_id, event_name, line"
)
_PRODUCTS_LOCK = 0x48575043  # 'HWPC'
_PRIVACY_LOCK = 0x48575056  # 'HWPV'
_IMPORT_WAIT = 600.0  # s: a second import in one process waits for the first's transaction
_STREAM_ROWS = 1000  # rows a stream reads in one query, and its cursor at a time after
_MIGRATION_LOCK = 0x68656164  # any constant: serializes `migrate` across processes


def _key(row: EventRow) -> tuple[Any, ...]:
    return (row.project_id, row.event_id, row.event_name, row.line)


def _locked(constant: int) -> str:
    """The first key of an advisory lock, as SQL: `constant` mixed with a hash of the schema
    the transaction works in. Advisory locks belong to the database, and deployments (or test
    runs) in separate schemas of one database each have a project 1: keyed by the constant
    and the project alone, one's erasure waited behind another's import. Computed by the
    server in the locking statement itself, so it follows the connection's search_path and
    costs no round trip. Two schemas whose hashes meet only share locks: they wait, they
    never skip a lock."""
    return f"hashtext(current_schema()) # {constant}"


@functools.cache
def _pg(sql: str) -> str:
    """The shared SQL's `?` placeholders in psycopg's style."""
    return sql.replace("%", "%%").replace("?", "%s")


class _Connection:
    """A psycopg connection that speaks the shared SQL."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        return self.raw.execute(_pg(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.raw.cursor() as cursor:
            cursor.executemany(_pg(sql), rows)


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """Driver errors become the Headwater tree: unreachable → StoreUnavailable (503)."""
    try:
        yield
    except PoolTimeout as exc:
        raise StoreUnavailable(f"PostgreSQL unavailable ({action}): no connection: {exc}") from exc
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        raise StoreUnavailable(f"PostgreSQL unavailable ({action}): {exc}") from exc
    except (psycopg.DataError, psycopg.IntegrityError) as exc:
        raise StoreDataError(f"PostgreSQL refused the data ({action}): {exc}") from exc
    except psycopg.Error as exc:
        raise StoreError(f"PostgreSQL {action} failed: {exc}") from exc


# Sessions of this database, and replication slots, whose snapshot is older than the xid
# given: they may still see rows deleted before it, which a table rewrite must keep.
_OLDER_SNAPSHOTS = (
    "SELECT (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid() AND backend_xmin IS NOT NULL "
    "AND age(backend_xmin) > age(%(horizon)s::xid)) "
    "+ (SELECT count(*) FROM pg_replication_slots WHERE xmin IS NOT NULL "
    "AND age(xmin) > age(%(horizon)s::xid))"
)


def _older_snapshots_end(raw: psycopg.Connection[Any], timeout: float) -> bool:
    """Wait until no transaction that began before now can see older rows (every erasure
    committed before the call is then invisible to all); False after `timeout` seconds (0:
    no limit). Polls: PostgreSQL offers no wait on other sessions' snapshots."""
    [(horizon,)] = raw.execute(
        "SELECT (pg_snapshot_xmax(pg_current_snapshot())::text::bigint % 4294967296)::text"
    ).fetchall()
    deadline = time.monotonic() + timeout
    while True:
        [(older,)] = raw.execute(_OLDER_SNAPSHOTS, {"horizon": horizon}).fetchall()
        if not older:
            return True
        if timeout and time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def _pool(url: str, name: str, min_size: int, max_size: int, timeout: float) -> ConnectionPool:
    return ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        kwargs={"autocommit": True},
        # A connection broken by a database restart is replaced, not handed out.
        check=ConnectionPool.check_connection,
        # The pool retries a failed connect with exponential backoff until this timeout, then
        # starts over from a 1 s delay on the next request: after an outage of any length the
        # service reconnects within seconds, by itself.
        reconnect_timeout=5.0,
        open=False,
        name=name,
    )


class PostgresStore(SQLStore):
    backend = "postgres"
    # psycopg caches the conversion of queries up to 4,096 bytes; a longer multi-row insert
    # was converted anew on every run (41% of a catalog import's client time, measured).
    statement_chars = 4000
    arrays = True
    bytewise = ' COLLATE "C"'

    def __init__(self, url: str, min_size: int = 1, max_size: int = 10, timeout: float = 5.0):
        # Writes get a connection of their own, so readers can never starve the writer, and
        # catalog imports another, so a long import never holds the event writer's.
        self._writes = _pool(url, "headwater-writes", 1, 1, timeout)
        self._reads = _pool(url, "headwater-reads", min_size, max_size, timeout)
        self._imports = _pool(url, "headwater-imports", 0, 1, _IMPORT_WAIT)
        try:
            with _translated("connect"):
                for pool in (self._writes, self._reads, self._imports):
                    pool.open(wait=True, timeout=timeout)
        except StoreError:
            self.close()  # stop the pools' reconnect threads: nobody will use this store
            raise

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with _translated("write"), self._writes.connection() as raw, raw.transaction():
            yield _Connection(raw)

    @contextmanager
    def _catalog_transaction(self) -> Iterator[Connection]:
        with _translated("write"), self._imports.connection() as raw, raw.transaction():
            yield _Connection(raw)

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with _translated("read"), self._reads.connection() as raw:
            return raw.execute(_pg(sql), params).fetchall()

    def _stream(self, sql: str, params: Sequence[object]) -> Iterator[tuple[Any, ...]]:
        """Most streams are short: one plain query (one round trip) reads them whole. Past
        `_STREAM_ROWS` rows, the query runs again through a server-side cursor, in a read
        transaction of its own pooled connection, and its rows come `_STREAM_ROWS` at a
        time (the cursor costs four more round trips)."""
        first = self._read(f"{sql} LIMIT ?", [*params, _STREAM_ROWS + 1])
        if len(first) <= _STREAM_ROWS:
            yield from first
            return
        del first
        with (
            _translated("read"),
            self._reads.connection() as raw,
            raw.transaction(),
            raw.cursor(name="headwater_stream") as cursor,
        ):
            cursor.execute(_pg(sql), params)
            while rows := cursor.fetchmany(_STREAM_ROWS):
                yield from rows

    def _tables(self, conn: Connection) -> set[str]:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
        return {name for (name,) in rows}

    def _lock_for_migrations(self, conn: Connection) -> None:
        conn.execute(f"SELECT pg_advisory_xact_lock({_locked(_MIGRATION_LOCK)}, 0)")

    def analyze_catalog(self) -> None:
        """Without statistics (a catalog growing from empty, autovacuum behind or off) the
        planner read a 500-id product lookup as "every product of the project, filtered":
        60 ms instead of 1 ms, and a 100,000-product import crawled."""
        with self._catalog_transaction() as conn:
            conn.execute("ANALYZE products, product_categories")

    def _lock_products(self, conn: Connection, project_id: int) -> None:
        # Held to commit: an import chunk and a track batch never merge into one product at once.
        conn.execute(
            f"SELECT pg_advisory_xact_lock({_locked(_PRODUCTS_LOCK)}, ?::int)", (project_id,)
        )

    def _lock_privacy(self, conn: Connection, project_ids: Sequence[int], exclusive: bool) -> None:
        lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        conn.execute(
            f"SELECT {lock}({_locked(_PRIVACY_LOCK)}, p::int) FROM unnest(?::bigint[]) AS p",
            (sorted(project_ids),),
        )

    def _erasing(self, conn: Connection) -> None:
        """Nothing to do in the transaction: see `scrub_erased`."""

    def event_horizon(self) -> Horizon:
        """Concurrent transactions commit out of seq order: a seq below the highest committed
        may belong to one still in flight. The snapshot's bounds say when all those ended
        (events/tail.py); one statement, so both describe the same moment."""
        [(top, oldest, following)] = self._read(
            "SELECT (SELECT max(seq) FROM events), pg_snapshot_xmin(s)::text::bigint, "
            "pg_snapshot_xmax(s)::text::bigint FROM pg_current_snapshot() AS s"
        )
        return Horizon(int(top or 0), int(oldest), int(following))

    def _locked_policies(self, conn: Connection, project_ids: Sequence[int]) -> dict[int, Policy]:
        # One round trip for both: the lock is taken once per project (LEFT JOIN: one row
        # each, with or without a policy), in id order.
        rows = conn.execute(
            f"SELECT q.id, pg_advisory_xact_lock_shared({_locked(_PRIVACY_LOCK)}, q.id::int), "
            "p.required_categories, p.suppressed, p.salt "
            "FROM unnest(?::bigint[]) AS q (id) "
            "LEFT JOIN privacy_policies p ON p.project_id = q.id ORDER BY q.id",
            (sorted(project_ids),),
        ).fetchall()
        return {i: Policy.of(r, n, s) for i, _, r, n, s in rows if r is not None}

    def _after_erasure(self) -> dict[str, Any]:
        """The erased rows can no longer be read, but their bytes stay in the tables' and
        indexes' files until `scrub_erased` rewrites them."""
        return {"scrub": "pending"}

    def scrub_erased(self, lock_timeout: float) -> dict[str, Any]:
        """Rewrite every table an erasure deletes from, with `VACUUM FULL`: its rows, TOAST
        and indexes go to new files and the old files are truncated at commit.

        Nothing lighter clears the bytes: VACUUM frees a dead row's space without zeroing
        it, and overwriting a row before deleting it writes a new version beside the old
        one (measured on PostgreSQL 15: both leave the erased values in the heap and index
        files). A rewrite copies the deleted rows that a running transaction may still see,
        so it first waits until every transaction older than the scrub has ended; and it
        locks its table exclusively while it runs. Whatever waits longer than
        `lock_timeout` seconds (0: as long as it takes) is reported `busy`."""
        tables: dict[str, str] = {}
        with _translated("scrub"), self._reads.connection() as raw:
            if not _older_snapshots_end(raw, lock_timeout):
                return {"scrub": "busy", "tables": dict.fromkeys(PERSONAL_TABLES, "busy")}
            wait = f"{round(lock_timeout * 1000)}ms"
            raw.execute("SELECT set_config('lock_timeout', %s, false)", (wait,))
            try:
                for table in PERSONAL_TABLES:
                    try:
                        raw.execute(f"VACUUM (FULL) {table}")
                        tables[table] = "rewritten"
                    except psycopg.errors.LockNotAvailable:
                        tables[table] = "busy"
            finally:
                raw.execute("RESET lock_timeout")
        busy = "busy" in tables.values()
        return {"scrub": "busy" if busy else "complete", "tables": tables}

    def _insert_events(self, conn: Connection, batches: Sequence[Sequence[EventRow]]) -> list[int]:
        """COPY when nothing is stored yet (the common case, twice as fast); when a key
        exists (a retried batch), an INSERT that skips what is stored."""
        first: dict[tuple[Any, ...], tuple[int, EventRow]] = {}  # key → (batch, row), first wins
        for index, batch in enumerate(batches):
            for row in batch:
                first.setdefault(_key(row), (index, row))
        inserted = [0] * len(batches)
        # In key order: one lock order for every writer, so processes cannot deadlock.
        rows = [row for _, (_, row) in sorted(first.items(), key=lambda item: item[0])]
        if not rows:
            return inserted
        raw = cast(_Connection, conn).raw
        try:
            # The nested transaction is a savepoint: a duplicate key undoes only the COPY.
            with raw.transaction(), raw.cursor() as cursor, cursor.copy(_COPY_EVENTS) as copy:
                for row in rows:
                    copy.write_row(stored(row))
            for index, _ in first.values():
                inserted[index] += 1
        except psycopg.errors.UniqueViolation:
            columns = [list(column) for column in zip(*map(stored, rows), strict=True)]
            for key in raw.execute(_INSERT_EVENTS, columns).fetchall():
                inserted[first[tuple(key)][0]] += 1
        return inserted

    def close(self) -> None:
        self._writes.close()
        self._reads.close()
        self._imports.close()
