"""Read API for events (scope `read`): filtered, cursor-paginated, read-your-writes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec
from litestar import Response, get
from litestar.params import FromPath

from headwater.api.errors import JSON
from headwater.api.params import optional, text
from headwater.api.services import BASE, AnyRequest, services
from headwater.errors import BadRequest, NotFound
from headwater.model import rules
from headwater.model.views import decode_cursor, event_cursor, event_view
from headwater.store.base import EventQuery

MAX_LIMIT = 1000
T = TypeVar("T")


def page_response(
    name: str,
    rows: Sequence[T],
    limit: int,
    view: Callable[[T], Any],
    cursor: Callable[[T], str],
) -> Response[bytes]:
    """`{name: [...], "next": cursor}` for the first `limit` of `rows`, which the caller
    fetched as `limit + 1`: the extra row only says that another page follows."""
    shown = rows[:limit]
    body = {
        name: [view(r) for r in shown],
        "next": cursor(shown[-1]) if len(rows) > limit else None,
    }
    return Response(msgspec.json.encode(body), media_type=JSON)


def _time(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        ms = rules.parse_timestamp(value, 64)
    except rules.Invalid as bad:
        raise BadRequest(f"{name} {bad.message}", name) from None
    if not -(2**63) <= ms < 2**63:
        raise BadRequest(f"{name} is out of range", name)
    return ms


def page_limit(value: str | None, default: int = 100) -> int:
    if value is None:
        return default
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}", "limit")
    return int(value)


def event_paging(params: Any) -> tuple[int, tuple[int, int] | None, bool]:
    """(limit, after, descending) from the `limit`, `cursor` and `order` of an events page."""
    order = params.get("order", "asc")
    if order not in ("asc", "desc"):
        raise BadRequest("order must be asc or desc", "order")
    cursor = params.get("cursor")
    after = decode_cursor(cursor, 2) if cursor else None
    return page_limit(params.get("limit")), (after[0], after[1]) if after else None, order == "desc"


def selected(params: Any, project_id: int, max_length: int, **paging: Any) -> EventQuery:
    """The events the filters of `params` select (userId, profileId, accountId, eventName,
    from, to): shared by the events page and the export."""
    return EventQuery(
        project_id,
        user_id=optional(params, "userId", max_length),
        profile_id=optional(params, "profileId", max_length),
        account_id=optional(params, "accountId", max_length),
        event_name=optional(params, "eventName", max_length),
        since=_time("from", params.get("from")),
        until=_time("to", params.get("to")),
        **paging,
    )


@get(f"{BASE}/events", sync_to_thread=True)
def list_events(request: AnyRequest, org: FromPath[str], project: FromPath[str]) -> Response[bytes]:
    hub = services(request)
    principal = hub.principal(request, org, project, "read")
    q = request.query_params
    limit, after, descending = event_paging(q)
    query = selected(
        q, principal.project.id, hub.settings.max_string_length,
        after=after, descending=descending, limit=limit + 1,
    )  # fmt: skip
    rows = hub.store.query_events(query)
    return page_response("events", rows, limit, event_view, event_cursor)


@get(f"{BASE}/events/{{event_id:str}}", sync_to_thread=True)
def get_event(
    request: AnyRequest,
    org: FromPath[str],
    project: FromPath[str],
    event_id: FromPath[str],
) -> Response[bytes]:
    """Every stored event with this eventId: order lines and page view/leave share one."""
    hub = services(request)
    principal = hub.principal(request, org, project, "read")
    event_id = text("eventId", event_id, hub.settings.max_string_length)
    rows = hub.store.query_events(
        EventQuery(principal.project.id, event_id=event_id, limit=MAX_LIMIT)
    )
    if not rows:
        raise NotFound(f"no event with eventId {event_id!r}", "eventId")
    return Response(msgspec.json.encode({"events": [event_view(r) for r in rows]}), media_type=JSON)
