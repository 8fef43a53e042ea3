"""Domain records the ingest path produces and the stores consume."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

from headwater.model.rules import is_identity

#: Who an event belongs to (the `owner` column): its userId's person, or, when its userId is
#: no real identifier, its profileId's. Decided once, at write, so a person's events are an
#: indexed query (ARCHITECTURE §2).
USER_OWNED, PROFILE_OWNED = "user", "profile"
#: The kinds of owner, in the order an account lists its members (users, then anonymous).
OWNER_KINDS = (USER_OWNED, PROFILE_OWNED)


class EventRow(NamedTuple):
    """One accepted event, in the column order of the `events` table."""

    project_id: int
    source_id: str | None
    event_name: str
    event_id: str
    line: int
    type: str | None
    profile_id: str | None
    user_id: str | None
    account_id: str | None
    session_id: str | None
    page_id: str | None
    another_user_id: str | None
    another_account_id: str | None
    product_id: str | None
    timestamp: int
    received_at: int
    data: str | None
    user_attributes: str | None
    account_attributes: str | None
    session_attributes: str | None
    extra: str | None
    key_prefix: str
    # The eventId of the first item of the group this item came in, when it differs from
    # its own: the items of one group are one SDK call (the browser SDK gives each line of
    # an order its own eventId; the server SDKs share one across lines).
    group_event_id: str | None = None


EVENT_COLUMNS = EventRow._fields
#: The columns an insert writes: the row's, then what is derived from it at write.
STORED_COLUMNS = (*EVENT_COLUMNS, "owner")


def owner_of(user_id: str | None, profile_id: str | None) -> str | None:
    """USER_OWNED when the userId is a real identifier, else PROFILE_OWNED when the
    profileId is, else None (nobody's: an event of an account or a product alone)."""
    if is_identity(user_id):
        return USER_OWNED
    return PROFILE_OWNED if is_identity(profile_id) else None


def stored(row: EventRow) -> tuple[object, ...]:
    """The row as an insert writes it, in STORED_COLUMNS order."""
    return (*row, owner_of(row.user_id, row.profile_id))


def raw_text(data: bytes) -> str:
    """Client bytes as text that every store can keep: invalid UTF-8 as `\\xNN` escapes and
    NUL as `\\u0000` (PostgreSQL text cannot hold NUL)."""
    return data.decode("utf-8", "backslashreplace").replace("\x00", "\\u0000")


@dataclasses.dataclass(frozen=True)
class Rejection:
    """An item (or, when `item` is None, a whole group or body) that failed validation."""

    group: int | None
    item: int | None
    path: str
    message: str
    reason: str
    raw: str
    event_name: str | None = None
    type: str | None = None
    line: int = 0

    def wire(self) -> dict[str, object]:
        return {"group": self.group, "item": self.item, "path": self.path, "message": self.message}


@dataclasses.dataclass(frozen=True)
class Context:
    """Who sent a request, where to, and when it arrived."""

    project_id: int
    source_id: str | None
    key_prefix: str
    received_at: int


@dataclasses.dataclass
class Batch:
    """What one request (or one quarantine replay) asks the store to write."""

    ctx: Context
    events: list[EventRow] = dataclasses.field(default_factory=list)
    rejected: list[Rejection] = dataclasses.field(default_factory=list)
    # Product items among `events`: (index in events, group, item, raw JSON), to screen
    # against the catalog before the write (catalog/track.py).
    products: list[tuple[int, int, int, str]] = dataclasses.field(default_factory=list)
    # (group, item) each of `events` came from, to report an event the store refuses.
    origins: list[tuple[int | None, int | None]] = dataclasses.field(default_factory=list)
    # Events refused at write for consent or suppression (consent/gate.py): reported, and
    # unlike `rejected` never stored, not even their content.
    refused: list[Rejection] = dataclasses.field(default_factory=list)

    def keep(self, kept: set[int]) -> None:
        """Keep only the events at the indices in `kept` (and their origins)."""
        self.events = [row for i, row in enumerate(self.events) if i in kept]
        self.origins = [at for i, at in enumerate(self.origins) if i in kept]

    def refuse(self, refusals: dict[int, Rejection]) -> None:
        """Move the events at the keys of `refusals` to `refused`."""
        self.refused += refusals.values()
        self.keep(set(range(len(self.events))) - refusals.keys())


@dataclasses.dataclass(frozen=True)
class WriteResult:
    accepted: int
    duplicates: int
