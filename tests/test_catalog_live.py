"""The catalog end to end (issue 5): product items through the real `intempt` SDK's
transport and wire format against a live server, a feed streamed over a real socket, and
`headwater catalog import` from a file, standard input and a local HTTP server."""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import select
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import intempt
import pytest
from click.testing import CliRunner

from headwater.cli import main
from tests.conftest import BACKENDS, database
from tests.live_server import LiveServer, live_server


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("catalog")
    with database(request.param, folder) as url, live_server(folder, database_url=url) as running:
        yield running


def hoodie(id_: str, **more: Any) -> dict[str, Any]:
    return {
        "id": id_,
        "title": "Cotton Hoodie",
        "description": "Soft-touch premium cotton hoodie.",
        "url": f"https://shop.example/p/{id_}",
        "image_link": f"https://shop.example/i/{id_}.jpg",
        **more,
    }


def get_product(server: LiveServer, id_: str) -> dict[str, Any]:
    with server.client() as http:
        response = http.get(f"{server.project_url}/products/{id_}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def sdk_track(server: LiveServer, *items: dict[str, Any]) -> Any:
    """Post through the SDK's own transport (its auth, headers and JSON encoding): the SDK has
    no product helper, so this is its wire format for a product item (reference §10.3)."""
    client = intempt.Intempt(
        org=server.org,
        project=server.project,
        api_key=server.api_key,
        host=f"127.0.0.1:{server.port}",
        scheme="http",
    )
    with client:
        body = {"track": [{"name": "ProductSync", "payload": list(items)}]}
        return client._transport.post(client._config.project_path("/track"), body)


def test_partial_updates_through_the_sdk_wire_format(server: LiveServer) -> None:
    sku = f"SKU-{uuid.uuid4()}"
    now = int(time.time() * 1000)
    created = sdk_track(server, {"eventId": f"c-{sku}", "timestamp": now, "productId": sku,
                                 "data": hoodie(sku, price="19.99 USD")})  # fmt: skip
    assert created == {"accepted": 1, "duplicates": 0, "rejected": []}
    answer = sdk_track(
        server,
        {"eventId": f"u-{sku}", "timestamp": now + 1, "productId": sku,
         "data": {"price": 25, "availability": "preorder", "colour": "red"}},
    )  # fmt: skip
    assert answer == {"accepted": 1, "duplicates": 0, "rejected": []}
    shown = get_product(server, sku)
    assert shown["title"] == "Cotton Hoodie"  # kept: the update was partial
    assert shown["price"] == {"amount": 25, "currency": None}
    assert (shown["availability"], shown["attributes"]) == ("preorder", {"colour": "red"})
    # A re-sent item is a duplicate and changes nothing.
    again = sdk_track(server, {"eventId": f"u-{sku}", "timestamp": now + 1, "productId": sku,
                               "data": {"price": 25}})  # fmt: skip
    assert again == {"accepted": 0, "duplicates": 1, "rejected": []}
    # The SDK's behavioural "Product viewed" names the product in data: not catalog ingestion.
    client = intempt.Intempt(org=server.org, project=server.project, api_key=server.api_key,
                             host=f"127.0.0.1:{server.port}", scheme="http")  # fmt: skip
    with client:
        client.ecommerce.product_viewed(product_id=sku, user_id=f"user-{sku}")
    assert get_product(server, sku)["price"]["amount"] == 25


def test_a_feed_streams_over_a_real_socket(server: LiveServer) -> None:
    count = 5_000
    prefix = f"S{uuid.uuid4().hex[:8]}-"

    def chunks() -> Iterator[bytes]:  # sent chunked: the server never sees it whole
        yield b'{"products": ['
        for i in range(count):
            yield (b"," if i else b"") + json.dumps({"product": hoodie(f"{prefix}{i}")}).encode()
        yield b"]}"

    with httpx.Client(base_url=server.base_url, timeout=60.0) as http:
        response = http.post(
            f"{server.project_url}/catalog/imports",
            content=chunks(),
            headers=server.headers,
            params={"format": "json"},
        )
    assert response.status_code == 201, response.text
    assert (response.json()["created"], response.json()["rejected"]) == (count, 0)
    assert get_product(server, f"{prefix}{count - 1}")["id"] == f"{prefix}{count - 1}"


# -- CLI ------------------------------------------------------------------------------------


def cli(*args: str, input: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


def feed_bytes(*products: dict[str, Any]) -> bytes:
    return json.dumps({"products": [{"product": p} for p in products]}).encode()


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "h.db")
    code, _, err = cli("keys", "create", "--db", path, "--org", "acme", "--project", "web")
    assert code == 0, err
    return path


def catalog_import(db: str, *args: str, input: bytes | None = None) -> tuple[int, Any, str]:
    code, out, err = cli(
        "catalog", "import", "--db", db, "--org", "acme", "--project", "web", *args, input=input
    )
    return code, json.loads(out) if out.strip() else None, err


def test_cli_imports_a_file_and_standard_input(db: str, tmp_path: Path) -> None:
    path = tmp_path / "feed.json"
    path.write_bytes(feed_bytes(hoodie("A"), {"id": "B", "title": "no description"}))
    code, report, err = catalog_import(db, str(path))
    assert code == 0, err
    assert (report["status"], report["created"], report["rejected"]) == ("completed", 1, 1)
    assert report["rejections"][0]["product"] == "B"
    assert report["source"] == str(path)
    code, report, _ = catalog_import(db, "-", "--full", input=feed_bytes(hoodie("B")))
    assert code == 0 and (report["created"], report["removed"]) == (1, 1)
    assert report["source"] == "stdin"


def test_cli_exit_codes(db: str, tmp_path: Path) -> None:
    code, report, err = catalog_import(db, "-", input=b"<catalog><products><product>")
    assert code == 1 and report["status"] == "failed"
    assert "malformed" in report["error"] and "line 1" in err
    code, report, err = catalog_import(db, str(tmp_path / "missing.json"))
    assert code == 1 and "cannot read" in report["error"]
    bomb = b'<!DOCTYPE x [<!ENTITY a SYSTEM "file:///etc/passwd">]><catalog>&a;</catalog>'
    code, report, _ = catalog_import(db, "-", input=bomb)
    assert code == 1 and "document type declarations" in report["error"]
    code, _, err = catalog_import(db, "-", "--format", "csv", input=b"")
    assert code == 2 and "'csv' is not one of" in err
    code, _, err = catalog_import(db)
    assert code == 2 and "Missing argument 'FEED'" in err


class _Feeds(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, bytes, dict[str, str]]]] = {}

    def do_GET(self) -> None:
        status, body, headers = self.routes.get(self.path, (404, b"not here", {}))
        if status == 0:  # a server that never answers: the client must time out
            time.sleep(3)
            return
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def feeds_server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Feeds)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_cli_imports_from_a_url(db: str, feeds_server: str) -> None:
    import gzip

    rss = (
        b'<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0"><channel><item>'
        b"<g:id>G1</g:id><title>Mug</title><description>A mug</description>"
        b"<link>https://s/mug</link><g:image_link>https://s/mug.jpg</g:image_link>"
        b"</item></channel></rss>"
    )
    _Feeds.routes = {
        "/feed.xml": (200, rss, {"Content-Type": "application/rss+xml"}),
        "/feed.json.gz": (200, gzip.compress(feed_bytes(hoodie("Z"))), {}),
        "/moved": (302, b"", {"Location": "/feed.xml"}),
        "/to-file": (302, b"", {"Location": "file:///etc/passwd"}),
        "/slow": (0, b"", {}),
    }
    code, report, err = catalog_import(db, f"{feeds_server}/feed.xml", "--format", "google")
    assert code == 0, err
    assert (report["format"], report["created"]) == ("google", 1)
    code, report, _ = catalog_import(db, f"{feeds_server}/feed.json.gz")
    assert code == 0 and report["created"] == 1
    code, report, _ = catalog_import(db, f"{feeds_server}/moved")
    assert code == 0 and report["unchanged"] == 1
    code, report, _ = catalog_import(db, f"{feeds_server}/nothing")
    assert code == 1 and "HTTP 404" in report["error"]
    code, report, _ = catalog_import(db, f"{feeds_server}/to-file")
    assert code == 1 and "file:///etc/passwd" in report["error"]
    code, report, _ = catalog_import(db, "http://127.0.0.1:1/feed.json")
    assert code == 1 and "cannot fetch" in report["error"]


def test_cli_url_timeout_and_size_cap(
    db: str, feeds_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _Feeds.routes = {
        "/slow": (0, b"", {}),
        "/big.json": (200, feed_bytes(*[hoodie(f"B{i}") for i in range(50)]), {}),
    }
    monkeypatch.setenv("HEADWATER_CATALOG_FETCH_TIMEOUT_SECONDS", "0.5")
    code, report, _ = catalog_import(db, f"{feeds_server}/slow")
    assert code == 1 and "timed out" in report["error"]
    monkeypatch.setenv("HEADWATER_CATALOG_MAX_FEED_BYTES", "1000")
    code, _, err = cli("catalog", "import", "--db", db, "--org", "acme", "--project", "web",
                         f"{feeds_server}/big.json")  # fmt: skip
    assert code == 1 and "catalog_max_feed_bytes" in err
    code, history, _ = cli("catalog", "imports", "--db", db, "--org", "acme", "--project", "web")
    assert code == 0
    assert [json.loads(line)["status"] for line in history.splitlines()][:2] == ["failed"] * 2


# -- slow uploads (issue 11, finding 12) ----------------------------------------------------

PACE = {  # short bounds, so the test waits about a second per slow client
    "HEADWATER_CATALOG_UPLOAD_IDLE_SECONDS": "1",
    "HEADWATER_CATALOG_UPLOAD_MIN_BYTES_PER_SECOND": "2000",
}
OPENING = b'{"products": ['


@pytest.fixture(scope="module", params=BACKENDS)
def paced_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("paced")
    with (
        database(request.param, folder) as url,
        live_server(folder, env=PACE, database_url=url) as running,
    ):
        yield running


def paced_upload(
    server: LiveServer, parts: list[bytes], pause: float, length: int | None = None
) -> tuple[int, dict[str, Any]]:
    """POST a feed over a raw socket, one part every `pause` seconds, until the server
    answers; (status, JSON body). `length` is the Content-Length announced (default: the
    parts' total), so a client can promise more than it ever sends."""
    announced = sum(map(len, parts)) if length is None else length
    head = (
        f"POST /v1/{server.org}/projects/{server.project}/catalog/imports HTTP/1.1\r\n"
        f"Host: 127.0.0.1\r\nAuthorization: {server.headers['Authorization']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {announced}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(head.encode())
        for part in parts:
            if select.select([sock], [], [], 0)[0]:
                break  # the server answered: stop sending
            with contextlib.suppress(OSError):
                sock.sendall(part)
            time.sleep(pause)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = json.loads(response.read())
    return response.status, body


def imports_running(server: LiveServer) -> int:
    with server.client() as client:
        history = client.get(f"{server.project_url}/catalog/imports").json()["imports"]
    return sum(entry["status"] == "running" for entry in history)


def test_slow_uploads_fail_and_free_their_import_slots(paced_server: LiveServer) -> None:
    """Finding 12: an upload sending a byte every < 60 s never timed out, so two of them held
    both import slots and every other import got 503. Now a client that falls behind the
    minimum pace fails (400, recorded as a failed import) and its slot is free again."""
    server = paced_server
    trickle = [OPENING] + [b" "] * 300  # a byte every 0.1 s: 10 bytes/s, under 2,000
    outcomes: list[tuple[int, dict[str, Any]]] = []
    slow = [
        threading.Thread(target=lambda: outcomes.append(paced_upload(server, trickle, 0.1, 10**9)))
        for _ in range(2)
    ]
    for thread in slow:
        thread.start()
    deadline = time.monotonic() + 30
    while imports_running(server) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    with server.client() as client:
        third = client.post(
            f"{server.project_url}/catalog/imports", content=feed_bytes(hoodie("T1"))
        )
    assert third.status_code == 503, third.text  # both slots held by the slow clients
    for thread in slow:
        thread.join(timeout=60)
    assert [status for status, _ in outcomes] == [400, 400]
    for _, report in outcomes:
        assert report["status"] == "failed"
        assert report["error"].startswith("the upload is too slow: ")
        assert "fewer than 2000 bytes per second beyond its first 1 s" in report["error"]
        assert report["errors"] == [{"message": report["error"]}]
    with server.client() as client:
        after = client.post(
            f"{server.project_url}/catalog/imports", content=feed_bytes(hoodie("T2"))
        )
        history = client.get(f"{server.project_url}/catalog/imports").json()["imports"]
    assert after.status_code == 201, after.text  # the slots are free again
    failed = [entry for entry in history if entry["id"] in {r["id"] for _, r in outcomes}]
    assert [entry["status"] for entry in failed] == ["failed", "failed"]
    assert imports_running(server) == 0


def test_a_stalled_upload_fails_after_the_idle_time(paced_server: LiveServer) -> None:
    status, report = paced_upload(paced_server, [OPENING], 0.0, 10**6)
    assert status == 400 and report["status"] == "failed"
    assert report["error"] == (
        "the client sent no part of the feed for 1 s (catalog_upload_idle_seconds)"
    )


def test_an_upload_with_pauses_at_a_sufficient_pace_completes(paced_server: LiveServer) -> None:
    """Pauses shorter than the idle time are fine while the average pace holds."""
    body = feed_bytes(*[hoodie(f"P{i}", notes="x" * 400) for i in range(20)])  # ~11 KB
    parts = [body[i : i + 2000] for i in range(0, len(body), 2000)]
    status, report = paced_upload(paced_server, parts, 0.4)  # ~5,000 bytes/s, 0.4 s pauses
    assert status == 201, report
    assert report["created"] == 20
