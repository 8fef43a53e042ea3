"""An account (a company or workspace, B2B) computed when asked: its aliases, attributes and
activity, and a page of its members, from the events and links already committed."""

from __future__ import annotations

from typing import Any

from headwater.errors import BadRequest, NotFound
from headwater.identity.links import ACCOUNT
from headwater.identity.resolve import Caps, Person
from headwater.model.event import OWNER_KINDS, PROFILE_OWNED, USER_OWNED
from headwater.model.rules import is_identity
from headwater.model.views import decode_key_cursor, encode_key_cursor
from headwater.profiles.activity import sources
from headwater.profiles.attributes import Fold
from headwater.profiles.lookup import resolution_of
from headwater.profiles.ordering import AT, FOLD_COLUMNS, order_of
from headwater.profiles.stored import Unreadable, read_object
from headwater.store.base import EventQuery, Store


def account_ids(store: Store, project_id: int, account_id: str) -> list[str]:
    """The account's ids (it and its aliases, `anotherAccountId`), sorted; NotFound when
    no event carries one."""
    if not is_identity(account_id) or "\x00" in account_id:  # ingest stores no NUL
        raise NotFound(f"no account {account_id!r}", "accountId")
    links = store.alias_links(project_id, ACCOUNT, [account_id])
    ids = sorted({account_id} | {i for link in links for i in (link.a, link.b)})
    if not store.query_events(EventQuery(project_id, any_account_id=tuple(ids), limit=1)):
        raise NotFound(f"no account {account_id!r}", "accountId")
    return ids


def account(store: Store, project_id: int, account_id: str) -> dict[str, Any]:
    """The account, merged with its aliases; its attributes fold as its events stream."""
    ids = account_ids(store, project_id, account_id)
    fold = Fold(lambda names: store.attribute_strategies(project_id, names))
    unreadable = Unreadable()
    first = last = None
    count = 0
    query = EventQuery(project_id, any_account_id=tuple(ids), columns=FOLD_COLUMNS)
    for row in store.stream_events(query):
        order = order_of(row)
        count += 1
        first = order[0] if first is None else first
        last = order[0]
        found = read_object(row[AT["account_attributes"]], order, "accountAttributes",
                            unreadable)  # fmt: skip
        if found is not None:
            fold.observe(order, found)
    values = fold.result()
    return {
        "id": ids[0],
        "accountIds": ids,
        "attributes": {name: value for name, (value, _) in values.items()},
        "attributeSources": sources(values),
        "computed": {"first_seen": first, "last_seen": last, "event_count": count},
        "unreadable": unreadable.view(),
    }


def members(
    store: Store, project_id: int, caps: Caps, account_id: str, limit: int,
    cursor: str | None,
) -> dict[str, Any]:  # fmt: skip
    """A page of the account's members: the persons (resolved as profiles are) who own an
    event carrying one of its ids. Each is listed once, at the first of their identifiers
    on the account's events (users by id, then profiles by id), so a page can hold fewer
    than `limit` persons and still be followed by another."""
    ids = account_ids(store, project_id, account_id)
    after = _decode(cursor) if cursor else None
    owners = store.account_members(project_id, ids, after, limit + 1)
    page = owners[:limit]
    users = [i for kind, i in page if kind == USER_OWNED]
    profiles = [i for kind, i in page if kind == PROFILE_OWNED]
    resolution = resolution_of(store, project_id, caps, users, profiles)
    persons = [
        resolution.person(user_id=i) if kind == USER_OWNED else resolution.person(profile_id=i)
        for kind, i in page
    ]
    # A person with an identifier listed before this page was listed there.
    start = _key(page[0]) if page else None
    earlier = [(kind, i) for p in persons for kind, i in _identifiers(p)
               if start is not None and _key((kind, i)) < start]  # fmt: skip
    listed = store.members_among(
        project_id, ids, [i for kind, i in earlier if kind == USER_OWNED],
        [i for kind, i in earlier if kind == PROFILE_OWNED],
    )  # fmt: skip
    shown: dict[str, Person] = {}
    for person in persons:
        if person.id not in shown and not listed & set(_identifiers(person)):
            shown[person.id] = person
    views = [{"id": p.id, "userIds": list(p.user_ids), "profileIds": list(p.profile_ids)}
             for p in shown.values()]  # fmt: skip
    return {
        "id": ids[0],
        "members": views,
        "next": encode_key_cursor(":".join(page[-1])) if len(owners) > limit else None,
    }


def _identifiers(person: Person) -> list[tuple[str, str]]:
    return [(USER_OWNED, u) for u in person.user_ids] + [
        (PROFILE_OWNED, p) for p in person.profile_ids
    ]


def _key(member: tuple[str, str]) -> tuple[int, str]:
    """Where a member's identifier sorts: users first, then by identifier (bytewise, as a
    store lists them: Python compares code points, in the order of their UTF-8 bytes)."""
    return OWNER_KINDS.index(member[0]), member[1]


def _decode(cursor: str) -> tuple[str, str]:
    kind, _, identifier = decode_key_cursor(cursor).partition(":")
    if kind not in OWNER_KINDS or "\x00" in identifier:  # PostgreSQL text cannot hold NUL
        raise BadRequest("cursor is not one this API returned", "cursor")
    return kind, identifier
