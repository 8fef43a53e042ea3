"""Unified attribute values: a fold over a person's observations with each attribute's
strategy. Observations are (order, value) with order = (event time, eventId, line, name).

- `latest` (default): the value of the greatest order;
- `first`: the value of the smallest order;
- `most_frequent`: the value observed most often, ties to the one observed latest.

A `null` value unsets the attribute: only observations after the latest `null` count.

The fold streams: it is fed in ascending order (`Store.stream_events`), so a `null`
simply forgets what came before it, and it keeps per attribute only what its strategy needs
(one value, or a count per distinct value for `most_frequent`), never the observations. The
result is the same as folding every observation at once, in any order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec

from headwater.errors import BadRequest

STRATEGIES = ("latest", "first", "most_frequent")
DEFAULT = "latest"
#: (event time, eventId, line, event name): the last part only breaks ties between events
#: that share an eventId under different names (View Page and Leave Page of one page).
Order = tuple[int, str, int, str]
#: Attribute names → their strategies, for those of the names that have one set.
Strategies = Callable[[Iterable[str]], Mapping[str, str]]
_BATCH = 1000  # observations held until the strategies of their new names are loaded


def check_strategy(strategy: str) -> str:
    if strategy not in STRATEGIES:
        raise BadRequest(f"strategy must be one of {', '.join(STRATEGIES)}", "strategy")
    return strategy


class Fold:
    """Feed `observe` in strictly ascending order; `strategies` is asked, a batch of
    observations at a time, for the strategies of the names not seen before."""

    def __init__(self, strategies: Strategies) -> None:
        self._load = strategies
        self._strategy: dict[str, str] = {}
        self._pending: list[tuple[Order, Mapping[str, Any]]] = []
        self._new: set[str] = set()
        self._last: Order | None = None
        # name → (value, order) for latest and first; for most_frequent, value key →
        # [count, latest order, value]
        self._kept: dict[str, Any] = {}

    def observe(self, order: Order, attributes: Mapping[str, Any]) -> None:
        if self._last is not None and order <= self._last:
            raise ValueError(f"observations must come in ascending order: {order}, {self._last}")
        self._last = order
        self._pending.append((order, attributes))
        self._new.update(name for name in attributes if name not in self._strategy)
        if len(self._pending) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._new:
            found = self._load(self._new)
            self._strategy.update({name: found.get(name, DEFAULT) for name in self._new})
            self._new = set()
        for order, attributes in self._pending:
            for name, value in attributes.items():
                self._fold(name, self._strategy[name], order, value)
        self._pending = []

    def _fold(self, name: str, strategy: str, order: Order, value: Any) -> None:
        if value is None:  # unset: what came before no longer counts
            self._kept.pop(name, None)
        elif strategy == "first":
            self._kept.setdefault(name, (value, order))
        elif strategy == "most_frequent":
            counts = self._kept.setdefault(name, {})
            key = msgspec.json.encode(value, order="sorted")  # values may be objects or lists
            seen = counts.setdefault(key, [0, order, value])
            seen[0] += 1
            seen[1] = order
        else:
            self._kept[name] = (value, order)

    def result(self) -> dict[str, tuple[Any, Order]]:
        """Attribute → (value, order of the observation that set it), by name."""
        self._flush()
        out = {}
        for name, kept in sorted(self._kept.items()):
            if self._strategy[name] == "most_frequent":
                _, order, value = max(kept.values(), key=lambda seen: (seen[0], seen[1]))
                kept = (value, order)
            out[name] = kept
        return out
