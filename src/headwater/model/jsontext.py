"""JSON text as clients send it, judged by our own rules: what a store may keep (issue 11).

A JSON library decides by its version what it refuses and how it says so (msgspec 0.23
reports invalid UTF-8 as `DecodeError`, 0.18 as `UnicodeDecodeError`; both skip `1e400`
inside a raw object yet refuse it when the stored text is read back). So every verdict here
comes from the bytes: one iterative tokenizer (any depth, no recursion) checks the grammar
and finds the first value a store cannot keep or a reader cannot decode, with its path; it
also splits an object or array into the exact byte spans of its members, so one bad item is
cut out of a batch and refused alone. It is the slow path: callers use it only after a
fast decode failed, or to explain why.

The one reader of everything stored: track items, consent bodies and catalog feed products
are judged by the same rules and named in the same words. The number rule is the float
range: every number must be one a 64-bit float can hold (what RFC 8259 calls interoperable,
and what JavaScript, PostgreSQL and Python all read back); integers inside that range are
kept exactly, however many digits they have (a 20-digit GTIN, a 128-bit id).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

import msgspec

#: Deeper nesting is refused whatever the settings: recursive decoders (msgspec, json) fail
#: near 1,000 levels, so such text could not be read back.
MAX_NESTING = 500

LONE_SURROGATE = (
    "contains a lone UTF-16 surrogate escape (such as \\ud83d: half an emoji), which is not "
    "valid Unicode"
)
NOT_A_NUMBER = "must be a JSON number, got {}: JSON has no NaN or Infinity (send null or a string)"
OUT_OF_RANGE = (
    "must be a number a 64-bit float can hold (magnitude at most 1.7976931348623157e308), got {}"
)
TOO_DEEP = "is nested more than {} levels deep"

# Token kinds: the regex's group numbers, and KEY for a string in key position. WORD is any
# other run of bytes outside strings (`Hoodie`, `nul`): a bad value, not broken structure.
STRING, OPEN, CLOSE, COLON, COMMA, NUMBER, LITERAL, NONFINITE, WORD, KEY = range(1, 11)
_SCALARS = (STRING, NUMBER, LITERAL, NONFINITE, WORD)
_TOKEN = re.compile(
    rb'[ \t\n\r]*+(?:("(?:[^"\\]++|\\.)*+")|([\[{])|([\]}])|(:)|(,)'
    rb"|(-?[0-9][0-9.eE+-]*+)|(true|false|null)|(-?(?:NaN|Infinity))"
    rb'|([^][{}:," \t\n\r]++))',
    re.S,
)
_NUMBER = re.compile(rb"-?(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?(?:[eE][-+]?[0-9]++)?")
_INTEGER = re.compile(rb"-?[0-9]++")
_ESCAPE = re.compile(rb'\\(?:u([0-9a-fA-F]{4})|["\\/bfnrt]|(.?))', re.S)
_CONTROL = re.compile(rb"[\x00-\x1f]")
_SPACE = re.compile(rb"[ \t\n\r]*+")
_VALUE, _KEY, _COLON, _NEXT = range(4)  # what the grammar expects next
_LEFT = {ord("]"): ord("["), ord("}"): ord("{")}
_RIGHT = {ord("["): "]", ord("{"): "}"}


class Problem(NamedTuple):
    """Why JSON text cannot be kept: the value's `path`, the rule, a short reason code."""

    path: str
    message: str
    reason: str


class Unreadable(ValueError):
    """JSON text a store may not keep. `problem` names the first bad value, worked out when
    first asked: a caller that needs only the verdict skips the slow path."""

    def __init__(self, data: bytes, path: str, found: Problem | None = None) -> None:
        super().__init__(f"{path or 'the text'} cannot be kept")
        self._data, self._path, self._found = data, path, found

    @property
    def problem(self) -> Problem:
        if self._found is None:
            self._found = problem(self._data, self._path) or _unreadable(self._path)
        return self._found


class Malformed(ValueError):
    """The text is not JSON; `offset` is where reading stopped."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} at byte {offset}")
        self.offset = offset


def tokens(data: bytes, pos: int = 0) -> Iterator[tuple[int, int, int]]:
    """(kind, start, end) of each token of the one JSON value at `pos`, in order; Malformed
    where the structure breaks. Lenient about content (NaN, bare words, any bytes or escapes
    inside strings, numbers of any size or shape are tokens): `problem` judges those."""
    stack: list[int] = []  # the opening byte of each open container
    expect, opened = _VALUE, False  # opened: right after a bracket, which may close at once
    while True:
        match = _TOKEN.match(data, pos)
        if match is None:  # only an unclosed string or the end start no token
            at = _skip_space(data, pos)
            raise Malformed("unclosed string" if at < len(data) else "unexpected end", at)
        kind = match.lastindex or 0
        start, pos = match.start(kind), match.end()
        if kind == CLOSE:
            if not stack or stack[-1] != _LEFT[data[start]] or not (opened or expect == _NEXT):
                raise Malformed(f"unexpected '{chr(data[start])}'", start)
            stack.pop()
            expect = _NEXT
        elif expect == _KEY:
            if kind != STRING:
                raise Malformed("expected a string key", start)
            kind, expect = KEY, _COLON
        elif expect == _COLON:
            if kind != COLON:
                raise Malformed("expected ':'", start)
            expect = _VALUE
        elif expect == _NEXT:
            if kind != COMMA:
                raise Malformed(f"expected ',' or '{_RIGHT[stack[-1]]}'", start)
            expect = _KEY if stack[-1] == ord("{") else _VALUE
        elif kind == OPEN:
            stack.append(data[start])
            expect = _KEY if data[start] == ord("{") else _VALUE
        elif kind in _SCALARS:
            expect = _NEXT
        else:
            raise Malformed(f"unexpected '{chr(data[start])}'", start)
        opened = kind == OPEN
        yield kind, start, pos
        if not stack:
            return


def members(data: bytes) -> dict[str, tuple[int, int]]:
    """The byte span of each member's value in the JSON object `data` (the last of repeated
    keys wins, as in decoders); Malformed when `data` is not one JSON object."""
    found = dict(_children(data, 0, ord("{")))
    return found


def elements(data: bytes, pos: int = 0) -> list[tuple[int, int]]:
    """The byte spans of the elements of the JSON array at `pos`; Malformed when none is."""
    return [span for _, span in _children(data, pos, ord("["))]


def _ignore(_: str) -> None:
    return None


# Skips a value at C speed where it can: over text decoded as latin-1, so that character
# offsets are byte offsets; lenient like `tokens`, and converting no number.
_SKIPPER = json.JSONDecoder(
    parse_float=_ignore, parse_int=_ignore, parse_constant=_ignore, strict=False
)


def _value_end(text: str, data: bytes, pos: int) -> int:
    try:
        return _SKIPPER.raw_decode(text, pos)[1]
    except (ValueError, RecursionError):  # whatever it refuses, the tokenizer says where
        return end_of_value(data, pos)


def end_of_value(data: bytes, pos: int = 0) -> int:
    """Where the JSON value at `pos` ends; Malformed when it does not."""
    end = pos
    for _kind, _start, end in tokens(data, pos):  # noqa: B007 - only the last end matters
        pass
    return end


def _children(data: bytes, pos: int, bracket: int) -> Iterator[tuple[str, tuple[int, int]]]:
    text = data.decode("latin-1")
    closing, is_object = bracket + 2, bracket == ord("{")
    at = _skip_space(data, pos)
    if data[at : at + 1] != bytes([bracket]):
        raise Malformed(f"expected {'an object' if is_object else 'an array'}", at)
    at = _skip_space(data, at + 1)
    if data[at : at + 1] == bytes([closing]):
        end = at + 1
    else:
        while True:
            key = ""
            if is_object:
                match = _TOKEN.match(data, at)
                if match is None or match.lastindex != STRING:
                    raise Malformed("expected a string key", at)
                key = _key_text(data[match.start(STRING) : match.end()])
                at = _skip_space(data, match.end())
                if data[at : at + 1] != b":":
                    raise Malformed("expected ':'", at)
                at = _skip_space(data, at + 1)
            end = _value_end(text, data, at)
            yield key, (at, end)
            at = _skip_space(data, end)
            if data[at : at + 1] == b",":
                at = _skip_space(data, at + 1)
                continue
            if data[at : at + 1] != bytes([closing]):
                raise Malformed(f"expected ',' or '{chr(closing)}'", at)
            end = at + 1
            break
    if pos == 0:
        _trailing(data, end)


# Every digit read as "0", every other byte as " ": a run of 309 zeros is then the only
# sign of a number a decoder reads that a 64-bit float cannot hold (an integer of 309
# digits or more; 1e400 and the like every decoder refuses). A translate and a find cost a
# tenth of a regular expression's search; a short run is looked for first, as a needle
# over 100 bytes costs a preparation on every call.
_DIGITS = bytes(48 if 48 <= byte <= 57 else 32 for byte in range(256))
_SOME_DIGITS, _LONG_DIGITS = b"0" * 64, b"0" * 309


def _long_digits(data: bytes) -> bool:
    """Whether `data` holds a run of 309 digits (in a string too: then `problem` looks)."""
    digits = data.translate(_DIGITS)
    return digits.find(_SOME_DIGITS) >= 0 and digits.find(_LONG_DIGITS) >= 0


def decoded(data: bytes, path: str = "") -> Any:
    """The value of the JSON text `data` when a store may keep it and a reader decode it
    back; else Unreadable naming the first bad value under `path`. Fast when it is fine."""
    try:
        value = msgspec.json.decode(data)
    except Exception:  # however this library version refuses, our own rules say why
        raise Unreadable(data, path) from None
    if len(data) >= len(_LONG_DIGITS) and _long_digits(data):
        found = problem(data, path)
        if found is not None:
            raise Unreadable(data, path, found)
    return value


def _unreadable(path: str) -> Problem:
    return Problem(path, "is not JSON that can be read back", "malformed")


def problem(data: bytes, path: str = "", max_depth: int = MAX_NESTING) -> Problem | None:
    """The first reason the JSON text `data` cannot be stored and read back, naming the
    value's path below `path`; None when there is none. A value nested deeper than
    `max_depth` levels is named where it passes the limit."""
    at: list[str | int] = []  # one step per open container: its current key or index
    utf8 = data.isascii() or _is_utf8(data)
    try:
        end = 0
        for kind, start, end in tokens(data):
            if kind == KEY:
                at[-1] = _key_text(data[start:end])
                bad = _string_problem(data[start:end], utf8)
                if bad is not None:  # the key itself is bad: named by its container
                    return Problem(_render(path, at[:-1]), f"has a key that {bad[0]}", bad[1])
                continue
            if at and isinstance(at[-1], int) and (kind == OPEN or kind in _SCALARS):
                at[-1] += 1
            if kind == OPEN:
                if len(at) >= max_depth:
                    return Problem(_render(path, at), TOO_DEEP.format(max_depth), "depth")
                at.append(-1 if data[start] == ord("[") else "")
            elif kind == CLOSE:
                at.pop()
            elif kind in _SCALARS:
                bad = _scalar_problem(kind, data[start:end], utf8)
                if bad is not None:
                    return Problem(_render(path, at), *bad)
        _trailing(data, end)
    except Malformed as exc:  # a word where no value belongs may still be bad bytes
        word = None if utf8 else _TOKEN.match(data, exc.offset)
        wrong = _utf8_problem(word[WORD]) if word and word.lastindex == WORD else None
        if wrong is not None:
            return Problem(_render(path, at), wrong, "encoding")
        return Problem(_render(path, at), f"is not valid JSON: {exc}", "malformed")
    return None


def member(data: bytes, *keys: str) -> Any:
    """The value at `keys` (a member of the JSON object `data`, then a member of that, …),
    decoded; None when it is absent or cannot be read. Members are read only as far as the
    structure holds, but past values that cannot be kept (skipped at C speed): how an item or
    a product refused for a bad field is still known by its id. Of repeated keys the last
    wins, as in decoders."""
    span = (0, len(data))
    for key in keys:
        found = None
        try:
            for name, value in _children(data, span[0], ord("{")):
                if name == key:
                    found = value
        except Malformed:
            pass
        if found is None:
            return None
        span = found
    try:
        return msgspec.json.decode(data[span[0] : span[1]])
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def fits_float(token: bytes) -> bool:
    """Whether the JSON number `token` lies within the range of a 64-bit float."""
    if _INTEGER.fullmatch(token):
        if len(token.lstrip(b"-")) > 309:  # past 1.8e308 whatever the digits
            return False
        try:
            float(int(token))
        except OverflowError:
            return False
        return True
    return math.isfinite(float(token))


def _scalar_problem(kind: int, token: bytes, utf8: bool) -> tuple[str, str] | None:
    """(message, reason) when a value token cannot be kept, else None."""
    if kind == STRING:
        return _string_problem(token, utf8)
    if kind == NONFINITE:
        return NOT_A_NUMBER.format(token.decode()), "number"
    if kind == NUMBER:
        if _NUMBER.fullmatch(token) is None:
            return f"is not valid JSON: invalid number {_shown(token)}", "malformed"
        if not fits_float(token):
            return OUT_OF_RANGE.format(_shown(token)), "number"
    elif kind == WORD:
        wrong = None if utf8 else _utf8_problem(token)
        if wrong is not None:
            return wrong, "encoding"
        return f"is not valid JSON: {_shown(token)} is not a value (text needs quotes)", "malformed"
    return None


def _string_problem(token: bytes, utf8: bool) -> tuple[str, str] | None:
    """(message, reason) when a string token (quotes included) cannot be kept, else None."""
    wrong = None if utf8 else _utf8_problem(token, 1)
    if wrong is not None:
        return wrong, "encoding"
    control = _CONTROL.search(token)
    if control is not None:
        code = control[0][0]
        return (
            f"is not valid JSON: the control character U+{code:04X} must be escaped in a "
            f"string (\\u{code:04x})",
            "malformed",
        )
    if b"\\" not in token:
        return None
    high_end = -1  # where the last escape ended if it was a high surrogate
    for escape in _ESCAPE.finditer(token):
        if escape[2] is not None:
            return f"is not valid JSON: invalid escape {_shown(escape[0])} in a string", "malformed"
        code = int(escape[1], 16) if escape[1] else -1
        low = 0xDC00 <= code <= 0xDFFF
        if high_end >= 0 and low and high_end == escape.start():  # a pair: one character
            high_end = -1
        elif high_end >= 0 or low:
            return LONE_SURROGATE, "encoding"
        else:
            high_end = escape.end() if 0xD800 <= code <= 0xDBFF else -1
    return (LONE_SURROGATE, "encoding") if high_end >= 0 else None


def _utf8_problem(token: bytes, skip: int = 0) -> str | None:
    """Why `token` is not UTF-8, naming the first bad bytes by their offset after the first
    `skip` (a string's opening quote); None when it is UTF-8."""
    try:
        token.decode("utf-8")  # strict: refuses overlong forms and encoded surrogates (CESU-8)
    except UnicodeDecodeError as exc:
        bad, where = token[exc.start : exc.start + 3], exc.start - skip
        if len(bad) == 3 and bad[0] == 0xED and 0xA0 <= bad[1] <= 0xBF:
            return (
                f"contains invalid UTF-8 (bytes {bad.hex(' ').upper()} at offset {where}: a "
                "UTF-16 surrogate written as UTF-8, as CESU-8 and Java's modified UTF-8 do)"
            )
        return f"contains invalid UTF-8 (byte {bad[0]:02X} at offset {where})"
    return None


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")  # strict: refuses overlong forms and encoded surrogates (CESU-8)
    except UnicodeDecodeError:
        return False
    return True


def _skip_space(data: bytes, pos: int) -> int:
    match = _SPACE.match(data, pos)
    return match.end() if match else pos


def _trailing(data: bytes, end: int) -> None:
    rest = _skip_space(data, end)
    if rest != len(data):
        raise Malformed("unexpected text after the JSON value", rest)


def _key_text(token: bytes) -> str:
    """A key as sent, escapes kept (a path never holds `\\u0000` decoded, which PostgreSQL
    text cannot store), invalid bytes as `\\xNN`."""
    return token[1:-1].decode("utf-8", "backslashreplace")


def _render(path: str, at: list[str | int]) -> str:
    text = path
    for step in at:
        if isinstance(step, int):
            text += f"[{step}]" if step >= 0 else ""
        elif step:
            text += f".{step}" if text else step
    return text


def _shown(token: bytes) -> str:
    if len(token) > 40 and _INTEGER.fullmatch(token):
        return f"an integer of {len(token.lstrip(b'-'))} digits"
    text = token.decode("utf-8", "backslashreplace")
    return text if len(text) <= 40 else f"{text[:24]}… ({len(text)} characters)"
