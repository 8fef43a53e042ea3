"""Follow a project's events as they commit, in `seq` order (the order they were stored).

A follower must never step past an event that commits late. On SQLite one writer commits at a
time, so every seq up to the highest committed is final. On PostgreSQL concurrent
transactions commit out of seq order: seq 7 may still be in flight while 8 is visible. So a
follower reads only up to a *settled* seq: the highest seq seen at a moment all of whose
in-flight transactions have since ended (that moment's snapshot `xmax` is at or below a later
snapshot's `xmin`). A transaction that inserts an event gets its id as it inserts its first
row, long before a later transaction can insert and commit a higher seq; so every transaction
that could still commit a seq below the highest visible one was in flight at that moment.

Any writing transaction of the database server counts, so a transaction left open holds the
follower back: after `patience_ms` it stops waiting for it (and logs that it did).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from headwater.store.base import EventQuery, Horizon, Store

log = logging.getLogger("headwater.events")

SCAN = 100_000  # seqs one read walks at most: a rare filter never reads the whole log at once
PATIENCE_MS = 30_000


@dataclasses.dataclass
class _Mark:
    """The highest committed seq at a moment, and the next transaction id then."""

    max_seq: int
    following: int
    since: float  # when first seen (monotonic seconds)


class Tail:
    """The events of `query` (its project and exact-match filters) with a seq above
    `after_seq`, as they commit; `poll` returns the next ones."""

    def __init__(
        self,
        store: Store,
        query: EventQuery,
        after_seq: int,
        patience_ms: int = PATIENCE_MS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._query = query
        self._patience = patience_ms / 1000
        self._clock = clock
        self._marks: collections.deque[_Mark] = collections.deque()
        self.cursor = after_seq  # every seq up to here is read, or can never commit
        self._settled = after_seq

    def poll(self, limit: int) -> list[tuple[Any, ...]]:
        """Up to `limit` new events, in seq order (rows as `Store.events_after`)."""
        horizon = self._store.event_horizon()
        self._settle(horizon)
        if horizon.max_seq < self.cursor:
            # SQLite gives a new event max(seq) + 1: once the newest events are deleted
            # (erased, pruned), their seqs are handed out again.
            self.cursor = self._settled = horizon.max_seq
        rows: list[tuple[Any, ...]] = []
        while len(rows) < limit and self.cursor < self._settled:
            wanted = limit - len(rows)
            end = min(self._settled, self.cursor + SCAN)
            page = self._store.events_after(self._query, self.cursor, end, wanted)
            rows += page
            self.cursor = page[-1][-1] if len(page) == wanted else end
        return rows

    def _settle(self, horizon: Horizon) -> None:
        now = self._clock()
        since = now
        if self._marks and self._marks[-1].following == horizon.next_transaction:
            since = self._marks.pop().since  # no transaction began since: one mark, the later
        self._marks.append(_Mark(horizon.max_seq, horizon.next_transaction, since))
        while self._marks:
            mark = self._marks[0]
            if mark.following > horizon.oldest_in_flight:
                if now - mark.since < self._patience:
                    return
                log.warning(
                    "events tail: a database transaction has been open for %.0f s; reading "
                    "past it (events it commits later below seq %d are not shown)",
                    now - mark.since,
                    mark.max_seq,
                )
            self._marks.popleft()
            self._settled = max(self._settled, mark.max_seq)


def start_seq(store: Store, from_start: bool) -> int:
    """Where a tail starts: before every stored event, or after the newest committed."""
    return 0 if from_start else store.event_horizon().max_seq
