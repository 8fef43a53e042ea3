"""Unified attribute values: a fold over a person's observations with each attribute's
strategy. Observations are (order, value) with order = (event time, eventId, line, name), so the
result does not depend on the order they are folded in.

- `latest` (default): the value of the greatest order;
- `first`: the value of the smallest order;
- `most_frequent`: the value observed most often, ties to the one observed latest.

A `null` value unsets the attribute: only observations after the latest `null` count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from headwater.errors import BadRequest

STRATEGIES = ("latest", "first", "most_frequent")
#: (event time, eventId, line, event name): the last part only breaks ties between events
#: that share an eventId under different names (View Page and Leave Page of one page).
Order = tuple[int, str, int, str]


def check_strategy(strategy: str) -> str:
    if strategy not in STRATEGIES:
        raise BadRequest(f"strategy must be one of {', '.join(STRATEGIES)}", "strategy")
    return strategy


class Fold:
    def __init__(self) -> None:
        self._seen: dict[str, list[tuple[Order, Any]]] = {}

    def observe(self, order: Order, attributes: Mapping[str, Any]) -> None:
        for name, value in attributes.items():
            self._seen.setdefault(name, []).append((order, value))

    def result(self, strategies: Mapping[str, str]) -> dict[str, tuple[Any, Order]]:
        """Attribute → (value, order of the observation that set it)."""
        out = {}
        for name, seen in sorted(self._seen.items()):
            unset = max((order for order, value in seen if value is None), default=None)
            live = [(o, v) for o, v in seen if v is not None and (unset is None or o > unset)]
            if live:
                out[name] = _pick(strategies.get(name, "latest"), live)
        return out


def _pick(strategy: str, live: list[tuple[Order, Any]]) -> tuple[Any, Order]:
    if strategy == "first":
        order, value = min(live, key=lambda seen: seen[0])
        return value, order
    if strategy == "most_frequent":
        counts: dict[bytes, tuple[int, Order, Any]] = {}
        for order, value in live:
            key = msgspec.json.encode(value, order="sorted")  # values may be objects or lists
            count, latest, _ = counts.get(key, (0, order, value))
            counts[key] = (count + 1, max(latest, order), value)
        count, order, value = max(counts.values(), key=lambda c: (c[0], c[1]))
        return value, order
    order, value = max(live, key=lambda seen: seen[0])
    return value, order
