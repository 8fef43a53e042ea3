"""Events written straight into a store, through the track path's own parsing (not a test
module): the tests of exports, tails and retention start from them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from headwater.config import Settings
from headwater.ingest.normalize import parse_body
from headwater.model.event import Batch, Context, EventRow
from headwater.store.base import Store
from headwater.store.postgres.store import PostgresStore
from headwater.store.sqlite.store import SQLiteStore
from tests import postgres

NOW = 1_714_631_904_000
DAY = 86_400_000


def track(store: Store, project_id: int, *items: dict[str, Any], name: str = "E",
          received: int = NOW) -> None:  # fmt: skip
    """Store `items` as one track group named `name`, received at `received`."""
    body = msgspec.json.encode({"track": [{"name": name, "payload": list(items)}]})
    batch = parse_body(body, Context(project_id, None, "k", received), Settings())
    assert not batch.rejected, batch.rejected
    store.write([batch])


def many(store: Store, project_id: int, count: int, data: str = '{"n":1}', start: int = 0) -> None:
    """`count` events `e{start}`… of user `u{i % 50}`, a millisecond apart, in bulk."""
    for at in range(start, start + count, 5000):
        rows = [row(project_id, i, data) for i in range(at, min(at + 5000, start + count))]
        store.write([Batch(Context(project_id, None, "k", NOW), rows)])


def row(project_id: int, i: int, data: str) -> EventRow:
    return EventRow(project_id, None, "E", f"e{i}", 0, "track", f"p{i % 100}", f"u{i % 50}",
                    None, None, None, None, None, None, NOW - DAY + i, NOW, data,
                    '{"plan":"pro"}', None, None, None, "k")  # fmt: skip


@contextmanager
def opened(backend: str, folder: Path) -> Iterator[tuple[list[str], Store]]:
    """A migrated store of `backend` and the CLI options that name it."""
    store: Store
    if backend == "sqlite":
        path = str(folder / "h.db")
        store = SQLiteStore(path)
        store.migrate()
        try:
            yield ["--db", path], store
        finally:
            store.close()
        return
    postgres.require()
    with postgres.fresh_schema() as url:
        store = PostgresStore(url, max_size=4)
        store.migrate()
        try:
            yield ["--database-url", url], store
        finally:
            store.close()
