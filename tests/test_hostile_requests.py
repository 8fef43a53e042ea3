"""Hostile requests around the items (issue 11, findings 6, 7, 10 and 13), both stores.

NUL and bytes that are not UTF-8 in paths and query strings are refused before any store
sees them, naming the parameter; a 5xx body never names the backend; a client that goes
away mid-body is a 400 (not a server error in /metrics); gzip members are bounded.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
from pathlib import Path
from typing import Any, cast

import msgspec
import pytest
from litestar.testing import TestClient

from headwater.api.app import create_app
from headwater.api.body import MAX_GZIP_MEMBERS, gunzip
from headwater.config import Settings
from headwater.errors import StoreUnavailable
from headwater.store.base import Store
from tests.conftest import Tenant
from tests.live_server import live_server

Client = TestClient[Any]
GOOD = {"eventId": "good", "userId": "ada", "accountId": "acme", "data": {"plan": "pro"}}


def track_body(*items: Any) -> bytes:
    return msgspec.json.encode({"track": [{"name": "E", "payload": list(items)}]})


# finding 7: each of these was a 500 on PostgreSQL carrying the backend's error text
HOSTILE_GETS = [
    ("products?category=%00", "category"),
    ("products?brand=%00", "brand"),
    ("products?availability=%00", "availability"),
    ("products?q=%00", "q"),
    ("products?cursor=AA", "cursor"),  # base64 of one NUL byte
    ("products/%00", "productId"),
    ("products/%ED%A0%80", "productId"),
    ("profiles/lookup?userId=%00", "userId"),
    ("profiles/lookup?profileId=%ED%A0%80", "profileId"),
    ("accounts/%00", "accountId"),
    ("accounts/a%00b", "accountId"),
    ("profiles/uAA/events", None),  # a person id decoding to NUL: no such person
    ("profiles/uAA/identity-history", None),
    ("profiles/uAA/consents", None),
    ("events?userId=%00", "userId"),
    ("events/%ED%A0%80", "eventId"),
    ("privacy/export?userId=%00", "userId"),
]


@pytest.mark.parametrize(("path", "parameter"), HOSTILE_GETS)
def test_nul_and_broken_text_never_reach_a_store(
    client: Client, tenant: Tenant, path: str, parameter: str | None
) -> None:
    response = client.get(f"{tenant.base}/{path}", headers=tenant.headers)
    assert response.status_code in (400, 404), response.text
    [error] = response.json()["errors"]
    if parameter is not None:
        assert response.status_code == 400 and error["path"] == parameter
    assert "PostgreSQL" not in response.text and "SQLite" not in response.text


def test_track_refuses_a_nul_source_id(client: Client, tenant: Tenant) -> None:
    response = client.post(
        f"{tenant.base}/sources/%00/track", content=track_body(GOOD), headers=tenant.headers
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "sourceId"


def test_a_source_name_with_nul_is_refused(client: Client, tenant: Tenant) -> None:
    response = client.post(
        f"{tenant.base}/sources", content=b'{"name":"web\\u0000"}', headers=tenant.headers
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"message": "name must not contain the NUL character (\\u0000)", "path": "name"}
    ]


def test_an_attribute_name_in_cesu_bytes_is_refused_not_replaced(
    client: Client, tenant: Tenant
) -> None:
    # finding 13: stored as three U+FFFD characters before
    response = client.put(
        f"{tenant.base}/attributes/%ED%A0%80", content=b'{"strategy":"first"}',
        headers=tenant.headers,
    )  # fmt: skip
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["path"] == "name" and "not valid UTF-8" in error["message"]
    listed = client.get(f"{tenant.base}/attributes", headers=tenant.headers).json()
    assert listed["attributes"] == {}
    fine = client.put(
        f"{tenant.base}/attributes/%EF%BF%BD", content=b'{"strategy":"first"}',
        headers=tenant.headers,
    )  # fmt: skip
    assert fine.status_code == 200 and fine.json()["name"] == "\ufffd"  # a real U+FFFD is text


def test_overlong_filters_are_refused(make_client: Any, tenant: Tenant) -> None:
    client = make_client(max_string_length=10)
    for path, name in [("products?brand=" + "b" * 11, "brand"), ("accounts/" + "a" * 11,
                       "accountId"), ("profiles/lookup?userId=" + "u" * 11, "userId")]:  # fmt: skip
        response = client.get(f"{tenant.base}/{path}", headers=tenant.headers)
        assert response.status_code == 400, path
        assert response.json()["errors"][0]["path"] == name
        assert "at most 10 characters" in response.json()["errors"][0]["message"]


class _DownStore:
    """A store whose reads fail as a PostgreSQL outage does."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        if name in ("list_products", "ping"):

            def down(*_: Any, **__: Any) -> Any:
                raise StoreUnavailable("PostgreSQL unavailable (read): connection refused")

            return down
        return getattr(self._store, name)


def test_a_5xx_body_never_names_the_backend(
    store: Store, settings: Settings, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    app: Any = create_app(settings, cast(Store, _DownStore(store)))
    with TestClient(app) as client:
        response = client.get(f"{tenant.base}/products", headers=tenant.headers)
        ready = client.get("/readyz")
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert ready.status_code == 503 and ready.headers["retry-after"] == "1"
    for answer in (response, ready):
        assert "PostgreSQL" not in answer.text and "connection refused" not in answer.text
        assert "database is unavailable" in answer.json()["errors"][0]["message"]
    assert "PostgreSQL unavailable (read): connection refused" in caplog.text  # logged


def drive_leaving(
    app: Any, path: str, headers: list[tuple[bytes, bytes]], part: bytes = b'{"track":[{"na'
) -> tuple[int, bytes]:
    """One request through the ASGI app whose client sends `part` of the body, then leaves."""
    sent: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": part, "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": "POST", "path": path, "raw_path": path.encode(),
        "query_string": b"", "headers": headers, "http_version": "1.1", "scheme": "http",
        "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000), "root_path": "",
        "app": app, "state": {},
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], b"".join(m.get("body", b"") for m in sent)


@pytest.mark.parametrize(
    "route", ["track", "catalog/imports", "sources", "consents/data", "quarantine/replay"]
)
def test_a_client_leaving_mid_body_is_a_400(client: Client, tenant: Tenant, route: str) -> None:
    # finding 10: Litestar's "client disconnected" was a 500, counted as a server error
    app = client.app
    headers = [(k.lower().encode(), v.encode()) for k, v in tenant.headers.items()]
    headers.append((b"content-length", b"1000"))
    status, body = drive_leaving(app, f"{tenant.base}/{route}", headers)
    assert status == 400, body
    assert b"disconnected" in body


def test_a_real_client_half_closing_is_not_a_server_error(tmp_path: Path) -> None:
    # finding 10 on a real socket: Content-Length promised, half the body, then FIN
    with live_server(tmp_path) as server:
        for route in ("track", "sources", "catalog/imports"):
            path = f"/v1/{server.org}/projects/{server.project}/{route}"
            auth = server.headers["Authorization"]
            for tail in (b'{"name":', b"5\r\nabc"):
                chunked = tail.startswith(b"5")
                framing = (
                    b"Transfer-Encoding: chunked\r\n" if chunked else b"Content-Length: 500\r\n"
                )
                with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
                    sock.sendall(
                        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n".encode()
                        + framing + b"\r\n" + tail
                    )  # fmt: skip
                    sock.shutdown(socket.SHUT_WR)
                    while sock.recv(65536):
                        pass
        with server.client() as http:
            metrics = http.get("/metrics").text
            assert http.get("/healthz").status_code == 200
    server_errors = [
        line for line in metrics.splitlines()
        if line.startswith("headwater_request") and 'status="5' in line
    ]  # fmt: skip
    assert server_errors == [], server_errors


def test_gzip_members_are_bounded(client: Client, tenant: Tenant) -> None:
    # finding 6: 200,000 tiny members held the event loop 26 s (quadratic copying)
    text = track_body(GOOD)
    members = b"".join(gzip.compress(text[i : i + 1]) for i in range(len(text)))
    assert len(text) <= MAX_GZIP_MEMBERS
    assert gunzip(members, 10**6) == text
    headers = {**tenant.headers, "Content-Encoding": "gzip"}
    response = client.post(f"{tenant.base}/track", content=members, headers=headers)
    assert response.status_code == 201 and response.json()["accepted"] == 1
    flood = gzip.compress(b" ") * (MAX_GZIP_MEMBERS + 1)
    response = client.post(f"{tenant.base}/track", content=flood, headers=headers)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "message": f"gzip body has more than {MAX_GZIP_MEMBERS} members (concatenated gzip "
            "streams); compress the body as one",
            "path": "Content-Encoding",
        }
    ]


def test_a_large_gzip_body_is_read_whole(client: Client, tenant: Tenant) -> None:
    # past 64 KiB the body is decoded and parsed in a worker thread: same answer
    items = [{**GOOD, "eventId": f"e{i}", "data": {"pad": "x" * 100}} for i in range(1500)]
    compressed = gzip.compress(track_body(*items), compresslevel=1)
    headers = {**tenant.headers, "Content-Encoding": "gzip"}
    response = client.post(f"{tenant.base}/track", content=compressed, headers=headers)
    assert response.status_code == 201 and response.json()["accepted"] == 1500


@pytest.mark.parametrize(
    ("content", "rule"),
    [
        (b'{"action":"accept","userId":"u\xff","categories":["a"]}', "contains invalid UTF-8"),
        (b'{"action":"accept","userId":"u","details":{"x":1e400}}', "64-bit float"),
        (b'{"action":"accept","userId":"u","details":{"x":NaN}}', "JSON has no NaN"),
    ],
)
def test_a_consent_body_is_read_by_the_same_rules(
    client: Client, tenant: Tenant, content: bytes, rule: str
) -> None:
    # Deliver 1: msgspec 0.18 raised UnicodeDecodeError here (a 500); every version: a 400
    response = client.post(f"{tenant.base}/consents/data", content=content, headers=tenant.headers)
    assert response.status_code == 400, response.text
    assert rule in response.json()["errors"][0]["message"]
