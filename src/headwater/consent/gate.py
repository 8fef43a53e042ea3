"""The ingest gate (issue 6): which events of a batch must not be stored, and why.

Two rules, both decided when the batch is written, in its transaction, so a consent or an
erasure acknowledged before a request arrived always applies to it:

- **suppression**: an event naming a suppressed identifier (userId, profileId or
  anotherUserId of an erased person) is refused;
- **consent**: when the project requires categories, an event of a person whose deciding
  record for one of them is a reject, or has expired, is refused. A person with no record
  for a category is not refused (consent is opt-out here; docs/privacy.md).

Only events about a person pass through the gate: product items and account-only events
describe no person. Refused events are reported and counted, and their content is stored
nowhere, not even in quarantine.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from headwater.catalog.track import is_product
from headwater.consent.status import Consent, refused_category
from headwater.identity.links import PROFILE, USER
from headwater.identity.resolve import Person, Resolution
from headwater.model.event import Batch, EventRow, Rejection
from headwater.model.rules import format_ms, is_identity

_FIELDS = (("userId", USER, "user_id"), ("profileId", PROFILE, "profile_id"),
           ("anotherUserId", USER, "another_user_id"))  # fmt: skip


def identifiers(row: EventRow) -> Iterator[tuple[str, str, str]]:
    """(wire field, kind, value) of every person identifier the event names."""
    if is_product(row):
        return
    for field, kind, column in _FIELDS:
        value = getattr(row, column)
        if is_identity(value):
            yield field, kind, value


def person_of(resolution: Resolution, row: EventRow) -> Person | None:
    """The person the event belongs to: its userId's, else its profileId's."""
    if is_product(row):
        return None
    if is_identity(row.user_id):
        return resolution.person(user_id=row.user_id)
    if is_identity(row.profile_id):
        return resolution.person(profile_id=row.profile_id)
    return None


class Gate:
    def __init__(
        self,
        suppressed: set[tuple[str, str]],
        required: Sequence[str],
        resolution: Resolution | None,
        decided: dict[str, dict[str | None, Consent]],
    ) -> None:
        self._suppressed = suppressed  # (kind, identifier) of the batch's suppressed ones
        self._required = required
        self._resolution = resolution
        self._decided = decided  # person id → category → deciding record

    def apply(self, batch: Batch, now: int) -> None:
        """Move the batch's refused events to `batch.refused`; `now` decides expiry."""
        refused = {}
        for index, row in enumerate(batch.events):
            why = self._check(row, now)
            if why is not None:
                group, item = batch.origins[index] if batch.origins else (None, None)
                path = why[0] if group is None else f"track[{group}].payload[{item}].{why[0]}"
                refused[index] = Rejection(group, item, path, why[1], why[2], "",
                                           row.event_name, row.type, row.line)  # fmt: skip
        if refused:
            batch.refuse(refused)

    def _check(self, row: EventRow, now: int) -> tuple[str, str, str] | None:
        if self._suppressed:
            for field, kind, value in identifiers(row):
                if (kind, value) in self._suppressed:
                    return field, f"not stored: this {field} belongs to an erased person " \
                        "and is suppressed", "suppressed"  # fmt: skip
        if not self._required or self._resolution is None:
            return None
        person = person_of(self._resolution, row)
        if person is None:
            return None
        found = refused_category(self._decided.get(person.id, {}), self._required, now)
        if found is None:
            return None
        category, consent = found
        state = "rejected" if consent.action == "reject" else "expired"
        since = consent.timestamp if state == "rejected" else consent.valid_until or 0
        field = "userId" if is_identity(row.user_id) else "profileId"
        return (
            field,
            (
                f"not stored: the person's consent for {category!r}, which this project requires, "
                f"was {state} at {format_ms(since)}"
            ),
            "consent",
        )


def persons(resolution: Resolution, rows: Sequence[EventRow]) -> set[Person]:
    return {p for p in (person_of(resolution, row) for row in rows) if p is not None}
