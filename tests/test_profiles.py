"""Profiles (issue 4 §1, §2, §7): identity across devices, attributes, read-your-writes."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from tests.conftest import Tenant

Client = TestClient[Any]
T = 1_714_631_904_000


def track(client: Client, tenant: Tenant, name: str, *items: dict[str, Any]) -> None:
    body = msgspec.json.encode({"track": [{"name": name, "payload": list(items)}]})
    response = client.post(f"{tenant.base}/track", content=body, headers=tenant.headers)
    assert response.status_code == 201, response.text


def lookup(client: Client, tenant: Tenant, **params: str) -> Any:
    return client.get(f"{tenant.base}/profiles/lookup", params=params, headers=tenant.headers)


def test_anonymous_browsing_then_sign_in_is_one_person(client: Client, tenant: Tenant) -> None:
    track(client, tenant, "View Page", {"eventId": "v1", "profileId": "prof_1", "timestamp": T})
    track(client, tenant, "View Page", {"eventId": "v2", "profileId": "prof_2", "timestamp": T})
    track(
        client,
        tenant,
        "Identify",
        {
            "eventId": "i1",
            "profileId": "prof_1",
            "userId": "ada",
            "timestamp": T + 10,
            "userAttributes": {"plan": "free", "email": "ada@example.com"},
        },
        {"eventId": "i2", "profileId": "prof_2", "userId": "ada", "timestamp": T + 20},
    )
    track(client, tenant, "Upgraded",
          {"eventId": "u1", "userId": "ada", "timestamp": T + 30,
           "userAttributes": {"plan": "pro"}})  # fmt: skip
    # invariant 4: the first read after the 2xx sees everything
    by_user = lookup(client, tenant, userId="ada").json()
    by_device = lookup(client, tenant, profileId="prof_2").json()
    assert by_user == by_device
    assert by_user["userIds"] == ["ada"] and by_user["profileIds"] == ["prof_1", "prof_2"]
    assert by_user["attributes"] == {"plan": "pro", "email": "ada@example.com"}
    assert by_user["attributeSources"]["plan"]["eventId"] == "u1"
    assert by_user["computed"] == {
        "first_seen": T, "last_seen": T + 30, "event_count": 5,
        "session_count": 1, "ltv": 0, "orders": 0,
    }  # fmt: skip


def test_late_events_do_not_overwrite_newer_attributes(client: Client, tenant: Tenant) -> None:
    track(
        client,
        tenant,
        "Identify",
        {
            "eventId": "new",
            "userId": "bo",
            "timestamp": T + 100,
            "userAttributes": {"city": "Oslo"},
        },
    )
    track(
        client,
        tenant,
        "Identify",
        {"eventId": "old", "userId": "bo", "timestamp": T, "userAttributes": {"city": "Rome"}},
    )
    assert lookup(client, tenant, userId="bo").json()["attributes"] == {"city": "Oslo"}


def test_null_unsets_an_attribute(client: Client, tenant: Tenant) -> None:
    track(
        client,
        tenant,
        "Identify",
        {"eventId": "a", "userId": "cy", "timestamp": T, "userAttributes": {"coupon": "X"}},
        {"eventId": "b", "userId": "cy", "timestamp": T + 1, "userAttributes": {"coupon": None}},
    )
    assert lookup(client, tenant, userId="cy").json()["attributes"] == {}


def test_a_shared_device_never_merges_two_users(client: Client, tenant: Tenant) -> None:
    track(
        client,
        tenant,
        "Identify",
        {"eventId": "k1", "profileId": "kiosk", "userId": "ann", "timestamp": T},
        {"eventId": "k2", "profileId": "kiosk", "userId": "ben", "timestamp": T + 5},
    )
    ann, ben = (
        lookup(client, tenant, userId="ann").json(),
        lookup(client, tenant, userId="ben").json(),
    )
    assert ann["profileIds"] == ["kiosk"] and ben["profileIds"] == []
    assert ben["computed"]["event_count"] == 1  # k2 is ben's: its userId says so
    history = client.get(
        f"{tenant.base}/profiles/{ben['id']}/identity-history", headers=tenant.headers
    ).json()["history"]
    assert [(h["type"], h["eventId"]) for h in history] == [("conflict", "k2")]


def test_an_alias_merges_two_users(client: Client, tenant: Tenant) -> None:
    track(client, tenant, "E", {"eventId": "x1", "userId": "old-id", "timestamp": T})
    track(client, tenant, "Identify",
          {"eventId": "al", "profileId": "p9", "userId": "new-id", "anotherUserId": "old-id",
           "timestamp": T + 1})  # fmt: skip
    person = lookup(client, tenant, userId="old-id").json()
    assert person["userIds"] == ["new-id", "old-id"] and person["profileIds"] == ["p9"]
    assert person["computed"]["event_count"] == 2


def test_unknown_identifiers_and_bad_lookups(client: Client, tenant: Tenant) -> None:
    assert lookup(client, tenant, userId="nobody").status_code == 404
    assert lookup(client, tenant, userId="undefined").status_code == 404
    assert lookup(client, tenant).status_code == 400
    assert lookup(client, tenant, userId="a", profileId="b").status_code == 400
    bad = client.get(f"{tenant.base}/profiles/zz/identity-history", headers=tenant.headers)
    assert bad.status_code == 404


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 1, 0], [1, 2, 0]])
def test_arrival_order_does_not_matter(client: Client, tenant: Tenant, order: list[int]) -> None:
    # invariant 5, through the store: the same events in another order give the same profile
    events = [
        ("Identify", {"eventId": "o1", "profileId": "dev", "userId": "dan", "timestamp": T + 2,
                      "userAttributes": {"tier": "gold"}}),
        ("Identify", {"eventId": "o2", "profileId": "dev", "userId": "eve", "timestamp": T + 1}),
        ("Identify", {"eventId": "o3", "userId": "dan", "timestamp": T + 3,
                      "userAttributes": {"tier": "silver"}}),
    ]  # fmt: skip
    for index in order:
        track(client, tenant, *events[index])
    eve = lookup(client, tenant, userId="eve").json()
    dan = lookup(client, tenant, userId="dan").json()
    assert eve["profileIds"] == ["dev"] and dan["profileIds"] == []
    assert dan["attributes"] == {"tier": "silver"}


def test_revenue_orders_and_sessions(client: Client, tenant: Tenant) -> None:
    # issue 4 §3: succeeded adds, refunded subtracts (sign as given or not), others nothing
    track(
        client,
        tenant,
        "Charge",
        {"eventId": "c1", "userId": "rev", "data": {"amount": 100, "status": "succeeded"}},
        {"eventId": "c2", "userId": "rev", "data": {"amount": -30, "status": "refunded"}},
        {"eventId": "c3", "userId": "rev", "data": {"amount": 10, "status": "refunded"}},
        {"eventId": "c4", "userId": "rev", "data": {"amount": 999, "status": "pending"}},
        {"eventId": "c5", "userId": "rev", "data": {"amount": "1", "status": "succeeded"}},
    )
    lines = [
        {"eventId": "o1", "userId": "rev", "sessionId": "s1", "data": {"productId": p}}
        for p in "abc"
    ]
    track(client, tenant, "Product ordered", *lines)
    track(
        client,
        tenant,
        "Product ordered",
        {"eventId": "o2", "userId": "rev", "sessionId": "s2", "data": {"productId": "d"}},
    )
    computed = lookup(client, tenant, userId="rev").json()["computed"]
    # sessions: s1 and s2 from the client, and one by inactivity for the Charge events
    assert (computed["ltv"], computed["orders"], computed["session_count"]) == (60, 2, 3)


def test_mixed_currencies_give_totals_per_currency(client: Client, tenant: Tenant) -> None:
    track(
        client,
        tenant,
        "Charge",
        {
            "eventId": "e1",
            "userId": "fx",
            "data": {"amount": 5, "status": "succeeded", "currency": "EUR"},
        },
        {
            "eventId": "e2",
            "userId": "fx",
            "data": {"amount": 7, "status": "succeeded", "currency": "USD"},
        },
    )
    assert lookup(client, tenant, userId="fx").json()["computed"]["ltv"] == {"EUR": 5, "USD": 7}


def test_timeline_spans_every_identifier_and_pages(client: Client, tenant: Tenant) -> None:
    track(client, tenant, "View Page", {"eventId": "t1", "profileId": "dev", "timestamp": T})
    track(
        client,
        tenant,
        "Identify",
        {"eventId": "t2", "profileId": "dev", "userId": "tim", "timestamp": T + 1},
    )
    track(client, tenant, "Buy", {"eventId": "t3", "userId": "tim", "timestamp": T + 2})
    track(
        client,
        tenant,
        "Other",
        {"eventId": "t4", "userId": "tom", "profileId": "dev", "timestamp": T + 3},
    )  # tom's, not tim's
    person = lookup(client, tenant, userId="tim").json()
    url = f"{tenant.base}/profiles/{person['id']}/events"
    first = client.get(url, params={"limit": "2"}, headers=tenant.headers).json()
    rest = client.get(
        url, params={"limit": "2", "cursor": first["next"]}, headers=tenant.headers
    ).json()
    assert [e["eventId"] for e in first["events"] + rest["events"]] == ["t1", "t2", "t3"]
    assert rest["next"] is None


def test_split_is_exact_and_survives_later_events(client: Client, tenant: Tenant) -> None:
    # issue 4 §1: an operator splits a wrongly linked device off a person
    track(
        client,
        tenant,
        "Identify",
        {"eventId": "s1", "profileId": "laptop", "userId": "liz", "timestamp": T},
        {"eventId": "s2", "profileId": "kiosk", "userId": "liz", "timestamp": T + 1},
    )
    track(client, tenant, "View Page", {"eventId": "s3", "profileId": "kiosk", "timestamp": T + 2})
    person = lookup(client, tenant, userId="liz").json()
    url = f"{tenant.base}/profiles/{person['id']}/split"
    done = client.post(url, json={"profileId": "kiosk"}, headers=tenant.headers)
    assert done.status_code == 200, done.text
    liz = lookup(client, tenant, userId="liz").json()
    assert liz["profileIds"] == ["laptop"] and liz["computed"]["event_count"] == 2
    kiosk = lookup(client, tenant, profileId="kiosk").json()
    assert kiosk["userIds"] == [] and kiosk["computed"]["event_count"] == 1
    assert done.json() == {"person": liz["id"], "splitOff": kiosk["id"]}
    # A later event links the kiosk to liz again: the split holds.
    track(
        client,
        tenant,
        "Identify",
        {"eventId": "s4", "profileId": "kiosk", "userId": "liz", "timestamp": T + 3},
    )
    assert lookup(client, tenant, userId="liz").json()["profileIds"] == ["laptop"]
    history = client.get(
        f"{tenant.base}/profiles/{liz['id']}/identity-history", headers=tenant.headers
    ).json()["history"]
    assert [h["type"] for h in history] == ["link", "split"]  # s4 repeats s2: one link


def test_bad_splits_are_refused(client: Client, tenant: Tenant) -> None:
    track(client, tenant, "E", {"eventId": "b1", "userId": "solo", "profileId": "d1"})
    person = lookup(client, tenant, userId="solo").json()
    url = f"{tenant.base}/profiles/{person['id']}/split"
    for body in ({"userId": "solo"}, {"profileId": "elsewhere"}, {}, {"userId": 1}):
        response = client.post(url, json=body, headers=tenant.headers)
        assert response.status_code == 400, body


def test_attribute_strategies(client: Client, tenant: Tenant) -> None:
    # issue 4 §2: latest (default), first and most_frequent, per attribute per project
    for name, strategy in (("signup_source", "first"), ("fav_color", "most_frequent")):
        done = client.put(f"{tenant.base}/attributes/{name}", json={"strategy": strategy},
                          headers=tenant.headers)  # fmt: skip
        assert done.status_code == 200, done.text
    observations = [
        {"signup_source": "ads", "fav_color": "red", "plan": "free"},
        {"signup_source": "seo", "fav_color": "blue", "plan": "pro"},
        {"fav_color": "red", "plan": "team"},
        {"fav_color": "blue"},
    ]
    items = [{"eventId": f"at{i}", "userId": "sam", "timestamp": T + 10 - i,
              "userAttributes": attrs} for i, attrs in enumerate(observations)]  # fmt: skip
    track(client, tenant, "Identify", *items)
    attributes = lookup(client, tenant, userId="sam").json()["attributes"]
    # times run backwards: at3 is the earliest event, at0 the latest
    assert attributes == {"signup_source": "seo", "fav_color": "red", "plan": "free"}
    listed = client.get(f"{tenant.base}/attributes", headers=tenant.headers).json()
    assert listed == {
        "default": "latest",
        "attributes": {"fav_color": "most_frequent", "signup_source": "first"},
    }
    bad = client.put(f"{tenant.base}/attributes/x", json={"strategy": "median"},
                     headers=tenant.headers)  # fmt: skip
    assert bad.status_code == 400 and bad.json()["errors"][0]["path"] == "strategy"


def test_accounts_gather_members_attributes_and_aliases(client: Client, tenant: Tenant) -> None:
    # issue 4 §5: membership from accountId on any event and from group
    track(client, tenant, "Identify",
          {"eventId": "g1", "userId": "amy", "profileId": "amy-laptop", "accountId": "acme",
           "timestamp": T, "accountAttributes": {"plan": "team", "seats": 5}},
          {"eventId": "g2", "profileId": "guest-1", "accountId": "acme", "timestamp": T + 1},
          {"eventId": "g3", "userId": "bob", "accountId": "acme-inc", "anotherAccountId": "acme",
           "timestamp": T + 2, "accountAttributes": {"seats": 8}})  # fmt: skip
    response = client.get(f"{tenant.base}/accounts/acme-inc", headers=tenant.headers)
    assert response.status_code == 200, response.text
    acme = response.json()
    assert acme["accountIds"] == ["acme", "acme-inc"] and acme["id"] == "acme"
    assert acme["attributes"] == {"plan": "team", "seats": 8}
    members = client.get(f"{tenant.base}/accounts/acme-inc/members", headers=tenant.headers)
    assert members.status_code == 200, members.text
    assert [m["userIds"] or m["profileIds"] for m in members.json()["members"]] == [
        ["amy"], ["bob"], ["guest-1"],
    ]  # fmt: skip
    assert members.json()["next"] is None
    assert acme["computed"]["event_count"] == 3
    assert lookup(client, tenant, userId="amy").json()["accounts"] == ["acme"]
    missing = client.get(f"{tenant.base}/accounts/nobody", headers=tenant.headers)
    assert missing.status_code == 404


def test_sessions_from_the_client_and_by_inactivity(client: Client, tenant: Tenant) -> None:
    # issue 4 §4: client sessionIds, and 30 minutes of inactivity for events without one
    minute = 60_000
    start = {"eventId": "ses_1", "profileId": "web-1", "sessionId": "ses_1", "timestamp": T,
             "userAttributes": {"deviceType": "Mobile", "referrer": "news.example",
                                "utmSource": "newsletter"}}  # fmt: skip
    track(client, tenant, "Session start", start)
    track(client, tenant, "View Page",
          {"eventId": "pag_2", "profileId": "web-1", "sessionId": "ses_1", "timestamp": T + 2,
           "data": {"url": "https://shop.example/shoes"}},
          {"eventId": "pag_1", "profileId": "web-1", "sessionId": "ses_1", "timestamp": T + 1,
           "data": {"url": "https://shop.example/"}})  # fmt: skip
    track(
        client,
        tenant,
        "Ping",
        {"eventId": "a1", "profileId": "web-1", "timestamp": T + 60 * minute},
        {"eventId": "a2", "profileId": "web-1", "timestamp": T + 89 * minute},
        {"eventId": "a3", "profileId": "web-1", "timestamp": T + 120 * minute},
    )
    person = lookup(client, tenant, profileId="web-1").json()
    assert person["computed"]["session_count"] == 3
    latest, auto, web = person["sessions"]
    assert (latest["id"], latest["event_count"]) == ("auto_a3", 1)
    assert (auto["id"], auto["start"], auto["end"]) == ("auto_a1", T + 60 * minute, T + 89 * minute)
    assert web == {
        "id": "ses_1", "start": T, "end": T + 2, "event_count": 3, "pages_viewed": 2,
        "landing_page": "https://shop.example/", "deviceType": "Mobile", "browser": None,
        "platform": None, "referrer": "news.example", "utmSource": "newsletter",
        "utmMedium": None, "utmCampaign": None, "utmTerm": None, "utmContent": None,
    }  # fmt: skip


def test_events_sharing_an_id_under_two_names_fold_the_same_in_any_order(
    make_client: Any, store: Any
) -> None:
    # View Page and Leave Page share the page id: the event name breaks their tie
    from headwater.tenancy import provision

    results: list[dict[str, Any]] = []
    for order in (["View Page", "Leave Page"], ["Leave Page", "View Page"]):
        tenant = Tenant(provision.create_key(store, "acme", f"w{len(results)}"))
        client = make_client()
        for name in order:
            value = "A" if name == "View Page" else "B"
            track(client, tenant, name, {"eventId": "pag_1", "userId": "tie", "timestamp": T,
                                         "userAttributes": {"plan": value}})  # fmt: skip
        results.append(lookup(client, tenant, userId="tie").json()["attributes"])
    assert results[0] == results[1] == {"plan": "A"}  # "View Page" > "Leave Page"


def test_fractional_revenue_does_not_depend_on_order(client: Client, tenant: Tenant) -> None:
    for i, amount in enumerate((0.1, 0.2, 0.3)):
        track(
            client,
            tenant,
            "Charge",
            {
                "eventId": f"f{i}",
                "userId": "frac",
                "timestamp": T,
                "data": {"amount": amount, "status": "succeeded"},
            },
        )
    assert lookup(client, tenant, userId="frac").json()["computed"]["ltv"] == 0.6


def test_refused_and_split_profiles_are_still_found(make_client: Any, tenant: Tenant) -> None:
    client = make_client(max_profiles_per_person=1)
    track(
        client,
        tenant,
        "Identify",
        {"eventId": "r1", "profileId": "d1", "userId": "cap", "timestamp": T},
        {"eventId": "r2", "profileId": "d2", "userId": "cap", "timestamp": T + 1},
    )
    refused = lookup(client, tenant, profileId="d2")
    assert refused.status_code == 200 and refused.json()["userIds"] == []
    history = client.get(f"{tenant.base}/profiles/{refused.json()['id']}/identity-history",
                         headers=tenant.headers).json()["history"]  # fmt: skip
    assert [h["type"] for h in history] == ["refused"]
    unused = client.get(f"{tenant.base}/profiles/u_bm9ib2R5/events", headers=tenant.headers)
    assert unused.status_code == 404  # u_bm9ib2R5 is the id of userId "nobody"


# -- issue 11 ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lines",
    [
        # browser SDK (reference §5.4): each line of one productOrdered() its own eventId
        [{"eventId": "ev_1", "profileId": "web", "sessionId": "ses_1", "pageId": "pag_1",
          "data": {"productId": "prod_123", "quantity": 2}},
         {"eventId": "ev_2", "profileId": "web", "sessionId": "ses_1", "pageId": "pag_1",
          "data": {"productId": "prod_456", "quantity": 1}}],
        # server SDKs: the lines share one eventId
        [{"eventId": "o-1", "profileId": "web", "data": {"productId": "prod_123"}},
         {"eventId": "o-1", "profileId": "web", "data": {"productId": "prod_456"}}],
    ],
    ids=["browser", "server"],
)  # fmt: skip
def test_one_order_call_counts_once_from_every_sdk(
    client: Client, tenant: Tenant, lines: list[dict[str, Any]]
) -> None:
    # issue 11 Deliver 3: one order with two lines gave orders = 2 from the browser SDK
    body = {"track": [{"name": "Product ordered", "type": "product", "payload": lines}]}
    response = client.post(f"{tenant.base}/track", json=body, headers=tenant.headers)
    assert response.status_code == 201 and response.json()["accepted"] == 2
    again = client.post(f"{tenant.base}/track", json=body, headers=tenant.headers)
    assert again.json()["duplicates"] == 2  # a re-sent order is still one
    assert lookup(client, tenant, profileId="web").json()["computed"]["orders"] == 1
    second = [{**line, "eventId": f"{line['eventId']}-b"} for line in lines]
    track(client, tenant, "Product ordered", *second)
    computed = lookup(client, tenant, profileId="web").json()["computed"]
    assert (computed["orders"], computed["event_count"]) == (2, 4)


def insert_raw(store: Any, project_id: int, **fields: Any) -> None:
    """An event straight into the store, as a legacy row stored before ingest refused what
    cannot be read back (attack finding 4)."""
    from headwater.model.event import Batch, Context
    from tests.conftest import row

    event = row(project_id, fields.pop("name", "E"), fields.pop("event_id"))._replace(**fields)
    store.write([Batch(Context(project_id, None, "key", T), [event])])


def test_unreadable_stored_json_never_fails_a_read(
    client: Client, tenant: Tenant, store: Any
) -> None:
    # issue 11 Deliver 4 / attack finding 4: {"plan": 1e400} stored earlier made the lookup,
    # the export and the account answer 500 until erased.
    project = store.find_project(tenant.key.org, tenant.key.project)
    track(client, tenant, "Identify", {"eventId": "ok", "userId": "leg", "accountId": "acct",
                                       "timestamp": T, "userAttributes": {"plan": "free"},
                                       "accountAttributes": {"tier": "gold"}})  # fmt: skip
    bad = '{"plan": 1e400}'
    for event_id, name, fields in [
        ("u", "Identify", {"user_attributes": bad, "account_id": "acct",
                           "account_attributes": bad}),
        ("c", "Charge", {"data": '{"amount": 1e400, "status": "succeeded"}'}),
        ("h", "Charge", {"data": '{"amount": ' + "9" * 400 + ', "status": "succeeded"}'}),
        ("v", "View Page", {"data": '{"url": "\\ud800"}', "session_id": "s1"}),
        ("s", "Session start", {"user_attributes": '{"deviceType": -1e999}', "session_id": "s1"}),
    ]:  # fmt: skip
        insert_raw(store, project.id, event_id=event_id, name=name, user_id="leg",
                   timestamp=T + 1, **fields)  # fmt: skip
    found = lookup(client, tenant, userId="leg")
    assert found.status_code == 200, found.text
    person = found.json()
    assert person["attributes"] == {"plan": "free"}  # the unreadable observation is skipped
    assert person["computed"]["ltv"] == 0 and person["computed"]["event_count"] == 6
    assert person["sessions"][0]["landing_page"] is None
    assert person["unreadable"]["count"] == 5
    assert {(e["eventId"], e["field"]) for e in person["unreadable"]["events"]} == {
        ("u", "userAttributes"), ("c", "data"), ("h", "data.amount"), ("v", "data"),
        ("s", "userAttributes"),
    }  # fmt: skip
    timeline = client.get(f"{tenant.base}/profiles/{person['id']}/events",
                          headers=tenant.headers)  # fmt: skip
    assert timeline.status_code == 200 and len(timeline.json()["events"]) == 6
    exported = client.get(f"{tenant.base}/privacy/export", params={"userId": "leg"},
                          headers=tenant.headers)  # fmt: skip
    assert exported.status_code == 200, exported.text
    assert exported.json()["unreadable"] == person["unreadable"]
    assert exported.json()["accounts"][0]["unreadable"]["count"] == 1
    account = client.get(f"{tenant.base}/accounts/acct", headers=tenant.headers)
    assert account.status_code == 200, account.text
    assert account.json()["attributes"] == {"tier": "gold"}
    assert account.json()["unreadable"]["events"] == [
        {"eventId": "u", "line": 0, "eventName": "Identify", "field": "accountAttributes"}
    ]


def members_pages(client: Client, tenant: Tenant, account: str, limit: int) -> list[Any]:
    pages, cursor = [], None
    while True:
        params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        response = client.get(f"{tenant.base}/accounts/{account}/members", params=params,
                              headers=tenant.headers)  # fmt: skip
        assert response.status_code == 200, response.text
        pages.append(response.json())
        cursor = pages[-1]["next"]
        if cursor is None:
            return pages


def test_account_members_are_paged_and_each_listed_once(client: Client, tenant: Tenant) -> None:
    # issue 11 Deliver 4: an account listed every member in one answer
    items = [{"eventId": f"m{i}", "userId": f"user-{i}", "accountId": "big", "timestamp": T + i}
             for i in range(7)]  # fmt: skip
    items += [
        # zoe's device and her alias are on the account too: she is one member, listed at
        # her first identifier
        {"eventId": "z1", "profileId": "zoe-phone", "userId": "zoe", "timestamp": T},
        {"eventId": "z2", "userId": "zoe", "anotherUserId": "a-zoe", "timestamp": T},
        {"eventId": "z3", "userId": "a-zoe", "accountId": "big", "timestamp": T},
        {"eventId": "z4", "userId": "zoe", "accountId": "big", "timestamp": T},
        {"eventId": "z5", "profileId": "zoe-phone", "accountId": "big", "timestamp": T + 50},
        {"eventId": "g1", "profileId": "visitor", "accountId": "big", "timestamp": T},
        {"eventId": "n1", "accountId": "big", "timestamp": T},  # no person's
    ]
    track(client, tenant, "Identify", *items)
    whole = members_pages(client, tenant, "big", 1000)
    assert len(whole) == 1
    expected = [m["id"] for m in whole[0]["members"]]
    assert len(expected) == 9  # 7 users, zoe, the visitor
    for limit in (1, 2, 3):
        pages = members_pages(client, tenant, "big", limit)
        assert all(len(p["members"]) <= limit for p in pages)
        assert [m["id"] for p in pages for m in p["members"]] == expected
    zoe = next(m for m in whole[0]["members"] if "zoe" in m["userIds"])
    assert zoe["userIds"] == ["a-zoe", "zoe"] and zoe["profileIds"] == ["zoe-phone"]
    assert whole[0]["members"][-1]["profileIds"] == ["visitor"]  # anonymous persons last
    url = f"{tenant.base}/accounts/big/members"
    for cursor in ("nope", "eDpmb28", "dXNlcjoA"):  # not base64; kind "x"; NUL
        bad = client.get(url, params={"cursor": cursor}, headers=tenant.headers)
        assert bad.status_code == 400 and bad.json()["errors"][0]["path"] == "cursor"
    for wrong in ("0", "1001", "x"):
        bad = client.get(url, params={"limit": wrong}, headers=tenant.headers)
        assert bad.status_code == 400
    assert client.get(f"{tenant.base}/accounts/none/members",
                      headers=tenant.headers).status_code == 404  # fmt: skip
    nul = client.get(f"{tenant.base}/accounts/%00/members", headers=tenant.headers)
    assert nul.status_code == 400 and nul.json()["errors"][0]["path"] == "accountId"
