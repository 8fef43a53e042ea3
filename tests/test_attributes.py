"""Attribute folds (issue 4 §2): strategies, null unsets, order independence."""

from __future__ import annotations

import itertools

from headwater.profiles.attributes import Fold, Order

Observation = tuple[Order, dict[str, object]]
OBSERVATIONS: list[Observation] = [
    ((1, "e1", 0, "E"), {"plan": "free", "tags": ["a"]}),
    ((2, "e2", 0, "E"), {"plan": "pro", "tags": ["a"]}),
    ((3, "e3", 0, "E"), {"plan": None}),
    ((4, "e4", 0, "E"), {"plan": "team", "tags": ["b"]}),
]


def fold(observations: list[Observation], **strategies: str) -> dict[str, object]:
    f = Fold()
    for order, attributes in observations:
        f.observe(order, attributes)
    return {name: value for name, (value, _) in f.result(strategies).items()}


def test_null_unsets_for_every_strategy() -> None:
    # Only what came after the latest null counts: "first" is team, not free.
    assert fold(OBSERVATIONS)["plan"] == "team"
    assert fold(OBSERVATIONS, plan="first")["plan"] == "team"
    assert fold(OBSERVATIONS[:3], plan="first") == {"tags": ["a"]}


def test_most_frequent_compares_json_values() -> None:
    assert fold(OBSERVATIONS, tags="most_frequent")["tags"] == ["a"]


def test_any_order_gives_the_same_values() -> None:
    expected = fold(OBSERVATIONS, tags="most_frequent", plan="first")
    for permutation in itertools.permutations(OBSERVATIONS):
        assert fold(list(permutation), tags="most_frequent", plan="first") == expected
