"""Consent end to end (reference §7, issue 6): the real, unmodified `intempt` SDK's
`consent.grant()` / `consent.revoke()` against a live server on a real socket, read back
through the read API, and consent enforcement on the SDK's own track requests."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import intempt
import pytest
from click.testing import CliRunner

from headwater.cli import main
from tests import test_sdk
from tests.conftest import BACKENDS, database
from tests.live_server import LiveServer, basic_auth, live_server
from tests.test_sdk import Wire, events, resend, sdk

wire = test_sdk.wire  # the fixture: everything the SDK sent, and what the server answered

UTC = dt.UTC
CONSENT_PATH = "/v1/default/projects/default/consents/data"
GRANTED = dt.datetime(2024, 5, 1, 12, 0, 0, 750_000, tzinfo=UTC)  # sub-second: truncated
GRANTED_S = 1_714_564_800
REVOKED_MS = GRANTED_S * 1000 + 5 * 60 * 1000 + 999  # five minutes later, as epoch ms
REVOKED_S = GRANTED_S + 5 * 60
BATCHING = {"size": 50, "flush_ms": 600_000, "flush_on_exit": False}  # flushed by hand


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("consent")
    with database(request.param, folder) as url, live_server(folder, database_url=url) as running:
        yield running


@pytest.fixture(scope="module")
def reader(server: LiveServer) -> Iterator[httpx.Client]:
    """An HTTP client with a key of scope `read` only, made with `headwater keys create`."""
    assert server.database_url is not None
    args = ["keys", "create", "--database-url", server.database_url, "--org", server.org,
            "--project", server.project, "--scope", "read", "--json"]  # fmt: skip
    made = CliRunner().invoke(main, args)
    assert made.exit_code == 0, made.output
    key = json.loads(made.stdout)
    assert key["scopes"] == ["read"]
    headers = basic_auth(key["api_key"])
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=10.0) as http:
        yield http


def user() -> str:
    return f"user-{uuid.uuid4()}"


def sent_bodies(wire: Wire) -> list[dict[str, Any]]:
    """The consent bodies the SDK posted, in order."""
    assert {s.path for s in wire.sent} <= {CONSENT_PATH}
    return [json.loads(s.body) for s in wire.sent]


def person_id(reader: httpx.Client, server: LiveServer, **identifier: str) -> str:
    response = reader.get(f"{server.project_url}/profiles/lookup", params=identifier)
    assert response.status_code == 200, response.text
    found: str = response.json()["id"]
    return found


def consents(reader: httpx.Client, server: LiveServer, **identifier: str) -> dict[str, Any]:
    """The person's consent (status and history) through the read API, as the read key."""
    person = person_id(reader, server, **identifier)
    response = reader.get(f"{server.project_url}/profiles/{person}/consents")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    assert found["id"] == person
    return found


def subset(record: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    return {name: record.get(name) for name in expected}


def set_requirements(server: LiveServer, categories: list[str]) -> None:
    with server.client() as http:  # the bootstrap key: it has scope `admin`
        response = http.put(
            f"{server.project_url}/consents/requirements", json={"requiredCategories": categories}
        )
    assert response.status_code == 200, response.text
    assert response.json() == {"requiredCategories": categories}


def api_error(call: Any, *args: Any, **options: Any) -> tuple[int | None, dict[str, Any]]:
    """The status and decoded body of the SDK's IntemptApiError for the call."""
    with pytest.raises(intempt.IntemptApiError) as caught:
        call(*args, **options)
    assert caught.value.body is not None
    decoded: dict[str, Any] = json.loads(caught.value.body)
    return caught.value.status, decoded


# -- 1. grant and revoke by userId ----------------------------------------------------------


def test_grant_then_revoke_by_user_id(server: LiveServer, wire: Wire, reader: httpx.Client) -> None:
    user_id = user()
    grant_details = {
        "email": "ada@example.com",
        "message": "Cookie banner: analytics",
        "reason": "banner",
        "method": "click",
        "deviceInfo": "iPhone 15; iOS 17",
    }
    revoke_details = {"reason": "changed mind", "method": "settings toggle"}
    with sdk(server) as client:
        client.consent.grant(user_id=user_id, category="analytics", timestamp=GRANTED,
                             email="ada@example.com", message="Cookie banner: analytics",
                             reason="banner", method="click",
                             device_info="iPhone 15; iOS 17")  # fmt: skip
        client.consent.revoke(user_id=user_id, category="analytics", timestamp=REVOKED_MS,
                              reason="changed mind", method="settings toggle")  # fmt: skip

    # The SDK's wire format: epoch SECONDS, "unlimited", its source label, no sourceId.
    grant, revoke = sent_bodies(wire)
    assert grant == {"action": "accept", "timestamp": GRANTED_S, "userId": user_id,
                     "category": "analytics", "validUntil": "unlimited",
                     "source": "Python tracker", **grant_details}  # fmt: skip
    assert revoke == {"action": "reject", "timestamp": REVOKED_S, "userId": user_id,
                      "category": "analytics", "validUntil": "unlimited",
                      "source": "Python tracker", **revoke_details}  # fmt: skip
    assert wire.answers == [{}, {}]  # 200 `{}` each (the SDK raises on anything but 2xx)

    found = consents(reader, server, userId=user_id)
    common = {"category": "analytics", "validUntil": None, "userId": user_id,
              "profileId": None, "sourceId": None, "source": "Python tracker"}  # fmt: skip
    newest, oldest = found["history"]
    assert subset(newest, expected := {"action": "reject", "timestamp": REVOKED_S * 1000,
                                       **common, **revoke_details}) == expected  # fmt: skip
    assert subset(oldest, expected := {"action": "accept", "timestamp": GRANTED_S * 1000,
                                       **common, **grant_details}) == expected  # fmt: skip
    assert "email" not in newest  # only the fields that record carried
    assert found["status"]["general"] is None
    assert list(found["status"]["categories"]) == ["analytics"]
    decided = found["status"]["categories"]["analytics"]
    assert (decided["status"], decided["id"]) == ("rejected", newest["id"])

    # Invariant 2: the SDK's exact bytes again are a duplicate: 200 `{}`, nothing new.
    for sent in wire.sent:
        again = resend(server, sent)
        assert (again.status_code, again.json()) == (200, {})
    assert consents(reader, server, userId=user_id)["history"] == found["history"]


def test_the_later_record_decides_whatever_the_arrival_order(
    server: LiveServer, wire: Wire, reader: httpx.Client
) -> None:
    # The revoke is sent first but is older: the grant decides (consent time, not arrival).
    user_id = user()
    with sdk(server) as client:
        client.consent.revoke(user_id=user_id, category="analytics", timestamp=GRANTED)
        client.consent.grant(user_id=user_id, category="analytics", timestamp=REVOKED_MS)
    found = consents(reader, server, userId=user_id)
    assert [r["action"] for r in found["history"]] == ["accept", "reject"]
    assert found["status"]["categories"]["analytics"]["status"] == "accepted"


@pytest.mark.parametrize(("first", "then"), [("revoke", "grant"), ("grant", "revoke")])
def test_of_two_decisions_in_one_second_the_later_received_wins(
    server: LiveServer, wire: Wire, reader: httpx.Client, first: str, then: str
) -> None:
    # The SDK sends whole seconds, so a decision 800 ms after another carries the same
    # timestamp; the one received later is the person's latest decision (consent/status.py).
    user_id = user()
    with sdk(server) as client:
        getattr(client.consent, first)(user_id=user_id, category="analytics",
                                       timestamp=REVOKED_MS - 900)  # fmt: skip
        getattr(client.consent, then)(user_id=user_id, category="analytics",
                                      timestamp=REVOKED_MS - 100)  # fmt: skip
    assert [b["timestamp"] for b in sent_bodies(wire)] == [REVOKED_S, REVOKED_S]
    found = consents(reader, server, userId=user_id)
    expected = "accepted" if then == "grant" else "rejected"
    assert found["status"]["categories"]["analytics"]["status"] == expected
    actions = {"grant": "accept", "revoke": "reject"}
    assert [r["action"] for r in found["history"]] == [actions[then], actions[first]]


# -- 2. grant by profileId, then identify ---------------------------------------------------


def test_grant_by_profile_id_follows_the_person_after_identify(
    server: LiveServer, wire: Wire, reader: httpx.Client
) -> None:
    user_id, profile_id = user(), f"device-{uuid.uuid4()}"
    with sdk(server, source_id=server.source_id) as client:
        client.consent.grant(profile_id=profile_id, category="marketing", timestamp=GRANTED)

    (body,) = sent_bodies(wire)
    assert body["sourceId"] == server.source_id and isinstance(body["sourceId"], str)
    assert body["profileId"] == profile_id and "userId" not in body
    assert wire.answers == [{}]

    by_profile = consents(reader, server, profileId=profile_id)
    (record,) = by_profile["history"]
    expected = {"action": "accept", "category": "marketing", "timestamp": GRANTED_S * 1000,
                "userId": None, "profileId": profile_id, "sourceId": server.source_id}  # fmt: skip
    assert subset(record, expected) == expected
    assert by_profile["status"]["categories"]["marketing"]["status"] == "accepted"

    with sdk(server) as client:
        client.identify(user_id=user_id, profile_id=profile_id, traits={"plan": "pro"})
    by_user = consents(reader, server, userId=user_id)
    assert [r["id"] for r in by_user["history"]] == [record["id"]]
    assert by_user["status"]["categories"]["marketing"]["id"] == record["id"]
    assert by_user["status"]["categories"]["marketing"]["status"] == "accepted"


# -- 3. validUntil readings ----------------------------------------------------------------


def test_valid_until_forms_are_stored_as_documented(
    server: LiveServer, wire: Wire, reader: httpx.Client
) -> None:
    user_id = user()
    until = dt.datetime(2031, 6, 1, 8, 30, 15, 123_000, tzinfo=UTC)
    until_ms = 1_938_069_015_123
    two_hours_ago = dt.datetime.now(UTC) - dt.timedelta(hours=2)
    asks: dict[str, Any] = {
        "c-datetime": until,  # the SDK serialises a datetime to epoch ms
        "c-seconds": 1_900_000_000,  # epoch seconds
        "c-duration": 31_536_000,  # seconds below the 2010 bound: a duration (one year)
        "c-iso": "2031-01-01T00:00:00Z",
        "c-unlimited": "unlimited",
    }
    with sdk(server) as client:
        for category, valid_until in asks.items():
            client.consent.grant(user_id=user_id, category=category, timestamp=GRANTED,
                                 valid_until=valid_until)  # fmt: skip
        client.consent.grant(user_id=user_id, category="c-expired",
                             timestamp=two_hours_ago, valid_until=3600)  # fmt: skip

    sent = {b["category"]: b["validUntil"] for b in sent_bodies(wire)}
    assert sent["c-datetime"] == until_ms
    assert (sent["c-seconds"], sent["c-duration"]) == (1_900_000_000, 31_536_000)
    assert wire.answers == [{}] * 6

    found = consents(reader, server, userId=user_id)
    stored = {r["category"]: r["validUntil"] for r in found["history"]}
    expired_at = int(two_hours_ago.timestamp()) * 1000 + 3_600_000
    assert stored == {
        "c-datetime": until_ms,
        "c-seconds": 1_900_000_000_000,
        "c-duration": GRANTED_S * 1000 + 31_536_000_000,
        "c-iso": 1_924_992_000_000,
        "c-unlimited": None,
        "c-expired": expired_at,
    }
    status = {name: c["status"] for name, c in found["status"]["categories"].items()}
    # A year after GRANTED (2024-05-01) has passed: that one has expired too.
    expected = {**dict.fromkeys(asks, "accepted"), "c-duration": "expired", "c-expired": "expired"}
    assert status == expected


# -- 4. enforcement on the SDK's own track requests -----------------------------------------


def test_a_revoked_required_category_refuses_the_persons_events(
    server: LiveServer, wire: Wire, caplog: pytest.LogCaptureFixture
) -> None:
    refused_user, other_user = user(), user()
    now = dt.datetime.now(UTC)
    set_requirements(server, ["analytics"])
    try:
        with sdk(server) as client:
            client.consent.revoke(user_id=refused_user, category="analytics",
                                  timestamp=now - dt.timedelta(minutes=2))  # fmt: skip

        # One flush holding both users' events: 201, the refused user's two are reported.
        with sdk(server, batch=BATCHING) as client:
            client.track("Page Viewed", user_id=refused_user, properties={"n": 1})
            client.identify(user_id=refused_user, traits={"plan": "pro"})
            client.track("Page Viewed", user_id=other_user, properties={"n": 2})
            assert client.buffered == 3
            client.flush()
            assert client.buffered == 0
        answer = wire.answers[-1]
        assert (answer["accepted"], answer["duplicates"]) == (1, 0)
        assert [r["path"] for r in answer["rejected"]] == [
            "track[0].payload[0].userId",
            "track[1].payload[0].userId",
        ]
        assert all("'analytics'" in r["message"] for r in answer["rejected"])
        assert events(server, userId=refused_user) == []
        assert [e["data"] for e in events(server, userId=other_user)] == [{"n": 2}]

        # A batch of only refused events is a 400: a batching client logs it and drops the
        # batch (not retried), a direct call raises the SDK's API error.
        sent_before = len(wire.sent)
        with caplog.at_level(logging.ERROR, logger="intempt"):
            with sdk(server, batch=BATCHING) as client:
                client.track("Page Viewed", user_id=refused_user)
                client.flush()
                assert client.buffered == 0
        assert len(wire.sent) == sent_before + 1  # sent once, never retried
        dropped = [r for r in caplog.records if "non-retryable" in r.getMessage()]
        assert [getattr(r, "status", None) for r in dropped] == [400]
        with sdk(server) as client:
            status, body = api_error(client.track, "Page Viewed", user_id=refused_user)
        assert status == 400
        assert body["accepted"] == 0 and len(body["rejected"]) == 1
        assert "'analytics'" in body["errors"][0]["message"]
        assert body["errors"][0]["path"] == "track[0].payload[0].userId"
        assert events(server, userId=refused_user) == []

        # Granted again (a later consent time): the very next request is stored.
        with sdk(server) as client:
            client.consent.grant(user_id=refused_user, category="analytics",
                                 timestamp=now - dt.timedelta(minutes=1))  # fmt: skip
            client.track("Page Viewed", user_id=refused_user, properties={"n": 3})
        assert wire.answers[-1] == {"accepted": 1, "duplicates": 0, "rejected": []}
        assert [e["data"] for e in events(server, userId=refused_user)] == [{"n": 3}]

        # Revoked once more: refused again at once.
        with sdk(server) as client:
            client.consent.revoke(user_id=refused_user, category="analytics")
            status, _ = api_error(client.track, "Page Viewed", user_id=refused_user)
        assert status == 400
        assert len(events(server, userId=refused_user)) == 1
    finally:
        set_requirements(server, [])


def test_a_general_revoke_by_profile_id_refuses_the_linked_users_events(
    server: LiveServer, wire: Wire
) -> None:
    # A record without a category counts for every category; one naming only a profileId
    # belongs to the person that profileId is linked to, so their userId's events too.
    user_id, profile_id = user(), f"device-{uuid.uuid4()}"
    with sdk(server) as client:
        client.identify(user_id=user_id, profile_id=profile_id)
    set_requirements(server, ["analytics"])
    try:
        with sdk(server, source_id=server.source_id) as client:
            client.consent.revoke(profile_id=profile_id)
            assert "category" not in json.loads(wire.sent[-1].body)
            for ids in ({"user_id": user_id}, {"profile_id": profile_id}):
                status, body = api_error(client.track, "Page Viewed", **ids)
                assert status == 400 and "'analytics'" in body["errors"][0]["message"]
        assert len(events(server, userId=user_id)) == 1  # the identify only
    finally:
        set_requirements(server, [])


def test_an_expired_required_consent_refuses_like_a_rejection(
    server: LiveServer, wire: Wire
) -> None:
    user_id = user()
    two_hours_ago = dt.datetime.now(UTC) - dt.timedelta(hours=2)
    set_requirements(server, ["analytics"])
    try:
        with sdk(server) as client:
            client.consent.grant(user_id=user_id, category="analytics",
                                 timestamp=two_hours_ago, valid_until=3600)  # fmt: skip
            status, body = api_error(client.track, "Page Viewed", user_id=user_id)
        assert status == 400
        assert "was expired at" in body["errors"][0]["message"]
        assert events(server, userId=user_id) == []
    finally:
        set_requirements(server, [])


def test_no_requirement_no_enforcement(server: LiveServer, wire: Wire) -> None:
    # Without required categories a rejection is recorded but refuses nothing.
    user_id = user()
    with sdk(server) as client:
        client.consent.revoke(user_id=user_id, category="analytics")
        client.track("Page Viewed", user_id=user_id)
    assert wire.answers[-1] == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert len(events(server, userId=user_id)) == 1


# -- 5. invalid consents --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field", "words"),
    [
        ({"valid_until": -5}, "validUntil", "must be positive"),
        ({"timestamp": dt.datetime(2009, 12, 31, 23, 59, tzinfo=UTC)}, "timestamp", "2010"),
        (
            {"timestamp": GRANTED, "valid_until": dt.datetime(2024, 1, 1, tzinfo=UTC)},
            "validUntil",
            "must be after",
        ),
        ({"timestamp": dt.datetime.now(UTC) + dt.timedelta(days=2)}, "timestamp", "after"),
    ],
)
def test_an_invalid_consent_is_a_400_naming_the_field(
    server: LiveServer, reader: httpx.Client, options: dict[str, Any], field: str, words: str
) -> None:
    user_id = user()
    with sdk(server) as client:
        status, body = api_error(client.consent.grant, user_id=user_id, category="analytics",
                                 **options)  # fmt: skip
    assert status == 400
    (error,) = body["errors"]
    assert error["path"] == field
    assert error["message"].startswith(f"{field} ") and words in error["message"]
    lookup = reader.get(f"{server.project_url}/profiles/lookup", params={"userId": user_id})
    assert lookup.status_code == 404, lookup.text  # nothing was stored


def test_an_unknown_source_id_is_a_404_naming_it(server: LiveServer) -> None:
    with sdk(server, source_id="424242424242424242") as client:
        status, body = api_error(client.consent.grant, profile_id=f"device-{uuid.uuid4()}")
    assert status == 404
    assert body["errors"][0]["path"] == "sourceId"
    assert "424242424242424242" in body["errors"][0]["message"]


def test_read_key_cannot_set_requirements(server: LiveServer, reader: httpx.Client) -> None:
    response = reader.put(f"{server.project_url}/consents/requirements",
                          json={"requiredCategories": ["analytics"]})  # fmt: skip
    assert response.status_code == 403, response.text
    shown = reader.get(f"{server.project_url}/consents/requirements")
    assert shown.json() == {"requiredCategories": []}
