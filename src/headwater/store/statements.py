"""What the SQL mixins of a store share: the connection they write through, the quarantine
insert, and IN lists kept to a bounded number of parameters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from headwater.model.event import Batch

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


def placeholders(values: Sequence[object]) -> str:
    return ", ".join("?" * len(values))


def quarantine_rows(batch: Batch) -> list[tuple[object, ...]]:
    ctx = batch.ctx
    return [
        (ctx.project_id, ctx.source_id, ctx.key_prefix, ctx.received_at, r.group, r.item,
         r.event_name, r.type, r.line, r.path, r.reason, r.message, r.raw, "event")
        for r in batch.rejected
    ]  # fmt: skip
