"""Identity resolution rules (issue 4 §1; invariant 5), pure: no store involved."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.identity.links import PROFILE, USER, Link, links_of
from headwater.identity.resolve import Caps, Resolution, anchor_id, anchor_of, resolve
from tests.conftest import row

T = 1_714_631_904_000
CAPS = Caps()


def profile(p: str, u: str, t: int, event_id: str = "e", line: int = 0) -> Link:
    return Link(1, PROFILE, p, u, T + t, event_id, line)


def alias(a: str, b: str, t: int, event_id: str = "e") -> Link:
    low, high = sorted((a, b))
    return Link(1, USER, low, high, T + t, event_id, 0)


def test_a_profile_belongs_to_its_earliest_user() -> None:
    found = resolve([profile("p1", "bob", 2), profile("p1", "alice", 1)], CAPS)
    assert found.person(profile_id="p1").user_ids == ("alice",)
    assert found.person(user_id="bob").profile_ids == ()
    [conflict] = [d for d in found.history[found.person(user_id="bob").id]]
    assert conflict.type == "conflict" and conflict.identifiers == ("p1", "bob")


def test_ties_break_on_event_id_then_line() -> None:
    found = resolve([profile("p1", "bob", 1, "e2"), profile("p1", "alice", 1, "e1")], CAPS)
    assert found.person(profile_id="p1").user_ids == ("alice",)
    found = resolve([profile("p1", "bob", 1, "e", 1), profile("p1", "alice", 1, "e", 0)], CAPS)
    assert found.person(profile_id="p1").user_ids == ("alice",)


def test_users_merge_only_through_an_alias() -> None:
    shared_device = [profile("p1", "alice", 1), profile("p1", "bob", 2)]
    assert resolve(shared_device, CAPS).person(user_id="bob").user_ids == ("bob",)
    merged = resolve([*shared_device, alias("alice", "bob", 3)], CAPS)
    person = merged.person(user_id="bob")
    assert person.user_ids == ("alice", "bob") and person.profile_ids == ("p1",)
    assert [d.type for d in merged.history[person.id]] == ["link", "alias"]


def test_the_profile_cap_refuses_the_latest() -> None:
    links = [profile(f"p{i}", "alice", i) for i in range(5)]
    found = resolve(links, Caps(profiles=3))
    assert found.person(user_id="alice").profile_ids == ("p0", "p1", "p2")
    assert found.person(profile_id="p4").user_ids == ()  # an anonymous person of its own
    refused = [d for d in found.history[found.person(user_id="alice").id] if d.type == "refused"]
    assert [d.identifiers[0] for d in refused] == ["p3", "p4"]
    assert "max_profiles_per_person" in refused[0].message


def test_unlinked_identifiers_are_persons_of_their_own() -> None:
    found = resolve([], CAPS)
    assert found.person(user_id="zoe").user_ids == ("zoe",)
    assert found.person(profile_id="p9").profile_ids == ("p9",)


def test_placeholders_never_link() -> None:
    rows = [
        row(1, "Identify", "e1")._replace(profile_id="p1", user_id="undefined"),
        row(1, "Identify", "e2")._replace(profile_id="null", user_id="u1"),
        row(1, "Identify", "e3")._replace(user_id="u1", another_user_id="0"),
        row(1, "Identify", "e4")._replace(profile_id="p1", user_id="u1", another_user_id="u2"),
    ]
    assert {(link.kind, link.a, link.b) for link in links_of(rows)} == {
        (PROFILE, "p1", "u1"), (USER, "u1", "u2"),
    }  # fmt: skip


def test_person_ids_round_trip() -> None:
    for kind, value in ((USER, "ada@example.com"), (PROFILE, "prof_ü/…")):
        assert anchor_of(anchor_id(kind, value)) == (kind, value)


def _export(found: Resolution) -> tuple[object, ...]:
    persons = sorted((p.id, p.user_ids, p.profile_ids) for p in found.persons)
    history = sorted(
        (k, tuple(str(d.wire()) for d in decisions)) for k, decisions in found.history.items()
    )
    return (persons, history)


links_strategy = st.lists(
    st.one_of(
        st.builds(profile, st.sampled_from(["p1", "p2", "p3", "p4"]),
                  st.sampled_from(["ann", "ben", "cy"]), st.integers(0, 5),
                  st.sampled_from(["e1", "e2"]), st.integers(0, 1)),
        st.builds(alias, st.sampled_from(["ann", "ben", "cy"]),
                  st.sampled_from(["ann", "ben", "cy", "dee", "eve"]), st.integers(0, 5),
                  st.sampled_from(["e1", "e2"])),
    ),
    max_size=12,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    links_strategy, st.randoms(use_true_random=False), st.integers(1, 3), st.integers(1, 3),
    st.sets(st.sampled_from([(USER, "ben"), (USER, "dee"), (PROFILE, "p2")]), max_size=2),
)  # fmt: skip
def test_any_order_gives_the_same_persons(
    links: list[Link], shuffler: random.Random, max_profiles: int, max_users: int,
    splits: set[tuple[str, str]],
) -> None:  # fmt: skip
    # invariant 5 (and issue 11: the userId cap): arrival order never changes persons,
    # identifiers or history, whatever the caps and splits
    links = [link for link in links if link.kind != USER or link.a != link.b]
    shuffled = links[:]
    shuffler.shuffle(shuffled)
    caps = Caps(max_profiles, max_users)
    assert _export(resolve(links, caps, splits)) == _export(resolve(shuffled, caps, splits))


def test_a_split_profile_ignores_all_its_links() -> None:
    links = [profile("p1", "ann", 1), profile("p1", "ann", 9), profile("p2", "ann", 2)]
    found = resolve(links, CAPS, {(PROFILE, "p1")})
    assert found.person(user_id="ann").profile_ids == ("p2",)
    assert found.person(profile_id="p1").user_ids == ()
    types = [d.type for d in found.history[found.person(user_id="ann").id]]
    assert types == ["split", "link", "split"]


def test_a_split_user_ignores_its_aliases() -> None:
    links = [alias("ann", "bob", 1), alias("bob", "cy", 2), profile("p1", "bob", 3)]
    found = resolve(links, CAPS, {(USER, "bob")})
    assert found.person(user_id="ann").user_ids == ("ann",)
    assert found.person(user_id="bob").profile_ids == ("p1",)
    assert found.person(user_id="cy").user_ids == ("cy",)


def test_the_user_cap_refuses_the_alias_that_would_pass_it() -> None:
    # issue 11 (Deliver 4): aliases apply in link order; the one that would take a person
    # past max_users_per_person is refused, recorded on both sides, and they stay apart
    links = [alias("ann", "ben", 1), alias("ben", "cy", 2), alias("cy", "dee", 3),
             alias("dee", "eve", 4), profile("p1", "dee", 5)]  # fmt: skip
    found = resolve(links, Caps(users=3))
    ann, dee = found.person(user_id="ann"), found.person(user_id="dee")
    assert ann.user_ids == ("ann", "ben", "cy") and dee.user_ids == ("dee", "eve")
    assert dee.profile_ids == ("p1",)
    [refusal] = [d for d in found.history[ann.id] if d.type == "refused"]
    assert refusal in found.history[dee.id]
    assert refusal.identifiers == ("cy", "dee") and refusal.link.timestamp == T + 3
    assert "max_users_per_person" in refusal.message and "4 userIds" in refusal.message
    assert [d.type for d in found.history[dee.id]] == ["refused", "alias", "link"]


def test_the_user_cap_follows_link_order_not_arrival() -> None:
    # invariant 5: the earliest aliases are the ones kept, whatever arrives first
    links = [alias("cy", "dee", 9), alias("ann", "ben", 1), alias("ben", "cy", 5)]
    found = resolve(links, Caps(users=3))
    assert found.person(user_id="ann").user_ids == ("ann", "ben", "cy")
    assert found.person(user_id="dee").user_ids == ("dee",)
    # a person merged past the cap by two persons' aliases: the larger merge is refused
    found = resolve([alias("a1", "a2", 1), alias("b1", "b2", 2), alias("a2", "b1", 3)],
                    Caps(users=3))  # fmt: skip
    assert found.person(user_id="a1").user_ids == ("a1", "a2")


def test_a_split_user_is_not_counted_by_the_cap() -> None:
    # the cap counts the userIds a person holds: a split userId's aliases are ignored
    links = [alias("ann", "ben", 1), alias("ben", "cy", 2), alias("cy", "dee", 3)]
    found = resolve(links, Caps(users=3), {(USER, "ben")})
    assert found.person(user_id="cy").user_ids == ("cy", "dee")
    assert found.person(user_id="ann").user_ids == ("ann",)
