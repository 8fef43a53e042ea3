"""Hostile values inside track items (issue 11, findings 3, 4 and 13; Deliver 1).

Each bad item is refused alone with the rule it broke and the path of the value, whatever
the JSON library's version says; everything else in the batch is stored; nothing is stored
that a later read could not decode, so no person, account or export answers 5xx.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from headwater.model import jsontext
from tests.conftest import Tenant

Client = TestClient[Any]
GOOD = b'{"eventId":"good","userId":"ada","userAttributes":{"plan":"pro"}}'
RANGE = "must be a number a 64-bit float can hold"


def body(*items: bytes, name: bytes = b"E") -> bytes:
    return b'{"track":[{"name":"' + name + b'","payload":[' + b",".join(items) + b"]}]}"


def post(client: Client, tenant: Tenant, content: bytes) -> Any:
    response = client.post(f"{tenant.base}/track", content=content, headers=tenant.headers)
    assert response.status_code < 500, response.text
    return response


def stored_ids(client: Client, tenant: Tenant) -> list[str]:
    response = client.get(f"{tenant.base}/events", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return [e["eventId"] for e in response.json()["events"]]


def quarantine(client: Client, tenant: Tenant) -> list[dict[str, Any]]:
    response = client.get(f"{tenant.base}/quarantine", headers=tenant.headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["items"]
    return found


# finding 3: each of these was a 500 with nothing stored (a second, unguarded decode after
# a typed one failed; a depth check decoding 1e400; 10**400 in a product's price)
# fmt: off
ONE_BAD_ITEM = [
    (b'{"userId":5,"data":{"a":1e400}}', "data.a", RANGE, "number"),
    (b'{"userId":5,"data":{"a":NaN}}', "data.a", "JSON has no NaN or Infinity", "number"),
    (b'{"userId":5,"data":{"a":-Infinity}}', "data.a", "JSON has no NaN or Infinity", "number"),
    (b'{"userId":5,"data":{"a":"\\ud83d"}}', "data.a", "lone UTF-16 surrogate", "encoding"),
    (b'{"userId":5,"extra":"\xff"}', "extra", "contains invalid UTF-8 (byte FF at offset 0)",
     "encoding"),
    (b'{"userId":"u","data":{"k":"\xed\xa0\x80"}}', "data.k",
     "contains invalid UTF-8 (bytes ED A0 80 at offset 0: a UTF-16 surrogate written as UTF-8",
     "encoding"),
    (b'{"userId":"u","data":{"a":' + b"[" * 12 + b"1e400" + b"]" * 12 + b"}}",
     "data.a" + "[0]" * 12, RANGE, "number"),
    (b'{"userId":"u","timestamp":1e400}', "timestamp", RANGE, "number"),
    (b'{"userId":"u","data":{"n":' + b"9" * 400 + b"}}", "data.n", RANGE, "number"),
    (b'{"productId":"p1","data":{"title":"T","description":"D","url":"https://x/p1",'
     b'"image_link":"https://x/p1.png","price":' + b"1" + b"0" * 400 + b"}}", "data.price",
     RANGE, "number"),
    # named where it passes the limit, as a feed product's (500 steps: data, a, 498 indexes)
    (b'{"userId":"u","data":{"a":' + b"[" * 3000 + b"]" * 3000 + b"}}", "data.a" + "[0]" * 498,
     "is nested more than 500 levels deep", "depth"),
    (b'{"userId":"u","data":{"a":01}}', "data.a", "is not valid JSON", "malformed"),
    # a bare word is one bad value, as NaN is (the whole body was refused before)
    (b'{"userId":"u","data":{"a":[1,Hoodie]}}', "data.a[1]",
     "is not valid JSON: Hoodie is not a value (text needs quotes)", "malformed"),
]
# fmt: on


@pytest.mark.parametrize(("item", "path", "rule", "reason"), ONE_BAD_ITEM)
def test_one_bad_value_rejects_only_its_item(
    client: Client, tenant: Tenant, item: bytes, path: str, rule: str, reason: str
) -> None:
    response = post(client, tenant, body(GOOD, item))
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["accepted"] == 1
    [rejected] = result["rejected"]
    assert rejected["path"] == f"track[0].payload[1].{path}"
    assert rule in rejected["message"]
    assert "surrogate" not in rejected["message"] or "surrogate" in rule  # finding 13
    assert stored_ids(client, tenant) == ["good"]
    [kept] = quarantine(client, tenant)
    assert kept["reason"] == reason
    assert kept["raw"] == item.decode("utf-8", "backslashreplace")  # the bytes as sent


def test_a_group_name_in_cesu_bytes_rejects_only_its_group(client: Client, tenant: Tenant) -> None:
    # finding 3: "\xED\xA0\x80" (a UTF-16 surrogate encoded as if UTF-8) in a group name
    content = (
        b'{"track":[{"name":"bad\xed\xa0\x80","payload":[{"userId":"u"}]},'
        b'{"name":"Fine","payload":[' + GOOD + b"]}]}"
    )
    result = post(client, tenant, content).json()
    assert result["accepted"] == 1
    assert result["rejected"] == [
        {
            "group": 0,
            "item": None,
            "path": "track[0].name",
            "message": "contains invalid UTF-8 (bytes ED A0 80 at offset 3: a UTF-16 surrogate "
            "written as UTF-8, as CESU-8 and Java's modified UTF-8 do)",
        }
    ]
    assert stored_ids(client, tenant) == ["good"]


def test_a_group_with_a_bad_item_keeps_its_other_items(client: Client, tenant: Tenant) -> None:
    # The bad value defeats the one-pass decode of the whole body: the group is split by
    # our own reading, and only the item holding it is refused.
    good2 = b'{"eventId":"good2","userId":"bob"}'
    content = body(GOOD, b'{"userId":"u","data":{"x":NaN}}', good2)
    result = post(client, tenant, content).json()
    assert result["accepted"] == 2
    assert [(r["item"], r["path"]) for r in result["rejected"]] == [
        (1, "track[0].payload[1].data.x")
    ]
    assert sorted(stored_ids(client, tenant)) == ["good", "good2"]


def test_a_bare_word_rejects_only_its_group_or_item(client: Client, tenant: Tenant) -> None:
    # Issue 11 review: one reader for everything stored reads a bare word (`Hoodie`, `nul`)
    # as one bad value, as it reads NaN; the whole body was refused before.
    content = (
        b'{"track":[{"name":"E","payload":[' + GOOD + b",nul]},Hoodie,"
        b'{"name":"F","payload":[{"eventId":"g2","userId":"bob"}]}]}'
    )
    result = post(client, tenant, content).json()
    assert result["accepted"] == 2
    assert sorted((r["path"], r["message"]) for r in result["rejected"]) == [
        ("track[0].payload[1]", "is not valid JSON: nul is not a value (text needs quotes)"),
        ("track[1]", "must be a JSON object, got a bare word (not JSON)"),
    ]
    assert sorted(stored_ids(client, tenant)) == ["g2", "good"]


POISON = [  # finding 4: each made the person's (or account's) reads 500 until erased
    b'{"userId":"ada","userAttributes":{"plan":1e400}}',
    b'{"userId":"ada","accountId":"acme","accountAttributes":{"plan":1e400}}',
    b'{"userId":"ada","userAttributes":{"plan":' + b"7" * 400 + b"}}",
]
POISON_EVENTS = [
    (b"Charge", b'{"userId":"ada","data":{"amount":1e400,"status":"succeeded"}}'),
    (b"View Page", b'{"userId":"ada","pageId":"p","data":{"url":"https://x","t":1e400}}'),
]


@pytest.mark.parametrize(
    ("name", "item"), [(b"E", item) for item in POISON] + POISON_EVENTS
)  # fmt: skip
def test_what_could_not_be_read_back_is_never_stored(
    client: Client, tenant: Tenant, name: bytes, item: bytes
) -> None:
    seed = b'{"eventId":"seed","userId":"ada","accountId":"acme","userAttributes":{"plan":"pro"}}'
    assert post(client, tenant, body(seed)).json()["accepted"] == 1
    result = post(client, tenant, body(item, name=name)).json()
    assert result["accepted"] == 0
    [rejected] = result["rejected"]
    assert RANGE in rejected["message"] and rejected["path"].startswith("track[0].payload[0].")
    # the person, their account and their access request still answer
    headers = tenant.headers
    for url, params in [
        ("profiles/lookup", {"userId": "ada"}),
        ("accounts/acme", {}),
        ("privacy/export", {"userId": "ada"}),
    ]:
        response = client.get(f"{tenant.base}/{url}", params=params, headers=headers)
        assert response.status_code == 200, (url, response.text)
    lookup = client.get(f"{tenant.base}/profiles/lookup", params={"userId": "ada"}, headers=headers)
    assert lookup.json()["attributes"]["plan"] == "pro"


def test_integers_past_64_bits_within_a_float_are_kept_exactly(
    client: Client, tenant: Tenant
) -> None:
    # A 20-digit GTIN and a 300-digit integer decode back (both msgspec 0.18 and 0.23 read
    # any integer a float can hold): kept as sent, and the person reads back.
    gtin, huge = 12345678901234567890, int("9" * 300)
    item = f'{{"userId":"ada","userAttributes":{{"gtin":{gtin},"huge":{huge}}}}}'.encode()
    assert post(client, tenant, body(item)).json()["accepted"] == 1
    response = client.get(
        f"{tenant.base}/profiles/lookup", params={"userId": "ada"}, headers=tenant.headers
    )
    assert response.status_code == 200
    assert response.json()["attributes"] == {"gtin": gtin, "huge": huge}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b'{"a":1.7976931348623157e308,"b":-1e-400,"c":"\\ud83d\\ude00"}', None),
        (b'{"a":1.7976931348623159e308}', ("a", "number")),
        (b'{"\\udc00":1}', ("", "encoding")),
        (b'{"a":"\\ud83d\\n\\ude00"}', ("a", "encoding")),
        (b'{"a":[1,2,{"b":Infinity}]}', ("a[2].b", "number")),
        (b'{"a":"tab\there"}', ("a", "malformed")),
        (b'{"a":"\\x41"}', ("a", "malformed")),
        (b'{"a":1,}', ("a", "malformed")),
        (b'{"a":1} {}', ("", "malformed")),
        (b"[" * 600 + b"]" * 600, ("[0]" * 500, "depth")),  # where it passes the limit
        (b'{"a":[1,Hoodie],"b":2}', ("a[1]", "malformed")),  # a bare word is a bad value
        (b'{"a":"\xff"}', ("a", "encoding")),
        (b'{"a":\xc3\xa9}', ("a", "malformed")),
        (b'{"a":\xff}', ("a", "encoding")),
        (b'{"a":"open}', ("a", "malformed")),
        (b"{\xff:1}", ("", "encoding")),  # bad bytes where a key belongs
        # sound UTF-8 where a key belongs, in a text with bad bytes later: the grammar's fault
        ("{é漢:1,".encode() + b'"b":"\xff"}', ("", "malformed")),
    ],
)
def test_the_reading_names_the_value_and_the_rule(
    text: bytes, expected: tuple[str, str] | None
) -> None:
    found = jsontext.problem(text)
    assert (None if found is None else (found.path, found.reason)) == expected
