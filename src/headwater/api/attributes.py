"""Attribute strategies of a project: GET (scope `read`) and PUT (scope `admin`)."""

from __future__ import annotations

import msgspec
from litestar import Response, get, put
from litestar.params import FromPath, RawBody

from headwater.api.errors import JSON
from headwater.api.services import BASE, AnyRequest, services
from headwater.clock import now_ms
from headwater.errors import BadRequest
from headwater.model import rules
from headwater.profiles.attributes import check_strategy


class StrategyRequest(msgspec.Struct, forbid_unknown_fields=True):
    strategy: str


@get(f"{BASE}/attributes", sync_to_thread=True)
def list_strategies(
    request: AnyRequest, org: FromPath[str], project: FromPath[str]
) -> Response[bytes]:
    hub = services(request)
    principal = hub.principal(request, org, project, "read")
    found = hub.store.attribute_strategies(principal.project.id)
    body = {"default": "latest", "attributes": dict(sorted(found.items()))}
    return Response(msgspec.json.encode(body), media_type=JSON)


@put(f"{BASE}/attributes/{{name:str}}", sync_to_thread=True, status_code=200)
def set_strategy(
    request: AnyRequest, org: FromPath[str], project: FromPath[str], name: FromPath[str],
    body: RawBody,
) -> Response[bytes]:  # fmt: skip
    """Set how one user attribute folds: latest, first or most_frequent (scope `admin`)."""
    hub = services(request)
    principal = hub.principal(request, org, project, "admin")
    try:
        rules.check_string("name", name, hub.settings.max_string_length, required=True)
        ask = msgspec.json.decode(body, type=StrategyRequest)
    except rules.Invalid as bad:
        raise BadRequest(f"attribute name {bad.message}", "name") from None
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadRequest(f"invalid strategy request: {exc}", "strategy") from None
    strategy = check_strategy(ask.strategy)
    hub.store.set_attribute_strategy(principal.project.id, name, strategy, now_ms())
    return Response(msgspec.json.encode({"name": name, "strategy": strategy}), media_type=JSON)
