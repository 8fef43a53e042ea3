"""The store contract, run against every backend (ARCHITECTURE §4)."""

from __future__ import annotations

import pytest

from headwater.errors import StoreError
from headwater.model.event import Batch, Context, Rejection
from headwater.store.base import EventQuery, Store
from headwater.store.postgres.store import PostgresStore
from headwater.store.statements import Connection
from tests import postgres
from tests.conftest import NOW, row


def test_migrate_is_idempotent(store: Store) -> None:
    assert store.migrate() == []


def test_write_dedups_within_and_across_batches(store: Store) -> None:
    project, _ = store.ensure_project("acme", "web", NOW)
    ctx = Context(project.id, None, "key", NOW)
    first = Batch(
        ctx,
        [
            row(project.id, "E", "1"),
            row(project.id, "E", "1"),
            row(project.id, "E", "1", line=1),
            row(project.id, "F", "1"),
        ],
    )
    second = Batch(ctx, [row(project.id, "E", "1"), row(project.id, "E", "2")])
    results = store.write([first, second])
    assert [(r.accepted, r.duplicates) for r in results] == [(3, 1), (1, 1)]
    stored = store.query_events(EventQuery(project.id))
    assert len(stored) == 4


def test_dedup_is_per_project(store: Store) -> None:
    a, _ = store.ensure_project("acme", "web", NOW)
    b, _ = store.ensure_project("acme", "app", NOW)
    results = store.write(
        [
            Batch(Context(a.id, None, "k", NOW), [row(a.id, "E", "1")]),
            Batch(Context(b.id, None, "k", NOW), [row(b.id, "E", "1")]),
        ]
    )
    assert [r.accepted for r in results] == [1, 1]
    assert len(store.query_events(EventQuery(a.id))) == 1


def test_rejections_are_kept_in_the_same_transaction(store: Store) -> None:
    project, _ = store.ensure_project("acme", "web", NOW)
    rejected = Rejection(0, 1, "track[0].payload[1]", "bad", "identity", "{}", "E", None, 0)
    store.write([Batch(Context(project.id, "src", "key", NOW), [], [rejected])])
    [entry] = store.list_quarantine(project.id, "pending", 0, 10)
    assert (entry.group, entry.item, entry.raw, entry.source_id) == (0, 1, "{}", "src")
    assert store.last_quarantine_id(project.id) == entry.id


def test_tenancy_records(store: Store) -> None:
    project, created = store.ensure_project("acme", "web", NOW)
    assert created
    assert store.ensure_project("acme", "web", NOW) == (project, False)
    assert store.find_project("acme", "nope") is None
    source = store.ensure_source(project.id, "ios", "1841503112918048768", NOW)
    assert store.ensure_source(project.id, "ios", "999", NOW) == source
    assert store.find_source(project.id, "1841503112918048768") == source
    store.create_key(project.id, "pre", "digest", ["ingest"], NOW)
    key = store.find_key("pre")
    assert key is not None and key.project == project and key.scopes == frozenset({"ingest"})


@pytest.mark.parametrize("count", [0, 1, 255, 256, 257, 700])
def test_large_batches_dedup_exactly(store: Store, count: int) -> None:
    project, _ = store.ensure_project("acme", "web", NOW)
    ctx = Context(project.id, None, "key", NOW)
    rows = [row(project.id, "E", str(i)) for i in range(count)]
    [first] = store.write([Batch(ctx, rows + rows[: count // 2])])
    assert (first.accepted, first.duplicates) == (count, count // 2)
    [again] = store.write([Batch(ctx, rows)])
    assert (again.accepted, again.duplicates) == (0, count)
    assert len(store.query_events(EventQuery(project.id, limit=1000))) == count


def test_a_quarantine_entry_is_replayed_once(store: Store) -> None:
    from headwater.errors import Conflict

    project, _ = store.ensure_project("acme", "web", NOW)
    ctx = Context(project.id, None, "key", NOW)
    rejected = Rejection(0, 0, "track[0].payload[0]", "bad", "identity", "{}", "E", None, 0)
    store.write([Batch(ctx, [], [rejected])])
    [entry] = store.list_quarantine(project.id, "pending", 0, 10)
    fixed = Batch(ctx, [row(project.id, "E", "r1")])
    assert store.resolve_quarantine(entry, fixed, NOW).accepted == 1
    with pytest.raises(Conflict):  # a second, concurrent replay of the same entry
        store.resolve_quarantine(entry, Batch(ctx, [row(project.id, "E", "r2")]), NOW)
    assert [r[3] for r in store.query_events(EventQuery(project.id))] == ["r1"]


# -- PostgreSQL: deployments in separate schemas of one database ---------------------------


def _take(lock: str, store: PostgresStore, conn: Connection, project_id: int) -> None:
    """One advisory lock, in the transaction `conn`, as the store's code paths take it."""
    if lock == "privacy-exclusive":
        store._lock_privacy(conn, [project_id], exclusive=True)
    elif lock == "products":
        store._lock_products(conn, project_id)
    else:
        store._lock_for_migrations(conn)


def _waiting_at_most(url: str, milliseconds: int) -> str:
    """`url` whose sessions give up waiting for a lock after `milliseconds`."""
    return f"{url}%20-clock_timeout%3D{milliseconds}"


@pytest.mark.parametrize("lock", ["privacy-exclusive", "products", "migrations"])
def test_postgres_advisory_locks_are_per_schema(lock: str) -> None:
    """Issue 11 review: advisory locks belong to the database, and two deployments (or test
    runs) in separate schemas of one database each have a project 1, so keyed by a constant
    and the project alone, one run's erasure waited minutes behind another schema's
    benchmark. A lock held in schema A now holds back schema A only. (The contenders give up
    after a lock timeout, so a regression fails instead of hanging.)"""
    postgres.require()
    with postgres.fresh_schema() as url_a, postgres.fresh_schema() as url_b:
        stores = {
            "holder": PostgresStore(url_a, max_size=1),
            "same schema": PostgresStore(_waiting_at_most(url_a, 200), max_size=1),
            "other schema": PostgresStore(_waiting_at_most(url_b, 20_000), max_size=1),
        }
        try:
            for store in stores.values():
                store.migrate()
            project_ids = {name: s.ensure_project("acme", "web", NOW)[0].id
                           for name, s in stores.items()}  # fmt: skip
            assert len(set(project_ids.values())) == 1  # project 1 in each schema
            holder = stores["holder"]
            with holder._transaction() as conn:
                _take(lock, holder, conn, project_ids["holder"])
                other = stores["other schema"]
                with other._transaction() as other_conn:  # not held back
                    _take(lock, other, other_conn, project_ids["other schema"])
                same = stores["same schema"]
                with pytest.raises(StoreError, match="lock timeout"), same._transaction() as c:
                    _take(lock, same, c, project_ids["same schema"])
            with same._transaction() as conn:  # released at the holder's commit
                _take(lock, same, conn, project_ids["same schema"])
        finally:
            for store in stores.values():
                store.close()


def test_postgres_an_erasure_in_one_schema_does_not_hold_back_writes_in_another() -> None:
    """The observed case, through the public write path: a track write takes its project's
    privacy lock shared, an erasure exclusive. Held in schema A, it delays a write in
    schema A (serialized, as erasure needs) and not one in schema B."""
    postgres.require()
    with postgres.fresh_schema() as url_a, postgres.fresh_schema() as url_b:
        erasing = PostgresStore(url_a, max_size=1)
        same = PostgresStore(_waiting_at_most(url_a, 200), max_size=1)
        other = PostgresStore(_waiting_at_most(url_b, 20_000), max_size=1)
        try:
            for store in (erasing, same, other):
                store.migrate()
            a, _ = erasing.ensure_project("acme", "web", NOW)
            b, _ = other.ensure_project("acme", "web", NOW)
            assert a.id == b.id

            def batch(project_id: int, event_id: str) -> Batch:
                return Batch(Context(project_id, None, "k", NOW), [row(project_id, "E", event_id)])

            with erasing._transaction() as conn:
                erasing._lock_privacy(conn, [a.id], exclusive=True)
                [result] = other.write([batch(b.id, "1")])
                assert result.accepted == 1
                with pytest.raises(StoreError, match="lock timeout"):
                    same.write([batch(a.id, "1")])
            [result] = same.write([batch(a.id, "1")])
            assert result.accepted == 1
        finally:
            for store in (erasing, same, other):
                store.close()
