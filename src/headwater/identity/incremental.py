"""Persons that follow links added one at a time (the privacy gate decides a batch's items
in order, each with the links of the items accepted before it).

`resolve` is a pure function of a set of links, and who a person is depends only on the
links of its connected component (identifiers joined by links). So when a link is added,
only the component it touches is resolved again: every answer is the one resolving all the
links anew would give, at the cost of one component.
"""

from __future__ import annotations

from collections.abc import Iterable

from headwater.identity.links import PROFILE, USER, Link
from headwater.identity.resolve import Person, person_in, resolve

Node = tuple[str, str]  # (USER or PROFILE, identifier)
Pair = tuple[str, str, str]  # (kind, a, b): a link without its order


def _ends(link: Link) -> tuple[Node, Node]:
    first = PROFILE if link.kind == PROFILE else USER
    return (first, link.a), (USER, link.b)


class Persons:
    def __init__(
        self, links: Iterable[Link], max_profiles: int, splits: Iterable[tuple[str, str]]
    ) -> None:
        self._max_profiles = max_profiles
        self._splits = set(splits)
        self._held: dict[Pair, Link] = {}  # per pair its earliest link, as the store keeps
        self._touching: dict[Node, set[Pair]] = {}
        for link in links:
            self._hold(link)
        resolution = resolve(self._held.values(), max_profiles, self._splits)
        self._by_user = dict(resolution.by_user)
        self._by_profile = dict(resolution.by_profile)

    def person(self, user_id: str | None = None, profile_id: str | None = None) -> Person:
        """As `Resolution.person`: the person of an identifier, alone when unlinked."""
        return person_in(self._by_user, self._by_profile, user_id, profile_id)

    def learn(self, link: Link) -> bool:
        """Add `link` (kept only when its pair is new or it is earlier than the pair's held
        link); True when the persons may have changed."""
        if link.kind not in (PROFILE, USER) or not self._hold(link):
            return False
        nodes, pairs = self._component(_ends(link))
        resolution = resolve([self._held[p] for p in pairs], self._max_profiles, self._splits)
        for kind, value in nodes:
            if kind == USER:
                self._by_user[value] = resolution.person(user_id=value)
            else:
                self._by_profile[value] = resolution.person(profile_id=value)
        return True

    def _hold(self, link: Link) -> bool:
        pair = (link.kind, link.a, link.b)
        held = self._held.get(pair)
        if held is not None and held.order <= link.order:
            return False
        self._held[pair] = link
        for node in _ends(link):
            self._touching.setdefault(node, set()).add(pair)
        return True

    def _component(self, start: Iterable[Node]) -> tuple[set[Node], set[Pair]]:
        """Every identifier and link reachable from `start` through links."""
        nodes, pairs = set(start), set()
        frontier = list(nodes)
        while frontier:
            for pair in self._touching.get(frontier.pop(), ()):
                if pair in pairs:
                    continue
                pairs.add(pair)
                for node in _ends(self._held[pair]):
                    if node not in nodes:
                        nodes.add(node)
                        frontier.append(node)
        return nodes, pairs
