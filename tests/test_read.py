"""Read API (issue 2 §8): filters, cursor pagination, lookups by eventId."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from tests.conftest import Tenant

Client = TestClient[Any]
T0 = 1_714_631_904_000


@pytest.fixture
def seeded(client: Client, tenant: Tenant) -> Tenant:
    items = [
        {
            "eventId": f"e{i}",
            "timestamp": T0 + i * 1000,
            "userId": f"u{i % 3}",
            "profileId": f"p{i % 2}",
            "accountId": "acme" if i < 4 else "globex",
            "userAttributes": {"n": i},
        }
        for i in range(10)
    ]
    body = {
        "track": [
            {"name": "Even" if i % 2 == 0 else "Odd", "payload": [item]}
            for i, item in enumerate(items)
        ]
    }
    response = client.post(
        f"{tenant.base}/track", content=msgspec.json.encode(body), headers=tenant.headers
    )
    assert response.json()["accepted"] == 10
    return tenant


def ids(client: Client, tenant: Tenant, **params: Any) -> list[str]:
    response = client.get(f"{tenant.base}/events", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return [e["eventId"] for e in response.json()["events"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, [f"e{i}" for i in range(10)]),
        ({"userId": "u1"}, ["e1", "e4", "e7"]),
        ({"profileId": "p0"}, ["e0", "e2", "e4", "e6", "e8"]),
        ({"accountId": "acme"}, ["e0", "e1", "e2", "e3"]),
        ({"eventName": "Odd"}, ["e1", "e3", "e5", "e7", "e9"]),
        ({"from": str(T0 + 7000)}, ["e7", "e8", "e9"]),
        ({"to": str(T0 + 2000)}, ["e0", "e1"]),
        ({"from": "2024-05-02T06:38:26Z", "to": "2024-05-02T06:38:28Z"}, ["e2", "e3"]),
        ({"userId": "u0", "eventName": "Even"}, ["e0", "e6"]),
        ({"order": "desc", "limit": "3"}, ["e9", "e8", "e7"]),
        ({"userId": "nobody"}, []),
    ],
)
def test_filters(
    client: Client, seeded: Tenant, params: dict[str, str], expected: list[str]
) -> None:
    assert ids(client, seeded, **params) == expected


@pytest.mark.parametrize("order", ["asc", "desc"])
def test_cursor_pagination_visits_every_event_once(
    client: Client, seeded: Tenant, order: str
) -> None:
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "3", "order": order, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"{seeded.base}/events", params=params, headers=seeded.headers).json()
        seen += [e["eventId"] for e in page["events"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    expected = [f"e{i}" for i in range(10)]
    assert seen == (expected if order == "asc" else expected[::-1])
    assert pages == 4  # 3 + 3 + 3 + 1: the last page says there is no next


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"cursor": "garbage"}, "cursor"),
        ({"from": "last week"}, "from"),
        ({"order": "up"}, "order"),
    ],
)
def test_bad_query_parameters_are_400(
    client: Client, seeded: Tenant, params: dict[str, str], path: str
) -> None:
    response = client.get(f"{seeded.base}/events", params=params, headers=seeded.headers)
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == path


def test_event_view_has_ids_times_and_attributes(client: Client, seeded: Tenant) -> None:
    response = client.get(f"{seeded.base}/events/e4", headers=seeded.headers)
    assert response.status_code == 200
    [event] = response.json()["events"]
    assert event["eventName"] == "Even"
    assert event["timestamp"] == T0 + 4000
    assert isinstance(event["receivedAt"], int)
    assert event["userAttributes"] == {"n": 4}
    assert (event["userId"], event["profileId"], event["accountId"]) == ("u1", "p0", "globex")


def test_unknown_event_id_is_404(client: Client, seeded: Tenant) -> None:
    response = client.get(f"{seeded.base}/events/nope", headers=seeded.headers)
    assert response.status_code == 404
    assert response.json() == {
        "errors": [{"message": "no event with eventId 'nope'", "path": "eventId"}]
    }


@pytest.mark.parametrize("name", ["from", "to"])
def test_huge_times_are_400_on_every_store(client: Client, seeded: Tenant, name: str) -> None:
    params = {name: "99999999999999999999999"}
    response = client.get(f"{seeded.base}/events", params=params, headers=seeded.headers)
    assert response.status_code == 400
    assert response.json()["errors"][0] == {"message": f"{name} is out of range", "path": name}


def test_forged_cursors_are_400(client: Client, seeded: Tenant) -> None:
    from headwater.model.views import encode_cursor

    for url, cursor in ((f"{seeded.base}/events", encode_cursor(10**30, 1)),
                        (f"{seeded.base}/quarantine", encode_cursor(10**30))):  # fmt: skip
        response = client.get(url, params={"cursor": cursor}, headers=seeded.headers)
        assert response.status_code == 400, url


def test_nul_in_a_filter_is_400(client: Client, seeded: Tenant) -> None:
    response = client.get(f"{seeded.base}/events", params={"userId": "u\x00"},
                          headers=seeded.headers)  # fmt: skip
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "userId"
