"""The Intempt Track API (reference §5), served as raw ASGI in front of Litestar.

POST /v1/{org}/projects/{project}/track
POST /v1/{org}/projects/{project}/sources/{sourceId}/track

Why raw ASGI: track is the hot path. Measured with benchmarks/ingest.py, Litestar's
per-request machinery (routing, parameter extraction, middleware, response conversion)
was 80% of server CPU for single-event requests. Every other route stays in Litestar.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs

import msgspec

from headwater.api.asgi import ASGIApp, Receive, Scope, Send, respond
from headwater.api.body import decode_content, receive_body
from headwater.api.errors import client_message, error_body, error_headers
from headwater.api.observe import notes
from headwater.api.services import Services
from headwater.catalog.track import screen, screened_ids
from headwater.clock import now_ms
from headwater.errors import BadRequest, HeadwaterError
from headwater.ingest.normalize import parse_body
from headwater.metrics import METRICS
from headwater.model.event import Batch, Context, Rejection, raw_text

log = logging.getLogger("headwater.api")

TRACK = "/v1/{org}/projects/{project}/track"
SOURCE_TRACK = "/v1/{org}/projects/{project}/sources/{sourceId}/track"
ROUTES = (TRACK, SOURCE_TRACK)
T = TypeVar("T")


def match(path: str) -> tuple[str, str, str | None, str] | None:
    """(org, project, sourceId or None, route template) when `path` is a track route."""
    parts = path.rstrip("/").split("/")
    if len(parts) < 6 or parts[1] != "v1" or parts[3] != "projects" or parts[-1] != "track":
        return None
    if len(parts) == 6:
        return parts[2], parts[4], None, TRACK
    if len(parts) == 8 and parts[5] == "sources":
        return parts[2], parts[4], parts[6], SOURCE_TRACK
    return None


#: Bodies larger than this are decoded and parsed in a worker thread: gunzip and the
#: byte-level reading of a body with bad items take time in proportion to its size, and the
#: event loop must stay free for every other request (issue 11, finding 6).
OFF_LOOP_BYTES = 64 * 1024


async def _bounded(size: int, work: Callable[..., T], *args: Any) -> T:
    """`work(*args)` here when `size` is small, else in a worker thread."""
    if size > OFF_LOOP_BYTES:
        return await asyncio.to_thread(work, *args)
    return work(*args)


def track_routes(app: ASGIApp, services: Callable[[], Services]) -> ASGIApp:
    """Serve the track routes; hand every other request to `app`."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        route = match(scope["path"]) if scope["type"] == "http" else None
        if route is None:
            await app(scope, receive, send)
            return
        org, project, source_id, scope["path_template"] = route
        extra: list[tuple[bytes, bytes]] = []
        if scope["method"] != "POST":
            status, body = 405, error_body("method not allowed; track accepts POST")
            extra.append((b"allow", b"POST"))
        else:
            try:
                status, body = await ingest(services(), scope, receive, org, project, source_id)
            except HeadwaterError as exc:
                status, body = exc.status, error_body(client_message(exc), exc.path)
                extra += [(k.lower().encode(), v.encode()) for k, v in error_headers(exc).items()]
            except Exception:
                log.exception("unhandled error on track")
                status, body = 500, error_body("internal server error; nothing was stored")
        await respond(send, status, body, extra)

    return asgi


async def ingest(
    hub: Services, scope: Scope, receive: Receive, org: str, project: str, source_id: str | None
) -> tuple[int, bytes]:
    authorization = encoding = length = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == b"content-encoding":
            encoding = value.decode("latin-1")
        elif name == b"content-length" and value.isdigit():
            length = int(value)
    query_key = None
    if authorization is None and scope["query_string"]:
        query_key = parse_qs(scope["query_string"].decode("latin-1")).get("apiKey", [None])[0]
    # A cache miss reads the store: off the event loop, which must never wait on a database.
    noted = notes(scope)  # the access log's: key prefix, item counts
    who = (authorization, query_key, org, project, "ingest", noted)
    principal = hub.auth.cached(*who)
    if principal is None:
        principal = await asyncio.to_thread(hub.auth.authenticate, *who)
    if source_id is not None and not hub.auth.cached_source(principal.project, source_id):
        await asyncio.to_thread(hub.auth.source, principal.project, source_id)
    limit = hub.settings.max_body_bytes
    body = await receive_body(receive, length, limit)
    if encoding is not None:
        body = await _bounded(len(body), decode_content, body, encoding, limit)
    ctx = Context(principal.project.id, source_id, principal.key_prefix, now_ms())
    try:
        batch = await _bounded(len(body), parse_body, body, ctx, hub.settings)
    except BadRequest as exc:
        # Nothing is silently dropped: even an unreadable body is kept for inspection.
        kept = Rejection(None, None, exc.path or "", exc.message, "malformed", raw_text(body))
        unreadable = Batch(ctx, rejected=[kept])
        await hub.writer.submit(unreadable)  # the privacy gate may refuse it instead
        for r in unreadable.rejected:
            METRICS.rejected.labels(r.reason).inc()
        for r in unreadable.refused:
            METRICS.refused.labels(r.reason).inc()
        noted.update(
            accepted=0,
            duplicates=0,
            rejected=len(unreadable.rejected),
            refused=len(unreadable.refused),
        )
        raise
    if batch.products:  # product items creating a product must carry every required field
        ids = screened_ids(batch)
        known = await asyncio.to_thread(hub.store.known_products, ctx.project_id, ids)
        screen(batch, known, hub.settings.max_string_length)
    result = await hub.writer.submit(batch)
    METRICS.accepted.inc(result.accepted)
    METRICS.duplicates.inc(result.duplicates)
    for rejection in batch.rejected:
        METRICS.rejected.labels(rejection.reason).inc()
    for refusal in batch.refused:
        METRICS.refused.labels(refusal.reason).inc()
    noted.update(
        accepted=result.accepted,
        duplicates=result.duplicates,
        rejected=len(batch.rejected),
        refused=len(batch.refused),
    )
    unstored = batch.rejected + batch.refused
    report: dict[str, object] = {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": [r.wire() for r in unstored],
    }
    if unstored and not batch.events:
        report["errors"] = [{"message": r.message, "path": r.path} for r in unstored]
        return 400, msgspec.json.encode(report)
    return 201, msgspec.json.encode(report)
