"""Quarantine (invariant 3): kept, listed, replayed after a fix, never replayed twice."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from litestar.testing import TestClient

from tests.conftest import Tenant
from tests.test_catalog import feed, hoodie, upload

Client = TestClient[Any]


def track(client: Client, tenant: Tenant, body: Any) -> Any:
    content = body if isinstance(body, bytes) else msgspec.json.encode(body)
    return client.post(f"{tenant.base}/track", content=content, headers=tenant.headers)


def listing(client: Client, tenant: Tenant, **params: str) -> dict[str, Any]:
    response = client.get(f"{tenant.base}/quarantine", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def replay(client: Client, tenant: Tenant, body: Any = b"") -> Any:
    content = body if isinstance(body, bytes) else msgspec.json.encode(body)
    return client.post(f"{tenant.base}/quarantine/replay", content=content, headers=tenant.headers)


def stored(client: Client, tenant: Tenant) -> list[str]:
    page = client.get(f"{tenant.base}/events", headers=tenant.headers).json()
    return [e["eventId"] for e in page["events"]]


def test_entries_carry_raw_reason_time_and_key(client: Client, tenant: Tenant) -> None:
    track(client, tenant, {"track": [{"name": "E", "payload": [{"eventId": "x", "userId": 5}]}]})
    [entry] = listing(client, tenant)["items"]
    assert entry["raw"] == '{"eventId":"x","userId":5}'
    assert entry["reason"] == "type"
    assert entry["message"] == "Expected `str | null`, got `int`"
    assert entry["path"] == "track[0].payload[0].userId"
    assert entry["keyPrefix"] == tenant.key.api_key.split(".")[0]
    assert entry["eventName"] == "E" and entry["status"] == "pending"
    assert abs(entry["receivedAt"] - time.time() * 1000) < 60_000


def test_replay_after_raising_a_limit(make_client: Any, tenant: Tenant) -> None:
    strict = make_client(max_future_skew_seconds=0)
    future = int(time.time() * 1000) + 3_600_000
    body = {
        "track": [
            {
                "name": "Scheduled",
                "payload": [
                    {"eventId": "later", "userId": "u1", "timestamp": future},
                    {"eventId": "now", "userId": "u1"},
                ],
            }
        ]
    }
    assert track(strict, tenant, body).json()["accepted"] == 1
    still_strict = replay(strict, tenant).json()
    assert still_strict["replayed"] == 0 and len(still_strict["failed"]) == 1
    assert listing(strict, tenant)["items"][0]["status"] == "pending"

    relaxed = make_client(max_future_skew_seconds=86_400)
    report = replay(relaxed, tenant).json()
    products = {"created": 0, "updated": 0, "unchanged": 0}
    assert report == {"replayed": 1, "accepted": 1, "duplicates": 0, "products": products,
                      "failed": [], "refused": []}  # fmt: skip
    assert sorted(stored(relaxed, tenant)) == ["later", "now"]
    assert listing(relaxed, tenant)["items"] == []
    [done] = listing(relaxed, tenant, status="replayed")["items"]
    assert done["resolvedAt"] is not None
    assert replay(relaxed, tenant).json()["replayed"] == 0  # never twice


def test_replay_with_a_corrected_item(client: Client, tenant: Tenant) -> None:
    lines = [{"eventId": "o1", "userId": "u1", "data": {"sku": s}} for s in ("a", "b")]
    lines[1]["userId"] = 7  # type: ignore[assignment]
    track(client, tenant, {"track": [{"name": "Product ordered", "payload": lines}]})
    [entry] = listing(client, tenant)["items"]
    assert entry["line"] == 1
    fixed = {"eventId": "o1", "userId": "u1", "data": {"sku": "b"}}
    wrong = replay(client, tenant, {"item": fixed})
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["path"] == "ids"
    report = replay(client, tenant, {"ids": [entry["id"]], "item": fixed}).json()
    assert report["accepted"] == 1
    events = client.get(f"{tenant.base}/events/o1", headers=tenant.headers).json()["events"]
    assert [(e["line"], e["data"]["sku"]) for e in events] == [(0, "a"), (1, "b")]


def test_replay_of_unknown_ids_is_404(client: Client, tenant: Tenant) -> None:
    response = replay(client, tenant, {"ids": [12345]})
    assert response.status_code == 404
    assert replay(client, tenant, b"{bad").status_code == 400


def test_malformed_bodies_replay_as_whole_requests(client: Client, tenant: Tenant) -> None:
    # A body kept whole (here: an envelope key typo) replays through the full parser.
    assert track(client, tenant, b'{"track": {"name": "E"}}').status_code == 400
    assert replay(client, tenant).json()["failed"][0]["message"].startswith("invalid track")


def test_listing_pages(client: Client, tenant: Tenant) -> None:
    items = [{"eventId": f"b{i}"} for i in range(5)]
    track(client, tenant, {"track": [{"name": "E", "payload": items}]})
    first = listing(client, tenant, limit="2")
    second = listing(client, tenant, limit="2", cursor=first["next"])
    third = listing(client, tenant, limit="2", cursor=second["next"])
    raws = [e["raw"] for page in (first, second, third) for e in page["items"]]
    assert raws == [msgspec.json.encode(i).decode() for i in items]
    assert third["next"] is None
    bad = client.get(f"{tenant.base}/quarantine", params={"status": "x"}, headers=tenant.headers)
    assert bad.status_code == 400


def test_a_replayed_product_is_in_the_report(client: Client, tenant: Tenant) -> None:
    """Issue 11 (Deliver 7): replaying a feed's rejected product used to report nothing
    (`replayed: 1, accepted: 0`); the report counts the products it wrote."""
    upload(client, tenant, feed(hoodie("A"), {**hoodie("Q"), "price": "cheap"}))
    [entry] = listing(client, tenant)["items"]
    assert entry["kind"] == "product"
    fixed = {"ids": [entry["id"]], "item": {**hoodie("Q"), "price": 3}}
    report = replay(client, tenant, fixed).json()
    assert report["products"] == {"created": 1, "updated": 0, "unchanged": 0}
    assert (report["replayed"], report["accepted"], report["failed"]) == (1, 0, [])
    # A product item (received after the feed's import, so newer) updates its product.
    item = {"eventId": "p1", "productId": "A", "data": {"price": "x"}}
    track(client, tenant, {"track": [{"name": "Product", "payload": [item]}]})
    [bad] = listing(client, tenant)["items"]
    corrected = {"ids": [bad["id"]], "item": {**item, "data": {"price": 9}}}
    report = replay(client, tenant, corrected).json()
    assert report["products"] == {"created": 0, "updated": 1, "unchanged": 0}, report
    assert report["accepted"] == 1
