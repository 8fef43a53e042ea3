"""What erasing a person removes (issue 6): pure decisions over rows a store loaded.

A row that belongs to the person (by the rule events and consents follow: the userId's
person, else the profileId's) is deleted. A row of someone else that names one of the
person's identifiers (a shared device's profileId, a split alias) keeps its owner's data
and loses only those identifiers. Quarantined items are deleted when they name any.
"""

from __future__ import annotations

import dataclasses

from headwater.consent.mentions import mentions, named_any
from headwater.identity.links import PROFILE
from headwater.identity.resolve import Person, Resolution
from headwater.model.rules import is_identity


def scope(resolution: Resolution, person: Person) -> Person:
    """The person with the devices they linked past `max_profiles_per_person`: those stay
    anonymous persons of their own for profiles, but their events are this person's data."""
    refused = {
        decision.identifiers[0]
        for decision in resolution.history.get(person.id, [])
        if decision.type == "refused"
        and decision.link.kind == PROFILE
        and decision.identifiers[1] in person.user_ids
    }
    extra = tuple(sorted(refused - set(person.profile_ids)))
    return dataclasses.replace(person, profile_ids=person.profile_ids + extra)


def identifiers_of(person: Person) -> frozenset[str]:
    return frozenset(person.user_ids) | frozenset(person.profile_ids)


def fate(
    person: Person, user_id: str | None, profile_id: str | None, columns: dict[str, str | None]
) -> list[str] | None:
    """None when the row belongs to the person (delete it); else the columns of `columns`
    (name → value) holding one of the person's identifiers, to clear."""
    if is_identity(user_id):
        if user_id in person.user_ids:
            return None
    elif profile_id in person.profile_ids:
        return None
    mine = identifiers_of(person)
    return [name for name, value in columns.items() if value in mine]


def names(raw: str, level: str, mine: frozenset[str]) -> bool:
    """Whether a quarantined body, group or item (`level`) names one of `mine`: as the
    userId, profileId or anotherUserId of an item, however the client escaped it, or, where
    the text is not in the wire's shape, as any string in it (what cannot be read cannot be
    shown to be someone else's)."""
    whos, loose = mentions(raw, level)
    return named_any(whos, loose, mine)
