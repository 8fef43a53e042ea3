"""The product schema (reference §10.2): one product's fields checked and normalized.

A product is kept as a flat document: the schema's fields under their own names (price as
`{"amount", "currency"}`, category and tags as lists) and every other field beside them,
unchanged. Feeds validate whole products; track items validate partial updates, where a
null removes an optional field. Rules raise `rules.Invalid` naming the field and the rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from headwater.model import rules

REQUIRED = ("id", "title", "description", "url", "image_link")
OPTIONAL = ("price", "brand", "category", "tags", "availability", "rating")
SCHEMA_FIELDS = frozenset(REQUIRED + OPTIONAL)
AVAILABILITY = ("in_stock", "out_of_stock", "preorder", "backorder")
_PRICE = re.compile(
    r"\s*(?:(?P<before>[A-Za-z]{3})\s+)?(?P<amount>\d+(?:\.\d+)?)\s*(?P<after>[A-Za-z]{3})?\s*"
)
_PRICE_RULE = 'must be a non-negative number or a string such as "250.0" or "19.99 USD"'


def check(fields: Mapping[str, Any], max_id_length: int, partial: bool = False) -> dict[str, Any]:
    """The normalized document of one product, or of the fields a partial update sets.

    In a partial update a null value removes an optional field (it stays in the result as
    None); required fields cannot be removed, only left out.
    """
    document: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            if name in REQUIRED:
                raise _bad(name, "is required and must not be null")
            if partial:
                document[name] = None
            continue
        document[name] = _FIELD_RULES.get(name, _extra)(name, value)
    if not partial:
        missing = missing_required(document)
        if missing:
            raise _bad(missing[0], _missing_message(missing))
    if "id" in document:
        rules.check_string("id", document["id"], max_id_length)
        if not rules.is_identity(document["id"]):
            raise _bad("id", f"must be a real identifier, got {document['id']!r}")
    return document


def id_of(fields: Mapping[str, Any] | None) -> str | None:
    """The product's id as the schema reads it, or None when it has no usable one."""
    try:
        value = _text("id", (fields or {}).get("id"))
    except rules.Invalid:
        return None
    return value if rules.is_identity(value) else None


def missing_required(document: Mapping[str, Any]) -> list[str]:
    return [name for name in REQUIRED if document.get(name) is None]


def _missing_message(missing: list[str]) -> str:
    return f"is required (a product needs {', '.join(REQUIRED)}; missing: {', '.join(missing)})"


def _bad(field: str, rule: str) -> rules.Invalid:
    return rules.Invalid(field, rule, "product")


def _text(name: str, value: Any) -> str:
    if type(value) is str:  # the common case first: a clean string
        text = value.strip()
        if text and "\x00" not in text:
            return text
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _bad(name, f"must be a string, got {_kind(value)}")
    text = str(value).strip()  # a numeric id or title from a JSON feed is kept as text
    if not text:
        raise _bad(name, "must not be empty or blank")
    if "\x00" in text:
        raise _bad(name, "must not contain the NUL character (\\u0000)")
    return text


def _number(name: str, value: Any, rule: str) -> float:
    if isinstance(value, bool):
        raise _bad(name, f"{rule}, got a boolean")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _bad(name, f"{rule}, got {value!r}") from None
    if not isinstance(value, int | float):
        raise _bad(name, f"{rule}, got {_kind(value)}")
    try:
        amount = float(value)  # an integer past a 64-bit float raises (issue 11: was a 500)
    except OverflowError:
        digits = len(str(abs(value))) if abs(value) < 10**4000 else "thousands of"
        rule = "must be a number a 64-bit float can hold (at most 1.7976931348623157e308)"
        raise _bad(name, f"{rule}, got an integer of {digits} digits") from None
    if not math.isfinite(amount) or amount < 0:
        raise _bad(name, f"{rule}, got {value!r}")
    return value


def _price(name: str, value: Any) -> dict[str, Any]:
    """`{"amount": 19.99, "currency": "USD"}`; currency is None when the feed names none."""
    currency: str | None = None
    if isinstance(value, Mapping):  # our own shape, or an XML element with a currency attribute
        amount = value.get("amount", value.get("#text"))
        found = value.get("currency", value.get("@currency"))
        currency = None if found is None else _currency(name, found)
        value = amount
    if isinstance(value, str):
        match = _PRICE.fullmatch(value)
        if match is None or (match["before"] and match["after"]):
            raise _bad(name, f"{_PRICE_RULE}, got {value!r}")
        code = match["before"] or match["after"]
        currency = _currency(name, code) if code else currency
        value = match["amount"]
    amount = _number(name, value, _PRICE_RULE)
    return {"amount": amount, "currency": currency}


def _currency(name: str, value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{3}", value.strip()):
        raise _bad(name, f"currency must be a three-letter ISO 4217 code, got {value!r}")
    return value.strip().upper()


def _strings(name: str, value: Any) -> list[str]:
    """A list of strings; one string is a list of one. An XML wrapper such as
    `<tags><tag>a</tag><tag>b</tag></tags>` arrives as `{"tag": [...]}` and is unwrapped."""
    if isinstance(value, Mapping) and len(value) == 1:
        (value,) = value.values()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise _bad(name, f"must be a string or a list of strings, got {_kind(value)}")
    return [_text(f"{name}[{i}]", item) for i, item in enumerate(value)]


def _availability(name: str, value: Any) -> str:
    text = _text(name, value).lower().replace(" ", "_").replace("-", "_")
    if text not in AVAILABILITY:
        raise _bad(name, f"must be one of {', '.join(AVAILABILITY)}, got {value!r}")
    return text


def _rating(name: str, value: Any) -> float:
    return _number(name, value, "must be a non-negative number")


def _extra(name: str, value: Any) -> Any:
    return value


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    return "a number" if isinstance(value, int | float) else type(value).__name__


_FIELD_RULES: dict[str, Callable[[str, Any], Any]] = {
    "id": _text,
    "title": _text,
    "description": _text,
    "url": _text,
    "image_link": _text,
    "price": _price,
    "brand": _text,
    "category": _strings,
    "tags": _strings,
    "availability": _availability,
    "rating": _rating,
}


def view(document: Mapping[str, Any]) -> dict[str, Any]:
    """The API shape: schema fields first, every other field under `attributes`."""
    shown = {name: document[name] for name in (*REQUIRED, *OPTIONAL) if name in document}
    shown["attributes"] = {k: v for k, v in document.items() if k not in SCHEMA_FIELDS}
    return shown


def encode(document: Mapping[str, Any]) -> str:
    """Canonical JSON: equal documents encode to equal text (how unchanged is recognised)."""
    return msgspec.json.encode(document, order="sorted").decode()
