"""Consent API (reference §7, issue 6).

POST {BASE}/consents/data                  a consent decision (scope `ingest`, the SDKs' key)
GET  {BASE}/profiles/{id}/consents         a person's status per category and history (`read`)
GET  {BASE}/consents/requirements          the categories events require (`read`)
PUT  {BASE}/consents/requirements          set them (`admin`); takes effect at once
"""

from __future__ import annotations

import asyncio

import msgspec
from litestar import Response, get, post, put
from litestar.params import FromPath, RawBody

from headwater.api.errors import JSON
from headwater.api.events import page_limit
from headwater.api.services import BASE, AnyRequest, services
from headwater.clock import now_ms
from headwater.consent.records import parse_consent
from headwater.errors import BadRequest, PayloadTooLarge
from headwater.metrics import METRICS
from headwater.model import rules
from headwater.model.views import decode_cursor
from headwater.profiles import lookup


@post(f"{BASE}/consents/data", sync_to_thread=True, status_code=200)
def record_consent(
    request: AnyRequest, org: FromPath[str], project: FromPath[str], body: RawBody
) -> Response[bytes]:
    """Record one accept or reject; 200 with `{}`, also for a re-sent (duplicate) record."""
    hub = services(request)
    principal = hub.principal(request, org, project, "ingest")
    settings = hub.settings
    if len(body) > settings.max_object_bytes:
        raise PayloadTooLarge(
            f"a consent body must be at most {settings.max_object_bytes} bytes, got {len(body)}"
        )
    received = now_ms()
    try:
        record = parse_consent(
            body, received, settings.max_string_length, settings.max_future_skew_seconds,
            settings.max_object_depth,
        )  # fmt: skip
    except rules.Invalid as bad:
        METRICS.consents.labels("rejected").inc()
        raise BadRequest(f"{bad.path} {bad.message}".strip(), bad.path or None) from None
    if record.user_id is None and record.source_id is not None:
        hub.auth.source(principal.project, record.source_id)  # NotFound names the sourceId
    stored = hub.store.record_consent(principal.project.id, record, received, principal.key_prefix)
    METRICS.consents.labels("stored" if stored else "duplicate").inc()
    return Response(b"{}", media_type=JSON)


@get(f"{BASE}/profiles/{{person_id:str}}/consents", sync_to_thread=True)
def person_consents(
    request: AnyRequest, org: FromPath[str], project: FromPath[str], person_id: FromPath[str]
) -> Response[bytes]:
    """Status per category, and the history a page at a time (`limit`, `cursor`)."""
    hub = services(request)
    principal = hub.principal(request, org, project, "read")
    limit = page_limit(request.query_params.get("limit"))
    cursor = request.query_params.get("cursor")
    before = decode_cursor(cursor, 3) if cursor else None
    found = lookup.consent_history(
        hub.store, principal.project.id, hub.settings.caps, person_id,
        now_ms(), limit, (before[0], before[1], before[2]) if before else None,
    )  # fmt: skip
    return Response(msgspec.json.encode(found), media_type=JSON)


class Requirements(msgspec.Struct, forbid_unknown_fields=True):
    requiredCategories: list[str]


def _requirements(categories: list[str]) -> Response[bytes]:
    return Response(msgspec.json.encode({"requiredCategories": categories}), media_type=JSON)


# Async with explicit threads: Litestar 2.25 mishandles two sync_to_thread handlers on one path.
@get(f"{BASE}/consents/requirements")
async def get_requirements(
    request: AnyRequest, org: FromPath[str], project: FromPath[str]
) -> Response[bytes]:
    hub = services(request)
    principal = await asyncio.to_thread(hub.principal, request, org, project, "read")
    found = await asyncio.to_thread(hub.store.required_categories, principal.project.id)
    return _requirements(found)


@put(f"{BASE}/consents/requirements", status_code=200)
async def set_requirements(
    request: AnyRequest, org: FromPath[str], project: FromPath[str], body: RawBody
) -> Response[bytes]:
    """The categories a person must not have rejected (nor let expire) for their events to
    be stored; `[]` turns enforcement off."""
    hub = services(request)
    principal = await asyncio.to_thread(hub.principal, request, org, project, "admin")
    try:
        ask = msgspec.json.decode(body, type=Requirements)
        for i, category in enumerate(ask.requiredCategories):
            rules.check_string(f"requiredCategories[{i}]", category,
                               hub.settings.max_string_length, required=True)  # fmt: skip
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadRequest(f"invalid requirements: {exc}", "requiredCategories") from None
    except rules.Invalid as bad:
        raise BadRequest(f"{bad.path} {bad.message}", bad.path) from None
    project_id = principal.project.id
    await asyncio.to_thread(
        hub.store.set_required_categories, project_id, ask.requiredCategories, now_ms()
    )
    return _requirements(await asyncio.to_thread(hub.store.required_categories, project_id))
