"""An account (a company or workspace, B2B) computed when asked: its aliases, attributes,
members and activity, from the events and links already committed."""

from __future__ import annotations

from typing import Any

import msgspec

from headwater.errors import NotFound
from headwater.identity.links import ACCOUNT
from headwater.identity.resolve import Caps
from headwater.model.rules import is_identity
from headwater.profiles.attributes import Fold
from headwater.profiles.lookup import AT, order_of, resolution_of, scan
from headwater.store.base import EventQuery, Store


def account(store: Store, project_id: int, caps: Caps, account_id: str) -> dict[str, Any]:
    """The account, merged with its aliases (`anotherAccountId`); NotFound when unused."""
    if not is_identity(account_id):
        raise NotFound(f"no account {account_id!r}", "accountId")
    links = store.alias_links(project_id, ACCOUNT, [account_id])
    ids = sorted({account_id} | {i for link in links for i in (link.a, link.b)})
    fold = Fold()
    users: set[str] = set()
    profiles: set[str] = set()
    times: list[int] = []
    for row in scan(store, EventQuery(project_id, any_account_id=tuple(ids))):
        times.append(row[AT["timestamp"]])
        order = order_of(row)
        if row[AT["account_attributes"]] is not None:
            fold.observe(order, msgspec.json.decode(row[AT["account_attributes"]]))
        user_id, profile_id = row[AT["user_id"]], row[AT["profile_id"]]
        if is_identity(user_id):
            users.add(user_id)
        elif is_identity(profile_id):
            profiles.add(profile_id)
    if not times:
        raise NotFound(f"no account {account_id!r}", "accountId")
    # Members are persons: resolve every identifier seen on the account's events at once.
    resolution = resolution_of(store, project_id, caps, sorted(users), sorted(profiles))
    persons = {resolution.person(user_id=u) for u in users}
    persons |= {resolution.person(profile_id=p) for p in profiles}
    values = fold.result(store.attribute_strategies(project_id))
    return {
        "id": ids[0],
        "accountIds": ids,
        "attributes": {name: value for name, (value, _) in values.items()},
        "attributeSources": {
            name: {"eventId": o[1], "line": o[2], "eventName": o[3], "timestamp": o[0]}
            for name, (_, o) in values.items()
        },
        "members": [
            {"id": p.id, "userIds": list(p.user_ids), "profileIds": list(p.profile_ids)}
            for p in sorted(persons, key=lambda p: p.id)
        ],
        "computed": {"first_seen": min(times), "last_seen": max(times), "event_count": len(times)},
    }
