"""Attribute folds (issue 4 §2): strategies and null unsets (order independence and the
streaming fold: tests/test_folds.py)."""

from __future__ import annotations

from headwater.profiles.attributes import Fold, Order

Observation = tuple[Order, dict[str, object]]
OBSERVATIONS: list[Observation] = [
    ((1, "e1", 0, "E"), {"plan": "free", "tags": ["a"]}),
    ((2, "e2", 0, "E"), {"plan": "pro", "tags": ["a"]}),
    ((3, "e3", 0, "E"), {"plan": None}),
    ((4, "e4", 0, "E"), {"plan": "team", "tags": ["b"]}),
]


def fold(observations: list[Observation], **strategies: str) -> dict[str, object]:
    f = Fold(lambda names: {n: strategies[n] for n in names if n in strategies})
    for order, attributes in sorted(observations, key=lambda o: o[0]):  # a fold streams
        f.observe(order, attributes)
    return {name: value for name, (value, _) in f.result().items()}


def test_null_unsets_for_every_strategy() -> None:
    # Only what came after the latest null counts: "first" is team, not free.
    assert fold(OBSERVATIONS)["plan"] == "team"
    assert fold(OBSERVATIONS, plan="first")["plan"] == "team"
    assert fold(OBSERVATIONS[:3], plan="first") == {"tags": ["a"]}


def test_most_frequent_compares_json_values() -> None:
    assert fold(OBSERVATIONS, tags="most_frequent")["tags"] == ["a"]
