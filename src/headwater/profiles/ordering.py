"""The order events are folded in: (event time, eventId, line, event name), never arrival
(invariant 5). Stores read events by (event time, arrival); `in_order` turns that into fold
order by re-sorting only the events that share a millisecond, so a fold can stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from headwater.profiles.attributes import Order

#: What the folds read of an event (`EventQuery.columns`): fewer columns, faster reads.
FOLD_COLUMNS = ("timestamp", "event_id", "line", "event_name", "account_id", "session_id",
                "data", "user_attributes", "account_attributes", "group_event_id")  # fmt: skip
AT = {name: i for i, name in enumerate(FOLD_COLUMNS)}  # column → position in a fold's row
_TIME, _ID, _LINE, _NAME = (AT[c] for c in ("timestamp", "event_id", "line", "event_name"))

Row = tuple[Any, ...]


def order_of(row: Sequence[Any]) -> Order:
    return (row[_TIME], row[_ID], row[_LINE], row[_NAME])


def in_order(rows: Iterable[Row]) -> Iterator[Row]:
    """`rows`, read in ascending event time, in fold order; holds one millisecond's events."""
    tie: list[Row] = []
    for row in rows:
        if tie and row[_TIME] != tie[0][_TIME]:
            if len(tie) > 1:
                tie.sort(key=order_of)
            yield from tie
            tie = []
        tie.append(row)
    tie.sort(key=order_of)
    yield from tie
