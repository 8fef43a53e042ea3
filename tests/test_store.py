"""The store contract, run against every backend (ARCHITECTURE §4)."""

from __future__ import annotations

import pytest

from headwater.model.event import Batch, Context, Rejection
from headwater.store.base import EventQuery, Store
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
