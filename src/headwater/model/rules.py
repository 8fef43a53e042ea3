"""Validation rules for one payload item (ARCHITECTURE §2). Pure functions, no I/O.

Each rule raises `Invalid` naming the field (`path`), the rule (`message`) and a short
`reason` code used for the rejected-by-reason metric.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any, TypeGuard

import msgspec

from headwater.model import jsontext
from headwater.model.wire import NULL

#: 2010-01-01T00:00:00Z in epoch milliseconds: the reference's LOW_TIMESTAMP_LIMIT.
EARLIEST_MS = 1_262_304_000_000

#: Values clients send when they have no identifier (JS `String(undefined)` and friends).
#: Compared case-insensitively after trimming; they never count as an identity.
BLOCKED_IDENTITIES = frozenset(
    {
        "",
        "0",
        "-1",
        "null",
        "undefined",
        "none",
        "nan",
        "nil",
        "true",
        "false",
        "anonymous",
        "guest",
        "[object object]",
        "{}",
        "[]",
    }
)


#: An integer as text: ASCII digits only ("²".isdigit() is True, and int() refuses "--5").
INTEGER = re.compile(r"-?[0-9]+")


class Invalid(Exception):
    def __init__(self, path: str, message: str, reason: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        self.reason = reason


def is_identity(value: str | None) -> TypeGuard[str]:
    """True when `value` can identify a person, account or product."""
    return value is not None and value.strip().lower() not in BLOCKED_IDENTITIES


def check_string(path: str, value: str, max_length: int, required: bool = False) -> None:
    """Length and content of a string field; `required` ones must not be blank either.

    NUL is refused everywhere: PostgreSQL text cannot hold it, and no identifier needs it.
    """
    if len(value) > max_length:
        raise Invalid(path, f"must be at most {max_length} characters, got {len(value)}", "length")
    if "\x00" in value:
        raise Invalid(path, "must not contain the NUL character (\\u0000)", "content")
    if required and not value.strip():
        raise Invalid(path, "must not be empty or blank", "empty")


def format_ms(ms: int) -> str:
    try:
        return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds")
    except (ValueError, OverflowError, OSError):
        return "outside the calendar"


def parse_timestamp(value: int | float | str, max_length: int) -> int:
    """Epoch milliseconds from epoch ms (number or digit string) or an ISO-8601 string."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Invalid("timestamp", "must be a finite number of epoch milliseconds", "timestamp")
        return math.floor(value)
    if isinstance(value, int):
        return value
    text = value.strip()
    if len(text) > max_length:
        raise Invalid("timestamp", f"must be at most {max_length} characters", "length")
    if INTEGER.fullmatch(text):
        return int(text)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(
            "timestamp",
            f"must be epoch milliseconds or an ISO-8601 date-time, got {value!r}",
            "timestamp",
        ) from None
    if moment.tzinfo is None:  # an offset-less time is read as UTC, as documented
        moment = moment.replace(tzinfo=dt.UTC)
    return math.floor(moment.timestamp() * 1000)


def check_time_bounds(ms: int, received_ms: int, max_skew_seconds: int) -> None:
    if ms < EARLIEST_MS:
        raise Invalid(
            "timestamp",
            f"{ms} ({format_ms(ms)}) is before "
            f"the earliest accepted time 2010-01-01T00:00:00.000+00:00 ({EARLIEST_MS})",
            "timestamp",
        )
    latest = received_ms + max_skew_seconds * 1000
    if ms > latest:
        raise Invalid(
            "timestamp",
            f"{ms} ({format_ms(ms)}) is more than {max_skew_seconds} s after the receive time; "
            f"the latest accepted now is {latest} ({format_ms(latest)})",
            "timestamp",
        )


def object_text(path: str, raw: msgspec.Raw, max_bytes: int, max_depth: int) -> str | None:
    """The JSON text of an object field, or None when absent or null."""
    if raw is NULL:
        return None
    body = bytes(raw)
    if body == b"null":
        return None
    if not body.startswith(b"{"):
        raise Invalid(path, f"must be a JSON object, got {json_kind(body)}", "type")
    if len(body) > max_bytes:
        raise Invalid(path, f"must be at most {max_bytes} bytes of JSON, got {len(body)}", "size")
    try:  # every value must be one a reader decodes back (issue 11: 1e400 poisoned reads)
        value = jsontext.decoded(body, path)
    except jsontext.Unreadable as exc:
        if exc.problem.reason == "depth":  # past what a decoder reads: name our own limit
            rule = (
                f"must be nested at most {max_depth} levels, got more than {jsontext.MAX_NESTING}"
            )
            raise Invalid(path, rule, "depth") from None
        raise Invalid(*exc.problem) from None
    # Brackets inside strings only overcount, so the cheap count can only send a shallow
    # object down the exact path, never let a deep one through.
    if body.count(b"{") + body.count(b"[") > max_depth:
        depth = depth_of(value)
        if depth > max_depth:
            raise Invalid(path, f"must be nested at most {max_depth} levels, got {depth}", "depth")
    return body.decode("utf-8")


def depth_of(value: Any) -> int:
    """How deeply `value` nests (an object of scalars is 1, a scalar 0); iterative, so any
    depth."""
    if not isinstance(value, dict | list):
        return 0
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        deepest = max(deepest, level)
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, level + 1))
    return deepest


def json_kind(body: bytes) -> str:
    """What kind of JSON value `body` starts, for messages ("an array", "a string", …)."""
    first = body[:1]
    if first == b"{":
        return "an object"
    if first == b"[":
        return "an array"
    if first == b"n":
        return "null"
    if first == b'"':
        return "a string"
    if first in (b"t", b"f"):
        return "a boolean"
    if first and first in b"-0123456789NI":  # NaN and Infinity are refused as numbers
        return "a number"
    return "a bare word (not JSON)"
