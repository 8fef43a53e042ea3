"""Events leaving the store: export throughput per format and how long each prune chunk
holds the writer, each beside a floor measured in the same run.

    .venv/bin/python benchmarks/events_out.py                  # SQLite, 200,000 events
    .venv/bin/python benchmarks/events_out.py --events 50000
    .venv/bin/python benchmarks/events_out.py --database-url postgresql://postgres@127.0.0.1:5432/test

A fresh store (a temporary SQLite file, or a new schema in the PostgreSQL database given,
dropped at the end) gets N events of one project in 5,000-event writes. Then:

  read floor   the export's own page walk (`events.export.pages`) with nothing encoded;
  export       `events.export.export` in each format, every byte produced and dropped;
  insert floor the N events written (the timing of the set-up above);
  prune        `events.retention.prune` of all N events with no pause between chunks,
               timing every chunk's transaction (the time the writer is held).

Export rates are shown beside the read floor (the ratio says what encoding costs); the prune
rate beside the insert floor, with the median and worst chunk.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from headwater.config import Settings
from headwater.events import export, retention
from headwater.model.event import Batch, Context, EventRow
from headwater.store import open_store
from headwater.store.base import EventQuery, Store

T0 = 1_714_631_904_000
DATA = '{"path":"/pricing","referrer":"https://example.com/blog","amount":42.5}'


@contextmanager
def fresh_store(database_url: str | None) -> Iterator[Store]:
    if database_url is None:
        with tempfile.TemporaryDirectory() as folder:
            store = open_store(Settings(db=os.path.join(folder, "bench.db")))
            store.migrate()
            try:
                yield store
            finally:
                store.close()
        return
    import psycopg

    schema = f"hw_bench_{os.getpid()}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    joiner = "&" if "?" in database_url else "?"
    store = open_store(
        Settings(database_url=f"{database_url}{joiner}options=-csearch_path%3D{schema}")
    )
    store.migrate()
    try:
        yield store
    finally:
        store.close()
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def rows(project_id: int, start: int, count: int) -> list[EventRow]:
    """Page views of 2,000 users on 5,000 devices, ten milliseconds apart."""
    made = []
    for i in range(start, start + count):
        who = (f"profile-{i % 5000}", f"user-{i % 2000}", None, f"s-{i // 20}")
        made.append(EventRow(project_id, "2238071373446641629", "Page Viewed", f"evt-{i}", 0,
                             "track", *who, None, None, None, None, T0 + i * 10, T0 + i * 10,
                             DATA, '{"plan":"pro"}', None, None, None, "bench"))  # fmt: skip
    return made


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>10,.0f} events/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    n = args.events
    with fresh_store(args.database_url) as store:
        project, _ = store.ensure_project("bench", "events", T0)
        started = time.perf_counter()
        for at in range(0, n, 5000):
            batch = Batch(
                Context(project.id, None, "bench", T0), rows(project.id, at, min(5000, n - at))
            )
            store.write([batch])
        insert = time.perf_counter() - started
        query = EventQuery(project.id)

        started = time.perf_counter()
        read = sum(len(page) for page in export.pages(store, query))
        floor = time.perf_counter() - started
        assert read == n, read
        print(f"backend {type(store).__name__}, {n:,} events")
        print(f"  read floor        {rate(n, floor)}")
        for fmt in export.FORMATS:
            started = time.perf_counter()
            size = sum(len(chunk) for chunk in export.export(store, query, fmt))
            took = time.perf_counter() - started
            print(f"  export {fmt:<10} {rate(n, took)}  x{floor / took:.2f} of the floor,"
                  f" {size / 1e6:,.1f} MB")  # fmt: skip

        holds: list[float] = []
        prune_events = store.prune_events

        def timed(project_id: int, before: int, limit: int) -> int:
            began = time.perf_counter()
            try:
                return prune_events(project_id, before, limit)
            finally:
                holds.append(time.perf_counter() - began)

        store.prune_events = timed  # type: ignore[method-assign]
        started = time.perf_counter()
        pruned = retention.prune(store, project.id, T0 + n * 10, sleep=lambda _: None)
        took = time.perf_counter() - started
        assert pruned.deleted == n, pruned
        print(f"  insert floor      {rate(n, insert)}")
        print(f"  prune             {rate(n, took)}  x{insert / took:.2f} of the floor;"
              f" chunk of {retention.CHUNK}: median {statistics.median(holds) * 1000:.0f} ms,"
              f" worst {max(holds) * 1000:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
