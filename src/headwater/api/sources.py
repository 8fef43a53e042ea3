"""Sources of a project (scope `admin`). Ids are strings; numeric ids round-trip exactly."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import Response, get, post
from litestar.params import FromPath, RawBody

from headwater.api.errors import JSON
from headwater.api.params import text
from headwater.api.services import BASE, AnyRequest, services
from headwater.clock import now_ms
from headwater.errors import BadRequest
from headwater.ingest.normalize import msgspec_error
from headwater.tenancy import ids


class NewSource(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    id: str | int | None = None


def _view(source_id: str, name: str) -> dict[str, str]:
    return {"id": source_id, "name": name}


# Async, reading through a thread: Litestar 2.25 fails when two sync_to_thread handlers share
# one path (the GET returned an un-awaited coroutine).
@get(f"{BASE}/sources")
async def list_sources(
    request: AnyRequest, org: FromPath[str], project: FromPath[str]
) -> Response[bytes]:
    hub = services(request)

    def read() -> list[dict[str, str]]:
        principal = hub.principal(request, org, project, "admin")
        return [_view(s.id, s.name) for s in hub.store.list_sources(principal.project.id)]

    body = {"sources": await asyncio.to_thread(read)}
    return Response(msgspec.json.encode(body), media_type=JSON)


@post(f"{BASE}/sources", sync_to_thread=True, status_code=201)
def create_source(
    request: AnyRequest, org: FromPath[str], project: FromPath[str], body: RawBody
) -> Response[bytes]:
    """Create a source, or return the existing one of that name (idempotent by name)."""
    hub = services(request)
    principal = hub.principal(request, org, project, "admin")
    try:
        ask = msgspec.json.decode(body, type=NewSource)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        message, path = msgspec_error(exc)
        raise BadRequest(f"invalid source: {message}", path or None) from None
    if not ask.name.strip() or len(ask.name) > 128:
        raise BadRequest("name must be 1-128 characters, not blank", "name")
    text("name", ask.name, 128)  # NUL: PostgreSQL cannot hold it (finding 7)
    wanted = ids.source_id(ask.id) if ask.id is not None else ids.snowflake()
    source = hub.store.ensure_source(principal.project.id, ask.name, wanted, now_ms())
    if ask.id is not None and source.id != wanted:
        raise BadRequest(f"a source named {ask.name!r} already exists with id {source.id}", "id")
    return Response(
        msgspec.json.encode(_view(source.id, source.name)), status_code=201, media_type=JSON
    )
