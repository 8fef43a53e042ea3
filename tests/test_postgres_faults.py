"""PostgreSQL restarted under load (issue 3 §4): 503 + Retry-After while it is away, no
acknowledged event lost, recovery without restarting Headwater."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live_server import LiveServer, live_server
from tests.pg_cluster import Cluster

THREADS = 6
Outcome = tuple[dict[str, Any], int | None, str | None]  # body, status, Retry-After
OUTAGE_S = 2.0


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    made = Cluster()
    try:
        made.start()
        yield made
    finally:
        made.remove()


def body() -> dict[str, Any]:
    items = [{"eventId": str(uuid.uuid4()), "userId": "u1"} for _ in range(3)]
    return {"track": [{"name": "Fault", "payload": items}]}


def ids(request_body: dict[str, Any]) -> list[str]:
    return [item["eventId"] for item in request_body["track"][0]["payload"]]


def stored(server: LiveServer) -> Counter[str]:
    seen: Counter[str] = Counter()
    params = {"limit": "1000"}
    with server.client() as http:
        while True:
            page = http.get(f"{server.project_url}/events", params=params).json()
            seen.update(e["eventId"] for e in page["events"])
            if page["next"] is None:
                return seen
            params["cursor"] = page["next"]


def test_restarting_postgres_under_load(tmp_path: Path, cluster: Cluster) -> None:
    env = {"HEADWATER_PG_POOL_TIMEOUT": "1"}
    with live_server(tmp_path, env=env, database_url=cluster.url) as server:
        outcomes: list[Outcome] = []
        stop = threading.Event()

        def load() -> None:
            with server.client(timeout=15) as http:
                while not stop.is_set():
                    sent = body()
                    outcome: Outcome = (sent, None, None)
                    try:
                        response = http.post(f"{server.project_url}/track", json=sent)
                        outcome = (sent, response.status_code, response.headers.get("retry-after"))
                    except httpx.HTTPError:
                        pass  # counted as no status: the test fails if any request gets none
                    outcomes.append(outcome)

        threads = [threading.Thread(target=load) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(1.0)
            cluster.crash()
            time.sleep(OUTAGE_S)
            with server.client() as http:
                ready = http.get("/readyz")
            cluster.start()
            time.sleep(3.0)  # Headwater reconnects by itself, under load
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)

        assert ready.status_code == 503  # the outage was visible to a load balancer
        statuses = Counter(status for _, status, _ in outcomes)
        assert statuses[201] > 0 and statuses[503] > 0, statuses
        assert set(statuses) <= {201, 503}, statuses  # nothing else: no 500, no dropped socket
        assert all(retry == "1" for _, status, retry in outcomes if status == 503)
        last = outcomes[-THREADS * 5 :]
        assert all(status == 201 for _, status, _ in last), " ".join(
            str(s) for _, s, _ in outcomes[-80:]
        )

        seen = stored(server)
        acknowledged = [i for sent, status, _ in outcomes if status == 201 for i in ids(sent)]
        assert all(seen[i] == 1 for i in acknowledged)  # none lost, none doubled

        # What the SDKs do with a 503: send it again. Then every event is there exactly once.
        with server.client() as http:
            for sent, status, _ in outcomes:
                if status != 201:
                    assert http.post(f"{server.project_url}/track", json=sent).status_code == 201
        seen = stored(server)
        every = [i for sent, _, _ in outcomes for i in ids(sent)]
        assert sorted(seen) == sorted(every) and set(seen.values()) == {1}
