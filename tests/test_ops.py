"""Operations endpoints (issue 2 §9)."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.conftest import Tenant


def test_health_and_readiness(client: TestClient[Any]) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_metrics_count_outcomes(client: TestClient[Any], tenant: Tenant) -> None:
    body = b'{"track":[{"name":"E","payload":[{"eventId":"m1","userId":"u"},{"userId":"null"}]}]}'
    # The metrics are per process and shared by the tests in it: compare before and after.
    before = _samples(client.get("/metrics").text)
    client.post(f"{tenant.base}/track", content=body, headers=tenant.headers)
    client.post(f"{tenant.base}/track", content=body, headers=tenant.headers)
    text = client.get("/metrics").text
    after = _samples(text)
    grew = {name: after[name] - before.get(name, 0.0) for name in after}
    assert grew["headwater_events_accepted_total"] == 1
    assert grew["headwater_events_duplicate_total"] == 1
    assert grew['headwater_events_rejected_total{reason="identity"}'] == 2
    assert grew["headwater_writer_batch_events_count"] == 2
    assert "headwater_writer_queue_events" in after
    assert 'route="/v1/{org}/projects/{project}/track",status="201"' in text


def _samples(text: str) -> dict[str, float]:
    """{"name{labels}": value} of a Prometheus text exposition."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found
