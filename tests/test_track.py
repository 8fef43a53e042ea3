"""Track API (issue 2 §4-6; invariants 2, 3): statuses, dedup, validation, quarantine."""

from __future__ import annotations

import gzip
import time
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from headwater.model.rules import EARLIEST_MS
from tests.conftest import Tenant

Client = TestClient[Any]
GOOD = {"eventId": "good-1", "userId": "u1", "data": {"plan": "pro"}}


def post(client: Client, tenant: Tenant, body: Any, **headers: str) -> Any:
    content = body if isinstance(body, bytes) else msgspec.json.encode(body)
    return client.post(
        f"{tenant.base}/track", content=content, headers={**tenant.headers, **headers}
    )


def events(client: Client, tenant: Tenant, **params: str) -> list[dict[str, Any]]:
    response = client.get(f"{tenant.base}/events", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["events"]
    return found


def quarantined(client: Client, tenant: Tenant) -> list[dict[str, Any]]:
    response = client.get(f"{tenant.base}/quarantine", headers=tenant.headers)
    assert response.status_code == 200
    found: list[dict[str, Any]] = response.json()["items"]
    return found


def envelope(*items: Any, name: str = "Signed up") -> dict[str, Any]:
    return {"track": [{"name": name, "payload": list(items)}]}


def test_accepted_events_are_readable_at_once(client: Client, tenant: Tenant) -> None:
    # invariant 4: the 2xx means every read already reflects the event
    response = post(client, tenant, envelope(GOOD))
    assert response.status_code == 201
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    [stored] = events(client, tenant)
    assert stored["eventId"] == "good-1"
    assert stored["eventName"] == "Signed up"
    assert stored["userId"] == "u1"
    assert stored["data"] == {"plan": "pro"}
    assert stored["timestamp"] == stored["receivedAt"]  # absent timestamp: receive time


def test_empty_track_is_201(client: Client, tenant: Tenant) -> None:
    response = post(client, tenant, {"track": []})
    assert response.status_code == 201
    assert response.json() == {"accepted": 0, "duplicates": 0, "rejected": []}


def test_every_item_field_is_kept(client: Client, tenant: Tenant) -> None:
    item = {
        "eventId": "e-all",
        "profileId": "p1",
        "userId": "u1",
        "accountId": "a1",
        "sessionId": "s1",
        "pageId": "pg1",
        "anotherUserId": "u2",
        "anotherAccountId": "a2",
        "timestamp": 1714631904000,
        "data": {"amount": 150},
        "userAttributes": {"plan": "pro"},
        "accountAttributes": {"founded": 2000},
        "sessionAttributes": {"device": "ios"},
        "futureField": {"kept": True},
    }
    body = {"track": [{"name": "Purchase", "type": "notARealType", "payload": [item]}]}
    assert post(client, tenant, body).json()["accepted"] == 1
    [stored] = events(client, tenant)
    for field in (
        "profileId",
        "userId",
        "accountId",
        "sessionId",
        "pageId",
        "anotherUserId",
        "anotherAccountId",
        "timestamp",
        "data",
        "userAttributes",
        "accountAttributes",
        "sessionAttributes",
    ):
        assert stored[field] == item[field], field
    assert stored["type"] == "notARealType"  # unknown type: ignored, not rejected
    assert stored["extra"] == {"futureField": {"kept": True}}
    assert stored["line"] == 0


def test_product_items_need_no_person(client: Client, tenant: Tenant) -> None:
    hoodie = {"title": "Hoodie", "description": "Warm", "url": "https://s/h", "image_link": "i"}
    body = envelope({"productId": "123", "data": {**hoodie, "amount": 150}}, name="Product")
    assert post(client, tenant, body).json()["accepted"] == 1
    assert events(client, tenant)[0]["productId"] == "123"


def test_a_product_item_creating_a_product_needs_its_required_fields(
    client: Client, tenant: Tenant
) -> None:
    # The documented example: not in the catalog yet, and no title, description, url, image.
    body = envelope({"productId": "123", "data": {"name": "Wine", "amount": 150}}, name="Product")
    response = post(client, tenant, body)
    assert response.status_code == 400
    [rejected] = response.json()["rejected"]
    assert rejected["path"] == "track[0].payload[0].data.title"
    assert "missing: title, description, url, image_link" in rejected["message"]
    assert events(client, tenant) == []


def test_resent_batch_is_all_duplicates(client: Client, tenant: Tenant) -> None:
    # invariant 2: a re-sent batch changes nothing and is reported as duplicates
    body = envelope(GOOD, {"eventId": "good-2", "profileId": "p1"})
    assert post(client, tenant, body).json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    again = post(client, tenant, body)
    assert again.status_code == 201
    assert again.json() == {"accepted": 0, "duplicates": 2, "rejected": []}
    assert len(events(client, tenant)) == 2


def test_lines_sharing_an_event_id_are_all_stored(client: Client, tenant: Tenant) -> None:
    # invariant 2: order lines share one eventId; the line number keeps them apart
    lines = [{"eventId": "order-1", "userId": "u1", "data": {"productId": p}} for p in "abc"]
    assert post(client, tenant, envelope(*lines, name="Product ordered")).json()["accepted"] == 3
    stored = events(client, tenant)
    assert [e["line"] for e in stored] == [0, 1, 2]
    assert [e["data"]["productId"] for e in stored] == ["a", "b", "c"]
    assert post(client, tenant, envelope(*lines, name="Product ordered")).json()["duplicates"] == 3


def test_same_event_id_under_another_name_is_another_event(client: Client, tenant: Tenant) -> None:
    # The browser SDK sends View Page and Leave Page with eventId = pageId.
    page = {"eventId": "pag_1", "profileId": "prof_1", "pageId": "pag_1"}
    body = {
        "track": [
            {"name": "View Page", "payload": [page]},
            {"name": "Leave Page", "payload": [page]},
        ]
    }
    assert post(client, tenant, body).json()["accepted"] == 2
    response = client.get(f"{tenant.base}/events/pag_1", headers=tenant.headers)
    assert sorted(e["eventName"] for e in response.json()["events"]) == ["Leave Page", "View Page"]


def test_items_without_event_id_get_a_server_id(client: Client, tenant: Tenant) -> None:
    body = envelope({"userId": "u1"}, {"userId": "u1"})
    assert post(client, tenant, body).json()["accepted"] == 2
    ids = {e["eventId"] for e in events(client, tenant)}
    assert len(ids) == 2 and all(ids)


WRONG_TYPES = [
    ("eventId", 12),
    ("profileId", 1),
    ("userId", True),
    ("accountId", ["a"]),
    ("sessionId", {}),
    ("pageId", 1.5),
    ("anotherUserId", 7),
    ("anotherAccountId", False),
    ("productId", 123),
    ("timestamp", [1]),
    ("timestamp", {"ms": 1}),
    ("data", [1]),
    ("data", "text"),
    ("userAttributes", "x"),
    ("accountAttributes", 1),
    ("sessionAttributes", True),
]


@pytest.mark.parametrize(("field", "value"), WRONG_TYPES)
def test_wrong_type_rejects_only_that_item(
    client: Client, tenant: Tenant, field: str, value: Any
) -> None:
    # invariant 3: the bad item is rejected alone, named, kept; its neighbour is stored
    bad = {"eventId": "bad", "userId": "u1", field: value}
    response = post(client, tenant, envelope(GOOD, bad))
    assert response.status_code == 201
    body = response.json()
    assert body["accepted"] == 1
    [rejected] = body["rejected"]
    assert rejected["group"] == 0 and rejected["item"] == 1
    assert rejected["path"] == f"track[0].payload[1].{field}"
    assert rejected["message"].startswith(("Expected", "must be"))
    [kept] = quarantined(client, tenant)
    assert msgspec.json.decode(kept["raw"]) == bad
    assert [e["eventId"] for e in events(client, tenant)] == ["good-1"]


@pytest.mark.parametrize(
    "item",
    [
        {"eventId": "x", "data": {"a": 1}},
        {"sessionId": "s1", "pageId": "p1"},
        {"userId": "undefined"},
        {"userId": "null", "profileId": "0"},
        {"profileId": "[object Object]"},
        {"accountId": "  "},
        {"productId": ""},
    ],
)
def test_items_without_a_real_identifier_are_rejected(
    client: Client, tenant: Tenant, item: dict[str, Any]
) -> None:
    response = post(client, tenant, envelope(item))
    assert response.status_code == 400  # every item rejected: 400 with the same body
    body = response.json()
    assert body["accepted"] == 0
    [rejected] = body["rejected"]
    assert rejected["item"] == 0
    assert "userId, profileId, accountId or productId" in rejected["message"] or (
        "must not be empty" in rejected["message"]
    )
    assert body["errors"][0]["message"] == rejected["message"]


def test_placeholder_beside_a_real_identifier_is_accepted(client: Client, tenant: Tenant) -> None:
    body = envelope({"userId": "undefined", "profileId": "prof_1"})
    assert post(client, tenant, body).json()["accepted"] == 1


def test_timestamp_bounds(make_client: Any, tenant: Tenant) -> None:
    client = make_client(max_future_skew_seconds=3600)
    now = int(time.time() * 1000)
    items = [
        {"eventId": "at-2010", "userId": "u", "timestamp": EARLIEST_MS},
        {"eventId": "before-2010", "userId": "u", "timestamp": EARLIEST_MS - 1},
        {"eventId": "iso", "userId": "u", "timestamp": "2024-05-02T06:38:24Z"},
        {"eventId": "soon", "userId": "u", "timestamp": now + 3_600_000 - 60_000},
        {"eventId": "too-late", "userId": "u", "timestamp": now + 3_600_000 + 60_000},
    ]
    body = post(client, tenant, envelope(*items)).json()
    assert body["accepted"] == 3
    messages = {r["item"]: r["message"] for r in body["rejected"]}
    assert "before the earliest accepted time 2010-01-01" in messages[1]
    assert "more than 3600 s after the receive time" in messages[4]
    stored = {e["eventId"]: e["timestamp"] for e in events(client, tenant)}
    assert stored["at-2010"] == EARLIEST_MS
    assert stored["iso"] == 1714631904000  # never silently rewritten


def test_strings_over_the_limit_are_rejected(make_client: Any, tenant: Tenant) -> None:
    client = make_client(max_string_length=10)
    body = post(client, tenant, envelope({"userId": "u" * 11}, GOOD, name="n")).json()
    assert body["rejected"][0]["path"] == "track[0].payload[0].userId"
    assert "at most 10 characters" in body["rejected"][0]["message"]
    long_name = post(client, tenant, envelope(GOOD, name="x" * 11))
    assert long_name.status_code == 400
    assert long_name.json()["rejected"][0] == {
        "group": 0,
        "item": None,
        "path": "track[0].name",
        "message": "must be at most 10 characters, got 11",
    }


def test_deep_and_large_objects_are_rejected(make_client: Any, tenant: Tenant) -> None:
    client = make_client(max_object_depth=3, max_object_bytes=100)
    deep = {"userId": "u", "data": {"a": {"b": {"c": {"d": 1}}}}}
    large = {"userId": "u", "userAttributes": {"bio": "x" * 200}}
    body = post(client, tenant, envelope(deep, large, GOOD)).json()
    assert body["accepted"] == 1
    assert [(r["path"], r["message"]) for r in body["rejected"]] == [
        ("track[0].payload[0].data", "must be nested at most 3 levels, got 4"),
        ("track[0].payload[1].userAttributes", "must be at most 100 bytes of JSON, got 210"),
    ]


def test_invalid_utf8_in_one_item_spares_the_rest(client: Client, tenant: Tenant) -> None:
    body = (
        b'{"track":[{"name":"E","payload":[{"userId":"u\xff"},'
        b'{"userId":"u","data":{"k":"\xfe"}},{"eventId":"ok","userId":"u"}]}]}'
    )
    response = post(client, tenant, body)
    assert response.status_code == 201
    result = response.json()
    assert result["accepted"] == 1
    assert [r["message"] for r in result["rejected"]] == [
        "contains invalid UTF-8 (byte FF at offset 1)",
        "contains invalid UTF-8 (byte FE at offset 0)",
    ]
    # issue 11: the same verdict on every msgspec version, naming the value holding the bytes
    assert [r["path"] for r in result["rejected"]] == [
        "track[0].payload[0].userId",
        "track[0].payload[1].data.k",
    ]
    assert [q["reason"] for q in quarantined(client, tenant)] == ["encoding", "encoding"]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b"{not json", None),
        (b"", None),
        (b"[]", None),
        (b'{"events": []}', None),
        (b'{"track": {}}', "track"),
        (b'{"track": [1]', None),
        # deeper than the decoders go: a 400 and kept, never a 500 (RecursionError)
        (b"[" * 5000 + b"]" * 5000, None),
    ],
)
def test_malformed_bodies_are_400_and_kept(
    client: Client, tenant: Tenant, body: bytes, path: str | None
) -> None:
    response = post(client, tenant, body)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["message"].startswith(("body is not valid JSON", "invalid track envelope"))
    assert error.get("path") == path
    [kept] = quarantined(client, tenant)
    assert kept["reason"] == "malformed" and kept["raw"] == body.decode()
    assert post(client, tenant, envelope(GOOD)).status_code == 201  # the server stays up


def test_bad_groups_are_rejected_alone(client: Client, tenant: Tenant) -> None:
    body = {
        "track": [
            {"payload": [GOOD]},
            {"name": "E", "payload": {}},
            {"name": "Fine", "payload": [GOOD]},
        ]
    }
    result = post(client, tenant, body).json()
    assert result["accepted"] == 1
    assert [(r["group"], r["item"], r["path"]) for r in result["rejected"]] == [
        (0, None, "track[0]"),
        (1, None, "track[1].payload"),
    ]
    assert "missing required field `name`" in result["rejected"][0]["message"]


def test_body_over_the_limit_is_413(make_client: Any, tenant: Tenant) -> None:
    client = make_client(max_body_bytes=1000)
    response = post(client, tenant, envelope(*[GOOD] * 30))
    assert response.status_code == 413
    assert "larger than the configured limit" in response.json()["errors"][0]["message"]


def test_too_many_items_is_413(make_client: Any, tenant: Tenant) -> None:
    client = make_client(max_items_per_request=5)
    response = post(client, tenant, envelope(*[GOOD] * 6))
    assert response.status_code == 413
    assert response.json()["errors"] == [
        {
            "message": "request carries 6 payload items; at most 5 are accepted per request",
            "path": "track",
        }
    ]
    assert events(client, tenant) == []


def test_gzip_bodies_are_accepted(client: Client, tenant: Tenant) -> None:
    compressed = gzip.compress(msgspec.json.encode(envelope(GOOD)))
    response = post(client, tenant, compressed, **{"Content-Encoding": "gzip"})
    assert response.status_code == 201
    assert response.json()["accepted"] == 1


def test_gzip_bombs_and_bad_encodings(make_client: Any, tenant: Tenant) -> None:
    client = make_client(max_body_bytes=10_000)
    bomb = gzip.compress(b'{"track":[' + b" " * 100_000 + b"]}")
    assert post(client, tenant, bomb, **{"Content-Encoding": "gzip"}).status_code == 413
    broken = post(client, tenant, b"not gzip", **{"Content-Encoding": "gzip"})
    assert broken.status_code == 400
    assert broken.json()["errors"][0]["path"] == "Content-Encoding"
    assert post(client, tenant, b"{}", **{"Content-Encoding": "br"}).status_code == 415


def test_cors_preflight_allows_browser_sdks(client: Client, tenant: Tenant) -> None:
    response = client.options(
        f"{tenant.base}/track",
        headers={
            "Origin": "https://shop.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code in (200, 204)
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert response.headers["access-control-allow-origin"] in ("*", "https://shop.example.com")
    simple = post(client, tenant, envelope(GOOD), Origin="https://shop.example.com")
    assert simple.headers["access-control-allow-origin"] in ("*", "https://shop.example.com")


def test_rejected_lines_keep_their_number(client: Client, tenant: Tenant) -> None:
    # invariant 2: a bad line still counts, so its replay cannot collide with a sibling
    lines = [
        {"eventId": "o1", "userId": "u1", "data": {"sku": "a"}},
        {"eventId": "o1", "userId": 9},
        {"eventId": "o1", "userId": "u1", "data": {"sku": "c"}},
    ]
    assert post(client, tenant, envelope(*lines, name="Product ordered")).json()["accepted"] == 2
    assert [e["line"] for e in events(client, tenant)] == [0, 2]
    assert quarantined(client, tenant)[0]["line"] == 1


def test_unknown_routes_and_methods_use_the_error_shape(client: Client, tenant: Tenant) -> None:
    missing = client.get("/nowhere")
    assert missing.status_code == 404
    assert list(missing.json()) == ["errors"] and missing.json()["errors"][0]["message"]
    wrong = client.get(f"{tenant.base}/track", headers=tenant.headers)
    assert wrong.status_code == 405
    assert wrong.json()["errors"][0]["message"]


def test_nul_characters_reject_only_their_item(client: Client, tenant: Tenant) -> None:
    # PostgreSQL text cannot hold NUL: refused per item, on both stores alike
    body = envelope({"eventId": "n1", "userId": "u\u0000x"}, GOOD)
    result = post(client, tenant, body).json()
    assert result["accepted"] == 1
    assert result["rejected"][0]["path"] == "track[0].payload[0].userId"
    assert "NUL" in result["rejected"][0]["message"]
    quarantine = quarantined(client, tenant)
    assert quarantine[0]["raw"] == '{"eventId":"n1","userId":"u\\u0000x"}'


def test_a_nul_byte_in_a_malformed_body_is_kept(client: Client, tenant: Tenant) -> None:
    response = post(client, tenant, b'{"track": [\x00')
    assert response.status_code == 400
    [kept] = quarantined(client, tenant)
    assert kept["raw"] == '{"track": [\\u0000'


def test_half_an_emoji_rejects_only_its_item(client: Client, tenant: Tenant) -> None:
    # A lone UTF-16 surrogate escape: valid to JavaScript, not valid Unicode
    bad = b'{"eventId":"s1","userId":"u","data":{"t":"\\ud83d"}}'
    body = b'{"track":[{"name":"E","payload":[' + bad + b',{"eventId":"s2","userId":"u"}]}]}'
    result = post(client, tenant, body).json()
    assert result["accepted"] == 1
    [rejected] = result["rejected"]
    assert rejected["path"] == "track[0].payload[0].data.t"  # the value, not just the item
    assert "lone UTF-16 surrogate" in rejected["message"]
    assert [e["eventId"] for e in events(client, tenant)] == ["s2"]


def test_blank_identifiers_beside_a_real_one_are_placeholders(
    client: Client, tenant: Tenant
) -> None:
    body = envelope({"userId": "", "profileId": "p1"}, {"userId": "u1", "accountId": "  "})
    assert post(client, tenant, body).json()["accepted"] == 2


def test_placeholder_event_ids_get_server_ids(client: Client, tenant: Tenant) -> None:
    # "undefined" is a client bug, not an id: deduplicating on it would lose events
    first = envelope({"eventId": "undefined", "userId": "u1"})
    second = envelope({"eventId": "undefined", "userId": "u2"})
    assert post(client, tenant, first).json()["accepted"] == 1
    assert post(client, tenant, second).json()["accepted"] == 1
    stored = events(client, tenant)
    assert sorted(e["userId"] for e in stored) == ["u1", "u2"]
    assert all(e["eventId"] != "undefined" for e in stored)


def test_concatenated_gzip_members_are_one_body(client: Client, tenant: Tenant) -> None:
    text = msgspec.json.encode(envelope(GOOD))
    compressed = gzip.compress(text[:10]) + gzip.compress(text[10:])
    response = post(client, tenant, compressed, **{"Content-Encoding": "gzip"})
    assert response.status_code == 201 and response.json()["accepted"] == 1
