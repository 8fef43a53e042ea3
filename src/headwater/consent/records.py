"""A consent decision from the wire (reference §7, issue 6): validated and normalized.

`POST …/consents/data` takes one flat object. Clients disagree on units, so times are read
leniently but never guessed silently: every reading is documented in docs/api.md.

- `timestamp`: epoch seconds or milliseconds (a number above 10^12 is milliseconds), a digit
  string of either, or ISO-8601; absent is the receive time; before 2010 is refused.
- `validUntil`: the same forms, `"unlimited"` (also absent or null), or a number of seconds
  below the 2010 bound, read as a duration from `timestamp` (the iOS SDK sends `31536000`
  for one year).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from typing import Any

import msgspec

from headwater.model import jsontext
from headwater.model.rules import (
    EARLIEST_MS,
    INTEGER,
    Invalid,
    check_string,
    check_time_bounds,
    depth_of,
    format_ms,
    is_identity,
    parse_timestamp,
)

ACTIONS = ("accept", "reject")
MILLISECONDS_ABOVE = 10**12  # a larger epoch number is milliseconds (year 2001 on)
EARLIEST_S = EARLIEST_MS // 1000
LATEST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: a validUntil past it is a bug
#: Optional fields that must be strings; these and any others are kept as sent.
TEXT_FIELDS = ("email", "message", "reason", "method", "source")
_KNOWN = {"action", "timestamp", "validUntil", "category", "userId", "profileId", "sourceId"}


@dataclasses.dataclass(frozen=True)
class ConsentRecord:
    """One decision, in the column order of the `consents` table after `digest`."""

    user_id: str | None
    profile_id: str | None
    source_id: str | None
    category: str | None  # None: a general decision, for every category
    action: str  # accept | reject
    timestamp: int  # epoch ms
    valid_until: int | None  # epoch ms; None: unlimited
    details: dict[str, Any]  # email, message, reason, method, deviceInfo, source, others

    @property
    def digest(self) -> str:
        """Identifies the record by content: a re-sent record is stored once."""
        return hashlib.sha256(msgspec.json.encode(self, order="sorted")).hexdigest()


def parse_consent(
    body: bytes, received_ms: int, max_string_length: int, max_skew_seconds: int,
    max_depth: int,
) -> ConsentRecord:  # fmt: skip
    """The record a request body describes; Invalid names the field and the rule."""
    try:  # our own reading (issue 11): the same verdict whatever the msgspec version
        fields = jsontext.decoded(body)
    except jsontext.Unreadable as exc:
        raise Invalid(*exc.problem) from None
    if not isinstance(fields, dict):
        raise Invalid("", "the body must be one JSON object (consent is not batched)", "type")
    for name, value in fields.items():
        if depth_of(value) > max_depth:
            raise Invalid(name, f"must be nested at most {max_depth} levels", "depth")

    def text(name: str) -> str | None:
        value = fields.get(name)
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool) and name == "sourceId":
            value = str(value)  # int64 on the wire; strings keep 19-digit ids exact
        if not isinstance(value, str):
            raise Invalid(name, f"must be a string, got {type(value).__name__}", "type")
        check_string(name, value, max_string_length)
        return value

    action = text("action")
    if action not in ACTIONS:
        got = "nothing" if action is None else repr(action)
        raise Invalid("action", f"must be 'accept' or 'reject', got {got}", "action")
    user_id, profile_id, source_id = text("userId"), text("profileId"), text("sourceId")
    user_id = user_id if is_identity(user_id) else None
    profile_id = profile_id if is_identity(profile_id) else None
    if user_id is None and profile_id is None:
        raise Invalid("userId", "give a userId, or a profileId with its sourceId", "identity")
    if user_id is None and not (source_id and source_id.strip()):
        raise Invalid("sourceId", "is required when the consent names a profileId only", "source")
    category = text("category")
    if category is not None and not category.strip():
        category = None  # blank: a general decision, as when absent
    timestamp = received_ms
    if fields.get("timestamp") is not None:
        timestamp = epoch_ms("timestamp", fields["timestamp"], max_string_length)
        check_time_bounds(timestamp, received_ms, max_skew_seconds)
    valid_until = _valid_until(fields.get("validUntil"), timestamp, max_string_length)
    for name in TEXT_FIELDS:  # any length: the body size bounds them (consent texts are long)
        value = fields.get(name)
        if value is not None and not isinstance(value, str):
            raise Invalid(name, f"must be a string, got {type(value).__name__}", "type")
    details = {name: value for name, value in fields.items() if name not in _KNOWN}
    return ConsentRecord(
        user_id, profile_id, source_id, category, action, timestamp, valid_until, details
    )


def epoch_ms(path: str, value: Any, max_length: int) -> int:
    """Epoch milliseconds from seconds or milliseconds (number or digits) or ISO-8601."""
    number = _number(path, value)
    if number is None:
        return _iso(path, value, max_length)
    return math.floor(number if abs(number) > MILLISECONDS_ABOVE else number * 1000)


def _valid_until(value: Any, timestamp: int, max_length: int) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() == "unlimited"):
        return None
    number = _number("validUntil", value)
    if number is None:
        ms = _iso("validUntil", value, max_length)
    elif number <= 0:
        raise Invalid("validUntil", f"must be positive or 'unlimited', got {value!r}", "validUntil")
    elif number < EARLIEST_S:  # seconds below the 2010 bound: a duration (iOS sends 31536000)
        ms = timestamp + math.floor(number * 1000)
    else:
        ms = math.floor(number if number > MILLISECONDS_ABOVE else number * 1000)
    if ms > LATEST_MS:
        raise Invalid("validUntil", f"{value!r} is after 9999-12-31", "validUntil")
    if ms <= timestamp:
        raise Invalid(
            "validUntil",
            f"{ms} ({format_ms(ms)}) must be after the consent's timestamp {timestamp} "
            f"({format_ms(timestamp)})",
            "validUntil",
        )
    return ms


def _number(path: str, value: Any) -> int | float | None:
    """The number `value` holds (a JSON number or a string of digits); None for other text."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Invalid(path, f"must be a number or a string, got {type(value).__name__}", path)
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid(path, "must be a finite number", path)
    if isinstance(value, str):
        digits = value.strip()
        return int(digits) if INTEGER.fullmatch(digits) and len(digits) < 20 else None
    return value


def _iso(path: str, value: str, max_length: int) -> int:
    try:
        return parse_timestamp(value, max_length)
    except Invalid:
        raise Invalid(
            path,
            f"must be epoch seconds or milliseconds, or an ISO-8601 date-time, got {value!r}",
            path,
        ) from None
