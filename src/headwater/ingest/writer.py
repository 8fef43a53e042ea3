"""Group commit: one writer thread turns many concurrent requests into few transactions.

Requests queue their batches; the writer takes everything queued (up to
`writer_batch_events`), commits it in one transaction, then resolves every request's
future. A 2xx is therefore only ever sent after commit (invariant 1), and a burst of
small requests costs one fsync, not one each. The queue is bounded in events: past
`writer_queue_events` a request is refused with `Overloaded` (503 + Retry-After).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from headwater.errors import HeadwaterError, Overloaded, StoreUnavailable
from headwater.metrics import METRICS
from headwater.model.event import Batch, WriteResult

log = logging.getLogger("headwater.writer")

WriteFn = Callable[[Sequence[Batch]], list[WriteResult]]
_Pending = tuple[Batch, asyncio.AbstractEventLoop, "asyncio.Future[WriteResult]"]


def _size(batch: Batch) -> int:
    return len(batch.events) + len(batch.rejected)


class Writer:
    def __init__(self, write: WriteFn, batch_events: int, max_wait_ms: float, queue_events: int):
        self._write = write
        self._batch_events = batch_events
        self._max_wait = max_wait_ms / 1000
        self._queue_events = queue_events
        self._queue: deque[_Pending] = deque()
        self._queued = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="headwater-writer", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._stopping

    async def submit(self, batch: Batch) -> WriteResult:
        """Resolves once the batch is committed; raises Overloaded when the queue is full."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[WriteResult] = loop.create_future()
        size = _size(batch)
        with self._cond:
            if self._stopping or not self._thread.is_alive():
                raise Overloaded("the writer is not running (the server is stopping); retry")
            if self._queued and self._queued + size > self._queue_events:
                raise Overloaded(
                    f"the writer queue is full ({self._queued} events waiting); retry later"
                )
            self._queue.append((batch, loop, future))
            self._queued += size
            METRICS.queue_depth.set(self._queued)
            self._cond.notify()
        return await future

    def close(self) -> None:
        """Commit what is queued, then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join()

    def _take(self) -> list[_Pending] | None:
        with self._cond:
            while not self._queue and not self._stopping:
                self._cond.wait()
            if not self._queue:
                return None
            if self._max_wait and self._queued < self._batch_events:
                deadline = time.monotonic() + self._max_wait
                while self._queued < self._batch_events and not self._stopping:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self._cond.wait(left):
                        break
            taken: list[_Pending] = []
            events = 0
            while self._queue:
                if taken and events + _size(self._queue[0][0]) > self._batch_events:
                    break
                pending = self._queue.popleft()
                taken.append(pending)
                events += _size(pending[0])
            self._queued -= events
            METRICS.queue_depth.set(self._queued)
            return taken

    def _run(self) -> None:
        while (taken := self._take()) is not None:
            METRICS.batch_events.observe(sum(_size(p[0]) for p in taken))
            self._commit(taken)

    def _commit(self, taken: list[_Pending]) -> None:
        try:
            results = self._write([batch for batch, _, _ in taken])
        except StoreUnavailable as exc:  # the database is away: retrying one by one cannot help
            log.error("write failed: %s", exc.message)
            _settle(taken, [exc] * len(taken))
        except Exception as exc:  # a driver bug must not kill the writer thread either
            if len(taken) > 1:
                # One poisoned request must not fail its neighbours: retry them one by one.
                for pending in taken:
                    self._commit([pending])
                return
            if not isinstance(exc, HeadwaterError):
                log.exception("unexpected write failure")
                exc = HeadwaterError(f"write failed unexpectedly: {exc}")
            log.error("write failed: %s", exc.message)
            _settle(taken, [exc])
        else:
            _settle(taken, results)


def _settle(taken: list[_Pending], outcomes: Sequence[WriteResult | Exception]) -> None:
    """Resolve every future, waking each event loop once per commit, not once per request."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[WriteResult], Any]]] = {}
    for (_, loop, future), outcome in zip(taken, outcomes, strict=True):
        by_loop.setdefault(loop, []).append((future, outcome))
    for loop, pairs in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, pairs)
        except RuntimeError:  # the loop closed during shutdown
            pass


def _resolve(pairs: list[tuple[asyncio.Future[WriteResult], Any]]) -> None:
    for future, outcome in pairs:
        if future.done():  # the client went away; its events are committed regardless
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
