"""Persons from identity links: a pure function, so the same links in any order give the
same persons (invariant 5), and a store only has to load the links a question touches.

Rules (ARCHITECTURE §2, issue 4, issue 11):
- users alias into one person only through explicit `user` links, applied in link order;
  an alias that would take a person past `Caps.users` userIds is refused (recorded) and
  the two persons stay apart;
- a profileId belongs to the person of the user its *earliest* link names; a later link of
  the same profileId to another person is a conflict, recorded and not merged;
- a person holds at most `Caps.profiles` profileIds: the earliest-linked ones; each one past
  the cap is refused (recorded) and stays an anonymous person of its own.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterable

from headwater.errors import NotFound
from headwater.identity.links import PROFILE, USER, Link

#: The defaults of the `max_profiles_per_person` and `max_users_per_person` settings.
MAX_PROFILES = 100
MAX_USERS = 100
_USER_ID, _PROFILE_ID = "u_", "a_"  # person ids: who anchors the person, then base64url
# Where a decision goes among those of one link order: as `resolve` takes them.
_RANK = {"split": 0, "alias": 1, "conflict": 2, "link": 3}

#: A decision's place in a person's history: its link's order, then its kind, then the link.
Key = tuple[int, str, int, int, str, str, str]


@dataclasses.dataclass(frozen=True)
class Caps:
    """How many identifiers of each kind one person holds at most (the settings
    `max_profiles_per_person` and `max_users_per_person`); links past them are refused."""

    profiles: int = MAX_PROFILES
    users: int = MAX_USERS


#: The caps of the settings' defaults.
DEFAULT_CAPS = Caps()


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

    @property
    def key(self) -> Key:
        """Histories are in this order (oldest first); no two decisions of one person share it."""
        link = self.link
        kind = self.type if self.type != "refused" else "alias" if link.kind == USER else "link"
        return (link.timestamp, link.event_id, link.line, _RANK[kind], link.kind, link.a, link.b)


@dataclasses.dataclass
class Resolution:
    persons: list[Person]
    by_user: dict[str, Person]
    by_profile: dict[str, Person]
    history: dict[str, list[Decision]]  # person id → decisions, oldest first
    first: dict[str, Link]  # profile → its earliest link not split off (who owns it)
    splits: frozenset[tuple[str, str]]

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


class Aliases:
    """Union-find over userIds, each set at most `cap` strong; the root of a set is its
    smallest id (stable, whatever the order of the unions)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.parent: dict[str, str] = {}
        self.size: dict[str, int] = {}

    def find(self, user: str) -> str:
        root = self.parent.setdefault(user, user)
        if root == user:
            self.size.setdefault(user, 1)
            return user
        while self.parent[root] != root:
            root = self.parent[root]
        while user != root:  # path compression, without recursion (sets can be deep)
            user, self.parent[user] = self.parent[user], root
        return root

    def join(self, a: str, b: str) -> str:
        """Join the sets of `a` and `b`: "merged", "same" (one set already) or "refused"
        (together past the cap: left apart)."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return "same"
        if self.size[ra] + self.size[rb] > self.cap:
            return "refused"
        low, high = sorted((ra, rb))
        self.parent[high] = low
        self.size[low] += self.size.pop(high)
        return "merged"


def refused_alias(link: Link, held: int, cap: int) -> Decision:
    return Decision(
        "refused", (link.a, link.b), link,
        f"userIds {link.a!r} and {link.b!r} not merged (alias): together their persons would "
        f"hold {held} userIds, more than max_users_per_person ({cap})",
    )  # fmt: skip


def conflict(link: Link, first: Link) -> Decision:
    """A later link of a profileId to a user of another person than its owner's."""
    return Decision(
        "conflict", (link.a, link.b), link,
        f"profileId {link.a!r} was linked to userId {link.b!r}, but it belongs to the "
        f"person of userId {first.b!r} (its earliest link): not merged",
    )  # fmt: skip


def split_off(link: Link, cut: str) -> Decision:
    message = f"{link.kind} link {link.a!r} - {link.b!r} ignored: {cut!r} was split off"
    return Decision("split", (link.a, link.b), link, message)


def _cut_by(link: Link, split: frozenset[tuple[str, str]]) -> str | None:
    """The split identifier that voids `link`, if any."""
    if link.kind == PROFILE:
        return link.a if (PROFILE, link.a) in split else None
    if link.kind == USER:
        return next((u for u in (link.a, link.b) if (USER, u) in split), None)
    return None


def resolve(
    links: Iterable[Link], caps: Caps, splits: Iterable[tuple[str, str]] = ()
) -> Resolution:
    """Persons from `links`; `splits` are (kind, identifier) an operator split off: every
    link of a split profileId, and every alias of a split userId, is ignored."""
    split = frozenset(splits)
    users = Aliases(caps.users)
    ordered = []
    notes: list[tuple[tuple[str, str], Decision]] = []  # ((kind, identifier) of the person, …)
    for link in sorted(set(links), key=lambda link: (link.order, link.kind, link.a, link.b)):
        cut = _cut_by(link, split)
        if cut is None:
            ordered.append(link)
            continue
        decision = split_off(link, cut)
        for user in (link.b,) if link.kind == PROFILE else (link.a, link.b):
            users.find(user)  # still a person, even with no other link
            notes.append(((USER, user), decision))
        if link.kind == PROFILE:  # the split profile's own (anonymous) person sees it too
            notes.append(((PROFILE, link.a), decision))
    for link in ordered:
        if link.kind == PROFILE:
            users.find(link.b)
        elif link.kind == USER:
            held = users.size[users.find(link.a)] + users.size[users.find(link.b)]
            outcome = users.join(link.a, link.b)
            if outcome == "merged":
                message = f"userIds {link.a!r} and {link.b!r} merged (alias)"
                notes.append(((USER, link.a), Decision("alias", (link.a, link.b), link, message)))
            elif outcome == "refused":
                refusal = refused_alias(link, held, caps.users)
                notes += [((USER, link.a), refusal), ((USER, link.b), refusal)]

    # Each profile's earliest link decides its person; later links elsewhere are conflicts.
    owner: dict[str, str] = {}  # profile → root user
    first: dict[str, Link] = {}
    for link in ordered:
        if link.kind != PROFILE:
            continue
        root = users.find(link.b)
        if link.a not in owner:
            owner[link.a], first[link.a] = root, link
        elif root != owner[link.a]:
            decision = conflict(link, first[link.a])
            notes += [((USER, first[link.a].b), decision), ((USER, link.b), decision)]

    accepted: dict[str, list[str]] = {}
    refused: list[str] = []
    for profile in sorted(owner, key=lambda p: first[p].order):
        held_profiles = accepted.setdefault(owner[profile], [])
        link = first[profile]
        if len(held_profiles) < caps.profiles:
            held_profiles.append(profile)
            message = f"profileId {profile!r} linked to userId {link.b!r}"
            notes.append(((USER, link.b), Decision("link", (profile, link.b), link, message)))
        else:
            refused.append(profile)
            decision = Decision(
                "refused", (profile, link.b), link,
                f"profileId {profile!r} not linked to userId {link.b!r}: the person already "
                f"holds {caps.profiles} profileIds (max_profiles_per_person)",
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
    resolution = Resolution(persons, by_user, by_profile, {}, first, split)
    for (kind, identifier), decision in sorted(notes, key=lambda note: note[1].key):
        person = by_user[identifier] if kind == USER else resolution.person(profile_id=identifier)
        resolution.history.setdefault(person.id, []).append(decision)
    return resolution
