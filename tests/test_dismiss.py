"""Dismissing quarantined entries (issue 11, Deliver 6): the quarantine does not only grow.
A dismissed entry keeps its place but not its content (ingest/dismiss.py), and is never
replayed."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest
from litestar.testing import TestClient

from headwater.ingest import dismiss as dismissing
from headwater.model.views import encode_cursor
from headwater.store.base import Store
from headwater.tenancy import provision
from tests.conftest import Tenant

Client = TestClient[Any]


def reject(client: Client, tenant: Tenant, count: int) -> list[int]:
    """`count` new pending entries (a userId that is a number); their ids."""
    body = {"track": [{"name": "E", "payload": [{"userId": 5}] * count}]}
    client.post(f"{tenant.base}/track", json=body, headers=tenant.headers)
    return entries(client, tenant, "pending")


def listed(client: Client, tenant: Tenant, status: str = "all") -> list[dict[str, Any]]:
    response = client.get(f"{tenant.base}/quarantine",
                          params={"status": status, "limit": "1000"},
                          headers=tenant.headers)  # fmt: skip
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def entries(client: Client, tenant: Tenant, status: str = "all") -> list[int]:
    """The ids of the entries that are not dismissed (or, given a status, that have it)."""
    items = listed(client, tenant, status)
    return [i["id"] for i in items if status == "dismissed" or i["status"] != "dismissed"]


def dismiss(client: Client, tenant: Tenant, body: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else msgspec.json.encode(body)
    response: httpx.Response = client.post(
        f"{tenant.base}/quarantine/dismiss", content=content, headers=tenant.headers
    )
    return response


def test_dismiss_by_ids(client: Client, tenant: Tenant) -> None:
    first, second, third = reject(client, tenant, 3)
    response = dismiss(client, tenant, {"ids": [first, third, third + 1000]})
    assert response.status_code == 200
    assert response.json() == {"dismissed": 2, "missing": [third + 1000]}
    assert entries(client, tenant) == [second]
    # What stays: the place (id, reason, when), not the content.
    gone = listed(client, tenant, "dismissed")
    assert [(e["id"], e["raw"], e["reason"]) for e in gone] == [(first, "", "type"),
                                                                (third, "", "type")]  # fmt: skip
    assert all(e["resolvedAt"] is not None for e in gone)
    replay = client.post(f"{tenant.base}/quarantine/replay", json={"ids": [first]},
                         headers=tenant.headers)  # fmt: skip
    assert replay.status_code == 404  # no pending entry: a dismissed one is never replayed
    assert client.post(f"{tenant.base}/quarantine/replay", json={},
                       headers=tenant.headers).json()["replayed"] == 0  # fmt: skip
    again = dismiss(client, tenant, {"ids": [first]})
    assert again.json() == {"dismissed": 0, "missing": [first]}


def test_dismiss_by_status_and_by_both(client: Client, tenant: Tenant) -> None:
    ids = reject(client, tenant, 3)
    fixed = client.post(f"{tenant.base}/quarantine/replay",
                        json={"ids": [ids[0]], "item": {"userId": "5"}},
                        headers=tenant.headers)  # fmt: skip
    assert fixed.json()["replayed"] == 1
    both = dismiss(client, tenant, {"ids": ids[:2], "status": "replayed"})
    assert both.json() == {"dismissed": 1, "missing": [ids[1]]}  # ids[1] is pending
    assert entries(client, tenant) == ids[1:]
    assert dismiss(client, tenant, {"status": "all"}).json() == {"dismissed": 2, "missing": []}
    assert entries(client, tenant) == []
    # Replayed events are unaffected: dismissal touches the quarantine only.
    events = client.get(f"{tenant.base}/events", headers=tenant.headers).json()["events"]
    assert [e["userId"] for e in events] == ["5"]


def test_dismiss_runs_in_chunks_up_to_the_newest_entry_at_its_start(
    client: Client, tenant: Tenant, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dismissing, "CHUNK", 2)
    reject(client, tenant, 5)
    assert dismiss(client, tenant, {"status": "pending"}).json()["dismissed"] == 5
    assert entries(client, tenant) == []
    # The ceiling: an entry newer than `up_to` is never taken.
    later = reject(client, tenant, 2)
    project = store.find_project("acme", "web")
    assert project is not None
    assert store.dismiss_quarantine(project.id, None, None, later[0], 10, 0) == [later[0]]
    assert entries(client, tenant) == [later[1]]


def test_ids_are_never_handed_out_again(client: Client, tenant: Tenant) -> None:
    """Why a dismissed entry keeps its row: SQLite gives a new row max(id) + 1, so deleting
    the newest entries would let new ones take their ids, and a client paging `after` the
    last id it saw would skip them."""
    ids = reject(client, tenant, 3)
    assert dismiss(client, tenant, {"status": "all"}).json()["dismissed"] == 3
    [new] = reject(client, tenant, 1)
    assert new > ids[-1]
    page = client.get(
        f"{tenant.base}/quarantine",
        params={"cursor": encode_cursor(ids[-1])},
        headers=tenant.headers,
    )
    assert [i["id"] for i in page.json()["items"]] == [new]


def test_dismiss_never_reaches_another_project(
    client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    [theirs] = reject(client, other_tenant, 1)
    reject(client, tenant, 1)
    assert dismiss(client, tenant, {"ids": [theirs]}).json() == {"dismissed": 0,
                                                                  "missing": [theirs]}  # fmt: skip
    assert dismiss(client, tenant, {"status": "all"}).json()["dismissed"] == 1
    assert entries(client, other_tenant) == [theirs]


def test_dismiss_refuses_bad_requests_with_400(client: Client, tenant: Tenant) -> None:
    """Never a 5xx, and never everything by accident: an empty body dismisses nothing."""
    reject(client, tenant, 1)
    cases: list[tuple[Any, str]] = [
        (b"", "give the ids to dismiss, a status (all: every entry), or both"),
        ({}, "give the ids to dismiss, a status (all: every entry), or both"),
        ({"status": "old"}, "status must be one of pending, replayed, refused, all"),
        ({"status": "dismissed"}, "status must be one of pending, replayed, refused, all"),
        ({"ids": list(range(10_001))}, "at most 10000 ids per dismissal, got 10001"),
        ({"ids": [2**64]}, "invalid dismiss request"),
        ({"ids": [2**63]}, "invalid dismiss request"),
        ({"ids": [-1]}, "invalid dismiss request"),
        ({"ids": "1"}, "invalid dismiss request"),
        ({"id": [1]}, "invalid dismiss request"),
        (b"{", "invalid dismiss request"),
    ]
    for body, message in cases:
        response = dismiss(client, tenant, body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["errors"][0]["message"].startswith(message), body
    assert len(entries(client, tenant)) == 1


def test_dismiss_needs_the_admin_scope(client: Client, store: Store, tenant: Tenant) -> None:
    [entry] = reject(client, tenant, 1)
    reader = Tenant(provision.create_key(store, "acme", "web", scopes=["read"]))
    assert dismiss(client, reader, {"ids": [entry]}).status_code == 403
    assert entries(client, tenant) == [entry]
