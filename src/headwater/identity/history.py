"""A person's identity history a page at a time (issue 11, finding 8): the decisions
`resolve` records for them, oldest first, without holding them all.

Most of a person's decisions come from the links a store loads to resolve them
(`Store.identity_links`). Two kinds can be too many for that: the conflicts of other users on
the profiles the person owns (a kiosk profileId used by 50,000 people after its owner), and,
for a profileId an operator split off, the split of each of its links. Those are read from
the store per profile in link order, a bounded number of links at a time (`Fetch`), and
merged with the others in the order of `Decision.key`, so every page holds the decisions and
messages `resolve` would give, in the same order.
"""

from __future__ import annotations

import base64
import heapq
from collections import deque
from collections.abc import Callable, Iterator, Sequence

import msgspec

from headwater.errors import BadRequest
from headwater.identity.links import PROFILE, USER, Link
from headwater.identity.resolve import Decision, Key, Person, Resolution, conflict, split_off

#: Links of a profile after (timestamp, eventId, line, userId): (profile, those four).
Bound = tuple[str, int, str, int, str]
#: (bounds, links per profile, userIds left out) → per bound the next links of its profile
#: after it, in link order (`Store.profile_link_pages`).
Fetch = Callable[[Sequence[Bound], int, Sequence[str]], list[Link]]
_BEFORE_ALL = -(2**63)


def decisions(
    resolution: Resolution, person: Person, fetch: Fetch, after: Key | None = None,
    batch: int = 1000,
) -> Iterator[Decision]:  # fmt: skip
    """Every decision of the person's history after `after` (a `Decision.key`), oldest
    first; `resolution` resolved the store's `identity_links` for the person. `batch`: the
    links read per profile at a time."""
    users = set(person.user_ids)
    anonymous = not person.user_ids
    streams: list[Iterator[tuple[Key, Decision]]] = []
    loaded = [
        d for d in resolution.history.get(person.id, [])
        # read below, all of them: the other users' conflicts, a split profile's links
        if not (d.type == "conflict" and d.identifiers[1] not in users)
        and not (anonymous and d.type == "split")
        and (after is None or d.key > after)
    ]  # fmt: skip
    streams.append((d.key, d) for d in loaded)
    if anonymous:
        (profile,) = person.profile_ids
        if (PROFILE, profile) in resolution.splits:
            split = _stream(fetch, [profile], (), after, batch, lambda k: split_off(k, k.a))
            streams.append(split)
    else:
        first = resolution.first
        owned = sorted(p for p, link in first.items() if link.b in users)
        conflicts = _stream(fetch, owned, person.user_ids, after, batch,
                            lambda k: conflict(k, first[k.a]))  # fmt: skip
        streams.append(conflicts)
    for _, decision in heapq.merge(*streams, key=lambda entry: entry[0]):
        yield decision


def _stream(
    fetch: Fetch, profiles: Sequence[str], excluding: Sequence[str], after: Key | None,
    batch: int, decide: Callable[[Link], Decision],
) -> Iterator[tuple[Key, Decision]]:  # fmt: skip
    """The decisions on the links of `profiles` but those to `excluding`, after `after`, in
    key order: the profiles' links merged, each read `batch` at a time when its turn comes."""
    heads: list[tuple[Key, Decision]] = []  # the next decision of each profile not done
    unread: dict[str, deque[Link]] = {}  # read, after the heads
    more: set[str] = set()  # profiles whose last read was full: there may be more

    def read(bounds: list[Bound]) -> None:
        found: dict[str, deque[Link]] = {bound[0]: deque() for bound in bounds}
        for link in sorted(fetch(bounds, batch, excluding), key=lambda k: (*k.order, k.b)):
            found[link.a].append(link)
        for profile, links in found.items():
            (more.add if len(links) == batch else more.discard)(profile)
            if links:
                decision = decide(links.popleft())
                heapq.heappush(heads, (decision.key, decision))
            unread[profile] = links

    if profiles:
        read([_bound(profile, after, decide) for profile in profiles])
    while heads:
        key, decision = heapq.heappop(heads)
        yield key, decision
        link = decision.link
        if unread[link.a]:
            following = decide(unread[link.a].popleft())
            heapq.heappush(heads, (following.key, following))
        elif link.a in more:  # read its next links, after this one
            read([(link.a, link.timestamp, link.event_id, link.line, link.b)])


def _bound(profile: str, after: Key | None, decide: Callable[[Link], Decision]) -> Bound:
    """Where the profile's links whose decisions come after `after` start, as a bound on
    (timestamp, eventId, line, userId): the links after it (a userId is never empty)."""
    if after is None:
        return (profile, _BEFORE_ALL, "", 0, "")
    timestamp, event_id, line, rank, kind, a, b = after
    mine = decide(Link(0, PROFILE, profile, "", 0, "", 0)).key[3:6]  # (rank, kind, profile)
    if (rank, kind, a) < mine:  # the links of that (time, eventId, line) come after
        return (profile, timestamp, event_id, line, "")
    if (rank, kind, a) == mine:  # those after the very link
        return (profile, timestamp, event_id, line, b)
    return (profile, timestamp, event_id, line + 1, "")


def encode_key(key: Key) -> str:
    """A page's cursor: the key of its last decision."""
    return base64.urlsafe_b64encode(msgspec.json.encode(key)).decode().rstrip("=")


def decode_key(cursor: str) -> Key:
    """BadRequest unless `cursor` is one `encode_key` could have made."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = msgspec.json.decode(raw, type=tuple[int, str, int, int, str, str, str])
    except (ValueError, msgspec.DecodeError, msgspec.ValidationError):
        key = None
    if (
        key is None
        or not all(-(2**63) <= n < 2**63 for n in (key[0], key[2], key[3]))
        or not all(_storable(text) for text in (key[1], key[5], key[6]))
        or key[4] not in (PROFILE, USER)
    ):
        raise BadRequest("cursor is not one this API returned", "cursor")
    return key


def _storable(text: str) -> bool:
    """Whether a store can compare `text` (PostgreSQL takes neither NUL nor a lone surrogate)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text
