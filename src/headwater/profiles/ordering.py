"""The order events are folded in: (event time, eventId, line, event name), never arrival
(invariant 5). `Store.stream_events` reads them in that order, so a fold can stream; the
folds check it (`attributes.Fold` refuses an observation out of order).
"""

from __future__ import annotations

from collections.abc import Sequence
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
