"""A person's consent: their history, and the current status per category. Pure functions.

- A record without a category is a *general* decision: it counts for every category.
- The status of a category is its latest record, general ones included, by consent time.
  Clients send whole seconds, so a person who revokes and grants again within one second
  sends two records of the same time: the one received later is the later decision. Only
  then (the same time, received in the same millisecond) do `reject`, the later
  `validUntil` and the record's digest decide, so the answer is always the same for the
  same stored records.
- A record past its `validUntil` counts as no consent: its status is `expired`.
- A consent belongs to the person of its userId, else to the person of its profileId (the
  rule events follow).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import msgspec

from headwater.identity.resolve import Person
from headwater.model.rules import is_identity

ACCEPTED, REJECTED, EXPIRED = "accepted", "rejected", "expired"
#: Optional fields of the wire (reference §7), shown beside the record's own.
DETAILS = ("email", "message", "reason", "method", "deviceInfo", "source")
_FOREVER = 2**63

#: `consents` columns in the order `Consent` takes them.
CONSENT_COLUMNS = (
    "id, user_id, profile_id, source_id, category, action, timestamp, valid_until, "
    "received_at, details, digest"
)


@dataclasses.dataclass(frozen=True)
class Consent:
    """A stored record (one row of `consents`)."""

    id: int
    user_id: str | None
    profile_id: str | None
    source_id: str | None
    category: str | None
    action: str
    timestamp: int
    valid_until: int | None
    received_at: int
    details: str  # JSON object text
    digest: str

    @property
    def order(self) -> tuple[int, int, bool, int, str]:
        """Which of two records decides: the later decided, then the later received, then
        reject, then the longer-lived."""
        until = _FOREVER if self.valid_until is None else self.valid_until
        return (self.timestamp, self.received_at, self.action == "reject", until, self.digest)

    def state(self, now: int) -> str:
        if self.valid_until is not None and self.valid_until <= now:
            return EXPIRED
        return ACCEPTED if self.action == "accept" else REJECTED

    def view(self) -> dict[str, Any]:
        """The record as the API shows it; fields the wire does not define under `extra`."""
        details = msgspec.json.decode(self.details)
        kept = {name: details.pop(name) for name in DETAILS if name in details}
        return {
            "id": self.id,
            "action": self.action,
            "category": self.category,
            "timestamp": self.timestamp,
            "validUntil": self.valid_until,
            "userId": self.user_id,
            "profileId": self.profile_id,
            "sourceId": self.source_id,
            "receivedAt": self.received_at,
            **kept,
            **({"extra": details} if details else {}),
        }


def owned_by(person: Person, consent: Consent) -> bool:
    if is_identity(consent.user_id):
        return consent.user_id in person.user_ids
    return consent.profile_id in person.profile_ids


def latest(consents: Iterable[Consent]) -> dict[str | None, Consent]:
    """Category (None: general) → the record that decides it."""
    found: dict[str | None, Consent] = {}
    for consent in consents:
        held = found.get(consent.category)
        if held is None or consent.order > held.order:
            found[consent.category] = consent
    return found


def deciding(decided: dict[str | None, Consent], category: str) -> Consent | None:
    """The record that decides `category`: its own latest or the general latest."""
    own, general = decided.get(category), decided.get(None)
    if own is None or general is None:
        return own or general
    return max(own, general, key=lambda c: c.order)


def status(consents: Iterable[Consent], now: int) -> dict[str, Any]:
    """`{"general": …, "categories": {name: …}}`: each the deciding record and its state."""
    decided = latest(consents)

    def entry(consent: Consent | None) -> dict[str, Any] | None:
        return None if consent is None else {**consent.view(), "status": consent.state(now)}

    categories = sorted(c for c in decided if c is not None)
    return {
        "general": entry(decided.get(None)),
        "categories": {name: entry(deciding(decided, name)) for name in categories},
    }


def refused_category(
    decided: dict[str | None, Consent], required: Iterable[str], now: int
) -> tuple[str, Consent] | None:
    """The first required category whose deciding record is a reject or has expired."""
    for category in required:
        consent = deciding(decided, category)
        if consent is not None and consent.state(now) != ACCEPTED:
            return category, consent
    return None
