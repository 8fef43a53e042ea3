"""Operations endpoints: liveness, readiness and Prometheus metrics (no auth, no tenant data)."""

from __future__ import annotations

from litestar import Response, get

from headwater.api.errors import JSON, client_message, error_response
from headwater.api.services import AnyRequest, services
from headwater.errors import HeadwaterError
from headwater.metrics import METRICS


@get("/healthz")
async def healthz() -> Response[bytes]:
    return Response(b'{"status":"ok"}', media_type=JSON)


@get("/readyz", sync_to_thread=True)
def readyz(request: AnyRequest) -> Response[bytes]:
    hub = services(request)
    try:
        hub.store.ping()
    except HeadwaterError as exc:  # the store's own words stay in the log (finding 7)
        return error_response(503, client_message(exc), headers={"Retry-After": "1"})
    if not hub.writer.alive:
        return error_response(503, "writer thread is not running", headers={"Retry-After": "1"})
    return Response(b'{"status":"ready"}', media_type=JSON)


@get("/metrics")
async def metrics() -> Response[bytes]:
    return Response(METRICS.render(), media_type="text/plain; version=0.0.4")
