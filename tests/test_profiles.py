"""Profiles (issue 4 §1, §2, §7): identity across devices, attributes, read-your-writes."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from tests.conftest import Tenant

Client = TestClient[Any]
T = 1_714_631_904_000


def track(client: Client, tenant: Tenant, name: str, *items: dict[str, Any]) -> None:
    body = msgspec.json.encode({"track": [{"name": name, "payload": list(items)}]})
    response = client.post(f"{tenant.base}/track", content=body, headers=tenant.headers)
    assert response.status_code == 201, response.text


def lookup(client: Client, tenant: Tenant, **params: str) -> Any:
    return client.get(f"{tenant.base}/profiles/lookup", params=params, headers=tenant.headers)


def test_anonymous_browsing_then_sign_in_is_one_person(client: Client, tenant: Tenant) -> None:
    track(client, tenant, "View Page", {"eventId": "v1", "profileId": "prof_1", "timestamp": T})
    track(client, tenant, "View Page", {"eventId": "v2", "profileId": "prof_2", "timestamp": T})
    track(
        client,
        tenant,
        "Identify",
        {
            "eventId": "i1",
            "profileId": "prof_1",
            "userId": "ada",
            "timestamp": T + 10,
            "userAttributes": {"plan": "free", "email": "ada@example.com"},
        },
        {"eventId": "i2", "profileId": "prof_2", "userId": "ada", "timestamp": T + 20},
    )
    track(client, tenant, "Upgraded",
          {"eventId": "u1", "userId": "ada", "timestamp": T + 30,
           "userAttributes": {"plan": "pro"}})  # fmt: skip
    # invariant 4: the first read after the 2xx sees everything
    by_user = lookup(client, tenant, userId="ada").json()
    by_device = lookup(client, tenant, profileId="prof_2").json()
    assert by_user == by_device
    assert by_user["userIds"] == ["ada"] and by_user["profileIds"] == ["prof_1", "prof_2"]
    assert by_user["attributes"] == {"plan": "pro", "email": "ada@example.com"}
    assert by_user["attributeSources"]["plan"]["eventId"] == "u1"
    assert by_user["computed"] == {"first_seen": T, "last_seen": T + 30, "event_count": 5}


def test_late_events_do_not_overwrite_newer_attributes(client: Client, tenant: Tenant) -> None:
    track(
        client,
        tenant,
        "Identify",
        {
            "eventId": "new",
            "userId": "bo",
            "timestamp": T + 100,
            "userAttributes": {"city": "Oslo"},
        },
    )
    track(
        client,
        tenant,
        "Identify",
        {"eventId": "old", "userId": "bo", "timestamp": T, "userAttributes": {"city": "Rome"}},
    )
    assert lookup(client, tenant, userId="bo").json()["attributes"] == {"city": "Oslo"}


def test_null_unsets_an_attribute(client: Client, tenant: Tenant) -> None:
    track(
        client,
        tenant,
        "Identify",
        {"eventId": "a", "userId": "cy", "timestamp": T, "userAttributes": {"coupon": "X"}},
        {"eventId": "b", "userId": "cy", "timestamp": T + 1, "userAttributes": {"coupon": None}},
    )
    assert lookup(client, tenant, userId="cy").json()["attributes"] == {}


def test_a_shared_device_never_merges_two_users(client: Client, tenant: Tenant) -> None:
    track(
        client,
        tenant,
        "Identify",
        {"eventId": "k1", "profileId": "kiosk", "userId": "ann", "timestamp": T},
        {"eventId": "k2", "profileId": "kiosk", "userId": "ben", "timestamp": T + 5},
    )
    ann, ben = (
        lookup(client, tenant, userId="ann").json(),
        lookup(client, tenant, userId="ben").json(),
    )
    assert ann["profileIds"] == ["kiosk"] and ben["profileIds"] == []
    assert ben["computed"]["event_count"] == 1  # k2 is ben's: its userId says so
    history = client.get(
        f"{tenant.base}/profiles/{ben['id']}/identity-history", headers=tenant.headers
    ).json()["history"]
    assert [(h["type"], h["eventId"]) for h in history] == [("conflict", "k2")]


def test_an_alias_merges_two_users(client: Client, tenant: Tenant) -> None:
    track(client, tenant, "E", {"eventId": "x1", "userId": "old-id", "timestamp": T})
    track(client, tenant, "Identify",
          {"eventId": "al", "profileId": "p9", "userId": "new-id", "anotherUserId": "old-id",
           "timestamp": T + 1})  # fmt: skip
    person = lookup(client, tenant, userId="old-id").json()
    assert person["userIds"] == ["new-id", "old-id"] and person["profileIds"] == ["p9"]
    assert person["computed"]["event_count"] == 2


def test_unknown_identifiers_and_bad_lookups(client: Client, tenant: Tenant) -> None:
    assert lookup(client, tenant, userId="nobody").status_code == 404
    assert lookup(client, tenant, userId="undefined").status_code == 404
    assert lookup(client, tenant).status_code == 400
    assert lookup(client, tenant, userId="a", profileId="b").status_code == 400
    bad = client.get(f"{tenant.base}/profiles/zz/identity-history", headers=tenant.headers)
    assert bad.status_code == 404


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 1, 0], [1, 2, 0]])
def test_arrival_order_does_not_matter(client: Client, tenant: Tenant, order: list[int]) -> None:
    # invariant 5, through the store: the same events in another order give the same profile
    events = [
        ("Identify", {"eventId": "o1", "profileId": "dev", "userId": "dan", "timestamp": T + 2,
                      "userAttributes": {"tier": "gold"}}),
        ("Identify", {"eventId": "o2", "profileId": "dev", "userId": "eve", "timestamp": T + 1}),
        ("Identify", {"eventId": "o3", "userId": "dan", "timestamp": T + 3,
                      "userAttributes": {"tier": "silver"}}),
    ]  # fmt: skip
    for index in order:
        track(client, tenant, *events[index])
    eve = lookup(client, tenant, userId="eve").json()
    dan = lookup(client, tenant, userId="dan").json()
    assert eve["profileIds"] == ["dev"] and dan["profileIds"] == []
    assert dan["attributes"] == {"tier": "silver"}
