"""Persons from identity links: a pure function, so the same links in any order give the
same persons (invariant 5), and a store only has to load the links a question touches.

Rules (ARCHITECTURE §2, issue 4):
- users alias into one person only through explicit `user` links;
- a profileId belongs to the person of the user its *earliest* link names; a later link of
  the same profileId to another person is a conflict, recorded and not merged;
- a person holds at most `max_profiles` profileIds: the earliest-linked ones; each one past
  the cap is refused (recorded) and stays an anonymous person of its own.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterable

from headwater.errors import NotFound
from headwater.identity.links import PROFILE, USER, Link

#: The default of the `max_profiles_per_person` setting.
MAX_PROFILES = 100
_USER_ID, _PROFILE_ID = "u_", "a_"  # person ids: who anchors the person, then base64url


@dataclasses.dataclass(frozen=True)
class Person:
    id: str
    user_ids: tuple[str, ...]
    profile_ids: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Decision:
    """One entry of a person's identity history."""

    type: str  # "alias" | "link" | "conflict" | "refused" | "split"
    identifiers: tuple[str, ...]
    link: Link
    message: str

    def wire(self) -> dict[str, object]:
        return {
            "type": self.type,
            "identifiers": list(self.identifiers),
            "eventId": self.link.event_id,
            "line": self.link.line,
            "timestamp": self.link.timestamp,
            "message": self.message,
        }


@dataclasses.dataclass
class Resolution:
    persons: list[Person]
    by_user: dict[str, Person]
    by_profile: dict[str, Person]
    history: dict[str, list[Decision]]  # person id → decisions, oldest first

    def person(self, user_id: str | None = None, profile_id: str | None = None) -> Person:
        """The person of an identifier (one nobody linked is a person on its own)."""
        return person_in(self.by_user, self.by_profile, user_id, profile_id)


def person_in(
    by_user: dict[str, Person], by_profile: dict[str, Person],
    user_id: str | None, profile_id: str | None,
) -> Person:  # fmt: skip
    """The person of a userId (else a profileId) in these maps, alone when not in them."""
    if user_id is not None:
        return by_user.get(user_id) or Person(anchor_id(USER, user_id), (user_id,), ())
    assert profile_id is not None
    found = by_profile.get(profile_id)
    return found or Person(anchor_id(PROFILE, profile_id), (), (profile_id,))


def anchor_id(kind: str, value: str) -> str:
    token = base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")
    return (_USER_ID if kind == USER else _PROFILE_ID) + token


def anchor_of(person_id: str) -> tuple[str, str]:
    """(kind, identifier) a person id was made from; NotFound for ids this API never made."""
    prefix, token = person_id[:2], person_id[2:]
    try:
        value = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except ValueError:
        value = ""
    if (
        prefix not in (_USER_ID, _PROFILE_ID)
        or not value
        or "\x00" in value  # never an identifier (ingest refuses it); PostgreSQL cannot hold it
        or anchor_id(USER if prefix == _USER_ID else PROFILE, value) != person_id
    ):
        raise NotFound(f"no person with id {person_id!r}", "id")
    return (USER if prefix == _USER_ID else PROFILE), value


class _Users:
    """Union-find over user ids; the root of a set is its smallest id (stable, order-free)."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, user: str) -> str:
        root = self.parent.setdefault(user, user)
        if root != user:
            root = self.parent[user] = self.find(root)
        return root

    def union(self, a: str, b: str) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        low, high = sorted((ra, rb))
        self.parent[high] = low
        return True


def _cut_by(link: Link, split: set[tuple[str, str]]) -> str | None:
    """The split identifier that voids `link`, if any."""
    if link.kind == PROFILE:
        return link.a if (PROFILE, link.a) in split else None
    if link.kind == USER:
        return next((u for u in (link.a, link.b) if (USER, u) in split), None)
    return None


def resolve(
    links: Iterable[Link], max_profiles: int, splits: Iterable[tuple[str, str]] = ()
) -> Resolution:
    """Persons from `links`; `splits` are (kind, identifier) an operator split off: every
    link of a split profileId, and every alias of a split userId, is ignored."""
    split = set(splits)
    users = _Users()
    ordered = []
    notes: list[tuple[tuple[str, str], Decision]] = []  # ((kind, identifier) of the person, …)
    for link in sorted(set(links), key=lambda link: (link.order, link.kind, link.a, link.b)):
        cut = _cut_by(link, split)
        if cut is None:
            ordered.append(link)
            continue
        message = f"{link.kind} link {link.a!r} - {link.b!r} ignored: {cut!r} was split off"
        decision = Decision("split", (link.a, link.b), link, message)
        for user in (link.b,) if link.kind == PROFILE else (link.a, link.b):
            users.find(user)  # still a person, even with no other link
            notes.append(((USER, user), decision))
        if link.kind == PROFILE:  # the split profile's own (anonymous) person sees it too
            notes.append(((PROFILE, link.a), decision))
    for link in ordered:
        if link.kind == USER and users.union(link.a, link.b):
            notes.append(
                (
                    (USER, link.a),
                    Decision(
                        "alias",
                        (link.a, link.b),
                        link,
                        f"userIds {link.a!r} and {link.b!r} merged (alias)",
                    ),
                )
            )
        elif link.kind == PROFILE:
            users.find(link.b)

    # Each profile's earliest link decides its person; later links elsewhere are conflicts.
    owner: dict[str, str] = {}  # profile → root user
    first: dict[str, Link] = {}
    for link in ordered:
        if link.kind != PROFILE:
            continue
        root = users.find(link.b)
        if link.a not in owner:
            owner[link.a], first[link.a] = root, link
        elif users.find(link.b) != owner[link.a]:
            conflict = Decision(
                "conflict", (link.a, link.b), link,
                f"profileId {link.a!r} was linked to userId {link.b!r}, but it belongs to the "
                f"person of userId {first[link.a].b!r} (its earliest link): not merged",
            )  # fmt: skip
            notes += [((USER, first[link.a].b), conflict), ((USER, link.b), conflict)]

    accepted: dict[str, list[str]] = {}
    refused: list[str] = []
    for profile in sorted(owner, key=lambda p: first[p].order):
        held = accepted.setdefault(owner[profile], [])
        link = first[profile]
        if len(held) < max_profiles:
            held.append(profile)
            notes.append(
                (
                    (USER, link.b),
                    Decision(
                        "link",
                        (profile, link.b),
                        link,
                        f"profileId {profile!r} linked to userId {link.b!r}",
                    ),
                )
            )
        else:
            refused.append(profile)
            decision = Decision(
                "refused", (profile, link.b), link,
                f"profileId {profile!r} not linked to userId {link.b!r}: the person already "
                f"holds {max_profiles} profileIds (max_profiles_per_person)",
            )  # fmt: skip
            notes += [((USER, link.b), decision), ((PROFILE, profile), decision)]

    members: dict[str, list[str]] = {}
    for user in users.parent:
        members.setdefault(users.find(user), []).append(user)
    persons = [
        Person(anchor_id(USER, root), tuple(sorted(group)), tuple(sorted(accepted.get(root, ()))))
        for root, group in sorted(members.items())
    ]
    persons += [Person(anchor_id(PROFILE, p), (), (p,)) for p in sorted(refused)]
    by_user = {u: p for p in persons for u in p.user_ids}
    by_profile = {a: p for p in persons for a in p.profile_ids}
    resolution = Resolution(persons, by_user, by_profile, {})
    for (kind, identifier), decision in sorted(notes, key=lambda note: note[1].link.order):
        person = by_user[identifier] if kind == USER else resolution.person(profile_id=identifier)
        resolution.history.setdefault(person.id, []).append(decision)
    return resolution
