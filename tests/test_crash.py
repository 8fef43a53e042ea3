"""SIGKILL under load loses no acknowledged event (invariant 1); re-sending what was not
acknowledged yields every event exactly once (invariant 2: at-least-once delivery + dedup).
A killed worker is respawned while the server keeps answering (issue 11, finding 2)."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live_server import LiveServer, alive, live_server

THREADS = 8
EVENTS_PER_REQUEST = 5
KILL_AFTER_ACKS = 300  # kill once this many requests were acknowledged ...
KILL_AFTER_S = 1.5  # ... or this long after the load started, whichever comes first
MAX_REQUESTS_PER_THREAD = 2000  # a bound on the load even if the kill never happens

Key = tuple[str, str, int]  # (eventName, eventId, line)


@dataclasses.dataclass
class Attempt:
    body: dict[str, Any]
    status: int | None = None  # None: no response (connection refused, reset, ...)

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def keys(self) -> list[Key]:
        return [
            (group["name"], item["eventId"], 0)
            for group in self.body["track"]
            for item in group["payload"]
        ]


def make_body(thread: int, n: int) -> dict[str, Any]:
    """A few events with fresh eventIds, in two groups; every item is line 0."""
    user_id = f"crash-{thread}-{n}"
    items = [
        {"eventId": str(uuid.uuid4()), "userId": user_id, "data": {"t": thread, "n": n, "k": k}}
        for k in range(EVENTS_PER_REQUEST)
    ]
    return {
        "track": [
            {"name": "Crash A", "payload": items[:3]},
            {"name": "Crash B", "payload": items[3:]},
        ]
    }


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    with live_server(tmp_path, workers=2, database_url=database_url) as running:
        yield running


def stored_keys(server: LiveServer) -> Counter[Key]:
    """How often each (eventName, eventId, line) is stored, paging the read API with a cursor."""
    seen: Counter[Key] = Counter()
    params = {"limit": "1000"}
    with server.client() as http:
        while True:
            response = http.get(f"{server.project_url}/events", params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            seen.update((e["eventName"], e["eventId"], e["line"]) for e in page["events"])
            if page["next"] is None:
                return seen
            params["cursor"] = page["next"]


def load(
    server: LiveServer,
    thread: int,
    stop: threading.Event,
    out: list[Attempt],
    through_errors: bool = False,
) -> None:
    """Send until `stop`; on a failed request stop too, unless `through_errors` (the server is
    expected to survive: the request was in flight on a killed worker)."""
    url = f"{server.project_url}/track"
    with httpx.Client(headers=server.headers, timeout=10.0) as http:
        for n in range(MAX_REQUESTS_PER_THREAD):
            if stop.is_set():
                return
            attempt = Attempt(make_body(thread, n))
            out.append(attempt)
            try:
                attempt.status = http.post(url, json=attempt.body).status_code
            except httpx.HTTPError:
                attempt.status = None
                if not through_errors:
                    return  # the server is gone (killed): stop sending


def test_sigkill_mid_load_loses_no_acknowledged_event(server: LiveServer) -> None:
    # Invariant 1: every event of a 2xx request survives SIGKILL of supervisor and workers.
    # Invariant 2: re-sending every unacknowledged request leaves each event stored exactly once.
    stop = threading.Event()
    per_thread: list[list[Attempt]] = [[] for _ in range(THREADS)]
    threads = [
        threading.Thread(target=load, args=(server, t, stop, per_thread[t]), daemon=True)
        for t in range(THREADS)
    ]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + KILL_AFTER_S
        while time.monotonic() < deadline:
            if sum(a.acknowledged for attempts in per_thread for a in attempts) >= KILL_AFTER_ACKS:
                break
            time.sleep(0.01)
        server.kill()  # mid-load: the load threads are still sending
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not any(thread.is_alive() for thread in threads)

    attempts = [a for thread_attempts in per_thread for a in thread_attempts]
    acked = [a for a in attempts if a.acknowledged]
    unacked = [a for a in attempts if not a.acknowledged]
    assert acked, f"no request was acknowledged before the kill; output:\n{server.output()}"

    server.start()  # same database file, same port
    seen = stored_keys(server)
    lost = [key for a in acked for key in a.keys() if seen[key] != 1]
    assert not lost, f"{len(lost)} acknowledged events not stored exactly once, e.g. {lost[:3]}"
    assert not [key for key, count in seen.items() if count > 1]

    # Re-send what was not acknowledged: some of it was committed before the kill.
    with server.client() as http:
        for attempt in unacked:
            response = http.post(f"{server.project_url}/track", json=attempt.body)
            assert response.status_code == 201, response.text
            report = response.json()
            assert report["rejected"] == []
            assert report["accepted"] + report["duplicates"] == EVENTS_PER_REQUEST
            # A request commits in one transaction: all of it survived the kill, or none.
            assert report["duplicates"] in (0, EVENTS_PER_REQUEST), report

    seen = stored_keys(server)
    expected = Counter(key for a in attempts for key in a.keys())
    assert all(count == 1 for count in expected.values())  # the test's own ids are unique
    assert seen == expected, (
        f"missing {len(expected - seen)}, extra {len(seen - expected)} "
        f"(acked {len(acked)}, unacked {len(unacked)} requests)"
    )


def wait_for(condition: Any, what: str, server: LiveServer, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s; output:\n{server.output()}")
        time.sleep(0.02)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_killed_worker_is_respawned_and_loses_no_acknowledged_event(
    tmp_path: Path, database_url: str, workers: int
) -> None:
    # Issue 11 finding 2: SIGKILL of one worker used to end the whole server (exit 1, the
    # healthy worker too). Now the server keeps answering, and invariant 1 holds throughout.
    with live_server(tmp_path, workers=workers, database_url=database_url) as server:
        stop = threading.Event()
        per_thread: list[list[Attempt]] = [[] for _ in range(4)]
        threads = [
            threading.Thread(target=load, args=(server, t, stop, per_thread[t], True))
            for t in range(len(per_thread))
        ]

        def acked() -> int:
            return sum(a.acknowledged for attempts in per_thread for a in attempts)

        try:
            for thread in threads:
                thread.start()
            wait_for(lambda: acked() >= 50, "50 requests acknowledged", server)
            victim = server.worker_pids()[0]
            os.kill(victim, signal.SIGKILL)
            at_kill = acked()
            wait_for(lambda: acked() >= at_kill + 100, "100 more acknowledged", server)
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
        assert server.running
        wait_for(
            lambda: (
                victim not in server.worker_pids()
                and len(server.worker_pids()) == workers
                and server.output().count("Started worker") == workers + 1
            ),
            f"{workers} workers serving again",
            server,
        )
        attempts = [a for thread_attempts in per_thread for a in thread_attempts]
        seen = stored_keys(server)
        lost = [key for a in attempts if a.acknowledged for key in a.keys() if seen[key] != 1]
        assert not lost, f"{len(lost)} acknowledged events not stored exactly once"
        assert not [key for key, count in seen.items() if count > 1]
        os.killpg(server.pid, signal.SIGTERM)  # a graceful stop still exits 0
        assert server.wait() == 0, server.output()


def test_a_worker_crash_loop_ends_the_server_with_status_1(tmp_path: Path) -> None:
    # A worker that dies again right after its respawn would die forever: the server exits 1
    # for its supervisor (systemd, Kubernetes) to act on, instead of respawning in a loop.
    with live_server(tmp_path) as server:
        [first] = server.worker_pids()
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: server.worker_pids() not in ([], [first]), "a respawned worker", server)
        [second] = server.worker_pids()
        os.kill(second, signal.SIGKILL)
        assert server.wait() == 1
        assert "crash loop" in server.output()


def test_workers_end_with_a_killed_supervisor(tmp_path: Path) -> None:
    # A worker must not outlive its supervisor holding the port: the next server could not
    # listen there (one server per port), and nothing would respawn the orphans.
    with live_server(tmp_path, workers=2) as server:
        workers = server.worker_pids()
        os.kill(server.pid, signal.SIGKILL)
        assert server.wait() == -signal.SIGKILL
        wait_for(lambda: not any(alive(pid) for pid in workers), "workers gone", server)
        assert "Stopping worker" in server.output()  # a graceful stop: queued writes commit
        server.stop()
        server.start()  # the same port is free again
        assert server.client().get("/healthz").status_code == 200
