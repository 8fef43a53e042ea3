"""What a store loads to decide persons (issue 11, finding 8) decides them exactly as all the
links would: random link sets (shared devices, aliases past the userId cap, splits, ties
and links drawn out of order) on both stores, compared for every identifier with resolving
every link. The identity history, read a page at a time, is the history of resolving
every link; and the gate's persons, learning links from the bounded `person_links`, are
those of resolving everything after each link."""

from __future__ import annotations

import random

import pytest

from headwater.errors import BadRequest, NotFound
from headwater.identity.history import decode_key
from headwater.identity.incremental import Persons
from headwater.identity.links import PROFILE, USER, Link, named_by
from headwater.identity.resolve import Caps, Resolution, resolve
from headwater.model.event import Batch, Context, EventRow
from headwater.profiles import lookup
from headwater.store.base import Store
from tests.conftest import NOW

CASES = 40


def _event(project_id: int, link: Link, n: int) -> EventRow:
    """An event drawing `link` (its own name, so events may share eventId and line)."""
    profile, user, another = (
        (link.a, link.b, None) if link.kind == PROFILE else (None, link.a, link.b)
    )
    return EventRow(project_id, None, f"E{n}", link.event_id, link.line, None, profile, user,
                    None, None, None, another, None, None, link.timestamp, NOW, None, None,
                    None, None, None, "k")  # fmt: skip


def _links(rng: random.Random, project_id: int, users: list[str], profiles: list[str],
           count: int) -> list[Link]:  # fmt: skip
    kiosk = profiles[0]  # a shared device: many users link it
    found = []
    for _ in range(count):
        at, event, line = NOW + rng.randint(0, 12), f"e{rng.randint(0, 2)}", rng.randint(0, 1)
        draw = rng.random()
        if draw < 0.3:
            found.append(Link(project_id, PROFILE, kiosk, rng.choice(users), at, event, line))
        elif draw < 0.7:
            profile = rng.choice(profiles)
            found.append(Link(project_id, PROFILE, profile, rng.choice(users), at, event, line))
        else:
            a, b = sorted(rng.sample(users, 2))
            found.append(Link(project_id, USER, a, b, at, event, line))
    return found


def _held(links: list[Link]) -> dict[tuple[str, str, str], Link]:
    """Per pair the earliest link: what a store keeps."""
    held: dict[tuple[str, str, str], Link] = {}
    for link in links:
        pair = (link.kind, link.a, link.b)
        if pair not in held or link.order < held[pair].order:
            held[pair] = link
    return held


def _history(store: Store, project_id: int, caps: Caps, person_id: str, limit: int) -> list[object]:
    found: list[object] = []
    after = None
    for _ in range(100):  # a cursor that does not move on would page forever
        page = lookup.history(store, project_id, caps, person_id, limit, after)
        assert len(page["history"]) <= limit
        found += page["history"]
        if page["next"] is None:
            return found
        assert len(page["history"]) == limit
        after = decode_key(page["next"])
    raise AssertionError("the history pages do not end")


def _setup(store: Store, rng: random.Random, n: int) -> tuple[int, list[str], list[str], Caps,
                                                               set[tuple[str, str]], Resolution,
                                                               list[Link]]:  # fmt: skip
    project, _ = store.ensure_project("acme", f"case{n}", NOW)
    users = [f"u{i}" for i in range(rng.randint(2, 7))]
    profiles = [f"p{i}" for i in range(rng.randint(1, 5))]
    links = _links(rng, project.id, users, profiles, rng.randint(0, 24))
    caps = Caps(rng.randint(1, 3), rng.randint(1, 4))
    splits: set[tuple[str, str]] = set()
    for _ in range(rng.choice([0, 0, 1, 2])):
        splits.add((USER, rng.choice(users)) if rng.random() < 0.5 else
                   (PROFILE, rng.choice(profiles)))  # fmt: skip
    ctx = Context(project.id, None, "k", NOW)
    for at in range(0, len(links), 5):  # in a few commits, as batches arrive
        rows = [_event(project.id, link, at + i) for i, link in enumerate(links[at : at + 5])]
        store.write([Batch(ctx, events=rows)], caps)
    for kind, identifier in splits:
        store.add_split(project.id, kind, identifier, NOW)
    expected = resolve(_held(links).values(), caps, splits)
    return project.id, users, profiles, caps, splits, expected, links


def test_loaded_links_decide_every_identifier_as_all_links(store: Store) -> None:
    # finding 8: persons and histories from the deciding links (not every link of a shared
    # device) are those of every link; histories page in order with no decision lost
    rng = random.Random(8)
    for n in range(CASES):
        project_id, users, profiles, caps, _, expected, _ = _setup(store, rng, n)
        asks = [(u, None) for u in users] + [(None, p) for p in profiles]
        for user_id, profile_id in asks:
            resolution, person = lookup.person_of(store, project_id, caps, user_id, profile_id)
            assert person == expected.person(user_id=user_id, profile_id=profile_id), n
            # the bounded links of the gate decide the same person
            named = ([user_id] if user_id else [], [profile_id] if profile_id else [])
            bounded = store.person_links(project_id, *named, caps.profiles)
            linked_users, linked_profiles = named_by(bounded)
            splits = store.splits(project_id, {*named[0], *linked_users},
                                  {*named[1], *linked_profiles})  # fmt: skip
            again = resolve(bounded, caps, splits).person(user_id=user_id, profile_id=profile_id)
            assert again == person, n
            decisions = [d.wire() for d in expected.history.get(person.id, [])]
            try:
                for limit in (1, 2, 1000):
                    assert _history(store, project_id, caps, person.id, limit) == decisions, n
            except NotFound:
                assert not decisions, n  # an identifier nobody linked: no history
            for batch in (1, 2):  # profiles' links read one or two at a time
                read = lookup.decisions(store, project_id, resolution, person, batch=batch)
                assert [d.wire() for d in read] == decisions, n


def test_the_gate_persons_from_bounded_links_follow_new_links(store: Store) -> None:
    # finding 5: the gate loads only `person_links` of the identifiers a batch names (per
    # user its first profiles, not every device it ever linked) and learns the batch's
    # links; every person it sees is the one resolving all links gives
    rng = random.Random(5)
    for n in range(CASES):
        project_id, users, profiles, caps, splits, _, stored = _setup(store, rng, n)
        named_users = rng.sample(users, rng.randint(1, len(users)))
        named_profiles = rng.sample(profiles, rng.randint(0, len(profiles)))
        if len(named_users) < 2 and not named_profiles:
            continue
        learnt = []
        for _ in range(rng.randint(1, 10)):  # links naming only the named identifiers
            at, event = NOW + rng.randint(0, 12), f"e{rng.randint(0, 2)}"
            if named_profiles and (len(named_users) < 2 or rng.random() < 0.6):
                learnt.append(Link(project_id, PROFILE, rng.choice(named_profiles),
                                   rng.choice(named_users), at, event, 0))  # fmt: skip
            else:
                a, b = sorted(rng.sample(named_users, 2))
                learnt.append(Link(project_id, USER, a, b, at, event, 0))
        bounded = store.person_links(project_id, named_users, named_profiles, caps.profiles)
        linked_users, linked_profiles = named_by(bounded)
        loaded_splits = store.splits(project_id, {*named_users, *linked_users},
                                     {*named_profiles, *linked_profiles})  # fmt: skip
        persons = Persons(bounded, caps, loaded_splits)
        for at in range(len(learnt)):
            persons.learn(learnt[at])
            expected = resolve(_held([*stored, *learnt[: at + 1]]).values(), caps, splits)
            for user in named_users:
                assert persons.person(user_id=user) == expected.person(user_id=user), n
            for profile in named_profiles:
                got = persons.person(profile_id=profile)
                assert got == expected.person(profile_id=profile), n


@pytest.mark.parametrize(
    "cursor", ["", "x", "WzEsMl0", "WzEsIngiLDEsMSwicHJvZmlsZSIsIlx1MDAwMCIsIiJd"]
)
def test_forged_history_cursors_are_refused(cursor: str) -> None:
    # a cursor is decoded strictly: NUL (which PostgreSQL refuses) or a wrong shape is a 400
    with pytest.raises(BadRequest):
        decode_key(cursor)


def test_a_device_moving_away_hands_its_place_to_the_next(store: Store) -> None:
    # finding 5: the gate loads per user only its first max_profiles devices, plus one per
    # device the batch names: when a named device turns out to be another user's (an earlier
    # link arrives), the user's next device takes its place in the person
    project, _ = store.ensure_project("acme", "web", NOW)
    caps = Caps(profiles=2)
    stored = [Link(project.id, PROFILE, f"d{i}", "ann", NOW + 10 + i, f"e{i}", 0)
              for i in range(4)]  # fmt: skip
    ctx = Context(project.id, None, "k", NOW)
    store.write([Batch(ctx, events=[_event(project.id, k, i) for i, k in enumerate(stored)])])
    bounded = store.person_links(project.id, ["ann", "bob"], ["d0", "d1"], caps.profiles)
    assert {k.a for k in bounded if k.kind == PROFILE} == {"d0", "d1", "d2", "d3"}
    persons = Persons(bounded, caps, set())
    assert persons.person(user_id="ann").profile_ids == ("d0", "d1")
    for link in (Link(project.id, PROFILE, "d0", "bob", NOW, "x", 0),
                 Link(project.id, PROFILE, "d1", "bob", NOW + 1, "y", 0)):  # fmt: skip
        persons.learn(link)
    assert persons.person(user_id="ann").profile_ids == ("d2", "d3")
    assert persons.person(user_id="bob").profile_ids == ("d0", "d1")
    # without names, the first max_profiles are enough
    alone = store.person_links(project.id, ["ann"], [], caps.profiles)
    assert {k.a for k in alone if k.kind == PROFILE} == {"d0", "d1"}


def test_a_shared_device_is_one_row_of_its_later_users_lookup(store: Store) -> None:
    # finding 8: who a later user of a kiosk is, or its owner, is decided by the kiosk's
    # earliest link alone: a lookup does not load the kiosk's other users' links (before:
    # all 300), and the gate loads a user's first max_profiles devices, not all of them
    project, _ = store.ensure_project("acme", "web", NOW)
    links = [Link(project.id, PROFILE, "kiosk", f"guest-{n:03d}", NOW + n, f"k{n}", 0)
             for n in range(300)]  # fmt: skip
    links += [Link(project.id, PROFILE, f"d{n:03d}", "collector", NOW + n, f"d{n}", 0)
              for n in range(300)]  # fmt: skip
    ctx = Context(project.id, None, "k", NOW)
    store.write([Batch(ctx, events=[_event(project.id, k, n) for n, k in enumerate(links)])])
    for user in ("guest-000", "guest-299"):
        loaded = store.identity_links(project.id, [user], [])
        assert {(k.a, k.b) for k in loaded} == {("kiosk", user), ("kiosk", "guest-000")}
    assert len(store.identity_links(project.id, [], ["kiosk"])) == 1
    bounded = store.person_links(project.id, ["collector"], ["d299", "new"], 100)
    # d000…d100 (one more than max_profiles: d299, which the batch names, may move away),
    # and d299's earliest link
    assert len(bounded) == 102
    caps = Caps()
    resolution = resolve(bounded, caps, set())
    assert resolution.person(user_id="collector").profile_ids == tuple(
        f"d{n:03d}" for n in range(100)
    )
