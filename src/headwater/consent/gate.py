"""The ingest gate (issue 6): which items of a batch must not be stored, and why.

Two rules, both decided when the batch is written, in its transaction, so a consent or an
erasure acknowledged before a request arrived always applies to it:

- **suppression**: an item naming a suppressed identifier (userId, profileId or
  anotherUserId of an erased person) is refused;
- **consent**: when the project requires categories, an item of a person whose deciding
  record for one of them is a reject, or has expired, is refused. A person with no record
  for a category is not refused (consent is opt-out here; docs/privacy.md).

Items are decided in the order they arrived, each against the stored identity links plus the
links of the items accepted before it, so a commit decides exactly what committing its items
one by one would: how requests happen to be grouped into commits never matters. The gate
sees valid events and invalid items alike: an invalid item of a suppressed or non-consenting
person is refused rather than quarantined. Items naming no person (product items without
person fields, account-only events) pass. Refused items are reported and counted, and their
content is stored nowhere, not even in quarantine.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from headwater.consent.mentions import FIELDS, Who, level_of, mentions
from headwater.consent.status import Consent, latest, owned_by, refused_category
from headwater.identity.incremental import Persons
from headwater.identity.links import PROFILE, USER, Link, links_of
from headwater.identity.resolve import DEFAULT_CAPS, Caps, Person
from headwater.model.event import Batch, EventRow, Rejection
from headwater.model.rules import format_ms, is_identity

_KINDS = dict(zip(FIELDS, (USER, PROFILE, USER), strict=True))


def who_of(row: EventRow) -> Who:
    return Who(row.user_id, row.profile_id, row.another_user_id)


def identifiers(who: Who) -> Iterator[tuple[str, str, str]]:
    """(wire field, kind, value) of every person identifier `who` holds."""
    for field, value in zip(FIELDS, who, strict=True):
        if is_identity(value):
            yield field, _KINDS[field], value


Reading = tuple[list[Who], list[str]]  # who a rejected text names, and its loose strings


def read_rejected(batches: Iterable[Batch]) -> dict[Rejection, Reading]:
    """Who each rejected text of the batches names, read once: the texts can be large, and
    both the store (to load what it needs) and the gate (to decide) ask."""
    return {r: mentions(r.raw, level_of(r.group, r.item)) for b in batches for r in b.rejected}


def named(batch: Batch, texts: dict[Rejection, Reading]) -> Iterator[tuple[Who | None, list[str]]]:
    """Who every event and every invalid item of the batch names (and, where a rejected
    text is not in the wire's shape, the strings in it)."""
    for row in batch.events:
        yield who_of(row), []
    for r in batch.rejected:
        whos, loose = texts[r]
        yield from ((who, []) for who in whos)
        if loose:
            yield None, loose


class Gate:
    def __init__(
        self,
        suppressed: set[tuple[str, str]],
        required: Sequence[str],
        links: Iterable[Link] = (),
        splits: Iterable[tuple[str, str]] = (),
        caps: Caps = DEFAULT_CAPS,
        consents: Iterable[Consent] = (),
    ) -> None:
        """`suppressed`: (kind, identifier) of the batch's suppressed identifiers;
        `links`, `splits` and `consents`: what is stored about the batch's persons (the links
        that decide the persons of the identifiers the batch names: `Store.person_links`)."""
        self._suppressed = suppressed
        self._required = required
        self._by_id: dict[str, list[Consent]] = {}
        for consent in consents:
            for value in {consent.user_id, consent.profile_id} - {None}:
                assert value is not None
                self._by_id.setdefault(value, []).append(consent)
        self._persons = Persons(links, caps, splits) if required else None
        # Per person (its identifiers, not just its id): a person a link changes is a new key.
        self._decided: dict[Person, dict[str | None, Consent]] = {}

    def apply(self, batch: Batch, now: int, texts: dict[Rejection, Reading] | None = None) -> None:
        """Move the batch's refused events and invalid items to `batch.refused`, deciding
        them in the order they came; `now` decides expiry; `texts`: `read_rejected`'s."""
        texts = read_rejected([batch]) if texts is None else texts
        order: list[tuple[tuple[int, int], int, Rejection | None]] = []
        for index in range(len(batch.events)):
            at = batch.origins[index] if batch.origins else (None, None)
            order.append((_position(*at, fallback=index), index, None))
        for r in batch.rejected:
            order.append((_position(r.group, r.item, fallback=-1), -1, r))
        refused: dict[int, Rejection] = {}
        kept: list[Rejection] = []
        for _, index, rejection in sorted(order, key=lambda entry: entry[0]):
            if rejection is None:
                row = batch.events[index]
                why = self._check(who_of(row), now)
                if why is None:
                    self._learn(links_of([row]))
                    continue
                group, item = batch.origins[index] if batch.origins else (None, None)
                refused[index] = _refusal(group, item, why, row.event_name, row.type, row.line)
                continue
            r = rejection
            whos, loose = texts[r]
            why = next(filter(None, (self._check(who, now) for who in whos)), None)
            why = why or self._check_loose(loose)
            if why is None:
                kept.append(r)
            else:
                batch.refused.append(_refusal(r.group, r.item, why, r.event_name, r.type, r.line))
        if refused:
            batch.refuse(refused)
        batch.rejected = kept

    def _learn(self, links: Iterable[Link]) -> None:
        """The links of an accepted item: later items are decided with them."""
        if self._persons is not None:
            for link in links:
                self._persons.learn(link)

    def _person(self, who: Who) -> Person | None:
        """The person an item belongs to: its userId's, else its profileId's."""
        assert self._persons is not None
        if is_identity(who.user_id):
            return self._persons.person(user_id=who.user_id)
        if is_identity(who.profile_id):
            return self._persons.person(profile_id=who.profile_id)
        return None

    def _consent(self, person: Person) -> dict[str | None, Consent]:
        """The person's deciding record per category (cached while the person stays the same)."""
        found = self._decided.get(person)
        if found is None:
            mine = {c.id: c for i in (*person.user_ids, *person.profile_ids)
                    for c in self._by_id.get(i, ()) if owned_by(person, c)}  # fmt: skip
            found = self._decided[person] = latest(mine.values())
        return found

    def _check(self, who: Who, now: int) -> tuple[str, str, str] | None:
        for field, kind, value in identifiers(who):
            if (kind, value) in self._suppressed:
                return _suppressed(field)
        if not self._required:
            return None
        person = self._person(who)
        if person is None:
            return None
        found = refused_category(self._consent(person), self._required, now)
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

    def _check_loose(self, loose: Sequence[str]) -> tuple[str, str, str] | None:
        """Text not in the wire's shape names a suppressed identifier when any string in it
        is one (which field it stands in cannot be told, so consent is not judged on it)."""
        for value in loose:
            if (USER, value) in self._suppressed or (PROFILE, value) in self._suppressed:
                return _suppressed("userId")
        return None


def _position(group: int | None, item: int | None, fallback: int) -> tuple[int, int]:
    """Where an item came in its request: a group before its items, a body before all."""
    if group is None:
        return (-1, fallback)
    return (group, -1 if item is None else item)


def _suppressed(field: str) -> tuple[str, str, str]:
    return field, f"not stored: this {field} belongs to an erased person and is suppressed", \
        "suppressed"  # fmt: skip


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
