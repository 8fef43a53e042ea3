"""Item rules in isolation (ARCHITECTURE §2): identities, timestamps, objects."""

from __future__ import annotations

import msgspec
import pytest

from headwater.model import rules
from headwater.model.wire import NULL

DAY_MS = 86_400_000
NOW = 1_790_000_000_000


@pytest.mark.parametrize(
    "value",
    [
        "",
        "  ",
        "null",
        "NULL",
        "undefined",
        " Undefined ",
        "0",
        "[object Object]",
        "anonymous",
        "None",
        "NaN",
    ],
)
def test_placeholders_are_not_identities(value: str) -> None:
    assert not rules.is_identity(value)


@pytest.mark.parametrize("value", ["u1", "user@example.com", "00", "prof_abc", "+111111111"])
def test_real_identifiers_are_identities(value: str) -> None:
    assert rules.is_identity(value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1714631904000, 1714631904000),
        (1714631904000.9, 1714631904000),
        ("1714631904000", 1714631904000),
        ("2024-05-02T06:38:24Z", 1714631904000),
        ("2024-05-02T08:38:24+02:00", 1714631904000),
        ("2024-05-02T06:38:24.5", 1714631904500),  # no offset: read as UTC
    ],
)
def test_timestamps_parse_to_epoch_ms(raw: int | float | str, expected: int) -> None:
    assert rules.parse_timestamp(raw, 64) == expected


# "²" and "١٢" are str.isdigit() but not int()-able: a 400 naming the field, never a 500.
@pytest.mark.parametrize(
    "raw", ["yesterday", "2024-13-01T00:00:00Z", float("nan"), float("inf"), "²", "١٢", "--5", "5-"]
)
def test_unreadable_timestamps_are_rejected(raw: float | str) -> None:
    with pytest.raises(rules.Invalid) as caught:
        rules.parse_timestamp(raw, 64)
    assert caught.value.path == "timestamp"


def test_lower_bound_is_2010_inclusive() -> None:
    rules.check_time_bounds(rules.EARLIEST_MS, NOW, 86_400)
    with pytest.raises(rules.Invalid) as caught:
        rules.check_time_bounds(rules.EARLIEST_MS - 1, NOW, 86_400)
    assert "2010-01-01T00:00:00.000+00:00" in caught.value.message


def test_upper_bound_is_receive_time_plus_skew_inclusive() -> None:
    rules.check_time_bounds(NOW + DAY_MS, NOW, 86_400)
    with pytest.raises(rules.Invalid) as caught:
        rules.check_time_bounds(NOW + DAY_MS + 1, NOW, 86_400)
    assert "86400 s after the receive time" in caught.value.message
    assert str(NOW + DAY_MS) in caught.value.message


def test_absurd_timestamps_still_get_a_message() -> None:
    with pytest.raises(rules.Invalid) as caught:
        rules.check_time_bounds(10**30, NOW, 0)
    assert "outside the calendar" in caught.value.message


def _raw(text: str) -> msgspec.Raw:
    return msgspec.Raw(text.encode())


def test_objects_are_kept_as_sent() -> None:
    assert rules.object_text("data", _raw('{"a": [1, {"b": 2}]}'), 1000, 10) == (
        '{"a": [1, {"b": 2}]}'
    )
    assert rules.object_text("data", NULL, 1000, 10) is None
    assert rules.object_text("data", _raw("null"), 1000, 10) is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [("[1]", "type"), ('"x"', "type"), ("3", "type"), ('{"a": "' + "x" * 100 + '"}', "size")],
)
def test_bad_objects_are_rejected(text: str, reason: str) -> None:
    with pytest.raises(rules.Invalid) as caught:
        rules.object_text("data", _raw(text), 50, 10)
    assert caught.value.reason == reason
    assert caught.value.path == "data"


def test_depth_is_exact_even_with_brackets_in_strings() -> None:
    deep = '{"a":' * 4 + "1" + "}" * 4
    assert rules.object_text("data", _raw(deep), 1000, 4) is not None
    with pytest.raises(rules.Invalid) as caught:
        rules.object_text("data", _raw('{"a":' * 5 + "1" + "}" * 5), 1000, 4)
    assert caught.value.message == "must be nested at most 4 levels, got 5"
    shallow_but_bracketed = '{"text": "{{{{{{[[[[[["}'
    assert rules.object_text("data", _raw(shallow_but_bracketed), 1000, 2) is not None


def test_strings_have_a_length_limit_and_no_nul() -> None:
    rules.check_string("userId", "x" * 8, 8)
    rules.check_string("userId", " ", 8)  # blank ids are placeholders, not errors
    with pytest.raises(rules.Invalid, match="at most 8 characters"):
        rules.check_string("userId", "x" * 9, 8)
    with pytest.raises(rules.Invalid, match="NUL"):
        rules.check_string("userId", "u\x00x", 8)
    with pytest.raises(rules.Invalid, match="must not be empty"):
        rules.check_string("name", " ", 8, required=True)
