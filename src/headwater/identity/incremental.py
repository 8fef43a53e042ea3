"""Persons that follow links added one at a time (the privacy gate decides a batch's items
in order, each with the links of the items accepted before it).

Every answer is the one `resolve` gives for all the links learnt so far (a randomized
differential test holds the two together), at a cost proportional to what a link changes
(issue 11, finding 5):

- a profileId's person is decided by its earliest link: each person keeps the profiles it
  owns sorted by that link, so a new device is one binary search, and it changes the person
  only when it lands among the first `Caps.profiles` (else it is refused, as in `resolve`);
- aliases are applied in link order within their *cluster* (the users joined by alias links,
  refused ones included, since a refusal depends on what the cluster merged before). An
  alias later than every other of its cluster is applied as `resolve` would apply it last;
  one that arrives out of order replays its cluster's aliases, and regroups the profiles
  the cluster's users own: the only recomputation, and it stays within one cluster.
"""

from __future__ import annotations

import sys
from bisect import bisect_left
from collections.abc import Iterable

from headwater.identity.links import PROFILE, USER, Link
from headwater.identity.resolve import Aliases, Caps, Person, anchor_id

Pair = tuple[str, str, str]  # (kind, a, b): a link without its order
Owned = tuple[tuple[int, str, int], str]  # (order of the profile's earliest link, profile)
_NONE = (-1, "", -1, "", "", "")  # sorts before the key of any link


def _key(link: Link) -> tuple[int, str, int, str, str, str]:
    """The order in which `resolve` takes links."""
    return (*link.order, link.kind, link.a, link.b)


class Persons:
    def __init__(self, links: Iterable[Link], caps: Caps, splits: Iterable[tuple[str, str]]):
        self._caps = caps
        self._splits = frozenset(splits)
        self._held: dict[Pair, Link] = {}  # per pair its earliest link, as the store keeps
        self._clusters = Aliases(sys.maxsize)  # user → cluster (users joined by any alias)
        self._cluster_users: dict[str, list[str]] = {}  # cluster root → its users
        self._aliases: dict[str, list[Link]] = {}  # cluster root → its alias links
        self._latest: dict[str, tuple[int, str, int, str, str, str]] = {}  # … its latest
        self._persons = Aliases(caps.users)  # user → person root, in link order with the cap
        self._members: dict[str, list[str]] = {}  # person root → its users (when several)
        self._first: dict[str, Link] = {}  # profile → its earliest link (not split off)
        self._owns: dict[str, set[str]] = {}  # user → the profiles its earliest link names
        self._owned: dict[str, list[Owned]] = {}  # person root → its profiles, in link order
        self._made: dict[str, Person] = {}  # person root → its Person, until it changes
        for link in sorted(links, key=_key):  # in order, every link takes the quick path
            self.learn(link)

    def person(self, user_id: str | None = None, profile_id: str | None = None) -> Person:
        """As `Resolution.person`: the person of an identifier, alone when unlinked."""
        if user_id is not None:
            return self._person(self._root(user_id))
        assert profile_id is not None
        first = self._first.get(profile_id)
        if first is not None:
            root = self._root(first.b)
            owned = self._owned[root]
            if bisect_left(owned, (first.order, profile_id)) < self._caps.profiles:
                return self._person(root)
        return Person(anchor_id(PROFILE, profile_id), (), (profile_id,))

    def learn(self, link: Link) -> None:
        """Add `link`; kept only when its pair is new or it is earlier than the pair's held
        link, as a store keeps links."""
        if link.kind not in (PROFILE, USER):
            return
        pair = (link.kind, link.a, link.b)
        held = self._held.get(pair)
        if held is not None and held.order <= link.order:
            return
        self._held[pair] = link
        if link.kind == PROFILE:
            if (PROFILE, link.a) not in self._splits:
                self._link_profile(link)
        elif (USER, link.a) not in self._splits and (USER, link.b) not in self._splits:
            self._alias(link, held)

    # -- profiles ------------------------------------------------------------------------

    def _link_profile(self, link: Link) -> None:
        first = self._first.get(link.a)
        if first is not None and (first.order, first.b) <= (link.order, link.b):
            return  # a later link: a conflict, or a profile its person has already
        if first is not None:
            self._owns[first.b].discard(link.a)
            self._place(self._root(first.b), (first.order, link.a), add=False)
        self._first[link.a] = link
        self._owns.setdefault(link.b, set()).add(link.a)
        self._place(self._root(link.b), (link.order, link.a), add=True)

    def _place(self, root: str, entry: Owned, add: bool) -> None:
        """Add `entry` to (or remove it from) the person's profiles; the person changes only
        when its first `Caps.profiles` do."""
        owned = self._owned.setdefault(root, [])
        at = bisect_left(owned, entry)
        if add:
            owned.insert(at, entry)
        else:
            del owned[at]
        if at < self._caps.profiles:
            self._made.pop(root, None)

    # -- aliases -------------------------------------------------------------------------

    def _alias(self, link: Link, replaced: Link | None) -> None:
        ca, cb = self._clusters.find(link.a), self._clusters.find(link.b)
        key = _key(link)
        last = key > self._latest.get(ca, _NONE) and key > self._latest.get(cb, _NONE)
        if ca != cb:
            self._clusters.join(ca, cb)
            root, other = sorted((ca, cb))
            self._cluster_users[root] = self._cluster_users.get(root, [root]) + \
                self._cluster_users.pop(other, [other])  # fmt: skip
            self._aliases[root] = self._aliases.get(root, []) + self._aliases.pop(other, [])
            self._latest[root] = max(self._latest.get(root, _NONE), self._latest.pop(other, _NONE))
        root = self._clusters.find(link.a)
        aliases = self._aliases.setdefault(root, [])
        if replaced is not None:
            aliases.remove(replaced)
        aliases.append(link)
        self._latest[root] = max(self._latest.get(root, _NONE), key)
        if last:
            self._join(link.a, link.b)
        else:
            self._replay(root)

    def _join(self, a: str, b: str) -> None:
        """Apply an alias after every other of its cluster: as `resolve` applies its last."""
        ra, rb = self._persons.find(a), self._persons.find(b)
        if self._persons.join(a, b) != "merged":
            return
        low, high = sorted((ra, rb))
        self._members[low] = self._members.pop(low, [low]) + self._members.pop(high, [high])
        owned = self._owned.get(low, []) + self._owned.pop(high, [])
        owned.sort()  # two sorted runs: one linear merge
        self._owned[low] = owned
        self._made.pop(low, None)
        self._made.pop(high, None)

    def _replay(self, cluster: str) -> None:
        """Apply the cluster's aliases anew, in link order, and regroup what its users own."""
        users = self._cluster_users.get(cluster, [cluster])
        for root in {self._persons.find(u) for u in users}:
            self._members.pop(root, None)
            self._owned.pop(root, None)
            self._made.pop(root, None)
            self._persons.size.pop(root, None)
        for user in users:
            self._persons.parent[user] = user
            self._persons.size[user] = 1
        for link in sorted(self._aliases[cluster], key=_key):
            self._persons.join(link.a, link.b)
        for user in users:
            root = self._persons.find(user)
            self._made.pop(root, None)
            if root != user:
                self._members.setdefault(root, [root]).append(user)
            owned = self._owned.setdefault(root, [])
            owned += [(self._first[p].order, p) for p in self._owns.get(user, ())]
        for root in {self._persons.find(u) for u in users}:
            self._owned[root].sort()

    # -- persons -------------------------------------------------------------------------

    def _root(self, user: str) -> str:
        return self._persons.find(user)

    def _person(self, root: str) -> Person:
        found = self._made.get(root)
        if found is None:
            profiles = [p for _, p in self._owned.get(root, [])[: self._caps.profiles]]
            users = self._members.get(root, [root])
            found = Person(anchor_id(USER, root), tuple(sorted(users)), tuple(sorted(profiles)))
            self._made[root] = found
        return found
