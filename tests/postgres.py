"""The PostgreSQL the tests use: one fresh schema per test, on the machine's server.

Set HEADWATER_TEST_POSTGRES to use another server. Unreachable: local runs skip the
PostgreSQL tests with the reason; CI (CI=true) fails instead, so a green CI means both stores.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

ADMIN_URL = os.environ.get("HEADWATER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
_names = itertools.count()


def require() -> None:
    """Skip (locally) or fail (in CI) unless the test server answers."""
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = f"PostgreSQL at {ADMIN_URL} is unreachable: {exc}".strip()
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must test both stores)", pytrace=False)
        pytest.skip(reason)


def schema_url(schema: str) -> str:
    joiner = "&" if "?" in ADMIN_URL else "?"
    return f"{ADMIN_URL}{joiner}options=-csearch_path%3D{schema}"


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A URL whose tables live in a new, empty schema, dropped afterwards."""
    schema = f"hw_test_{os.getpid()}_{next(_names)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema_url(schema)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
