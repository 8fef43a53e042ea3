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
    client.post(f"{tenant.base}/track", content=body, headers=tenant.headers)
    client.post(f"{tenant.base}/track", content=body, headers=tenant.headers)
    text = client.get("/metrics").text
    for name in (
        "headwater_events_accepted_total",
        "headwater_events_duplicate_total",
        'headwater_events_rejected_total{reason="identity"}',
        "headwater_request_seconds_bucket",
        "headwater_writer_batch_events_bucket",
        "headwater_writer_queue_events",
    ):
        assert name in text, name
    assert 'route="/v1/{org}/projects/{project}/track",status="201"' in text
