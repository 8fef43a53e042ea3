"""A person's profile, computed when asked from the events and links already committed.

Nothing here is cached or materialized, so a profile always reflects every acknowledged event
(invariant 4) and is the same whatever order the events arrived in (invariant 5): identity is
resolved from the links (`identity.resolve`), attributes are folded in event order.
"""

from __future__ import annotations

from typing import Any

import msgspec

from headwater.errors import NotFound
from headwater.identity.links import USER
from headwater.identity.resolve import Decision, Person, Resolution, anchor_of, resolve
from headwater.model.rules import is_identity
from headwater.store.base import Store


def _resolution(
    store: Store, project_id: int, max_profiles: int, user_id: str | None, profile_id: str | None
) -> tuple[Resolution, Person]:
    links = store.identity_links(project_id, [user_id] if user_id else [],
                                 [profile_id] if profile_id else [])  # fmt: skip
    resolution = resolve(links, max_profiles)
    return resolution, resolution.person(user_id=user_id, profile_id=profile_id)


def _belongs(person: Person, user_id: str | None, profile_id: str | None) -> bool:
    """An event is its userId's person's; an event without one, its profileId's."""
    if is_identity(user_id):
        return user_id in person.user_ids
    return profile_id in person.profile_ids


def profile(
    store: Store, project_id: int, max_profiles: int,
    user_id: str | None = None, profile_id: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The profile of the person an identifier belongs to; NotFound when nobody used it."""
    if not is_identity(user_id) and not is_identity(profile_id):
        raise NotFound("give a userId or a profileId that is a real identifier", "userId")
    resolution, person = _resolution(store, project_id, max_profiles, user_id, profile_id)
    rows = store.person_events(project_id, person.user_ids, person.profile_ids)
    mine = sorted((r for r in rows if _belongs(person, r[3], r[4])), key=lambda r: r[:3])
    if not mine and person.id not in resolution.history:
        asked = user_id if user_id is not None else profile_id
        raise NotFound(f"no person has used the identifier {asked!r}", "userId")
    attributes: dict[str, Any] = {}
    sources: dict[str, dict[str, Any]] = {}
    for timestamp, event_id, line, _, _, text in mine:
        if text is None:
            continue
        for name, value in msgspec.json.decode(text).items():
            if value is None:  # null unsets the attribute
                attributes.pop(name, None)
                sources.pop(name, None)
            else:
                attributes[name] = value
                sources[name] = {"eventId": event_id, "line": line, "timestamp": timestamp}
    return {
        "id": person.id,
        "userIds": list(person.user_ids),
        "profileIds": list(person.profile_ids),
        "attributes": attributes,
        "attributeSources": sources,
        "computed": {
            "first_seen": mine[0][0] if mine else None,
            "last_seen": max(r[0] for r in mine) if mine else None,
            "event_count": len(mine),
        },
    }


def history(store: Store, project_id: int, max_profiles: int, person_id: str) -> dict[str, Any]:
    """Every merge, conflict and refusal that shaped the person, oldest first."""
    kind, value = anchor_of(person_id)
    user_id, profile_id = (value, None) if kind == USER else (None, value)
    resolution, person = _resolution(store, project_id, max_profiles, user_id, profile_id)
    decisions: list[Decision] = resolution.history.get(person.id, [])
    return {"id": person.id, "history": [d.wire() for d in decisions]}
