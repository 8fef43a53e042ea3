"""Privacy API (issue 6): access and erasure requests for one person.

GET  {BASE}/privacy/export?userId=…|profileId=…   the person's data as one JSON document (`read`)
POST {BASE}/privacy/erase                          erase the person, optionally suppress (`admin`)
GET  {BASE}/privacy/erasures                       when erasures happened and what they removed
"""

from __future__ import annotations

import msgspec
from litestar import Response, get, post
from litestar.params import FromPath, RawBody
from litestar.response import Stream

from headwater.api.errors import JSON
from headwater.api.services import BASE, AnyRequest, services
from headwater.clock import now_ms
from headwater.consent import export as exporting
from headwater.consent import requests
from headwater.errors import BadRequest


@get(f"{BASE}/privacy/export", sync_to_thread=True)
def export(request: AnyRequest, org: FromPath[str], project: FromPath[str]) -> Stream:
    hub = services(request)
    principal = hub.principal(request, org, project, "read")
    user_id = request.query_params.get("userId")
    profile_id = request.query_params.get("profileId")
    requests.check_identifier(user_id, profile_id, hub.settings.max_string_length)
    chunks = exporting.export(
        hub.store, principal.project.id, hub.settings.caps,
        hub.settings.session_timeout_minutes * 60_000, user_id, profile_id, now_ms(),
    )  # fmt: skip
    return Stream(chunks, media_type=JSON)


class EraseRequest(msgspec.Struct, forbid_unknown_fields=True):
    userId: str | None = None
    profileId: str | None = None
    suppress: bool = False


@post(f"{BASE}/privacy/erase", sync_to_thread=True, status_code=200)
def erase(
    request: AnyRequest, org: FromPath[str], project: FromPath[str], body: RawBody
) -> Response[bytes]:
    """Erase every trace of the person of the identifier; the erasure's report."""
    hub = services(request)
    principal = hub.principal(request, org, project, "admin")
    try:
        ask = msgspec.json.decode(body, type=EraseRequest)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadRequest(f"invalid erase request: {exc}") from None
    found = requests.erase(
        hub.store, principal.project.id, hub.settings, ask.userId, ask.profileId, ask.suppress,
        f"key {principal.key_prefix}",
    )  # fmt: skip
    return Response(msgspec.json.encode(found), media_type=JSON)


@get(f"{BASE}/privacy/erasures", sync_to_thread=True)
def list_erasures(
    request: AnyRequest, org: FromPath[str], project: FromPath[str]
) -> Response[bytes]:
    hub = services(request)
    principal = hub.principal(request, org, project, "admin")
    found = hub.store.list_erasures(principal.project.id)
    return Response(msgspec.json.encode({"erasures": found}), media_type=JSON)
