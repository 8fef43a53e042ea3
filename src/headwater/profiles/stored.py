"""Stored JSON, read defensively (issue 11, attack finding 4).

Ingest refuses what cannot be read back, but rows stored before it did (a legacy
`{"plan": 1e400}`, a lone surrogate escape) are still in the event log. A read must never fail
on one: an object that cannot be decoded is read as if it were absent (null), and counted in
`Unreadable`, which the read shows (`unreadable` in a profile or an account).
"""

from __future__ import annotations

from typing import Any

import msgspec

from headwater.profiles.attributes import Order

#: Events named in `unreadable.events`: the first ones, in event order.
SHOWN = 10


class Unreadable:
    """What a read skipped: how many stored values, and which events held the first ones."""

    def __init__(self) -> None:
        self.count = 0
        self.events: list[dict[str, Any]] = []

    def add(self, order: Order, field: str) -> None:
        self.count += 1
        if len(self.events) < SHOWN:
            self.events.append(
                {"eventId": order[1], "line": order[2], "eventName": order[3], "field": field}
            )

    def view(self) -> dict[str, Any]:
        return {"count": self.count, "events": self.events}


def read_object(
    text: str | None, order: Order, field: str, unreadable: Unreadable
) -> dict[str, Any] | None:
    """The JSON object stored as `text` in the `field` of the event at `order`; None when
    absent, or when it cannot be read (counted in `unreadable`)."""
    if text is None:
        return None
    try:
        value = msgspec.json.decode(text)
    except (msgspec.DecodeError, RecursionError):
        value = None
    if isinstance(value, dict):
        return value
    unreadable.add(order, field)
    return None
