"""Shared fixtures: a store per backend, an in-process app, and tenants with keys."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from headwater.api.app import create_app
from headwater.config import Settings
from headwater.model.event import EventRow
from headwater.store.base import Store
from headwater.store.postgres.store import PostgresStore
from headwater.store.sqlite.store import SQLiteStore
from headwater.tenancy import provision
from headwater.tenancy.provision import NewKey
from tests import postgres

BACKENDS = ["sqlite", "postgres"]
NOW = 1_714_631_904_000


def basic(api_key: str) -> dict[str, str]:
    prefix, _, secret = api_key.partition(".")
    token = base64.b64encode(f"{prefix}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def row(project_id: int, name: str, event_id: str, line: int = 0, ts: int = NOW) -> EventRow:
    return EventRow(
        project_id,
        None,
        name,
        event_id,
        line,
        None,
        None,
        "u1",
        None,
        None,
        None,
        None,
        None,
        None,
        ts,
        NOW,
        '{"a":1}',
        None,
        None,
        None,
        None,
        "key",
    )


@dataclasses.dataclass
class Tenant:
    key: NewKey

    @property
    def headers(self) -> dict[str, str]:
        return basic(self.key.api_key)

    @property
    def base(self) -> str:
        return f"/v1/{self.key.org}/projects/{self.key.project}"


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The contract fixture: every test that uses a store runs once per backend."""
    opened: Store
    if request.param == "sqlite":
        opened = SQLiteStore(str(tmp_path / "headwater.db"))
        opened.migrate()
        yield opened
        opened.close()
        return
    postgres.require()
    with postgres.fresh_schema() as url:
        opened = PostgresStore(url, max_size=4)
        opened.migrate()
        yield opened
        opened.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db=str(tmp_path / "headwater.db"))


@pytest.fixture
def make_client(store: Store, settings: Settings) -> Iterator[Any]:
    """Build in-process clients with optional setting overrides; closed at teardown."""
    clients: list[TestClient[Any]] = []

    def build(**overrides: Any) -> TestClient[Any]:
        chosen = dataclasses.replace(settings, **overrides)
        client: TestClient[Any] = TestClient(create_app(chosen, store))
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Any) -> TestClient[Any]:
    built: TestClient[Any] = make_client()
    return built


@pytest.fixture
def tenant(store: Store) -> Tenant:
    return Tenant(provision.create_key(store, "acme", "web"))


@pytest.fixture
def other_tenant(store: Store) -> Tenant:
    return Tenant(provision.create_key(store, "globex", "app"))


@contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    """A database URL for live servers: a SQLite file in `folder`, or a fresh PG schema."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'shared.db'}"
        return
    postgres.require()
    with postgres.fresh_schema() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every live-server test that takes this runs once per backend."""
    with database(request.param, tmp_path) as url:
        yield url
