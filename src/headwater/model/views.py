"""JSON views of stored rows for the read API. Stored JSON text is embedded, not re-parsed."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import msgspec

from headwater.errors import BadRequest
from headwater.model.event import EVENT_COLUMNS
from headwater.store.base import QuarantineEntry

_WIRE_NAMES = {
    "event_name": "eventName",
    "event_id": "eventId",
    "type": "type",
    "line": "line",
    "source_id": "sourceId",
    "profile_id": "profileId",
    "user_id": "userId",
    "account_id": "accountId",
    "session_id": "sessionId",
    "page_id": "pageId",
    "another_user_id": "anotherUserId",
    "another_account_id": "anotherAccountId",
    "product_id": "productId",
    "timestamp": "timestamp",
    "received_at": "receivedAt",
}
_OBJECTS = {
    "data": "data",
    "user_attributes": "userAttributes",
    "account_attributes": "accountAttributes",
    "session_attributes": "sessionAttributes",
    "extra": "extra",
}
_POSITION = {name: i for i, name in enumerate(EVENT_COLUMNS)}
#: Stored column → field of an event's view, in the order the view lists them.
EVENT_FIELDS = {**_WIRE_NAMES, **_OBJECTS}


def event_view(row: Sequence[object]) -> dict[str, object]:
    view: dict[str, object] = {wire: row[_POSITION[col]] for col, wire in _WIRE_NAMES.items()}
    for col, wire in _OBJECTS.items():
        text = row[_POSITION[col]]
        view[wire] = msgspec.Raw(text.encode()) if isinstance(text, str) else None
    return view


def event_cursor(row: Sequence[object]) -> str:
    """The cursor after `row`, a query row ending in `seq`."""
    timestamp, seq = row[_POSITION["timestamp"]], row[-1]
    assert isinstance(timestamp, int) and isinstance(seq, int)
    return encode_cursor(timestamp, seq)


def quarantine_view(entry: QuarantineEntry) -> dict[str, object]:
    return {
        "id": entry.id,
        "group": entry.group,
        "item": entry.item,
        "path": entry.path,
        "reason": entry.reason,
        "message": entry.message,
        "eventName": entry.event_name,
        "type": entry.type,
        "line": entry.line,
        "sourceId": entry.source_id,
        "keyPrefix": entry.key_prefix,
        "receivedAt": entry.received_at,
        "status": entry.status,
        "resolvedAt": entry.resolved_at,
        "raw": entry.raw,
        "kind": entry.kind,
    }


def encode_cursor(*parts: int) -> str:
    return base64.urlsafe_b64encode(":".join(map(str, parts)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, count: int) -> tuple[int, ...]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        parts = tuple(int(p) for p in text.split(":"))
    except ValueError:
        parts = ()
    if len(parts) != count or not all(-(2**63) <= p < 2**63 for p in parts):
        raise BadRequest("cursor is not one this API returned", "cursor")
    return parts


def encode_key_cursor(key: str) -> str:
    """The cursor after a row ordered by a text key (a product id)."""
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_key_cursor(cursor: str) -> str:
    try:
        key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:
        key = "\x00"
    if "\x00" in key:  # no key holds NUL, and PostgreSQL refuses it (finding 7)
        raise BadRequest("cursor is not one this API returned", "cursor")
    return key
