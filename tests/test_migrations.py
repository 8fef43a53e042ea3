"""A fresh schema (schema.sql) equals the one reached by applying every migration in order
(issue 3 §1), on both backends."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from headwater.store.migrations import migrations
from headwater.store.postgres.store import PostgresStore
from headwater.store.sqlite.store import SQLiteStore
from tests import postgres


def _squash(sql: str | None) -> str:
    return re.sub(r"\s+", " ", sql or "").strip()


def sqlite_schema(path: Path) -> dict[str, Any]:
    with sqlite3.connect(path) as conn:
        tables = [
            t
            for (t,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return {
            "columns": {t: conn.execute(f"PRAGMA table_xinfo({t})").fetchall() for t in tables},
            "indexes": sorted(
                (name, table, _squash(sql)) for name, table, sql in conn.execute(
                    "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index'"
                )
            ),
            "foreign_keys": {t: conn.execute(f"PRAGMA foreign_key_list({t})").fetchall()
                             for t in tables},
        }  # fmt: skip


def postgres_schema(url: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        here = "table_schema = current_schema()"
        return {
            "columns": conn.execute(
                "SELECT table_name, column_name, data_type, is_nullable, column_default, "
                f"is_identity, identity_generation FROM information_schema.columns WHERE {here} "
                "ORDER BY table_name, ordinal_position"
            ).fetchall(),
            "indexes": [
                (name, definition.replace(f" ON {schema}.", " ON "))
                for name, definition, schema in conn.execute(
                    "SELECT indexname, indexdef, schemaname FROM pg_indexes "
                    "WHERE schemaname = current_schema() ORDER BY indexname"
                )
            ],
            "constraints": conn.execute(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
                "FROM pg_constraint WHERE connamespace = current_schema()::regnamespace "
                "ORDER BY 1, 2"
            ).fetchall(),
        }


def test_sqlite_fresh_schema_equals_migrations(tmp_path: Path) -> None:
    fresh, stepped = tmp_path / "fresh.db", tmp_path / "stepped.db"
    _compare(lambda: SQLiteStore(str(fresh)), lambda: SQLiteStore(str(stepped)),
             lambda: sqlite3.connect(stepped).execute(_EMPTY_VERSIONS).connection.commit(),
             lambda: sqlite_schema(fresh), lambda: sqlite_schema(stepped))  # fmt: skip


def test_postgres_fresh_schema_equals_migrations() -> None:
    postgres.require()
    with postgres.fresh_schema() as fresh, postgres.fresh_schema() as stepped:

        def prepare() -> None:
            with psycopg.connect(stepped, autocommit=True) as conn:
                conn.execute(_EMPTY_VERSIONS)

        _compare(lambda: PostgresStore(fresh), lambda: PostgresStore(stepped), prepare,
                 lambda: postgres_schema(fresh), lambda: postgres_schema(stepped))  # fmt: skip


_EMPTY_VERSIONS = "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)"


def _compare(
    fresh_store: Callable[[], Any],
    stepped_store: Callable[[], Any],
    make_old: Callable[[], None],
    fresh_schema: Callable[[], dict[str, Any]],
    stepped_schema: Callable[[], dict[str, Any]],
) -> None:
    store = fresh_store()
    versions = [v for v, _ in migrations(store.backend)]
    assert store.migrate() == versions  # an empty database: schema.sql whole
    store.close()
    make_old()  # a database from before the first migration: every migration runs
    store = stepped_store()
    assert store.migrate() == versions
    assert store.migrate() == []
    store.close()
    fresh, stepped = fresh_schema(), stepped_schema()
    assert fresh == stepped
    assert fresh["columns"] and fresh["indexes"]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_versions_are_numbered_without_gaps(backend: str) -> None:
    assert [v for v, _ in migrations(backend)] == list(range(1, len(migrations(backend)) + 1))


# issue 11: migration 7 adds who owns each event; its backfill decides it for the rows
# stored before, in Python, in batches, inside migrate().
OLD_ROWS = [  # (event_id, user_id, profile_id, owner expected)
    ("e1", "ada", "dev", "user"),
    ("e2", None, "dev", "profile"),
    ("e3", "undefined", "dev", "profile"),
    ("e4", " Null ", None, None),
    ("e5", None, "[object Object]", None),
    ("e6", None, None, None),
    ("e7", "bo", None, "user"),
]
_OLD_INSERT = (
    "INSERT INTO events (project_id, event_name, event_id, line, user_id, profile_id, "
    "timestamp, received_at, key_prefix) VALUES (1, 'E', ?, 0, ?, ?, ?, ?, 'k')"
)


def _up_to_6(execute: Callable[[str], Any], backend: str) -> None:
    from headwater.store.sql import _statements

    execute(_EMPTY_VERSIONS)
    for version, script in migrations(backend):
        if version <= 6:
            for statement in _statements(script):
                execute(statement)
            execute(f"INSERT INTO schema_migrations (version) VALUES ({version})")


@contextmanager
def _at_version_6(backend: str, folder: Path) -> Iterator[Callable[[], Any]]:
    """A database with the schema of migration 6 holding OLD_ROWS; opens a store on it."""
    rows = [(e, u, p, 1_714_631_904_000 + i, 0) for i, (e, u, p, _) in enumerate(OLD_ROWS)]
    if backend == "sqlite":
        path = str(folder / "old.db")
        with sqlite3.connect(path) as conn:
            _up_to_6(conn.execute, backend)
            conn.executemany(_OLD_INSERT, rows)
        yield lambda: SQLiteStore(path)
        return
    postgres.require()
    with postgres.fresh_schema() as url:
        with psycopg.connect(url, autocommit=True) as conn:
            _up_to_6(conn.execute, backend)
            with conn.cursor() as cursor:
                cursor.executemany(_OLD_INSERT.replace("?", "%s"), rows)
        yield lambda: PostgresStore(url)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_owner_backfill_decides_every_stored_event(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from headwater.store import backfill
    from headwater.store.base import EventQuery

    monkeypatch.setattr(backfill, "BATCH", 3)  # several batches
    with _at_version_6(backend, tmp_path) as open_store:
        store = open_store()
        assert 7 in store.migrate()
        found = dict(store._read("SELECT event_id, owner FROM events"))
        assert found == {e: owner for e, _, _, owner in OLD_ROWS}
        query = EventQuery(1, owner_users=("ada",), owner_profiles=("dev",), limit=100)
        assert sorted(r[3] for r in store.query_events(query)) == ["e1", "e2", "e3"]
        assert store.migrate() == []
        store.close()
