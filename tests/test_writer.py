"""Group commit (issue 2 §7; invariant 1): shared transactions, bounded queue, isolation."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from headwater.errors import HeadwaterError, Overloaded, StoreError, StoreUnavailable
from headwater.ingest.writer import Writer
from headwater.model.event import Batch, Context, WriteResult
from tests.conftest import row

CTX = Context(1, None, "k", 1_714_631_904_000)


def batch(n: int, tag: str = "") -> Batch:
    return Batch(CTX, events=[row(1, "E", tag)] * n)


class Recorder:
    """A write function that records transactions and can be held shut."""

    def __init__(self) -> None:
        self.transactions: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail_tag: str | None = None
        self.failure: Exception = StoreError("poisoned")
        self.calls = 0

    def __call__(self, batches: Sequence[Batch]) -> list[WriteResult]:
        self.gate.wait(10)
        self.calls += 1
        if self.fail_tag and any(
            b.events and b.events[0].event_id == self.fail_tag for b in batches
        ):
            raise self.failure
        self.transactions.append(len(batches))
        return [WriteResult(len(b.events), 0) for b in batches]


def test_concurrent_requests_share_transactions() -> None:
    recorder = Recorder()
    writer = Writer(recorder, batch_events=1000, max_wait_ms=0, queue_events=10_000)

    async def main() -> list[WriteResult]:
        recorder.gate.clear()  # hold the first commit so the rest queue up behind it
        first = asyncio.ensure_future(writer.submit(batch(1)))
        await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(writer.submit(batch(2))) for _ in range(50)]
        await asyncio.sleep(0.05)
        recorder.gate.set()
        return await asyncio.gather(first, *rest)

    results = asyncio.run(main())
    writer.close()
    assert [r.accepted for r in results] == [1] + [2] * 50
    assert recorder.transactions == [1, 50]  # 51 requests, 2 commits


def test_batches_are_bounded_in_size() -> None:
    recorder = Recorder()
    writer = Writer(recorder, batch_events=10, max_wait_ms=0, queue_events=10_000)

    async def main() -> None:
        recorder.gate.clear()
        tasks = [asyncio.ensure_future(writer.submit(batch(4))) for _ in range(6)]
        await asyncio.sleep(0.05)
        recorder.gate.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    writer.close()
    assert sum(recorder.transactions) == 6
    assert max(recorder.transactions) <= 2  # 2 x 4 events fit in 10, 3 x 4 do not


def test_a_full_queue_refuses_with_retry_after() -> None:
    recorder = Recorder()
    writer = Writer(recorder, batch_events=100, max_wait_ms=0, queue_events=5)

    async def main() -> None:
        recorder.gate.clear()
        held = asyncio.ensure_future(writer.submit(batch(1)))  # taken by the writer, held
        await asyncio.sleep(0.05)
        queued = asyncio.ensure_future(writer.submit(batch(4)))
        await asyncio.sleep(0.01)
        with pytest.raises(Overloaded) as refused:
            await writer.submit(batch(2))
        assert refused.value.retry_after == 1 and refused.value.status == 503
        recorder.gate.set()
        await asyncio.gather(held, queued)

    asyncio.run(main())
    writer.close()


def test_a_failing_request_does_not_fail_its_neighbours() -> None:
    recorder = Recorder()
    recorder.fail_tag = "poison"
    writer = Writer(recorder, batch_events=1000, max_wait_ms=0, queue_events=10_000)

    async def main() -> list[WriteResult | BaseException]:
        recorder.gate.clear()
        tasks = [
            asyncio.ensure_future(writer.submit(batch(1, tag))) for tag in ("a", "poison", "b")
        ]
        await asyncio.sleep(0.05)
        recorder.gate.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    ok_a, poisoned, ok_b = asyncio.run(main())
    writer.close()
    assert isinstance(ok_a, WriteResult) and isinstance(ok_b, WriteResult)
    assert isinstance(poisoned, StoreError)


def test_max_wait_gathers_requests_that_arrive_later() -> None:
    recorder = Recorder()
    writer = Writer(recorder, batch_events=1000, max_wait_ms=200, queue_events=10_000)

    async def main() -> None:
        first = asyncio.ensure_future(writer.submit(batch(1)))
        await asyncio.sleep(0.02)
        await asyncio.gather(first, writer.submit(batch(1)))

    asyncio.run(main())
    writer.close()
    assert recorder.transactions == [2]


def _three_with_poison(recorder: Recorder) -> list[WriteResult | BaseException]:
    writer = Writer(recorder, batch_events=1000, max_wait_ms=0, queue_events=10_000)

    async def main() -> list[WriteResult | BaseException]:
        recorder.gate.clear()
        tasks = [
            asyncio.ensure_future(writer.submit(batch(1, tag))) for tag in ("a", "poison", "b")
        ]
        await asyncio.sleep(0.05)
        recorder.gate.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    outcomes = asyncio.run(main())
    writer.close()
    return outcomes


def test_an_unexpected_failure_is_isolated_too() -> None:
    recorder = Recorder()
    recorder.fail_tag, recorder.failure = "poison", ZeroDivisionError("driver bug")
    ok_a, failed, ok_b = _three_with_poison(recorder)
    assert isinstance(ok_a, WriteResult) and isinstance(ok_b, WriteResult)
    assert isinstance(failed, HeadwaterError) and failed.status == 500
    assert failed.retry_after is None


def test_an_unreachable_database_fails_the_batch_at_once() -> None:
    # Retrying one by one would wait out the pool timeout once per request.
    recorder = Recorder()
    recorder.fail_tag, recorder.failure = "poison", StoreUnavailable("database down")
    outcomes = _three_with_poison(recorder)
    assert all(isinstance(o, StoreUnavailable) for o in outcomes[1:])
    assert recorder.calls <= 2  # the first request alone, then the other two together


def test_a_stopped_writer_refuses_instead_of_hanging() -> None:
    writer = Writer(Recorder(), batch_events=10, max_wait_ms=0, queue_events=100)
    writer.close()

    async def main() -> None:
        with pytest.raises(Overloaded):
            await writer.submit(batch(1))

    asyncio.run(main())
