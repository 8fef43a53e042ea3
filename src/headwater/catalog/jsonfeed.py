"""JSON catalog feeds read as a stream, one product at a time, in bounded memory.

The envelope, `{"products": [{"product": {...}}, ...]}` or a plain array of products, is
followed byte by byte and never built. Each element of `products` is cut out by counting
brackets outside strings, then decoded alone by msgspec. An element is held only while it
stays within `max_product_bytes` and MAX_DEPTH levels; past either it is let go and only
its end is looked for, with a counter, so a feed of nothing but `[` costs one read buffer.
Nothing here, nor in `model.jsontext`, recurses on the feed's structure.

What one product holds is that product's fault alone, judged by the rules of everything
stored (`model.jsontext`, as track items): a syntax error inside its brackets, invalid
UTF-8 (CESU-8 surrogate bytes), a lone surrogate escape, NaN or a number past the range of
a 64-bit float rejects it, the field named. Integers beyond 64 bits are kept exactly. The
feed is refused only when its envelope is broken (truncated, bytes after the document, a
missing comma) or holds no products. Values of other keys beside `products` are skipped
unread: their brackets and strings are followed to find their end, nothing else.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import msgspec

from headwater.catalog import product
from headwater.catalog.entries import CHUNK, MAX_DEPTH, FeedEntry, FeedRefused, Readable
from headwater.model import jsontext
from headwater.model.event import raw_text

NO_PRODUCTS = (
    'the feed holds no products: expected {"products": [{"product": {...}}, ...]} '
    "or a JSON array of products"
)
# An element may nest one level more than a product: the {"product": ...} wrapper.
_ELEMENT_DEPTH = MAX_DEPTH + 1
_WS = re.compile(rb"[ \t\n\r]*")
# Between brackets, outside strings: a run of other bytes and whole strings, up to the next
# bracket or a string the buffer does not finish.
_PLAIN = re.compile(rb'(?:[^]["{}]+|"[^"\\]*(?:\\.[^"\\]*)*")*', re.S)
_STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.S)  # up to a string's closing quote
_SCALAR = re.compile(rb"[^] \t\n\r,}]*")  # a number or literal (or junk msgspec will name)
_SHARED_START = 32  # bytes compared between two products' starts to learn the boundary
_SPACE = frozenset(b" \t\n\r")
_WRAPPED = re.compile(rb'[ \t\n\r]*\{[ \t\n\r]*"product"[ \t\n\r]*:')
TOO_DEEP = jsontext.TOO_DEEP.format(MAX_DEPTH)
_QUOTE = ord('"')
_OPEN = frozenset(b"[{")


def _end(pattern: re.Pattern[bytes], data: bytearray, pos: int) -> int:
    """Where `pattern` (which may match nothing) stops matching from `pos`."""
    found = pattern.match(data, pos)
    return pos if found is None else found.end()


@dataclasses.dataclass(frozen=True)
class _Element:
    text: bytes | None  # None when it was let go: larger than the limit, or too deep
    deepest: int  # levels of nesting seen, counted up to _ELEMENT_DEPTH + 1
    head: bytes  # the text up to where it passed _ELEMENT_DEPTH levels, if that was held


class _Reader:
    """A buffer over the stream: `pos` is the next byte to look at; bytes before `keep_from`
    are let go when more are read."""

    def __init__(self, stream: Readable, skipped: int) -> None:
        self._stream = stream
        self.data = bytearray()
        self.pos = 0
        self.released = skipped  # bytes of the feed before data[0], for messages
        self.count = 0  # products found so far
        # Where one product ends and the next begins, as seen between two scanned products:
        # their closing byte, the separator and the start they share (`{"product":`).
        self.boundary: bytes | None = None
        # How far to look for it: twice the last product, so a boundary that stopped
        # matching costs a bounded look per product, never a scan of the whole buffer.
        self.window = 0

    def more(self, keep_from: int) -> bool:
        """Read on; data[:keep_from] is let go first (positions shift). False at the end."""
        if keep_from:
            del self.data[:keep_from]
            self.pos -= keep_from
            self.released += keep_from
        chunk = self._stream.read(CHUNK)
        self.data += chunk
        return bool(chunk)

    def peek(self) -> int | None:
        """The next byte that is not white space (`pos` moved to it), None at the end."""
        if self.pos < len(self.data) and self.data[self.pos] not in _SPACE:
            return self.data[self.pos]
        while True:
            self.pos = _end(_WS, self.data, self.pos)
            if self.pos < len(self.data):
                return self.data[self.pos]
            if not self.more(self.pos):
                return None

    def refused(self, what: str) -> FeedRefused:
        return FeedRefused(
            f"the JSON feed is malformed after {self.count} products: {what} "
            f"(byte {self.released + self.pos} of the feed)"
        )

    def expect(self, allowed: bytes, what: str, take: bool = True) -> int:
        """The next byte that is not white space, which must be one of `allowed`; passed
        over when `take`."""
        found = self.peek()
        if found is None or found not in allowed:
            shown = "the end of the feed" if found is None else repr(chr(found))
            raise self.refused(f"expected {what}, found {shown}")
        self.pos += take
        return found

    def product(self, limit: int) -> tuple[bytes, Any] | None:
        """The product at `pos` and its value, when it ends at the next `boundary` and reads
        as one JSON value there; None when it must be scanned.

        Decoding proves the cut: a span that reads as one whole value ending in a bracket is
        the product as the full parse would find it. Few enough brackets bound its depth
        before msgspec (which recurses) sees it."""
        if self.boundary is None:
            return None
        data, start = self.data, self.pos
        end = data.find(self.boundary, start, start + min(limit, self.window)) + 1
        if not end:
            return None
        text = bytes(data[start:end])
        if text.count(b"{") + text.count(b"[") > MAX_DEPTH:
            return None
        try:
            value = jsontext.decoded(text)
        except jsontext.Unreadable:
            return None  # scanned instead, which names the fault
        self.pos = end
        self.window = 2 * len(text) + len(self.boundary)
        return text, value

    def learn(self, text: bytes | None, end: int, released: int) -> None:
        """Learn `boundary` from a product `text` that ended at `end` (when `released` bytes
        had been let go) and the next one, which starts at `pos`."""
        shift = self.released - released
        if text is None or end - shift < 0 or text[-1:] not in (b"}", b"]"):
            return
        ahead = bytes(self.data[self.pos : self.pos + _SHARED_START])
        shared, most = 0, min(len(text), len(ahead))
        while shared < most and text[shared] == ahead[shared]:
            shared += 1
            if text[shared - 1] == ord(":"):
                break  # up to the first key: what follows is the product's own
        if shared >= 2:
            self.boundary = text[-1:] + bytes(self.data[end - shift : self.pos]) + ahead[:shared]
            self.window = 2 * len(text) + len(self.boundary)

    def value(self, limit: int, where: str = "a value") -> _Element:
        """The JSON value at `pos` (after white space), held while within `limit` bytes and
        _ELEMENT_DEPTH levels; `pos` ends just past it."""
        data = self.data
        start = pos = self.pos
        first = data[pos]
        held, depth, deepest, head = True, 0, 0, b""
        in_string = first == _QUOTE
        if first in _OPEN:
            depth = deepest = 1
            pos += 1
        elif in_string:
            pos += 1
        while True:
            if in_string:
                pos = _end(_STRING_REST, data, pos)
                if pos < len(data) and data[pos] == _QUOTE:
                    pos += 1
                    in_string = False
                    if depth == 0:
                        break
                    continue
            elif depth == 0:  # a number or literal
                pos = _end(_SCALAR, data, pos)
                if pos < len(data):
                    if pos == start:
                        self.pos = pos
                        raise self.refused(f"expected a value, found {chr(data[pos])!r}")
                    break
            else:
                pos = _end(_PLAIN, data, pos)
                if pos < len(data):
                    byte = data[pos]
                    pos += 1
                    if byte == _QUOTE:
                        in_string = True
                    elif byte in _OPEN:
                        depth += 1
                        if depth > deepest:
                            deepest = min(depth, _ELEMENT_DEPTH + 1)
                            if depth > _ELEMENT_DEPTH and held:
                                head, held = bytes(data[start:pos]), False
                    else:
                        depth -= 1
                        if depth == 0:
                            break
                    continue
            # The buffer ends inside the value: read on, letting go of it once too large.
            if held and pos - start > limit:
                held = False
            keep_from = start if held else pos
            read = self.more(keep_from)
            pos -= keep_from
            start -= keep_from
            if not read:
                self.pos = pos
                raise self.refused(f"the feed ends inside {where}")
        self.pos = pos
        kept = held and pos - start <= limit
        return _Element(bytes(data[start:pos]) if kept else None, deepest, head)


def entries(stream: Readable, skipped: int, max_product_bytes: int) -> Iterator[FeedEntry]:
    """`{"products": [{"product": {...}}, ...]}` (other keys skipped), or a plain array of
    products; `skipped` bytes (a byte order mark, white space) came before the stream."""
    reader = _Reader(stream, skipped)
    if reader.expect(b"[{", "a JSON object or array") == ord("["):
        yield from _products(reader, "", max_product_bytes)
    else:
        yield from _envelope(reader, max_product_bytes)
    if reader.peek() is not None:
        raise reader.refused("unexpected bytes after the end of the feed's JSON document")
    if not reader.count:
        raise FeedRefused(NO_PRODUCTS)


def _envelope(reader: _Reader, max_product_bytes: int) -> Iterator[FeedEntry]:
    if reader.peek() == ord("}"):
        reader.pos += 1
        return
    while True:
        reader.expect(b'"', "a key in double quotes", take=False)
        key = reader.value(64).text
        reader.expect(b":", "':' after a key")
        found = reader.peek()
        if found is None:
            raise reader.refused("the feed ends before a value")
        if found == ord("[") and key is not None and _is_products(key):
            reader.pos += 1
            yield from _products(reader, "products", max_product_bytes)
        else:
            reader.value(0)  # skipped: not held
        if reader.expect(b",}", "',' or '}' in the feed's object") == ord("}"):
            return


def _is_products(key: bytes) -> bool:
    try:
        return bool(msgspec.json.decode(key) == "products")
    except (msgspec.DecodeError, msgspec.ValidationError):
        return False


def _products(reader: _Reader, where: str, max_bytes: int) -> Iterator[FeedEntry]:
    if reader.peek() == ord("]"):
        reader.pos += 1
        return
    while True:
        if reader.peek() is None:
            raise reader.refused("the feed ends inside the products")
        index = reader.count
        path = f"{where}[{index}]"
        found = reader.product(max_bytes)
        if found is not None:
            scanned = None
            yield _entry(index, path, *found, deepest=0)
        else:
            scanned = reader.value(max_bytes, path)
            yield _scanned(index, path, scanned, max_bytes)
        reader.count += 1
        end, released = reader.pos, reader.released
        if reader.expect(b",]", f"',' or ']' after {path}") == ord("]"):
            return
        if scanned is not None and reader.peek() is not None:
            reader.learn(scanned.text, end, released)


def _scanned(index: int, path: str, element: _Element, max_bytes: int) -> FeedEntry:
    text = element.text
    if element.deepest > _ELEMENT_DEPTH:
        return _too_deep(index, path, element.head, _WRAPPED.match(element.head) is not None)
    if text is None:
        return FeedEntry(index, path, None, f"is larger than {max_bytes} bytes of JSON")
    try:
        value = jsontext.decoded(text)
    except jsontext.Unreadable as exc:
        return _rejected(index, path, text, exc.problem)
    return _entry(index, path, text, value, element.deepest)


def _entry(index: int, path: str, text: bytes, value: Any, deepest: int) -> FeedEntry:
    """The entry of a product decoded as `value` from `text`, `deepest` levels deep (0 when
    known to be within MAX_DEPTH)."""
    if isinstance(value, dict) and len(value) == 1 and "product" in value:
        path, value = f"{path}.product", value["product"]
    elif deepest > MAX_DEPTH:  # the extra level is only for the wrapper
        return _too_deep(index, path, text, wrapped=False)
    if not isinstance(value, dict):  # at most MAX_DEPTH + 1 levels: repr cannot recurse far
        return FeedEntry(index, path, None, f"must be a JSON object, got {value!r:.80}", value)
    return FeedEntry(index, path, value)


def _too_deep(index: int, path: str, head: bytes, wrapped: bool) -> FeedEntry:
    """`head` is the element's text up to where it nests too deeply, when that was held;
    `wrapped` when it is a {"product": ...} wrapper, one level more. Its first fault is
    named: the depth where it passes the limit, or one before."""
    if not head:
        return FeedEntry(index, path, None, TOO_DEEP)
    found = jsontext.problem(head, max_depth=MAX_DEPTH + wrapped)
    rule, field = (TOO_DEEP, "") if found is None else (found.message, found.path)
    if found is not None and found.reason == "depth":
        rule = TOO_DEEP  # the product's levels, the wrapper's not counted
    path, field = _unwrapped(path, head, field) if wrapped else (path, field)
    return FeedEntry(index, path, None, rule, field=field, id=_id_of(head))


def _rejected(index: int, path: str, text: bytes, problem: jsontext.Problem) -> FeedEntry:
    """The entry of a product that cannot be kept, for the `problem` found in `text`."""
    path, field = _unwrapped(path, text, problem.path)
    return FeedEntry(
        index, path, None, problem.message, field=field, id=_id_of(text), text=raw_text(text)
    )


def _id_of(text: bytes) -> str | None:
    """The id of a product that cannot be kept, when it reads: it still counts as present."""
    found = jsontext.member(text, "id")
    if found is None:
        found = jsontext.member(text, "product", "id")
    return product.id_of({"id": found})


def _unwrapped(path: str, text: bytes, field: str) -> tuple[str, str]:
    """(path, field) with a {"product": ...} wrapper moved from the field to the path."""
    if _WRAPPED.match(text) and (field == "product" or field.startswith(("product.", "product["))):
        return f"{path}.product", field.removeprefix("product").removeprefix(".")
    return path, field
