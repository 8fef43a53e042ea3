"""A fresh schema (schema.sql) equals the one reached by applying every migration in order
(issue 3 §1), on both backends."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
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
