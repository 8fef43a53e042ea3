"""Where one product's JSON text goes wrong, named as a field path and a rule.

Used only for a product that cannot be kept as decoded (msgspec refused it, it nests too
deeply, or it holds a very long integer), so its cost does not matter: it walks the text
token by token, with a list of the open containers instead of recursion, decodes each key,
string and number alone and names the first that fails. A rejection then reads "field
title: contains invalid UTF-8 …" instead of "the product is malformed". The walk also
picks out the product's id when that reads, so a bad product still counts as present in
a full sync.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from typing import Any

import msgspec

#: Integers are kept exactly up to this many digits (beyond 64 bits: a 20-digit GTIN stays
#: that integer); a longer one is refused rather than rounded or left unreadable.
MAX_INTEGER_DIGITS = 40

_TOKEN = re.compile(
    rb'[ \t\n\r]*(?:(?P<string>"[^"\\]*(?:\\.[^"\\]*)*")|(?P<punct>[][{}:,])'
    rb'|(?P<scalar>[^][ \t\n\r{}:,"]+)|(?P<unclosed>"))',
    re.S,
)
_INTEGER = re.compile(rb"-?[0-9]+")
_CONTROL = re.compile(rb"[\x00-\x1f]")
_AT_BYTE = re.compile(r"\s*\(byte (\d+)\)$")
_MALFORMED = "JSON is malformed: "
_ID_PATHS = ("id", "product.id")  # a bare product's id, or one inside {"product": {...}}


@dataclasses.dataclass(frozen=True)
class Fault:
    field: str  # "" when it is the product as a whole
    rule: str


class _Frame:
    __slots__ = ("expect_key", "index", "is_object", "key")

    def __init__(self, is_object: bool) -> None:
        self.is_object = is_object
        self.expect_key = is_object
        self.key: str | None = None
        self.index = 0


def _path(stack: list[_Frame]) -> str:
    out = ""
    for frame in stack:
        if not frame.is_object:
            out += f"[{frame.index}]"
        elif frame.key is not None:
            out += f".{frame.key}" if out else frame.key
    return out


def _tokens(text: bytes) -> Iterator[tuple[str, bytes, int, list[_Frame]]]:
    """(kind, token, offset, open containers) for each token; a `[` or `{` is yielded with
    its own frame already open. Ends at an unclosed string (kind "unclosed") or the end."""
    stack: list[_Frame] = []
    pos = 0
    while True:
        m = _TOKEN.match(text, pos)
        if m is None:
            return
        kind = m.lastgroup or ""
        token = m[kind]
        start, pos = m.start(kind), m.end()
        if kind == "punct":
            if token in b"[{":
                stack.append(_Frame(token == b"{"))
            elif token in b"]}":
                if stack:
                    stack.pop()
            elif stack and token == b",":
                top = stack[-1]
                top.index += 1
                top.expect_key = top.is_object
            elif stack and token == b":":
                stack[-1].expect_key = False
        elif kind == "string" and stack and stack[-1].expect_key:
            kind = "key"
            stack[-1].key = None  # a key's own path is its object's
        yield kind, token, start, stack
        if kind == "key":
            stack[-1].key = _key(token)
        elif kind == "unclosed":
            return


def _key(token: bytes) -> str:
    try:
        key = msgspec.json.decode(token)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return token[1:-1].decode("utf-8", "backslashreplace")
    return key if isinstance(key, str) else str(key)


def locate(text: bytes, message: str = "") -> tuple[Fault | None, Any]:
    """(the first fault in `text`, the product's id as decoded or None).

    `message` is the decoder's complaint; a structural one ("expected ',' … (byte 19)")
    names the field at that byte when no token fails before it."""
    at_byte = _AT_BYTE.search(message)
    structural = int(at_byte[1]) if at_byte else None
    fault: Fault | None = None
    found_id: Any = None
    for kind, token, start, stack in _tokens(text):
        past = structural is not None and start >= structural  # the token the decoder saw
        if past:
            structural = None
        if kind == "unclosed":
            fault = fault or Fault(_path(stack), "has a string that is never closed")
            break
        value, rule = _read(token) if kind in ("key", "string", "scalar") else (None, None)
        if rule is not None:
            prefix = "has a key that " if kind == "key" else ""
            fault = fault or Fault(_path(stack), f"{prefix}{rule}")
        elif past:  # not a token the decoder tripped on: past it, the walk is lost
            fault = fault or Fault(_path(stack), _malformed(message))
            break
        elif kind != "key" and found_id is None and _path(stack) in _ID_PATHS:
            found_id = value
        if fault is not None and found_id is not None:
            break
    if fault is None and message:
        fault = Fault("", _malformed(message))
    return fault, found_id


def deep_field(text: bytes, limit: int) -> str:
    """The field whose value first nests deeper than `limit` levels in `text` (which may be
    the start of a product only)."""
    for kind, token, _, stack in _tokens(text):
        if kind == "punct" and token in b"[{" and len(stack) > limit:
            return _path(stack[:-1])
    return ""


def _malformed(message: str) -> str:
    return f"is not valid JSON: {_reason(message)}"


def _reason(message: str) -> str:
    """msgspec's complaint without its prefix and byte offset."""
    return _AT_BYTE.sub("", message).removeprefix(_MALFORMED)


def _read(token: bytes) -> tuple[Any, str | None]:
    """A key, string or scalar decoded alone: (value, None), or (None, the rule it breaks)."""
    if token.startswith(b'"'):
        try:
            return msgspec.json.decode(token), None
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return None, _string_rule(token, str(exc))
    if _INTEGER.fullmatch(token):
        digits = len(token.lstrip(b"-"))
        if digits > MAX_INTEGER_DIGITS:
            return None, (
                f"is an integer of {digits} digits; integers are kept exactly up to "
                f"{MAX_INTEGER_DIGITS} digits: send a longer one as a string"
            )
    shown = token[:40].decode("utf-8", "backslashreplace")
    try:
        return msgspec.json.decode(token), None
    except msgspec.ValidationError:  # "Number out of range"
        return None, f"is a number outside the range of a 64-bit float ({shown})"
    except msgspec.DecodeError:
        return None, f"is not a JSON value: {shown}"


def _string_rule(token: bytes, message: str) -> str:
    try:
        token.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = token[exc.start : exc.start + 3]
        shown = bad.hex(" ").upper()
        if len(bad) > 1 and bad[0] == 0xED and 0xA0 <= bad[1] <= 0xBF:
            return (
                f"contains a UTF-16 surrogate written as UTF-8 bytes ({shown}: CESU-8 or "
                "Java's modified UTF-8), which is not valid UTF-8; export the feed as UTF-8"
            )
        return f"contains invalid UTF-8 (byte {token[exc.start]:02X} at byte {exc.start - 1})"
    control = _CONTROL.search(token)
    if control is not None:
        code = control[0][0]
        return f"contains the control character U+{code:04X} unescaped (JSON needs \\u{code:04x})"
    try:
        json.loads(token)  # Python's json reads lone surrogates, which msgspec refuses
    except ValueError:
        return f"is not a valid JSON string: {_reason(message)}"
    return (
        "contains a lone UTF-16 surrogate escape (such as \\ud83d): half of a character, "
        "which is not valid Unicode"
    )
