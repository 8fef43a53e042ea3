"""The access log (issue 11, Deliver 5): one JSON line per request, refusals included, with
the route template, status, duration, key prefix and track's item counts; never a secret."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from headwater.api import observe
from headwater.clock import now_ms
from headwater.store.base import Store
from headwater.tenancy import provision
from tests.conftest import Tenant, basic

Client = TestClient[Any]
Lines = Callable[[], list[dict[str, Any]]]
TRACK = "/v1/{org}/projects/{project}/track"
GOOD = {"eventId": "a1", "userId": "u1"}
NO_IDENTITY = {"eventId": "a2", "userId": "null"}


def body(*items: Any) -> bytes:
    return msgspec.json.encode({"track": [{"name": "Signed up", "payload": list(items)}]})


@pytest.fixture
def written(capsys: pytest.CaptureFixture[str]) -> Callable[[], str]:
    """Everything written to stderr so far, the access log among it."""
    seen: list[str] = []

    def read() -> str:
        deadline = time.monotonic() + 10  # lines are written at the end of a loop iteration
        while observe.pending() and time.monotonic() < deadline:
            time.sleep(0.001)
        seen.append(capsys.readouterr().err)
        return "".join(seen)

    return read


@pytest.fixture
def lines(written: Callable[[], str]) -> Lines:
    """The access log's lines so far, parsed."""
    access = '"logger":"headwater.access"'
    return lambda: [json.loads(line) for line in written().splitlines() if access in line]


def secrets_of(api_key: str) -> list[str]:
    """Every form in which a key's secret could leak: raw, whole key, Basic token."""
    prefix, _, secret = api_key.partition(".")
    token = base64.b64encode(f"{prefix}:{secret}".encode()).decode()
    return [secret, api_key, token]


def test_a_track_request_logs_its_route_key_prefix_and_item_counts(
    client: Client, tenant: Tenant, lines: Lines, written: Callable[[], str]
) -> None:
    url = f"{tenant.base}/track"
    assert client.post(url, content=body(GOOD, NO_IDENTITY), headers=tenant.headers).status_code
    assert client.post(url, content=body(GOOD), headers=tenant.headers).status_code == 201
    first, again = lines()
    prefix = tenant.key.api_key.partition(".")[0]
    assert first["logger"] == "headwater.access" and first["level"] == "info"
    assert first["message"] == f"POST {TRACK} 201"
    assert {k: first[k] for k in ("method", "route", "status", "key_prefix")} == {
        "method": "POST",
        "route": TRACK,
        "status": 201,
        "key_prefix": prefix,
    }
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    counts = ("accepted", "duplicates", "rejected", "refused")
    assert [first[k] for k in counts] == [1, 0, 1, 0]
    assert [again[k] for k in counts] == [0, 1, 0, 0]
    assert not any(s in written() for s in secrets_of(tenant.key.api_key))


def test_the_route_template_is_logged_never_the_path(
    client: Client, tenant: Tenant, lines: Lines
) -> None:
    # No identifiers in logs: the path holds project slugs and person ids, the query emails.
    lookup = f"{tenant.base}/profiles/lookup"
    response = client.get(lookup, params={"userId": "alice@example.com"}, headers=tenant.headers)
    assert response.status_code == 404
    client.get("/no/such/alice@example.com")
    [found, unmatched] = lines()
    assert found["route"] == "/v1/{org}/projects/{project}/profiles/lookup"
    assert (found["status"], found["key_prefix"]) == (404, tenant.key.api_key.split(".")[0])
    assert (unmatched["route"], unmatched["status"]) == ("unmatched", 404)
    assert "alice" not in json.dumps(lines()) and "acme" not in json.dumps(lines())


Auth = Callable[[Store, Tenant], tuple[dict[str, str], str | None]]


def _prefix(api_key: str) -> str:
    return api_key.partition(".")[0]


def _revoked(store: Store, tenant: Tenant) -> tuple[dict[str, str], str | None]:
    store.revoke_key(_prefix(tenant.key.api_key), now_ms())
    return tenant.headers, _prefix(tenant.key.api_key)


def _ingest_only(store: Store, tenant: Tenant) -> tuple[dict[str, str], str | None]:
    made = provision.create_key(store, tenant.key.org, tenant.key.project, scopes=["ingest"])
    return basic(made.api_key), _prefix(made.api_key)


def _other_project(store: Store, tenant: Tenant) -> tuple[dict[str, str], str | None]:
    made = provision.create_key(store, "globex", "app")
    return basic(made.api_key), _prefix(made.api_key)


# (case, credentials and the prefix to log (a verified key's only), route, status)
REFUSALS: list[tuple[str, Auth, str, int]] = [
    ("no key", lambda s, t: ({}, None), "track", 401),
    ("unknown key", lambda s, t: (basic("0123456789abcdef.wrong"), None), "track", 401),
    ("wrong secret", lambda s, t: (basic(t.key.api_key + "x"), None), "events", 401),
    ("revoked key", _revoked, "events", 401),
    ("missing scope", _ingest_only, "events", 403),
    ("another project's key", _other_project, "track", 404),
    ("another project's key", _other_project, "events", 404),
]


@pytest.mark.parametrize(
    ("case", "auth", "route", "status"), REFUSALS, ids=[r[0] for r in REFUSALS]
)
def test_unauthorized_requests_are_visible(
    client: Client,
    store: Store,
    tenant: Tenant,
    lines: Lines,
    written: Callable[[], str],
    case: str,
    auth: Auth,
    route: str,
    status: int,
) -> None:
    headers, prefix = auth(store, tenant)
    if route == "track":
        response = client.post(f"{tenant.base}/track", content=body(GOOD), headers=headers)
    else:
        response = client.get(f"{tenant.base}/events", headers=headers)
    assert response.status_code == status, response.text
    [line] = lines()
    assert (line["status"], line["route"]) == (status, f"/v1/{{org}}/projects/{{project}}/{route}")
    # What an unverified client claims is not logged: it may be anything, a secret too.
    assert line.get("key_prefix") == prefix
    assert "accepted" not in line  # refused before any item was read
    assert not any(s in written() for s in secrets_of(tenant.key.api_key))
    claimed = headers.get("Authorization", "Basic ")[6:]
    assert not claimed or claimed not in written()


def test_rejected_requests_are_visible(make_client: Any, tenant: Tenant, lines: Lines) -> None:
    client = make_client(max_body_bytes=1000, max_items_per_request=2)
    url = f"{tenant.base}/track"
    statuses = [
        client.post(url, content=b"{not json", headers=tenant.headers).status_code,
        client.post(url, content=body(NO_IDENTITY), headers=tenant.headers).status_code,
        client.post(url, content=body(GOOD, GOOD, GOOD), headers=tenant.headers).status_code,
        client.post(url, content=b" " * 2000, headers=tenant.headers).status_code,
        client.get(url, headers=tenant.headers).status_code,
    ]
    assert statuses == [400, 400, 413, 413, 405]
    logged = lines()
    assert [line["status"] for line in logged] == statuses
    unreadable, no_identity = logged[0], logged[1]
    # Nothing is silently dropped: an unreadable body is one rejected (quarantined) item.
    assert (unreadable["accepted"], unreadable["rejected"]) == (0, 1)
    assert (no_identity["accepted"], no_identity["rejected"]) == (0, 1)


def test_the_query_string_key_never_reaches_the_log(
    client: Client, tenant: Tenant, lines: Lines, written: Callable[[], str]
) -> None:
    params = {"apiKey": tenant.key.api_key}
    client.post(f"{tenant.base}/track", content=body(GOOD), params=params)
    client.get(f"{tenant.base}/events", params=params)
    assert [line["status"] for line in lines()] == [201, 200]
    assert all(line["key_prefix"] == tenant.key.api_key.split(".")[0] for line in lines())
    assert not any(s in written() for s in secrets_of(tenant.key.api_key))


def test_the_access_log_can_be_switched_off(make_client: Any, tenant: Tenant, lines: Lines) -> None:
    client = make_client(access_log=False)
    assert client.post(f"{tenant.base}/track", content=body(GOOD)).status_code == 401
    assert client.get("/healthz").status_code == 200
    assert lines() == []
