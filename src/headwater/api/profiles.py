"""Profiles read API (scope `read`): a person by any identifier, and their identity history."""

from __future__ import annotations

import msgspec
from litestar import Response, get, post
from litestar.params import FromPath, RawBody

from headwater.api.errors import JSON
from headwater.api.events import event_paging, page_limit
from headwater.api.params import optional, text
from headwater.api.services import BASE, AnyRequest, services
from headwater.errors import BadRequest
from headwater.identity.history import decode_key
from headwater.profiles import accounts, lookup


@get(f"{BASE}/profiles/lookup", sync_to_thread=True)
def lookup_profile(
    request: AnyRequest, org: FromPath[str], project: FromPath[str]
) -> Response[bytes]:
    hub = services(request)
    principal = hub.principal(request, org, project, "read")
    limit = hub.settings.max_string_length
    user_id = optional(request.query_params, "userId", limit)
    profile_id = optional(request.query_params, "profileId", limit)
    if (user_id is None) == (profile_id is None):
        raise BadRequest("give exactly one of userId or profileId", "userId")
    found = lookup.profile(
        hub.store, principal.project.id, hub.settings.caps,
        user_id=user_id, profile_id=profile_id,
        session_timeout_ms=hub.settings.session_timeout_minutes * 60_000,
    )  # fmt: skip
    return Response(msgspec.json.encode(found), media_type=JSON)


@get(f"{BASE}/profiles/{{person_id:str}}/identity-history", sync_to_thread=True)
def identity_history(
    request: AnyRequest, org: FromPath[str], project: FromPath[str], person_id: FromPath[str]
) -> Response[bytes]:
    """The person's identity history, oldest first, a page at a time (`limit`, `cursor`)."""
    hub = services(request)
    principal = hub.principal(request, org, project, "read")
    limit = page_limit(request.query_params.get("limit"))
    cursor = request.query_params.get("cursor")
    after = decode_key(cursor) if cursor else None
    found = lookup.history(hub.store, principal.project.id, hub.settings.caps, person_id, limit,
                           after)  # fmt: skip
    return Response(msgspec.json.encode(found), media_type=JSON)


@get(f"{BASE}/profiles/{{person_id:str}}/events", sync_to_thread=True)
def person_events(
    request: AnyRequest, org: FromPath[str], project: FromPath[str], person_id: FromPath[str]
) -> Response[bytes]:
    """The person's timeline across all their identifiers, shaped and paged like /events."""
    hub = services(request)
    principal = hub.principal(request, org, project, "read")
    limit, after, descending = event_paging(request.query_params)
    found = lookup.timeline(
        hub.store, principal.project.id, hub.settings.caps, person_id,
        limit, after, descending,
    )  # fmt: skip
    return Response(msgspec.json.encode(found), media_type=JSON)


class SplitRequest(msgspec.Struct, forbid_unknown_fields=True):
    userId: str | None = None
    profileId: str | None = None


@post(f"{BASE}/profiles/{{person_id:str}}/split", sync_to_thread=True, status_code=200)
def split_identifier(
    request: AnyRequest, org: FromPath[str], project: FromPath[str], person_id: FromPath[str],
    body: RawBody,
) -> Response[bytes]:  # fmt: skip
    """Split a userId or profileId off the person (scope `admin`); exact and permanent."""
    hub = services(request)
    principal = hub.principal(request, org, project, "admin")
    try:
        ask = msgspec.json.decode(body, type=SplitRequest)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadRequest(f"invalid split request: {exc}") from None
    if (ask.userId is None) == (ask.profileId is None):
        raise BadRequest("give exactly one of userId or profileId", "userId")
    limit = hub.settings.caps
    _, person = lookup.person_by_id(hub.store, principal.project.id, limit, person_id)
    found = lookup.split(hub.store, principal.project.id, limit, person, ask.userId, ask.profileId)
    return Response(msgspec.json.encode(found), media_type=JSON)


@get(f"{BASE}/accounts/{{account_id:str}}", sync_to_thread=True)
def get_account(
    request: AnyRequest, org: FromPath[str], project: FromPath[str], account_id: FromPath[str]
) -> Response[bytes]:
    """An account with its aliases, attributes and activity (scope `read`)."""
    hub = services(request)
    principal = hub.principal(request, org, project, "read")
    account_id = text("accountId", account_id, hub.settings.max_string_length)
    found = accounts.account(hub.store, principal.project.id, account_id)
    return Response(msgspec.json.encode(found), media_type=JSON)


@get(f"{BASE}/accounts/{{account_id:str}}/members", sync_to_thread=True)
def account_members(
    request: AnyRequest, org: FromPath[str], project: FromPath[str], account_id: FromPath[str]
) -> Response[bytes]:
    """A page of an account's member persons (scope `read`): `limit`, `cursor`."""
    hub = services(request)
    principal = hub.principal(request, org, project, "read")
    account_id = text("accountId", account_id, hub.settings.max_string_length)
    q = request.query_params
    found = accounts.members(
        hub.store, principal.project.id, hub.settings.caps,
        account_id, page_limit(q.get("limit")), q.get("cursor"),
    )  # fmt: skip
    return Response(msgspec.json.encode(found), media_type=JSON)
