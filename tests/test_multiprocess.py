"""Many processes, one truth (issue 3 §3): servers sharing one database store a batch once."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.live_server import LiveServer, live_server

ROUNDS = 20
ITEMS = 40


def batch(round_: int) -> dict[str, Any]:
    """Order lines sharing eventIds and plain events: every dedup case in one body."""
    order = str(uuid.uuid4())
    items = [{"eventId": order, "userId": f"u{round_}", "data": {"line": i}} for i in range(3)]
    items += [{"eventId": str(uuid.uuid4()), "userId": f"u{round_}"} for _ in range(ITEMS - 3)]
    return {"track": [{"name": "Product ordered", "payload": items}]}


def post_together(servers: list[LiveServer], body: dict[str, Any]) -> list[dict[str, Any]]:
    """The same body to every server at once; the reports, in server order."""
    reports: list[dict[str, Any]] = [{} for _ in servers]
    start = threading.Barrier(len(servers))

    def send(index: int, server: LiveServer) -> None:
        with server.client() as http:
            start.wait()
            response = http.post(f"{server.project_url}/track", json=body)
            assert response.status_code == 201, response.text
            reports[index] = response.json()

    threads = [threading.Thread(target=send, args=(i, s)) for i, s in enumerate(servers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return reports


def test_the_same_batch_posted_to_two_servers_is_stored_once(
    tmp_path: Path, database_url: str
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with live_server(tmp_path / "a", workers=2, database_url=database_url) as first:
        with live_server(tmp_path / "b", database_url=database_url, api_key=first.api_key) as b:
            for round_ in range(ROUNDS):
                reports = post_together([first, b], batch(round_))
                # Exactly one server stored each event; the other saw a duplicate.
                assert sum(r["accepted"] for r in reports) == ITEMS, reports
                assert sum(r["duplicates"] for r in reports) == ITEMS, reports
            with httpx.Client(headers=first.headers) as http:
                page = http.get(f"{b.project_url}/events", params={"limit": "1000"}).json()
    assert len(page["events"]) == ROUNDS * ITEMS
    assert len({(e["eventId"], e["line"]) for e in page["events"]}) == ROUNDS * ITEMS
