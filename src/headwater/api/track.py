"""The Intempt Track API: POST …/track and …/sources/{sourceId}/track (reference §5)."""

from __future__ import annotations

import msgspec
from litestar import Response, post
from litestar.params import FromPath

from headwater.api.body import read_body
from headwater.api.errors import JSON
from headwater.api.services import AnyRequest, services
from headwater.clock import now_ms
from headwater.errors import BadRequest
from headwater.ingest.normalize import parse_body
from headwater.metrics import METRICS
from headwater.model.event import Batch, Context, Rejection

BASE = "/v1/{org:str}/projects/{project:str}"


@post(f"{BASE}/track", status_code=201)
async def track(request: AnyRequest, org: FromPath[str], project: FromPath[str]) -> Response[bytes]:
    return await ingest(request, org, project, None)


@post(f"{BASE}/sources/{{source_id:str}}/track", status_code=201)
async def track_source(
    request: AnyRequest,
    org: FromPath[str],
    project: FromPath[str],
    source_id: FromPath[str],
) -> Response[bytes]:
    return await ingest(request, org, project, source_id)


async def ingest(
    request: AnyRequest,
    org: FromPath[str],
    project: FromPath[str],
    source_id: str | None,
) -> Response[bytes]:
    hub = services(request)
    principal = hub.principal(request, org, project, "ingest")
    if source_id is not None:
        hub.auth.source(principal.project, source_id)
    body = await read_body(request, hub.settings.max_body_bytes)
    ctx = Context(principal.project.id, source_id, principal.key_prefix, now_ms())
    try:
        batch = parse_body(body, ctx, hub.settings)
    except BadRequest as exc:
        # Nothing is silently dropped: even an unreadable body is kept for inspection.
        raw = body.decode("utf-8", "backslashreplace")
        kept = Rejection(None, None, exc.path or "", exc.message, "malformed", raw)
        await hub.writer.submit(Batch(ctx, rejected=[kept]))
        METRICS.rejected.labels("malformed").inc()
        raise
    result = await hub.writer.submit(batch)
    METRICS.accepted.inc(result.accepted)
    METRICS.duplicates.inc(result.duplicates)
    for rejection in batch.rejected:
        METRICS.rejected.labels(rejection.reason).inc()
    report: dict[str, object] = {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": [r.wire() for r in batch.rejected],
    }
    status = 201
    if batch.rejected and not batch.events:
        status = 400
        report["errors"] = [{"message": r.message, "path": r.path} for r in batch.rejected]
    return Response(msgspec.json.encode(report), status_code=status, media_type=JSON)
