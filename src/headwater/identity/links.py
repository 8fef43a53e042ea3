"""Identity links: the edges events draw between identifiers (ARCHITECTURE §2).

- `profile`: an item carrying `profileId` and `userId` links the device to the user;
- `user`: `userId` with `anotherUserId` is an explicit alias of two users;
- `account`: `accountId` with `anotherAccountId` aliases two accounts.

Only real identifiers link (placeholders such as "undefined" never do). A store keeps, per
pair, the earliest event that drew it (event time, then eventId, then line), so the stored
links are the same whatever order the events arrived in.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from headwater.model.event import EventRow
from headwater.model.rules import is_identity

PROFILE, USER, ACCOUNT = "profile", "user", "account"


class Link(NamedTuple):
    """In the column order of the `identity_links` table. Aliases keep `a < b`."""

    project_id: int
    kind: str
    a: str
    b: str
    timestamp: int
    event_id: str
    line: int

    @property
    def order(self) -> tuple[int, str, int]:
        """Which of two links came first: event time, then eventId, then line."""
        return (self.timestamp, self.event_id, self.line)


def _alias(row: EventRow, kind: str, one: str | None, other: str | None) -> Link | None:
    if is_identity(one) and is_identity(other) and one != other:
        a, b = sorted((one, other))
        return Link(row.project_id, kind, a, b, row.timestamp, row.event_id, row.line)
    return None


def links_of(rows: Iterable[EventRow]) -> list[Link]:
    found = []
    for row in rows:
        if is_identity(row.product_id):
            continue  # catalog ingestion: it creates no person and links nobody
        if is_identity(row.profile_id) and is_identity(row.user_id):
            found.append(
                Link(row.project_id, PROFILE, row.profile_id, row.user_id, row.timestamp,
                     row.event_id, row.line)
            )  # fmt: skip
        for link in (
            _alias(row, USER, row.user_id, row.another_user_id),
            _alias(row, ACCOUNT, row.account_id, row.another_account_id),
        ):
            if link is not None:
                found.append(link)
    return found


def named_by(links: Iterable[Link]) -> tuple[set[str], set[str]]:
    """(userIds, profileIds) the person links (`profile` and `user`) name."""
    users: set[str] = set()
    profiles: set[str] = set()
    for link in links:
        if link.kind == PROFILE:
            profiles.add(link.a)
            users.add(link.b)
        elif link.kind == USER:
            users.update((link.a, link.b))
    return users, profiles
