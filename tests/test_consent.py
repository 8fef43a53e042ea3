"""Consent (issue 6; reference §7): recording decisions, status per category, the ingest gate."""

from __future__ import annotations

import base64
import time
from typing import Any

import httpx
import msgspec
import pytest
from litestar.testing import TestClient

from headwater.consent.records import ConsentRecord
from headwater.consent.status import Consent
from headwater.consent.status import status as consent_status
from headwater.store.base import Store
from headwater.tenancy import provision
from tests.conftest import Tenant

Client = TestClient[Any]
T = 1_714_631_904_000  # 2024-05-02T06:38:24Z: a consent time in the past, in ms
S = T // 1000  # the same in seconds
DAY = 86_400_000
YEAR_S = 31_536_000  # what the iOS SDK sends as validUntil: a duration of one year
LATEST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
REFUSED = 'headwater_events_refused_total{reason="consent"}'
HOODIE = {
    "id": "SKU9",
    "title": "Cotton Hoodie",
    "description": "Soft-touch premium cotton hoodie.",
    "url": "https://shop.example/p/SKU9",
    "image_link": "https://shop.example/i/SKU9.jpg",
}


# -- helpers ---------------------------------------------------------------------------------------


def now_ms() -> int:
    return int(time.time() * 1000)


def person_id(user_id: str) -> str:
    """The id of the person a userId anchors (identity/resolve.py anchor_id)."""
    return "u_" + base64.urlsafe_b64encode(user_id.encode()).decode().rstrip("=")


def send(
    client: Client, tenant: Tenant, body: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    content = body if isinstance(body, bytes) else msgspec.json.encode(body)
    return client.post(
        f"{tenant.base}/consents/data", content=content, headers=headers or tenant.headers
    )


def record(client: Client, tenant: Tenant, **fields: Any) -> None:
    """POST one consent that must be stored: 200 with a body of exactly `{}`."""
    response = send(client, tenant, fields)
    assert response.status_code == 200, response.text
    assert response.content == b"{}"


def refuse(client: Client, tenant: Tenant, body: Any, status: int, path: str) -> str:
    """POST a consent that must fail with `status`, naming `path`; the error message."""
    response = send(client, tenant, body)
    assert response.status_code == status, response.text
    [error] = response.json()["errors"]
    assert error["path"] == path, error
    message: str = error["message"]
    return message


def consents(client: Client, tenant: Tenant, user_id: str) -> dict[str, Any]:
    url = f"{tenant.base}/profiles/{person_id(user_id)}/consents"
    response = client.get(url, headers=tenant.headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def history(client: Client, tenant: Tenant, user_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = consents(client, tenant, user_id)["history"]
    return found


def lookup(client: Client, tenant: Tenant, **params: str) -> httpx.Response:
    return client.get(f"{tenant.base}/profiles/lookup", params=params, headers=tenant.headers)


def track(client: Client, tenant: Tenant, *items: dict[str, Any], name: str = "E") -> Any:
    """POST one track group; the response body (201 or 400 checked by the caller)."""
    body = msgspec.json.encode({"track": [{"name": name, "payload": list(items)}]})
    return client.post(f"{tenant.base}/track", content=body, headers=tenant.headers)


def stored(client: Client, tenant: Tenant) -> list[str]:
    response = client.get(f"{tenant.base}/events", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return sorted(e["eventId"] for e in response.json()["events"])


def quarantined(client: Client, tenant: Tenant, status: str = "all") -> list[dict[str, Any]]:
    url = f"{tenant.base}/quarantine"
    response = client.get(url, params={"status": status}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["items"]
    return found


def require(client: Client, tenant: Tenant, *categories: str) -> None:
    body = msgspec.json.encode({"requiredCategories": list(categories)})
    url = f"{tenant.base}/consents/requirements"
    response = client.put(url, content=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"requiredCategories": sorted(set(categories))}


def refused_total(client: Client) -> float:
    """The consent refusals counted so far (per process, shared by tests: compare deltas)."""
    for line in client.get("/metrics").text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == REFUSED:
            return float(value)
    return 0.0


# -- 1. recording: times ---------------------------------------------------------------------------
# Each table is checked in one test per backend (one store each): the forms are many and a
# fresh store per form would make the file slow. Every case records under its own userId.

TIMESTAMPS: list[tuple[str, Any, int]] = [
    ("ms", T, T),
    ("seconds", S, T),
    ("fractional-seconds", S + 0.25, T + 250),
    ("fractional-ms-floored", T + 0.9, T),
    ("ms-digits", str(T), T),
    ("seconds-digits", str(S), T),
    ("seconds-digits-padded", f" {S} ", T),
    ("iso-z", "2024-05-02T06:38:24Z", T),
    ("iso-offset", "2024-05-02T08:38:24.250+02:00", T + 250),
    ("iso-naive-is-utc", "2024-05-02T06:38:24", T),
    ("2010-exactly-seconds", 1_262_304_000, 1_262_304_000_000),
    ("2010-exactly-ms", 1_262_304_000_000, 1_262_304_000_000),
]

BAD_TIMESTAMPS: list[tuple[str, Any]] = [
    ("before-2010-seconds", 1_262_303_999),
    ("before-2010-ms", 1_262_303_999_999),
    ("before-2010-digits", "1262303999"),
    ("before-2010-iso", "2009-12-31T23:59:59Z"),
    ("zero", 0),
    ("negative", -5),
    ("10^12-is-seconds-so-far-future", 10**12),
    ("year-10000", 253_402_300_800_000),
    ("huge", 10**30),
    ("garbage", "yesterday"),
    ("empty", ""),
    ("bad-iso", "2024-13-45T00:00:00Z"),
    ("overlong", "x" * 300),
    ("bool", True),
    ("object", {"s": 1}),
    ("array", [S]),
]

VALID_UNTIL: list[tuple[str, Any, int | None]] = [
    ("ms", T + DAY, T + DAY),
    ("seconds", S + 86_400, T + DAY),
    ("ms-digits", str(T + DAY), T + DAY),
    ("seconds-digits", str(S + 86_400), T + DAY),
    ("iso", "2025-05-02T06:38:24Z", T + 365 * DAY),
    ("iso-date", "2024-05-03", T + DAY - (6 * 3600 + 38 * 60 + 24) * 1000),
    ("duration-ios", YEAR_S, T + YEAR_S * 1000),
    ("duration-digits", str(YEAR_S), T + YEAR_S * 1000),
    ("duration-1s", 1, T + 1000),
    ("duration-fractional", 0.5, T + 500),
    ("duration-longest", 1_262_303_999, T + 1_262_303_999_000),
    ("9999-12-31-exactly", LATEST_MS, LATEST_MS),
    ("unlimited", "unlimited", None),
    ("unlimited-upper", "UNLIMITED", None),
    ("unlimited-padded", " Unlimited ", None),
    ("null", None, None),
]

BAD_VALID_UNTIL: list[tuple[str, Any]] = [
    ("zero", 0),
    ("negative", -1),
    ("negative-ms", -T),
    ("zero-digits", "0"),
    ("negative-digits", "-5"),
    ("equal-to-timestamp", T),
    ("equal-to-timestamp-seconds", S),
    ("before-timestamp", T - 1),
    ("before-timestamp-iso", "2024-05-01T00:00:00Z"),
    ("2010-is-a-date-not-a-duration", 1_262_304_000),
    ("after-9999", LATEST_MS + 1),
    ("huge", 10**30),
    ("year-10000-iso", "10000-01-01T00:00:00Z"),
    ("garbage", "forever"),
    ("empty", ""),
    ("bool", True),
    ("object", {"days": 30}),
]


def test_timestamp_forms(client: Client, tenant: Tenant) -> None:
    # rule: numbers above 10^12 are ms, others seconds (x1000); digits and ISO-8601 read too
    for case, sent, expected in TIMESTAMPS:
        user = f"ts-{case}"
        record(client, tenant, action="accept", userId=user, timestamp=sent)
        [entry] = history(client, tenant, user)
        assert (entry["timestamp"], entry["validUntil"]) == (expected, None), case


@pytest.mark.parametrize("absent", [{}, {"timestamp": None}], ids=["absent", "null"])
def test_absent_timestamp_is_the_receive_time(
    client: Client, tenant: Tenant, absent: dict[str, Any]
) -> None:
    # rule: without a timestamp the consent time is the receive time
    before = now_ms()
    record(client, tenant, action="accept", userId="tina", **absent)
    [entry] = history(client, tenant, "tina")
    assert before <= entry["timestamp"] <= now_ms()
    assert entry["timestamp"] == entry["receivedAt"]


def test_bad_timestamps_are_400(client: Client, tenant: Tenant) -> None:
    # rule: a timestamp before 2010-01-01, in the far future or unreadable is refused
    for case, sent in BAD_TIMESTAMPS:
        body = {"action": "accept", "userId": f"ts-{case}", "timestamp": sent}
        refuse(client, tenant, body, 400, "timestamp")
        assert lookup(client, tenant, userId=f"ts-{case}").status_code == 404, case


@pytest.mark.parametrize("field", ["timestamp", "validUntil"])
def test_unicode_digit_garbage_is_400(client: Client, tenant: Tenant, field: str) -> None:
    # rule: an unreadable time is a 400 naming the field, never a 500
    for garbage in ("²", "--5", "5-", "1_000"):
        refuse(client, tenant, {"action": "accept", "userId": "tina", field: garbage}, 400, field)


def test_deep_fields_are_400(client: Client, tenant: Tenant) -> None:
    # rule: a field nested deeper than max_object_depth is a 400 naming it, never a 500
    for depth in (40, 500, 20_000):
        body = b'{"action":"accept","userId":"dee","deviceInfo":' + b"[" * depth
        body += b"]" * depth + b"}"
        response = send(client, tenant, body)
        assert response.status_code == 400, (depth, response.text)
    assert lookup(client, tenant, userId="dee").status_code == 404


def test_future_timestamps_within_the_skew_only(make_client: Any, tenant: Tenant) -> None:
    # rule: more than max_future_skew_seconds after the receive time is refused
    client = make_client(max_future_skew_seconds=60)
    base = now_ms()
    for late in (base + 120_000, (base + 120_000) // 1000, str(base + 120_000)):
        message = refuse(
            client,
            tenant,
            {"action": "reject", "userId": "fay", "timestamp": late},
            400,
            "timestamp",
        )
        assert "60 s after the receive time" in message
    record(client, tenant, action="accept", userId="fay", timestamp=base + 30_000)
    assert [e["timestamp"] for e in history(client, tenant, "fay")] == [base + 30_000]


def test_valid_until_forms(client: Client, tenant: Tenant) -> None:
    # rule: a positive number below 1262304000 is a duration in seconds from the timestamp;
    # larger ones are dates (s or ms); "unlimited" (any case) and null are unlimited
    for case, sent, expected in VALID_UNTIL:
        user = f"vu-{case}"
        record(client, tenant, action="accept", userId=user, timestamp=T, validUntil=sent)
        [entry] = history(client, tenant, user)
        assert (entry["timestamp"], entry["validUntil"]) == (T, expected), case


def test_absent_valid_until_is_unlimited(client: Client, tenant: Tenant) -> None:
    # rule: no validUntil: the decision never lapses
    record(client, tenant, action="accept", userId="val", timestamp=T)
    [entry] = history(client, tenant, "val")
    assert entry["validUntil"] is None
    assert consents(client, tenant, "val")["status"]["general"]["status"] == "accepted"


def test_a_duration_counts_from_the_receive_time_when_timestamp_is_absent(
    client: Client, tenant: Tenant
) -> None:
    # rule: a duration counts from the consent time, which is then the receive time
    record(client, tenant, action="accept", userId="val", validUntil=60)
    [entry] = history(client, tenant, "val")
    assert entry["validUntil"] == entry["timestamp"] + 60_000 == entry["receivedAt"] + 60_000


def test_bad_valid_until_is_400(client: Client, tenant: Tenant) -> None:
    # rule: validUntil must be positive, after the timestamp, and no later than 9999-12-31
    for case, sent in BAD_VALID_UNTIL:
        body = {"action": "accept", "userId": f"vu-{case}", "timestamp": T, "validUntil": sent}
        refuse(client, tenant, body, 400, "validUntil")
        assert lookup(client, tenant, userId=f"vu-{case}").status_code == 404, case


# -- 1. recording: action, identity, other fields, limits ------------------------------------------


def test_action_must_be_accept_or_reject(client: Client, tenant: Tenant) -> None:
    # rule: action is exactly accept or reject; anything else is a 400 naming `action`
    for action in (None, "ACCEPT", "Reject", "accepted", "yes", "", 1, True):
        body = {"userId": "act", "timestamp": T} | ({} if action is None else {"action": action})
        response = send(client, tenant, body)
        assert response.status_code == 400, action
        [error] = response.json()["errors"]  # the one error shape: {"errors": [{message, path}]}
        assert set(error) == {"message", "path"}
        assert error["path"] == "action" and error["message"].startswith("action "), action
    assert lookup(client, tenant, userId="act").status_code == 404


NO_IDENTITY: list[tuple[dict[str, Any], str]] = [
    ({}, "userId"),
    ({"userId": "undefined"}, "userId"),
    ({"userId": " NULL ", "profileId": "guest"}, "userId"),
    ({"userId": "", "sourceId": "1"}, "userId"),
    ({"userId": 42}, "userId"),
    ({"profileId": ["p"]}, "profileId"),
    ({"profileId": "p1"}, "sourceId"),
    ({"profileId": "p1", "sourceId": " "}, "sourceId"),
    ({"profileId": "p1", "sourceId": True}, "sourceId"),
    ({"userId": "u" * 300}, "userId"),
    ({"userId": "a\x00b"}, "userId"),
]


def test_an_identity_is_required(client: Client, tenant: Tenant) -> None:
    # rule: a userId, or a profileId with its sourceId; placeholder ids do not count
    for fields, path in NO_IDENTITY:
        refuse(client, tenant, {"action": "accept", "timestamp": T, **fields}, 400, path)
    assert lookup(client, tenant, profileId="p1").status_code == 404


def test_profile_only_needs_a_source_of_the_project(client: Client, tenant: Tenant) -> None:
    # rule: a profileId-only record's sourceId must be a source of the project, else 404
    message = refuse(
        client,
        tenant,
        {"action": "accept", "timestamp": T, "profileId": "dev1", "sourceId": "1001"},
        404,
        "sourceId",
    )
    assert message == "source '1001' not found in project acme/web"
    assert lookup(client, tenant, profileId="dev1").status_code == 404


@pytest.mark.parametrize(
    "source",
    [pytest.param("string", id="string"), pytest.param("number", id="number")],
)
def test_profile_and_source_identify_a_device(client: Client, tenant: Tenant, source: str) -> None:
    # rule: sourceId is a string or a number; a number is stored as a string, exactly
    sent: Any = tenant.key.source_id if source == "string" else int(tenant.key.source_id)
    record(client, tenant, action="reject", timestamp=T, profileId="dev1", sourceId=sent)
    person = lookup(client, tenant, profileId="dev1")
    assert person.status_code == 200, person.text
    general = person.json()["consents"]["general"]
    assert general["status"] == "rejected"
    assert (general["profileId"], general["userId"]) == ("dev1", None)
    assert general["sourceId"] == tenant.key.source_id


def test_a_placeholder_user_id_beside_a_profile_id_is_ignored(
    client: Client, tenant: Tenant
) -> None:
    # rule: a placeholder userId is no identifier: the record is the device's
    record(
        client,
        tenant,
        action="accept",
        timestamp=T,
        userId="undefined",
        profileId="dev2",
        sourceId=tenant.key.source_id,
    )
    assert lookup(client, tenant, userId="undefined").status_code == 404
    general = lookup(client, tenant, profileId="dev2").json()["consents"]["general"]
    assert (general["userId"], general["profileId"], general["status"]) == (
        None,
        "dev2",
        "accepted",
    )


def test_a_user_id_needs_no_known_source(client: Client, tenant: Tenant) -> None:
    # rule: with a userId the record is the user's; its sourceId is kept as given
    record(client, tenant, action="accept", timestamp=T, userId="uma", sourceId=1001)
    [entry] = history(client, tenant, "uma")
    assert entry["sourceId"] == "1001" and entry["userId"] == "uma"


def test_other_fields_are_kept_and_shown(client: Client, tenant: Tenant) -> None:
    # rule: the wire's optional fields are shown beside the record's; others under `extra`
    optional = {
        "email": "kim@example.com",
        "message": "Yes, email me offers",
        "reason": "banner",
        "method": "click",
        "deviceInfo": {"os": "iOS 17", "model": "iPhone15,2"},  # any JSON value
        "source": "web",
    }
    unknown = {"type": "consent", "campaign": {"id": 7, "tags": ["spring"]}}
    record(
        client,
        tenant,
        action="accept",
        userId="kim",
        timestamp=T,
        category="news",
        **optional,
        **unknown,
    )
    [entry] = history(client, tenant, "kim")
    assert entry == {
        "id": entry["id"],
        "action": "accept",
        "category": "news",
        "timestamp": T,
        "validUntil": None,
        "userId": "kim",
        "profileId": None,
        "sourceId": None,
        "receivedAt": entry["receivedAt"],
        **optional,
        "extra": unknown,
    }
    assert isinstance(entry["id"], int) and abs(entry["receivedAt"] - now_ms()) < 60_000
    news = consents(client, tenant, "kim")["status"]["categories"]["news"]
    assert news == {**entry, "status": "accepted"}


def test_unknown_fields_cannot_override_the_view(client: Client, tenant: Tenant) -> None:
    # rule: a client's field never replaces the computed status, the record id or times
    spoof = {"status": "accepted", "id": "x", "receivedAt": 1, "extra": 2}
    record(client, tenant, action="reject", userId="spoof", timestamp=T, **spoof)
    general = consents(client, tenant, "spoof")["status"]["general"]
    assert general["status"] == "rejected"
    assert isinstance(general["id"], int) and general["receivedAt"] > T
    assert general["extra"] == spoof


def test_text_fields_must_be_strings(client: Client, tenant: Tenant) -> None:
    # rule: email, message, reason, method, source and category are strings or a 400
    for field in ("email", "message", "reason", "method", "source", "category"):
        for value in (5, True, {"a": 1}, ["x"]):
            body = {"action": "accept", "userId": "kim", "timestamp": T, field: value}
            message = refuse(client, tenant, body, 400, field)
            assert "must be a string" in message, (field, value)
    assert lookup(client, tenant, userId="kim").status_code == 404


def test_consent_texts_may_be_long(client: Client, tenant: Tenant) -> None:
    # rule: the consent text shown to a person is kept whole, past max_string_length (only
    # the body size bounds it)
    text = "I agree to analytics cookies. " * 40
    record(client, tenant, action="accept", userId="len", timestamp=T, message=text)
    [kept] = consents(client, tenant, "len")["history"]
    assert kept["message"] == text


def test_a_blank_category_is_general(client: Client, tenant: Tenant) -> None:
    # rule: a blank category is a general decision, as an absent one
    record(client, tenant, action="reject", userId="kim", timestamp=T, category="  ")
    status = consents(client, tenant, "kim")["status"]
    assert status["general"]["category"] is None and status["categories"] == {}


def test_a_resent_record_is_stored_once(client: Client, tenant: Tenant) -> None:
    # rule: a retry of an identical record answers 200 {} and is stored once
    body = {
        "action": "accept",
        "userId": "rex",
        "timestamp": T,
        "category": "news",
        "validUntil": YEAR_S,
        "message": "ok",
    }
    for _ in range(3):
        record(client, tenant, **body)
    assert len(history(client, tenant, "rex")) == 1
    record(client, tenant, **{**body, "message": "ok again"})  # any difference: a new record
    record(client, tenant, **{**body, "sourceId": "9"})
    record(client, tenant, **{**body, "sourceId": 9})  # the same record as "9"
    assert len(history(client, tenant, "rex")) == 3


def test_the_body_is_one_json_object(client: Client, tenant: Tenant) -> None:
    # rule: one flat JSON object per request (not batched)
    for malformed in (b"", b"{", b"[]", b'"accept"', b"null", b'[{"a":1}]', b"\xff"):
        response = send(client, tenant, malformed)
        assert response.status_code == 400, malformed
        assert response.json()["errors"][0]["message"], malformed


def test_body_size_limit(make_client: Any, tenant: Tenant) -> None:
    # rule: a consent body over max_object_bytes is 413; at the limit it is accepted
    client = make_client(max_object_bytes=300)
    start = {"action": "accept", "userId": "big", "timestamp": T, "note": ""}
    pad = 300 - len(msgspec.json.encode(start))
    at_limit = msgspec.json.encode({**start, "note": "n" * pad})
    assert len(at_limit) == 300
    assert send(client, tenant, at_limit).status_code == 200
    over = msgspec.json.encode({**start, "note": "n" * (pad + 1), "timestamp": T + 1})
    response = send(client, tenant, over)
    assert response.status_code == 413
    assert "300" in response.json()["errors"][0]["message"]
    assert len(history(client, tenant, "big")) == 1


def test_big_bodies_with_default_settings(client: Client, tenant: Tenant) -> None:
    # rule: the default max_object_bytes (64 KiB) bounds a consent body; nothing is stored
    body = {"action": "accept", "userId": "big", "timestamp": T, "note": "n" * 70_000}
    assert send(client, tenant, body).status_code == 413
    assert lookup(client, tenant, userId="big").status_code == 404


# -- 1. the reference's own bodies, verbatim -------------------------------------------------------


def test_help_consents_example(client: Client, tenant: Tenant) -> None:
    # HELP-CONSENTS: ms times, an 18-digit numeric sourceId, identified by profileId alone
    made = client.post(
        f"{tenant.base}/sources",
        headers=tenant.headers,
        content=b'{"name": "Mobile", "id": 589541138664144896}',
    )
    assert made.status_code == 201, made.text
    body = (
        b'{"action":"accept","category":"news","timestamp":1707735272863,'
        b'"validUntil":1710859460000,"source":"Mobile","sourceId":589541138664144896,'
        b'"profileId":"07940997-185b-437e-84d8-151f479fd088","email":"\xe2\x80\xa6",'
        b'"message":"Yes, email me offers\xe2\x80\xa6"}'
    )
    response = send(client, tenant, body)
    assert (response.status_code, response.content) == (200, b"{}")
    person = lookup(client, tenant, profileId="07940997-185b-437e-84d8-151f479fd088").json()
    news = person["consents"]["categories"]["news"]
    assert news["status"] == "expired"  # its validUntil (2024-03-19) has passed
    assert (news["timestamp"], news["validUntil"]) == (1707735272863, 1710859460000)
    assert news["sourceId"] == "589541138664144896"
    assert (news["source"], news["email"], news["message"]) == (
        "Mobile",
        "…",
        "Yes, email me offers…",
    )
    assert person["consents"]["general"] is None


def test_swift_contract_example(client: Client, tenant: Tenant) -> None:
    # SWIFT-CONTRACT: no timestamp, sourceId a string, validUntil a one-year duration in s;
    # sent with the key in the `apiKey` query parameter as the SDKs do
    device = "E621E1F8-C36C-495A-93FC-0C247A3E6E5F"
    body = {
        "action": "accept",
        "profileId": device,
        "sourceId": tenant.key.source_id,
        "source": "ios",
        "validUntil": 31536000,
    }
    response = client.post(
        f"{tenant.base}/consents/data",
        content=msgspec.json.encode(body),
        params={"apiKey": tenant.key.api_key},
    )
    assert (response.status_code, response.content) == (200, b"{}")
    general = lookup(client, tenant, profileId=device).json()["consents"]["general"]
    assert general["status"] == "accepted" and general["source"] == "ios"
    assert general["validUntil"] == general["timestamp"] + 31_536_000_000
    assert abs(general["timestamp"] - now_ms()) < 60_000


def test_node_v2_example(client: Client, tenant: Tenant) -> None:
    # NODE v2: epoch seconds, validUntil "unlimited", a category, userId alone
    body = (
        b'{"action":"accept","timestamp":1786528800,"category":"marketing","userId":"u1",'
        b'"validUntil":"unlimited","source":"NodeJs tracker"}'
    )
    assert send(client, tenant, body).content == b"{}"
    found = consents(client, tenant, "u1")
    [entry] = found["history"]
    assert (entry["timestamp"], entry["validUntil"]) == (1_786_528_800_000, None)
    assert entry["source"] == "NodeJs tracker"
    assert found["status"] == {
        "general": None,
        "categories": {"marketing": {"status": "accepted", **entry}},
    }


def test_docs_consent_js_example(client: Client, tenant: Tenant) -> None:
    # DOCS-CONSENT (JS tab): Date.now() ms values, sourceId 0 beside a userId and a profileId
    now = now_ms()
    body = {
        "action": "accept",
        "timestamp": now,
        "validUntil": now + 365 * DAY,
        "source": "desktop",
        "category": "analytics",
        "sourceId": 0,
        "profileId": "profile_abc123",
        "userId": "user@example.com",
        "email": "user@example.com",
        "message": "User accepted analytics consent on cookie banner",
    }
    record(client, tenant, **body)
    [entry] = history(client, tenant, "user@example.com")
    assert (entry["timestamp"], entry["validUntil"]) == (now, now + 365 * DAY)
    assert (entry["sourceId"], entry["profileId"]) == ("0", "profile_abc123")


# -- 2. status -------------------------------------------------------------------------------------


def test_no_consent_is_an_empty_status(client: Client, tenant: Tenant) -> None:
    # rule: a person without records has {"general": null, "categories": {}}
    assert track(client, tenant, {"eventId": "e1", "userId": "neo"}).status_code == 201
    assert lookup(client, tenant, userId="neo").json()["consents"] == {
        "general": None,
        "categories": {},
    }
    found = consents(client, tenant, "neo")
    assert found == {
        "id": person_id("neo"),
        "status": {"general": None, "categories": {}},
        "history": [],
        "next": None,
    }


def test_latest_by_consent_time_wins_not_arrival(client: Client, tenant: Tenant) -> None:
    # rule: the record with the latest consent timestamp decides, whatever arrived last
    record(client, tenant, action="accept", userId="lia", timestamp=T + 10)
    record(client, tenant, action="reject", userId="lia", timestamp=T)
    found = consents(client, tenant, "lia")
    assert found["status"]["general"]["status"] == "accepted"
    assert found["status"]["general"]["timestamp"] == T + 10
    assert [(h["action"], h["timestamp"]) for h in found["history"]] == [
        ("accept", T + 10),
        ("reject", T),
    ]
    # the profile JSON shows the same status
    assert lookup(client, tenant, userId="lia").json()["consents"] == found["status"]


def test_a_general_record_counts_for_every_category(client: Client, tenant: Tenant) -> None:
    # rule: a category shows the later of its own latest record and the general latest
    record(client, tenant, action="accept", userId="gus", timestamp=T, category="analytics")
    record(client, tenant, action="reject", userId="gus", timestamp=T + 5)
    record(client, tenant, action="accept", userId="gus", timestamp=T + 10, category="marketing")
    record(client, tenant, action="accept", userId="gus", timestamp=T + 1, category="marketing")
    status = consents(client, tenant, "gus")["status"]
    assert (status["general"]["status"], status["general"]["timestamp"]) == ("rejected", T + 5)
    assert set(status["categories"]) == {"analytics", "marketing"}
    analytics, marketing = status["categories"]["analytics"], status["categories"]["marketing"]
    assert analytics == status["general"]  # the general reject is later than its own accept
    assert analytics["category"] is None
    assert (marketing["status"], marketing["timestamp"]) == ("accepted", T + 10)
    assert marketing["category"] == "marketing"


@pytest.mark.parametrize("first", ["accept", "reject"])
@pytest.mark.parametrize("category", [None, "news"])
def test_at_the_same_time_the_later_received_decides(
    client: Client, tenant: Tenant, first: str, category: str | None
) -> None:
    # rule: records of the same consent time (SDKs send whole seconds) are ordered by receipt:
    # a revoke and a re-grant within one second leave the later one in force
    second = "reject" if first == "accept" else "accept"
    extra = {} if category is None else {"category": category}
    record(client, tenant, action=first, userId="tie", timestamp=S, **extra)
    time.sleep(0.005)  # a later receive time, whatever the clock's resolution
    record(client, tenant, action=second, userId="tie", timestamp=S, **extra)
    status = consents(client, tenant, "tie")["status"]
    decided = status["general"] if category is None else status["categories"][category]
    assert (decided["action"], decided["status"]) == (second, f"{second}ed")
    assert [h["action"] for h in history(client, tenant, "tie")] == [second, first]


def stored_record(
    id_: int, action: str, valid_until: int | None = None, category: str | None = None
) -> Consent:
    """A stored record of "rec", all decided and received at the same times."""
    return Consent(id_, "rec", None, None, category, action, T, valid_until, T + 5, "{}", str(id_))


@pytest.mark.parametrize("ids", [(1, 2), (2, 1)])
def test_at_the_very_same_times_reject_then_the_longer_lived_decides(ids: tuple[int, int]) -> None:
    # rule: same consent and receive times: reject wins, then the later validUntil, in any
    # order (the store's row order must not matter)
    now = now_ms()
    accept, reject = stored_record(ids[0], "accept"), stored_record(ids[1], "reject")
    for records in ([accept, reject], [reject, accept]):
        assert consent_status(records, now)["general"]["action"] == "reject"
    lapsing = stored_record(ids[0], "accept", valid_until=now + DAY)
    lasting = stored_record(ids[1], "accept")
    for records in ([lapsing, lasting], [lasting, lapsing]):
        general = consent_status(records, now)["general"]
        assert (general["id"], general["validUntil"]) == (ids[1], None)
    with_category = [stored_record(ids[0], "accept", category="news"), reject]
    news = consent_status(with_category, now)["categories"]["news"]
    assert (news["id"], news["status"]) == (ids[1], "rejected")


@pytest.mark.parametrize("action", ["accept", "reject"])
def test_a_record_past_its_valid_until_has_expired(
    client: Client, tenant: Tenant, action: str
) -> None:
    # rule: past its validUntil a record's status is "expired", whatever its action
    record(
        client,
        tenant,
        action=action,
        userId="exp",
        timestamp=T,
        validUntil=T + DAY,
        category="analytics",
    )
    record(
        client,
        tenant,
        action=action,
        userId="exp",
        timestamp=T,
        validUntil=now_ms() + DAY,
        category="news",
    )
    categories = consents(client, tenant, "exp")["status"]["categories"]
    assert categories["analytics"]["status"] == "expired"
    assert categories["analytics"]["action"] == action
    assert categories["news"]["status"] == f"{action}ed"


def test_a_later_expired_record_still_decides(client: Client, tenant: Tenant) -> None:
    # rule: the latest record decides even when it has expired (no fall back to an older one)
    record(client, tenant, action="accept", userId="old", timestamp=T)
    record(client, tenant, action="accept", userId="old", timestamp=T + 1, validUntil=T + DAY)
    general = consents(client, tenant, "old")["status"]["general"]
    assert (general["timestamp"], general["status"]) == (T + 1, "expired")


def test_history_is_newest_first(client: Client, tenant: Tenant) -> None:
    # rule: the history lists every record, newest consent time first
    for offset, action in ((20, "accept"), (0, "reject"), (30, "reject"), (10, "accept")):
        record(
            client,
            tenant,
            action=action,
            userId="his",
            timestamp=T + offset,
            category="c" if offset % 20 else None,
        )
    found = history(client, tenant, "his")
    assert [h["timestamp"] for h in found] == [T + 30, T + 20, T + 10, T]
    assert [h["category"] for h in found] == ["c", None, "c", None]


def test_status_spans_every_identifier_of_a_person(client: Client, tenant: Tenant) -> None:
    # rule: a record under a profileId belongs to the person that profileId is linked to,
    # even when the link came later
    source = tenant.key.source_id
    record(
        client,
        tenant,
        action="reject",
        timestamp=T + 5,
        profileId="phone",
        sourceId=source,
        category="analytics",
    )
    record(client, tenant, action="accept", timestamp=T, userId="ada")
    record(
        client, tenant, action="accept", timestamp=T + 9, profileId="kiosk", sourceId=source
    )  # another person's device
    linked = track(
        client,
        tenant,
        {"eventId": "i1", "profileId": "phone", "userId": "ada", "timestamp": T},
        name="Identify",
    )
    assert linked.status_code == 201
    found = consents(client, tenant, "ada")
    assert found["id"] == person_id("ada")
    assert [(h["timestamp"], h["profileId"]) for h in found["history"]] == [
        (T + 5, "phone"),
        (T, None),
    ]
    status = found["status"]
    assert status["general"]["status"] == "accepted"
    assert status["categories"]["analytics"]["status"] == "rejected"
    by_device = lookup(client, tenant, profileId="phone").json()
    assert by_device["id"] == person_id("ada") and by_device["consents"] == status
    kiosk = lookup(client, tenant, profileId="kiosk").json()
    assert kiosk["consents"]["general"]["timestamp"] == T + 9


def test_a_person_known_only_from_consent(client: Client, tenant: Tenant) -> None:
    # rule: a consent record makes a person the lookup finds
    record(client, tenant, action="accept", userId="ghost", timestamp=T)
    person = lookup(client, tenant, userId="ghost")
    assert person.status_code == 200, person.text
    assert person.json()["id"] == person_id("ghost")
    assert person.json()["computed"]["event_count"] == 0
    assert person.json()["consents"]["general"]["status"] == "accepted"


def test_unknown_persons_are_404(client: Client, tenant: Tenant) -> None:
    # rule: person ids never made, or of identifiers nobody used, are 404
    record(client, tenant, action="accept", userId="somebody", timestamp=T)
    for pid in (person_id("nobody"), "a_bm9ib2R5", "zz", "u_", "u_!!", person_id("undefined")):
        response = client.get(f"{tenant.base}/profiles/{pid}/consents", headers=tenant.headers)
        assert response.status_code == 404, pid
        assert response.json()["errors"][0]["message"], pid


# -- 3. enforcement --------------------------------------------------------------------------------


def test_requirements_round_trip(client: Client, tenant: Tenant) -> None:
    # rule: none by default; PUT replaces the list (sorted, once each); GET shows it
    url = f"{tenant.base}/consents/requirements"
    assert client.get(url, headers=tenant.headers).json() == {"requiredCategories": []}
    require(client, tenant, "marketing", "analytics", "analytics")
    assert client.get(url, headers=tenant.headers).json() == {
        "requiredCategories": ["analytics", "marketing"]
    }
    require(client, tenant)
    assert client.get(url, headers=tenant.headers).json() == {"requiredCategories": []}


BAD_REQUIREMENTS = [
    b"",
    b"{",
    b"{}",
    b"[]",
    b'["analytics"]',
    b'{"requiredCategories": "analytics"}',
    b'{"requiredCategories": null}',
    b'{"requiredCategories": [1]}',
    b'{"requiredCategories": [null]}',
    b'{"requiredCategories": [""]}',
    b'{"requiredCategories": ["  "]}',
    b'{"requiredCategories": ["a\\u0000"]}',
    b'{"requiredCategories": ["' + b"x" * 300 + b'"]}',
    b'{"requiredCategories": ["analytics"], "extra": 1}',
]


def test_bad_requirements_are_400(client: Client, tenant: Tenant) -> None:
    # rule: a bad body changes nothing
    require(client, tenant, "news")
    url = f"{tenant.base}/consents/requirements"
    for body in BAD_REQUIREMENTS:
        response = client.put(url, content=body, headers=tenant.headers)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["errors"][0]["message"], body
    assert client.get(url, headers=tenant.headers).json() == {"requiredCategories": ["news"]}


def test_events_of_a_rejecting_person_are_refused(client: Client, tenant: Tenant) -> None:
    # rule: with a required category, a person whose deciding record for it is a reject is
    # not stored: reported in `rejected`, counted, and kept nowhere (not even quarantine)
    require(client, tenant, "analytics")
    record(client, tenant, action="reject", userId="ana", timestamp=T, category="analytics")
    record(client, tenant, action="accept", userId="bo", timestamp=T, category="analytics")
    before = refused_total(client)
    response = track(
        client,
        tenant,
        {"eventId": "b1", "userId": "bo"},
        {"eventId": "a1", "userId": "ana", "data": {"secret": "s3"}},
        {"eventId": "c1", "userId": "cy"},
    )
    assert response.status_code == 201, response.text
    report = response.json()
    assert (report["accepted"], report["duplicates"]) == (2, 0)
    [refusal] = report["rejected"]
    assert (refusal["group"], refusal["item"]) == (0, 1)
    assert refusal["path"] == "track[0].payload[1].userId"
    assert refusal["message"].startswith("not stored:")
    assert "'analytics'" in refusal["message"] and "rejected" in refusal["message"]
    assert stored(client, tenant) == ["b1", "c1"]
    assert quarantined(client, tenant) == []
    assert refused_total(client) - before == 1
    assert lookup(client, tenant, userId="ana").json()["computed"]["event_count"] == 0


def test_a_batch_with_only_refused_events_is_400(client: Client, tenant: Tenant) -> None:
    # rule: nothing stored: 400 with `errors`, as for a batch of invalid items
    require(client, tenant, "analytics")
    record(client, tenant, action="reject", userId="ana", timestamp=T)
    before = refused_total(client)
    response = track(
        client,
        tenant,
        {"eventId": "a1", "userId": "ana"},
        {"eventId": "a2", "userId": "ana", "profileId": "laptop"},
    )
    assert response.status_code == 400, response.text
    report = response.json()
    assert report["accepted"] == 0
    assert [r["path"] for r in report["rejected"]] == [
        "track[0].payload[0].userId",
        "track[0].payload[1].userId",
    ]
    assert [e["path"] for e in report["errors"]] == [r["path"] for r in report["rejected"]]
    assert all(e["message"].startswith("not stored:") for e in report["errors"])
    assert stored(client, tenant) == [] and quarantined(client, tenant) == []
    assert refused_total(client) - before == 2
    # the refused event's link was not stored either: the laptop is nobody's
    assert lookup(client, tenant, profileId="laptop").status_code == 404


def test_invalid_items_of_a_rejecting_person_are_refused_not_quarantined(
    client: Client, tenant: Tenant
) -> None:
    # rule: an invalid item of a non-consenting person is refused like a valid one (its
    # content kept nowhere); other people's invalid items are quarantined as usual
    require(client, tenant, "analytics")
    record(client, tenant, action="reject", userId="ana", timestamp=T)
    before = refused_total(client)
    response = track(
        client,
        tenant,
        {"eventId": "a1", "userId": "ana", "data": 5},
        {"eventId": "b1", "userId": "bo", "data": 5},
        {"eventId": "b2", "userId": "bo"},
    )
    assert response.status_code == 201, response.text
    paths = {r["path"]: r["message"] for r in response.json()["rejected"]}
    assert paths.keys() == {"track[0].payload[0].userId", "track[0].payload[1].data"}
    assert paths["track[0].payload[0].userId"].startswith("not stored:")
    assert [q["raw"] for q in quarantined(client, tenant)] == [
        '{"eventId":"b1","userId":"bo","data":5}'
    ]
    assert refused_total(client) - before == 1
    assert stored(client, tenant) == ["b2"]


def test_a_device_linked_earlier_is_refused_too(client: Client, tenant: Tenant) -> None:
    # rule: the person of a profileId is the person it is linked to (identity across devices)
    linked = track(
        client, tenant, {"eventId": "i1", "profileId": "tablet", "userId": "dan"}, name="Identify"
    )
    assert linked.status_code == 201
    require(client, tenant, "analytics")
    record(client, tenant, action="reject", userId="dan", timestamp=T, category="analytics")
    response = track(
        client,
        tenant,
        {"eventId": "v1", "profileId": "tablet"},
        {"eventId": "v2", "profileId": "other-tablet"},
    )
    assert response.status_code == 201, response.text
    [refusal] = response.json()["rejected"]
    assert refusal["path"] == "track[0].payload[0].profileId"
    assert refusal["message"].startswith("not stored:")
    assert stored(client, tenant) == ["i1", "v2"]


def test_a_consent_under_the_device_refuses_the_user(client: Client, tenant: Tenant) -> None:
    # rule: a record under a profileId is the linked person's, for enforcement too
    link = {"eventId": "i1", "profileId": "tv", "userId": "eli"}
    assert track(client, tenant, link, name="Identify").status_code == 201
    require(client, tenant, "analytics")
    record(
        client, tenant, action="reject", timestamp=T, profileId="tv", sourceId=tenant.key.source_id
    )
    response = track(client, tenant, {"eventId": "e1", "userId": "eli"})
    assert response.status_code == 400
    assert response.json()["rejected"][0]["path"] == "track[0].payload[0].userId"


def test_an_alias_carries_the_rejection(client: Client, tenant: Tenant) -> None:
    # rule: userIds merged by an alias are one person: the old id's reject refuses the new id
    merged = track(
        client,
        tenant,
        {"eventId": "al", "userId": "new-id", "anotherUserId": "old-id"},
        name="Identify",
    )
    assert merged.status_code == 201
    require(client, tenant, "analytics")
    record(client, tenant, action="reject", userId="old-id", timestamp=T)
    response = track(client, tenant, {"eventId": "n1", "userId": "new-id"})
    assert response.status_code == 400, response.text
    person = lookup(client, tenant, userId="new-id").json()
    assert person["consents"]["general"]["userId"] == "old-id"
    assert stored(client, tenant) == ["al"]


def test_a_batch_is_decided_as_if_its_items_came_one_by_one(client: Client, tenant: Tenant) -> None:
    # rule: items are decided in order, each with the stored links plus those of the items
    # accepted before it, so grouping requests into commits never changes what is stored:
    # a refused sign-in links nothing, an accepted one links its device for what follows
    require(client, tenant, "analytics")
    record(client, tenant, action="reject", userId="fin", timestamp=T)
    source = tenant.key.source_id
    record(client, tenant, action="reject", profileId="van", sourceId=source, timestamp=T)
    response = track(
        client,
        tenant,
        {"eventId": "i1", "profileId": "car", "userId": "fin"},  # fin rejected: refused
        {"eventId": "v1", "profileId": "car"},  # car is linked to nobody: stored
        {"eventId": "i2", "profileId": "van", "userId": "gil"},  # gil decided nothing: stored
        {"eventId": "v2", "profileId": "van"},  # van is gil's now, with van's reject: refused
        {"eventId": "v3", "userId": "gil"},  # and so is gil, from here on
    )
    assert response.status_code == 201, response.text
    assert [r["path"] for r in response.json()["rejected"]] == [
        "track[0].payload[0].userId",
        "track[0].payload[3].profileId",
        "track[0].payload[4].userId",
    ]
    assert sorted(stored(client, tenant)) == ["i2", "v1"]


def test_items_naming_no_person_are_never_refused(client: Client, tenant: Tenant) -> None:
    # rule: a product item naming no person, and an event naming only an accountId, are
    # about no person; a product item naming a person who rejected is refused (its person
    # fields would fold into their profile)
    require(client, tenant, "analytics")
    record(client, tenant, action="reject", userId="ana", timestamp=T)
    response = track(
        client,
        tenant,
        {"eventId": "p1", "productId": "SKU9", "data": HOODIE},
        {"eventId": "p2", "productId": "SKU8", "userId": "ana", "data": HOODIE},
        name="ProductSync",
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["accepted"], [r["path"] for r in body["rejected"]]) == (
        1,
        ["track[0].payload[1].userId"],
    )
    accounts = track(
        client,
        tenant,
        {"eventId": "c1", "accountId": "ana"},
        {"eventId": "c2", "accountId": "acme", "userId": "ana"},
    )
    assert accounts.status_code == 201, accounts.text
    assert [r["path"] for r in accounts.json()["rejected"]] == ["track[0].payload[1].userId"]
    assert stored(client, tenant) == ["c1", "p1"]


def test_the_event_time_does_not_matter(client: Client, tenant: Tenant) -> None:
    # rule: the consent in force when an event arrives decides, even for an older event
    require(client, tenant, "analytics")
    record(client, tenant, action="reject", userId="ana", timestamp=T + 10)
    for ts in (T, T + 20, now_ms()):
        response = track(client, tenant, {"eventId": f"a{ts}", "userId": "ana", "timestamp": ts})
        assert response.status_code == 400, (ts, response.text)
    assert stored(client, tenant) == []


@pytest.mark.parametrize("setting", ["never-set", "cleared"])
def test_without_requirements_nothing_is_refused(
    client: Client, tenant: Tenant, setting: str
) -> None:
    # rule: enforcement is off by default and with `[]`
    if setting == "cleared":
        require(client, tenant, "analytics")
        require(client, tenant)
    record(client, tenant, action="reject", userId="ana", timestamp=T)
    record(client, tenant, action="reject", userId="ana", timestamp=T, category="analytics")
    response = track(client, tenant, {"eventId": "a1", "userId": "ana"})
    assert response.status_code == 201
    assert response.json()["rejected"] == []
    assert stored(client, tenant) == ["a1"]


def test_a_consent_change_applies_to_the_next_batch(client: Client, tenant: Tenant) -> None:
    # rule: a consent acknowledged before a batch arrives applies to it, both ways
    require(client, tenant, "analytics")
    assert track(client, tenant, {"eventId": "e1", "userId": "joy"}).status_code == 201
    record(client, tenant, action="reject", userId="joy", timestamp=T + 1, category="analytics")
    assert track(client, tenant, {"eventId": "e2", "userId": "joy"}).status_code == 400
    record(client, tenant, action="accept", userId="joy", timestamp=T + 2, category="analytics")
    assert track(client, tenant, {"eventId": "e3", "userId": "joy"}).status_code == 201
    assert stored(client, tenant) == ["e1", "e3"]


def test_a_requirement_change_applies_to_the_next_batch(client: Client, tenant: Tenant) -> None:
    # rule: a requirement takes effect at once, and only for the categories it names
    record(client, tenant, action="reject", userId="joy", timestamp=T, category="analytics")
    assert track(client, tenant, {"eventId": "e1", "userId": "joy"}).status_code == 201
    require(client, tenant, "analytics")
    assert track(client, tenant, {"eventId": "e2", "userId": "joy"}).status_code == 400
    require(client, tenant, "marketing")
    assert track(client, tenant, {"eventId": "e3", "userId": "joy"}).status_code == 201
    assert stored(client, tenant) == ["e1", "e3"]


@pytest.mark.parametrize(
    ("consent", "refused"),
    [
        pytest.param({"action": "reject"}, True, id="general-reject-blocks"),
        pytest.param(
            {"action": "accept", "validUntil": T + DAY, "category": "analytics"},
            True,
            id="expired-accept-blocks",
        ),
        pytest.param(
            {"action": "accept", "validUntil": T + DAY}, True, id="expired-general-accept-blocks"
        ),
        pytest.param(
            {"action": "reject", "category": "marketing"}, False, id="other-category-reject-stored"
        ),
        pytest.param({"action": "accept", "category": "analytics"}, False, id="accept-stored"),
        pytest.param(
            {"action": "accept", "validUntil": "unlimited"}, False, id="general-accept-stored"
        ),
    ],
)
def test_what_blocks_a_required_category(
    client: Client, tenant: Tenant, consent: dict[str, Any], refused: bool
) -> None:
    # rule: a reject or an expired record deciding a required category refuses; a general
    # record decides every category; no record, or an accept, stores
    require(client, tenant, "analytics")
    record(client, tenant, userId="kai", timestamp=T, **consent)
    response = track(client, tenant, {"eventId": "k1", "userId": "kai"})
    assert response.status_code == (400 if refused else 201), response.text
    assert stored(client, tenant) == ([] if refused else ["k1"])
    if consent.get("validUntil") == T + DAY:
        assert (
            "was expired at 2024-05-03T06:38:24.000+00:00"
            in response.json()["rejected"][0]["message"]
        )


@pytest.mark.parametrize(
    ("records", "refused"),
    [
        pytest.param(
            [("reject", None, 0), ("accept", "analytics", 1)],
            False,
            id="later-own-accept-beats-general-reject",
        ),
        pytest.param(
            [("accept", "analytics", 0), ("reject", None, 1)],
            True,
            id="later-general-reject-beats-own-accept",
        ),
        pytest.param(
            [("accept", "analytics", 1), ("reject", "analytics", 0)],
            False,
            id="older-reject-arriving-later-ignored",
        ),
        pytest.param(
            [("accept", "analytics", 0), ("reject", "analytics", 0)],
            True,
            id="same-second-later-reject-decides",
        ),
        pytest.param(
            [("reject", None, 0), ("accept", "analytics", 0)],
            False,
            id="same-second-later-grant-decides",
        ),
    ],
)
def test_the_deciding_record_decides_enforcement(
    client: Client, tenant: Tenant, records: list[tuple[str, str | None, int]], refused: bool
) -> None:
    # rule: the gate uses the status rules: latest of own and general, then by receipt
    require(client, tenant, "analytics")
    for action, category, offset in records:
        extra = {} if category is None else {"category": category}
        record(client, tenant, action=action, userId="kai", timestamp=S + offset, **extra)
        time.sleep(0.005)  # same-second records are ordered by receipt
    response = track(client, tenant, {"eventId": "k1", "userId": "kai"})
    assert response.status_code == (400 if refused else 201), response.text


def test_any_required_category_rejected_blocks(client: Client, tenant: Tenant) -> None:
    # rule: every required category must pass; the message names the one that failed
    require(client, tenant, "analytics", "marketing")
    record(client, tenant, action="accept", userId="mo", timestamp=T, category="analytics")
    record(client, tenant, action="reject", userId="mo", timestamp=T, category="marketing")
    response = track(client, tenant, {"eventId": "m1", "userId": "mo"})
    assert response.status_code == 400
    assert "'marketing'" in response.json()["rejected"][0]["message"]


# -- 4. quarantine replay --------------------------------------------------------------------------


def replay_after_reject(make_client: Any, tenant: Tenant) -> tuple[Client, int, dict[str, Any]]:
    """Quarantine two items for a too-long eventId (one of "rep", one of "kept"), make "rep"
    reject a required category, and replay with the limit raised: (client, rep's entry id,
    the replay report)."""
    strict = make_client(max_string_length=12)
    response = track(
        strict,
        tenant,
        {"eventId": "replayed-event-1", "userId": "rep"},  # 16 characters: quarantined
        {"eventId": "long-but-ok-2", "userId": "kept"},
        {"eventId": "ok", "userId": "kept"},
    )
    assert response.status_code == 201, response.text
    pending = quarantined(strict, tenant, "pending")
    assert [e["item"] for e in pending] == [0, 1]
    relaxed: Client = make_client()
    require(relaxed, tenant, "analytics")
    record(relaxed, tenant, action="reject", userId="rep", timestamp=T, category="analytics")
    url = f"{tenant.base}/quarantine/replay"
    replayed = relaxed.post(url, content=b"", headers=tenant.headers)
    assert replayed.status_code == 200, replayed.text
    report: dict[str, Any] = replayed.json()
    return relaxed, pending[0]["id"], report


def test_replay_refuses_a_person_who_rejected(make_client: Any, tenant: Tenant) -> None:
    # rule: the gate applies to replayed events too; the refusal is named in the report
    client, entry_id, report = replay_after_reject(make_client, tenant)
    assert (report["replayed"], report["accepted"], report["failed"]) == (2, 1, [])
    [refusal] = report["refused"]
    assert (refusal["id"], refusal["path"]) == (entry_id, "track[0].payload[0].userId")
    assert refusal["message"].startswith("not stored:") and "'analytics'" in refusal["message"]
    assert stored(client, tenant) == ["long-but-ok-2", "ok"]
    assert quarantined(client, tenant, "pending") == []  # resolved: not replayed again
    # refused content is stored nowhere: the entry keeps its place, not the refused JSON
    [refused] = quarantined(client, tenant, "refused")
    assert (refused["id"], refused["raw"]) == (entry_id, "")
    assert [e["item"] for e in quarantined(client, tenant, "replayed")] == [1]
    again = client.post(f"{tenant.base}/quarantine/replay", content=b"", headers=tenant.headers)
    assert again.json()["replayed"] == 0 and stored(client, tenant) == ["long-but-ok-2", "ok"]


def test_replay_refusals_are_counted(make_client: Any, tenant: Tenant) -> None:
    # rule: every event refused for consent is counted in the refused metric
    before = refused_total(make_client())
    client, _, report = replay_after_reject(make_client, tenant)
    assert len(report["refused"]) == 1
    assert refused_total(client) - before == 1


# -- 5. tenancy ------------------------------------------------------------------------------------


def test_another_projects_key_sees_nothing(
    client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    # invariant 6: another project's key answers as if the project did not exist
    record(client, tenant, action="reject", userId="sam", timestamp=T)
    require(client, tenant, "analytics")
    for method, path in (
        ("GET", f"profiles/{person_id('sam')}/consents"),
        ("GET", "consents/requirements"),
        ("PUT", "consents/requirements"),
        ("POST", "consents/data"),
    ):
        response = client.request(
            method,
            f"{tenant.base}/{path}",
            content=b'{"requiredCategories": [], "action": "accept", "userId": "sam"}',
            headers=other_tenant.headers,
        )
        assert response.status_code == 404, (method, path)
        assert response.json() == {"errors": [{"message": "project acme/web not found"}]}
    assert len(history(client, tenant, "sam")) == 1
    url = f"{tenant.base}/consents/requirements"
    assert client.get(url, headers=tenant.headers).json() == {"requiredCategories": ["analytics"]}


def test_projects_keep_their_own_consents_and_requirements(
    client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    # invariant 6: the same userId in two projects is two persons
    require(client, tenant, "analytics")
    record(client, other_tenant, action="reject", userId="sam", timestamp=T)
    assert track(client, tenant, {"eventId": "a1", "userId": "sam"}).status_code == 201
    assert track(client, other_tenant, {"eventId": "b1", "userId": "sam"}).status_code == 201
    assert stored(client, tenant) == ["a1"] and stored(client, other_tenant) == ["b1"]
    assert consents(client, tenant, "sam") == {
        "id": person_id("sam"),
        "status": {"general": None, "categories": {}},
        "history": [],
        "next": None,
    }
    assert consents(client, other_tenant, "sam")["status"]["general"]["status"] == "rejected"
    url = f"{other_tenant.base}/consents/requirements"
    assert client.get(url, headers=other_tenant.headers).json() == {"requiredCategories": []}


def test_a_source_of_another_project_is_unknown(
    client: Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    # invariant 6: a source belongs to one project
    body = {
        "action": "accept",
        "timestamp": T,
        "profileId": "dev9",
        "sourceId": other_tenant.key.source_id,
    }
    refuse(client, tenant, body, 404, "sourceId")


# -- 6. scopes -------------------------------------------------------------------------------------


def test_scopes(client: Client, store: Store, tenant: Tenant) -> None:
    # rule: recording needs `ingest`, reading `read`, setting requirements `admin`
    ingest = Tenant(provision.create_key(store, "acme", "web", scopes=["ingest"]))
    read = Tenant(provision.create_key(store, "acme", "web", scopes=["read"]))
    body = {"action": "accept", "userId": "sky", "timestamp": T}
    assert send(client, ingest, body, ingest.headers).status_code == 200
    denied = send(client, read, {**body, "timestamp": T + 1}, read.headers)
    assert denied.status_code == 403
    assert denied.json()["errors"][0]["message"] == "this API key lacks the 'ingest' scope"
    url = f"{tenant.base}/profiles/{person_id('sky')}/consents"
    lacks = client.get(url, headers=ingest.headers)
    assert lacks.status_code == 403
    assert lacks.json()["errors"][0]["message"] == "this API key lacks the 'read' scope"
    [entry] = client.get(url, headers=read.headers).json()["history"]
    assert entry["timestamp"] == T  # the read-only key's record was not stored
    requirements = f"{tenant.base}/consents/requirements"
    put = b'{"requiredCategories": ["analytics"]}'
    for key in (ingest, read):
        assert client.put(requirements, content=put, headers=key.headers).status_code == 403
    assert client.get(requirements, headers=ingest.headers).status_code == 403
    assert client.get(requirements, headers=read.headers).json() == {"requiredCategories": []}


# -- bounds: history pages, status from a bounded set of candidates ---------------------------


def test_history_pages_newest_first_across_identifiers(client: Client, tenant: Tenant) -> None:
    # rule: the history comes a page at a time (limit, cursor), newest first by consent time
    # then receive time, across all the person's identifiers; records naming one of them
    # that are someone else's never show, and never cut a page short
    assert track(client, tenant, {"eventId": "i1", "userId": "pam", "profileId": "pam-dev"})
    source = tenant.key.source_id
    for n in range(130):
        record(client, tenant, action="accept", userId="pam", timestamp=T + 2 * n,
               category=f"c{n % 3}")  # fmt: skip
        record(client, tenant, action="reject", profileId="pam-dev", sourceId=source,
               timestamp=T + 2 * n + 1)  # fmt: skip
        record(client, tenant, action="reject", userId="other", profileId="pam-dev",
               timestamp=T + 2 * n)  # fmt: skip
    url = f"{tenant.base}/profiles/{person_id('pam')}/consents"
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
        page = client.get(url, params=params, headers=tenant.headers).json()
        assert len(page["history"]) == 100 or page["next"] is None
        seen += [entry["timestamp"] for entry in page["history"]]
        assert all(entry.get("userId") != "other" for entry in page["history"])
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == sorted(range(T, T + 260), reverse=True)
    bad = client.get(url, params={"cursor": "not-a-cursor"}, headers=tenant.headers)
    assert bad.status_code == 400


def test_status_comes_from_the_latest_records_only(store: Store) -> None:
    # rule: the status is decided among a bounded set of candidates (per owner and category,
    # the latest by consent time, receive time, reject, expiry; ties all kept), and gives
    # what deciding over every record gives
    project, _ = store.ensure_project("acme", "bounded", T)
    records: list[tuple[ConsentRecord, int]] = []
    for n in range(200):  # many records: only the last ones can decide
        records.append((ConsentRecord("kim", None, None, "ads", "accept", T + n, None, {}), T))
    # ties at the same consent and receive time: the reject decides; among accepts, the
    # longest-lived
    records += [
        (ConsentRecord("kim", None, None, "ads", "accept", T + 500, None, {"n": 1}), T + 9),
        (ConsentRecord("kim", None, None, "ads", "reject", T + 500, None, {}), T + 9),
        (ConsentRecord("kim", None, None, "news", "accept", T + 500, T + 900, {}), T + 9),
        (ConsentRecord("kim", None, None, "news", "accept", T + 500, None, {}), T + 9),
        (ConsentRecord(None, "kim-dev", "1", None, "accept", T + 7, None, {}), T + 9),
        # an exact tie but for the content: both stay candidates, the digest decides
        (ConsentRecord("kim", None, None, "promo", "accept", T + 5, None, {"v": 1}), T + 9),
        (ConsentRecord("kim", None, None, "promo", "accept", T + 5, None, {"v": 2}), T + 9),
    ]
    for record_, received in records:
        assert store.record_consent(project.id, record_, received, "k")
    every = store.consents_of(project.id, ["kim"], ["kim-dev"])
    candidates = store.consents_of(project.id, ["kim"], ["kim-dev"], latest=True)
    assert len(every) == 207 and len(candidates) == 5
    assert consent_status(candidates, T) == consent_status(every, T)
    decided = consent_status(candidates, T + 600)
    assert decided["categories"]["ads"]["action"] == "reject"
    assert decided["categories"]["news"]["validUntil"] is None
    assert decided["general"]["profileId"] == "kim-dev"


def test_invalid_items_are_decided_in_order_too(client: Client, tenant: Tenant) -> None:
    # rule: an invalid item is decided where it came, with the links of the items accepted
    # before it: yul's invalid item before yul's alias to the rejecting xen is quarantined,
    # the one after it is refused
    require(client, tenant, "analytics")
    record(client, tenant, action="reject", userId="xen", timestamp=T)
    response = track(
        client,
        tenant,
        {"eventId": "q1", "userId": "yul", "timestamp": "not-a-time"},
        {"eventId": "a1", "userId": "yul", "anotherUserId": "xen"},
        {"eventId": "q2", "userId": "yul", "timestamp": "not-a-time"},
    )
    # a1 came while yul was alone (accepted; its alias now joins yul to xen): q2 is refused
    assert response.status_code == 201, response.text
    paths = [r["path"] for r in response.json()["rejected"]]
    assert paths == ["track[0].payload[0].timestamp", "track[0].payload[2].userId"]
    assert [e["item"] for e in quarantined(client, tenant, "pending")] == [0]
    assert stored(client, tenant) == ["a1"]
