"""The product catalog on both stores: imports and their sync semantics, the products API,
product items through track, and tenancy (issue 5)."""

from __future__ import annotations

import gzip
import io
import json
import random
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from headwater.catalog.imports import run_import
from headwater.clock import now_ms
from headwater.store.base import Store
from headwater.store.sqlite.store import SQLiteStore
from tests.conftest import Tenant

Client = TestClient[Any]
T0 = 1_790_000_000_000


def hoodie(id_: str = "SKU1", **more: Any) -> dict[str, Any]:
    return {
        "id": id_,
        "title": f"Cotton Hoodie {id_}",
        "description": "Soft-touch premium cotton hoodie.",
        "url": f"https://shop.example/p/{id_}",
        "image_link": f"https://shop.example/i/{id_}.jpg",
        **more,
    }


def feed(*products: dict[str, Any]) -> bytes:
    return json.dumps({"products": [{"product": p} for p in products]}).encode()


def upload(
    client: Client, tenant: Tenant, body: bytes, **params: str
) -> tuple[int, dict[str, Any]]:
    response = client.post(
        f"{tenant.base}/catalog/imports", content=body, headers=tenant.headers, params=params
    )
    return response.status_code, response.json()


def product(client: Client, tenant: Tenant, id_: str) -> dict[str, Any]:
    response = client.get(f"{tenant.base}/products/{id_}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def listing(client: Client, tenant: Tenant, **params: str) -> list[str]:
    """Every product id the filters select, following the cursor."""
    ids: list[str] = []
    query = dict(params)
    while True:
        response = client.get(f"{tenant.base}/products", headers=tenant.headers, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [p["id"] for p in page["products"]]
        if page["next"] is None:
            return ids
        query["cursor"] = page["next"]


def track(client: Client, tenant: Tenant, *items: dict[str, Any]) -> Any:
    body = {"track": [{"name": "ProductSync", "payload": list(items)}]}
    return client.post(f"{tenant.base}/track", json=body, headers=tenant.headers)


# -- imports ------------------------------------------------------------------------------


def test_import_creates_products_and_reports(client: Client, tenant: Tenant) -> None:
    status, report = upload(
        client, tenant, feed(hoodie("A", price="19.99 USD", category="Apparel"), hoodie("B"))
    )
    assert status == 201, report
    assert (report["status"], report["format"], report["source"]) == ("completed", "json", "upload")
    assert [report[k] for k in ("created", "updated", "unchanged", "removed", "rejected")] == [
        2, 0, 0, 0, 0
    ]  # fmt: skip
    shown = product(client, tenant, "A")
    assert shown["price"] == {"amount": 19.99, "currency": "USD"}
    assert shown["category"] == ["Apparel"]
    assert shown["removed"] is False and shown["attributes"] == {}


def test_unchanged_products_are_recognised_and_not_rewritten(
    client: Client, tenant: Tenant
) -> None:
    upload(client, tenant, feed(hoodie("A"), hoodie("B")))
    before = product(client, tenant, "A")
    _, report = upload(client, tenant, feed(hoodie("A"), hoodie("B", title="New title")))
    assert (report["created"], report["updated"], report["unchanged"]) == (0, 1, 1)
    assert product(client, tenant, "A")["updatedAt"] == before["updatedAt"]
    assert product(client, tenant, "B")["title"] == "New title"


def test_a_feed_replaces_the_product_whole(client: Client, tenant: Tenant) -> None:
    upload(client, tenant, feed(hoodie("A", brand="Acme", color="red")))
    upload(client, tenant, feed(hoodie("A")))
    shown = product(client, tenant, "A")
    assert "brand" not in shown and shown["attributes"] == {}


def test_full_import_flags_missing_products_removed_never_deletes(
    client: Client, tenant: Tenant
) -> None:
    upload(client, tenant, feed(hoodie("A"), hoodie("B"), hoodie("C")))
    # C is in the feed but invalid: present, so it is not removed either.
    _, report = upload(
        client, tenant, feed(hoodie("A"), {**hoodie("C"), "rating": "five"}), full="true"
    )
    assert (report["unchanged"], report["removed"], report["rejected"]) == (1, 1, 1)
    assert listing(client, tenant) == ["A", "C"]
    assert listing(client, tenant, status="removed") == ["B"]
    removed = product(client, tenant, "B")
    assert removed["removed"] is True and removed["removedAt"] is not None
    assert removed["title"] == "Cotton Hoodie B"  # kept whole
    # Back in a later feed: active again.
    _, report = upload(client, tenant, feed(hoodie("A"), hoodie("B"), hoodie("C")))
    assert (report["updated"], report["unchanged"]) == (1, 2)  # B restored; A, C as they were
    assert listing(client, tenant) == ["A", "B", "C"]


def test_without_full_missing_products_stay(client: Client, tenant: Tenant) -> None:
    upload(client, tenant, feed(hoodie("A"), hoodie("B")))
    _, report = upload(client, tenant, feed(hoodie("A")))
    assert report["removed"] == 0 and listing(client, tenant) == ["A", "B"]


def test_a_refused_feed_removes_nothing_and_is_in_the_history(
    client: Client, tenant: Tenant
) -> None:
    upload(client, tenant, feed(hoodie("A"), hoodie("B")))
    status, report = upload(client, tenant, b'{"products": [{"product": ', full="true")
    assert status == 400
    assert report["status"] == "failed" and "malformed" in report["error"]
    assert report["errors"] == [{"message": report["error"]}]
    assert listing(client, tenant) == ["A", "B"]
    response = client.get(f"{tenant.base}/catalog/imports", headers=tenant.headers)
    history = response.json()["imports"]
    assert [(i["status"], i["full"]) for i in history] == [("failed", True), ("completed", False)]


def test_rejected_products_are_reported_and_quarantined(client: Client, tenant: Tenant) -> None:
    bad = [
        {**hoodie("P1"), "price": "cheap"},
        {**hoodie("P2"), "availability": "soon"},
        {k: v for k, v in hoodie("P3").items() if k != "url"},
        {**hoodie("P4"), "title": ["not", "a", "string"]},
        "not an object",
    ]
    status, report = upload(client, tenant, feed(hoodie("OK"), *bad))  # type: ignore[arg-type]
    assert status == 201 and (report["created"], report["rejected"]) == (1, 5)
    by_path = {r["path"]: r for r in report["rejections"]}
    assert set(by_path) == {
        "products[1].product.price",
        "products[2].product.availability",
        "products[3].product.url",
        "products[4].product.title",
        "products[5].product",
    }
    price = by_path["products[1].product.price"]
    assert price["product"] == "P1" and price["index"] == 1
    assert "product 'P1'" in price["message"] and "field price" in price["message"]
    assert "19.99 USD" in price["message"]  # the rule
    assert (
        "in_stock, out_of_stock, preorder, backorder"
        in by_path["products[2].product.availability"]["message"]
    )
    assert "missing: url" in by_path["products[3].product.url"]["message"]
    response = client.get(f"{tenant.base}/quarantine", headers=tenant.headers)
    entries = response.json()["items"]
    assert len(entries) == 5 and {e["kind"] for e in entries} == {"product"}
    assert json.loads(entries[0]["raw"])["price"] == "cheap"  # kept as sent


def test_one_product_s_bytes_or_big_integer_affect_only_that_product(
    client: Client, tenant: Tenant
) -> None:
    """Issue 11, finding 11: a 20-digit GTIN failed the whole JSON feed and CESU-8 surrogate
    bytes answered 500. The GTIN is kept exactly (so is any integer a 64-bit float can hold,
    the rule of everything stored: 300 digits); the CESU-8 product alone is rejected,
    quarantined as sent, and (its id still readable) not flagged removed by a full sync."""
    upload(client, tenant, feed(hoodie("B")))
    gtin = 12345678901234567890  # past 2**64
    huge = int("9" * 300)  # feeds refused more than 40 digits once; track items never did
    cesu = b'{"product": {"id": "B", "title": "Caf\xed\xa0\x80", "description": "d", "url": "u"}}'
    body = b'{"products": [' + json.dumps({"product": hoodie("A", gtin=gtin, huge=huge)}).encode()
    body += b", " + cesu + b", " + json.dumps(hoodie("C")).encode() + b"]}"
    status, report = upload(client, tenant, body, full="true")
    assert status == 201, report
    assert (report["created"], report["rejected"], report["removed"]) == (2, 1, 0)
    assert report["rejections"] == [
        {
            "index": 1,
            "product": "B",
            "path": "products[1].product.title",
            "message": "product 'B' (at products[1].product): field title contains invalid "
            "UTF-8 (bytes ED A0 80 at offset 3: a UTF-16 surrogate written as UTF-8, as CESU-8 "
            "and Java's modified UTF-8 do)",
        }
    ]
    attributes = product(client, tenant, "A")["attributes"]
    assert (attributes["gtin"], attributes["huge"]) == (gtin, huge)
    assert listing(client, tenant) == ["A", "B", "C"]  # B was in the feed: not removed
    [entry] = client.get(f"{tenant.base}/quarantine", headers=tenant.headers).json()["items"]
    assert entry["raw"] == cesu.decode("utf-8", "backslashreplace")


def test_xml_and_google_feeds_and_format_parameter(client: Client, tenant: Tenant) -> None:
    xml = (
        b"<catalog><products><product><id>X1</id><title>T</title><description>D</description>"
        b"<url>u</url><image_link>i</image_link><category>A</category><category>B</category>"
        b"</product></products></catalog>"
    )
    status, report = upload(client, tenant, xml)
    assert status == 201 and (report["format"], report["created"]) == ("xml", 1)
    assert product(client, tenant, "X1")["category"] == ["A", "B"]
    rss = (
        b'<?xml version="1.0"?><rss version="2.0" xmlns:g="http://base.google.com/ns/1.0">'
        b"<channel><title>Shop</title><item><g:id>G1</g:id><title>Mug</title>"
        b"<description>A mug</description><link>https://s/mug</link>"
        b"<g:image_link>https://s/mug.jpg</g:image_link><g:price>7.50 EUR</g:price>"
        b"<g:availability>out of stock</g:availability></item></channel></rss>"
    )
    status, report = upload(client, tenant, rss, format="google")
    assert status == 201 and report["format"] == "google", report
    mug = product(client, tenant, "G1")
    assert (mug["url"], mug["availability"]) == ("https://s/mug", "out_of_stock")
    assert mug["price"] == {"amount": 7.5, "currency": "EUR"}
    status, report = upload(client, tenant, rss, format="json")
    assert status == 400 and "the feed is XML" in report["error"]
    status, body = upload(client, tenant, rss, format="csv")
    assert status == 400 and body["errors"][0]["path"] == "format"


def test_hostile_xml_is_refused_and_the_server_stays_up(client: Client, tenant: Tenant) -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<catalog><products><product><id>&lol2;</id></product></products></catalog>"
    )
    status, report = upload(client, tenant, bomb)
    assert status == 400 and "document type declarations" in report["error"]
    assert "line 1" in report["error"]
    status, report = upload(client, tenant, b"<catalog><products><product><id>1</id></catalog>")
    assert status == 400 and "line 1, column 41" in report["error"], report["error"]
    status, report = upload(client, tenant, feed(hoodie("after")))
    assert status == 201 and report["created"] == 1


def test_gzip_upload_and_its_cap(make_client: Any, tenant: Tenant) -> None:
    client = make_client(catalog_max_feed_bytes=10_000)
    body = gzip.compress(feed(hoodie("Z")))
    response = client.post(
        f"{tenant.base}/catalog/imports",
        content=body,
        headers={**tenant.headers, "Content-Encoding": "gzip"},
    )
    assert response.status_code == 201 and response.json()["created"] == 1
    bomb = gzip.compress(b" " * 1_000_000 + feed(hoodie("Y")))
    response = client.post(
        f"{tenant.base}/catalog/imports",
        content=bomb,
        headers={**tenant.headers, "Content-Encoding": "gzip"},
    )
    assert response.status_code == 413
    assert "catalog_max_feed_bytes" in response.json()["errors"][0]["message"]
    response = client.get(f"{tenant.base}/catalog/imports", headers=tenant.headers)
    assert response.json()["imports"][0]["status"] == "failed"


# -- products API ------------------------------------------------------------------------


def test_filters_and_paging(client: Client, tenant: Tenant) -> None:
    upload(
        client,
        tenant,
        feed(
            hoodie("A", category=["Apparel", "Hoodies"], brand="Acme", availability="in_stock"),
            hoodie("B", category="Apparel", brand="Other", availability="preorder", title="Mug"),
            hoodie("C", category="Kitchen", brand="Acme", title="50% off_sale hoodie"),
            *[hoodie(f"D{i:02}") for i in range(12)],
            hoodie("a-lower", title="Été capsule"),
            hoodie("É-accent"),
        ),
    )
    assert listing(client, tenant, q="ÉTÉ") == ["a-lower"]  # Unicode case, on both stores
    assert listing(client, tenant, category="Apparel") == ["A", "B"]
    assert listing(client, tenant, category="Hoodies") == ["A"]
    assert listing(client, tenant, brand="Acme") == ["A", "C"]
    assert listing(client, tenant, availability="preorder") == ["B"]
    assert listing(client, tenant, q="HOODIE", brand="Acme") == ["A", "C"]
    assert listing(client, tenant, q="50% off_") == ["C"]  # LIKE wildcards are literal
    assert listing(client, tenant, q="0%") == ["C"]
    everything = listing(client, tenant, limit="5")
    # Code point (bytewise) order on both stores: "D…" < "a…" < "É…", whatever the locale.
    assert len(everything) == 17 and everything == sorted(everything)
    response = client.get(f"{tenant.base}/products", headers=tenant.headers, params={"limit": "0"})
    assert response.status_code == 400


def test_delete_flags_removed_and_missing_is_404(client: Client, tenant: Tenant) -> None:
    upload(client, tenant, feed(hoodie("A")))
    response = client.delete(f"{tenant.base}/products/A", headers=tenant.headers)
    assert response.status_code == 200 and response.json()["removed"] is True
    assert listing(client, tenant) == [] and listing(client, tenant, status="all") == ["A"]
    for method in (client.get, client.delete):
        response = method(f"{tenant.base}/products/nope", headers=tenant.headers)
        assert response.status_code == 404
        assert response.json()["errors"][0]["path"] == "productId"


def test_tenancy_and_scopes(client: Client, tenant: Tenant, other_tenant: Tenant) -> None:
    upload(client, tenant, feed(hoodie("A")))
    other = client.get(f"{other_tenant.base}/products/A", headers=other_tenant.headers)
    assert other.status_code == 404
    assert listing(client, other_tenant) == []
    cross = client.get(f"{tenant.base}/products/A", headers=other_tenant.headers)
    assert cross.status_code in (401, 404)
    response = client.delete(f"{other_tenant.base}/products/A", headers=other_tenant.headers)
    assert response.status_code == 404 and product(client, tenant, "A")["removed"] is False


def test_read_key_cannot_import_or_delete(store: Store, client: Client) -> None:
    from headwater.tenancy import provision

    reader = Tenant(provision.create_key(store, "acme", "web", scopes=("read",)))
    status, body = upload(client, reader, feed(hoodie("A")))
    assert status == 403 and "admin" in body["errors"][0]["message"]
    response = client.delete(f"{reader.base}/products/A", headers=reader.headers)
    assert response.status_code == 403


# -- product items through track ----------------------------------------------------------


def test_track_creates_then_partially_updates(client: Client, tenant: Tenant) -> None:
    created = track(client, tenant, {"productId": "T1", "timestamp": T0, "data": hoodie("T1")})
    assert created.status_code == 201 and created.json()["accepted"] == 1
    update = {"productId": "T1", "timestamp": T0 + 1, "data": {"price": 25, "stock": 3}}
    assert track(client, tenant, update).json()["accepted"] == 1
    shown = product(client, tenant, "T1")
    assert shown["title"] == "Cotton Hoodie T1"  # untouched by the partial update
    assert shown["price"] == {"amount": 25, "currency": None}
    assert shown["attributes"] == {"stock": 3}
    removal = {"productId": "T1", "timestamp": T0 + 2, "data": {"price": None}}
    track(client, tenant, removal)
    assert "price" not in product(client, tenant, "T1")
    # No person: the product item linked no identifiers.
    response = client.get(f"{tenant.base}/profiles/lookup", headers=tenant.headers,
                          params={"userId": "T1"})  # fmt: skip
    assert response.status_code == 404


def test_track_product_rules(client: Client, tenant: Tenant) -> None:
    upload(client, tenant, feed(hoodie("E")))
    response = track(
        client,
        tenant,
        {"productId": "E", "data": {"price": "free"}},
        {"productId": "E", "data": {"id": "other"}},
        {"productId": "E", "data": {"title": None}},
        {"productId": "NEW", "data": {"title": "Only a title"}},
        {"productId": "E", "data": {"availability": "backorder"}},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["accepted"] == 1
    paths = [(r["item"], r["path"]) for r in body["rejected"]]
    assert paths == [
        (0, "track[0].payload[0].data.price"),
        (1, "track[0].payload[1].data.id"),
        (2, "track[0].payload[2].data.title"),
        (3, "track[0].payload[3].data.description"),
    ]
    assert product(client, tenant, "E")["availability"] == "backorder"
    missing = client.get(f"{tenant.base}/products/NEW", headers=tenant.headers)
    assert missing.status_code == 404


def test_track_updates_are_order_independent(
    make_client: Any, tenant: Tenant, store: Store
) -> None:
    """Invariant 5: the same product items in any order leave the same product."""
    client = make_client()
    items = [
        {"eventId": "e0", "productId": "O", "timestamp": T0, "data": hoodie("O", price=10)},
        {"eventId": "e1", "productId": "O", "timestamp": T0 + 5, "data": {"price": 30}},
        {"eventId": "e2", "productId": "O", "timestamp": T0 + 3, "data": {"price": 20, "x": 1}},
        {"eventId": "e3", "productId": "O", "timestamp": T0 + 4, "data": {"x": None}},
    ]
    for item in items:
        track(client, tenant, item)
    forward = product(client, tenant, "O")
    from headwater.tenancy import provision

    other = Tenant(provision.create_key(store, "acme", "reverse"))
    for item in [items[0], *reversed(items[1:])]:
        track(client, other, item)
    backward = product(client, other, "O")
    assert forward["price"] == backward["price"] == {"amount": 30, "currency": None}
    assert forward["attributes"] == backward["attributes"] == {}


def test_feed_snapshots_and_track_updates_meet_by_time(client: Client, tenant: Tenant) -> None:
    """A feed is the product as of its import: a track update timed later keeps its fields,
    one timed earlier is overridden (and stays overridden, whatever order they arrive in)."""
    later = now_ms() + 3_600_000  # a client clock an hour ahead: within the accepted skew
    track(client, tenant, {"productId": "F", "timestamp": T0, "data": hoodie("F")})
    track(client, tenant, {"productId": "F", "timestamp": later, "data": {"price": 99}})
    upload(client, tenant, feed(hoodie("F", price=5, brand="Acme")))
    shown = product(client, tenant, "F")
    assert shown["price"]["amount"] == 99 and shown["brand"] == "Acme"
    track(client, tenant, {"productId": "F", "timestamp": T0 + 1, "data": {"brand": "Old"}})
    assert product(client, tenant, "F")["brand"] == "Acme"


# -- memory --------------------------------------------------------------------------------

PEAK_BOUND = 32 * 1024 * 1024  # bytes: a chunk of 1,000 products and the parser, not the feed


class _GeneratedFeed:
    """A 100,000-product JSON feed produced as it is read: never whole in memory."""

    def __init__(self, count: int) -> None:
        self._parts = self._generate(count)
        self._buffer = b""

    @staticmethod
    def _generate(count: int) -> Iterator[bytes]:
        yield b'{"products": ['
        for i in range(count):
            item = json.dumps({"product": hoodie(f"M{i:06}", price="9.99 USD", tags=["a"])})
            yield (b"," if i else b"") + item.encode()
        yield b"]}"

    def read(self, size: int = -1) -> bytes:
        while len(self._buffer) < max(size, 1):
            part = next(self._parts, None)
            if part is None:
                break
            self._buffer += part
        chunk, self._buffer = self._buffer[:size], self._buffer[size:]
        return chunk


def test_a_100k_product_import_keeps_memory_flat(tmp_path: Path) -> None:
    """On SQLite only: the bound is the importer's (a chunk at a time), the same code on
    both stores, and tracemalloc makes psycopg's pipeline ten times slower."""
    store = SQLiteStore(str(tmp_path / "big.db"))
    store.migrate()
    project, _ = store.ensure_project("acme", "big", T0)
    tracemalloc.start()
    try:
        record = run_import(
            store, project.id, _GeneratedFeed(100_000), fmt=None, full=True, source="test",
            key_prefix="test", max_product_bytes=65_536, max_id_length=256,
        )  # fmt: skip
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        store.close()
    assert (record.status, record.created, record.rejected) == ("completed", 100_000, 0)
    assert peak < PEAK_BOUND, f"peak traced memory {peak} bytes"


def test_bytes_io_feed_imports(store: Store) -> None:
    project, _ = store.ensure_project("acme", "small", T0)
    record = run_import(
        store, project.id, io.BytesIO(feed(hoodie("S"))), fmt="json", full=False,
        source="test", key_prefix="test", max_product_bytes=65_536, max_id_length=256,
    )  # fmt: skip
    assert (record.status, record.format, record.created) == ("completed", "json", 1)


# -- quarantine replay ---------------------------------------------------------------------


def replay(client: Client, tenant: Tenant, body: dict[str, Any] | None = None) -> Any:
    response = client.post(
        f"{tenant.base}/quarantine/replay", json=body or {}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_rejected_feed_product_is_replayed_with_a_correction(
    client: Client, tenant: Tenant
) -> None:
    upload(client, tenant, feed(hoodie("A"), {**hoodie("Q"), "price": "cheap"}))
    [entry] = client.get(f"{tenant.base}/quarantine", headers=tenant.headers).json()["items"]
    assert entry["kind"] == "product"
    again = replay(client, tenant)  # the same product fails the same rule: stays pending
    assert again["replayed"] == 0 and again["failed"][0]["path"] == "price"
    fixed = replay(client, tenant, {"ids": [entry["id"]], "item": {**hoodie("Q"), "price": 3}})
    assert fixed["replayed"] == 1 and fixed["failed"] == []
    assert product(client, tenant, "Q")["price"] == {"amount": 3, "currency": None}


def test_a_screened_product_item_replays_once_its_product_exists(
    client: Client, tenant: Tenant
) -> None:
    partial = {"eventId": "p1", "productId": "LATE", "timestamp": T0, "data": {"price": 7}}
    assert track(client, tenant, partial).status_code == 400
    first = replay(client, tenant)
    assert first["failed"] and first["failed"][0]["path"].endswith("data.title"), first
    upload(client, tenant, feed(hoodie("LATE", brand="Acme")))
    assert replay(client, tenant)["replayed"] == 1
    shown = product(client, tenant, "LATE")
    # The item is older than the feed: the feed's snapshot keeps its own (absent) price.
    assert "price" not in shown and shown["brand"] == "Acme"


# -- review cases ---------------------------------------------------------------------------


def test_merge_is_order_independent_for_feeds_and_removals() -> None:
    """Invariant 5 on `merge.apply` itself: every arrival order of two feed snapshots and a
    newer track removal gives one product (a collapse to one version once forgot removals)."""
    from itertools import permutations

    from headwater.catalog.merge import ProductChange, apply

    changes = [
        ProductChange("M", hoodie("M"), (5, "import:000000000001", 0), True),
        ProductChange("M", hoodie("M", brand="B"), (7, "import:000000000002", 0), True),
        ProductChange("M", {"brand": None, "price": 4}, (10, "e1", 0), False),
        ProductChange("M", {"tags": ["x"]}, (6, "e2", 0), False),
    ]
    results = set()
    for order in permutations(changes):
        current = None
        for change in order:
            current = apply(current, change.id, change.fields, change.version, change.whole)
        assert current is not None
        results.add(json.dumps(current.document, sort_keys=True))
    assert len(results) == 1
    (only,) = results
    assert "brand" not in json.loads(only) and json.loads(only)["price"] == 4


def test_merge_is_order_independent_on_random_histories() -> None:
    from itertools import permutations

    from headwater.catalog.merge import ProductChange, apply

    rng = random.Random(5)
    for _ in range(100):
        changes = []
        for k in range(5):
            version = (rng.randrange(20), f"k{k}", 0)
            if rng.random() < 0.4:  # a feed snapshot of some optional fields
                fields = {
                    f: rng.randrange(3) for f in rng.sample(["a", "b", "c"], rng.randrange(3))
                }
                changes.append(ProductChange("R", hoodie("R", **fields), version, True))
            else:  # a track item setting or removing some
                names = rng.sample(["a", "b", "c", "title"], rng.randrange(1, 3))
                sets: dict[str, Any] = {f: rng.choice([None, 1, 2]) for f in names}
                sets.update({"title": "T"} if "title" in sets else {})
                changes.append(ProductChange("R", sets, version, False))
        results = set()
        for order in permutations(changes):
            current = None
            for change in order:
                current = apply(current, change.id, change.fields, change.version, change.whole)
            assert current is not None
            results.add(json.dumps(current.document, sort_keys=True))
        assert len(results) == 1, changes


def test_a_resent_product_item_with_new_data_is_a_duplicate_and_changes_nothing(
    client: Client, tenant: Tenant
) -> None:
    track(client, tenant, {"eventId": "d1", "productId": "D", "timestamp": T0, "data": hoodie("D")})
    again = {"eventId": "d1", "productId": "D", "timestamp": T0 + 9, "data": hoodie("D", brand="X")}
    body = track(client, tenant, again).json()
    assert (body["accepted"], body["duplicates"]) == (0, 1)
    assert "brand" not in product(client, tenant, "D")


def test_full_import_edge_cases(client: Client, tenant: Tenant) -> None:
    upload(client, tenant, feed(hoodie("A"), hoodie("B")))
    # Numeric ids are read as text, and a --full import sees them as present.
    numeric = {**hoodie("x"), "id": 7.5}
    status, report = upload(client, tenant, feed(numeric, hoodie("A"), hoodie("B")), full="true")
    assert status == 201 and (report["created"], report["removed"]) == (1, 0)
    assert product(client, tenant, "7.5")["removed"] is False
    # Every product refused (ids under another name): nothing is removed, the import fails.
    renamed = {("sku" if k == "id" else k): v for k, v in hoodie("A").items()}
    status, report = upload(client, tenant, feed(renamed), full="true")
    assert status == 400 and report["rejected"] == 1 and report["removed"] == 0
    assert "removes nothing" in report["error"]
    assert listing(client, tenant) == ["7.5", "A", "B"]


def test_a_deeply_nested_product_is_rejected_alone(client: Client, tenant: Tenant) -> None:
    deep = b'{"d": ' * 2000 + b'"bottom"' + b"}" * 2000  # deeper than json.dumps can write
    body = b'{"products": [' + json.dumps({**hoodie("OK")}).encode() + b","
    body += b'{"id": "DEEP", "x": ' + deep + b"}]}"
    status, report = upload(client, tenant, body)
    assert status == 201 and (report["created"], report["rejected"]) == (1, 1)
    assert "nested more than 32 levels" in report["rejections"][0]["message"]
