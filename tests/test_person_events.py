"""Who owns an event, decided at write and indexed (issue 11, Deliver 4), on both stores: a
person's events are read by owner, so a kiosk profileId shared by many users reaches only its
own anonymous events; and the group eventId kept for orders (Deliver 3)."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec
import pytest

from headwater.config import Settings
from headwater.ingest.normalize import parse_body
from headwater.model.event import EVENT_COLUMNS, Batch, Context, EventRow, owner_of
from headwater.store.base import EventQuery, Store
from headwater.store.sql import SQLStore
from headwater.store.sqlite.store import SQLiteStore
from tests.conftest import NOW, row

AT = {name: i for i, name in enumerate(EVENT_COLUMNS)}


def stored_owners(store: Store) -> dict[str, str | None]:
    assert isinstance(store, SQLStore)
    return dict(store._read("SELECT event_id, owner FROM events ORDER BY seq"))


def event(project_id: int, event_id: str, user: str | None, profile: str | None,
          ts: int = NOW, account: str | None = None) -> EventRow:  # fmt: skip
    return row(project_id, "E", event_id, ts=ts)._replace(user_id=user, profile_id=profile,
                                                          account_id=account)  # fmt: skip


@pytest.mark.parametrize(
    ("user", "profile", "owner"),
    [
        ("ada", "dev", "user"),
        ("ada", None, "user"),
        (None, "dev", "profile"),
        ("undefined", "dev", "profile"),  # a placeholder userId is no identity
        (" NULL ", "dev", "profile"),
        ("undefined", "0", None),
        (None, None, None),  # an account's event
    ],
)
def test_the_owner_is_decided_at_write(
    store: Store, user: str | None, profile: str | None, owner: str | None
) -> None:
    project, _ = store.ensure_project("acme", "web", NOW)
    ctx = Context(project.id, None, "k", NOW)
    store.write([Batch(ctx, [event(project.id, "e", user, profile)])])
    assert owner_of(user, profile) == owner
    assert stored_owners(store) == {"e": owner}


def kiosk(store: Store, users: int, each: int) -> int:
    """A kiosk profileId first linked to `owner`, then used by `users` others, `each` events
    apiece, and two anonymous events of its own."""
    project, _ = store.ensure_project("acme", "web", NOW)
    rows = [event(project.id, "own-link", "owner", "kiosk", NOW)]
    rows += [event(project.id, f"anon-{i}", None, "kiosk", NOW + 10 + i) for i in range(2)]
    rows += [event(project.id, f"u{u}-{i}", f"user-{u}", "kiosk", NOW + 20 + i)
             for u in range(users) for i in range(each)]  # fmt: skip
    store.write([Batch(Context(project.id, None, "k", NOW), rows)])
    return project.id


def test_a_kiosk_profile_reaches_only_its_own_events(store: Store) -> None:
    project_id = kiosk(store, users=30, each=5)
    query = EventQuery(project_id, owner_users=("owner",), owner_profiles=("kiosk",), limit=1000)
    assert [r[AT["event_id"]] for r in store.query_events(query)] == ["own-link", "anon-0",
                                                                      "anon-1"]  # fmt: skip
    assert [r[AT["event_id"]] for r in store.stream_events(query)] == ["own-link", "anon-0",
                                                                       "anon-1"]  # fmt: skip
    later = EventQuery(project_id, owner_users=("user-7",), owner_profiles=(), limit=1000)
    assert len(store.query_events(later)) == 5


def test_person_pages_merge_both_kinds_in_time_order(store: Store) -> None:
    project, _ = store.ensure_project("acme", "web", NOW)
    rows = [event(project.id, f"e{i}", "ada" if i % 3 else None, f"d{i % 2}", NOW + i // 2)
            for i in range(40)]  # fmt: skip
    store.write([Batch(Context(project.id, None, "k", NOW), rows)])
    every = [r[AT["event_id"]] for r in store.stream_events(
        EventQuery(project.id, owner_users=("ada",), owner_profiles=("d0", "d1")))]  # fmt: skip
    assert sorted(every) == sorted(f"e{i}" for i in range(40))
    every = [r[AT["event_id"]] for r in sorted(store.query_events(EventQuery(
        project.id, owner_users=("ada",), owner_profiles=("d0", "d1"), limit=100)),
        key=lambda r: (r[AT["timestamp"]], r[-1]))]  # fmt: skip
    for descending in (False, True):
        query = EventQuery(project.id, owner_users=("ada",), owner_profiles=("d0", "d1"),
                           descending=descending, limit=7)  # fmt: skip
        seen: list[tuple[Any, ...]] = []
        while page := store.query_events(query):
            seen += page
            last = page[-1]
            query = EventQuery(project.id, owner_users=("ada",), owner_profiles=("d0", "d1"),
                               descending=descending, limit=7,
                               after=(last[AT["timestamp"]], last[-1]))  # fmt: skip
        keys = [(r[AT["timestamp"]], r[-1]) for r in seen]
        assert keys == sorted(keys, reverse=descending) and len(keys) == 40
    assert [r[AT["event_id"]] for r in seen[::-1]] == every


@pytest.mark.parametrize("kinds", [("user",), ("profile",), ("user", "profile")])
def test_a_stream_comes_in_fold_order(store: Store, kinds: tuple[str, ...]) -> None:
    # invariant 5: folds stream, so the store gives (time, eventId, line, name) order, text
    # by code point on both backends (a collation would put "a" before "Z", or "é" before "z")
    project, _ = store.ensure_project("acme", "web", NOW)
    ids = ["é", "z", "Z", "a", "a b", "ab", "10", "9", "\U0001f600", "\uff5e"]
    rows = [
        row(project.id, name, event_id, line, NOW + at % 2)._replace(
            user_id="ada" if ("user" in kinds and at % 3 != 2) or kinds == ("user",) else None,
            profile_id=f"d{at % 2}")
        for at, (event_id, name, line) in enumerate(
            (e, n, line) for e in ids for n in ("View Page", "Leave Page") for line in (0, 1))
    ]  # fmt: skip
    store.write([Batch(Context(project.id, None, "k", NOW), rows[::-1])])
    query = EventQuery(project.id, owner_users=("ada",) if "user" in kinds else (),
                       owner_profiles=("d0", "d1") if "profile" in kinds else ())  # fmt: skip
    keys = [tuple(r[AT[c]] for c in ("timestamp", "event_id", "line", "event_name"))
            for r in store.stream_events(query)]  # fmt: skip
    assert keys == sorted(keys) and len(keys) == len(rows)


def test_a_long_stream_is_read_whole_and_in_order(store: Store) -> None:
    # Past 1,000 rows PostgreSQL streams through a server-side cursor: nothing lost or
    # repeated at the switch.
    project, _ = store.ensure_project("acme", "web", NOW)
    rows = [event(project.id, f"e{i:05d}", "ada" if i % 2 else None, "dev", NOW + i // 3)
            for i in range(2_500)]  # fmt: skip
    store.write([Batch(Context(project.id, None, "k", NOW), rows)])
    query = EventQuery(project.id, owner_users=("ada",), owner_profiles=("dev",))
    assert [r[AT["event_id"]] for r in store.stream_events(query)] == [r.event_id for r in rows]


def test_the_kiosk_query_uses_the_owner_index_on_sqlite(store: Store) -> None:
    # SQLite only: its plan is stable on an empty table; PostgreSQL's depends on statistics
    # (benchmarks/profiles.py measures both on a real kiosk).
    if not isinstance(store, SQLiteStore):
        pytest.skip("query plans are checked on SQLite")
    from headwater.store.events import branch_sql, event_sql

    for users, profiles in ((("owner",), ("kiosk",)), (("a", "b"), ("kiosk", "tablet"))):
        query = EventQuery(1, owner_users=users, owner_profiles=profiles)
        page = event_sql(dataclasses.replace(query, after=(NOW, 1)), arrays=False)
        for sql, params in [page, *branch_sql(query, arrays=False, paged=False)]:
            plan = " ".join(str(r) for r in store._read(f"EXPLAIN QUERY PLAN {sql}", params))
            assert "events_time" not in plan  # never a walk of the project's events
            assert "events_profile_owned" in plan or "events_user" in plan


def group(*items: dict[str, Any], name: str = "Product ordered") -> bytes:
    return msgspec.json.encode({"track": [{"name": name, "payload": list(items)}]})


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        # browser SDK: one eventId per line; the group's is the first's
        ([{"eventId": "ev_1"}, {"eventId": "ev_2"}, {"eventId": "ev_3"}],
         [("ev_1", None), ("ev_2", "ev_1"), ("ev_3", "ev_1")]),
        # server SDKs: the lines share one eventId
        ([{"eventId": "o1"}, {"eventId": "o1"}], [("o1", None), ("o1", None)]),
        # the first item's eventId counts even when that item is rejected
        ([{"eventId": "x1", "userId": 5}, {"eventId": "x2"}], [("x2", "x1")]),
    ],
)  # fmt: skip
def test_each_item_keeps_the_eventid_of_its_group(
    items: list[dict[str, Any]], expected: list[tuple[str, str | None]]
) -> None:
    body = group(*[{"userId": "ada", **item} for item in items])
    batch = parse_body(body, Context(1, None, "k", NOW), Settings())
    assert [(r.event_id, r.group_event_id) for r in batch.events] == expected


def test_a_group_whose_first_item_has_no_eventid_takes_its_server_id() -> None:
    body = group({"userId": "ada"}, {"userId": "ada", "eventId": "undefined"})
    first, second = parse_body(body, Context(1, None, "k", NOW), Settings()).events
    assert first.group_event_id is None and second.group_event_id == first.event_id
