"""The identity history through the API (issue 11, finding 8): paged oldest first, the same
decisions and messages as resolving every link, and streamed whole in an export; the userId
cap (Deliver 4) as clients see it. Both stores."""

from __future__ import annotations

import base64
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from headwater.identity.links import PROFILE, USER, Link
from headwater.identity.resolve import Caps, resolve
from tests.conftest import Tenant

Client = TestClient[Any]
T = 1_714_631_904_000
LATER_USERS = 230  # a kiosk's later users: conflicts on its owner's device


def track(client: Client, tenant: Tenant, items: list[dict[str, Any]]) -> None:
    body = msgspec.json.encode({"track": [{"name": "Identify", "payload": items}]})
    response = client.post(f"{tenant.base}/track", content=body, headers=tenant.headers)
    assert response.status_code == 201, response.text


def kiosk(client: Client, tenant: Tenant) -> list[Link]:
    """ann owns a kiosk (her earliest link), a phone, and an alias; LATER_USERS people use
    the kiosk after her, in one request sent newest first. The links, as a store keeps them."""
    items: list[dict[str, Any]] = [
        {"eventId": "own", "profileId": "kiosk", "userId": "ann", "timestamp": T},
        {"eventId": "ph", "profileId": "phone", "userId": "ann", "timestamp": T + 1},
        {"eventId": "al", "userId": "ann", "anotherUserId": "ann-2", "timestamp": T + 2},
    ]
    items += [{"eventId": f"k{n:04d}", "profileId": "kiosk", "userId": f"guest-{n:04d}",
               "timestamp": T + 3 + n // 2} for n in range(LATER_USERS)]  # fmt: skip
    track(client, tenant, items[3:][::-1])
    track(client, tenant, items[:3])
    links = [Link(0, PROFILE, i["profileId"], i["userId"], i["timestamp"], i["eventId"], 0)
             for i in items if "profileId" in i]  # fmt: skip
    return [*links, Link(0, USER, "ann", "ann-2", T + 2, "al", 0)]


def pages(client: Client, tenant: Tenant, person_id: str, limit: int) -> list[dict[str, Any]]:
    url = f"{tenant.base}/profiles/{person_id}/identity-history"
    found: list[dict[str, Any]] = []
    params = {"limit": str(limit)}
    for _ in range(1000):
        response = client.get(url, params=params, headers=tenant.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["id"] == person_id and len(page["history"]) <= limit
        found += page["history"]
        if page["next"] is None:
            return found
        assert len(page["history"]) == limit
        params["cursor"] = page["next"]
    raise AssertionError("the pages do not end")


def test_a_kiosk_owners_history_comes_a_page_at_a_time(client: Client, tenant: Tenant) -> None:
    # finding 8: the history of a kiosk's owner is paged (limit, cursor, next), oldest
    # first, and holds exactly the decisions and messages of resolving every link
    links = kiosk(client, tenant)
    expected = resolve(links, Caps())
    owner = expected.person(user_id="ann")
    wire = [d.wire() for d in expected.history[owner.id]]
    assert len(wire) == LATER_USERS + 3  # two devices, the alias, every later user's conflict
    for limit in (100, 7, 1000):
        assert pages(client, tenant, owner.id, limit) == wire
    first = client.get(f"{tenant.base}/profiles/{owner.id}/identity-history",
                       headers=tenant.headers).json()  # fmt: skip
    assert len(first["history"]) == 100 and first["next"]  # the default page
    guest = expected.person(user_id="guest-0007")
    assert pages(client, tenant, guest.id, 100) == [d.wire() for d in expected.history[guest.id]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "garbage"}, "cursor"),
        ({"cursor": base64.urlsafe_b64encode(b'[1,"e\\u0000",0,2,"profile","a","b"]').decode()},
         "cursor"),
        ({"cursor": base64.urlsafe_b64encode(b'[1,"e",0,2,"profile","\\ud800","b"]').decode()},
         "cursor"),
        ({"cursor": base64.urlsafe_b64encode(b'[1e400,"e",0,2,"profile","a","b"]').decode()},
         "cursor"),
    ],
)  # fmt: skip
def test_bad_paging_is_a_clear_400(
    client: Client, tenant: Tenant, params: dict[str, str], field: str
) -> None:
    # a forged cursor (NUL, a lone surrogate, a huge number) is refused before any query
    track(client, tenant, [{"eventId": "e", "profileId": "p", "userId": "ann", "timestamp": T}])
    person = client.get(f"{tenant.base}/profiles/lookup", params={"userId": "ann"},
                        headers=tenant.headers).json()  # fmt: skip
    response = client.get(f"{tenant.base}/profiles/{person['id']}/identity-history",
                          params=params, headers=tenant.headers)  # fmt: skip
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["path"] == field


def test_an_export_streams_the_whole_history(client: Client, tenant: Tenant) -> None:
    # finding 8: an export embeds the identity history, read a page at a time: every
    # decision, in order, other persons' identifiers hidden as before
    links = kiosk(client, tenant)
    expected = resolve(links, Caps())
    response = client.get(f"{tenant.base}/privacy/export", params={"userId": "ann"},
                          headers=tenant.headers)  # fmt: skip
    assert response.status_code == 200
    document = response.json()
    history = document["identities"]["history"]
    owner = expected.person(user_id="ann")
    assert [h["timestamp"] for h in history] == [
        d.link.timestamp for d in expected.history[owner.id]
    ]
    assert history[-1] == {"type": "conflict", "identifiers": ["kiosk", None],
                           "timestamp": T + 3 + (LATER_USERS - 1) // 2}  # fmt: skip
    assert history[0]["message"] == "profileId 'kiosk' linked to userId 'ann'"
    assert list(document) == ["exportedAt", "person", "attributes", "attributeSources",
                              "computed", "unreadable", "identities", "sessions", "consents",
                              "accounts", "events"]  # fmt: skip
    assert len(document["events"]) == 3  # ann's; the guests' events are theirs


@pytest.mark.parametrize("arrival", ["in order", "reversed"])
def test_the_user_cap_refuses_an_alias(make_client: Any, tenant: Tenant, arrival: str) -> None:
    # Deliver 4: an alias that would take a person past max_users_per_person is refused,
    # recorded on both sides, and the same whatever order the aliases arrive in
    client = make_client(max_users_per_person=2)
    items = [
        {"eventId": "a1", "userId": "ann", "anotherUserId": "ann-work", "timestamp": T},
        {"eventId": "a2", "userId": "ann-work", "anotherUserId": "bo", "timestamp": T + 1},
    ]
    for item in items if arrival == "in order" else items[::-1]:
        track(client, tenant, [item])
    found = {}
    for user in ("ann", "bo"):
        found[user] = client.get(f"{tenant.base}/profiles/lookup", params={"userId": user},
                                 headers=tenant.headers).json()  # fmt: skip
    assert found["ann"]["userIds"] == ["ann", "ann-work"] and found["bo"]["userIds"] == ["bo"]
    refusals = []
    for person in found.values():
        history = pages(client, tenant, person["id"], 10)
        refusals += [h for h in history if h["type"] == "refused"]
    assert len(refusals) == 2 and refusals[0] == refusals[1]
    assert refusals[0]["eventId"] == "a2" and refusals[0]["identifiers"] == ["ann-work", "bo"]
    assert "max_users_per_person (2)" in refusals[0]["message"]
