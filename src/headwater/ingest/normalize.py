"""Track body → accepted event rows and rejections (ARCHITECTURE §1, invariants 2 and 3).

Groups and items are decoded one at a time from raw JSON, so a bad item is rejected
alone, keeps its exact bytes for quarantine, and never sinks the rest of its batch.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from msgspec.structs import astuple

from headwater.catalog import track as catalog_track
from headwater.config import Settings
from headwater.errors import BadRequest, PayloadTooLarge
from headwater.model import jsontext, rules
from headwater.model.event import Batch, Context, EventRow, Rejection, raw_text
from headwater.model.wire import (
    ID_FIELDS,
    ITEM_FIELDS,
    Group,
    Groups,
    Item,
    LenientItem,
)

_IDENTITY_RULE = (
    "at least one of userId, profileId, accountId or productId must carry a real identifier "
    '(placeholders such as "undefined", "null", "0" or "[object Object]" do not count)'
)


def msgspec_error(exc: Exception) -> tuple[str, str]:
    """(message, path) from a msgspec error such as "Expected `str` - at `$.userId`"."""
    text = str(exc)
    message, _, where = text.partition(" - at `")
    path = where.rstrip("`").removeprefix("$").lstrip(".")
    return message, path


def _join(prefix: str, path: str) -> str:
    if not path:
        return prefix
    return f"{prefix}{path}" if path.startswith("[") else f"{prefix}.{path}"


def _text(raw: msgspec.Raw) -> str:
    return raw_text(bytes(raw))


def _rejected(i: int, bad: rules.Invalid, raw: msgspec.Raw) -> Rejection:
    return Rejection(i, None, bad.path, bad.message, bad.reason, _text(raw))


def _kind(data: bytes, at: int) -> str:
    return "nothing" if at >= len(data) else rules.json_kind(data[at:])


def split_envelope(body: bytes) -> list[msgspec.Raw]:
    """The raw groups of a track body, each its exact bytes, whatever they hold (our own
    reading: a group with a bad value inside is cut out, not the whole body refused);
    BadRequest when the body is not a JSON object with a `track` array."""
    start = len(body) - len(body.lstrip(b" \t\r\n"))
    if body[start : start + 1] != b"{":
        found = "an empty body" if start >= len(body) else _kind(body, start)
        raise BadRequest(f"invalid track envelope: expected a JSON object, got {found}")
    try:
        spans = jsontext.members(body)
        if "track" not in spans:
            raise BadRequest("invalid track envelope: Object missing required field `track`")
        at = spans["track"][0]
        if body[at : at + 1] != b"[":
            raise BadRequest(
                f"invalid track envelope: Expected `array`, got {_kind(body, at)}", "track"
            )
        groups = jsontext.elements(body, at)
    except jsontext.Malformed as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    return [msgspec.Raw(body[a:b]) for a, b in groups]


def parse_body(body: bytes, ctx: Context, settings: Settings) -> Batch:
    parsed = Batch(ctx)
    groups: list[tuple[int, Group | None, msgspec.Raw | None]]
    try:
        track = msgspec.json.decode(body, type=Groups).track
        groups = [(i, g, None) for i, g in enumerate(track)]
    except Exception:  # however the library refuses: split by our own reading, reject alone
        raw_groups = split_envelope(body)
        groups = [(i, decode_group(raw, i, parsed), raw) for i, raw in enumerate(raw_groups)]
    items = sum(len(group.payload) for _, group, _ in groups if group is not None)
    if items > settings.max_items_per_request:
        raise PayloadTooLarge(
            f"request carries {items} payload items; at most "
            f"{settings.max_items_per_request} are accepted per request",
            "track",
        )
    for i, group, raw in groups:
        if group is not None:
            parse_group(group, i, raw, ctx, settings, parsed)
    return parsed


def decode_group(raw: msgspec.Raw, i: int, parsed: Batch) -> Group | None:
    """The group, its items still raw; None (and the group rejected) when its own fields
    are bad. Items are cut out by byte span, so a bad one is judged on its own later."""
    try:
        return msgspec.json.decode(raw, type=Group)
    except Exception:  # the library's verdict is not ours: read the group ourselves
        pass
    data, where = bytes(raw), f"track[{i}]"
    try:
        if not data.startswith(b"{"):
            raise rules.Invalid(where, f"must be a JSON object, got {_kind(data, 0)}", "envelope")
        payload = jsontext.members(data).get("payload")
        items = None
        if payload is not None and data[payload[0]] == ord("["):
            items = [msgspec.Raw(data[a:b]) for a, b in jsontext.elements(data, payload[0])]
            data = data[: payload[0]] + b"[]" + data[payload[1] :]  # the rest on its own
        found = jsontext.problem(data, where)
        if found is not None:
            raise rules.Invalid(*found)
        group = msgspec.json.decode(data, type=Group)
    except jsontext.Malformed as exc:
        bad = rules.Invalid(where, f"is not a valid group: {exc}", "envelope")
    except rules.Invalid as exc:
        bad = exc
    except msgspec.ValidationError as exc:
        message, path = msgspec_error(exc)
        bad = rules.Invalid(_join(where, path), message, "envelope")
    except Exception as exc:  # sound JSON the library still refuses: reject, never a 500
        bad = rules.Invalid(where, f"could not be read: {exc}", "envelope")
    else:
        if items is not None:
            group.payload = items
        return group
    parsed.rejected.append(_rejected(i, bad, raw))
    return None


def parse_group(
    group: Group, i: int, raw: msgspec.Raw | None, ctx: Context, settings: Settings, parsed: Batch
) -> None:
    prefix = f"track[{i}]"
    try:
        rules.check_string("name", group.name, settings.max_string_length, required=True)
        if group.type is not None:
            rules.check_string("type", group.type, settings.max_string_length)
    except rules.Invalid as bad:
        text = _text(raw) if raw is not None else msgspec.json.encode(group).decode()
        parsed.rejected.append(
            Rejection(i, None, _join(prefix, bad.path), bad.message, bad.reason, text)
        )
        return
    lines: dict[str, int] = {}
    # The group's eventId (see build_row): its first item's; when that item has none, the
    # first stored item's.
    group_id: str | None = None
    for j, raw_item in enumerate(group.payload):
        where = f"{prefix}.payload[{j}]"
        item: Item | None = None
        try:
            item, extra = decode_item(raw_item)
            event_id = item.eventId
        except rules.Invalid as bad:
            failure, event_id = bad, _event_id_of(raw_item)
        if not rules.is_identity(event_id):
            event_id = None  # no id, or a placeholder such as "undefined": a server id follows
        # Lines count every item sharing the eventId, valid or not, so a replayed line
        # keeps its own number and never collides with a sibling's.
        line = 0
        if event_id is not None:
            line = lines.get(event_id, 0)
            lines[event_id] = line + 1
        if j == 0:
            group_id = event_id
        if item is not None:
            try:
                row = build_row(item, extra, group.name, group.type, line, ctx, settings,
                                group_id)  # fmt: skip
                group_id = group_id or row.event_id
                if catalog_track.is_product(row):
                    parsed.products.append((len(parsed.events), i, j, _text(raw_item)))
                parsed.events.append(row)
                parsed.origins.append((i, j))
                continue
            except rules.Invalid as bad:
                failure = bad
        parsed.rejected.append(
            Rejection(
                i,
                j,
                _join(where, failure.path),
                failure.message,
                failure.reason,
                _text(raw_item),
                group.name,
                group.type,
                line,
            )
        )


def _event_id_of(raw: msgspec.Raw) -> str | None:
    """The eventId of an item that failed to decode, when it is still readable."""
    found = jsontext.member(bytes(raw), "eventId")
    return found if isinstance(found, str) else None


def decode_item(raw: msgspec.Raw) -> tuple[Item, str | None]:
    """The item and the JSON of any fields outside the wire schema (kept, not dropped).

    A failed decode is explained by our own reading of the bytes (issue 11), so every
    library version gives the same verdict: encoding, numbers, grammar; else the schema.
    """
    try:
        return msgspec.json.decode(raw, type=Item), None
    except Exception as exc:
        failure = exc
    data = bytes(raw)
    bad = jsontext.problem(data)
    if bad is not None:
        raise rules.Invalid(*bad)
    if not isinstance(failure, msgspec.ValidationError):  # not ours to explain: say so plainly
        raise rules.Invalid("", f"could not be read: {failure}", "malformed")
    whole: Any = msgspec.json.decode(data)  # sound JSON now: only its shape is wrong
    if isinstance(whole, dict):
        unknown = {k: v for k, v in whole.items() if k not in ITEM_FIELDS}
        if unknown:
            try:  # the known fields, objects still as raw as sent
                item = msgspec.json.decode(data, type=LenientItem)
            except msgspec.ValidationError as exc:
                failure = exc
            else:
                return item, msgspec.json.encode(unknown).decode()
    message, path = msgspec_error(failure)
    raise rules.Invalid(path, message, "type")


def build_row(
    item: Item,
    extra: str | None,
    name: str,
    type_: str | None,
    line: int,
    ctx: Context,
    settings: Settings,
    group_id: str | None = None,
) -> EventRow:
    """The row of one valid item; `group_id`: the eventId of its group's first item (the
    SDK call that sent it), stored when it is not the item's own."""
    limit = settings.max_string_length
    ids = astuple(item)[: len(ID_FIELDS)]  # Item declares the id fields first, in this order
    for field, value in zip(ID_FIELDS, ids, strict=True):
        if value is not None:
            rules.check_string(field, value, limit)
    if not (
        rules.is_identity(item.userId)
        or rules.is_identity(item.profileId)
        or rules.is_identity(item.accountId)
        or rules.is_identity(item.productId)
    ):
        raise rules.Invalid("", _IDENTITY_RULE, "identity")
    if item.timestamp is None:
        timestamp = ctx.received_at
    else:
        timestamp = rules.parse_timestamp(item.timestamp, limit)
        rules.check_time_bounds(timestamp, ctx.received_at, settings.max_future_skew_seconds)
    size, depth = settings.max_object_bytes, settings.max_object_depth
    data = rules.object_text("data", item.data, size, depth)
    if rules.is_identity(item.productId):
        catalog_track.fields_of(item.productId, data, limit)
    event_id = item.eventId if rules.is_identity(item.eventId) else str(uuid.uuid4())
    return EventRow(
        ctx.project_id,
        ctx.source_id,
        name,
        event_id,
        line,
        type_,
        item.profileId,
        item.userId,
        item.accountId,
        item.sessionId,
        item.pageId,
        item.anotherUserId,
        item.anotherAccountId,
        item.productId,
        timestamp,
        ctx.received_at,
        data,
        rules.object_text("userAttributes", item.userAttributes, size, depth),
        rules.object_text("accountAttributes", item.accountAttributes, size, depth),
        rules.object_text("sessionAttributes", item.sessionAttributes, size, depth),
        extra,
        ctx.key_prefix,
        group_id if group_id != event_id else None,
    )
