"""What a person did, folded from their events in one pass (ARCHITECTURE §2, issue 4): their
attributes, sessions, revenue, orders, accounts, and when they were first and last seen.

The events come in fold order (`Store.stream_events`), each read once and dropped: memory
holds the fold's state (a value per attribute, a summary per session kept, a total per
currency, the ids of orders and accounts), never the events.
"""

from __future__ import annotations

from typing import Any

from headwater.model.rules import is_identity
from headwater.profiles.attributes import Fold, Order, Strategies
from headwater.profiles.ordering import Row
from headwater.profiles.revenue import Revenue
from headwater.profiles.sessions import Sessions
from headwater.profiles.stored import Unreadable, read_object

CHARGE, ORDERED = "Charge", "Product ordered"


class Activity:
    def __init__(
        self, strategies: Strategies, session_timeout_ms: int, recent_sessions: int | None
    ) -> None:
        self.attributes = Fold(strategies)
        self.sessions = Sessions(session_timeout_ms, keep=recent_sessions)
        self.revenue = Revenue()
        self.unreadable = Unreadable()
        self.orders: set[str] = set()  # one per SDK call: its group's eventId
        self.accounts: set[str] = set()
        self.count = 0
        self.first: int | None = None
        self.last: int | None = None

    def observe(self, row: Row) -> None:
        """One event, in fold order: a row of `ordering.FOLD_COLUMNS`, unpacked in their order."""
        timestamp, event_id, line, name, account, session, data, attributes, _, group = row[:10]
        order = (timestamp, event_id, line, name)
        self.count += 1
        if self.first is None:
            self.first = timestamp
        self.last = timestamp
        if is_identity(account):
            self.accounts.add(account)
        found = read_object(attributes, order, "userAttributes", self.unreadable)
        self.sessions.observe(order, session, name, data, found, self.unreadable)
        if name == ORDERED:
            self.orders.add(group or event_id)
        elif name == CHARGE:
            charge = read_object(data, order, "data", self.unreadable)
            if charge is not None and not self.revenue.observe(charge):
                self.unreadable.add(order, "data.amount")
        if found is not None:
            self.attributes.observe(order, found)

    def view(self) -> dict[str, Any]:
        """The profile's parts computed from events."""
        values = self.attributes.result()
        visits = self.sessions.result()
        return {
            "attributes": {name: value for name, (value, _) in values.items()},
            "attributeSources": sources(values),
            "accounts": sorted(self.accounts),
            "sessions": visits,
            "computed": {
                "first_seen": self.first,
                "last_seen": self.last,
                "event_count": self.count,
                "session_count": self.sessions.count,
                "ltv": self.revenue.result(),
                "orders": len(self.orders),
            },
            "unreadable": self.unreadable.view(),
        }


def sources(values: dict[str, tuple[Any, Order]]) -> dict[str, dict[str, Any]]:
    """Attribute → the event that set its value."""
    return {
        name: {"eventId": o[1], "line": o[2], "eventName": o[3], "timestamp": o[0]}
        for name, (_, o) in values.items()
    }
