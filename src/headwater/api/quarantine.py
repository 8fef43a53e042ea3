"""Quarantine API: list what was rejected (scope `read`), replay or dismiss it (scope
`admin`)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Response, get, post
from litestar.params import FromPath, RawBody

from headwater.api.errors import JSON
from headwater.api.events import page_limit, page_response
from headwater.api.services import BASE, AnyRequest, services
from headwater.errors import BadRequest
from headwater.ingest.dismiss import STATUSES, dismiss
from headwater.ingest.replay import replay_pending
from headwater.model.views import decode_cursor, encode_cursor, quarantine_view
from headwater.model.wire import NULL


class ReplayRequest(msgspec.Struct, forbid_unknown_fields=True):
    ids: list[int] | None = None
    item: msgspec.Raw = NULL  # corrected JSON for the single entry in `ids`


EntryId = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]  # what every store's ids hold


class DismissRequest(msgspec.Struct, forbid_unknown_fields=True):
    ids: list[EntryId] | None = None
    status: str | None = None


@get(f"{BASE}/quarantine", sync_to_thread=True)
def list_quarantine(
    request: AnyRequest, org: FromPath[str], project: FromPath[str]
) -> Response[bytes]:
    hub = services(request)
    principal = hub.principal(request, org, project, "read")
    status = request.query_params.get("status", "pending")
    if status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}", "status")
    cursor = request.query_params.get("cursor")
    after = decode_cursor(cursor, 1)[0] if cursor else 0
    limit = page_limit(request.query_params.get("limit"))
    entries = hub.store.list_quarantine(
        principal.project.id, None if status == "all" else status, after, limit + 1
    )
    return page_response("items", entries, limit, quarantine_view, lambda e: encode_cursor(e.id))


@post(f"{BASE}/quarantine/replay", sync_to_thread=True, status_code=200)
def replay_quarantine(
    request: AnyRequest, org: FromPath[str], project: FromPath[str], body: RawBody
) -> Response[bytes]:
    """Replay every pending entry, or those in `ids`; `item` corrects a single entry's JSON."""
    hub = services(request)
    principal = hub.principal(request, org, project, "admin")
    try:
        ask = msgspec.json.decode(body or b"{}", type=ReplayRequest)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadRequest(f"invalid replay request: {exc}") from None
    report = replay_pending(
        hub.store,
        hub.settings,
        principal.project.id,
        set(ask.ids) if ask.ids is not None else None,
        None if bytes(ask.item) == b"null" else bytes(ask.item),
    )
    return Response(msgspec.json.encode(report.wire()), media_type=JSON)


@post(f"{BASE}/quarantine/dismiss", sync_to_thread=True, status_code=200)
def dismiss_quarantine(
    request: AnyRequest, org: FromPath[str], project: FromPath[str], body: RawBody
) -> Response[bytes]:
    """Dismiss the entries in `ids` and/or with `status` (ingest/dismiss.py)."""
    hub = services(request)
    principal = hub.principal(request, org, project, "admin")
    try:
        ask = msgspec.json.decode(body or b"{}", type=DismissRequest)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadRequest(f"invalid dismiss request: {exc}") from None
    report = dismiss(
        hub.store, principal.project.id, ask.ids, ask.status, f"key {principal.key_prefix}"
    )
    return Response(msgspec.json.encode(report.wire()), media_type=JSON)
