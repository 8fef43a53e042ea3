"""The Intempt track envelope as sent on the wire (reference §5).

Groups and items are kept as raw JSON until each is decoded on its own, so one bad
item is rejected alone and its exact bytes can be quarantined.
"""

from __future__ import annotations

import msgspec

NULL = msgspec.Raw(b"null")


class Group(msgspec.Struct, omit_defaults=True):
    name: str
    payload: list[msgspec.Raw]
    type: str | None = None


class Groups(msgspec.Struct):
    """The envelope decoded in one pass: the fast path when every group is well formed."""

    track: list[Group]


class Item(msgspec.Struct, forbid_unknown_fields=True):
    """One payload item. Objects stay raw: they are stored as the client sent them."""

    eventId: str | None = None
    profileId: str | None = None
    userId: str | None = None
    accountId: str | None = None
    sessionId: str | None = None
    pageId: str | None = None
    anotherUserId: str | None = None
    anotherAccountId: str | None = None
    productId: str | None = None
    timestamp: int | float | str | None = None
    data: msgspec.Raw = NULL
    userAttributes: msgspec.Raw = NULL
    accountAttributes: msgspec.Raw = NULL
    sessionAttributes: msgspec.Raw = NULL


class LenientItem(Item, forbid_unknown_fields=False):
    """The same item, ignoring fields outside the schema (the caller keeps those as `extra`)."""


ITEM_FIELDS = frozenset(Item.__struct_fields__)
ID_FIELDS = (
    "eventId",
    "profileId",
    "userId",
    "accountId",
    "sessionId",
    "pageId",
    "anotherUserId",
    "anotherAccountId",
    "productId",
)
