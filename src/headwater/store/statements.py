"""What the SQL mixins of a store share: the connection they write through, the quarantine
insert, and IN lists kept to a bounded number of parameters."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain
from typing import Any, Protocol, TypeVar

from headwater.model.event import Batch, Context, Rejection

QUARANTINE_COLUMNS = (
    "project_id, source_id, key_prefix, received_at, group_index, item_index, "
    "event_name, type, line, path, reason, message, raw, kind"
)
INSERT_QUARANTINE = f"INSERT INTO quarantine ({QUARANTINE_COLUMNS}) VALUES ({', '.join('?' * 14)})"
SELECT_QUARANTINE = f"SELECT id, {QUARANTINE_COLUMNS}, status, resolved_at FROM quarantine"
IN_CHUNK = 500  # values per IN list: far below every backend's parameter limit


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """What a transaction exposes: sqlite3.Connection as is, psycopg behind an adapter."""

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Cursor: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any: ...


#: A query run for its rows: a store's own reads, or those of a transaction (`reader`).
Read = Callable[[str, Sequence[object]], list[tuple[Any, ...]]]


def reader(conn: Connection) -> Read:
    """Reads inside the transaction `conn`: they see its writes and hold its locks."""
    return lambda sql, params: list(conn.execute(sql, params).fetchall())


def placeholders(values: Sequence[object]) -> str:
    return ", ".join("?" * len(values))


Key = TypeVar("Key", str, int)


def in_lists(values: Iterable[Key]) -> Iterator[list[Key]]:
    """The distinct `values`, sorted, in lists of at most IN_CHUNK: one IN list each."""
    ordered = sorted(set(values))
    for at in range(0, len(ordered), IN_CHUNK):
        yield ordered[at : at + IN_CHUNK]


def matching(
    column: str, values: Iterable[Key], arrays: bool
) -> Iterator[tuple[str, list[object]]]:
    """`column` equal to any of `values`, as (SQL condition, its parameters): one array
    parameter where the backend has arrays (PostgreSQL: one statement whose text, and so
    whose plan, does not change with the number of values), else IN lists of at most
    IN_CHUNK values each."""
    if arrays:
        distinct = sorted(set(values))
        if distinct:
            kind = "bigint" if isinstance(distinct[0], int) else "text"
            yield f"{column} = ANY(?::{kind}[])", [distinct]
        return
    for chunk in in_lists(values):
        yield f"{column} IN ({placeholders(chunk)})", list(chunk)


def quarantine_row(ctx: Context, r: Rejection, kind: str = "event") -> tuple[object, ...]:
    """A rejection as a row of INSERT_QUARANTINE; `kind` "product" for a feed's product."""
    return (ctx.project_id, ctx.source_id, ctx.key_prefix, ctx.received_at, r.group, r.item,
            r.event_name, r.type, r.line, r.path, r.reason, r.message, r.raw, kind)  # fmt: skip


def quarantine_rows(batch: Batch) -> list[tuple[object, ...]]:
    return [quarantine_row(batch.ctx, r) for r in batch.rejected]


ROWS_PER_STATEMENT = 256


@functools.cache
def _values_sql(head: str, width: int, rows: int, tail: str) -> str:
    row = f"({', '.join('?' * width)})"
    return f"{head} VALUES {', '.join([row] * rows)} {tail}"


def insert_rows(
    conn: Connection,
    head: str,
    rows: Sequence[Sequence[Any]],
    tail: str = "",
    max_chars: int | None = None,
) -> None:
    """`head VALUES (…), (…) tail` for many rows: one statement per up to 256 rows, and
    statements of at most `max_chars` characters when given.

    Far cheaper than `executemany`, which is one statement per row: a round trip each on
    PostgreSQL, a GIL release each on SQLite. Sizes are powers of two, so at most nine
    statements per `head` are ever prepared. Rows must not repeat a conflict key.
    """
    if not rows:
        return
    at, size = 0, ROWS_PER_STATEMENT
    while max_chars is not None and size > 1:
        if len(_values_sql(head, len(rows[0]), size, tail)) <= max_chars:
            break
        size //= 2
    while at < len(rows):
        while size > len(rows) - at:
            size //= 2
        chunk = rows[at : at + size]
        conn.execute(_values_sql(head, len(chunk[0]), size, tail), list(chain.from_iterable(chunk)))
        at += size
