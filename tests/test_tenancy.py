"""Keys, scopes and tenancy (issue 2 §2; invariant 6)."""

from __future__ import annotations

import base64
import logging
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from headwater.store.base import Store
from headwater.tenancy import keys, provision
from tests.conftest import Tenant, basic

Client = TestClient[Any]
BODY = msgspec.json.encode({"track": [{"name": "E", "payload": [{"userId": "u1"}]}]})


def test_only_a_hash_of_the_secret_is_stored(store: Store, tenant: Tenant) -> None:
    prefix, secret = keys.split_key(tenant.key.api_key)
    record = store.find_key(prefix)
    assert record is not None
    assert record.secret_sha256 == keys.digest(secret) != secret
    assert record.scopes == frozenset({"ingest", "read", "admin"})


def test_basic_auth_and_deprecated_query_key_both_work(
    client: Client, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"{tenant.base}/track"
    assert client.post(url, content=BODY, headers=tenant.headers).status_code == 201
    with caplog.at_level(logging.WARNING, logger="headwater.auth"):
        response = client.post(url, content=BODY, params={"apiKey": tenant.key.api_key})
    assert response.status_code == 201
    assert "deprecated" in caplog.text
    assert tenant.key.api_key.split(".")[1] not in caplog.text  # no secret in logs


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer abc"},
        {"Authorization": "Basic !!!"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        basic("unknownprefix.secret"),
    ],
)
def test_missing_or_bad_credentials_are_401(
    client: Client, tenant: Tenant, headers: dict[str, str]
) -> None:
    response = client.post(f"{tenant.base}/track", content=BODY, headers=headers)
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"]


def test_wrong_secret_is_401(client: Client, tenant: Tenant) -> None:
    prefix, _ = keys.split_key(tenant.key.api_key)
    response = client.post(f"{tenant.base}/track", content=BODY, headers=basic(f"{prefix}.wrong"))
    assert response.status_code == 401
    assert response.json() == {"errors": [{"message": "invalid API key"}]}
    bad_query = client.post(f"{tenant.base}/track", content=BODY, params={"apiKey": "nodot"})
    assert bad_query.status_code == 401


def test_a_key_cannot_read_or_write_another_project(
    client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    # invariant 6: another project's path answers as if it did not exist
    assert (
        client.post(
            f"{other_tenant.base}/track", content=BODY, headers=other_tenant.headers
        ).status_code
        == 201
    )
    for method, path in (
        ("POST", "track"),
        ("GET", "events"),
        ("GET", "quarantine"),
        ("GET", "events/x"),
        ("POST", "quarantine/replay"),
        ("GET", "sources"),
        ("POST", "sources"),
        ("POST", f"sources/{other_tenant.key.source_id}/track"),
    ):
        response = client.request(
            method, f"{other_tenant.base}/{path}", content=BODY, headers=tenant.headers
        )
        assert response.status_code == 404, path
        assert response.json() == {"errors": [{"message": "project globex/app not found"}]}
    missing = client.get("/v1/nope/projects/none/events", headers=tenant.headers)
    assert missing.status_code == 404
    mine = client.get(f"{tenant.base}/events", headers=tenant.headers).json()["events"]
    assert mine == []  # project A still sees none of B's events


def test_scopes_are_enforced(client: Client, store: Store) -> None:
    ingest_only = Tenant(provision.create_key(store, "acme", "web", scopes=["ingest"]))
    read_only = Tenant(provision.create_key(store, "acme", "web", scopes=["read"]))
    base = ingest_only.base
    assert (
        client.post(f"{base}/track", content=BODY, headers=ingest_only.headers).status_code == 201
    )
    denied = client.get(f"{base}/events", headers=ingest_only.headers)
    assert denied.status_code == 403
    assert denied.json()["errors"][0]["message"] == "this API key lacks the 'read' scope"
    assert client.post(f"{base}/track", content=BODY, headers=read_only.headers).status_code == 403
    assert client.get(f"{base}/events", headers=read_only.headers).status_code == 200
    replay = client.post(f"{base}/quarantine/replay", content=b"{}", headers=read_only.headers)
    assert replay.status_code == 403


def test_source_paths(client: Client, tenant: Tenant) -> None:
    good = f"{tenant.base}/sources/{tenant.key.source_id}/track"
    assert client.post(good, content=BODY, headers=tenant.headers).status_code == 201
    events = client.get(f"{tenant.base}/events", headers=tenant.headers).json()["events"]
    assert events[0]["sourceId"] == tenant.key.source_id
    unknown = client.post(f"{tenant.base}/sources/1001/track", content=BODY, headers=tenant.headers)
    assert unknown.status_code == 404
    assert unknown.json() == {
        "errors": [{"message": "source '1001' not found in project acme/web", "path": "sourceId"}]
    }


@pytest.mark.parametrize("raw_id", [b"1841503112918048768", b'"1841503112918048768"'])
def test_snowflake_source_ids_round_trip_exactly(
    client: Client, tenant: Tenant, raw_id: bytes
) -> None:
    body = b'{"name": "ios", "id": ' + raw_id + b"}"
    created = client.post(f"{tenant.base}/sources", content=body, headers=tenant.headers)
    assert created.status_code == 201, created.text
    assert b'"id":"1841503112918048768"' in created.content  # a string, never a float
    listed = client.get(f"{tenant.base}/sources", headers=tenant.headers).json()["sources"]
    assert {"id": "1841503112918048768", "name": "ios"} in listed
    track = f"{tenant.base}/sources/1841503112918048768/track"
    assert client.post(track, content=BODY, headers=tenant.headers).status_code == 201


def test_source_names_are_unique(client: Client, tenant: Tenant) -> None:
    url = f"{tenant.base}/sources"
    first = client.post(url, content=b'{"name": "web"}', headers=tenant.headers).json()
    again = client.post(url, content=b'{"name": "web"}', headers=tenant.headers).json()
    assert first == again
    clash = client.post(url, content=b'{"name": "web", "id": 5}', headers=tenant.headers)
    assert clash.status_code == 400
    bad = client.post(url, content=b'{"name": 5}', headers=tenant.headers)
    assert bad.status_code == 400 and bad.json()["errors"][0]["path"] == "name"


def test_create_key_reuses_what_exists(store: Store) -> None:
    first = provision.create_key(store, "acme", "web", "ios")
    second = provision.create_key(store, "acme", "web", "ios")
    assert first.source_id == second.source_id and len(first.source_id) == 19
    assert first.api_key != second.api_key
    with pytest.raises(Exception, match="org must be"):
        provision.create_key(store, "bad slug", "web")


def test_bootstrap_only_on_an_empty_store(store: Store) -> None:
    made = provision.bootstrap(store)
    assert made is not None and (made.org, made.project) == ("default", "default")
    assert provision.bootstrap(store) is None


def test_a_revoked_key_is_refused_once_the_cache_expires(
    make_client: Any, store: Store, tenant: Tenant
) -> None:
    client = make_client(key_cache_seconds=0)
    url = f"{tenant.base}/track"
    assert client.post(url, content=BODY, headers=tenant.headers).status_code == 201
    assert store.revoke_key(tenant.key.api_key.split(".")[0], 1)
    refused = client.post(url, content=BODY, headers=tenant.headers)
    assert refused.status_code == 401
    assert refused.json() == {"errors": [{"message": "this API key has been revoked"}]}
