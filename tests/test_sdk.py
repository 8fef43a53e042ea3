"""The real, unmodified `intempt` SDK against a live Headwater server on a real socket (issue 2)."""

from __future__ import annotations

import dataclasses
import http.client
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import intempt
import pytest

from tests.conftest import BACKENDS, database
from tests.live_server import LiveServer, live_server


@dataclasses.dataclass
class Sent:
    """One request exactly as the SDK put it on the wire."""

    path: str
    body: bytes
    headers: dict[str, str]


@dataclasses.dataclass
class Wire:
    """Everything the SDK sent in a test, and what the server answered."""

    sent: list[Sent] = dataclasses.field(default_factory=list)
    answers: list[Any] = dataclasses.field(default_factory=list)


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("sdk")
    with database(request.param, folder) as url, live_server(folder, database_url=url) as running:
        yield running


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    """Record the SDK's requests without changing them.

    The bytes come from `http.client`, which the SDK's transport writes through; the decoded
    answers come from the public `intempt.Transport.post`. httpx does not use `http.client`.
    """
    recorded = Wire()
    send = http.client.HTTPConnection.request
    post = intempt.Transport.post

    def request(self: http.client.HTTPConnection, method: str, url: str, *a: Any, **k: Any) -> None:
        body = k.get("body", a[0] if a else None)
        headers = k.get("headers", a[1] if len(a) > 1 else {})
        if method == "POST" and isinstance(body, bytes):
            recorded.sent.append(Sent(url, body, dict(headers)))
        send(self, method, url, *a, **k)

    def record_answer(self: Any, path: str, body: Any) -> Any:
        answer = post(self, path, body)
        recorded.answers.append(answer)
        return answer

    monkeypatch.setattr(http.client.HTTPConnection, "request", request)
    monkeypatch.setattr(intempt.Transport, "post", record_answer)
    return recorded


def sdk(server: LiveServer, **options: Any) -> intempt.Intempt:
    return intempt.Intempt(
        org=server.org,
        project=server.project,
        api_key=server.api_key,
        host=f"127.0.0.1:{server.port}",
        scheme="http",
        **options,
    )


def events(server: LiveServer, **filters: str) -> list[dict[str, Any]]:
    """Every stored event matching the filters, through the read API, all pages."""
    found: list[dict[str, Any]] = []
    params = {**filters, "limit": "1000"}
    with server.client() as http:
        while True:
            response = http.get(f"{server.project_url}/events", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            found.extend(page["events"])
            if page["next"] is None:
                return found
            params["cursor"] = page["next"]


def by_event_id(server: LiveServer, event_id: str) -> list[dict[str, Any]]:
    with server.client() as http:
        response = http.get(f"{server.project_url}/events/{event_id}")
    assert response.status_code == 200, response.text
    stored: list[dict[str, Any]] = response.json()["events"]
    return stored


def resend(server: LiveServer, sent: Sent) -> httpx.Response:
    """Post the SDK's exact bytes again, with its own headers (auth included)."""
    with httpx.Client(base_url=server.base_url, timeout=10.0) as http:
        return http.post(sent.path, content=sent.body, headers=sent.headers)


def items_in(sent: Sent) -> int:
    return sum(len(group["payload"]) for group in json.loads(sent.body)["track"])


def user() -> str:
    return f"user-{uuid.uuid4()}"


def test_track(server: LiveServer, wire: Wire) -> None:
    # Issue 2: a single SDK track() is stored with its name, user and properties.
    user_id = user()
    with sdk(server) as client:
        client.track("Signed Up", user_id=user_id, properties={"plan": "pro", "seats": 3})

    assert [s.path for s in wire.sent] == ["/v1/default/projects/default/track"]
    assert wire.answers == [{"accepted": 1, "duplicates": 0, "rejected": []}]
    stored = events(server, userId=user_id)
    assert len(stored) == 1
    event = stored[0]
    sent_item = json.loads(wire.sent[0].body)["track"][0]["payload"][0]
    assert event["eventName"] == "Signed Up"
    assert event["eventId"] == sent_item["eventId"]
    assert event["line"] == 0
    assert event["userId"] == user_id
    assert event["data"] == {"plan": "pro", "seats": 3}
    assert event["timestamp"] == sent_item["timestamp"]


def test_track_batch_is_chunked_and_fully_stored(server: LiveServer, wire: Wire) -> None:
    # Issue 2: track_batch of 120 goes out as requests of at most 50; all 120 are stored.
    user_id = user()
    batch = [
        {"event": "Batch Item", "user_id": user_id, "properties": {"i": i}} for i in range(120)
    ]
    with sdk(server) as client:
        client.track_batch(batch)

    assert [items_in(s) for s in wire.sent] == [50, 50, 20]
    assert sum(a["accepted"] for a in wire.answers) == 120
    stored = events(server, userId=user_id)
    assert len(stored) == 120
    assert sorted(e["data"]["i"] for e in stored) == list(range(120))
    assert len({e["eventId"] for e in stored}) == 120
    assert {e["eventName"] for e in stored} == {"Batch Item"}

    # Invariant 2: the same three requests again change nothing and report duplicates.
    for sent in wire.sent:
        again = resend(server, sent)
        assert again.status_code == 201, again.text
        assert again.json() == {"accepted": 0, "duplicates": items_in(sent), "rejected": []}
    assert len(events(server, userId=user_id)) == 120


def test_identify_traits_become_user_attributes(server: LiveServer, wire: Wire) -> None:
    # Issue 2: identify() arrives as an "Identify" event whose traits are userAttributes.
    user_id = user()
    profile_id = f"device-{uuid.uuid4()}"
    traits = {"email": "ada@example.com", "plan": "enterprise", "age": 36}
    with sdk(server) as client:
        client.identify(user_id=user_id, profile_id=profile_id, traits=traits)

    assert wire.answers == [{"accepted": 1, "duplicates": 0, "rejected": []}]
    stored = events(server, userId=user_id)
    assert len(stored) == 1
    assert stored[0]["eventName"] == "Identify"
    assert stored[0]["userAttributes"] == traits
    assert stored[0]["profileId"] == profile_id
    assert stored[0]["accountAttributes"] is None


def test_group_attributes_become_account_attributes(server: LiveServer, wire: Wire) -> None:
    # Issue 2: group() carries accountId and its attributes as accountAttributes.
    user_id = user()
    account_id = f"acct-{uuid.uuid4()}"
    attributes = {"name": "Acme Corp", "employees": 250}
    with sdk(server) as client:
        client.group(account_id=account_id, user_id=user_id, attributes=attributes)

    assert wire.answers == [{"accepted": 1, "duplicates": 0, "rejected": []}]
    stored = events(server, accountId=account_id)
    assert len(stored) == 1
    assert stored[0]["eventName"] == "Identify"
    assert stored[0]["accountId"] == account_id
    assert stored[0]["userId"] == user_id
    assert stored[0]["accountAttributes"] == attributes


def test_order_lines_share_an_event_id_and_resend_is_a_duplicate(
    server: LiveServer, wire: Wire
) -> None:
    # Issue 2 / invariant 2: three order lines share one eventId and are all kept (lines 0-2);
    # the SDK's exact bytes posted again are reported as duplicates and store nothing new.
    user_id = user()
    products = [
        {"product_id": "sku-1", "quantity": 1},
        {"product_id": "sku-2", "quantity": 2},
        {"product_id": "sku-3"},
    ]
    with sdk(server) as client:
        client.ecommerce.ordered(products=products, user_id=user_id)

    assert len(wire.sent) == 1
    payload = json.loads(wire.sent[0].body)["track"][0]["payload"]
    event_id = payload[0]["eventId"]
    assert {item["eventId"] for item in payload} == {event_id}
    assert wire.answers == [{"accepted": 3, "duplicates": 0, "rejected": []}]

    stored = by_event_id(server, event_id)
    assert sorted((e["line"], e["data"]["productId"]) for e in stored) == [
        (0, "sku-1"),
        (1, "sku-2"),
        (2, "sku-3"),
    ]
    assert {e["eventName"] for e in stored} == {"Product ordered"}
    before = events(server, userId=user_id)
    assert len(before) == 3

    again = resend(server, wire.sent[0])
    assert again.status_code == 201, again.text
    assert again.json() == {"accepted": 0, "duplicates": 3, "rejected": []}
    assert by_event_id(server, event_id) == stored
    assert events(server, userId=user_id) == before


def test_source_id_posts_to_the_source_track_path(server: LiveServer, wire: Wire) -> None:
    # Issue 2: with source_id configured the SDK posts to …/sources/{id}/track, which works.
    user_id = user()
    with sdk(server, source_id=server.source_id) as client:
        client.track("Source Event", user_id=user_id, properties={"via": "source"})

    path = f"/v1/default/projects/default/sources/{server.source_id}/track"
    assert [s.path for s in wire.sent] == [path]
    assert wire.answers == [{"accepted": 1, "duplicates": 0, "rejected": []}]
    stored = events(server, userId=user_id)
    assert len(stored) == 1
    assert stored[0]["eventName"] == "Source Event"
    assert stored[0]["sourceId"] == server.source_id
    assert stored[0]["data"] == {"via": "source"}


def test_profiles_from_the_sdk(server: LiveServer) -> None:
    # issue 4: identify, group, track and ecommerce through the SDK, read back as one person
    user = f"sdk-{uuid.uuid4()}"
    client = sdk(server)
    client.identify(user_id=user, profile_id=f"{user}-device", traits={"plan": "pro"})
    client.group(account_id="acme", user_id=user, attributes={"seats": 5})
    client.track("Charge", user_id=user, properties={"amount": 42.5, "status": "succeeded"})
    client.ecommerce.ordered(user_id=user, products=[{"product_id": "a"}, {"product_id": "b"}])
    client.ecommerce.product_viewed(profile_id=f"{user}-device", product_id="c")
    client.close()
    with server.client() as http:
        by_device = http.get(f"{server.project_url}/profiles/lookup",
                             params={"profileId": f"{user}-device"}).json()  # fmt: skip
        by_user = http.get(f"{server.project_url}/profiles/lookup", params={"userId": user})
    assert by_user.status_code == 200, by_user.text
    person = by_user.json()
    assert person == by_device
    assert person["userIds"] == [user] and person["profileIds"] == [f"{user}-device"]
    assert person["attributes"] == {"plan": "pro"}
    assert person["computed"]["ltv"] == 42.5 and person["computed"]["orders"] == 1
    assert person["computed"]["event_count"] == 6  # identify, group, charge, 2 lines, view


def test_orders_count_once_per_sdk_call(server: LiveServer) -> None:
    # issue 11 Deliver 3: the SDK shares one eventId across an order's lines; each call is
    # one order, however many lines (the browser's shape: tests/test_profiles.py)
    user = f"sdk-{uuid.uuid4()}"
    with sdk(server) as client:
        client.ecommerce.ordered(user_id=user, products=[{"product_id": "a", "quantity": 2},
                                                         {"product_id": "b"}])  # fmt: skip
        client.ecommerce.ordered(user_id=user, products=[{"product_id": "c"}])
    with server.client() as http:
        found = http.get(f"{server.project_url}/profiles/lookup", params={"userId": user})
    assert found.status_code == 200, found.text
    assert found.json()["computed"]["orders"] == 2
    assert found.json()["computed"]["event_count"] == 3
