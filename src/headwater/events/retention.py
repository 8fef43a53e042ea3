"""Delete events past their retention, by event time, in short transactions.

By event time, not receive time: a person's state is a fold over their events by event time
(invariant 5), so removing every event before a cut leaves exactly the state of the events
after it, whatever order and batches they arrived in. Pruning by receive time would keep an
old event that arrived late (an offline device's batch) and drop a recent one that arrived
early, so the same events could leave different profiles. The cost: an event whose
timestamp is already past the retention when it arrives is removed by the next prune.

What pruning does to the rest of the store (docs/operations.md, "Retention"): profiles,
sessions, lifetime value and counts are computed from the remaining events when read, so
they follow at once; identity links, splits, consent records, the catalog, the quarantine and
erasure records are kept.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from headwater.store.base import EventQuery, Store

DAY_MS = 86_400_000
CHUNK = 2000  # events per transaction: the writer is held ~70 ms (docs/benchmarks.md)
# Between chunks: longer than SQLite's longest wait between retries of a writer waiting for
# the lock (100 ms), so a server's writer gets in between two chunks instead of starving.
PAUSE_S = 0.11


@dataclasses.dataclass(frozen=True)
class Pruned:
    before: int  # events with an event time before this (epoch ms) were deleted
    deleted: int


def cutoff(now: int, days: int) -> int:
    """The event time before which events are older than `days` days at `now`."""
    return now - days * DAY_MS


def count(store: Store, project_id: int, before: int) -> int:
    """How many events a prune at `before` would delete."""
    return store.count_events(EventQuery(project_id, until=before))


def prune(
    store: Store,
    project_id: int,
    before: int,
    chunk: int = CHUNK,
    progress: Callable[[int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Pruned:
    """Delete the project's events with an event time before `before`, oldest first, `chunk`
    per transaction, pausing between transactions at least as long as each took."""
    deleted = 0
    while True:
        started = time.monotonic()
        removed = store.prune_events(project_id, before, chunk)
        deleted += removed
        if progress is not None:
            progress(removed)
        if removed < chunk:
            return Pruned(before, deleted)
        sleep(max(PAUSE_S, time.monotonic() - started))
