"""The ingest gate (issue 6): which items of a batch must not be stored, and why.

Two rules, both decided when the batch is written, in its transaction, so a consent or an
erasure acknowledged before a request arrived always applies to it:

- **suppression**: an item naming a suppressed identifier (userId, profileId or
  anotherUserId of an erased person) is refused;
- **consent**: when the project requires categories, an item of a person whose deciding
  record for one of them is a reject, or has expired, is refused. A person with no record
  for a category is not refused (consent is opt-out here; docs/privacy.md).

The gate sees valid events and invalid items alike: an invalid item of a suppressed or
non-consenting person is refused rather than quarantined (its identifiers are read from its
raw JSON). Only items about a person pass through it: product items and account-only events
describe no person. Refused items are reported and counted, and their content is stored
nowhere, not even in quarantine.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from headwater.catalog.track import is_product
from headwater.consent.status import Consent, latest, refused_category
from headwater.identity.links import PROFILE, USER
from headwater.identity.resolve import Person, Resolution
from headwater.model.event import Batch, EventRow, Rejection
from headwater.model.rules import format_ms, is_identity


class Who(NamedTuple):
    """The person identifiers an item names (None where it names none)."""

    user_id: str | None
    profile_id: str | None
    another_user_id: str | None


_FIELDS = (("userId", USER, 0), ("profileId", PROFILE, 1), ("anotherUserId", USER, 2))


def who_of(row: EventRow) -> Who | None:
    """None for a product item (it describes no person)."""
    return None if is_product(row) else Who(row.user_id, row.profile_id, row.another_user_id)


def who_in(raw: str) -> list[Who]:
    """Who the items of an invalid body, group or item name, read from its JSON."""
    try:
        document = json.loads(raw)
    except ValueError:
        return []  # unreadable: it names nobody the gate could recognise
    items: list[Any] = [document]
    if isinstance(document, dict) and isinstance(document.get("track"), list):
        items = [g.get("payload") for g in document["track"] if isinstance(g, dict)]
    if isinstance(document, dict) and "payload" in document:
        items = [document.get("payload")]
    found = []
    for item in _flat(items):
        if isinstance(item, dict) and not is_identity(_text(item.get("productId"))):
            found.append(Who(*(_text(item.get(name)) for name, _, _ in _FIELDS)))
    return found


def _flat(values: Iterable[Any]) -> Iterator[Any]:
    for value in values:
        if isinstance(value, list):
            yield from value
        else:
            yield value


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # a numeric id is refused by validation, but still names someone
    return None


def identifiers(who: Who) -> Iterator[tuple[str, str, str]]:
    """(wire field, kind, value) of every person identifier `who` holds."""
    for field, kind, at in _FIELDS:
        value = who[at]
        if is_identity(value):
            yield field, kind, value


def person_of(resolution: Resolution, who: Who) -> Person | None:
    """The person an item belongs to: its userId's, else its profileId's."""
    if is_identity(who.user_id):
        return resolution.person(user_id=who.user_id)
    if is_identity(who.profile_id):
        return resolution.person(profile_id=who.profile_id)
    return None


def whos(batch: Batch) -> Iterator[Who]:
    """Who every event and every invalid item of the batch names."""
    for row in batch.events:
        who = who_of(row)
        if who is not None:
            yield who
    for rejection in batch.rejected:
        yield from who_in(rejection.raw)


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
        """Move the batch's refused events and invalid items to `batch.refused`; `now`
        decides expiry."""
        refused = {}
        for index, row in enumerate(batch.events):
            who = who_of(row)
            why = None if who is None else self._check(who, now)
            if why is not None:
                group, item = batch.origins[index] if batch.origins else (None, None)
                refused[index] = _refusal(group, item, why, row.event_name, row.type, row.line)
        if refused:
            batch.refuse(refused)
        kept = []
        for rejection in batch.rejected:
            why = next(filter(None, (self._check(w, now) for w in who_in(rejection.raw))), None)
            if why is None:
                kept.append(rejection)
                continue
            r = rejection
            batch.refused.append(_refusal(r.group, r.item, why, r.event_name, r.type, r.line))
        batch.rejected = kept

    def _check(self, who: Who, now: int) -> tuple[str, str, str] | None:
        for field, kind, value in identifiers(who):
            if (kind, value) in self._suppressed:
                return field, f"not stored: this {field} belongs to an erased person " \
                    "and is suppressed", "suppressed"  # fmt: skip
        if not self._required or self._resolution is None:
            return None
        person = person_of(self._resolution, who)
        if person is None:
            return None
        found = refused_category(self._decided.get(person.id, {}), self._required, now)
        if found is None:
            return None
        category, consent = found
        state = "rejected" if consent.action == "reject" else "expired"
        since = consent.timestamp if state == "rejected" else consent.valid_until or 0
        field = "userId" if is_identity(who.user_id) else "profileId"
        return (
            field,
            (
                f"not stored: the person's consent for {category!r}, which this project requires, "
                f"was {state} at {format_ms(since)}"
            ),
            "consent",
        )


def _refusal(
    group: int | None, item: int | None, why: tuple[str, str, str],
    event_name: str | None, type_: str | None, line: int,
) -> Rejection:  # fmt: skip
    """A refusal in the shape of a rejection, without the raw content (never stored)."""
    field, message, reason = why
    path = field if group is None else f"track[{group}].payload[{item}].{field}"
    if group is not None and item is None:
        path = f"track[{group}].payload"
    return Rejection(group, item, path, message, reason, "", event_name, type_, line)


def decided(
    resolution: Resolution, people: Iterable[Person], consents: Iterable[Consent]
) -> dict[str, dict[str | None, Consent]]:
    """Person id → category → deciding record, for `people`: each record goes to the person
    it belongs to (its userId's, else its profileId's), in one pass."""
    wanted = {p.id for p in people}
    owned: dict[str, list[Consent]] = {}
    for consent in consents:
        owner = person_of(resolution, Who(consent.user_id, consent.profile_id, None))
        if owner is not None and owner.id in wanted:
            owned.setdefault(owner.id, []).append(consent)
    return {person_id: latest(records) for person_id, records in owned.items()}


def persons(resolution: Resolution, named: Iterable[Who]) -> set[Person]:
    return {p for p in (person_of(resolution, who) for who in named) if p is not None}
